// A throwaway webhook receiver on 127.0.0.1 (node:http): records every POST (headers, body, when) and
// answers as the test's `answer` says (a status, after an optional wait).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createHmac, timingSafeEqual } from 'node:crypto';

export interface Received {
  headers: http.IncomingHttpHeaders;
  body: string;
  event: { id: string; type: string; user_id: number | null; session_prefix: string | null; reason: string | null };
  status: number;
  at: number;
}

export type Answer = (r: Omit<Received, 'status' | 'at'>, attempt: number) => Promise<number> | number;

export interface Receiver {
  url: string;
  port: number;
  /** Every request, in arrival order, with the status it was answered. */
  received: Received[];
  /** Requests answered 2xx, in the order answered. */
  delivered(): Received[];
  stop(): Promise<void>;
}

/** A port nothing listens on (taken, then let go): a receiver that is down. */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startReceiver(answer: Answer = () => 200, port = 0): Promise<Receiver> {
  const received: Received[] = [];
  const answered: Received[] = [];
  const attempts = new Map<string, number>();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(body);
      const attempt = (attempts.get(event.id) ?? 0) + 1;
      attempts.set(event.id, attempt);
      const status = await answer({ headers: req.headers, body, event }, attempt);
      const record = { headers: req.headers, body, event, status, at: Date.now() };
      received.push(record);
      if (status >= 200 && status < 300) answered.push(record);
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${bound}/hook`,
    port: bound,
    received,
    delivered: () => answered,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The README's signature check, as a receiver writes it: the header's HMAC over "<t>.<body>", within 5 minutes. */
export function verifySignature(secret: string, header: string, body: string, toleranceSeconds = 300): boolean {
  const parts = Object.fromEntries(header.split(',').map((p) => p.split('=') as [string, string]));
  const t = Number(parts.t);
  if (!Number.isInteger(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${parts.t}.${body}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
