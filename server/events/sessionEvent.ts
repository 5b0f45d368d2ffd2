// The one shape of a session event, wherever it goes: the SSE feed (GET /api/v1/admin/events), the
// webhooks' bodies, admin RPCs. Ids are decimal strings of a bigint, increasing in commit order.
export const EVENT_TYPES = ['session.opened', 'session.ended', 'session.refused', 'login.throttled'] as const;
export type EventType = (typeof EVENT_TYPES)[number];

export interface SessionEvent {
  id: string;
  type: EventType;
  /** ISO 8601, UTC: when it happened (a refusal or throttle: when it was decided, before its batch was written). */
  at: string;
  user_id: number | null;
  client_id: string | null;
  /** The session id's first 8 characters, never more; null when none (a throttle) or unknown (an old row). */
  session_prefix: string | null;
  /** session.ended: idle, absolute, logout, revoked, cap, user_disabled, password_changed, password_reset, reauthenticated;
   *  session.refused: fingerprint; login.throttled: login or ip (which limit). */
  reason: string | null;
}

export const isEventType = (value: string): value is EventType => (EVENT_TYPES as readonly string[]).includes(value);

/** A session_events row as the store reads it. */
export interface EventRow {
  id: string;
  type: EventType;
  at: Date;
  user_id: string | number | null;
  client_id: string | null;
  session_prefix: string | null;
  reason: string | null;
}

export const eventOf = (r: EventRow): SessionEvent => ({
  id: String(r.id),
  type: r.type,
  at: r.at.toISOString(),
  user_id: r.user_id === null ? null : Number(r.user_id),
  client_id: r.client_id,
  session_prefix: r.session_prefix,
  reason: r.reason,
});

/** An event id as a cursor: a decimal string of at most 18 digits (within a bigint); anything else is refused. */
export function parseEventId(value: string | undefined | null): string | undefined | null {
  if (value === undefined || value === null || value === '') return undefined;
  return /^\d{1,18}$/.test(value) ? String(BigInt(value)) : null;
}
