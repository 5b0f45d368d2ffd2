// tether/client against a real Tether over HTTP: the session it manages (login, the same headers on
// every call, login again once after an idle expiry, never after a hijack verdict or a revocation),
// the bearer it renews (before expires_in runs out, and once on TOKEN_EXPIRED), and typed batches.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { TetherClient, TetherError } from 'tether/client';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { newClient, newUser } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { secondOf, waitOutTtl } from '../support/waits.ts';
import { recordingFetch } from './recorder.ts';

/** idle 2 s: sessions lapse between calls. */
let idle: TestTether;
/** bearer lifetime 2 s, sessions long. */
let shortToken: TestTether;
/** the defaults. */
let t: TestTether;
/** one session per user: a second login ends the first (reason cap). */
let capped: TestTether;

// One after another: four embedded servers starting at once in one process share its event loop, and
// on a busy machine that made a start fail; a failed start must not leave the others running either.
test.before(async () => {
  idle = await startTestTether({ SESSION_IDLE_TIMEOUT: '2' });
  shortToken = await startTestTether({ ACCESS_TOKEN_TTL: '2', SESSION_IDLE_TIMEOUT: '600' });
  t = await startTestTether();
  capped = await startTestTether({ MAX_SESSIONS_PER_USER: '1' });
});
test.after(async () => {
  await Promise.allSettled([idle, shortToken, t, capped].map((x) => x?.close()));
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The session of `client` on the idle server lapses for real: past the last call's second + the 2 s
 * idle timeout, and its cache key gone by its own TTL. `lastCall` is a moment after the client's last call.
 */
async function waitOutIdle(client: TetherClient, lastCall: number): Promise<void> {
  const key = cacheKeyOf(hashOf(client.sessionId!));
  await waitOutTtl('the idle timeout', secondOf(lastCall) + 2, async () => (await idle.services.cache.get(key)) === null);
}

async function clientFor(x: TestTether, options: { credentials?: boolean; userAgent?: string; tokenLifetimeLie?: number; sessionId?: string } = {}) {
  const app = await newClient(x);
  const user = await newUser(x);
  const recorder = recordingFetch({ tokenLifetimeLie: options.tokenLifetimeLie });
  const client = new TetherClient({
    url: x.url,
    clientId: app.id,
    clientSecret: app.secret,
    credentials: options.credentials === false ? undefined : async () => ({ login: user.login, password: user.password }),
    userAgent: options.userAgent ?? 'ClientTest/1.0',
    acceptLanguage: 'de-DE',
    sessionId: options.sessionId,
    fetch: recorder.fetch,
  });
  return { client, user, app, recorder };
}

async function refusal(promise: Promise<unknown>): Promise<TetherError> {
  try {
    await promise;
  } catch (error) {
    assert.instance(error, TetherError);
    return error as TetherError;
  }
  assert.unreachable('the call was expected to be refused');
  throw new Error('unreachable');
}

test('login, me and a typed registry call; the same User-Agent and Accept-Language on every request', async () => {
  const { client, user, recorder } = await clientFor(t);
  const login = await client.login();
  assert.is(login.session_id.length, 80);
  assert.is(client.sessionId, login.session_id);
  const me = await client.me();
  assert.is(me.user.login, user.login);
  const created = await client.call('agents.create', { name: 'from the client' });
  const got = await client.call('agents.get', { id: created.id });
  assert.is(got.name, 'from the client');
  const { sessions } = await client.call('sessions.list');
  const current = sessions.find((s) => s.current);
  assert.is(current?.user_agent, 'ClientTest/1.0');
  for (const e of recorder.exchanges) {
    assert.is(e.headers['user-agent'], 'ClientTest/1.0', e.path);
    assert.is(e.headers['accept-language'], 'de-DE', e.path);
  }
  // session_id travels in params on every protected call, never to login.
  assert.is((recorder.calls('me')[0] as { params: { session_id?: string } }).params.session_id, login.session_id);
  assert.is((recorder.calls('users.login')[0] as { params: { session_id?: string } }).params.session_id, undefined);
  assert.is(recorder.tokenRequests(), 1);
});

test('every error is a TetherError with code, errorCode, status, requestId and the problem object', async () => {
  const { client } = await clientFor(t);
  await client.login();
  const error = await refusal(client.call('agents.get', { id: 987654321 }));
  assert.is(error.errorCode, 'NOT_FOUND');
  assert.type(error.code, 'number');
  assert.ok(error.status >= 400);
  assert.match(error.requestId ?? '', /^req_/);
  assert.is(error.problem.error_code, 'NOT_FOUND');
  assert.is(error.problem.request_id, error.requestId);
  const bad = new TetherClient({ url: t.url, clientId: 'nobody', clientSecret: 'wrong' });
  const refusedToken = await refusal(bad.call('system.ping'));
  assert.is(refusedToken.errorCode, 'invalid_client');
  assert.is(refusedToken.status, 401);
});

test('idle expiry: the client logs in again once and repeats the call', async () => {
  const { client, recorder } = await clientFor(idle);
  const first = await client.login();
  await client.me();
  await waitOutIdle(client, Date.now());
  const me = await client.me();
  assert.ok(me.user.id > 0);
  assert.is.not(client.sessionId, first.session_id, 'a new session');
  assert.is(recorder.calls('users.login').length, 2);
  const lapsed = recorder.errorCodes();
  assert.equal(lapsed.length, 1, `one refusal seen: ${lapsed.join(', ')}`);
  assert.ok(['SESSION_EXPIRED', 'SESSION_REQUIRED'].includes(lapsed[0]));
});

test('idle expiry without credentials: the refusal is raised, nothing retried', async () => {
  const { client, user, recorder } = await clientFor(idle, { credentials: false });
  await client.login({ login: user.login, password: user.password });
  await waitOutIdle(client, Date.now());
  const error = await refusal(client.me());
  assert.ok(['SESSION_EXPIRED', 'SESSION_REQUIRED'].includes(error.errorCode), error.errorCode);
  assert.is(error.status, 401);
  assert.is(recorder.calls('users.login').length, 1);
  assert.is(recorder.calls('me').length, 1);
});

test('20 concurrent calls on a lapsed session share one new login (x20 rounds)', async () => {
  const { client, recorder } = await clientFor(idle);
  await client.login();
  for (let round = 0; round < 20; round++) {
    if (round % 10 === 0) await waitOutIdle(client, Date.now());
    const before = recorder.calls('users.login').length;
    const answers = await Promise.all(Array.from({ length: 20 }, () => client.me()));
    assert.is(new Set(answers.map((a) => a.session.id)).size, 1, 'every call on one session');
    const logins = recorder.calls('users.login').length - before;
    assert.ok(logins <= 1, `round ${round}: ${logins} logins`);
  }
  assert.is(recorder.calls('users.login').length, 3, 'the first login and one per lapse');
});

test('a session revoked (or logged out) is not a lapse: SESSION_REQUIRED raised, no new login', async () => {
  const { client, recorder } = await clientFor(t);
  const { session_id } = await client.login();
  await t.services.sessions.end(hashOf(session_id), 'revoked');
  const error = await refusal(client.me());
  assert.is(error.errorCode, 'SESSION_REQUIRED');
  assert.is(error.message, 'Session required');
  assert.is(recorder.calls('users.login').length, 1);
});

test('after logout(): the next calls are refused (SESSION_REQUIRED), credentials() is not asked, no session opened; login() opens one again', async () => {
  const app = await newClient(t);
  const user = await newUser(t);
  const recorder = recordingFetch();
  let asked = 0;
  const client = new TetherClient({
    url: t.url,
    clientId: app.id,
    clientSecret: app.secret,
    credentials: async () => (asked++, { login: user.login, password: user.password }),
    fetch: recorder.fetch,
  });
  // Never logged in yet: the first call opens a session with credentials() (as the README says).
  assert.is((await client.me()).user.login, user.login);
  assert.is(asked, 1);
  assert.equal(await client.logout(), { logged_out: true });
  assert.is(client.sessionId, undefined);
  for (const call of [() => client.me(), () => client.call('agents.list', { limit: 1 })]) {
    const error = await refusal(call());
    assert.is(error.errorCode, 'SESSION_REQUIRED');
  }
  const [batched] = await client.batch([{ method: 'me' }]);
  assert.is(batched.ok, false);
  assert.is(asked, 1, 'credentials() not asked after logout');
  assert.is(recorder.calls('users.login').length, 1, 'no login after logout');
  assert.is(client.sessionId, undefined);
  const [{ active }] = await t.services.db.sql<{ active: number }[]>`select count(*)::int as active from api_sessions where user_id = ${user.id} and is_active`;
  assert.is(active, 0, 'no session opened behind the caller');
  // An explicit login() opens a session again, and a lapse after it is cured as before.
  await client.login();
  assert.is(asked, 2);
  assert.is((await client.me()).user.login, user.login);
});

test('a session ended by the per-user cap (SESSION_REQUIRED, reason cap): logged in again once', async () => {
  const { client, user, app, recorder } = await clientFor(capped);
  const first = await client.login();
  // The same user logs in elsewhere: with MAX_SESSIONS_PER_USER=1 that ends the client's session.
  const elsewhere = new TetherClient({ url: capped.url, clientId: app.id, clientSecret: app.secret });
  await elsewhere.login({ login: user.login, password: user.password });
  const me = await client.me();
  assert.ok(me.user.id > 0);
  assert.is.not(client.sessionId, first.session_id);
  assert.equal(recorder.errorCodes(), ['SESSION_REQUIRED']);
  const refused = recorder.exchanges.map((e) => e.answer as { error?: { data?: { reason?: string } } }).find((a) => a.error);
  assert.is(refused?.error?.data?.reason, 'cap');
  assert.is(recorder.calls('users.login').length, 2);
});

test('a refused hijack: another User-Agent on the same session gives SESSION_INVALID, never retried', async () => {
  const owner = await clientFor(t);
  const { session_id } = await owner.client.login();
  const thief = await clientFor(t, { userAgent: 'Thief/9.9', sessionId: session_id });
  const error = await refusal(thief.client.me());
  assert.is(error.errorCode, 'SESSION_INVALID');
  assert.is(error.message, 'Session validation failed');
  assert.is(error.status, 401);
  assert.match(error.requestId ?? '', /^req_/);
  assert.is(thief.recorder.calls('me').length, 1, 'not repeated');
  assert.is(thief.recorder.calls('users.login').length, 0, 'no login of its own');
  assert.ok(t.logsMatching('[SESSION HIJACKING DETECTED - USER-AGENT MISMATCH]').length > 0);
  // The owner's session survives the refusal.
  assert.is((await owner.client.me()).session.client_id, owner.app.id);
});

test('bearer renewal: renewed shortly before expires_in runs out, the server never says TOKEN_EXPIRED', async () => {
  const { client, recorder } = await clientFor(shortToken);
  await client.login();
  // Calls spread over about 4 s, twice the bearer's 2 s lifetime: time passing is the point, not a synchronisation.
  for (let i = 0; i < 6; i++) {
    await client.me();
    await sleep(700);
  }
  assert.ok(recorder.tokenRequests() >= 2, `${recorder.tokenRequests()} token requests`);
  assert.equal(recorder.errorCodes(), []);
});

test('bearer renewal on TOKEN_EXPIRED: a client told the token lasts an hour renews once and repeats the call', async () => {
  const { client, recorder } = await clientFor(shortToken, { tokenLifetimeLie: 3600 });
  await client.login();
  // The bearer (ACCESS_TOKEN_TTL=2, issued during login) must run out for real: its exp is at most
  // the second after login + 2.
  await waitOutTtl('the bearer lifetime', secondOf(Date.now()) + 2);
  const me = await client.me();
  assert.ok(me.user.id > 0);
  assert.equal(recorder.errorCodes(), ['TOKEN_EXPIRED']);
  assert.is(recorder.tokenRequests(), 2);
  assert.is(recorder.calls('me').length, 2);
});

test('batch: one typed outcome per element, in order, errors as TetherError', async () => {
  const { client } = await clientFor(t);
  await client.login();
  const created = await client.call('agents.create', { name: 'batch target' });
  const [ping, me, got, missing, list] = await client.batch([
    { method: 'system.ping' },
    { method: 'me' },
    { method: 'agents.get', params: { id: created.id } },
    { method: 'agents.get', params: { id: 987654321 } },
    { method: 'agents.list', params: { limit: 5 } },
  ]);
  assert.ok(ping.ok && ping.result.pong === true);
  assert.ok(me.ok && me.result.session.client_id.length > 0);
  assert.ok(got.ok && got.result.name === 'batch target');
  assert.ok(!missing.ok);
  if (!missing.ok) {
    assert.instance(missing.error, TetherError);
    assert.is(missing.error.errorCode, 'NOT_FOUND');
  }
  assert.ok(list.ok && list.result.limit === 5);
});

test('agents(): every active agent once, in id order, page by page through `next` (no offset, no count)', async () => {
  const { client, recorder } = await clientFor(t);
  await client.login();
  const mine: number[] = [];
  for (let i = 0; i < 5; i++) mine.push((await client.call('agents.create', { name: `walked ${i}` })).id);
  const seen: number[] = [];
  for await (const agent of client.agents({ limit: 2 })) seen.push(agent.id);
  assert.ok(mine.every((id) => seen.includes(id)), 'the new agents are all walked');
  assert.equal(seen, [...seen].sort((a, b) => a - b));
  assert.is(new Set(seen).size, seen.length);
  const pages = recorder.calls('agents.list');
  assert.ok(pages.length >= 3, `${pages.length} pages of 2`);
  assert.ok(pages.every((p) => (p as { params: Record<string, unknown> }).params.offset === undefined && (p as { params: Record<string, unknown> }).params.with_total === undefined));
});

test('batch on a lapsed session: one new login, the refused elements repeated once (x20)', async () => {
  const { client, recorder } = await clientFor(idle);
  await client.login();
  await waitOutIdle(client, Date.now());
  for (let round = 0; round < 20; round++) {
    const outcomes = await client.batch([{ method: 'me' }, { method: 'system.ping' }, { method: 'sessions.list' }, { method: 'me' }]);
    assert.ok(outcomes.every((o) => o.ok), `round ${round}: ${JSON.stringify(outcomes.filter((o) => !o.ok))}`);
  }
  assert.is(recorder.calls('users.login').length, 2);
});

test.run();
