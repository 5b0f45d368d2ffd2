// What the admin RPCs and the command line share about webhooks: the URL and event filter rules, the
// secret made and sealed at add, and the shapes a hook and a delivery are shown in.
import type { KeyObject } from 'node:crypto';
import type { WebhookStore, HookRow, DeliveryRow } from '../stores/webhookStore.ts';
import { EVENT_TYPES, isEventType } from './sessionEvent.ts';
import { newHookSecret, sealSecret } from './hookSecret.ts';

/** Why a URL is refused, or undefined. Any host is allowed (loopback and private ones included): hooks are added by admins. */
export function urlProblem(value: string): string | undefined {
  if (value.length > 2000) return 'the URL is longer than 2000 characters';
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'not an absolute URL';
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'the URL must be http:// or https://';
  if (url.username || url.password) return 'the URL must not hold credentials (the signature authenticates Tether)';
  if (url.hash) return 'the URL must not have a #fragment';
  return undefined;
}

/** The event types of a comma or space separated list ('*' or 'all': every type), or why not. */
export function eventsOf(list: string | string[]): { events: string[] } | { problem: string } {
  const names = [...new Set((Array.isArray(list) ? list : list.split(/[\s,]+/)).map((s) => s.trim()).filter(Boolean))];
  if (!names.length) return { problem: `name at least one event type (${EVENT_TYPES.join(', ')}, or *)` };
  if (names.includes('*') || names.includes('all')) return { events: [...EVENT_TYPES] };
  const unknown = names.filter((n) => !isEventType(n));
  if (unknown.length) return { problem: `unknown event type ${unknown.map((u) => JSON.stringify(u.slice(0, 40))).join(', ')} (known: ${EVENT_TYPES.join(', ')})` };
  return { events: names };
}

export interface HookView {
  id: number;
  url: string;
  events: string[];
  active: boolean;
  created_at: string;
  pending: number;
  delivered: number;
  failed: number;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
}

export const hookView = (h: HookRow): HookView => ({
  id: h.id,
  url: h.url,
  events: h.events,
  active: h.is_active,
  created_at: h.created_at.toISOString(),
  pending: h.pending,
  delivered: h.delivered,
  failed: h.failed,
  last_attempt_at: h.last_attempt_at?.toISOString() ?? null,
  last_status: h.last_status,
  last_error: h.last_error,
});

export interface DeliveryView {
  id: number;
  hook_id: number;
  event_id: string;
  event_type: string;
  status: 'pending' | 'delivered' | 'failed';
  attempts: number;
  queued_at: string;
  next_attempt_at: string | null;
  last_attempt_at: string | null;
  last_status: number | null;
  last_error: string | null;
  delivered_at: string | null;
}

export const deliveryView = (d: DeliveryRow): DeliveryView => ({
  id: d.id,
  hook_id: d.hook_id,
  event_id: d.event_id,
  event_type: d.event_type,
  status: d.status,
  attempts: d.attempts,
  queued_at: d.queued_at.toISOString(),
  next_attempt_at: d.status === 'pending' ? d.next_attempt_at.toISOString() : null,
  last_attempt_at: d.last_attempt_at?.toISOString() ?? null,
  last_status: d.last_status,
  last_error: d.last_error,
  delivered_at: d.delivered_at?.toISOString() ?? null,
});

/** Adds a hook; answers it with its secret, which is shown this once. */
export async function addHook(store: WebhookStore, key: KeyObject, url: string, events: string[]) {
  const secret = newHookSecret();
  const row = await store.add(url, events, sealSecret(key, secret));
  return { id: row.id, url, events, active: true, created_at: row.created_at.toISOString(), secret };
}
