// The log's second line of defence: secrets under the redacted keys never reach a line, at the top
// level or one level down (`*.password`, `*.authorization`, `*.cookie`), the caller's objects stay
// as they were, an Error keeps its message and stack, and ordinary fields pass untouched.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { createLogger } from '../server/log.ts';

function capture() {
  const lines: Record<string, any>[] = [];
  const log = createLogger('info', { write: (line: string) => void lines.push(JSON.parse(line)) });
  return { log, lines };
}

test('top-level secrets are censored', () => {
  const { log, lines } = capture();
  log.info({ password: 'p4ss', client_secret: 'tsec_x', access_token: 'eyJ.a.b', session_id: 'sid', security_token: 'eyJ.c.d', login: 'alice' }, 'x');
  const [line] = lines;
  for (const key of ['password', 'client_secret', 'access_token', 'session_id', 'security_token']) assert.is(line[key], '[redacted]', key);
  assert.is(line.login, 'alice');
  assert.is(line.msg, 'x');
});

test('one level down: password, authorization and cookie censored in a copy; the caller keeps its object', () => {
  const { log, lines } = capture();
  const headers = { authorization: 'Bearer eyJ.secret.sig', cookie: 'session_id=abc', 'user-agent': 'ua' };
  const body = { login: 'bob', password: 'hunter2' };
  log.warn({ headers, body, count: 3 }, 'y');
  const [line] = lines;
  assert.equal(line.headers, { authorization: '[redacted]', cookie: '[redacted]', 'user-agent': 'ua' });
  assert.equal(line.body, { login: 'bob', password: '[redacted]' });
  assert.is(line.count, 3);
  assert.is(headers.authorization, 'Bearer eyJ.secret.sig', 'the caller object is unchanged');
  assert.is(body.password, 'hunter2');
  assert.not.ok(JSON.stringify(lines).includes('hunter2'));
  assert.not.ok(JSON.stringify(lines).includes('eyJ.secret.sig'));
});

test('an Error with a secret member keeps its message and stack', () => {
  const { log, lines } = capture();
  const err = Object.assign(new Error('boom'), { cookie: 'session_id=abc' });
  log.error({ err }, 'z');
  const [line] = lines;
  assert.is(line.err.message, 'boom');
  assert.ok(String(line.err.stack).includes('boom'));
  assert.is(line.err.cookie, '[redacted]');
  assert.is(err.cookie, 'session_id=abc');
});

test('a call line of primitives is logged as given', () => {
  const { log, lines } = capture();
  const call = { request_id: 'req_1', transport: 'odoo', method: 'me', status: 200, duration_ms: 1.25, client_id: 'cli_x', user_id: 7, session: 'abcd1234' };
  log.info(call, 'call');
  const { level: _l, time: _t, pid: _p, service, msg, ...rest } = lines[0];
  assert.is(service, 'tether');
  assert.is(msg, 'call');
  assert.equal(rest, call);
});

test.run();
