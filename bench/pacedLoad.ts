// Latency at a fixed rate, with the requests spread evenly over time (open loop). autocannon's rate
// limit is per connection per second: each connection sends back to back until it has made its share
// of the second, then waits for the next second, so half of each second is full load and the other
// half idle (the Koa echo at 5,400 req/s that way: p99 123 ms). Here request k is due at start + k/rate,
// sent on the first timer tick at or after that moment, and its latency counts from when it was due,
// so a server (or a generator) that falls behind shows it in the figures instead of hiding it.
import http from 'node:http';

export interface PacedLoad {
  path: string;
  body: string;
  headers: Record<string, string>;
  rate: number;
  durationSeconds: number;
}

/** What one load run measured (bench/run.ts adds the scenario's name and ratios). */
export interface LoadFigures {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  non2xx: number;
  requests: number;
  /** What failed, by error code (ECONNRESET, ...), when anything did. */
  error_codes?: Record<string, number>;
}

const percentile = (sorted: number[], p: number) => (sorted.length ? sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] : 0);

export async function pacedLoad(baseUrl: string, load: PacedLoad): Promise<LoadFigures> {
  const url = new URL(baseUrl + load.path);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });
  const headers = { ...load.headers, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(load.body)) };
  const total = Math.round(load.rate * load.durationSeconds);
  const latencies: number[] = [];
  let errors = 0;
  const errorCodes: Record<string, number> = {};
  let non2xx = 0;
  let sent = 0;
  let settled = 0;
  const start = performance.now();

  await new Promise<void>((done) => {
    const finish = () => {
      if (++settled === total) done();
    };
    const send = (due: number) => {
      const req = http.request({ host: url.hostname, port: url.port, path: url.pathname, method: 'POST', agent, headers }, (res) => {
        res.resume();
        res.on('end', () => {
          latencies.push(performance.now() - due);
          if (res.statusCode! < 200 || res.statusCode! >= 300) non2xx++;
          finish();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        errors++;
        errorCodes[err.code ?? err.message] = (errorCodes[err.code ?? err.message] ?? 0) + 1;
        finish();
      });
      req.end(load.body);
    };
    const tick = () => {
      const elapsed = performance.now() - start;
      const dueNow = Math.min(total, Math.floor((elapsed / 1000) * load.rate) + 1);
      while (sent < dueNow) send(start + (sent++ / load.rate) * 1000);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  agent.destroy();

  const seconds = (performance.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const round = (ms: number) => Math.round(ms * 100) / 100;
  return { rps: Math.round(total / seconds), p50_ms: round(percentile(latencies, 50)), p99_ms: round(percentile(latencies, 99)), errors, non2xx, requests: total, ...(errors ? { error_codes: errorCodes } : {}) };
}
