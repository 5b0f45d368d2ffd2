// Forged and misused tokens: alg none, algorithm confusion (HS256 keyed with a public key's PEM text,
// RS256), a wrong secret (and the raw JWT_SECRET, where the service signs with derived keys), tampered
// claims, expired, not yet valid, another audience; a session's security JWT as a bearer, the access
// token as a session_id (params, header, cookie) and as the session record's security token. Each
// is refused with its catalogue error, on /jsonrpc (HTTP 200) and on /api/v1 (HTTP error.status).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac, createSign, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn, newClient, tokenFor } from '../support/fixtures.ts';
import { resolveSecret } from '../../server/auth/keys.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { ERROR_TABLE as CATALOGUE, type DocumentedCode as ErrorCode } from '../support/errorTable.ts';

let t: TestTether;
let session: Awaited<ReturnType<typeof loggedIn>>;
let claims: Record<string, unknown>;

test.before(async () => {
  t = await startTestTether({ SWEEP_INTERVAL: '0' });
  session = await loggedIn(t);
  claims = JSON.parse(Buffer.from(session.token.split('.')[1], 'base64url').toString());
});
test.after(async () => {
  await t.close();
});

const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

/** An HS256 JWT keyed with anything createHmac takes: a KeyObject, a Buffer, a string (PEM text). */
function hs256(payload: Record<string, unknown>, key: KeyObject | Buffer | string, header: Record<string, unknown> = { alg: 'HS256', typ: 'JWT' }): string {
  const signingInput = `${b64(header)}.${b64(payload)}`;
  return `${signingInput}.${createHmac('sha256', key).update(signingInput).digest('base64url')}`;
}

function assertError(res: { status: number; body: any }, errorCode: ErrorCode, httpStatus: number) {
  const spec = CATALOGUE[errorCode];
  assert.is(res.status, httpStatus, JSON.stringify(res.body));
  assert.ok(res.body?.error, `an error, got ${JSON.stringify(res.body)}`);
  assert.is(res.body.error.message, spec.message);
  assert.is(res.body.error.code, spec.code);
  assert.is(res.body.error.status, spec.status);
  assert.is(res.body.error.data.error_code, errorCode);
}

/** `me` with this bearer, on both transports: the same catalogue error, HTTP 200 and HTTP status. */
async function assertBearerRefused(token: string, errorCode: ErrorCode) {
  const headers = { ...session.headers, authorization: `Bearer ${token}` };
  assertError(await t.rpc('me', { session_id: session.sessionId }, headers), errorCode, 200);
  assertError(await t.odoo('me', { session_id: session.sessionId }, headers), errorCode, CATALOGUE[errorCode].status);
}

const accessClaims = (extra: Record<string, unknown> = {}): Record<string, unknown> => ({ ...claims, jti: randomBytes(8).toString('base64url'), iat: now(), exp: now() + 600, ...extra });

test('control: the real bearer and session work', async () => {
  const res = await session.call('me');
  assert.is(res.status, 200);
  assert.ok(res.body.result?.user);
});

test('alg none (empty signature, and with a signature) -> Token not found or invalid', async () => {
  for (const alg of ['none', 'None', 'NONE']) {
    const unsigned = `${b64({ alg, typ: 'JWT' })}.${b64(accessClaims({ scope: 'admin' }))}.`;
    await assertBearerRefused(unsigned, 'TOKEN_INVALID');
  }
  const [, , signature] = session.token.split('.');
  await assertBearerRefused(`${b64({ alg: 'none', typ: 'JWT' })}.${b64(accessClaims())}.${signature}`, 'TOKEN_INVALID');
});

test('algorithm confusion: HS256 keyed with a public key PEM, and RS256 / ES256 -> Token not found or invalid', async () => {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
  await assertBearerRefused(hs256(accessClaims(), pem), 'TOKEN_INVALID');
  await assertBearerRefused(hs256(accessClaims(), pem, { alg: 'HS256', typ: 'JWT', kid: 'tether' }), 'TOKEN_INVALID');
  const input = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(accessClaims())}`;
  const rs = `${input}.${createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url')}`;
  await assertBearerRefused(rs, 'TOKEN_INVALID');
  // The real key, but the header says another HMAC: not accepted either (only HS256 is).
  await assertBearerRefused(hs256(accessClaims(), t.services.keys.access, { alg: 'HS512', typ: 'JWT' }), 'TOKEN_INVALID');
});

test('wrong secret, the raw JWT_SECRET, the session-token key -> Token not found or invalid', async () => {
  await assertBearerRefused(hs256(accessClaims(), 'another-secret-0123456789-0123456789-0123'), 'TOKEN_INVALID');
  // Tokens are signed with keys derived from JWT_SECRET (HKDF), never with the secret itself.
  await assertBearerRefused(hs256(accessClaims(), await resolveSecret(t.config)), 'TOKEN_INVALID');
  await assertBearerRefused(hs256(accessClaims(), t.services.keys.session), 'TOKEN_INVALID');
});

test('tampered claims under the real signature -> Token not found or invalid', async () => {
  const [header, , signature] = session.token.split('.');
  for (const change of [{ scope: 'admin' }, { sub: 'cli_someone_else' }, { exp: now() + 10 * 365 * 86400 }, { jti: 'x' }]) {
    await assertBearerRefused(`${header}.${b64({ ...claims, ...change })}.${signature}`, 'TOKEN_INVALID');
  }
  // One flipped character in the signature.
  const flipped = signature.slice(0, -3) + (signature.at(-3) === 'A' ? 'B' : 'A') + signature.slice(-2);
  await assertBearerRefused(`${header}.${session.token.split('.')[1]}.${flipped}`, 'TOKEN_INVALID');
});

test('properly signed but expired -> Token has expired; not yet valid (nbf) -> Token not found or invalid', async () => {
  await assertBearerRefused(hs256(accessClaims({ iat: now() - 7200, exp: now() - 60 }), t.services.keys.access), 'TOKEN_EXPIRED');
  await assertBearerRefused(hs256(accessClaims({ nbf: now() + 3600 }), t.services.keys.access), 'TOKEN_INVALID');
  // Signed right, but for another audience or issuer, or without the claims a bearer must carry.
  await assertBearerRefused(hs256(accessClaims({ aud: 'tether:session' }), t.services.keys.access), 'TOKEN_INVALID');
  await assertBearerRefused(hs256(accessClaims({ iss: 'someone' }), t.services.keys.access), 'TOKEN_INVALID');
  const { jti: _j, ...noJti } = accessClaims();
  await assertBearerRefused(hs256(noJti, t.services.keys.access), 'TOKEN_INVALID');
  const { sub: _s, ...noSub } = accessClaims();
  await assertBearerRefused(hs256(noSub, t.services.keys.access), 'TOKEN_INVALID');
});

test('malformed Authorization headers -> Token not found or invalid; none -> Authorization header is required', async () => {
  for (const value of ['Bearer', 'Bearer ', `Token ${session.token}`, `Basic ${Buffer.from('a:b').toString('base64')}`, `Bearer ${session.token}x.y`, `Bearer ${session.token} ${session.token}`, 'Bearer a.b', `Bearer ${'A'.repeat(6000)}.B.C`]) {
    const res = await t.rpc('me', { session_id: session.sessionId }, { ...session.headers, authorization: value });
    assertError(res, 'TOKEN_INVALID', 200);
  }
  const { authorization: _a, ...noAuth } = session.headers;
  assertError(await t.odoo('me', { session_id: session.sessionId }, noAuth), 'AUTH_HEADER_REQUIRED', 401);
});

test("a session's security JWT used as the bearer -> Token not found or invalid", async () => {
  const [row] = await t.services.db.sql<{ security_token: string }[]>`select security_token from api_sessions where session_hash = ${hashOf(session.sessionId)}`;
  assert.ok(row.security_token.split('.').length === 3);
  await assertBearerRefused(row.security_token, 'TOKEN_INVALID');
});

test('the access token as session_id (params, X-Openerp-Session-Id, cookie) -> Invalid session_id format', async () => {
  const bad = (res: { status: number; body: any }, http: number) => assertError(res, 'SESSION_ID_FORMAT', http);
  bad(await t.rpc('me', { session_id: session.token }, session.headers), 200);
  bad(await t.odoo('me', { session_id: session.token }, session.headers), 401);
  bad(await t.odoo('me', {}, { ...session.headers, 'x-openerp-session-id': session.token }), 401);
  bad(await t.odoo('me', {}, { ...session.headers, cookie: `session_id=${session.token}` }), 401);
});

/** Replaces the session record's security token in PostgreSQL and drops the cache entry, so the next call restores it. */
async function withStoredToken(sessionId: string, token: string) {
  const hash = hashOf(sessionId);
  await t.services.db.sql`update api_sessions set security_token = ${token} where session_hash = ${hash}`;
  await t.services.cache.del(cacheKeyOf(hash));
}

test("the access token as the session record's token -> Invalid session token", async () => {
  const victim = await loggedIn(t);
  await withStoredToken(victim.sessionId, victim.token);
  assertError(await victim.call('me'), 'SESSION_TOKEN_INVALID', 200);
  assertError(await t.odoo('me', { session_id: victim.sessionId }, victim.headers), 'SESSION_TOKEN_INVALID', 401);
});

test("another session's security token, or one forged with the access key, in the record -> Invalid session token", async () => {
  const a = await loggedIn(t);
  const b = await loggedIn(t, { client: a.client });
  const [rowB] = await t.services.db.sql<{ security_token: string }[]>`select security_token from api_sessions where session_hash = ${hashOf(b.sessionId)}`;
  await withStoredToken(a.sessionId, rowB.security_token);
  assertError(await a.call('me'), 'SESSION_TOKEN_INVALID', 200);

  const c = await loggedIn(t);
  const [rowC] = await t.services.db.sql<{ security_token: string }[]>`select security_token from api_sessions where session_hash = ${hashOf(c.sessionId)}`;
  const payload = JSON.parse(Buffer.from(rowC.security_token.split('.')[1], 'base64url').toString());
  await withStoredToken(c.sessionId, hs256(payload, t.services.keys.access));
  assertError(await c.call('me'), 'SESSION_TOKEN_INVALID', 200);
  await withStoredToken(c.sessionId, `${b64({ alg: 'none', typ: 'JWT' })}.${b64(payload)}.`);
  assertError(await c.call('me'), 'SESSION_TOKEN_INVALID', 200);
  await withStoredToken(c.sessionId, '');
  assertError(await c.call('me'), 'SESSION_TOKEN_REQUIRED', 200);
});

test("another client's valid bearer with this session -> Session validation failed", async () => {
  const other = await tokenFor(t, await newClient(t));
  assertError(await t.odoo('me', { session_id: session.sessionId }, { ...session.headers, authorization: `Bearer ${other}` }), 'SESSION_INVALID', 401);
  // The owner's next call still works: a refusal ends nothing.
  assert.ok((await session.call('me')).body.result);
});

test.run();
