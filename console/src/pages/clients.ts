// OAuth clients: create (its secret shown once, here, and never again), scopes from the known list,
// disable and enable, rotate the secret (the new one shown once).
import { rpc } from '../api.ts';
import { button, fill, h, table, when } from '../dom.ts';
import { failed, notify } from '../notice.ts';

interface Client {
  id: string;
  name: string;
  scopes: string[];
  is_active: boolean;
  created_at: string;
  built_in: boolean;
}

export async function clients(main: HTMLElement): Promise<void> {
  const name = h('input', { name: 'name', required: true, autocomplete: 'off' });
  const scopeBox = h('span', { class: 'row' });
  const form = h('form', { class: 'inline', id: 'client-create' }, h('label', {}, 'Name', name), scopeBox, h('button', { type: 'submit' }, 'Create client'));
  const secretBox = h('div');
  const list = h('div');
  fill(main, h('h1', {}, 'OAuth clients'), h('h2', {}, 'New client'), form, secretBox, h('h2', {}, 'All clients'), list);

  /** The secret, once: it is in this element only until it is dismissed or the page changes. */
  function showSecret(client: Client, secret: string): void {
    fill(
      secretBox,
      h(
        'div',
        { class: 'secret', id: 'secret-once' },
        h('p', {}, `Client secret of ${client.name} (${client.id}). It is shown this once: copy it now.`),
        h('code', { id: 'secret-value' }, secret),
        h('p', {}, button('I have copied it', () => fill(secretBox), 'secondary')),
      ),
    );
  }

  const act = async (method: string, params: Record<string, unknown>, done: string) => {
    try {
      const answer = await rpc<{ client: Client; client_secret?: string }>(method, params);
      notify(done);
      if (answer.client_secret) showSecret(answer.client, answer.client_secret);
      await load();
    } catch (err) {
      failed(err);
    }
  };

  let scopeInputs: HTMLInputElement[] = [];
  async function load(): Promise<void> {
    const { clients: rows, known_scopes } = await rpc<{ clients: Client[]; known_scopes: string[] }>('admin.clients.list');
    if (!scopeInputs.length) {
      scopeInputs = known_scopes.map((scope) => h('input', { type: 'checkbox', name: 'scope', value: scope }));
      fill(scopeBox, ...scopeInputs.map((input) => h('label', { class: 'check' }, input, input.value)));
    }
    fill(
      list,
      table<Client>(
        [
          ['ID', (c) => c.id],
          ['Name', (c) => c.name],
          ['Scopes', (c) => c.scopes.join(' ') || '(none)'],
          ['State', (c) => h('span', { class: c.is_active ? 'badge good' : 'badge bad' }, c.is_active ? 'active' : 'disabled')],
          ['Created', (c) => when(c.created_at)],
          [
            '',
            (c) =>
              c.built_in
                ? h('span', { class: 'muted' }, 'the console (built in)')
                : [
                    c.is_active
                      ? button('Disable', () => act('admin.clients.disable', { client_id: c.id }, `${c.name} disabled: its tokens are refused.`), 'danger')
                      : button('Enable', () => act('admin.clients.enable', { client_id: c.id }, `${c.name} enabled.`)),
                    button('Rotate secret', () => act('admin.clients.rotate_secret', { client_id: c.id }, `${c.name} has a new secret; the old one no longer works.`), 'secondary'),
                  ],
          ],
        ],
        rows,
        (c) => ({ 'data-client': c.id }),
      ),
    );
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    const scopes = scopeInputs.filter((i) => i.checked).map((i) => i.value);
    void act('admin.clients.create', { name: name.value, scopes }, `Client ${name.value} created.`).then(() => form.reset());
  });
  await load();
}
