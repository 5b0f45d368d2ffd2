// The queue in front of the one PGlite backend when several connections share it (the server's own
// pool and `npx tether` commands run beside it).
//
// pglite-socket 0.2.17 queues per protocol *message*, and only keeps a connection's turn inside an
// explicit BEGIN block. An extended-protocol query is several messages (Parse, Bind, Describe,
// Execute, Sync), so two connections' messages interleave: B's Parse replaces A's unnamed statement
// and A's Bind runs B's SQL, a wrong answer with no error (measured: 500 of 1,000 concurrent queries).
// This queue gives a connection the backend from its first message to the Sync or simple Query that
// ends its unit, and for as long after as it leaves the backend inside a transaction block. Replaces
// the socket server's own queue (same method names; the library calls only these).
import type { PGlite } from '@electric-sql/pglite';

interface Queued {
  handlerId: number;
  message: Uint8Array;
  onData: (data: Uint8Array) => void;
  resolve: (bytes: number) => void;
  reject: (err: Error) => void;
}

const SYNC = 0x53; // 'S'
const QUERY = 0x51; // 'Q'
const TERMINATE = 0x58; // 'X'
/** Startup, SSL and cancel requests carry no type byte: their first byte is the high byte of a length. */
const untyped = (message: Uint8Array) => message[0] === 0;
const SYNC_MESSAGE = new Uint8Array([SYNC, 0, 0, 0, 4]);

export class UnitQueue {
  private queue: Queued[] = [];
  private processing = false;
  /** The connection whose unit (or transaction) is in progress: only its messages run until it ends. */
  private holder: number | null = null;

  constructor(private readonly db: PGlite) {}

  enqueue(handlerId: number, message: Uint8Array, onData: (data: Uint8Array) => void): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ handlerId, message, onData, resolve, reject });
      void this.process();
    });
  }

  private next(): Queued | undefined {
    if (this.holder === null) return this.queue.shift();
    const i = this.queue.findIndex((q) => q.handlerId === this.holder);
    return i === -1 ? undefined : this.queue.splice(i, 1)[0];
  }

  private async process(): Promise<void> {
    if (this.processing) return;
    this.processing = true;
    try {
      for (let item = this.next(); item; item = this.next()) {
        const { handlerId, message, onData } = item;
        let bytes = 0;
        try {
          await this.db.runExclusive(() => this.db.execProtocolRawStream(message, { onRawData: (data) => ((bytes += data.length), onData(data)) }));
        } catch (err) {
          item.reject(err as Error);
          continue;
        }
        const type = message[0];
        if (untyped(message)) this.holder = null;
        else if (type === SYNC || type === QUERY || type === TERMINATE) this.holder = this.db.isInTransaction() && type !== TERMINATE ? handlerId : null;
        else this.holder = handlerId;
        item.resolve(bytes);
      }
    } finally {
      this.processing = false;
    }
  }

  getQueueLength(): number {
    return this.queue.length;
  }

  clearQueueForHandler(handlerId: number): void {
    this.queue = this.queue.filter((q) => q.handlerId !== handlerId || (q.reject(new Error('Handler disconnected')), false));
  }

  /** A connection that went away mid-unit or mid-transaction: end what it left open, then let the others in. */
  async clearTransactionIfNeeded(handlerId: number): Promise<void> {
    if (this.holder !== handlerId) return;
    await this.db.runExclusive(async () => {
      await this.db.execProtocolRawStream(SYNC_MESSAGE, { onRawData: () => {} }).catch(() => {});
      if (this.db.isInTransaction()) await this.db.exec('ROLLBACK').catch(() => {});
    });
    this.holder = null;
    void this.process();
  }
}
