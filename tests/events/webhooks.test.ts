// Webhooks over real HTTP to throwaway receivers on 127.0.0.1, on the real stores: a receiver that is
// down (connection refused) gets everything, in order, once it is back; a 500 is retried; a slow
// receiver holds up no call and no other session, and a session's later event waits for its earlier
// one; under random failures each session's events are delivered in order; signatures check with
// the README's few lines; the CLI adds, lists and removes hooks and shows deliveries; two instances
// never deliver one delivery at the same time (real mode).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { startTestTether, realStores, TEST_JWT_SECRET, type TestTether } from '../support/tether.ts';
import { loggedIn } from '../support/fixtures.ts';
import { freePort, startReceiver, verifySignature, type Receiver, type Received } from '../support/receiver.ts';
import { testIn } from '../support/modes.ts';
import { runCli } from '../support/child.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prng } from '../support/prng.ts';

const ENV = { WEBHOOK_BACKOFF_BASE_MS: '50', WEBHOOK_BACKOFF_MAX: '1', WEBHOOK_TIMEOUT: '10', CHANGE_POLL_INTERVAL: '200' };
const dataDir = mkdtempSync(join(tmpdir(), 'tether-webhooks-'));
let t: TestTether;
let admin: Awaited<ReturnType<typeof loggedIn>>;
const hooks: number[] = [];
const receivers: Receiver[] = [];

test.before(async () => {
  t = await startTestTether({ ...ENV, DATA_DIR: dataDir });
  admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
});
test.after(async () => {
  for (const id of hooks) await t.services.webhooks.remove(id).catch(() => {});
  await Promise.allSettled(receivers.map((r) => r.stop()));
  await t.close();
  rmSync(dataDir, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function addHook(url: string, events: string[] = ['*']): Promise<{ id: number; secret: string }> {
  const res = await admin.call('admin.webhooks.add', { url, events });
  assert.ok(res.body.result, res.text);
  hooks.push(res.body.result.webhook.id);
  return { id: res.body.result.webhook.id, secret: res.body.result.secret };
}

/** A session's whole life: login, a fingerprint refusal (written at once), logout. */
async function life(): Promise<{ userId: number; prefix: string }> {
  const u = await loggedIn(t);
  await u.call('me', {}, { 'user-agent': 'Intruder/1.0' });
  await t.services.events.recorder.flush();
  await u.call('users.logout');
  return { userId: u.user.id, prefix: u.sessionId.slice(0, 8) };
}
const LIFE = ['session.opened', 'session.refused', 'session.ended'];
const ofUser = (list: Received[], userId: number) => list.filter((r) => r.event.user_id === userId);

test('a receiver down (connection refused) gets everything, in order and signed, once it is back', async () => {
  const port = await freePort();
  const hook = await addHook(`http://127.0.0.1:${port}/hook`);
  assert.match(hook.secret, /^whsec_/);
  const listed = await admin.call('admin.webhooks.list');
  assert.not.ok(listed.text.includes(hook.secret), 'the secret is never listed');
  const u = await life();
  // Failing meanwhile, and visible as such.
  const failing = await until('failed attempts', async () => {
    const res = await admin.call('admin.webhooks.deliveries', { webhook_id: hook.id });
    const rows = res.body.result.deliveries as { status: string; attempts: number; last_error: string | null }[];
    return rows.length >= 1 && rows.some((d) => d.attempts >= 2 && /ECONNREFUSED/.test(d.last_error ?? '')) ? rows : undefined;
  });
  assert.ok(failing.every((d) => d.status === 'pending'), JSON.stringify(failing));
  const back = await startReceiver(() => 200, port);
  receivers.push(back);
  const got = await until('the session\'s three events', () => (ofUser(back.delivered(), u.userId).length >= 3 ? ofUser(back.delivered(), u.userId) : undefined));
  assert.equal(got.map((r) => r.event.type), LIFE);
  assert.ok(got.every((r) => r.event.session_prefix === u.prefix));
  for (const r of got) {
    assert.ok(verifySignature(hook.secret, String(r.headers['tether-signature']), r.body), 'the signature checks');
    assert.not.ok(verifySignature('whsec_wrong', String(r.headers['tether-signature']), r.body), 'and not with another secret');
    assert.is(r.headers['tether-event-id'], r.event.id);
    assert.is(r.headers['content-type'], 'application/json');
  }
  const done = await until('delivered rows', async () => {
    const res = await admin.call('admin.webhooks.deliveries', { webhook_id: hook.id, status: 'delivered' });
    const rows = res.body.result.deliveries as { event_id: string; attempts: number; last_status: number }[];
    const mine = rows.filter((d) => got.some((g) => g.event.id === d.event_id));
    return mine.length === 3 ? mine : undefined;
  });
  assert.ok(done.every((d) => d.last_status === 200), JSON.stringify(done));
  // The session's first event was retried while the receiver was down; its later ones waited their
  // turn (never tried before it was acknowledged), so one attempt each.
  const byEvent = new Map(done.map((d) => [d.event_id, d.attempts]));
  assert.ok(byEvent.get(got[0].event.id)! >= 2, JSON.stringify(done));
  assert.equal([byEvent.get(got[1].event.id), byEvent.get(got[2].event.id)], [1, 1], JSON.stringify(done));
});

test('an answer of 500 is retried until a 2xx; the counter says so', async () => {
  const r = await startReceiver((_req, attempt) => (attempt === 1 ? 500 : 200));
  receivers.push(r);
  await addHook(r.url, ['session.opened']);
  const u = await loggedIn(t);
  const got = await until('the retried delivery', () => r.received.filter((x) => x.event.user_id === u.user.id).length >= 2 ? r.received.filter((x) => x.event.user_id === u.user.id) : undefined);
  assert.equal(got.map((x) => x.status), [500, 200]);
  assert.equal(got.map((x) => x.headers['tether-delivery-attempt']), ['1', '2']);
  assert.is(got[0].event.id, got[1].event.id);
  assert.is(got[0].headers['tether-event-id'], got[1].headers['tether-event-id']);
  const metrics = await (await fetch(`${t.url}/metrics`)).text();
  assert.match(metrics, /tether_webhook_deliveries_total\{result="retried"\} [1-9]/);
  assert.match(metrics, /tether_webhook_deliveries_total\{result="failed"\} \d/);
});

test('a slow receiver holds up no call, and a session\'s later event waits for its earlier one', async () => {
  let release!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const arrived: string[] = [];
  const r = await startReceiver(async (req) => {
    arrived.push(`${req.event.user_id}:${req.event.type}`);
    await released;
    return 200;
  });
  receivers.push(r);
  await addHook(r.url, ['session.opened', 'session.ended']);
  const u = await loggedIn(t);
  await until('the opened event at the receiver', () => arrived.includes(`${u.user.id}:session.opened`));
  // The receiver holds the opened event's POST: calls go on, and the ended event waits its turn.
  for (let i = 0; i < 5; i++) assert.is((await u.call('me')).status, 200);
  assert.is((await u.call('users.logout')).status, 200);
  const other = await loggedIn(t);
  await until('another session\'s event, not held up behind the slow one', () => arrived.includes(`${other.user.id}:session.opened`));
  await sleep(500);
  assert.not.ok(arrived.includes(`${u.user.id}:session.ended`), 'the end is not sent before the open is acknowledged');
  release();
  const got = await until('both events delivered', () => (ofUser(r.delivered(), u.user.id).length >= 2 ? ofUser(r.delivered(), u.user.id) : undefined));
  assert.equal(got.map((x) => x.event.type), ['session.opened', 'session.ended']);
});

test('under random failures, each session\'s events are delivered in order', async () => {
  const random = prng(25).next;
  const r = await startReceiver(() => (random() < 0.4 ? (random() < 0.5 ? 500 : 503) : 200));
  receivers.push(r);
  await addHook(r.url);
  const lives = await Promise.all(Array.from({ length: 5 }, () => life()));
  for (const l of lives) {
    const got = await until(`session ${l.prefix}'s events`, () => (ofUser(r.delivered(), l.userId).length >= 3 ? ofUser(r.delivered(), l.userId) : undefined));
    assert.equal(got.map((x) => x.event.type), LIFE, l.prefix);
    // Never an attempt of a later event before each earlier one of its session was acknowledged.
    r.received.forEach((attempt, i) => {
      if (attempt.event.user_id !== l.userId) return;
      for (const e of got.filter((g) => BigInt(g.event.id) < BigInt(attempt.event.id))) {
        assert.ok(r.received.indexOf(e) < i, `${l.prefix}: ${attempt.event.type} tried before ${e.event.type} was acknowledged`);
      }
    });
  }
});

test('the CLI adds a hook (secret once), lists it, shows its deliveries and removes it', async () => {
  const env: NodeJS.ProcessEnv = { ...process.env, DATA_DIR: dataDir, NO_COLOR: '1' };
  if (realStores) env.JWT_SECRET = TEST_JWT_SECRET;
  else for (const name of ['DATABASE_URL', 'REDIS_URL', 'JWT_SECRET']) delete env[name];
  const r = await startReceiver();
  receivers.push(r);
  const add = await runCli(['webhooks', 'add', r.url, '--events', 'session.opened,session.ended', '--json'], env, '', 120_000);
  assert.is(add.code, 0, add.stderr);
  const added = JSON.parse(add.stdout);
  hooks.push(added.webhook.id);
  assert.equal(added.webhook.events, ['session.opened', 'session.ended']);
  // The server delivers what the CLI added (the secret sealed by the CLI opens on the server).
  const u = await loggedIn(t);
  const got = await until('a delivery to the CLI\'s hook', () => r.delivered().find((x) => x.event.user_id === u.user.id));
  assert.ok(verifySignature(added.secret, String(got.headers['tether-signature']), got.body));
  const list = await runCli(['webhooks', 'list', '--json'], env, '', 120_000);
  assert.is(list.code, 0, list.stderr);
  const listed = JSON.parse(list.stdout).webhooks.find((h: { id: number }) => h.id === added.webhook.id);
  assert.ok(listed && listed.url === r.url && !list.stdout.includes(added.secret));
  const deliveries = await runCli(['webhooks', 'deliveries', String(added.webhook.id), '--json'], env, '', 120_000);
  assert.is(deliveries.code, 0, deliveries.stderr);
  assert.ok(JSON.parse(deliveries.stdout).deliveries.some((d: { event_id: string; status: string }) => d.event_id === got.event.id && d.status === 'delivered'));
  const bad = await runCli(['webhooks', 'add', 'ftp://example.com/x', '--events', 'session.opened'], env, '', 120_000);
  assert.is(bad.code, 2, bad.stderr);
  const unknown = await runCli(['webhooks', 'add', r.url, '--events', 'session.nope'], env, '', 120_000);
  assert.is(unknown.code, 2, unknown.stderr);
  const remove = await runCli(['webhooks', 'remove', String(added.webhook.id), '--json'], env, '', 120_000);
  assert.is(remove.code, 0, remove.stderr);
  assert.is((await runCli(['webhooks', 'remove', String(added.webhook.id)], env, '', 120_000)).code, 1);
  // Audited with the CLI's actor.
  await until('the audit row', async () => {
    await t.services.audit.flush();
    const [row] = await t.services.db.sql<{ actor: string }[]>`select actor from api_access_log where method = 'cli.webhooks.add' and target_id = ${`webhook ${added.webhook.id}`}`;
    return row?.actor.startsWith('cli:') ? row : undefined;
  });
});

testIn(test, 'real', 'two instances never deliver one delivery at the same time, nor twice without a failure', async () => {
  const b = await startTestTether(ENV);
  try {
    const inFlight = new Map<string, number>();
    let overlap = 0;
    const r = await startReceiver(async (req) => {
      const n = (inFlight.get(req.event.id) ?? 0) + 1;
      inFlight.set(req.event.id, n);
      if (n > 1) overlap++;
      await sleep(30);
      inFlight.set(req.event.id, n - 1);
      return 200;
    });
    receivers.push(r);
    await addHook(r.url, ['session.opened', 'session.ended']);
    const users: number[] = [];
    for (let round = 0; round < 20; round++) {
      const at = round % 2 ? b : t;
      const u = await loggedIn(at);
      users.push(u.user.id);
      await u.call('users.logout');
    }
    for (const id of users) await until(`user ${id}'s two events`, () => ofUser(r.delivered(), id).length >= 2);
    await sleep(1000);
    const mine = r.received.filter((x) => users.includes(x.event.user_id ?? -1));
    assert.is(overlap, 0, 'no event was being delivered twice at once');
    assert.is(mine.length, users.length * 2, 'each event delivered exactly once (no failure, so no retry)');
    assert.is(new Set(mine.map((x) => x.event.id)).size, mine.length);
  } finally {
    await b.close();
  }
});

test.run();
