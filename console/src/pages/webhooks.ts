// Webhooks: every hook with its delivery counts and last outcome, the newest deliveries (by status)
// with their attempts and last error, redelivery of a failed one, adding a hook (its signing secret
// shown once, here) and removing one. The same operations as `tether webhooks ...`.
import { rpc } from '../api.ts';
import { button, fill, h, table, when } from '../dom.ts';
import { actionThen, failed, notify } from '../notice.ts';

interface Hook {
  id: number;
  url: string;
  events: string[];
  active: boolean;
  pending: number;
  delivered: number;
  failed: number;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
}

interface Delivery {
  id: number;
  hook_id: number;
  event_id: string;
  event_type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
}

const EVENT_TYPES = ['session.opened', 'session.ended', 'session.refused', 'login.throttled'];
const outcome = (status: number | null, error: string | null) => (status !== null ? `HTTP ${status}` : '') + (error ? ` ${error}` : '');

export async function webhooks(main: HTMLElement): Promise<void> {
  const url = h('input', { name: 'url', type: 'url', required: true, autocomplete: 'off', placeholder: 'https://hooks.example.com/tether' });
  const typeInputs = EVENT_TYPES.map((t) => h('input', { type: 'checkbox', name: 'event', value: t, checked: true }));
  const form = h('form', { class: 'inline', id: 'webhook-add' }, h('label', {}, 'URL', url), ...typeInputs.map((i) => h('label', { class: 'check' }, i, i.value)), h('button', { type: 'submit' }, 'Add webhook'));
  const secretBox = h('div');
  const hooks = h('div', { id: 'webhook-list' });
  const status = h('select', { name: 'status', id: 'delivery-status' }, h('option', { value: '' }, 'any status'), ...['pending', 'delivered', 'failed'].map((s) => h('option', { value: s }, s)));
  const deliveries = h('div', { id: 'delivery-list' });
  fill(main, h('h1', {}, 'Webhooks'), h('h2', {}, 'New webhook'), form, secretBox, h('h2', {}, 'All webhooks'), hooks, h('h2', {}, 'Deliveries (newest 100)'), h('label', {}, 'Status ', status), deliveries);

  const act = actionThen(load);

  async function load(): Promise<void> {
    const [{ webhooks: rows }, { deliveries: sent }] = await Promise.all([
      rpc<{ webhooks: Hook[] }>('admin.webhooks.list'),
      rpc<{ deliveries: Delivery[] }>('admin.webhooks.deliveries', status.value ? { status: status.value } : {}),
    ]);
    fill(
      hooks,
      rows.length === 0
        ? h('p', { class: 'muted' }, 'No webhook yet.')
        : table<Hook>(
            [
              ['ID', (x) => x.id],
              ['URL', (x) => x.url],
              ['Events', (x) => x.events.join(' ')],
              ['Pending / delivered / failed', (x) => `${x.pending} / ${x.delivered} / ${x.failed}`],
              ['Last attempt', (x) => `${when(x.last_attempt_at)} ${outcome(x.last_status, x.last_error)}`],
              ['', (x) => button('Remove', () => act('admin.webhooks.remove', { id: x.id }, `Webhook ${x.id} removed.`), 'danger')],
            ],
            rows,
            (x) => ({ 'data-webhook': x.id }),
          ),
    );
    fill(
      deliveries,
      sent.length === 0
        ? h('p', { class: 'muted' }, 'No delivery.')
        : table<Delivery>(
            [
              ['ID', (d) => d.id],
              ['Webhook', (d) => d.hook_id],
              ['Event', (d) => `${d.event_type} #${d.event_id}`],
              ['Status', (d) => h('span', { class: d.status === 'delivered' ? 'badge good' : d.status === 'failed' ? 'badge bad' : 'badge' }, d.status)],
              ['Attempts', (d) => d.attempts],
              ['Last attempt', (d) => `${when(d.last_attempt_at)} ${outcome(d.last_status, d.last_error)}`],
              ['Next attempt', (d) => when(d.next_attempt_at)],
              ['', (d) => (d.status === 'delivered' ? null : button('Redeliver now', () => act('admin.webhooks.redeliver', { id: d.id }, `Delivery ${d.id} queued again.`), 'secondary'))],
            ],
            sent,
            (d) => ({ 'data-delivery': d.id, 'data-status': d.status }),
          ),
    );
  }

  status.addEventListener('change', () => void load().catch(failed));
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      try {
        const events = typeInputs.filter((i) => i.checked).map((i) => i.value);
        const answer = await rpc<{ webhook: { id: number; url: string }; secret: string }>('admin.webhooks.add', { url: url.value, events });
        fill(
          secretBox,
          h(
            'div',
            { class: 'secret', id: 'webhook-secret-once' },
            h('p', {}, `Signing secret of webhook ${answer.webhook.id} (${answer.webhook.url}). It is shown this once: copy it now.`),
            h('code', { id: 'webhook-secret-value' }, answer.secret),
            h('p', {}, button('I have copied it', () => fill(secretBox), 'secondary')),
          ),
        );
        notify(`Webhook ${answer.webhook.id} added.`);
        form.reset();
        await load();
      } catch (err) {
        failed(err);
      }
    })();
  });
  await load();
}
