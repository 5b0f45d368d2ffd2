// OAuth client administration over JSON-RPC (the console's clients page): list, create (the secret is
// answered once and never stored), disable and enable, rotate the secret. Scope "admin", an admin user's
// session with a recent password proof, as every admin method; each call is audited with its client as target.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import { KNOWN_SCOPES } from '../server/auth/scopes.ts';
import { CONSOLE_CLIENT_ID } from '../server/console/consoleClient.ts';
import type { ClientRow } from '../server/stores/clientStore.ts';
import { fromStore } from './support/storage.ts';

const ADMIN = { admin: true, scope: 'admin' } as const;
const DateTime = Type.String({ format: 'date-time' });
const ClientId = Type.String({ minLength: 1, maxLength: 100 });

const AdminClient = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  is_active: Type.Boolean(),
  created_at: DateTime,
  /** The console's own client: it has no secret anyone holds, and cannot be rotated. */
  built_in: Type.Boolean(),
});
const adminClient = (c: ClientRow) => ({ id: c.id, name: c.name, scopes: c.scopes, is_active: c.is_active, created_at: c.created_at.toISOString(), built_in: c.id === CONSOLE_CLIENT_ID });

const notFound = (id: string) => new RpcError('NOT_FOUND', `No client ${id.slice(0, 100)}`, { field: 'client_id' });

export const clientsList = defineMethod({
  name: 'admin.clients.list',
  summary: 'Every OAuth client (active or not), oldest first, never a secret; and the scopes a client may hold.',
  params: Type.Object({}, { additionalProperties: false }),
  result: Type.Object({ clients: Type.Array(AdminClient), known_scopes: Type.Array(Type.String()) }),
  requires: ADMIN,
  async handler(_params, ctx) {
    const rows = await fromStore(ctx.services.clients.list(), 'client store');
    return { clients: rows.map(adminClient), known_scopes: [...KNOWN_SCOPES] };
  },
});

export const clientsCreate = defineMethod({
  name: 'admin.clients.create',
  summary: 'Creates an OAuth client; its secret is in this answer only (stored as a hash).',
  params: Type.Object(
    {
      name: Type.String({ minLength: 1, maxLength: 200 }),
      scopes: Type.Optional(Type.Array(Type.Union(KNOWN_SCOPES.map((s) => Type.Literal(s))), { maxItems: KNOWN_SCOPES.length, uniqueItems: true })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({ client: AdminClient, client_secret: Type.String() }),
  target: ['name'],
  requires: ADMIN,
  async handler(params, ctx) {
    const { client, secret } = await fromStore(ctx.services.clients.create(params.name, params.scopes ?? []), 'client store');
    ctx.services.log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_client: client.id, scopes: client.scopes }, '[ADMIN] client created');
    return { client: adminClient(client), client_secret: secret };
  },
});

export const clientsDisable = defineMethod({
  name: 'admin.clients.disable',
  summary: "Disables an OAuth client: its tokens are refused at their next call (TOKEN_REVOKED) and it gets no new ones.",
  params: Type.Object({ client_id: ClientId }, { additionalProperties: false }),
  result: Type.Object({ client: AdminClient }),
  target: ['client_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    // The console would cut its own call off: the command line (`tether clients revoke`) or CONSOLE=off does that.
    if (params.client_id === CONSOLE_CLIENT_ID) throw new RpcError('INVALID_PARAMS', "client_id: the console's own client is disabled from the command line (tether clients revoke tether-console), or the console turned off (CONSOLE=off)", { field: 'client_id', rule: 'not_console' });
    const client = await fromStore(ctx.services.clients.setActive(params.client_id, false), 'client store');
    if (!client) throw notFound(params.client_id);
    ctx.services.log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_client: client.id }, '[ADMIN] client disabled');
    return { client: adminClient(client) };
  },
});

export const clientsEnable = defineMethod({
  name: 'admin.clients.enable',
  summary: 'Enables a disabled OAuth client: its unexpired tokens work again, and it gets new ones.',
  params: Type.Object({ client_id: ClientId }, { additionalProperties: false }),
  result: Type.Object({ client: AdminClient }),
  target: ['client_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    const client = await fromStore(ctx.services.clients.setActive(params.client_id, true), 'client store');
    if (!client) throw notFound(params.client_id);
    ctx.services.log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_client: client.id }, '[ADMIN] client enabled');
    return { client: adminClient(client) };
  },
});

export const clientsRotateSecret = defineMethod({
  name: 'admin.clients.rotate_secret',
  summary: "Gives an OAuth client a new secret, in this answer only; the old secret stops working at once (tokens already issued live to their expiry: disable the client to cut them off).",
  params: Type.Object({ client_id: ClientId }, { additionalProperties: false }),
  result: Type.Object({ client: AdminClient, client_secret: Type.String() }),
  target: ['client_id'],
  requires: ADMIN,
  async handler(params, ctx) {
    if (params.client_id === CONSOLE_CLIENT_ID) throw new RpcError('INVALID_PARAMS', "client_id: the console's own client has no secret: its tokens are signed by the server", { field: 'client_id', rule: 'not_console' });
    const rotated = await fromStore(ctx.services.clients.rotateSecret(params.client_id), 'client store');
    if (!rotated) throw notFound(params.client_id);
    ctx.services.log.info({ request_id: ctx.requestId, admin_id: ctx.user.id, target_client: rotated.client.id }, '[ADMIN] client secret rotated');
    return { client: adminClient(rotated.client), client_secret: rotated.secret };
  },
});
