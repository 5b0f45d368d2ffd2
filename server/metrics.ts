// Prometheus metrics (GET /metrics). One registry per process: counters are fed where things happen
// (the call record, session ends, cache lookups); gauges are read at scrape time, except the active
// sessions, a PostgreSQL count refreshed on a timer (a scrape, which may be anonymous, runs no query).
//
// Every known label of every counter is exported at 0 from the start: a series that first appears at 1
// has no increase() or rate() in Prometheus, so an alert on the first event (one hijack detection, one
// cache error, one STORAGE_UNAVAILABLE) would never fire.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { callSeries } from './callSeries.ts';
import { eventLoopDelay } from './eventLoopDelay.ts';
import type { CallRecord } from './rpc/context.ts';
import { END_REASONS } from './sessions/endReasons.ts';
import { passwordVerifications } from './auth/passwords.ts';
import type { Mismatch } from './sessions/fingerprint.ts';
import { PAGE_MEMO_RESULTS, type PageMemoResult } from './stores/agentPages.ts';

/** requireSession's refusals as the hijack counter labels them: the MISMATCH markers, lower case, dashed. */
export const HIJACK_COMPONENTS = ['user-agent', 'ip', 'language', 'client-fingerprint', 'uid', 'client'] as const;
// A fingerprint component added to Mismatch and not here fails the type check.
type Dashed<S extends string> = S extends `${infer A} ${infer B}` ? `${A}-${Dashed<B>}` : S;
type MissingComponent = Exclude<Dashed<Lowercase<Mismatch>>, (typeof HIJACK_COMPONENTS)[number]>;
const _everyComponentListed: [MissingComponent] extends [never] ? true : MissingComponent = true;
void _everyComponentListed;

export const CACHE_RESULTS = ['hit', 'miss', 'error'] as const;
export const WEBHOOK_RESULTS = ['delivered', 'retried', 'failed'] as const;

/**
 * The outcomes the shipped alerts watch (ops/prometheus/tether.rules.yml), exported at 0 for every
 * registered method with 'ok'; other error codes appear with their first call.
 */
export const WATCHED_OUTCOMES = ['ok', 'SESSION_EXPIRED', 'SESSION_ID_FORMAT', 'SESSION_INVALID', 'STORAGE_UNAVAILABLE', 'INTERNAL_ERROR'] as const;

export interface MetricSources {
  /** Active sessions as PostgreSQL counts them; read by refreshActiveSessions(), never by a scrape. */
  activeSessions(): Promise<number>;
  auditQueueDepth(): number;
  auditSpoolRows(): number;
  auditCounters: { written: number; spooled: number; replayed: number };
}

/** A counter whose value lives elsewhere (the audit log's own counts), copied at scrape time. */
function mirroredCounter(registry: Registry, name: string, help: string, read: () => number) {
  return new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}

/**
 * A counter by result, counted in plain numbers and handed to prom-client at scrape time, every result
 * from 0: for counts taken on every call, as prom-client hashes the label object on each inc()
 * (callSeries.ts says more). Answers the numbers to count in.
 */
function resultCounts<R extends string>(registry: Registry, name: string, help: string, results: readonly R[]): Record<R, number> {
  const counts = Object.fromEntries(results.map((result) => [result, 0])) as Record<R, number>;
  new Counter({
    name,
    help,
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const result of results) this.inc({ result }, counts[result]);
    },
  });
  return counts;
}

export function createMetrics(options: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: 'tether_' });
  let sources: MetricSources | undefined;

  const calls = callSeries(registry);
  const loopDelay = eventLoopDelay(registry);
  const hijacks = new Counter({ name: 'tether_session_hijack_detections_total', help: 'Calls refused for a fingerprint, uid or client mismatch, by component.', labelNames: ['component'] as const, registers: [registry] });
  for (const component of HIJACK_COMPONENTS) hijacks.inc({ component }, 0);
  const expirations = new Counter({ name: 'tether_session_expirations_total', help: `Sessions ended, by reason (${END_REASONS.join(', ')}).`, labelNames: ['reason'] as const, registers: [registry] });
  // Every reason from 0, so rate() and alerts see a series before its first end.
  for (const reason of END_REASONS) expirations.inc({ reason }, 0);
  // Both counted once per call: plain numbers handed to prom-client at scrape time (resultCounts).
  const lookups = resultCounts(registry, 'tether_session_cache_lookups_total', 'Session lookups in the cache, by result (hit, miss, error).', CACHE_RESULTS);
  const pageMemo = resultCounts(
    registry,
    'tether_agents_page_memo_total',
    "agents.list pages by how they were answered: hit (this process's memo, at the agents' version just read), miss (read from PostgreSQL and kept), bypass (read from PostgreSQL, no usable version: the cache behind, unreachable or without it).",
    PAGE_MEMO_RESULTS,
  );
  const cacheBehind = new Counter({ name: 'tether_cache_behind_total', help: 'Lookups that found the cache behind the change log (it missed writes, or came back older) and caught it up first.', registers: [registry] });
  // NaN until the first count, and whenever the last one failed (the TetherDatabaseUnreachable alert).
  let activeSessions = Number.NaN;
  new Gauge({
    name: 'tether_active_sessions',
    help: 'Active sessions in PostgreSQL (not ended, within idle and absolute time), counted every METRICS_REFRESH_INTERVAL seconds; NaN when the last count failed.',
    registers: [registry],
    collect() {
      this.set(activeSessions);
    },
  });
  new Gauge({ name: 'tether_audit_queue_depth', help: 'Audit rows waiting for the next batch write.', registers: [registry], collect() { if (sources) this.set(sources.auditQueueDepth()); } });
  new Gauge({ name: 'tether_audit_spool_rows', help: 'Audit rows in the local spool file, waiting for PostgreSQL.', registers: [registry], collect() { if (sources) this.set(sources.auditSpoolRows()); } });
  mirroredCounter(registry, 'tether_audit_rows_written_total', 'Audit rows written to PostgreSQL directly.', () => sources?.auditCounters.written ?? 0);
  mirroredCounter(registry, 'tether_audit_rows_spooled_total', 'Audit rows spooled to disk because PostgreSQL refused them.', () => sources?.auditCounters.spooled ?? 0);
  mirroredCounter(registry, 'tether_audit_rows_replayed_total', 'Spooled audit rows replayed into PostgreSQL.', () => sources?.auditCounters.replayed ?? 0);
  const webhookDeliveries = new Counter({ name: 'tether_webhook_deliveries_total', help: 'Webhook delivery attempts by this process, by result (delivered, retried: failed and due again, failed: given up after WEBHOOK_RETRY_FOR).', labelNames: ['result'] as const, registers: [registry] });
  for (const result of WEBHOOK_RESULTS) webhookDeliveries.inc({ result }, 0);
  mirroredCounter(registry, 'tether_password_hashes_total', 'Password checks (one argon2id verify each), for known and unknown logins alike; counted per process.', passwordVerifications);

  return {
    registry,
    /** The event loop's delay (tether_event_loop_delay_seconds), sampled by a serving process; answers the stop. */
    watchEventLoop: (log?: import('pino').Logger) => loopDelay.start(log),
    /** Gauges need the stores, which are built after the metrics. */
    attach(s: MetricSources) {
      sources = s;
    },
    /** Counts the active sessions in PostgreSQL for the gauge (the server calls it on a timer). */
    async refreshActiveSessions(): Promise<void> {
      if (sources) activeSessions = await sources.activeSessions().catch(() => Number.NaN);
    },
    /** The registered methods: each gets its watched outcomes and its histogram at 0. */
    knownMethods(names: Iterable<string>) {
      for (const method of names) calls.declare(method, WATCHED_OUTCOMES);
    },
    /** `known`: the method is registered; other names are one label, so a caller cannot grow the series. */
    observeCall(record: CallRecord, seconds: number, known: boolean) {
      const code = record.error?.data.error_code;
      calls.observe(known ? record.method : '(unknown)', code ?? 'ok', seconds);
      if (code === 'SESSION_INVALID' && record.reason) hijacks.inc({ component: record.reason });
    },
    sessionsEnded(reason: string, count = 1) {
      if (count > 0) expirations.inc({ reason }, count);
    },
    cacheLookup(result: 'hit' | 'miss' | 'error') {
      lookups[result]++;
    },
    agentsPageMemo(result: PageMemoResult) {
      pageMemo[result]++;
    },
    cacheBehind() {
      cacheBehind.inc();
    },
    webhookDelivery(result: (typeof WEBHOOK_RESULTS)[number]) {
      webhookDeliveries.inc({ result });
    },
    async text(): Promise<{ contentType: string; body: string }> {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
