// A TCP proxy on a free loopback port in front of a real server, for faults that a test must cause
// for real: cut() drops every connection and refuses new ones until restore() (a network blip, a
// firewall); delay(ms) holds what the client sends for ms before the server gets it (a slow link),
// so a test can put another instance's writes between one instance's read and its write.
import net from 'node:net';

export interface TcpProxy {
  port: number;
  /** redis://127.0.0.1:<port> (or any scheme's URL with the port swapped in: `urlFor`). */
  url: string;
  cut(): void;
  restore(): void;
  /** Client-to-server delay in ms for every chunk from now on (0: none). Order is kept. */
  delay(ms: number): void;
  /**
   * What the proxy has seen of commands naming `needle` (a key): how many chunks holding it went to the
   * server, how many are still held, and whether the server has answered since the last one went. The
   * events a test waits for instead of guessing at the delay: "B's read went through and its write is
   * held", "B's write has landed".
   */
  seen(needle: string): { forwarded: number; held: number; answered: boolean };
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, scheme = 'redis'): Promise<TcpProxy> {
  const open = new Set<net.Socket>();
  let cut = false;
  let delayMs = 0;
  // Chunks in flight (held until due) and forwarded, as latin1 text (RESP is text around the bytes);
  // the forwarded log is bounded (a test looks at the last few hundred).
  const held = new Set<string>();
  const forwarded: string[] = [];
  let lastForwardAt = 0;
  let lastReplyAt = 0;
  const server = net.createServer((client) => {
    if (cut) {
      client.destroy();
      return;
    }
    const upstream = net.connect(targetPort, '127.0.0.1');
    open.add(client).add(upstream);
    // Chunks go out in arrival order: each waits for the later of its own due time and the one before.
    let last = Promise.resolve();
    client.on('data', (chunk) => {
      const due = Date.now() + delayMs;
      const text = chunk.toString('latin1');
      const entry = `${held.size}:${Math.random()}:${text}`; // unique even for two identical chunks
      held.add(entry);
      last = last.then(() => new Promise<void>((resolve) => setTimeout(resolve, Math.max(0, due - Date.now())))).then(() => {
        held.delete(entry);
        if (upstream.destroyed) return;
        upstream.write(chunk);
        forwarded.push(text);
        if (forwarded.length > 1000) forwarded.shift();
        lastForwardAt = performance.now();
      });
    });
    upstream.on('data', (chunk) => {
      lastReplyAt = performance.now();
      client.write(chunk);
    });
    for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
      a.on('error', () => b.destroy());
      a.on('close', () => {
        b.destroy();
        open.delete(a);
      });
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    cut() {
      cut = true;
      for (const socket of open) socket.destroy();
    },
    restore() {
      cut = false;
    },
    delay(ms) {
      delayMs = ms;
    },
    seen(needle) {
      return {
        forwarded: forwarded.filter((t) => t.includes(needle)).length,
        held: [...held].filter((t) => t.includes(needle)).length,
        answered: lastReplyAt >= lastForwardAt,
      };
    },
    async close() {
      cut = true;
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
