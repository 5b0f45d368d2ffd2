// The audit log (admin.audit.query): filtered by time, user, client, method and status, newest first,
// a page at a time (the server's cursor).
import { rpc } from '../api.ts';
import { button, fill, h, table, when } from '../dom.ts';
import { failed } from '../notice.ts';

interface Row {
  id: number;
  at: string;
  request_id: string;
  method: string;
  status: number;
  error_code: string | null;
  reason: string | null;
  user_id: number | null;
  client_id: string | null;
  ip: string | null;
  user_agent: string | null;
  target_id: string | null;
  actor: string | null;
}

const PAGE_SIZES = [50, 10, 200];

export async function audit(main: HTMLElement): Promise<void> {
  const from = h('input', { name: 'from', type: 'datetime-local', step: 1 });
  const to = h('input', { name: 'to', type: 'datetime-local', step: 1 });
  const user = h('input', { name: 'user_id', inputmode: 'numeric', size: 6 });
  const client = h('input', { name: 'client_id' });
  const method = h('input', { name: 'method' });
  const status = h('input', { name: 'status', inputmode: 'numeric', size: 4 });
  const size = h('select', { name: 'limit' }, ...PAGE_SIZES.map((n) => h('option', { value: n }, String(n))));
  const form = h(
    'form',
    { class: 'filters', id: 'audit-filters' },
    h('label', {}, 'From (local time)', from),
    h('label', {}, 'To', to),
    h('label', {}, 'User id', user),
    h('label', {}, 'Client', client),
    h('label', {}, 'Method', method),
    h('label', {}, 'Status', status),
    h('label', {}, 'Rows a page', size),
    h('button', { type: 'submit' }, 'Filter'),
  );
  const list = h('div');
  fill(main, h('h1', {}, 'Audit log'), form, list);

  // The cursors of the pages seen, to go back one.
  let cursors: (string | undefined)[] = [undefined];

  function filters(): Record<string, unknown> {
    const f: Record<string, unknown> = { limit: Number(size.value) };
    if (from.value) f.from = new Date(from.value).toISOString();
    if (to.value) f.to = new Date(to.value).toISOString();
    if (user.value.trim()) f.user_id = Number(user.value.trim());
    if (client.value.trim()) f.client_id = client.value.trim();
    if (method.value.trim()) f.method = method.value.trim();
    if (status.value.trim()) f.status = Number(status.value.trim());
    return f;
  }

  async function load(): Promise<void> {
    const cursor = cursors[cursors.length - 1];
    const { rows, next_cursor } = await rpc<{ rows: Row[]; next_cursor: string | null }>('admin.audit.query', { ...filters(), ...(cursor ? { cursor } : {}) });
    fill(
      list,
      table<Row>(
        [
          ['At', (r) => when(r.at)],
          ['Method', (r) => r.method],
          ['Status', (r) => h('span', { class: r.status >= 400 ? 'badge bad' : 'badge good' }, String(r.status))],
          ['Error', (r) => r.error_code ?? ''],
          ['Reason', (r) => r.reason ?? ''],
          ['User', (r) => r.user_id ?? ''],
          ['Client', (r) => r.client_id ?? r.actor ?? ''],
          ['IP', (r) => r.ip ?? ''],
          ['User agent', (r) => r.user_agent ?? ''],
          ['Target', (r) => r.target_id ?? ''],
          ['Request', (r) => r.request_id],
        ],
        rows,
        (r) => ({ 'data-audit': r.id }),
      ),
      h(
        'div',
        { class: 'pager' },
        cursors.length > 1 ? button('Previous page', () => ((cursors = cursors.slice(0, -1)), load().catch(failed)), 'secondary') : null,
        h('span', { class: 'muted', id: 'audit-page' }, `page ${cursors.length}, ${rows.length} rows`),
        next_cursor ? button('Next page', () => (cursors.push(next_cursor), load().catch(failed)), 'secondary') : null,
      ),
    );
  }

  form.addEventListener('submit', (e) => {
    e.preventDefault();
    cursors = [undefined];
    void load().catch(failed);
  });
  await load();
}
