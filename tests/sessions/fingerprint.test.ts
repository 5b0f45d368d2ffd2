// A session is bound to the client that opened it: ip, User-Agent, Accept-Language, X-Client-Fingerprint
// (when sent at login) and the OAuth client (DESIGN.md "Authentication" 3-4, the troubleshooting
// guide's issues #2, #6, #7). Each policy (FINGERPRINT_UA, FINGERPRINT_IP, FINGERPRINT_COMPONENTS,
// TRUSTED_PROXIES) runs on its own server. A refusal never ends the session (DESIGN.md "Session
// lifecycle": else a stolen id could log its owner out), so every refusal here is followed by a check of
// the row and the cache entry, and by a successful call from the rightful client.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, newClient, tokenFor, type Headers } from '../support/fixtures.ts';

type Res = Awaited<ReturnType<TestTether['rpc']>>;
type Session = Awaited<ReturnType<typeof loggedIn>>;

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const cacheKey = (sid: string) => `session:${sha256(sid)}`;

const CHROME = (version: string) => `Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${version} Safari/537.36`;

interface Box {
  t: TestTether;
  sessions: string[];
}

/** A suite with its own server started with `env`; its session cache keys are deleted at the end. */
function withTether(name: string, env: Record<string, string>) {
  const s = suite<Box>(name, { sessions: [] } as unknown as Box);
  s.before(async (box) => {
    box.t = await startTestTether(env);
  });
  s.after(async (box) => {
    await box.t.services.cache.del(...box.sessions.map(cacheKey));
    await box.t.close();
  });
  return s;
}

async function open(box: Box, headers: Headers = {}, client?: { id: string; secret: string }): Promise<Session> {
  const s = await loggedIn(box.t, { headers, client });
  box.sessions.push(s.sessionId);
  return s;
}

async function rowOf(t: TestTether, sid: string) {
  const [row] = await t.services.db.sql<
    { is_active: boolean; end_reason: string | null; ip: string; user_agent: string; accept_language: string; client_fingerprint: string | null; client_id: string }[]
  >`select is_active, end_reason, ip, user_agent, accept_language, client_fingerprint, client_id from api_sessions where session_hash = ${sha256(sid)}`;
  return row;
}

/** Refused fingerprints leave the session as it was: active row, live cache entry. */
async function assertStillOpen(t: TestTether, sid: string) {
  const row = await rowOf(t, sid);
  assert.is(row.is_active, true, 'row still active');
  assert.is(row.end_reason, null);
  assert.ok(await t.services.cache.get(cacheKey(sid)), 'cache entry still present');
  const ttl = await t.services.cache.ttl(cacheKey(sid));
  assert.ok(ttl > 0 && ttl <= t.config.sessionIdleTimeout, `ttl ${ttl}`);
}

function assertInvalid(res: Res, transport: 'jsonrpc' | 'odoo' = 'jsonrpc') {
  assert.is(res.status, transport === 'jsonrpc' ? 200 : 401, `HTTP status: ${res.text}`);
  assert.ok(res.body?.error, `an error: ${res.text}`);
  assert.is(res.body.error.message, 'Session validation failed');
  assert.is(res.body.error.status, 401);
  assert.is(res.body.error.data.error_code, 'SESSION_INVALID');
  assert.is(res.body.error.data.title, 'Session Validation Failed');
}

function assertOk(res: Res) {
  assert.is(res.status, 200, res.text);
  assert.ok(res.body?.result, `a result: ${res.text}`);
}

/** The one hijack line for this response: marker, user id, request id, 8-character prefix, never the whole id. */
function hijackLine(t: TestTether, res: Res, s: Session, component: string) {
  const requestId = res.headers.get('x-request-id');
  assert.ok(requestId);
  assert.is(res.body.error.data.request_id, requestId);
  const lines = t.logs.filter((l) => l.request_id === requestId && String(l.msg).startsWith('[SESSION HIJACKING DETECTED'));
  assert.is(lines.length, 1, `one hijack line for ${requestId}`);
  const line = lines[0];
  assert.is(line.msg, `[SESSION HIJACKING DETECTED - ${component} MISMATCH]`);
  assert.is(Number(line.user_id), s.user.id);
  assert.is(line.session, s.sessionId.slice(0, 8));
  assert.is(line.error_code, 'SESSION_INVALID');
  assert.is(line.error, 'Session validation failed');
  const text = JSON.stringify(line);
  assert.not.ok(text.includes(s.sessionId.slice(0, 9)), 'no more than 8 characters of the session id');
  assert.not.ok(text.includes(s.token), 'no bearer token');
  return line;
}

// --- default policy: every component, exact, no trusted proxies --------------------------------------

const exact = withTether('default policy (ip,ua,lang,client; ua exact; ip exact; no trusted proxies)', {});

exact('User-Agent changed -> Session validation failed (jsonrpc 200, odoo 401), USER-AGENT MISMATCH logged; the owner carries on', async (box) => {
  const { t } = box;
  const s = await open(box);
  assertOk(await s.call('agents.list'));
  const rpc = await s.call('agents.list', {}, { 'user-agent': 'PostmanRuntime/7.29.0' });
  assertInvalid(rpc);
  const line = hijackLine(t, rpc, s, 'USER-AGENT');
  assert.is(line.token_ua, 'TestClient/1.0');
  assert.is(line.current_ua, 'PostmanRuntime/7.29.0');
  const odoo = await t.odoo('agents', { session_id: s.sessionId }, { ...s.headers, 'user-agent': 'curl/8.5.0' });
  assertInvalid(odoo, 'odoo');
  hijackLine(t, odoo, s, 'USER-AGENT');
  await assertStillOpen(t, s.sessionId);
  // The rightful client, same fingerprint as at login: still served, on both transports.
  assertOk(await s.call('agents.list'));
  const mine = await t.odoo('me', { session_id: s.sessionId }, s.headers);
  assert.is(mine.status, 200);
  assert.is(mine.body.result.user.id, s.user.id);
});

exact('repeated hijack attempts from several places do not end the session', async (box) => {
  const { t } = box;
  const s = await open(box);
  for (const ua of ['Evil/1', 'Evil/2', 'Evil/3']) {
    assertInvalid(await t.rpc('agents.list', {}, { ...s.headers, 'user-agent': ua, 'x-openerp-session-id': s.sessionId }));
    assertInvalid(await t.odoo('agents', {}, { ...s.headers, 'user-agent': ua, cookie: `session_id=${s.sessionId}` }), 'odoo');
  }
  await assertStillOpen(t, s.sessionId);
  assertOk(await s.call('me'));
});

exact('with FINGERPRINT_UA=exact (the default) even a minor browser version change is refused', async (box) => {
  const { t } = box;
  const s = await open(box, { 'user-agent': CHROME('120.0.1') });
  assertOk(await s.call('agents.list'));
  const res = await s.call('agents.list', {}, { 'user-agent': CHROME('120.0.2') });
  assertInvalid(res);
  hijackLine(t, res, s, 'USER-AGENT');
  await assertStillOpen(t, s.sessionId);
});

exact('Accept-Language changed -> LANGUAGE MISMATCH', async (box) => {
  const { t } = box;
  const s = await open(box);
  const res = await s.call('agents.list', {}, { 'accept-language': 'pt-BR' });
  assertInvalid(res);
  const line = hijackLine(t, res, s, 'LANGUAGE');
  assert.is(line.token_lang, 'en-US');
  assert.is(line.current_lang, 'pt-BR');
  const odoo = await t.odoo('agents', { session_id: s.sessionId }, { ...s.headers, 'accept-language': 'en-US,en;q=0.9' });
  assertInvalid(odoo, 'odoo');
  hijackLine(t, odoo, s, 'LANGUAGE');
  assert.is((await rowOf(t, s.sessionId)).accept_language, 'en-US');
  await assertStillOpen(t, s.sessionId);
  assertOk(await s.call('agents.list'));
});

exact('X-Client-Fingerprint sent at login: changed or dropped -> CLIENT FINGERPRINT MISMATCH', async (box) => {
  const { t } = box;
  const s = await open(box, { 'x-client-fingerprint': 'my-browser-session-123' });
  assert.is((await rowOf(t, s.sessionId)).client_fingerprint, 'my-browser-session-123');
  assertOk(await s.call('agents.list'));
  const changed = await s.call('agents.list', {}, { 'x-client-fingerprint': 'my-browser-session-456' });
  assertInvalid(changed);
  hijackLine(t, changed, s, 'CLIENT FINGERPRINT');
  const { 'x-client-fingerprint': _dropped, ...without } = s.headers;
  const dropped = await t.odoo('agents', { session_id: s.sessionId }, without);
  assertInvalid(dropped, 'odoo');
  hijackLine(t, dropped, s, 'CLIENT FINGERPRINT');
  await assertStillOpen(t, s.sessionId);
  assertOk(await s.call('agents.list'));
});

exact('X-Client-Fingerprint not sent at login: it is not part of the fingerprint', async (box) => {
  const { t } = box;
  const s = await open(box);
  assert.is((await rowOf(t, s.sessionId)).client_fingerprint, null);
  assertOk(await s.call('agents.list', {}, { 'x-client-fingerprint': 'anything' }));
  assertOk(await s.call('agents.list'));
});

exact('the first differing component is reported: User-Agent before language', async (box) => {
  const { t } = box;
  const s = await open(box);
  const res = await s.call('agents.list', {}, { 'user-agent': 'Other/2.0', 'accept-language': 'fr-FR' });
  assertInvalid(res);
  hijackLine(t, res, s, 'USER-AGENT');
});

exact('without trusted proxies X-Forwarded-For and X-Forwarded-User-Agent are ignored', async (box) => {
  const { t } = box;
  const s = await open(box, { 'x-forwarded-for': '203.0.113.5', 'x-forwarded-user-agent': 'RealBrowser/1.0' });
  const row = await rowOf(t, s.sessionId);
  assert.is(row.ip, '127.0.0.1', 'the socket address, not the claimed one');
  assert.is(row.user_agent, 'TestClient/1.0');
  // Claiming another address or user agent through the headers changes nothing.
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '198.51.100.7', 'x-forwarded-user-agent': 'Other/9' }));
  const odoo = await t.odoo('agents', { session_id: s.sessionId }, { authorization: s.headers.authorization, 'user-agent': 'TestClient/1.0', 'accept-language': 'en-US' });
  assert.is(odoo.status, 200);
  // A session opened without the headers is not bound to them either.
  const plain = await open(box);
  assertOk(await plain.call('agents.list', {}, { 'x-forwarded-for': '203.0.113.5' }));
});

exact("another OAuth client's bearer on a valid session -> Session validation failed (CLIENT MISMATCH); the owner carries on", async (box) => {
  const { t } = box;
  const s = await open(box);
  const intruderToken = await tokenFor(t, await newClient(t));
  const rpc = await s.call('agents.list', {}, { authorization: `Bearer ${intruderToken}` });
  assertInvalid(rpc);
  const requestId = rpc.headers.get('x-request-id');
  const line = t.logs.find((l) => l.request_id === requestId && l.msg === '[SESSION HIJACKING DETECTED - CLIENT MISMATCH]');
  assert.ok(line, 'a CLIENT MISMATCH line');
  assert.is(Number(line!.user_id), s.user.id);
  assert.is(line!.session, s.sessionId.slice(0, 8));
  assert.is(line!.session_client, s.client.id);
  const odoo = await t.odoo('agents', { session_id: s.sessionId }, { ...s.headers, authorization: `Bearer ${intruderToken}` });
  assertInvalid(odoo, 'odoo');
  assert.is((await rowOf(t, s.sessionId)).client_id, s.client.id);
  await assertStillOpen(t, s.sessionId);
  assertOk(await s.call('agents.list'));
  // Another token of the session's own client is fine: the session is bound to the client, not the token.
  const sibling = await tokenFor(t, s.client);
  assertOk(await s.call('agents.list', {}, { authorization: `Bearer ${sibling}` }));
});

// --- FINGERPRINT_UA=major ------------------------------------------------------------------------------

const major = withTether('FINGERPRINT_UA=major', { FINGERPRINT_UA: 'major' });

major('a minor version change (Chrome/120.0.1 -> Chrome/120.0.2) keeps the session; a major one (-> 121) is refused', async (box) => {
  const { t } = box;
  const s = await open(box, { 'user-agent': CHROME('120.0.1') });
  assert.is((await rowOf(t, s.sessionId)).user_agent, CHROME('120.0.1'));
  assertOk(await s.call('agents.list', {}, { 'user-agent': CHROME('120.0.2') }));
  assertOk(await s.call('agents.list', {}, { 'user-agent': CHROME('120.0.6099.71') }));
  const res = await s.call('agents.list', {}, { 'user-agent': CHROME('121.0.1') });
  assertInvalid(res);
  const line = hijackLine(t, res, s, 'USER-AGENT');
  assert.is(line.current_ua, CHROME('121.0.1'));
  const odoo = await t.odoo('agents', { session_id: s.sessionId }, { ...s.headers, 'user-agent': CHROME('121.0.0.0') });
  assertInvalid(odoo, 'odoo');
  await assertStillOpen(t, s.sessionId);
  assertOk(await s.call('agents.list'));
});

major('a different product is still refused under major', async (box) => {
  const s = await open(box, { 'user-agent': 'PostmanRuntime/7.28.4' });
  assertOk(await s.call('agents.list', {}, { 'user-agent': 'PostmanRuntime/7.29.0' }));
  assertInvalid(await s.call('agents.list', {}, { 'user-agent': 'insomnia/7.28.4' }));
  assertInvalid(await s.call('agents.list', {}, { 'user-agent': 'PostmanRuntime/8.0.0' }));
});

// --- TRUSTED_PROXIES, ip exact ---------------------------------------------------------------------------

const proxied = withTether('TRUSTED_PROXIES=127.0.0.1/32, FINGERPRINT_IP=exact', { TRUSTED_PROXIES: '127.0.0.1/32' });

proxied('X-Forwarded-For from a trusted proxy is the client ip; another ip -> IP MISMATCH; the owner carries on', async (box) => {
  const { t } = box;
  const s = await open(box, { 'x-forwarded-for': '203.0.113.5' });
  assert.is((await rowOf(t, s.sessionId)).ip, '203.0.113.5');
  assertOk(await s.call('agents.list'));
  const rpc = await s.call('agents.list', {}, { 'x-forwarded-for': '198.51.100.7' });
  assertInvalid(rpc);
  const line = hijackLine(t, rpc, s, 'IP');
  assert.is(line.token_ip, '203.0.113.5');
  assert.is(line.current_ip, '198.51.100.7');
  // Same /24 is still another address under exact.
  const odoo = await t.odoo('agents', { session_id: s.sessionId }, { ...s.headers, 'x-forwarded-for': '203.0.113.6' });
  assertInvalid(odoo, 'odoo');
  hijackLine(t, odoo, s, 'IP');
  // Straight from the proxy itself, no X-Forwarded-For: the proxy's address.
  const { 'x-forwarded-for': _xff, ...direct } = s.headers;
  const bare = await t.rpc('agents.list', { session_id: s.sessionId }, direct);
  assertInvalid(bare);
  assert.is(hijackLine(t, bare, s, 'IP').current_ip, '127.0.0.1');
  await assertStillOpen(t, s.sessionId);
  assertOk(await s.call('agents.list'));
});

proxied('X-Forwarded-For is walked from the right: trusted hops are skipped, a spoofed leftmost entry is ignored', async (box) => {
  const { t } = box;
  const s = await open(box, { 'x-forwarded-for': '203.0.113.5' });
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '203.0.113.5, 127.0.0.1' }));
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '198.51.100.7, 203.0.113.5' }));
  const res = await s.call('agents.list', {}, { 'x-forwarded-for': '203.0.113.5, 198.51.100.7' });
  assertInvalid(res);
  assert.is(hijackLine(t, res, s, 'IP').current_ip, '198.51.100.7');
});

proxied('X-Forwarded-User-Agent from a trusted proxy is the client user agent', async (box) => {
  const { t } = box;
  const s = await open(box, { 'user-agent': 'nginx/1.18.0', 'x-forwarded-user-agent': 'MyApp/1.0' });
  assert.is((await rowOf(t, s.sessionId)).user_agent, 'MyApp/1.0');
  // The proxy's own User-Agent may change; the forwarded one is what counts.
  assertOk(await s.call('agents.list', {}, { 'user-agent': 'nginx/1.25.3' }));
  const res = await s.call('agents.list', {}, { 'x-forwarded-user-agent': 'MyApp/2.0' });
  assertInvalid(res);
  const line = hijackLine(t, res, s, 'USER-AGENT');
  assert.is(line.token_ua, 'MyApp/1.0');
  assert.is(line.current_ua, 'MyApp/2.0');
  await assertStillOpen(t, s.sessionId);
});

// --- FINGERPRINT_IP=subnet -------------------------------------------------------------------------------

const subnet = withTether('TRUSTED_PROXIES=127.0.0.1/32, FINGERPRINT_IP=subnet', { TRUSTED_PROXIES: '127.0.0.1/32', FINGERPRINT_IP: 'subnet' });

subnet('IPv4: the same /24 keeps the session, another /24 is refused', async (box) => {
  const { t } = box;
  const s = await open(box, { 'x-forwarded-for': '203.0.113.5' });
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '203.0.113.77' }));
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '203.0.113.254' }));
  const res = await s.call('agents.list', {}, { 'x-forwarded-for': '203.0.114.5' });
  assertInvalid(res);
  const line = hijackLine(t, res, s, 'IP');
  assert.is(line.token_ip, '203.0.113.5');
  assert.is(line.current_ip, '203.0.114.5');
  assertInvalid(await t.odoo('agents', { session_id: s.sessionId }, { ...s.headers, 'x-forwarded-for': '198.51.100.5' }), 'odoo');
  await assertStillOpen(t, s.sessionId);
  assertOk(await s.call('agents.list'));
});

subnet('IPv6: the same /64 keeps the session whatever the spelling; another /64 is refused', async (box) => {
  const s = await open(box, { 'x-forwarded-for': '2001:db8:1:2::5' });
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '2001:db8:1:2::99' }));
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '2001:db8:1:2:aaaa:bbbb:cccc:dddd' }));
  assertInvalid(await s.call('agents.list', {}, { 'x-forwarded-for': '2001:db8:1:3::5' }));
  // Zero groups compressed differently: 2001:db8::1 and 2001:db8:0:0::2 share the /64 2001:db8:0:0.
  const z = await open(box, { 'x-forwarded-for': '2001:db8::1' });
  assertOk(await z.call('agents.list', {}, { 'x-forwarded-for': '2001:db8:0:0::2' }));
  assertOk(await z.call('agents.list', {}, { 'x-forwarded-for': '2001:0db8:0000:0000:0000:0000:0000:0003' }));
  // 2001:db8::1:2:3:4:5 is 2001:db8:0:1:2:3:4:5, in the /64 2001:db8:0:1: not the session's.
  assertInvalid(await z.call('agents.list', {}, { 'x-forwarded-for': '2001:db8::1:2:3:4:5' }));
  assertOk(await z.call('agents.list'));
});

// --- FINGERPRINT_IP=off ----------------------------------------------------------------------------------

const ipOff = withTether('TRUSTED_PROXIES=127.0.0.1/32, FINGERPRINT_IP=off', { TRUSTED_PROXIES: '127.0.0.1/32', FINGERPRINT_IP: 'off' });

ipOff('any ip change is accepted; the other components are still checked', async (box) => {
  const { t } = box;
  const s = await open(box, { 'x-forwarded-for': '203.0.113.5' });
  assert.is((await rowOf(t, s.sessionId)).ip, '203.0.113.5', 'the ip is still recorded');
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '198.51.100.7' }));
  assertOk(await s.call('agents.list', {}, { 'x-forwarded-for': '2001:db8::1' }));
  const odoo = await t.odoo('agents', { session_id: s.sessionId }, { ...s.headers, 'x-forwarded-for': '192.0.2.1' });
  assert.is(odoo.status, 200);
  const ua = await s.call('agents.list', {}, { 'x-forwarded-for': '192.0.2.1', 'user-agent': 'Other/1.0' });
  assertInvalid(ua);
  hijackLine(t, ua, s, 'USER-AGENT');
  const lang = await s.call('agents.list', {}, { 'accept-language': 'de-DE' });
  assertInvalid(lang);
  hijackLine(t, lang, s, 'LANGUAGE');
  await assertStillOpen(t, s.sessionId);
});

// --- FINGERPRINT_COMPONENTS without ua --------------------------------------------------------------------

const noUa = withTether('FINGERPRINT_COMPONENTS=ip,lang,client', { FINGERPRINT_COMPONENTS: 'ip,lang,client' });

noUa('a User-Agent change is accepted; language and client fingerprint are still checked', async (box) => {
  const { t } = box;
  const s = await open(box, { 'x-client-fingerprint': 'fp-1' });
  assertOk(await s.call('agents.list', {}, { 'user-agent': 'PostmanRuntime/7.29.0' }));
  const odoo = await t.odoo('agents', { session_id: s.sessionId }, { ...s.headers, 'user-agent': 'curl/8.5.0' });
  assert.is(odoo.status, 200);
  const lang = await s.call('agents.list', {}, { 'user-agent': 'curl/8.5.0', 'accept-language': 'pt-BR' });
  assertInvalid(lang);
  hijackLine(t, lang, s, 'LANGUAGE');
  const fp = await s.call('agents.list', {}, { 'x-client-fingerprint': 'fp-2' });
  assertInvalid(fp);
  hijackLine(t, fp, s, 'CLIENT FINGERPRINT');
  // The OAuth client binding is not a fingerprint component: it holds whatever the policy.
  const other = await tokenFor(t, await newClient(t));
  assertInvalid(await s.call('agents.list', {}, { authorization: `Bearer ${other}` }));
  await assertStillOpen(t, s.sessionId);
  assertOk(await s.call('agents.list'));
});

exact.run();
major.run();
proxied.run();
subnet.run();
ipOff.run();
noUa.run();
