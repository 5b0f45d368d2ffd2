// Audit rows wait in the queue as lines of COPY text (auditLog.ts). The embedded database and the spool
// read them back as rows: every value must come back exactly, whatever characters it holds.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lineOf, rowOf, type Row } from '../../server/audit/auditLog.ts';

const row = (over: Partial<Row>): Row => ({
  event_id: '0190a5b2-0000-7000-8000-000000000001',
  at: '2026-12-07T01:02:03.004Z',
  request_id: 'req_x1',
  method: 'agents.list',
  status: 200,
  error_code: null,
  duration_ms: 1.25,
  user_id: 42,
  client_id: 'c1',
  session_hash_prefix: 'abcdef0123456789',
  ip: '127.0.0.1',
  user_agent: 'UA/1.0',
  reason: null,
  target_id: null,
  client_request_id: null,
  actor: 'cli:root',
  ...over,
});

test('a row survives its COPY line: tabs, newlines, carriage returns, backslashes, a literal \\N, empty text, nulls, numbers', () => {
  for (const ua of ['tab\there', 'line\nbreak', 'cr\rhere', 'back\\slash', '\\N', '\\', '\\\\t', '', 'é ✓ \u{1F600}']) {
    const r = row({ user_agent: ua, target_id: ua === '' ? null : ua, status: 401, error_code: 'SESSION_INVALID', user_id: null, duration_ms: 0.01 });
    const line = lineOf(r);
    assert.ok(line.endsWith('\n'));
    assert.is(line.split('\n').length, 2, `one line for ${JSON.stringify(ua)}`);
    assert.is(line.split('\t').length, 16, `16 fields for ${JSON.stringify(ua)}`);
    assert.equal(rowOf(line), r);
  }
});

test.run();
