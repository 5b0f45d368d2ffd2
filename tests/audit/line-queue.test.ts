// The audit queue keeps lines as bytes in reused chunks (server/audit/lineQueue.ts): every line comes
// back exactly and in order, across chunk boundaries and multi-byte characters, and a written batch's
// chunks are reused instead of allocated again.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { lineQueue } from '../../server/audit/lineQueue.ts';

const lineNo = (i: number) => `${i}\tmethod.${i}\té ✓ \u{1F600} ${'x'.repeat(i % 300)}\n`;

test('lines come back exactly and in order, across chunks, as bytes and as strings', () => {
  const queue = lineQueue();
  const sent = Array.from({ length: 2000 }, (_, i) => lineNo(i));
  for (const line of sent) queue.push(line);
  assert.is(queue.length, 2000);
  const batch = queue.take();
  assert.is(queue.length, 0);
  assert.is(batch.count, 2000);
  assert.ok(batch.bytes.length > 1, 'more than one chunk');
  assert.is(Buffer.concat(batch.bytes).toString('utf8'), sent.join(''));
  assert.equal(batch.lines(), sent);
  // No line is split between two chunks: each chunk is whole lines (COPY receives them chunk by chunk).
  for (const chunk of batch.bytes) assert.is(chunk.at(-1), 0x0a);
});

test('a line longer than a chunk; an empty queue takes an empty batch', () => {
  const queue = lineQueue();
  assert.equal(queue.take().lines(), []);
  const long = `${'y'.repeat(100_000)}\n`;
  queue.push('a\n');
  queue.push(long);
  queue.push('b\n');
  assert.equal(queue.take().lines(), ['a\n', long, 'b\n']);
});

test('released batches give their chunks back: flush after flush, the queue cycles through the same two chunks', () => {
  const queue = lineQueue();
  const memory = new Set<ArrayBufferLike>();
  for (let flush = 0; flush < 50; flush++) {
    for (let i = 0; i < 10; i++) queue.push(lineNo(flush + i));
    const batch = queue.take();
    assert.equal(batch.lines(), Array.from({ length: 10 }, (_, i) => lineNo(flush + i)));
    for (const b of batch.bytes) memory.add(b.buffer);
    batch.release();
  }
  assert.is(memory.size, 2);
});

test.run();
