// JWTs verified once (server/auth/verifiedTokens.ts): a remembered bearer or security token still
// expires at its exp, a tampered copy of a remembered token is refused, a token remembered under one
// key does not pass under another, and the map never holds more than its bound.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createHmac, randomBytes, type KeyObject } from 'node:crypto';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { loggedIn } from '../support/fixtures.ts';
import { deriveKeys } from '../../server/auth/keys.ts';
import { signAccessToken, verifiedAccessTokens, verifyAccessToken } from '../../server/auth/accessTokens.ts';
import { signSecurityToken, verifiedSecurityTokens, verifySecurityToken } from '../../server/sessions/securityToken.ts';
import { REMEMBERED_TOKENS_MAX, verifiedTokens } from '../../server/auth/verifiedTokens.ts';
import { ADMISSION_SAMPLE, ADMISSION_WINDOW } from '../../server/memoAdmission.ts';
import { ERROR_TABLE } from '../support/errorTable.ts';

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
const hs256 = (payload: Record<string, unknown>, key: KeyObject) => {
  const input = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(payload)}`;
  return `${input}.${createHmac('sha256', key).update(input).digest('base64url')}`;
};
const meWith = (token: string) => t.odoo('me', { session_id: session.sessionId }, { ...session.headers, authorization: `Bearer ${token}` });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a remembered bearer still expires at its exp, over HTTP', async () => {
  const exp = now() + 4;
  const token = hs256({ ...claims, jti: randomBytes(8).toString('base64url'), iat: now(), exp }, t.services.keys.access);
  const first = await meWith(token);
  assert.is(first.status, 200, JSON.stringify(first.body));
  assert.ok(first.body.result?.user);
  assert.ok(verifiedAccessTokens.recall(t.services.keys.access, token), 'the verified bearer is remembered');
  const second = await meWith(token);
  assert.is(second.status, 200, 'answered from the map while before exp');
  let res = second;
  for (let i = 0; i < 60 && res.status === 200; i++) {
    await sleep(250);
    res = await meWith(token);
  }
  assert.is(res.status, ERROR_TABLE.TOKEN_EXPIRED.status, JSON.stringify(res.body));
  assert.is(res.body.error.data.error_code, 'TOKEN_EXPIRED');
  assert.is(res.body.error.message, ERROR_TABLE.TOKEN_EXPIRED.message);
  assert.ok(now() >= exp, 'refused as expired only once its exp is reached');
});

test('a tampered copy of a remembered bearer is refused, over HTTP', async () => {
  assert.is((await meWith(session.token)).status, 200);
  assert.ok(verifiedAccessTokens.recall(t.services.keys.access, session.token));
  const [header, payload, signature] = session.token.split('.');
  const flipped = signature.slice(0, -3) + (signature.at(-3) === 'A' ? 'B' : 'A') + signature.slice(-2);
  for (const forged of [`${header}.${b64({ ...claims, scope: 'admin' })}.${signature}`, `${header}.${payload}.${flipped}`, `${session.token} `.trim() + 'x']) {
    const res = await meWith(forged);
    assert.is(res.status, ERROR_TABLE.TOKEN_INVALID.status, JSON.stringify(res.body));
    assert.is(res.body.error.data.error_code, 'TOKEN_INVALID');
  }
  // The genuine token still works after the forgeries: they were not remembered in its place.
  assert.is((await meWith(session.token)).status, 200);
});

test('a refused token is never remembered', () => {
  const key = t.services.keys.access;
  const forged = hs256({ ...claims, jti: 'forged' }, deriveKeys('another-secret-0123456789-0123456789').access);
  assert.equal(verifyAccessToken(key, forged), { ok: false, reason: 'invalid' });
  assert.is(verifiedAccessTokens.recall(key, forged), undefined);
  const expired = hs256({ ...claims, jti: 'old', iat: now() - 100, exp: now() - 10 }, key);
  assert.equal(verifyAccessToken(key, expired), { ok: false, reason: 'expired' });
  assert.is(verifiedAccessTokens.recall(key, expired), undefined);
});

test('a security token: remembered under its key only, tampered copies refused, expired at exp', async () => {
  const keys = deriveKeys('unit-secret-0123456789-0123456789-0123456789');
  const fingerprint = { ua: 'ua', ip: '127.0.0.1', lang: 'en' };
  const token = signSecurityToken(keys.session, { uid: 7, sid: 'a'.repeat(64), cid: 'cli_x', fingerprint } as never, 2);
  const verdict = verifySecurityToken(keys.session, token);
  assert.ok(verdict.ok);
  assert.is(verifySecurityToken(keys.session, token), verdict, 'the second verification is the remembered verdict');
  // The same text under another key (another process's secret, the access key) is verified in full and refused.
  assert.equal(verifySecurityToken(keys.access, token), { ok: false, reason: 'invalid' });
  assert.equal(verifySecurityToken(deriveKeys('other-secret-0123456789-0123456789-0123').session, token), { ok: false, reason: 'invalid' });
  const [header, payload, signature] = token.split('.');
  const body = JSON.parse(Buffer.from(payload, 'base64url').toString());
  assert.equal(verifySecurityToken(keys.session, `${header}.${b64({ ...body, uid: 8 })}.${signature}`), { ok: false, reason: 'invalid' });
  if (verdict.ok) {
    const exp = verdict.claims.exp;
    let answer = verifySecurityToken(keys.session, token);
    for (let i = 0; i < 60 && answer.ok; i++) {
      await sleep(100);
      answer = verifySecurityToken(keys.session, token);
    }
    assert.equal(answer, { ok: false, reason: 'expired' });
    assert.ok(now() >= exp, 'expired only once the clock reached exp');
    assert.is(verifiedSecurityTokens.recall(keys.session, token), undefined, 'forgotten once expired');
  }
});

test('the map stays bounded: the oldest entry goes first, and is verified in full again', () => {
  const keys = deriveKeys('bound-secret-0123456789-0123456789-0123456789');
  const tokens = Array.from({ length: REMEMBERED_TOKENS_MAX + 50 }, (_, i) => signAccessToken(keys.access, `cli_${i}`, [], 600).token);
  for (const token of tokens) assert.ok(verifyAccessToken(keys.access, token).ok);
  assert.is(verifiedAccessTokens.size(keys.access), REMEMBERED_TOKENS_MAX);
  assert.is(verifiedAccessTokens.recall(keys.access, tokens[0]), undefined, 'the oldest was dropped');
  const again = verifyAccessToken(keys.access, tokens[0]);
  assert.ok(again.ok && again.claims.clientId === 'cli_0');
  assert.is(verifiedAccessTokens.size(keys.access), REMEMBERED_TOKENS_MAX);
});

test('a full map that keeps missing keeps one new token in 16; a token used again and again still gets in', () => {
  const memo = verifiedTokens<string>(100);
  const key = deriveKeys('thrash-secret-0123456789-0123456789-0123456789').access;
  const later = now() + 60;
  // Full, then a window of lookups that all miss: every token seen once (a rotation larger than the map).
  for (let i = 0; i < 100; i++) memo.remember(key, `fill_${i}`, 'F', later);
  for (let i = 0; i < ADMISSION_WINDOW; i++) {
    assert.is(memo.recall(key, `once_${i}`), undefined);
    memo.remember(key, `once_${i}`, 'O', later);
  }
  // From here it is thrashing: of 320 more tokens seen once, 20 are kept.
  const kept = Array.from({ length: 20 * ADMISSION_SAMPLE }, (_, i) => {
    memo.remember(key, `late_${i}`, 'L', later);
    return memo.recall(key, `late_${i}`) === 'L';
  }).filter(Boolean).length;
  assert.is(kept, 20);
  assert.is(memo.size(key), 100, 'still bounded');
  // A hot token: missed, verified, offered again at each call: kept within ADMISSION_SAMPLE calls.
  let calls = 0;
  while (memo.recall(key, 'hot') === undefined && calls < ADMISSION_SAMPLE) {
    calls++;
    memo.remember(key, 'hot', 'H', later);
  }
  assert.is(memo.recall(key, 'hot'), 'H');
});

test('a small map: remembering the same token twice takes one place', () => {
  const memo = verifiedTokens<string>(2);
  const key = deriveKeys('memo-secret-0123456789-0123456789-0123456789').access;
  const later = now() + 60;
  memo.remember(key, 'a', 'A', later);
  memo.remember(key, 'a', 'A', later);
  memo.remember(key, 'b', 'B', later);
  assert.is(memo.size(key), 2);
  assert.is(memo.recall(key, 'a'), 'A');
  memo.remember(key, 'c', 'C', later);
  assert.is(memo.size(key), 2);
  assert.is(memo.recall(key, 'a'), undefined);
  memo.remember(key, 'old', 'O', now());
  assert.is(memo.recall(key, 'old'), 'expired');
});

test.run();
