// A Server-Sent Events reader over real HTTP (fetch), for the events stream's tests: parses each
// message (id, event, data) and comment as it arrives.
import type { SessionEvent } from '../../server/events/sessionEvent.ts';

export interface SseMessage {
  id?: string;
  event?: string;
  data?: string;
}

export interface SseStream {
  status: number;
  headers: Headers;
  /** The answer's JSON when it was not a stream (a refusal). */
  body?: any;
  messages: SseMessage[];
  comments: string[];
  /** The session events received, in order. */
  events(): SessionEvent[];
  /** Resolves when the server closed the stream (the stream.end message's reason, if any). */
  closed: Promise<string | undefined>;
  waitFor(predicate: (events: SessionEvent[]) => boolean, what: string, timeoutMs?: number): Promise<SessionEvent[]>;
  close(): void;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseStream> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const messages: SseMessage[] = [];
  const comments: string[] = [];
  const events = () => messages.filter((m) => m.event && m.event !== 'stream.end' && m.data).map((m) => JSON.parse(m.data!) as SessionEvent);
  if (!(res.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
    return { status: res.status, headers: res.headers, body, messages, comments, events, closed: Promise.resolve(undefined), waitFor: async () => [], close: () => {} };
  }
  let endReason: string | undefined;
  const closed = (async () => {
    const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let split: number;
        while ((split = buffer.indexOf('\n\n')) !== -1) {
          const block = buffer.slice(0, split);
          buffer = buffer.slice(split + 2);
          const message: SseMessage = {};
          let isMessage = false;
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) comments.push(line.slice(1).trim());
            else if (line.startsWith('id: ')) ((message.id = line.slice(4)), (isMessage = true));
            else if (line.startsWith('event: ')) ((message.event = line.slice(7)), (isMessage = true));
            else if (line.startsWith('data: ')) ((message.data = line.slice(6)), (isMessage = true));
          }
          if (isMessage) messages.push(message);
          if (message.event === 'stream.end') endReason = JSON.parse(message.data!).reason;
        }
      }
    } catch {
      // aborted by close()
    }
    return endReason;
  })();
  return {
    status: res.status,
    headers: res.headers,
    messages,
    comments,
    events,
    closed,
    async waitFor(predicate, what, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (predicate(events())) return events();
        await new Promise((r) => setTimeout(r, 25));
      }
      throw new Error(`timed out waiting for ${what}; got ${JSON.stringify(events().slice(-10))}`);
    },
    close: () => abort.abort(),
  };
}
