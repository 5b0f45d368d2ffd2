// Server-Sent Events framing (WHATWG HTML, "Server-sent events"), independent of the HTTP layer: one
// event per message with `id:` and `event:` lines and its JSON on one `data:` line (JSON.stringify
// never emits a raw newline), comments for heartbeats. The id is what the browser sends back as
// Last-Event-ID on a reconnect.
import type { SessionEvent } from './sessionEvent.ts';

export const sseMessage = (e: SessionEvent): string => `id: ${e.id}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;

/** A comment line: keeps proxies and the browser from timing the stream out; EventSource ignores it. */
export const sseComment = (text = ''): string => `:${text ? ' ' + text.replace(/[\r\n]/g, ' ') : ''}\n\n`;

/** How long EventSource waits before reconnecting (milliseconds). */
export const sseRetry = (ms: number): string => `retry: ${Math.max(0, Math.floor(ms))}\n\n`;

/** A stream's end that says why, as an event of its own (the console shows it; EventSource may reconnect). */
export const sseEnd = (reason: string): string => `event: stream.end\ndata: ${JSON.stringify({ reason })}\n\n`;
