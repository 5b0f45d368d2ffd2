// The webhook worker, one per serving instance: claims due deliveries (webhookStore.claim: never one
// row on two instances at once), POSTs each event signed with its hook's secret, and records the
// outcome. A 2xx answer delivers; anything else (a refused connection, a timeout, a 500, a redirect)
// is retried with exponential backoff (WEBHOOK_BACKOFF_BASE_MS doubling, capped at WEBHOOK_BACKOFF_MAX
// seconds) until WEBHOOK_RETRY_FOR seconds after the delivery was queued, then marked failed. A later
// event of the same session waits for an earlier one still pending, so a hook sees a session's events
// in order. Calls never wait for any of this: deliveries are rows, made by the event's transaction,
// and the worker runs beside the calls, at most WEBHOOK_CONCURRENCY POSTs at once.
//
// At least once: a delivery whose instance dies mid-POST is claimed again when its claim lapses
// (WEBHOOK_TIMEOUT + 30 s), and a receiver that answered 2xx to a POST whose answer was lost gets it
// again. Receivers dedupe on Tether-Event-Id.
import type { Logger } from 'pino';
import type { KeyObject } from 'node:crypto';
import type { WebhookStore, Claimed } from '../stores/webhookStore.ts';
import type { Metrics } from '../metrics.ts';
import { eventOf } from './sessionEvent.ts';
import { openSecret, signatureHeader } from './hookSecret.ts';
import { pollEvery } from '../timers.ts';

export interface WebhookSettings {
  retryFor: number;
  backoffBaseMs: number;
  backoffMax: number;
  timeout: number;
  concurrency: number;
}

/** The delay before attempt n+1 after n failed ones: base * 2^(n-1), capped, with +-10% jitter. */
export function backoffMs(attempts: number, s: Pick<WebhookSettings, 'backoffBaseMs' | 'backoffMax'>): number {
  const raw = Math.min(s.backoffBaseMs * 2 ** Math.min(30, Math.max(0, attempts - 1)), s.backoffMax * 1000);
  return Math.round(raw * (0.9 + Math.random() * 0.2));
}

export function webhookWorker(deps: { store: WebhookStore; key: KeyObject; log: Logger; metrics: Pick<Metrics, 'webhookDelivery'>; settings: WebhookSettings; pollMs: number }) {
  const { store, key, log, metrics, settings, pollMs } = deps;
  const lease = settings.timeout + 30;
  let inFlight = 0;
  const running = new Set<Promise<void>>();
  let stopPolling = () => {};
  let stopped = false;
  let looping: Promise<void> | undefined;
  let again = false;
  let failing = false;
  // Stopping aborts the POSTs in flight: each is recorded as due again now, for this or another instance.
  const stopping = new AbortController();

  async function post(d: Claimed): Promise<{ ok: boolean; status: number | null; error: string }> {
    const secret = openSecret(key, d.secret);
    if (secret === undefined) return { ok: false, status: null, error: 'secret unreadable (JWT_SECRET changed?): add the hook again' };
    const body = JSON.stringify(eventOf(d.event));
    try {
      const res = await fetch(d.url, {
        method: 'POST',
        body,
        redirect: 'manual',
        signal: AbortSignal.any([AbortSignal.timeout(settings.timeout * 1000), stopping.signal]),
        headers: {
          'Content-Type': 'application/json',
          'User-Agent': 'Tether-Webhooks/1',
          'Tether-Signature': signatureHeader(secret, body),
          'Tether-Event-Id': d.event.id,
          'Tether-Event-Type': d.event.type,
          'Tether-Delivery-Attempt': String(d.attempts),
        },
      });
      // The body is not read beyond what frees the connection.
      await res.body?.cancel().catch(() => {});
      if (res.status >= 200 && res.status < 300) return { ok: true, status: res.status, error: '' };
      return { ok: false, status: res.status, error: `HTTP ${res.status}` };
    } catch (err) {
      const e = err as Error & { cause?: { code?: string; message?: string } };
      if (stopping.signal.aborted) return { ok: false, status: null, error: 'stopped: Tether shut down during the POST' };
      const why = e.name === 'TimeoutError' ? `timeout after ${settings.timeout} s` : (e.cause?.code ?? e.cause?.message ?? e.message);
      return { ok: false, status: null, error: why };
    }
  }

  async function deliver(d: Claimed): Promise<void> {
    const outcome = await post(d);
    try {
      if (outcome.ok) {
        await store.delivered(d.id, outcome.status!);
        metrics.webhookDelivery('delivered');
        return;
      }
      const delay = stopping.signal.aborted ? 0 : backoffMs(d.attempts, settings);
      const giveUp = Date.now() - d.queued_at.getTime() >= settings.retryFor * 1000;
      await store.attemptFailed(d.id, outcome.status, outcome.error, giveUp ? undefined : new Date(Date.now() + delay));
      metrics.webhookDelivery(giveUp ? 'failed' : 'retried');
      const line = { hook_id: d.hook_id, delivery_id: d.id, event_id: d.event.id, attempt: d.attempts, status: outcome.status, error: outcome.error };
      if (giveUp) log.error(line, '[WEBHOOK FAILED] delivery given up after WEBHOOK_RETRY_FOR');
      else {
        log.warn({ ...line, retry_in_ms: delay }, '[WEBHOOK RETRY] delivery failed; will retry');
        wakeAt(delay);
      }
    } catch (err) {
      // The outcome could not be recorded: the claim lapses and the delivery is made again.
      log.warn({ err: (err as Error).message, delivery_id: d.id }, '[WEBHOOK] outcome not recorded; the delivery will be retried when its claim lapses');
    }
  }

  async function loop(): Promise<void> {
    while (!stopped && inFlight < settings.concurrency) {
      let claimed: Claimed[];
      try {
        claimed = await store.claim(settings.concurrency - inFlight, lease);
        if (failing) log.info('[WEBHOOK] deliveries can be claimed again');
        failing = false;
      } catch (err) {
        if (!failing) log.warn({ err: (err as Error).message }, '[WEBHOOK] deliveries could not be claimed; retrying');
        failing = true;
        return;
      }
      if (!claimed.length) return;
      for (const d of claimed) {
        inFlight++;
        const p: Promise<void> = deliver(d).finally(() => {
          inFlight--;
          running.delete(p);
          // A delivery done may let the next one of its session go.
          wake();
        });
        running.add(p);
      }
    }
  }

  function wake(): void {
    if (stopped) return;
    if (looping) {
      again = true;
      return;
    }
    looping = loop().finally(() => {
      looping = undefined;
      if (again) {
        again = false;
        wake();
      }
    });
  }

  // A retry due before the next poll gets a timer of its own (the earliest one wins).
  let soon: NodeJS.Timeout | undefined;
  let soonAt = Infinity;
  function wakeAt(ms: number): void {
    const at = Date.now() + ms;
    if (stopped || ms >= pollMs || at >= soonAt) return;
    clearTimeout(soon);
    soonAt = at;
    soon = setTimeout(() => {
      soonAt = Infinity;
      wake();
    }, ms + 5);
    soon.unref();
  }

  return {
    wake,
    start(): void {
      if (stopped) return;
      wake();
      stopPolling = pollEvery(pollMs, wake);
    },
    /** Stops claiming, aborts the POSTs in flight and waits for their outcome to be recorded (due again at once). */
    async stop(): Promise<void> {
      stopped = true;
      stopping.abort();
      stopPolling();
      clearTimeout(soon);
      await looping;
      await Promise.allSettled([...running]);
    },
  };
}

export type WebhookWorker = ReturnType<typeof webhookWorker>;
