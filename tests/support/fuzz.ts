// Seeded fuzzing of a running Tether over real HTTP: JSON-RPC bodies (garbage, truncated, deep, huge,
// duplicate keys, invalid UTF-8, batches), params (every registered method, hostile strings and
// numbers), headers (Authorization, session id header, cookies, User-Agent, Accept-Language,
// Content-Type, X-Request-Id, X-Forwarded-For), session ids and paths; plus a few raw-socket
// requests that are not valid HTTP. Case N of seed S is generated from caseSeed(S, N) alone, so it
// is replayed without the others (`FUZZ_SEED=S FUZZ_ONLY=N make fuzz`).
//
// The oracle: no 5xx except 503 STORAGE_UNAVAILABLE, never INTERNAL_ERROR (-32603), every answer a
// catalogue error (message, code and status exactly the catalogue's) or a JSON-RPC result, the HTTP
// status the transport rules give, the OAuth shape on /api/v1/auth/*, and no error-level log line.
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { ERROR_TABLE as CATALOGUE, type DocumentedCode as ErrorCode } from './errorTable.ts';
import { caseSeed, prng, type Prng } from './prng.ts';
import type { TestTether } from './tether.ts';

export interface FuzzWorld {
  /** A valid bearer of a plain client, and one of another client. */
  token: string;
  otherToken: string;
  /**
   * A token of the world's client that the token-endpoint cases may revoke: a bearer revokes itself at
   * /api/v1/auth/revoke (RFC 7009), so those cases present this one instead of token or otherToken.
   */
  revocableToken: string;
  /** Live session ids (opened with `headers` below); index chosen by the generator. */
  sessionIds: string[];
  /** A session's security JWT (the stored token, not a session id). */
  securityToken: string;
  /** The headers the sessions were opened with (fingerprint), minus Authorization. */
  headers: Record<string, string>;
  /** A user the fuzz may log in as (right and wrong passwords). */
  victim: { login: string; password: string };
  /** Registered methods and the names of their params, from rpc.discover. */
  methods: { name: string; params: string[] }[];
  /** Opens fresh sessions in place of sessionIds (fuzzed logouts and revokes end them). */
  renew(): Promise<void>;
}

export interface FuzzCase {
  index: number;
  kind: string;
  path: string;
  httpMethod: string;
  headers: Record<string, string>;
  body?: Buffer;
  /** Raw bytes for a request that is not valid HTTP (sent on its own socket). */
  raw?: Buffer;
}

export interface FuzzOutcome {
  status: number;
  /** error_code, 'result', 'notification', 'oauth:<error>', 'http:<status>' */
  labels: string[];
}

// ---------------------------------------------------------------- values

const HOSTILE_STRINGS = [
  "' OR '1'='1",
  "'; DROP TABLE api_sessions; --",
  '" OR ""="',
  "admin'--",
  "1; SELECT pg_sleep(10)",
  "\\'; \\\\ %_ $1 $$ E'\\x00'",
  "') UNION SELECT password_hash FROM users --",
  '%',
  '_',
  '\\',
  '$$',
  '{"$gt": ""}',
  '<script>alert(1)</script>',
  '../../etc/passwd',
  '${jndi:ldap://x}',
  '{{7*7}}',
  '\u202e\u0301\ufeff',
  '\ud83d\ude00',
  '\ud800',
  '\udfff',
  'A'.repeat(255),
  '',
  ' ',
  '\t\r\n',
  'null',
  'undefined',
  '__proto__',
  'constructor',
  'toString',
  'NaN',
  '-0',
  '1e309',
];

const NUMBERS = [0, -1, 1, 2 ** 31, -(2 ** 31), 2 ** 53, 2 ** 53 + 2, -(2 ** 63), 1e308, 1.5, -0.0, 5e-324, 100, 101, 1_000_000_001];

function randomString(r: Prng, max = 40): string {
  const mode = r.int(0, 4);
  const n = r.int(0, max);
  let s = '';
  for (let i = 0; i < n; i++) {
    s +=
      mode === 0 ? String.fromCharCode(r.int(0x20, 0x7e))
      : mode === 1 ? String.fromCharCode(r.int(0, 0xffff))
      : mode === 2 ? r.pick(['a', 'Z', '0', '-', '_', '.', "'", '"', '\\', ';', '%'])
      : mode === 3 ? String.fromCodePoint(r.int(0, 0x10ffff))
      : String.fromCharCode(r.int(0, 0x1f));
  }
  return s;
}

function randomValue(r: Prng, depth = 0): unknown {
  const kind = r.int(0, depth > 3 ? 5 : 8);
  switch (kind) {
    case 0: return null;
    case 1: return r.chance(0.5);
    case 2: return r.pick(NUMBERS);
    case 3: return r.int(-1000, 1000);
    case 4: return r.pick(HOSTILE_STRINGS);
    case 5: return randomString(r);
    case 6: return Array.from({ length: r.int(0, 4) }, () => randomValue(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      for (let i = r.int(0, 4); i > 0; i--) o[r.chance(0.7) ? r.pick(['id', 'name', 'login', 'session_id', 'limit', 'x']) : randomString(r, 8)] = randomValue(r, depth + 1);
      return o;
    }
  }
}

/** A session id: a live one, one altered, random well-formed, wrong length, wrong alphabet, not a string. */
function sessionIdValue(r: Prng, w: FuzzWorld): unknown {
  const live = r.pick(w.sessionIds);
  return r.weighted<() => unknown>([
    [6, () => live],
    [2, () => live.slice(0, -1) + (live.endsWith('A') ? 'B' : 'A')],
    [1, () => live.slice(0, r.int(0, 79))],
    [1, () => live + randomString(r, 30)],
    [1, () => Buffer.from(r.bytes(60)).toString('base64url')],
    [1, () => 'A'.repeat(r.pick([59, 60, 100, 101, 5000]))],
    [1, () => w.token],
    [1, () => w.securityToken],
    [1, () => ` ${live}`],
    [1, () => randomString(r, 120)],
    [1, () => r.pick(HOSTILE_STRINGS)],
    [1, () => randomValue(r)],
  ])();
}

// ---------------------------------------------------------------- headers

/** A header value undici will send: bytes 0x20-0x7E and 0x80-0xFF (as latin1), no edge whitespace. */
function headerText(r: Prng, max = 60): string {
  let s = '';
  const n = r.int(1, max);
  for (let i = 0; i < n; i++) s += String.fromCharCode(r.chance(0.85) ? r.int(0x21, 0x7e) : r.int(0x80, 0xff));
  return s;
}

/** encodeURIComponent that takes lone surrogates (as U+FFFD). */
const enc = (s: string) => encodeURIComponent(Buffer.from(s, 'utf8').toString('utf8'));
const b64url = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function bearer(r: Prng, w: FuzzWorld): string | undefined {
  const [h, p, s] = w.token.split('.');
  return r.weighted<() => string | undefined>([
    [24, () => `Bearer ${w.token}`],
    [1, () => undefined],
    [1, () => `Bearer ${w.otherToken}`],
    [1, () => `bearer ${w.token}`],
    [1, () => `Bearer ${h}.${p}.${s.slice(0, -2)}${s.endsWith('AA') ? 'BB' : 'AA'}`],
    [1, () => `Bearer ${b64url({ alg: 'none', typ: 'JWT' })}.${p}.`],
    [1, () => `Bearer ${h}.${b64url({ sub: 'cli_x', scope: 'admin', jti: 'x', exp: 9999999999, aud: 'tether:access', iss: 'tether' })}.${s}`],
    [1, () => `Bearer ${w.securityToken}`],
    [1, () => `Bearer ${r.pick(w.sessionIds)}`],
    [1, () => `Basic ${Buffer.from('a:b').toString('base64')}`],
    [1, () => `Bearer ${headerText(r, 300)}`],
    [1, () => headerText(r)],
    [1, () => `Bearer ${w.token} ${w.token}`],
    [1, () => `Bearer ${'a'.repeat(r.int(1, 4000))}.${'b'.repeat(10)}.c`],
  ])();
}

function headersFor(r: Prng, w: FuzzWorld, fuzzIp: string): Record<string, string> {
  const h: Record<string, string> = {};
  const consistent = r.chance(0.7);
  if (consistent) Object.assign(h, w.headers);
  else {
    if (r.chance(0.7)) h['user-agent'] = r.chance(0.5) ? headerText(r, 200) : w.headers['user-agent'] + '.1';
    if (r.chance(0.7)) h['accept-language'] = r.chance(0.5) ? headerText(r, 40) : 'fr-FR';
  }
  const auth = bearer(r, w);
  if (auth !== undefined) h.authorization = auth;
  h['content-type'] = r.weighted([
    [50, 'application/json'],
    [1, 'application/json-rpc'],
    [1, 'application/json; charset=utf-8'],
    [1, 'application/json; charset=latin1'],
    [1, 'application/json; charset=x-unknown'],
    [1, 'text/plain'],
    [1, 'application/x-www-form-urlencoded'],
    [1, 'multipart/form-data; boundary=x'],
    [1, headerText(r, 30)],
  ]);
  if (r.chance(0.15)) h['x-openerp-session-id'] = r.chance(0.8) ? String(sessionIdValue(r, w)).replace(/[^\x21-\x7e]/g, 'x') || 'x' : headerText(r, 120);
  if (r.chance(0.15)) {
    const sid = r.chance(0.7) ? r.pick(w.sessionIds) : headerText(r, 100).replace(/[;,]/g, '');
    h.cookie = r.weighted([
      [3, `session_id=${sid}`],
      [1, `session_id=${sid}; session_id=${headerText(r, 20).replace(/[;,]/g, '')}`],
      [1, `a=b; session_id="${sid}"`],
      [1, `session_id=${enc(sid)}%zz`],
      [1, headerText(r, 200)],
      [1, `session_id=; =; ;;; ${'x=y; '.repeat(r.int(1, 200))}`],
    ]);
  }
  if (r.chance(0.1)) h['x-client-fingerprint'] = headerText(r, 100);
  if (r.chance(0.1)) h['x-request-id'] = r.chance(0.5) ? headerText(r, 100) : 'req-' + r.int(0, 1e6);
  if (r.chance(0.05)) h['x-forwarded-user-agent'] = headerText(r, 60);
  // The client address is always the fuzz's own (last hop of X-Forwarded-For, TRUSTED_PROXIES=127.0.0.1),
  // so no throttle counter of a real address moves; what comes before it is fuzzed.
  h['x-forwarded-for'] = r.chance(0.1) ? `${headerText(r, 60).replace(/,/g, ' ')}, ${fuzzIp}` : fuzzIp;
  if (r.chance(0.05)) for (let i = r.int(1, 300); i > 0; i--) h[`x-junk-${i}`] = headerText(r, 10);
  if (r.chance(0.03)) h.origin = r.pick(['https://evil.example', 'null', headerText(r, 30)]);
  return h;
}

// ---------------------------------------------------------------- bodies

function paramsFor(r: Prng, w: FuzzWorld, method: { name: string; params: string[] }): unknown {
  if (r.chance(0.05)) return randomValue(r);
  const p: Record<string, unknown> = {};
  for (const name of method.params) {
    if (name === 'session_id') continue;
    if (r.chance(0.25)) continue;
    p[name] =
      name === 'login' || name === 'email' ? r.weighted<() => unknown>([[3, () => w.victim.login], [1, () => w.victim.login.toUpperCase()], [3, () => r.pick(HOSTILE_STRINGS)], [2, () => randomString(r, 300)], [1, () => randomValue(r)]])()
      : name === 'password' ? r.weighted<() => unknown>([[2, () => w.victim.password], [4, () => randomString(r, 1100)], [1, () => randomValue(r)]])()
      : r.weighted<() => unknown>([[3, () => r.pick(HOSTILE_STRINGS)], [3, () => r.pick(NUMBERS)], [2, () => randomString(r, 2100)], [1, () => r.int(1, 50)], [2, () => randomValue(r)]])();
  }
  if (r.chance(0.8)) p.session_id = sessionIdValue(r, w);
  if (r.chance(0.1)) p[r.pick(['extra', '__proto__', 'constructor', randomString(r, 10)])] = randomValue(r);
  return p;
}

function envelope(r: Prng, w: FuzzWorld, odoo: { method: { name: string; params: string[] } } | undefined): Record<string, unknown> {
  const method = odoo?.method ?? r.pick(w.methods);
  const e: Record<string, unknown> = {};
  e.jsonrpc = r.chance(0.95) ? '2.0' : r.pick(['1.0', 2, null, '2.0 ', undefined]);
  const name = odoo ? (r.chance(0.95) ? 'call' : r.pick([method.name, '', 'Call'])) : r.chance(0.9) ? method.name : r.pick(['rpc.x', 'nope', '', 'users.login ', '__proto__', 'constructor', randomString(r, 50)]);
  e.method = r.chance(0.97) ? name : randomValue(r);
  if (r.chance(0.9)) e.id = r.weighted<() => unknown>([[6, () => r.int(1, 1e6)], [2, () => randomString(r, 20)], [1, () => null], [1, () => randomValue(r)], [1, () => r.pick(NUMBERS)]])();
  if (r.chance(0.92)) e.params = paramsFor(r, w, method);
  return e;
}

function nest(depth: number, open: string, close: string, inner: string): string {
  return open.repeat(depth) + inner + close.repeat(depth);
}

const SPLICE = '"__SPLICE__"';

function bodyFor(r: Prng, w: FuzzWorld, odoo: { method: { name: string; params: string[] } } | undefined): { kind: string; body: Buffer } {
  const kind = r.weighted([
    [40, 'envelope'],
    [6, 'batch'],
    [5, 'garbage'],
    [5, 'truncated'],
    [4, 'json-value'],
    [4, 'deep'],
    [3, 'dupkeys'],
    [4, 'badutf8'],
    [2, 'big'],
    [2, 'proto'],
    [2, 'empty'],
  ]);
  const one = () => JSON.stringify(envelope(r, w, odoo));
  switch (kind) {
    case 'envelope':
      return { kind, body: Buffer.from(one()) };
    case 'batch': {
      const n = r.weighted([[8, r.int(1, 10)], [1, r.int(49, 52)], [1, 0]]);
      const items = Array.from({ length: n }, () => (r.chance(0.85) ? one() : JSON.stringify(randomValue(r)) ?? 'null'));
      return { kind, body: Buffer.from(`[${items.join(',')}]`) };
    }
    case 'garbage':
      return { kind, body: r.chance(0.5) ? r.bytes(r.int(1, 3000)) : Buffer.from(randomString(r, 500)) };
    case 'truncated': {
      const text = one();
      return { kind, body: Buffer.from(text.slice(0, r.int(0, text.length - 1))) };
    }
    case 'json-value':
      return { kind, body: Buffer.from(JSON.stringify(randomValue(r)) ?? 'null') };
    case 'deep': {
      const depth = r.pick([100, 1000, 10_000, 100_000, 300_000]);
      const [open, close, inner] = r.chance(0.5) ? ['[', ']', ''] : ['{"a":', '}', '1'];
      const deep = nest(depth, open, close, inner);
      const where = r.int(0, 4);
      if (where === 0) return { kind, body: Buffer.from(deep) };
      const e = envelope(r, w, odoo);
      const target = where === 1 ? 'id' : where === 2 ? 'params' : where === 3 ? 'method' : 'session_id';
      if (target === 'session_id') e.params = { ...(typeof e.params === 'object' && e.params && !Array.isArray(e.params) ? e.params : {}), session_id: '__SPLICE__' };
      else e[target] = '__SPLICE__';
      return { kind, body: Buffer.from(JSON.stringify(e).replace(SPLICE, deep)) };
    }
    case 'dupkeys': {
      const e = envelope(r, w, odoo);
      const text = JSON.stringify(e);
      const dup = r.pick(['"id":7', '"method":"system.ping"', '"jsonrpc":"1.0"', `"params":{"session_id":${JSON.stringify(r.pick(w.sessionIds))}}`, '"method":"users.logout"']);
      return { kind, body: Buffer.from(r.chance(0.5) ? text.replace(/^\{/, `{${dup},`) : text.replace(/\}$/, `,${dup}}`)) };
    }
    case 'badutf8': {
      const text = one();
      const at = text.indexOf('"', r.int(0, text.length - 1));
      const bad = Buffer.from(r.pick([[0xff], [0xfe, 0xff], [0xc3, 0x28], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xc0, 0xaf], [0xe2, 0x82], [0x80]]));
      if (at < 0) return { kind, body: Buffer.concat([Buffer.from(text), bad]) };
      return { kind, body: Buffer.concat([Buffer.from(text.slice(0, at + 1)), bad, Buffer.from(text.slice(at + 1))]) };
    }
    case 'big': {
      const size = r.weighted([[4, r.int(10_000, 300_000)], [1, r.int(1_048_000, 1_100_000)]]);
      const e = envelope(r, w, odoo);
      const params = typeof e.params === 'object' && e.params && !Array.isArray(e.params) ? e.params : {};
      e.params = { ...params, [r.pick(['name', 'description', 'login', 'password', 'session_id'])]: 'x'.repeat(size) };
      return { kind, body: Buffer.from(JSON.stringify(e)) };
    }
    case 'proto': {
      const e = envelope(r, w, odoo);
      const text = JSON.stringify(e);
      const inject = r.pick(['"__proto__":{"admin":true}', '"constructor":{"prototype":{"admin":true}}', '"__proto__":null']);
      const params = text.indexOf('"params":{');
      return { kind, body: Buffer.from(params >= 0 ? text.replace('"params":{', `"params":{${inject},`) : text.replace(/^\{/, `{${inject},`)) };
    }
    default:
      return { kind, body: Buffer.from(r.pick(['', ' ', '\n', 'null', '{}', '[]', '[[]]', '[1]', '""'])) };
  }
}

// ---------------------------------------------------------------- cases

function rawCase(r: Prng, host: string): Buffer {
  const body = '{"jsonrpc":"2.0","id":1,"method":"system.ping"}';
  const variants = [
    `POST /jsonrpc HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nX-Bad: a\x00b\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    `POST /jsonrpc HTTP/1.1\r\nHost: ${host}\r\nBad Header Name: x\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
    `POST /jsonrpc HTTP/1.1\r\nHost: ${host}\r\nContent-Length: 5\r\nContent-Length: 7\r\n\r\n${body}`,
    `POST /jsonrpc HTTP/1.1\r\nHost: ${host}\r\nContent-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
    `POST /jsonrpc HTTP/9.9\r\nHost: ${host}\r\n\r\n`,
    `GARBAGE\r\n\r\n`,
    `POST /jsonrpc HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n`,
    `POST /jsonrpc HTTP/1.1\r\nHost: ${host}\r\nX-Long: ${'a'.repeat(20_000)}\r\n\r\n`,
    `POST /jsonrpc HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`,
  ];
  return Buffer.concat([Buffer.from(r.pick(variants), 'latin1'), r.chance(0.3) ? r.bytes(r.int(1, 200)) : Buffer.alloc(0)]);
}

export function generateCase(seed: number, index: number, w: FuzzWorld, fuzzIp: string, host: string): FuzzCase {
  const r = prng(caseSeed(seed, index));
  if (r.chance(0.015)) return { index, kind: 'raw-http', path: '', httpMethod: '', headers: {}, raw: rawCase(r, host) };
  const target = r.weighted<'jsonrpc' | 'odoo' | 'odoo-unknown' | 'token' | 'other'>([[60, 'jsonrpc'], [28, 'odoo'], [4, 'odoo-unknown'], [4, 'token'], [2, 'other']]);
  const headers = headersFor(r, w, fuzzIp);
  const httpMethod = r.weighted([[95, 'POST'], [1, 'GET'], [1, 'PUT'], [1, 'DELETE'], [1, 'OPTIONS'], [1, 'PATCH']]);
  if (target === 'token') {
    const form = r.chance(0.5);
    const fields: Record<string, unknown> = {};
    if (r.chance(0.8)) fields.grant_type = r.chance(0.7) ? 'client_credentials' : randomValue(r);
    if (r.chance(0.8)) fields.client_id = r.chance(0.3) ? 'cli_' + randomString(r, 10) : randomValue(r);
    if (r.chance(0.8)) fields.client_secret = randomValue(r);
    if (r.chance(0.3)) fields.scope = r.pick(['admin', '', 'a b c', randomString(r, 30)]);
    if (r.chance(0.2)) fields.token = r.pick([w.token, w.securityToken, randomString(r, 50)]);
    headers['content-type'] = form ? 'application/x-www-form-urlencoded' : headers['content-type'];
    const body = form ? new URLSearchParams(Object.entries(fields).map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v) ?? ''])).toString() : JSON.stringify(fields);
    // A bearer presented to /api/v1/auth/revoke revokes itself: never the tokens the other cases need.
    if (headers.authorization !== undefined) headers.authorization = headers.authorization.replaceAll(w.token, w.revocableToken).replaceAll(w.otherToken, w.revocableToken);
    return { index, kind: 'token', path: r.chance(0.8) ? '/api/v1/auth/token' : '/api/v1/auth/revoke', httpMethod, headers, body: Buffer.from(r.chance(0.1) ? body.slice(0, r.int(0, body.length)) : body) };
  }
  if (target === 'other') {
    return { index, kind: 'path', path: r.pick(['/', '/jsonrpc/', '/JSONRPC', '/api/v1', '/api/v1/', '/api/v1/..%2f..%2fetc', '/healthz', '/readyz', '/metrics', '/jsonrpc?session_id=' + r.pick(w.sessionIds), '/%00', '/' + enc(randomString(r, 30))]), httpMethod, headers, body: Buffer.from('{"jsonrpc":"2.0","id":1,"method":"system.ping"}') };
  }
  if (target === 'odoo-unknown') {
    const path = '/api/v1/' + r.pick(['users', 'users/login/x', 'rpc/discover/', 'agents/', 'x', enc(randomString(r, 20)), 'users//login', 'USERS/LOGIN', 'users.login']);
    const { kind, body } = bodyFor(r, w, { method: r.pick(w.methods) });
    return { index, kind: `odoo-path/${kind}`, path, httpMethod, headers, body };
  }
  const method = r.pick(w.methods);
  const odoo = target === 'odoo' ? { method } : undefined;
  const { kind, body } = bodyFor(r, w, odoo);
  return { index, kind: `${target}/${kind}`, path: odoo ? '/api/v1/' + method.name.replace(/\./g, '/') : '/jsonrpc', httpMethod, headers, body };
}

// ---------------------------------------------------------------- oracle

const OAUTH_ERRORS = new Set(['invalid_request', 'invalid_client', 'unsupported_grant_type', 'invalid_scope', 'temporarily_unavailable']);
const TRANSPORT_STATUSES = new Set([404, 405, 413, 415]);

function checkError(error: any, where: string): string {
  if (!error || typeof error !== 'object') throw new Error(`${where}: error is not an object`);
  const code = error.data?.error_code as ErrorCode;
  const spec = CATALOGUE[code];
  if (!spec) throw new Error(`${where}: unknown error_code ${JSON.stringify(code)}`);
  if (error.message !== spec.message) throw new Error(`${where}: message ${JSON.stringify(error.message)} is not the catalogue's ${JSON.stringify(spec.message)}`);
  if (error.code !== spec.code) throw new Error(`${where}: code ${error.code} for ${code}, catalogue says ${spec.code}`);
  if (error.status !== spec.status || error.data.status !== spec.status) throw new Error(`${where}: status ${error.status} for ${code}`);
  if (code === 'INTERNAL_ERROR') throw new Error(`${where}: INTERNAL_ERROR (${error.data.request_id})`);
  if (typeof error.data.request_id !== 'string' || typeof error.data.detail !== 'string') throw new Error(`${where}: problem object incomplete`);
  return code;
}

function checkResponse(item: any, where: string): string {
  if (!item || typeof item !== 'object' || Array.isArray(item)) throw new Error(`${where}: not a response object`);
  if (item.jsonrpc !== '2.0') throw new Error(`${where}: jsonrpc is ${JSON.stringify(item.jsonrpc)}`);
  if (!('id' in item)) throw new Error(`${where}: no id`);
  if ('result' in item === 'error' in item) throw new Error(`${where}: needs exactly one of result and error`);
  return 'result' in item ? 'result' : checkError(item.error, where);
}

/** Throws with a reason when the answer breaks a rule; answers the labels to count. */
/** Whether the body was a JSON array (a batch, even an empty or oversized one). */
function sentBatch(c: FuzzCase): boolean {
  try {
    return Array.isArray(JSON.parse(c.body?.toString('utf8') ?? ''));
  } catch {
    return false;
  }
}

export function judge(c: FuzzCase, status: number, text: string, headers: Headers | undefined): FuzzOutcome {
  const where = `case ${c.index} (${c.kind}) ${c.httpMethod} ${c.path} -> ${status}`;
  if (c.raw) {
    // Not valid HTTP: Node's parser answers (400/431/505) or the request is read as it can be.
    if (status >= 500 && status !== 505) throw new Error(`${where}: ${text.slice(0, 200)}`);
    return { status, labels: [`http:${status}`] };
  }
  if (status === 431) return { status, labels: ['http:431'] }; // headers over Node's 16 KiB: its own refusal
  if (status >= 500 && status !== 503) throw new Error(`${where}: 5xx ${text.slice(0, 300)}`);
  if (status === 204) {
    if (text !== '') throw new Error(`${where}: 204 with a body`);
    return { status, labels: ['no-content'] };
  }
  // The probes (GET only) answer plain text or their own JSON; a wrong method there is a plain 405.
  if (['/healthz', '/readyz', '/metrics'].includes(c.path) && status < 500 && !text.startsWith('{"jsonrpc"')) return { status, labels: [`probe:${status}`] };
  let body: any;
  try {
    body = JSON.parse(text);
  } catch {
    throw new Error(`${where}: not JSON: ${text.slice(0, 200)}`);
  }
  if (c.path.startsWith('/api/v1/auth/') && !(body && body.jsonrpc)) {
    if (body.access_token && status === 200) return { status, labels: ['oauth:token'] };
    if (body.revoked === true && status === 200) return { status, labels: ['oauth:revoked'] };
    if (!OAUTH_ERRORS.has(body.error) || typeof body.error_description !== 'string') throw new Error(`${where}: not an OAuth answer: ${text.slice(0, 200)}`);
    if (![400, 401, 405, 503].includes(status)) throw new Error(`${where}: OAuth error with status ${status}`);
    return { status, labels: [`oauth:${body.error}`] };
  }
  if (Array.isArray(body)) {
    if (status !== 200) throw new Error(`${where}: a batch answer with HTTP ${status}`);
    if (body.length === 0) throw new Error(`${where}: an empty batch answer (should be no content)`);
    return { status, labels: body.map((item, i) => checkResponse(item, `${where} [${i}]`)) };
  }
  const label = checkResponse(body, where);
  if (label === 'result') {
    if (status !== 200) throw new Error(`${where}: a result with HTTP ${status}`);
    return { status, labels: [label] };
  }
  const error = body.error;
  const transport = TRANSPORT_STATUSES.has(status) && ['PAYLOAD_TOO_LARGE', 'UNSUPPORTED_MEDIA_TYPE', 'METHOD_NOT_ALLOWED', 'PATH_NOT_FOUND'].includes(label);
  // On /api/v1 a single request answers error.status, protocol errors too; a batch (an empty or
  // oversized one answers a single error object) is 200, as is everything on /jsonrpc.
  const expected = transport ? error.status : c.path.startsWith('/api/v1/') && !sentBatch(c) ? error.status : 200;
  if (status !== expected) throw new Error(`${where}: HTTP ${status} for ${label}, expected ${expected}`);
  if (label === 'STORAGE_UNAVAILABLE' && c.path.startsWith('/api/v1/') && status !== 503) throw new Error(`${where}: 503 expected`);
  if (label === 'RATE_LIMITED' && c.path.startsWith('/api/v1/') && !headers?.get('retry-after')) throw new Error(`${where}: 429 without Retry-After`);
  if (label === 'RATE_LIMITED' && !(error.data.retry_after > 0)) throw new Error(`${where}: RATE_LIMITED without data.retry_after`);
  return { status, labels: [label] };
}

// ---------------------------------------------------------------- runner

function sendRaw(url: string, raw: Buffer): Promise<{ status: number; text: string }> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve) => {
    const socket = connect(Number(port), hostname);
    let data = '';
    const done = () => {
      socket.destroy();
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, text: data });
    };
    socket.setTimeout(5000, done);
    socket.on('data', (d) => {
      data += d.toString('latin1');
    });
    socket.on('error', done);
    socket.on('close', done);
    socket.on('connect', () => {
      socket.write(raw);
      // Half-close: whatever the server makes of it, it answers or closes.
      setTimeout(() => socket.end(), 50);
    });
  });
}

export async function send(t: TestTether, c: FuzzCase): Promise<{ status: number; text: string; headers?: Headers }> {
  if (c.raw) return sendRaw(t.url, c.raw);
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), 20_000);
  try {
    const res = await fetch(t.url + c.path, {
      method: c.httpMethod,
      headers: c.headers,
      body: c.httpMethod === 'GET' || c.httpMethod === 'HEAD' || !c.body ? undefined : new Uint8Array(c.body),
      signal: controller.signal,
    });
    return { status: res.status, text: await res.text(), headers: res.headers };
  } finally {
    clearTimeout(timer);
  }
}

export interface FuzzReport {
  seed: number;
  cases: number;
  ms: number;
  failures: string[];
  byLabel: Record<string, number>;
  byKind: Record<string, number>;
  rssBeforeMb: number;
  rssAfterMb: number;
  heapAfterWarmupMb: number;
  heapAfterMb: number;
  /** Heap after a full GC at each fifth of the run: flat, or a leak's slope. */
  heapSamplesMb: number[];
  errorLogLines: number;
}

export const FUZZ_IP = '198.18.7.7';

/** The world a fuzz run needs: two clients, a victim user, sessions, the method list. */
export async function buildWorld(t: TestTether, fixtures: typeof import('./fixtures.ts')): Promise<FuzzWorld> {
  const client = await fixtures.newClient(t);
  const token = await fixtures.tokenFor(t, client);
  const otherToken = await fixtures.tokenFor(t, await fixtures.newClient(t));
  const revocableToken = await fixtures.tokenFor(t, client);
  const headers = { 'user-agent': fixtures.UA, 'accept-language': fixtures.LANG, 'x-forwarded-for': FUZZ_IP };
  const victim = await fixtures.newUser(t);
  const sessionIds: string[] = [];
  const owners: { id: number }[] = [];
  // A fresh owner each time: users.change_password and sessions.reauthenticate with wrong passwords
  // count failed logins against the owner's login, which would throttle the renewal's own logins.
  const renew = async () => {
    const owner = await fixtures.newUser(t);
    owners.push(owner);
    const fresh: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await t.rpc('users.login', { login: owner.login, password: owner.password }, { ...headers, authorization: `Bearer ${token}` });
      if (!res.body?.result?.session_id) throw new Error(`fuzz world: login failed ${res.text}`);
      fresh.push(res.body.result.session_id);
    }
    sessionIds.splice(0, sessionIds.length, ...fresh);
  };
  await renew();
  const [row] = await t.services.db.sql<{ security_token: string }[]>`select security_token from api_sessions where user_id = ${owners[0].id} and is_active limit 1`;
  const discover = await t.rpc('rpc.discover', {});
  const methods = (discover.body.result.methods as { name: string; params: { name: string }[] }[]).map((m) => ({ name: m.name, params: m.params.map((p) => p.name) }));
  return { token, otherToken, revocableToken, sessionIds, securityToken: row.security_token, headers, victim: { login: victim.login, password: victim.password }, methods, renew };
}

let gc: (() => void) | undefined;
/** A full collection before each memory reading, so the figures compare live memory, not garbage. */
function forceGc(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}

/** Runs cases [0, cases) of `seed` with `concurrency` in flight; `only` replays one case. */
export async function runFuzz(t: TestTether, world: FuzzWorld, options: { seed: number; cases: number; concurrency?: number; only?: number; onProgress?: (done: number) => void }): Promise<FuzzReport> {
  const { seed, cases } = options;
  const concurrency = options.concurrency ?? 8;
  const host = new URL(t.url).host;
  const failures: string[] = [];
  const byLabel: Record<string, number> = {};
  const byKind: Record<string, number> = {};
  const errorLinesBefore = t.logs.filter((l) => Number(l.level) >= 50).length;
  forceGc();
  const rssBeforeMb = process.memoryUsage().rss / 1e6;
  let heapAfterWarmupMb = 0;
  const heapSamplesMb: number[] = [];
  const warmup = Math.min(500, Math.floor(cases / 5));
  const started = Date.now();
  const indexes = options.only !== undefined ? [options.only] : Array.from({ length: cases }, (_, i) => i);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < indexes.length) {
      const index = indexes[next++];
      const c = generateCase(seed, index, world, FUZZ_IP, host);
      byKind[c.kind.split('/').slice(-1)[0]] = (byKind[c.kind.split('/').slice(-1)[0]] ?? 0) + 1;
      try {
        const answer = await send(t, c);
        for (const label of judge(c, answer.status, answer.text, answer.headers).labels) byLabel[label] = (byLabel[label] ?? 0) + 1;
      } catch (err) {
        failures.push(`seed ${seed} ${(err as Error).message}`);
      }
      const n = ++done; // this case's rank: `done` moves on while this worker awaits below
      if (n === warmup) {
        forceGc();
        heapAfterWarmupMb = process.memoryUsage().heapUsed / 1e6;
      }
      if (n % Math.max(1, Math.floor(indexes.length / 5)) === 0) {
        forceGc();
        heapSamplesMb.push(Math.round(process.memoryUsage().heapUsed / 1e6));
      }
      if (n % 500 === 0) await world.renew().catch((err: Error) => failures.push(`renew: ${err.message}`));
      if (options.onProgress && n % 1000 === 0) options.onProgress(n);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  await t.services.audit.flush();
  forceGc();
  const errorLines = t.logs.filter((l) => Number(l.level) >= 50);
  for (const line of errorLines.slice(errorLinesBefore, errorLinesBefore + 5)) failures.push(`error log line: ${JSON.stringify(line).slice(0, 400)}`);
  return {
    seed,
    cases: indexes.length,
    ms: Date.now() - started,
    failures,
    byLabel,
    byKind,
    rssBeforeMb: Math.round(rssBeforeMb),
    rssAfterMb: Math.round(process.memoryUsage().rss / 1e6),
    heapAfterWarmupMb: Math.round(heapAfterWarmupMb),
    heapAfterMb: Math.round(process.memoryUsage().heapUsed / 1e6),
    heapSamplesMb,
    errorLogLines: errorLines.length - errorLinesBefore,
  };
}
