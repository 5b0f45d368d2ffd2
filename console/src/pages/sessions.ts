// Sessions: every active session (admin.sessions.list), searched by user, client and IP; revoke one, or
// every session of a user (admin.sessions.revoke).
import { rpc } from '../api.ts';
import { button, fill, h, table, when } from '../dom.ts';
import { failed, notify } from '../notice.ts';

interface Session {
  id: number;
  user_id: number;
  login: string;
  client_id: string;
  ip: string;
  user_agent: string;
  login_at: string;
  last_activity: string;
}

export async function sessions(main: HTMLElement): Promise<void> {
  const user = h('input', { name: 'user', placeholder: 'login or id' });
  const client = h('input', { name: 'client', placeholder: 'client id' });
  const ip = h('input', { name: 'ip', placeholder: 'address' });
  const form = h('form', { class: 'filters', id: 'session-filters' }, h('label', {}, 'User', user), h('label', {}, 'Client', client), h('label', {}, 'IP', ip), h('button', { type: 'submit' }, 'Search'));
  const list = h('div');
  fill(main, h('h1', {}, 'Sessions'), form, list);

  async function load(): Promise<void> {
    const { sessions: rows } = await rpc<{ sessions: Session[] }>('admin.sessions.list', { limit: 500 });
    const u = user.value.trim().toLowerCase();
    const c = client.value.trim().toLowerCase();
    const a = ip.value.trim();
    const shown = rows.filter(
      (r) => (!u || String(r.user_id) === u || r.login.toLowerCase().includes(u)) && (!c || r.client_id.toLowerCase().includes(c)) && (!a || r.ip.includes(a)),
    );
    fill(
      list,
      h('p', { class: 'muted' }, `${shown.length} of ${rows.length} active sessions`),
      table<Session>(
        [
          ['ID', (r) => r.id],
          ['User', (r) => `${r.login} (${r.user_id})`],
          ['Client', (r) => r.client_id],
          ['IP', (r) => r.ip],
          ['User agent', (r) => r.user_agent],
          ['Signed in', (r) => when(r.login_at)],
          ['Last activity', (r) => when(r.last_activity)],
          [
            '',
            (r) => [
              button('Revoke', () => revoke({ id: r.id }, `session ${r.id}`), 'danger'),
              button('Revoke all of user', () => revoke({ user_id: r.user_id }, `every session of ${r.login}`), 'secondary'),
            ],
          ],
        ],
        shown,
        (r) => ({ 'data-session': r.id }),
      ),
    );
  }

  async function revoke(params: Record<string, number>, what: string): Promise<void> {
    try {
      const { revoked } = await rpc<{ revoked: number }>('admin.sessions.revoke', params);
      notify(`Revoked ${what}: ${revoked} session${revoked === 1 ? '' : 's'} ended.`);
      await load();
    } catch (err) {
      failed(err);
    }
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void load().catch(failed);
  });
  await load();
}
