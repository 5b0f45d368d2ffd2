// The application half of the double check: OAuth 2.0 client credentials at POST /api/v1/auth/token
// (RFC 6749 4.4, OAuth's own error shape), revocation at POST /api/v1/auth/revoke (RFC 7009), and every
// refusal requireJwt gives, on a session method (agents.list) and a bearer-only one (users.login), on
// both transports, with the catalogue's exact texts (DESIGN.md "Errors", "Authentication" 1).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash } from 'node:crypto';
import jwt from 'jsonwebtoken';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { LANG, UA, loggedIn, newClient, newUser, tokenFor } from '../support/fixtures.ts';
import { signAccessToken } from '../../server/auth/accessTokens.ts';
import { ERROR_TABLE } from '../support/errorTable.ts';

type Client = { id: string; secret: string };

let t: TestTether;
let owner: Awaited<ReturnType<typeof loggedIn>>;
let loginUser: Awaited<ReturnType<typeof newUser>>;
const sessions: string[] = [];
const secrets: string[] = [];

test.before(async () => {
  t = await startTestTether();
  owner = await loggedIn(t);
  sessions.push(owner.sessionId);
  secrets.push(owner.client.secret, owner.token);
  loginUser = await newUser(t);
});
test.after(async () => {
  await t.services.cache.del(...sessions.map((sid) => `session:${sha256(sid)}`));
  await t.close();
});

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
const decode = (part: string) => JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function client(scopes: string[] = []): Promise<Client> {
  const c = await newClient(t, scopes);
  secrets.push(c.secret);
  return c;
}

async function endpoint(path: 'token' | 'revoke', kind: 'form' | 'json', body: Record<string, string>, headers: Record<string, string> = {}, method = 'POST') {
  const res = await fetch(`${t.url}/api/v1/auth/${path}`, {
    method,
    headers: { 'content-type': kind === 'form' ? 'application/x-www-form-urlencoded' : 'application/json', ...headers },
    body: method === 'GET' ? undefined : kind === 'form' ? new URLSearchParams(body).toString() : JSON.stringify(body),
  });
  const text = await res.text();
  const json = text ? JSON.parse(text) : undefined;
  if (typeof json?.access_token === 'string') secrets.push(json.access_token);
  return { status: res.status, headers: res.headers, body: json };
}

const grant = (c: Client, extra: Record<string, string> = {}) => ({ grant_type: 'client_credentials', client_id: c.id, client_secret: c.secret, ...extra });

async function auditRows(requestIds: (string | null)[]) {
  await t.services.audit.flush();
  return t.services.db.sql<{ request_id: string; method: string; status: number; error_code: string | null; client_id: string | null }[]>`
    select request_id, method, status, error_code, client_id from api_access_log where request_id in ${t.services.db.sql(requestIds.map(String))}`;
}

// --- the token endpoint ----------------------------------------------------------------------------

type Issued = Awaited<ReturnType<typeof endpoint>>;

/** A successful grant: the RFC 6749 5.1 body, no caching, an HS256 JWT with a jti for this client. */
function assertIssued(res: Issued, c: Client, scope = '') {
  assert.is(res.status, 200, JSON.stringify(res.body));
  assert.equal(Object.keys(res.body).sort(), ['access_token', 'expires_in', 'scope', 'token_type']);
  assert.is(res.body.token_type, 'Bearer');
  assert.is(res.body.expires_in, t.config.accessTokenTtl);
  assert.is(res.body.scope, scope);
  assert.is(res.headers.get('cache-control'), 'no-store');
  assert.is(res.headers.get('pragma'), 'no-cache');
  assert.match(res.headers.get('content-type') ?? '', /application\/json/);
  const [header, payload, signature] = res.body.access_token.split('.');
  assert.ok(signature, 'a signed token');
  assert.equal(decode(header), { alg: 'HS256', typ: 'JWT' });
  const claims = decode(payload);
  assert.type(claims.jti, 'string');
  assert.ok(claims.jti.length >= 16, 'a random jti');
  assert.is(claims.sub, c.id);
  assert.is(claims.exp - claims.iat, t.config.accessTokenTtl);
  return claims as { jti: string; sub: string; exp: number; iat: number };
}

test('token: form body -> access_token, Bearer, expires_in, scope; no-store; HS256 JWT with a jti; the token works', async () => {
  const c = await client();
  const res = await endpoint('token', 'form', grant(c));
  assertIssued(res, c);
  const rows = await auditRows([res.headers.get('x-request-id')]);
  assert.is(rows.length, 1);
  assert.is(rows[0].method, 'auth.token');
  assert.is(rows[0].status, 200);
  assert.is(rows[0].client_id, c.id);
  const someone = await newUser(t);
  const login = await t.rpc('users.login', { login: someone.login, password: someone.password }, { authorization: `Bearer ${res.body.access_token}`, 'user-agent': UA, 'accept-language': LANG });
  assert.is(login.body.result.session_id.length, 80);
  sessions.push(login.body.result.session_id);
});

test('token: JSON body works the same, and every grant has its own jti', async () => {
  const c = await client();
  const a = assertIssued(await endpoint('token', 'json', grant(c)), c);
  const b = assertIssued(await endpoint('token', 'json', grant(c)), c);
  assert.is.not(a.jti, b.jti);
});

test('token: HTTP Basic client authentication (RFC 6749 2.3.1), scheme name in any case', async () => {
  const c = await client();
  assertIssued(await endpoint('token', 'form', { grant_type: 'client_credentials' }, { authorization: basic(c.id, c.secret) }), c);
  assertIssued(await endpoint('token', 'json', { grant_type: 'client_credentials' }, { authorization: basic(c.id, c.secret) }), c);
  assertIssued(await endpoint('token', 'form', { grant_type: 'client_credentials' }, { authorization: basic(c.id, c.secret).replace('Basic', 'basic') }), c);
});

test('token: scopes: the client\'s by default, a subset on request, anything else -> 400 invalid_scope', async () => {
  const admin = await client(['admin']);
  assertIssued(await endpoint('token', 'form', grant(admin)), admin, 'admin');
  const plain = await client();
  const res = await endpoint('token', 'form', grant(plain, { scope: 'admin' }));
  assert.is(res.status, 400);
  assert.is(res.body.error, 'invalid_scope');
});

/**
 * An OAuth refusal: status, error, no token, no caching. RFC 6749 5.2: WWW-Authenticate comes with
 * 401 invalid_client when the client tried HTTP Basic (`challenge`), and not otherwise.
 */
function assertOAuthError(res: Issued, status: number, error: string, challenge: string | null = null) {
  assert.is(res.status, status, JSON.stringify(res.body));
  assert.is(res.body.error, error);
  assert.type(res.body.error_description, 'string');
  assert.not.ok('access_token' in res.body);
  assert.is(res.headers.get('cache-control'), 'no-store');
  assert.is(res.headers.get('www-authenticate'), challenge);
}
const BASIC_CHALLENGE = 'Basic realm="tether"';

test('token: wrong secret and unknown client -> 401 invalid_client, the same answer for both', async () => {
  const c = await client();
  const wrong = await endpoint('token', 'form', grant(c, { client_secret: c.secret + 'x' }));
  assertOAuthError(wrong, 401, 'invalid_client');
  const unknown = await endpoint('token', 'json', grant({ id: 'cli_doesnotexist', secret: c.secret }));
  assertOAuthError(unknown, 401, 'invalid_client');
  assert.is(unknown.body.error_description, wrong.body.error_description, 'no oracle on which clients exist');
  const viaBasic = await endpoint('token', 'form', { grant_type: 'client_credentials' }, { authorization: basic(c.id, 'tsec_wrong') });
  assertOAuthError(viaBasic, 401, 'invalid_client', BASIC_CHALLENGE);
  // A malformed percent-escape in Basic credentials is bad credentials, not a server failure.
  const badEscape = await endpoint('token', 'form', { grant_type: 'client_credentials' }, { authorization: `Basic ${Buffer.from(`${c.id}:%zz`).toString('base64')}` });
  assertOAuthError(badEscape, 401, 'invalid_client', BASIC_CHALLENGE);
  assertOAuthError(await endpoint('token', 'form', { grant_type: 'client_credentials' }, { authorization: 'Basic !!!' }), 401, 'invalid_client', BASIC_CHALLENGE);
  const rows = await auditRows([wrong.headers.get('x-request-id'), unknown.headers.get('x-request-id')]);
  assert.is(rows.length, 2);
  for (const row of rows) {
    assert.is(row.method, 'auth.token');
    assert.is(row.status, 401);
    assert.is(row.error_code, 'invalid_client');
  }
});

test('token (RFC 6749 5.2): a missing client_id or client_secret -> 400 invalid_request (form and JSON), not 401', async () => {
  const c = await client();
  for (const kind of ['form', 'json'] as const) {
    assertOAuthError(await endpoint('token', kind, { grant_type: 'client_credentials', client_id: c.id }), 400, 'invalid_request');
    assertOAuthError(await endpoint('token', kind, { grant_type: 'client_credentials', client_secret: c.secret }), 400, 'invalid_request');
    assertOAuthError(await endpoint('token', kind, { grant_type: 'client_credentials' }), 400, 'invalid_request');
    assertOAuthError(await endpoint('token', kind, { grant_type: 'client_credentials', client_id: '', client_secret: c.secret }), 400, 'invalid_request');
  }
  const res = await endpoint('token', 'form', { grant_type: 'client_credentials', client_id: c.id });
  assert.match(res.body.error_description, /client_secret/);
});

test('token (RFC 6749 5.2): a repeated parameter -> 400 invalid_request naming it; two client authentication methods -> 400 invalid_request', async () => {
  const c = await client();
  const form = async (body: string, headers: Record<string, string> = {}) => {
    const res = await fetch(`${t.url}/api/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body });
    return { status: res.status, headers: res.headers, body: (await res.json()) as any };
  };
  const q = (v: string) => encodeURIComponent(v);
  for (const [name, body] of [
    ['grant_type', `grant_type=client_credentials&grant_type=client_credentials&client_id=${q(c.id)}&client_secret=${q(c.secret)}`],
    ['client_id', `grant_type=client_credentials&client_id=${q(c.id)}&client_id=${q(c.id)}&client_secret=${q(c.secret)}`],
    ['client_secret', `grant_type=client_credentials&client_id=${q(c.id)}&client_secret=${q(c.secret)}&client_secret=x`],
    ['scope', `grant_type=client_credentials&client_id=${q(c.id)}&client_secret=${q(c.secret)}&scope=&scope=`],
  ]) {
    const res = await form(body);
    assertOAuthError(res, 400, 'invalid_request');
    assert.match(res.body.error_description, new RegExp(`^${name} is repeated`));
  }
  const both = await form(`grant_type=client_credentials&client_secret=${q(c.secret)}`, { authorization: basic(c.id, c.secret) });
  assertOAuthError(both, 400, 'invalid_request');
  // A parameter that is not a string (JSON) is malformed too.
  assertOAuthError(await endpoint('token', 'json', { grant_type: 'client_credentials', client_id: c.id, client_secret: 7 } as never), 400, 'invalid_request');
  // The same request with each parameter once is granted.
  assert.is((await form(`grant_type=client_credentials&client_id=${q(c.id)}&client_secret=${q(c.secret)}`)).status, 200);
});

test('token: missing grant_type -> 400 invalid_request; another grant_type -> 400 unsupported_grant_type', async () => {
  const c = await client();
  const { grant_type: _g, ...noGrant } = grant(c);
  assertOAuthError(await endpoint('token', 'form', noGrant), 400, 'invalid_request');
  assertOAuthError(await endpoint('token', 'json', noGrant), 400, 'invalid_request');
  assertOAuthError(await endpoint('token', 'form', grant(c, { grant_type: 'password' })), 400, 'unsupported_grant_type');
  assertOAuthError(await endpoint('token', 'json', grant(c, { grant_type: 'authorization_code' })), 400, 'unsupported_grant_type');
});

test('token: not a POST -> 405 with Allow; a body that is not an object -> 400 invalid_request', async () => {
  const get = await endpoint('token', 'form', {}, {}, 'GET');
  assert.is(get.status, 405);
  assert.is(get.headers.get('allow'), 'POST');
  assert.is(get.body.error, 'invalid_request');
  const res = await fetch(`${t.url}/api/v1/auth/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '["client_credentials"]' });
  assert.is(res.status, 400);
  assert.is(((await res.json()) as { error: string }).error, 'invalid_request');
});

test('token: a disabled client -> 401 invalid_client (form, JSON and Basic)', async () => {
  const c = await client();
  await t.services.clients.setActive(c.id, false);
  const [row] = await t.services.db.sql<{ is_active: boolean }[]>`select is_active from oauth_clients where id = ${c.id}`;
  assert.is(row.is_active, false);
  assertOAuthError(await endpoint('token', 'form', grant(c)), 401, 'invalid_client');
  assertOAuthError(await endpoint('token', 'json', grant(c)), 401, 'invalid_client');
  assertOAuthError(await endpoint('token', 'form', { grant_type: 'client_credentials' }, { authorization: basic(c.id, c.secret) }), 401, 'invalid_client', BASIC_CHALLENGE);
});

// --- requireJwt: every refusal, on agents.list and users.login, on both transports ---------------------

const CATALOGUE = {
  AUTH_HEADER_REQUIRED: ERROR_TABLE.AUTH_HEADER_REQUIRED.message,
  TOKEN_INVALID: ERROR_TABLE.TOKEN_INVALID.message,
  TOKEN_EXPIRED: ERROR_TABLE.TOKEN_EXPIRED.message,
  TOKEN_REVOKED: ERROR_TABLE.TOKEN_REVOKED.message,
} as const;
type Code = keyof typeof CATALOGUE;

/**
 * The same bearer refusal on four calls: agents.list with the owner's valid session (the bearer is
 * checked first, so the session does not help) and users.login with right credentials, each on /jsonrpc
 * (200, error.status 401) and /api/v1 (401). One [AUTH] log line and one audit row per call; no session
 * is opened and the owner's session is untouched.
 */
async function assertBearerRefused(authorization: string | undefined, code: Code) {
  const headers: Record<string, string> = { 'user-agent': UA, 'accept-language': LANG };
  if (authorization !== undefined) headers.authorization = authorization;
  const credentials = { login: loginUser.login, password: loginUser.password };
  const answers = [
    await t.rpc('agents.list', { session_id: owner.sessionId }, headers),
    await t.odoo('agents', { session_id: owner.sessionId }, headers),
    await t.rpc('users.login', credentials, headers),
    await t.odoo('users/login', credentials, headers),
  ];
  answers.forEach((res, i) => {
    const odoo = i % 2 === 1;
    assert.is(res.status, odoo ? 401 : 200, `HTTP status: ${res.text}`);
    assert.ok(res.body?.error, `an error: ${res.text}`);
    assert.not.ok('result' in res.body);
    assert.is(res.body.error.message, CATALOGUE[code]);
    assert.is(res.body.error.code, -32001);
    assert.is(res.body.error.status, 401);
    assert.is(res.body.error.data.error_code, code);
    assert.is(res.body.error.data.status, 401);
    assert.is(res.body.error.data.request_id, res.headers.get('x-request-id'));
    assert.is(res.body.error.data.instance, ['/jsonrpc', '/api/v1/agents', '/jsonrpc', '/api/v1/users/login'][i]);
  });
  const ids = answers.map((r) => r.headers.get('x-request-id'));
  for (const id of ids) {
    const lines = t.logs.filter((l) => l.request_id === id && String(l.msg).startsWith('[AUTH]'));
    assert.is(lines.length, 1, `one [AUTH] line for ${id}`);
    assert.is(lines[0].error_code, code);
    assert.is(lines[0].error, CATALOGUE[code]);
  }
  const rows = await auditRows(ids);
  assert.is(rows.length, 4);
  for (const row of rows) {
    assert.is(row.status, 401);
    assert.is(row.error_code, code);
  }
  assert.equal(rows.map((r) => r.method).sort(), ['agents.list', 'agents.list', 'users.login', 'users.login']);
  const [{ n }] = await t.services.db.sql<{ n: number }[]>`select count(*)::int as n from api_sessions where user_id = ${loginUser.id}`;
  assert.is(n, 0, 'no session opened');
  const [row] = await t.services.db.sql<{ is_active: boolean }[]>`select is_active from api_sessions where session_hash = ${sha256(owner.sessionId)}`;
  assert.is(row.is_active, true);
  assert.ok(await t.services.cache.get(`session:${sha256(owner.sessionId)}`));
  return answers;
}

const claims = (clientId: string) => ({ scope: '', sub: clientId, jti: `jti_${Date.now()}_${Math.random().toString(36).slice(2)}`, aud: 'tether:access', iss: 'tether' });

test('no Authorization header -> AUTH_HEADER_REQUIRED', async () => {
  await assertBearerRefused(undefined, 'AUTH_HEADER_REQUIRED');
});

test('an empty Authorization header -> AUTH_HEADER_REQUIRED', async () => {
  await assertBearerRefused('', 'AUTH_HEADER_REQUIRED');
});

test('Authorization: Basic ... (the client credentials, not a bearer) -> TOKEN_INVALID', async () => {
  await assertBearerRefused(basic(owner.client.id, owner.client.secret), 'TOKEN_INVALID');
});

test('Authorization: Bearer with nothing after it -> TOKEN_INVALID', async () => {
  await assertBearerRefused('Bearer', 'TOKEN_INVALID');
});

test('Authorization: Token xyz (another scheme) -> TOKEN_INVALID', async () => {
  await assertBearerRefused('Token xyz', 'TOKEN_INVALID');
  await assertBearerRefused(`Token ${owner.token}`, 'TOKEN_INVALID');
});

test('a garbage bearer (not a JWT, or three parts that do not decode) -> TOKEN_INVALID', async () => {
  await assertBearerRefused('Bearer garbage', 'TOKEN_INVALID');
  await assertBearerRefused('Bearer abc.def.ghi', 'TOKEN_INVALID');
  await assertBearerRefused(`Bearer ${owner.token} extra`, 'TOKEN_INVALID');
});

test('the right claims signed with another secret -> TOKEN_INVALID', async () => {
  const forged = jwt.sign(claims(owner.client.id), 'another-secret-0123456789-0123456789-0123', { algorithm: 'HS256', expiresIn: 3600 });
  await assertBearerRefused(`Bearer ${forged}`, 'TOKEN_INVALID');
});

test('a valid token with its payload altered (another client) -> TOKEN_INVALID', async () => {
  const other = await client();
  const [h, p, s] = owner.token.split('.');
  const altered = `${h}.${b64url({ ...decode(p), sub: other.id })}.${s}`;
  await assertBearerRefused(`Bearer ${altered}`, 'TOKEN_INVALID');
});

test('alg none (unsigned) -> TOKEN_INVALID', async () => {
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url({ ...claims(owner.client.id), iat: now, exp: now + 3600 })}.`;
  await assertBearerRefused(`Bearer ${unsigned}`, 'TOKEN_INVALID');
});

test('another algorithm with the real key (HS512) -> TOKEN_INVALID', async () => {
  const hs512 = jwt.sign(claims(owner.client.id), t.services.keys.access, { algorithm: 'HS512', expiresIn: 3600 });
  await assertBearerRefused(`Bearer ${hs512}`, 'TOKEN_INVALID');
});

test("a session's security token presented as a bearer (other key, other audience) -> TOKEN_INVALID", async () => {
  const [row] = await t.services.db.sql<{ security_token: string }[]>`select security_token from api_sessions where session_hash = ${sha256(owner.sessionId)}`;
  assert.ok(row.security_token);
  secrets.push(row.security_token);
  await assertBearerRefused(`Bearer ${row.security_token}`, 'TOKEN_INVALID');
});

test('an expired token signed with the real key -> TOKEN_EXPIRED; the same expired claims forged -> TOKEN_INVALID', async () => {
  const { token } = signAccessToken(t.services.keys.access, owner.client.id, [], -30);
  const payload = decode(token.split('.')[1]);
  assert.ok(payload.exp < Date.now() / 1000, 'exp is in the past');
  const answers = await assertBearerRefused(`Bearer ${token}`, 'TOKEN_EXPIRED');
  assert.match(answers[0].body.error.data.detail, /auth\/token/);
  const forged = jwt.sign(claims(owner.client.id), 'another-secret-0123456789-0123456789-0123', { algorithm: 'HS256', expiresIn: -30 });
  await assertBearerRefused(`Bearer ${forged}`, 'TOKEN_INVALID');
});

test('a revoked token (POST /api/v1/auth/revoke) -> TOKEN_REVOKED; the revoked_tokens row is left; the client\'s other tokens work', async () => {
  const c = await client();
  const doomed = await tokenFor(t, c);
  const spare = await tokenFor(t, c);
  secrets.push(doomed, spare);
  const jti = decode(doomed.split('.')[1]).jti as string;
  const exp = decode(doomed.split('.')[1]).exp as number;
  const session = await loggedIn(t, { client: c });
  sessions.push(session.sessionId);

  // Client authentication is required to revoke.
  const refused = await endpoint('revoke', 'form', { token: doomed, client_id: c.id, client_secret: 'tsec_wrong' });
  assertOAuthError(refused, 401, 'invalid_client');
  assert.is((await t.services.db.sql`select 1 from revoked_tokens where jti = ${jti}`).length, 0);

  const revoked = await endpoint('revoke', 'form', { token: doomed, client_id: c.id, client_secret: c.secret });
  assert.is(revoked.status, 200);
  assert.equal(revoked.body, { revoked: true });
  assert.is(revoked.headers.get('cache-control'), 'no-store');
  const rows = await t.services.db.sql<{ client_id: string; expires_at: Date }[]>`select client_id, expires_at from revoked_tokens where jti = ${jti}`;
  assert.is(rows.length, 1);
  assert.is(rows[0].client_id, c.id);
  assert.is(Math.floor(rows[0].expires_at.getTime() / 1000), exp);

  await assertBearerRefused(`Bearer ${doomed}`, 'TOKEN_REVOKED');
  const onSession = await session.call('agents.list', {}, { authorization: `Bearer ${doomed}` });
  assert.is(onSession.body.error.data.error_code, 'TOKEN_REVOKED');
  // Revoking twice is fine (RFC 7009), and the other token of the same client still works.
  assert.equal((await endpoint('revoke', 'json', { token: doomed, client_id: c.id, client_secret: c.secret })).body, { revoked: true });
  const ok = await session.call('agents.list', {}, { authorization: `Bearer ${spare}` });
  assert.is(ok.status, 200);
  assert.ok(ok.body.result, ok.text);
});

test('revoke (RFC 7009): a bearer revoking itself with only Authorization: Bearer -> 200, the token is refused from then on (TOKEN_REVOKED), again -> 200', async () => {
  const c = await client();
  const doomed = await tokenFor(t, c);
  const spare = await tokenFor(t, c);
  secrets.push(doomed, spare);
  const jti = decode(doomed.split('.')[1]).jti as string;
  const session = await loggedIn(t, { client: c });
  sessions.push(session.sessionId);
  for (const kind of ['form', 'json'] as const) {
    // With no body parameter at all, and (the gateway's Postman collection) with token = the bearer itself.
    const res = await endpoint('revoke', kind, kind === 'form' ? {} : { token: doomed }, { authorization: `Bearer ${doomed}` });
    assert.is(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body, { revoked: true });
    assert.is(res.headers.get('cache-control'), 'no-store');
  }
  const rows = await t.services.db.sql<{ client_id: string }[]>`select client_id from revoked_tokens where jti = ${jti}`;
  assert.is(rows.length, 1);
  assert.is(rows[0].client_id, c.id);
  await assertBearerRefused(`Bearer ${doomed}`, 'TOKEN_REVOKED');
  assert.is((await session.call('agents.list', {}, { authorization: `Bearer ${doomed}` })).body.error.data.error_code, 'TOKEN_REVOKED');
  const spareCall = await session.call('agents.list', {}, { authorization: `Bearer ${spare}` });
  assert.ok(spareCall.body.result, 'the client\'s other token still works');
  const [audit] = await auditRows([(await endpoint('revoke', 'form', {}, { authorization: `Bearer ${doomed}` })).headers.get('x-request-id')]);
  assert.is(audit.method, 'auth.revoke');
  assert.is(audit.status, 200);
  assert.is(audit.client_id, c.id);
});

test('revoke: a bearer may revoke only itself (another token -> 400, nothing revoked); a bearer that is not ours -> 401 invalid_client with a Bearer challenge; no credentials at all -> 400', async () => {
  const c = await client();
  const one = await tokenFor(t, c);
  const other = await tokenFor(t, c);
  secrets.push(one, other);
  const otherJti = decode(other.split('.')[1]).jti as string;
  assertOAuthError(await endpoint('revoke', 'form', { token: other }, { authorization: `Bearer ${one}` }), 400, 'invalid_request');
  assert.is((await t.services.db.sql`select 1 from revoked_tokens where jti = ${otherJti}`).length, 0);
  const forged = jwt.sign(claims(c.id), 'another-secret-0123456789-0123456789-0123', { algorithm: 'HS256', expiresIn: 3600 });
  assertOAuthError(await endpoint('revoke', 'form', {}, { authorization: `Bearer ${forged}` }), 401, 'invalid_client', 'Bearer realm="tether", error="invalid_token"');
  assertOAuthError(await endpoint('revoke', 'form', { token: other }), 400, 'invalid_request');
  // An unknown token, with client authentication: 200, nothing happens.
  const unknown = await endpoint('revoke', 'form', { token: 'not-a-token-at-all', client_id: c.id, client_secret: c.secret });
  assert.is(unknown.status, 200);
  assert.equal(unknown.body, { revoked: true });
  assert.ok((await t.rpc('agents.list', {}, { authorization: `Bearer ${other}` })).body.error.data.error_code === 'SESSION_REQUIRED', 'the other token is untouched');
});

test("revoking another client's token does nothing (RFC 7009: answered 200, no row, the token still works)", async () => {
  const victim = await client();
  const token = await tokenFor(t, victim);
  secrets.push(token);
  const jti = decode(token.split('.')[1]).jti as string;
  const attacker = await client();
  const res = await endpoint('revoke', 'form', { token, client_id: attacker.id, client_secret: attacker.secret });
  assert.is(res.status, 200);
  assert.is((await t.services.db.sql`select 1 from revoked_tokens where jti = ${jti}`).length, 0);
  const someone = await newUser(t);
  const login = await t.rpc('users.login', { login: someone.login, password: someone.password }, { authorization: `Bearer ${token}`, 'user-agent': UA, 'accept-language': LANG });
  assert.ok(login.body.result, JSON.stringify(login.body));
  sessions.push(login.body.result.session_id);
});

test('the token of a client disabled after issue -> TOKEN_REVOKED', async () => {
  const c = await client();
  const token = await tokenFor(t, c);
  secrets.push(token);
  await t.services.clients.setActive(c.id, false);
  const [row] = await t.services.db.sql<{ is_active: boolean }[]>`select is_active from oauth_clients where id = ${c.id}`;
  assert.is(row.is_active, false);
  const answers = await assertBearerRefused(`Bearer ${token}`, 'TOKEN_REVOKED');
  assert.match(answers[0].body.error.data.detail, /disabled/);
});

test("the bearer scheme name is case-insensitive (RFC 7235): 'bearer <token>' works", async () => {
  const res = await t.rpc('agents.list', { session_id: owner.sessionId }, { ...owner.headers, authorization: `bearer ${owner.token}` });
  assert.is(res.status, 200);
  assert.ok(res.body.result, res.text);
});

test('no log line holds a client secret, an access token or a security token', async () => {
  const all = JSON.stringify(t.logs);
  assert.ok(secrets.length > 10);
  for (const secret of secrets) assert.not.ok(all.includes(secret), 'a secret reached a log line');
});

test.run();
