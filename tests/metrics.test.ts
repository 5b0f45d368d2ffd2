// GET /metrics: Prometheus text exposition (version 0.0.4). Calls by method and outcome, hijack
// detections by component, the call duration histogram, active sessions, session cache hits and
// misses, the audit gauges; unknown method names share one label; METRICS=off removes the route.
// Every known label of every counter is there at 0 before its first event; the active-sessions count
// runs on a timer, never per scrape; METRICS_PORT moves /metrics to a port of its own.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { startTestTether, type TestTether } from './support/tether.ts';
import { loggedIn } from './support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../server/sessions/sessionId.ts';
import { CACHE_RESULTS, HIJACK_COMPONENTS, WATCHED_OUTCOMES } from '../server/metrics.ts';
import { END_REASONS } from '../server/sessions/endReasons.ts';
import { methods as productMethods } from '../rpc-methods/index.ts';
import { freePort } from './support/throwaway.ts';

let t: TestTether;
let off: TestTether;
let own: TestTether;

test.before(async () => {
  [t, off, own] = await Promise.all([
    startTestTether({ SWEEP_INTERVAL: '0', METRICS_REFRESH_INTERVAL: '1' }),
    startTestTether({ SWEEP_INTERVAL: '0', METRICS: 'off' }),
    freePort().then((port) => startTestTether({ SWEEP_INTERVAL: '0', METRICS_PORT: String(port) })),
  ]);
});
test.after(async () => {
  await Promise.all([t?.close(), off?.close(), own?.close()]);
});

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the exposition text: samples, and the # TYPE of each family. */
function parse(text: string): { samples: Sample[]; types: Map<string, string> } {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      types.set(type[1], type[2]);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, k, v] of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
    samples.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return { samples, types };
}

async function scrape(x: TestTether = t) {
  const res = await fetch(`${x.url}/metrics`);
  assert.is(res.status, 200);
  const contentType = res.headers.get('content-type') ?? '';
  const text = await res.text();
  return { contentType, text, ...parse(text) };
}

/** The value of the one sample with this name and (at least) these labels; 0 when absent. */
function value(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  const found = samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
  assert.ok(found.length <= 1, `one series for ${name} ${JSON.stringify(labels)}, got ${found.length}`);
  return found[0]?.value ?? 0;
}

const has = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.some((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));

test('from the start, before any event: every hijack component, end reason, cache result and watched outcome of every method at 0', async () => {
  // `own` has served no call: what a fresh process exports (Prometheus then sees 0 -> 1 on the first event).
  const res = await fetch(`${own.metricsUrl}/metrics`);
  const { samples } = parse(await res.text());
  const zero = (name: string, labels: Record<string, string>) => {
    assert.ok(has(samples, name, labels), `${name} ${JSON.stringify(labels)} is exported before its first event`);
    assert.is(value(samples, name, labels), 0, `${name} ${JSON.stringify(labels)} starts at 0`);
  };
  for (const component of HIJACK_COMPONENTS) zero('tether_session_hijack_detections_total', { component });
  for (const reason of END_REASONS) zero('tether_session_expirations_total', { reason });
  for (const result of CACHE_RESULTS) zero('tether_session_cache_lookups_total', { result });
  for (const { name } of productMethods) {
    for (const outcome of WATCHED_OUTCOMES) zero('tether_calls_total', { method: name, outcome });
    zero('tether_call_duration_seconds_count', { method: name });
  }
  for (const c of ['written', 'spooled', 'replayed']) zero(`tether_audit_rows_${c}_total`, {});
  // The labels the code produces are the ones listed: a refusal of each kind lands on a listed label.
  assert.equal([...HIJACK_COMPONENTS].sort(), ['client', 'client-fingerprint', 'ip', 'language', 'uid', 'user-agent']);
});

test('a scrape runs no PostgreSQL count: the active-sessions gauge comes from a count on a timer', async () => {
  const rows = t.services.sessionRows;
  const original = rows.countActive;
  let counts = 0;
  rows.countActive = (...args: Parameters<typeof original>) => {
    counts++;
    return original.apply(rows, args);
  };
  try {
    const started = Date.now();
    for (let i = 0; i < 30; i++) await scrape();
    const seconds = (Date.now() - started) / 1000;
    // METRICS_REFRESH_INTERVAL=1: at most one count a second (and one in progress), whatever the scrapes.
    assert.ok(counts <= Math.ceil(seconds) + 1, `${counts} counts for 30 scrapes in ${seconds.toFixed(1)} s`);
    // The timer does count.
    const before = counts;
    assert.ok(await until(10_000, () => counts > before), 'the timer counted again');
  } finally {
    rows.countActive = original;
  }
});

test('METRICS_PORT: /metrics on its own port only; the service port answers 404 there', async () => {
  assert.ok(own.metricsUrl, 'the metrics listener is up');
  assert.is.not(new URL(own.metricsUrl!).port, new URL(own.url).port);
  const scraped = await fetch(`${own.metricsUrl}/metrics`);
  assert.is(scraped.status, 200);
  assert.ok(scraped.headers.get('content-type')?.startsWith('text/plain; version=0.0.4'));
  assert.ok((await scraped.text()).includes('# TYPE tether_calls_total counter'));
  const onService = await fetch(`${own.url}/metrics`);
  assert.is(onService.status, 404);
  assert.not.ok((await onService.text()).includes('tether_calls_total'));
  // Nothing else on the metrics port.
  assert.is((await fetch(`${own.metricsUrl}/jsonrpc`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"jsonrpc":"2.0","id":1,"method":"system.ping"}' })).status, 404);
  assert.is((await fetch(`${own.metricsUrl}/metrics`, { method: 'POST' })).status, 405);
  // The service itself answers on its port.
  assert.ok((await own.rpc('system.ping')).body.result);
});

async function until(ms: number, check: () => boolean | Promise<boolean>): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end; await new Promise((r) => setTimeout(r, 100))) if (await check()) return true;
  return false;
}

test('GET /metrics is Prometheus text, version 0.0.4', async () => {
  const m = await scrape();
  assert.ok(m.contentType.startsWith('text/plain; version=0.0.4'), m.contentType);
  assert.ok(m.text.includes('# HELP tether_calls_total '));
  assert.is(m.types.get('tether_calls_total'), 'counter');
  assert.is(m.types.get('tether_call_duration_seconds'), 'histogram');
  assert.is(m.types.get('tether_session_hijack_detections_total'), 'counter');
  assert.is(m.types.get('tether_session_expirations_total'), 'counter');
  assert.is(m.types.get('tether_session_cache_lookups_total'), 'counter');
  assert.is(m.types.get('tether_active_sessions'), 'gauge');
  assert.is(m.types.get('tether_audit_queue_depth'), 'gauge');
  assert.is(m.types.get('tether_audit_spool_rows'), 'gauge');
  for (const c of ['written', 'spooled', 'replayed']) assert.is(m.types.get(`tether_audit_rows_${c}_total`), 'counter');
  assert.ok(has(m.samples, 'tether_process_cpu_user_seconds_total'), 'process defaults, prefixed');
  assert.is(m.types.get('tether_event_loop_delay_seconds'), 'histogram');
  // Not a JSON-RPC call: a scrape is not audited or counted as a call.
  assert.not.ok(m.samples.some((s) => s.name === 'tether_calls_total' && s.labels.method?.includes('metrics')));
});

test('tether_event_loop_delay_seconds: sampled while serving; a 150 ms stall of the loop is one observation above 100 ms', async () => {
  const bucket = (samples: Sample[], le: string) => value(samples, 'tether_event_loop_delay_seconds_bucket', { le });
  const before = await scrape();
  // Samples keep coming (a timer every 10 ms): poll, never assert a duration.
  let now = before;
  for (let i = 0; i < 100 && bucket(now.samples, '+Inf') <= bucket(before.samples, '+Inf') + 5; i++) {
    await new Promise((r) => setTimeout(r, 20));
    now = await scrape();
  }
  assert.ok(bucket(now.samples, '+Inf') > bucket(before.samples, '+Inf') + 5, 'the sampler runs');
  // This test process is the server's: block its loop the way a long synchronous job would.
  const slowBefore = bucket(now.samples, '+Inf') - bucket(now.samples, '0.1');
  const until = performance.now() + 150;
  while (performance.now() < until) {
    // busy: nothing else runs
  }
  // The sampler records the stall on its first tick after it: poll the scrape for it (bounded generously).
  let after = await scrape();
  for (let i = 0; i < 100 && bucket(after.samples, '+Inf') - bucket(after.samples, '0.1') < slowBefore + 1; i++) {
    await new Promise((r) => setTimeout(r, 20));
    after = await scrape();
  }
  const slowAfter = bucket(after.samples, '+Inf') - bucket(after.samples, '0.1');
  assert.ok(slowAfter >= slowBefore + 1, `a stall over 100 ms was observed (${slowBefore} -> ${slowAfter})`);
  assert.ok(value(after.samples, 'tether_event_loop_delay_seconds_sum') >= 0.1, 'the sum holds the stall');
  assert.ok(value(after.samples, 'tether_event_loop_delay_seconds_count') === bucket(after.samples, '+Inf'));
  // Counted and logged with its cause (busy: this process spun; on a crowded machine the spin itself may
  // be descheduled, then not_scheduled: either way one stall of 50 ms or more).
  const busy = value(after.samples, 'tether_event_loop_stalls_total', { cause: 'busy' });
  const stalls = busy + value(after.samples, 'tether_event_loop_stalls_total', { cause: 'not_scheduled' });
  assert.ok(stalls >= 1, 'the stall is counted');
  // A stall this process caused is logged as a warning (one the host caused only at debug).
  if (busy >= 1) assert.ok(t.logsMatching('[EVENT LOOP] stalled').some((l) => l.cause === 'busy' && l.level === 40), 'a busy stall is logged as a warning');
});

test('calls by method and outcome; the duration histogram', async () => {
  const s = await loggedIn(t);
  const before = await scrape();
  const okBefore = value(before.samples, 'tether_calls_total', { method: 'agents.list', outcome: 'ok' });
  for (let i = 0; i < 3; i++) assert.ok((await s.call('agents.list')).body.result);
  const after = await scrape();
  assert.is(value(after.samples, 'tether_calls_total', { method: 'agents.list', outcome: 'ok' }), okBefore + 3);

  // Histogram: cumulative buckets up to +Inf, which equals _count; _sum is non-negative.
  const buckets = after.samples.filter((x) => x.name === 'tether_call_duration_seconds_bucket' && x.labels.method === 'agents.list');
  assert.ok(buckets.length >= 5, 'buckets for the method');
  const les = buckets.map((b) => b.labels.le);
  assert.is(les.at(-1), '+Inf');
  for (let i = 1; i < buckets.length; i++) {
    assert.ok(buckets[i].value >= buckets[i - 1].value, 'cumulative');
    if (buckets[i].labels.le !== '+Inf') assert.ok(Number(buckets[i].labels.le) > Number(buckets[i - 1].labels.le), 'le ascending');
  }
  const count = value(after.samples, 'tether_call_duration_seconds_count', { method: 'agents.list' });
  assert.is(buckets.at(-1)!.value, count);
  assert.is(count, value(before.samples, 'tether_call_duration_seconds_count', { method: 'agents.list' }) + 3, 'one observation per call');
  // Three more calls, each taking some time: the sum grew (a histogram that drops durations would not).
  assert.ok(value(after.samples, 'tether_call_duration_seconds_sum', { method: 'agents.list' }) > value(before.samples, 'tether_call_duration_seconds_sum', { method: 'agents.list' }));
  assert.ok(has(after.samples, 'tether_calls_total', { method: 'users.login', outcome: 'ok' }));
});

test('a user agent change: outcome SESSION_INVALID and a hijack detection for user-agent', async () => {
  const s = await loggedIn(t);
  const before = await scrape();
  const res = await s.call('agents.list', {}, { 'user-agent': 'Somebody/Else' });
  assert.is(res.body.error?.data?.error_code, 'SESSION_INVALID');
  const after = await scrape();
  assert.is(
    value(after.samples, 'tether_calls_total', { method: 'agents.list', outcome: 'SESSION_INVALID' }),
    value(before.samples, 'tether_calls_total', { method: 'agents.list', outcome: 'SESSION_INVALID' }) + 1,
  );
  assert.is(
    value(after.samples, 'tether_session_hijack_detections_total', { component: 'user-agent' }),
    value(before.samples, 'tether_session_hijack_detections_total', { component: 'user-agent' }) + 1,
  );
  // Other components untouched; a language change counts under its own.
  await s.call('agents.list', {}, { 'accept-language': 'de-DE' });
  const third = await scrape();
  assert.is(
    value(third.samples, 'tether_session_hijack_detections_total', { component: 'language' }),
    value(after.samples, 'tether_session_hijack_detections_total', { component: 'language' }) + 1,
  );
  assert.is(
    value(third.samples, 'tether_session_hijack_detections_total', { component: 'user-agent' }),
    value(after.samples, 'tether_session_hijack_detections_total', { component: 'user-agent' }),
  );
});

test('active sessions gauge and session cache lookups (hit, then a miss once the key is deleted)', async () => {
  const s = await loggedIn(t);
  // Counted on the timer (METRICS_REFRESH_INTERVAL=1 here): within a few seconds of the login.
  assert.ok(await until(15_000, async () => value((await scrape()).samples, 'tether_active_sessions') >= 1), 'at least this session is active');
  let m = await scrape();
  const hits = value(m.samples, 'tether_session_cache_lookups_total', { result: 'hit' });
  const misses = value(m.samples, 'tether_session_cache_lookups_total', { result: 'miss' });

  assert.ok((await s.call('me')).body.result);
  m = await scrape();
  assert.is(value(m.samples, 'tether_session_cache_lookups_total', { result: 'hit' }), hits + 1);
  assert.is(value(m.samples, 'tether_session_cache_lookups_total', { result: 'miss' }), misses);

  await t.services.cache.del(cacheKeyOf(hashOf(s.sessionId)));
  assert.ok((await s.call('me')).body.result, 'restored from PostgreSQL');
  m = await scrape();
  assert.is(value(m.samples, 'tether_session_cache_lookups_total', { result: 'miss' }), misses + 1);
  assert.is(value(m.samples, 'tether_session_cache_lookups_total', { result: 'hit' }), hits + 1);

  assert.ok((await s.call('me')).body.result);
  m = await scrape();
  assert.is(value(m.samples, 'tether_session_cache_lookups_total', { result: 'hit' }), hits + 2, 'the key is back: a hit again');

  // A logout is counted among the session ends: exactly one more (the counter is this server's own).
  const logoutsBefore = value(m.samples, 'tether_session_expirations_total', { reason: 'logout' });
  assert.ok((await s.call('users.logout')).body.result);
  m = await scrape();
  assert.is(value(m.samples, 'tether_session_expirations_total', { reason: 'logout' }), logoutsBefore + 1);
});

test('audit gauges and counters follow the audit log', async () => {
  await t.rpc('system.ping');
  await t.services.audit.flush();
  const m = await scrape();
  assert.is(value(m.samples, 'tether_audit_spool_rows'), 0);
  // Just flushed, and a scrape writes no audit row: nothing waits.
  assert.is(value(m.samples, 'tether_audit_queue_depth'), 0);
  assert.is(value(m.samples, 'tether_audit_rows_written_total'), t.services.audit.counters.written);
  assert.ok(value(m.samples, 'tether_audit_rows_written_total') > 0);
  assert.is(value(m.samples, 'tether_audit_rows_spooled_total'), 0);
  assert.is(value(m.samples, 'tether_audit_rows_replayed_total'), 0);
});

test('unknown method names are one label, "(unknown)": a caller cannot grow the series', async () => {
  const before = await scrape();
  const names = Array.from({ length: 5 }, () => `random.${randomBytes(6).toString('hex')}`);
  for (const name of names) {
    const res = await t.rpc(name);
    assert.is(res.body.error?.code, -32601);
  }
  const after = await scrape();
  assert.is(
    value(after.samples, 'tether_calls_total', { method: '(unknown)', outcome: 'METHOD_NOT_FOUND' }),
    value(before.samples, 'tether_calls_total', { method: '(unknown)', outcome: 'METHOD_NOT_FOUND' }) + 5,
  );
  for (const name of names) assert.not.ok(after.text.includes(name), `no series names ${name}`);
  const seriesBefore = before.samples.filter((s) => s.name.startsWith('tether_call')).length;
  const seriesAfter = after.samples.filter((s) => s.name.startsWith('tether_call')).length;
  // At most the one "(unknown)" family of series is new (calls_total + the histogram's lines).
  const histogramLines = after.samples.filter((s) => s.name.startsWith('tether_call_duration_seconds') && s.labels.method === '(unknown)').length;
  assert.ok(seriesAfter - seriesBefore <= 1 + histogramLines, `series grew by ${seriesAfter - seriesBefore}`);
});

test('METRICS=off: /metrics is 404', async () => {
  const res = await fetch(`${off.url}/metrics`);
  assert.is(res.status, 404);
  const text = await res.text();
  assert.not.ok(text.includes('tether_calls_total'));
  // The service itself still answers.
  assert.ok((await off.rpc('system.ping')).body.result);
});

test.run();
