// Prometheus metrics (GET /metrics). One registry per process: counters are fed where things happen
// (the call record, session ends, cache lookups); gauges are read at scrape time.
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { callSeries } from './callSeries.ts';
import { eventLoopDelay } from './eventLoopDelay.ts';
import type { CallRecord } from './rpc/context.ts';
import { END_REASONS } from './sessions/endReasons.ts';
import { passwordVerifications } from './auth/passwords.ts';

export interface MetricSources {
  /** Active sessions as PostgreSQL counts them; read at scrape time. */
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

export function createMetrics(options: { defaults?: boolean } = {}) {
  const registry = new Registry();
  if (options.defaults ?? true) collectDefaultMetrics({ register: registry, prefix: 'tether_' });
  let sources: MetricSources | undefined;

  const calls = callSeries(registry);
  const loopDelay = eventLoopDelay(registry);
  const hijacks = new Counter({ name: 'tether_session_hijack_detections_total', help: 'Calls refused for a fingerprint, uid or client mismatch, by component.', labelNames: ['component'] as const, registers: [registry] });
  const expirations = new Counter({ name: 'tether_session_expirations_total', help: `Sessions ended, by reason (${END_REASONS.join(', ')}).`, labelNames: ['reason'] as const, registers: [registry] });
  // Every reason from 0, so rate() and alerts see a series before its first end.
  for (const reason of END_REASONS) expirations.inc({ reason }, 0);
  // Counted in plain numbers and handed to prom-client at scrape time: every validated call counts one,
  // and prom-client hashes the label object on each inc() (callSeries.ts says more).
  const lookups = { hit: 0, miss: 0, error: 0 };
  new Counter({
    name: 'tether_session_cache_lookups_total',
    help: 'Session lookups in the cache, by result (hit, miss, error).',
    labelNames: ['result'] as const,
    registers: [registry],
    collect() {
      this.reset();
      for (const result of ['hit', 'miss', 'error'] as const) this.inc({ result }, lookups[result]);
    },
  });
  new Gauge({
    name: 'tether_active_sessions',
    help: 'Active sessions in PostgreSQL (not ended, within idle and absolute time).',
    registers: [registry],
    async collect() {
      if (sources) this.set(await sources.activeSessions().catch(() => Number.NaN));
    },
  });
  new Gauge({ name: 'tether_audit_queue_depth', help: 'Audit rows waiting for the next batch write.', registers: [registry], collect() { if (sources) this.set(sources.auditQueueDepth()); } });
  new Gauge({ name: 'tether_audit_spool_rows', help: 'Audit rows in the local spool file, waiting for PostgreSQL.', registers: [registry], collect() { if (sources) this.set(sources.auditSpoolRows()); } });
  mirroredCounter(registry, 'tether_audit_rows_written_total', 'Audit rows written to PostgreSQL directly.', () => sources?.auditCounters.written ?? 0);
  mirroredCounter(registry, 'tether_audit_rows_spooled_total', 'Audit rows spooled to disk because PostgreSQL refused them.', () => sources?.auditCounters.spooled ?? 0);
  mirroredCounter(registry, 'tether_audit_rows_replayed_total', 'Spooled audit rows replayed into PostgreSQL.', () => sources?.auditCounters.replayed ?? 0);
  mirroredCounter(registry, 'tether_password_hashes_total', 'Password checks (one argon2id verify each), for known and unknown logins alike; counted per process.', passwordVerifications);

  return {
    registry,
    /** The event loop's delay (tether_event_loop_delay_seconds), sampled by a serving process; answers the stop. */
    watchEventLoop: (log?: import('pino').Logger) => loopDelay.start(log),
    /** Gauges need the stores, which are built after the metrics. */
    attach(s: MetricSources) {
      sources = s;
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
    async text(): Promise<{ contentType: string; body: string }> {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
