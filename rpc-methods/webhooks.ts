// Session events and webhooks over JSON-RPC, for admins (scope "admin", an admin user's session with
// a recent password proof), the same operations as `tether webhooks ...`. A hook's secret is in
// admin.webhooks.add's answer only.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import { EVENT_TYPES } from '../server/events/sessionEvent.ts';
import { eventOf, parseEventId } from '../server/events/sessionEvent.ts';
import { addHook, deliveryView, eventsOf, hookView, urlProblem } from '../server/events/webhooks.ts';
import { fromStore } from './support/storage.ts';

const ADMIN = { admin: true, scope: 'admin' } as const;
const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const EventType = Type.Union(EVENT_TYPES.map((t) => Type.Literal(t)));

const Event = Type.Object({
  id: Type.String(),
  type: EventType,
  at: DateTime,
  user_id: Type.Union([Type.Integer(), Type.Null()]),
  client_id: Nullable(Type.String()),
  session_prefix: Nullable(Type.String()),
  reason: Nullable(Type.String()),
});
const Hook = Type.Object({
  id: Type.Integer(),
  url: Type.String(),
  events: Type.Array(Type.String()),
  active: Type.Boolean(),
  created_at: DateTime,
  pending: Type.Integer(),
  delivered: Type.Integer(),
  failed: Type.Integer(),
  last_attempt_at: Nullable(DateTime),
  last_status: Type.Union([Type.Integer(), Type.Null()]),
  last_error: Nullable(Type.String()),
});
const Delivery = Type.Object({
  id: Type.Integer(),
  hook_id: Type.Integer(),
  event_id: Type.String(),
  event_type: Type.String(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  queued_at: DateTime,
  next_attempt_at: Nullable(DateTime),
  last_attempt_at: Nullable(DateTime),
  last_status: Type.Union([Type.Integer(), Type.Null()]),
  last_error: Nullable(Type.String()),
  delivered_at: Nullable(DateTime),
});
const Id = Type.Integer({ minimum: 1 });

export const eventsList = defineMethod({
  name: 'admin.events.list',
  summary: 'Session events after an id (oldest first, in commit order): the live feed GET /api/v1/admin/events replays the same.',
  params: Type.Object(
    { after: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$' })), limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) },
    { additionalProperties: false },
  ),
  result: Type.Object({ events: Type.Array(Event), head: Type.String() }),
  requires: ADMIN,
  async handler(params, ctx) {
    const rows = ctx.services.events.rows;
    const [events, head] = await fromStore(Promise.all([rows.after(parseEventId(params.after) ?? '0', params.limit ?? 100), rows.head()]), 'event store');
    return { events: events.map(eventOf), head };
  },
});

export const webhooksAdd = defineMethod({
  name: 'admin.webhooks.add',
  summary: 'Adds a webhook for some event types; answers its signing secret, shown this once.',
  params: Type.Object(
    { url: Type.String({ minLength: 1, maxLength: 2000 }), events: Type.Array(Type.String({ maxLength: 40 }), { minItems: 1, maxItems: 10 }) },
    { additionalProperties: false },
  ),
  result: Type.Object({ webhook: Type.Object({ id: Type.Integer(), url: Type.String(), events: Type.Array(Type.String()), active: Type.Boolean(), created_at: DateTime }), secret: Type.String() }),
  target: ['url'],
  requires: ADMIN,
  async handler(params, ctx) {
    const problem = urlProblem(params.url);
    if (problem) throw new RpcError('INVALID_PARAMS', `url: ${problem}`, { field: 'url' });
    const chosen = eventsOf(params.events);
    if ('problem' in chosen) throw new RpcError('INVALID_PARAMS', `events: ${chosen.problem}`, { field: 'events' });
    const { secret, ...webhook } = await fromStore(addHook(ctx.services.webhooks, ctx.services.keys.webhookSecrets, params.url, chosen.events), 'webhook store');
    ctx.services.log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, webhook_id: webhook.id, events: webhook.events }, '[ADMIN] webhook added');
    return { webhook, secret };
  },
});

export const webhooksList = defineMethod({
  name: 'admin.webhooks.list',
  summary: 'Every webhook with its delivery counts and last outcome (never its secret).',
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Object({ webhooks: Type.Array(Hook) }),
  requires: ADMIN,
  async handler(_params, ctx) {
    return { webhooks: (await fromStore(ctx.services.webhooks.list(), 'webhook store')).map(hookView) };
  },
});

export const webhooksRemove = defineMethod({
  name: 'admin.webhooks.remove',
  summary: 'Removes a webhook and its deliveries (pending ones are not sent).',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Type.Object({ removed: Type.Boolean() }),
  target: ['id'],
  requires: ADMIN,
  async handler(params, ctx) {
    if (!(await fromStore(ctx.services.webhooks.remove(params.id), 'webhook store'))) throw new RpcError('NOT_FOUND', `No webhook ${params.id}`, { field: 'id' });
    ctx.services.log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, webhook_id: params.id }, '[ADMIN] webhook removed');
    return { removed: true };
  },
});

export const webhooksDeliveries = defineMethod({
  name: 'admin.webhooks.deliveries',
  summary: 'Deliveries, newest first (of one webhook, of one status), with attempts and the last status or error.',
  params: Type.Object(
    {
      webhook_id: Type.Optional(Id),
      status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')])),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
      before_id: Type.Optional(Id),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ deliveries: Type.Array(Delivery) }),
  target: ['webhook_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    const rows = await fromStore(ctx.services.webhooks.deliveries({ hookId: params.webhook_id, status: params.status, limit: params.limit ?? 100, beforeId: params.before_id }), 'webhook store');
    return { deliveries: rows.map(deliveryView) };
  },
});

export const webhooksRedeliver = defineMethod({
  name: 'admin.webhooks.redeliver',
  summary: 'Queues a delivery again (a failed one above all), due now, with a new retry window.',
  params: Type.Object({ id: Id }, { additionalProperties: false }),
  result: Type.Object({ queued: Type.Boolean() }),
  target: ['id'],
  requires: ADMIN,
  async handler(params, ctx) {
    if (!(await fromStore(ctx.services.webhooks.redeliver(params.id), 'webhook store'))) throw new RpcError('NOT_FOUND', `No delivery ${params.id}`, { field: 'id' });
    return { queued: true };
  },
});
