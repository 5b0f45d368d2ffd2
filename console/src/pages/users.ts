// Users: create, disable and enable, the admin flag, a password reset (the password policy's message
// shown when it refuses).
import { rpc } from '../api.ts';
import { button, fill, h, table, when } from '../dom.ts';
import { actionThen, failed, notify } from '../notice.ts';

interface User {
  id: number;
  login: string;
  name: string;
  is_admin: boolean;
  is_active: boolean;
  created_at: string;
}

export async function users(main: HTMLElement): Promise<void> {
  const login = h('input', { name: 'login', required: true, autocomplete: 'off' });
  const name = h('input', { name: 'name', autocomplete: 'off' });
  const password = h('input', { name: 'password', type: 'password', required: true, autocomplete: 'new-password' });
  const admin = h('input', { name: 'is_admin', type: 'checkbox' });
  const form = h(
    'form',
    { class: 'inline', id: 'user-create' },
    h('label', {}, 'Login', login),
    h('label', {}, 'Name', name),
    h('label', {}, 'Password', password),
    h('label', { class: 'check' }, admin, 'admin'),
    h('button', { type: 'submit' }, 'Create user'),
  );
  const list = h('div');
  fill(main, h('h1', {}, 'Users'), h('h2', {}, 'New user'), form, h('h2', {}, 'All users'), list);

  const act = actionThen(load);

  function resetForm(u: User): HTMLElement {
    const input = h('input', { type: 'password', name: 'new_password', placeholder: 'new password', autocomplete: 'new-password' });
    const f = h('form', { class: 'inline reset' }, input, h('button', { type: 'submit' }, 'Set password'));
    f.addEventListener('submit', (e) => {
      e.preventDefault();
      void act('admin.users.reset_password', { user_id: u.id, new_password: input.value }, `Password of ${u.login} reset; their sessions were ended.`);
    });
    return f;
  }

  async function load(): Promise<void> {
    const { users: rows } = await rpc<{ users: User[] }>('admin.users.list', { limit: 1000 });
    fill(
      list,
      table<User>(
        [
          ['ID', (u) => u.id],
          ['Login', (u) => u.login],
          ['Name', (u) => u.name],
          ['Admin', (u) => (u.is_admin ? 'yes' : 'no')],
          ['State', (u) => h('span', { class: u.is_active ? 'badge good' : 'badge bad' }, u.is_active ? 'active' : 'disabled')],
          ['Created', (u) => when(u.created_at)],
          [
            '',
            (u) => [
              u.is_active
                ? button('Disable', () => act('admin.users.disable', { user_id: u.id }, `${u.login} disabled; their sessions were ended.`), 'danger')
                : button('Enable', () => act('admin.users.enable', { user_id: u.id }, `${u.login} enabled.`)),
              button(u.is_admin ? 'Remove admin' : 'Make admin', () => act('admin.users.set_admin', { user_id: u.id, is_admin: !u.is_admin }, `${u.login} is ${u.is_admin ? 'no longer' : 'now'} an admin.`), 'secondary'),
              resetForm(u),
            ],
          ],
        ],
        rows,
        (u) => ({ 'data-login': u.login }),
      ),
    );
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const { user } = await rpc<{ user: User }>('admin.users.create', { login: login.value, password: password.value, ...(name.value ? { name: name.value } : {}), is_admin: admin.checked });
        notify(`User ${user.login} created.`);
        form.reset();
        await load();
      } catch (err) {
        failed(err);
      }
    })();
  });
  await load();
}
