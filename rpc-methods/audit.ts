// admin.audit.query: who called what, and why it was refused. Admin scope and an admin user.
import { Type } from '@sinclair/typebox';
import { defineMethod } from '../server/rpc/method.ts';
import { RpcError } from '../server/errors.ts';
import { auditStore } from '../server/stores/auditStore.ts';

const DateTime = Type.String({ format: 'date-time' });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);

/** Opaque to clients: the (at, id) of the last row of a page. */
const encodeCursor = (row: { at: Date; id: number }) => Buffer.from(`${row.at.toISOString()}|${row.id}`).toString('base64url');

// What PostgreSQL's timestamptz takes as an ISO string from postgres.js: four-digit years (a Date
// beyond them serialises as +010000-... or -000001-..., which PostgreSQL refuses).
const FIRST_MS = new Date('0001-01-01T00:00:00.000Z').getTime();
const LAST_MS = new Date('9999-12-31T23:59:59.999Z').getTime();
const inRange = (date: Date) => !Number.isNaN(date.getTime()) && date.getTime() >= FIRST_MS && date.getTime() <= LAST_MS;

function decodeCursor(cursor: string): { at: Date; id: number } {
  const [at, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|');
  const date = new Date(at ?? '');
  // Audit ids are bigserial: anything past 2^53 - 1 was never given out (and is beyond bigint at 2^63).
  if (!inRange(date) || !/^\d{1,16}$/.test(id ?? '') || Number(id) > Number.MAX_SAFE_INTEGER) {
    throw new RpcError('INVALID_PARAMS', 'cursor is not one this service gave out: pass next_cursor unchanged', { field: 'cursor' });
  }
  return { at: date, id: Number(id) };
}

function dateParam(value: string | undefined, field: string): Date | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw new RpcError('INVALID_PARAMS', `${field} must be an ISO 8601 date-time`, { field });
  if (!inRange(date)) throw new RpcError('INVALID_PARAMS', `${field} must be between 0001-01-01 and 9999-12-31`, { field });
  return date;
}

export const query = defineMethod({
  name: 'admin.audit.query',
  summary: 'Audit rows, newest first, filtered by time range, user, client, method, status and error_code; cursor pagination.',
  params: Type.Object(
    {
      // Checked by dateParam: TypeBox formats need a registry we do not keep.
      from: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      to: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
      user_id: Type.Optional(Type.Integer({ minimum: 1 })),
      client_id: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      method: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
      status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
      error_code: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
      limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
      cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    },
    { additionalProperties: false },
  ),
  result: Type.Object({
    rows: Type.Array(
      Type.Object({
        id: Type.Integer(),
        at: DateTime,
        request_id: Type.String(),
        method: Type.String(),
        status: Type.Integer(),
        error_code: Nullable(Type.String()),
        reason: Nullable(Type.String()),
        duration_ms: Type.Number(),
        user_id: Type.Union([Type.Integer(), Type.Null()]),
        client_id: Nullable(Type.String()),
        session_hash_prefix: Nullable(Type.String()),
        ip: Nullable(Type.String()),
        user_agent: Nullable(Type.String()),
        target_id: Nullable(Type.String()),
        client_request_id: Nullable(Type.String()),
        actor: Nullable(Type.String()),
      }),
    ),
    next_cursor: Nullable(Type.String()),
  }),
  requires: { admin: true, scope: 'admin' },
  async handler(params, ctx) {
    const limit = params.limit ?? 100;
    // What is still queued is written first, so a query right after a call sees it.
    await ctx.services.audit.flush();
    const rows = await auditStore(ctx.services.db.sql).query({
      from: dateParam(params.from, 'from'),
      to: dateParam(params.to, 'to'),
      userId: params.user_id,
      clientId: params.client_id,
      method: params.method,
      status: params.status,
      errorCode: params.error_code,
      after: params.cursor === undefined ? undefined : decodeCursor(params.cursor),
      limit,
    });
    const last = rows.at(-1);
    return {
      rows: rows.map((r) => ({ ...r, at: r.at.toISOString() })),
      next_cursor: rows.length === limit && last ? encodeCursor(last) : null,
    };
  },
});
