// Session events over real HTTP and the real stores: GET /api/v1/admin/events streams a login, a
// fingerprint refusal, a login throttle and a logout in order, each once, with the session id's first
// 8 characters only; a resume with Last-Event-ID (or ?after=) gets exactly the events missed; ends made
// by SQL typed by hand and by the sweeper are events too; refusals before streaming answer the error
// shape with their HTTP status; the stream closes when its own session ends; an event made on one
// instance reaches a stream on another (real mode).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { realStores, startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, newClient, tokenFor, clientHeaders } from '../support/fixtures.ts';
import { openSse, type SseStream } from '../support/sse.ts';
import { testIn } from '../support/modes.ts';
import type { SessionEvent } from '../../server/events/sessionEvent.ts';

const ENV = { LOGIN_MAX_FAILURES_PER_LOGIN: '2', EVENTS_HEARTBEAT: '1', EVENTS_SESSION_CHECK: '1', CHANGE_POLL_INTERVAL: '200' };
let t: TestTether;
let admin: Awaited<ReturnType<typeof loggedIn>>;
const streams: SseStream[] = [];

test.before(async () => {
  t = await startTestTether(ENV);
  admin = await loggedIn(t, { admin: true, scopes: ['admin'] });
});
test.after(async () => {
  for (const s of streams) s.close();
  await t.close();
});

const PATH = '/api/v1/admin/events';
async function stream(at: TestTether, who: { sessionId: string; headers: Record<string, string> }, extra: Record<string, string> = {}, query = ''): Promise<SseStream> {
  const s = await openSse(`${at.url}${PATH}${query}`, { ...who.headers, 'x-openerp-session-id': who.sessionId, ...extra });
  streams.push(s);
  return s;
}
const of = (userId: number) => (events: SessionEvent[]) => events.filter((e) => e.user_id === userId);
const ids = (events: SessionEvent[]) => events.map((e) => BigInt(e.id));
const increasing = (list: bigint[]) => list.every((id, i) => i === 0 || id > list[i - 1]);

test('a login, a fingerprint refusal, a throttle and a logout arrive in order, once each, with the session prefix only', async () => {
  const s = await stream(t, admin);
  assert.is(s.status, 200);
  assert.match(s.headers.get('content-type') ?? '', /^text\/event-stream/);
  const u = await loggedIn(t);
  const mine = of(u.user.id);
  await s.waitFor((e) => mine(e).length === 1, 'the opened event');
  const hijack = await u.call('me', {}, { 'user-agent': 'Another/9.9' });
  assert.is(hijack.status, 200);
  assert.is(hijack.body.error.data.error_code, 'SESSION_INVALID');
  await s.waitFor((e) => mine(e).length === 2, 'the refused event');
  for (let i = 0; i < 3; i++) await t.rpc('users.login', { login: u.user.login, password: 'wrong-password' }, u.headers);
  await s.waitFor((e) => mine(e).length === 3, 'the throttled event');
  assert.is((await u.call('users.logout')).status, 200);
  const all = await s.waitFor((e) => mine(e).length === 4, 'the ended event');
  const events = mine(all);
  assert.equal(events.map((e) => e.type), ['session.opened', 'session.refused', 'login.throttled', 'session.ended']);
  assert.equal(events.map((e) => e.reason), [null, 'user-agent', 'login', 'logout']);
  const prefix = u.sessionId.slice(0, 8);
  assert.equal(events.map((e) => e.session_prefix), [prefix, prefix, null, prefix]);
  assert.ok(events.every((e) => e.client_id === u.client.id), JSON.stringify(events));
  assert.ok(increasing(ids(all)), 'ids increase along the stream');
  assert.is(new Set(all.map((e) => e.id)).size, all.length, 'no event twice');
  // The wire: one message per event, with id: and event: lines; never the whole session id.
  const wire = s.messages.filter((m) => m.event !== 'stream.end');
  assert.ok(wire.every((m) => m.id && m.event && JSON.parse(m.data!).id === m.id && JSON.parse(m.data!).type === m.event));
  assert.not.ok(JSON.stringify(s.messages).includes(u.sessionId), 'the whole session id never appears');
  for (const e of events) assert.ok(!Number.isNaN(Date.parse(e.at)) && e.at.endsWith('Z'), e.at);
  // Heartbeats (EVENTS_HEARTBEAT=1) keep the stream alive.
  const deadline = Date.now() + 10_000;
  while (!s.comments.includes('heartbeat') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.ok(s.comments.includes('heartbeat'), `comments: ${s.comments}`);
  s.close();
});

test('a resume with Last-Event-ID, or ?after=, gets exactly the events missed', async () => {
  const s = await stream(t, admin);
  const u = await loggedIn(t);
  const seen = await s.waitFor((e) => of(u.user.id)(e).length === 1, 'the opened event');
  const last = seen[seen.length - 1].id;
  s.close();
  // Missed while disconnected: a refusal, a logout, another user's login and a revoke by SQL.
  await u.call('me', {}, { 'accept-language': 'xx-XX' });
  // Refusals are written in batches (within ~200 ms): written now, the refusal comes before the logout.
  await t.services.events.recorder.flush();
  await u.call('users.logout');
  const v = await loggedIn(t);
  await t.services.db.sql`update api_sessions set is_active = false, end_reason = 'revoked', ended_at = now() where session_hash = ${(await import('../../server/sessions/sessionId.ts')).hashOf(v.sessionId)}`;
  await t.services.events.recorder.flush();
  const expected = (await t.services.events.rows.after(last, 1000)).map((r) => r.id);
  assert.ok(expected.length >= 4, `missed: ${expected.length}`);
  for (const [how, extra, query] of [['Last-Event-ID', { 'last-event-id': last }, ''], ['?after=', {}, `?after=${last}`]] as const) {
    const r = await stream(t, admin, extra, query);
    const got = await r.waitFor((e) => e.length >= expected.length, `the ${expected.length} missed events (${how})`);
    assert.equal(got.slice(0, expected.length).map((e) => e.id), expected, how);
    assert.ok(got.every((e) => BigInt(e.id) > BigInt(last)), `nothing at or before the resume point (${how})`);
    const types = of(u.user.id)(got).map((e) => `${e.type}:${e.reason}`);
    assert.equal(types, ['session.refused:language', 'session.ended:logout'], how);
    assert.equal(of(v.user.id)(got).map((e) => `${e.type}:${e.reason}`), ['session.opened:null', 'session.ended:revoked'], `${how}: the end typed in SQL is an event`);
    r.close();
  }
});

test('refusals before streaming: the error shape with its HTTP status', async () => {
  const url = `${t.url}${PATH}`;
  const check = async (s: SseStream, status: number, code: string) => {
    assert.is(s.status, status, JSON.stringify(s.body));
    assert.is(s.body.error.data.error_code, code, JSON.stringify(s.body));
    assert.is(s.body.jsonrpc, '2.0');
  };
  await check(await openSse(url), 401, 'AUTH_HEADER_REQUIRED');
  await check(await openSse(url, admin.headers), 401, 'SESSION_REQUIRED');
  const user = await loggedIn(t, { scopes: ['admin'] });
  await check(await stream(t, user), 403, 'FORBIDDEN');
  const noScope = await loggedIn(t, { admin: true });
  await check(await stream(t, noScope), 403, 'FORBIDDEN');
  await check(await stream(t, admin, { 'last-event-id': 'abc' }), 400, 'INVALID_REQUEST');
  const post = await fetch(url, { method: 'POST', headers: { ...admin.headers, 'x-openerp-session-id': admin.sessionId } });
  assert.is(post.status, 405);
  assert.is(post.headers.get('allow'), 'GET');
  // The session_id cookie works as the header does.
  const byCookie = await openSse(url, { ...admin.headers, cookie: `session_id=${admin.sessionId}` });
  streams.push(byCookie);
  assert.is(byCookie.status, 200);
  byCookie.close();
  // The admin re-authentication window applies as for admin RPCs.
  const window = t.services.config.adminReauthWindow;
  t.services.config.adminReauthWindow = 1;
  try {
    const stale = await loggedIn(t, { admin: true, scopes: ['admin'] });
    await new Promise((r) => setTimeout(r, 2100));
    await check(await stream(t, stale), 401, 'REAUTH_REQUIRED');
  } finally {
    t.services.config.adminReauthWindow = window;
  }
});

test('the stream ends when its session ends (logout, revoke by SQL) or its user is no admin any more', async () => {
  const a1 = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const s1 = await stream(t, a1);
  assert.is(s1.status, 200);
  await a1.call('users.logout');
  assert.match((await s1.closed) ?? '', /^session_ended/);

  const a2 = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const s2 = await stream(t, a2);
  const { hashOf } = await import('../../server/sessions/sessionId.ts');
  await t.services.db.sql`update api_sessions set is_active = false, end_reason = 'revoked', ended_at = now() where session_hash = ${hashOf(a2.sessionId)}`;
  assert.is(await s2.closed, 'session_ended:revoked');

  const a3 = await loggedIn(t, { admin: true, scopes: ['admin'] });
  const s3 = await stream(t, a3);
  await t.services.users.setAdmin(a3.user.login, false);
  assert.is(await s3.closed, 'not_admin');
});

test('ends by the sweeper are events', async () => {
  const u = await loggedIn(t);
  const { hashOf } = await import('../../server/sessions/sessionId.ts');
  await t.services.db.sql`update api_sessions set expires_at = now() - interval '1 second' where session_hash = ${hashOf(u.sessionId)}`;
  const s = await stream(t, admin, { 'last-event-id': '0' });
  await t.services.sessionRows.endExpired(t.config.sessionIdleTimeout);
  const got = await s.waitFor((e) => of(u.user.id)(e).length === 2, 'the sweeper\'s end');
  assert.equal(of(u.user.id)(got).map((e) => `${e.type}:${e.reason}`), ['session.opened:null', 'session.ended:absolute']);
  s.close();
});

test('retention prunes events (and their deliveries) with the audit', async () => {
  const { retention } = await import('../../server/audit/retention.ts');
  const sql = t.services.db.sql;
  const [old] = await sql<{ id: string }[]>`insert into session_events (type, at, reason) values ('login.throttled', now() - interval '100 days', 'ip') returning id::text`;
  const [recent] = await sql<{ id: string }[]>`insert into session_events (type, at, reason) values ('login.throttled', now() - interval '10 days', 'ip') returning id::text`;
  const result = await retention({ sql, store: t.services.sessionRows, events: t.services.events.rows, log: t.services.log, days: 90 })();
  assert.ok(result.session_events >= 1, JSON.stringify(result));
  const left = await sql<{ id: string }[]>`select id::text from session_events where id in (${old.id}, ${recent.id})`;
  assert.equal(left.map((r) => r.id), [recent.id]);
});

testIn(test, 'real', 'an event made on instance A reaches a stream on instance B', async () => {
  const b = await startTestTether(ENV);
  try {
    const s = await stream(b, admin);
    assert.is(s.status, 200);
    const u = await loggedIn(t);
    await u.call('me', {}, { 'user-agent': 'Elsewhere/1.0' });
    // A refusal is written in A's next batch (within ~200 ms): an end committed before it would come first.
    await s.waitFor((e) => of(u.user.id)(e).length === 2, 'A\'s refusal on B');
    await u.call('users.logout');
    const got = await s.waitFor((e) => of(u.user.id)(e).length === 3, 'A\'s events on B');
    assert.equal(of(u.user.id)(got).map((e) => e.type), ['session.opened', 'session.refused', 'session.ended']);
    s.close();
  } finally {
    await b.close();
  }
});

void realStores;
void newClient;
void tokenFor;
void clientHeaders;
test.run();
