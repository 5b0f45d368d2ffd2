// One line at the top of the page: what just happened, or what went wrong (as text).
import { rpc } from './api.ts';
import { $ } from './dom.ts';

export function notify(text: string, kind: 'info' | 'error' = 'info'): void {
  const box = $('notice');
  box.textContent = text;
  box.className = kind === 'error' ? 'notice error' : 'notice';
  box.hidden = false;
}

export function clearNotice(): void {
  $('notice').hidden = true;
}

/** An action's failure shown as its message (the server's detail: a password policy's, a refusal's). */
export function failed(err: unknown): void {
  notify(err instanceof Error ? err.message : String(err), 'error');
}

/** A page's action: the call, its notice, then the page read again; a failure shown as its message. */
export const actionThen =
  (reload: () => Promise<void>) =>
  async (method: string, params: Record<string, unknown>, done: string): Promise<void> => {
    try {
      await rpc(method, params);
      notify(done);
      await reload();
    } catch (err) {
      failed(err);
    }
  };
