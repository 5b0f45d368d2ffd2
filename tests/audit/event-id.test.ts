// Audit event ids are UUID version 7: valid UUIDs PostgreSQL accepts, unique, and in the order they were
// made (so new rows land at the right edge of the event_id index).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { eventId } from '../../server/audit/eventId.ts';

test('version 7, variant 10, the time in front, unique and ascending', () => {
  const before = Date.now();
  const ids = Array.from({ length: 20_000 }, () => eventId());
  const after = Date.now();
  assert.is(new Set(ids).size, ids.length, 'unique');
  for (const id of ids) assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  const ms = (id: string) => parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
  assert.ok(ms(ids[0]) >= before && ms(ids[ids.length - 1]) <= after, 'the millisecond it was made');
  assert.ok(ids.every((id, i) => i === 0 || id > ids[i - 1]), 'each id sorts after the one before');
});

test.run();
