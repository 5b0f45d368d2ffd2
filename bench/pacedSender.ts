// The paced (open-loop) sender, run as its own process by bench/pacedLoad.ts: request k is due at
// start + k/rate and goes out on the first timer tick at or after that moment, on a free keep-alive
// connection (a new one when all are busy, up to MAX_SOCKETS); its latency counts from when it was
// due, so a server that falls behind shows it instead of hiding it (no coordinated omission).
//
// Lean on purpose: raw sockets, the request's bytes built once, responses read by Content-Length.
// Node's http client cost ~80 us a request here, as much as the server under test; a sender that busy
// shares the machine with the server and its tail becomes the figure. A warm-up (WARMUP_S, bench/pacedLoad.ts) at the
// same rate, not counted, goes first, so neither side is measured while its JIT is cold.
//
// argv[2]: a JSON PacedLoad plus { url, warmupSeconds }. Prints one JSON line of LoadFigures.
import net from 'node:net';
import type { LoadFigures, PacedLoad } from './pacedLoad.ts';
import { histogramOf } from './latencyHistogram.ts';

const MAX_SOCKETS = 256;
/**
 * A connection idle this long is closed, not reused: a server closes an idle keep-alive connection
 * after its keepAliveTimeout (Node's default: 5 s), and a request written as it does so is reset.
 */
const IDLE_MAX_MS = 2000;

const load = JSON.parse(process.argv[2]) as PacedLoad & { url: string; warmupSeconds: number };
const url = new URL(load.url + load.path);
const body = Buffer.from(load.body);
const head = Object.entries({ host: url.host, 'content-type': 'application/json', 'content-length': String(body.length), ...load.headers })
  .map(([k, v]) => `${k}: ${v}\r\n`)
  .join('');
const request = Buffer.concat([Buffer.from(`POST ${url.pathname} HTTP/1.1\r\n${head}\r\n`), body]);

interface Conn {
  socket: net.Socket;
  /** When the request in flight was due (performance.now()), or -1 when idle. */
  due: number;
  /** When it last became idle (performance.now()). */
  idleSince: number;
  buffered: Buffer;
}

const idle: Conn[] = [];
const all = new Set<Conn>();
let onAnswer: (due: number, status: number) => void = () => {};
let onError: (due: number, code: string) => void = () => {};

function answered(conn: Conn): void {
  // Status line "HTTP/1.1 200 ...", then headers to the blank line, then Content-Length bytes.
  for (;;) {
    const buf = conn.buffered;
    const end = buf.indexOf('\r\n\r\n');
    if (end === -1) return;
    const headers = buf.toString('latin1', 0, end);
    const length = Number(/\r\ncontent-length:\s*(\d+)/i.exec(headers)?.[1] ?? 0);
    if (buf.length < end + 4 + length) return;
    conn.buffered = buf.subarray(end + 4 + length);
    const due = conn.due;
    conn.due = -1;
    conn.idleSince = performance.now();
    idle.push(conn);
    onAnswer(due, Number(headers.slice(9, 12)));
  }
}

function open(): Conn {
  const conn: Conn = { socket: net.connect({ host: url.hostname, port: Number(url.port), noDelay: true }), due: -1, idleSince: 0, buffered: Buffer.alloc(0) };
  all.add(conn);
  conn.socket.on('data', (chunk: Buffer) => {
    conn.buffered = conn.buffered.length ? Buffer.concat([conn.buffered, chunk]) : chunk;
    answered(conn);
  });
  const lost = (code: string) => {
    if (!all.delete(conn)) return;
    const at = idle.indexOf(conn);
    if (at !== -1) idle.splice(at, 1);
    if (conn.due >= 0) onError(conn.due, code);
  };
  conn.socket.on('error', (err: NodeJS.ErrnoException) => lost(err.code ?? err.message));
  conn.socket.on('close', () => lost('ECONNRESET'));
  return conn;
}

/** Sends `total` requests at `rate`; calls back per answer. Resolves when all have settled. */
function run(rate: number, total: number, count: (latencyMs: number, status: number | string) => void): Promise<void> {
  return new Promise((done) => {
    const start = performance.now();
    let sent = 0;
    let settled = 0;
    const waiting: number[] = []; // due times of requests with no connection free yet
    const settle = (due: number, status: number | string) => {
      count(performance.now() - due, status);
      if (++settled === total) done();
      else if (waiting.length && idle.length) dispatch();
    };
    onAnswer = settle;
    onError = settle;
    /** The most recently used idle connection that is still safe to reuse (older ones are closed). */
    const reusable = (): Conn | undefined => {
      for (let conn = idle.pop(); conn; conn = idle.pop()) {
        if (performance.now() - conn.idleSince <= IDLE_MAX_MS) return conn;
        all.delete(conn);
        conn.socket.destroy();
      }
      return undefined;
    };
    const dispatch = () => {
      while (waiting.length) {
        const conn = reusable() ?? (all.size < MAX_SOCKETS ? open() : undefined);
        if (!conn) return;
        conn.due = waiting.shift()!;
        conn.socket.write(request);
      }
    };
    const tick = () => {
      const dueNow = Math.min(total, Math.floor(((performance.now() - start) / 1000) * rate) + 1);
      while (sent < dueNow) waiting.push(start + (sent++ / rate) * 1000);
      dispatch();
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
}

const percentile = (sorted: Float64Array, p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);

async function main() {
  await run(load.rate, Math.round(load.rate * load.warmupSeconds), () => {});
  const total = Math.round(load.rate * load.durationSeconds);
  const latencies = new Float64Array(total);
  let n = 0;
  let errors = 0;
  let non2xx = 0;
  const errorCodes: Record<string, number> = {};
  const start = performance.now();
  await run(load.rate, total, (ms, status) => {
    latencies[n++] = ms;
    if (typeof status === 'string') {
      errors++;
      errorCodes[status] = (errorCodes[status] ?? 0) + 1;
    } else if (status < 200 || status >= 300) non2xx++;
  });
  const seconds = (performance.now() - start) / 1000;
  for (const conn of all) conn.socket.destroy();
  latencies.sort();
  const round = (ms: number) => Math.round(ms * 100) / 100;
  const figures: LoadFigures = { rps: Math.round(total / seconds), p50_ms: round(percentile(latencies, 50)), p99_ms: round(percentile(latencies, 99)), errors, non2xx, requests: total, ...(errors ? { error_codes: errorCodes } : {}), histogram: histogramOf(latencies) };
  process.stdout.write(JSON.stringify(figures) + '\n');
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
