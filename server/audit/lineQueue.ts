// The audit queue: lines of COPY text kept as UTF-8 bytes in a few reused off-heap chunks, not as
// strings. A queued line waits for its flush (up to 200 ms or 500 rows) and so outlived the young
// collections: as a string it was promoted to the old generation on nearly every call, a third of all
// promoted bytes (V8's sampling heap profiler on a paced `me`), and the full collections that followed
// were most of the latency tail. Written into a chunk, the line's string dies young; the chunks are
// handed back after the batch is written, so they are allocated once, not per flush (a fresh Buffer a
// flush would leave its memory outside the heap until a full collection).

/** Bytes per chunk: a 500-row batch of ~250-byte lines fills two. */
const CHUNK_BYTES = 64 * 1024;
/** Chunks kept for reuse once their batch is written; more (a long outage's queue) are left to the GC. */
const SPARE_CHUNKS = 16;

/** A batch taken from the queue: its lines as bytes, until `release` gives the chunks back. */
export interface LineBatch {
  count: number;
  bytes: Buffer[];
  /** The lines as strings, each with its newline (the spool and the INSERT path parse rows from them). */
  lines(): string[];
  /** The chunks may be reused: nothing reads this batch's bytes after this. */
  release(): void;
}

export function lineQueue() {
  const spare: Buffer[] = [];
  const chunk = (bytes: number) => (bytes <= CHUNK_BYTES ? (spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES)) : Buffer.allocUnsafeSlow(bytes));
  let full: Buffer[] = [];
  let current = chunk(CHUNK_BYTES);
  let used = 0;
  let count = 0;

  return {
    get length(): number {
      return count;
    },

    /** Appends one line (its newline included). */
    push(line: string): void {
      const bytes = Buffer.byteLength(line);
      if (used + bytes > current.length) {
        if (used > 0) full.push(current.subarray(0, used));
        else if (current.length === CHUNK_BYTES) spare.push(current);
        current = chunk(bytes);
        used = 0;
      }
      used += current.write(line, used);
      count++;
    },

    /** Everything queued so far, as one batch; the queue starts again empty. */
    take(): LineBatch {
      const bytes = used > 0 ? [...full, current.subarray(0, used)] : full;
      const taken = count;
      full = [];
      if (used > 0) current = chunk(CHUNK_BYTES); // an empty current chunk stays
      used = 0;
      count = 0;
      let released = false;
      return {
        count: taken,
        bytes,
        lines: () => {
          const text = Buffer.concat(bytes).toString('utf8');
          return text === '' ? [] : text.slice(0, -1).split('\n').map((line) => line + '\n');
        },
        release() {
          if (released) return;
          released = true;
          for (const view of bytes) {
            // The view's chunk, whole again (allocUnsafeSlow: a memory of its own, from offset 0); a line
            // longer than a chunk had one of its own size, not reused.
            if (view.buffer.byteLength === CHUNK_BYTES && spare.length < SPARE_CHUNKS) spare.push(Buffer.from(view.buffer));
          }
        },
      };
    },
  };
}
