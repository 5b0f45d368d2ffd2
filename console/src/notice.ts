// One line at the top of the page: what just happened, or what went wrong (as text).
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
