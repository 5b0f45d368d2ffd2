// pino JSON logs. Secrets never reach a log: callers pass prefixes, never whole ids or tokens;
// the redact list is a second line of defence.
import { writeSync } from 'node:fs';
import pino, { type DestinationStream, type Logger } from 'pino';
import { isoNow } from './isoTime.ts';

/** How long a line may wait in the buffer at low traffic. */
const FLUSH_EVERY_MS = 250;

/** pino's line starts `{"level":NN`: warn is 40, error 50, fatal 60. */
const WARN_OR_ABOVE = (line: string) => line.charCodeAt(9) >= 52 /* '4' */ && line.startsWith('{"level":');

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

function bufferedStdout(): DestinationStream {
  let buffer = '';
  // Synchronous writes, so a line is never lost to an exit; no fsync (sonic-boom's flushSync does one
  // on every flush: a disk sync 4 times a second when stdout is a file, ~3% of a call's CPU).
  const flush = () => {
    if (!buffer) return;
    let bytes = Buffer.from(buffer);
    buffer = '';
    while (bytes.length) {
      try {
        bytes = bytes.subarray(writeSync(1, bytes));
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return; // stdout closed (EPIPE, EBADF): nothing left to save
        Atomics.wait(PAUSE, 0, 0, 10); // a full non-blocking pipe: give its reader 10 ms
      }
    }
  };
  // Lines wait in a 4 KiB buffer, written when it fills (one write per ~20 lines under load), at most
  // FLUSH_EVERY_MS later at low traffic, at once after a warn-or-above line (a hijack marker is
  // greppable while the attack goes on), and at exit.
  setInterval(flush, FLUSH_EVERY_MS).unref();
  process.once('exit', flush);
  return {
    write(line: string) {
      buffer += line;
      if (buffer.length >= 4096 || WARN_OR_ABOVE(line)) flush();
    },
    flushSync: flush,
    // logger.flush() calls this one.
    flush(done?: (err?: Error) => void) {
      flush();
      done?.();
    },
  } as DestinationStream;
}

/**
 * Without a destination: stdout through a 4 KiB buffer (one write per ~20 lines instead of one per
 * line: a write per line cost ~8% of a validated call's CPU, measured with --cpu-prof), flushed every
 * 250 ms and after every warn-or-above line. A process killed outright (SIGKILL) loses at most the
 * last 250 ms of info lines.
 */
export function createLogger(level: string, destination: DestinationStream = bufferedStdout()): Logger {
  return pino(
    {
      level,
      // pid: with WORKERS > 1 the workers' lines share one stdout; the pid tells which process wrote each.
      base: { service: 'tether', pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Top-level keys through pino's redact (only those keys pay for it); one level down in
      // redactNested. pino's wildcard paths ran every value of every line through the redactor,
      // allocating per path per value: 14% of the allocations of a system.ping (sampling heap profile).
      redact: { paths: ['password', 'client_secret', 'access_token', 'session_id', 'security_token'], censor: CENSOR },
      formatters: { log: redactNested },
    },
    destination,
  );
}

const CENSOR = '[redacted]';
const NESTED_SECRETS = ['password', 'authorization', 'cookie'];

/**
 * `*.password`, `*.authorization`, `*.cookie`: a line whose object values carry one of those keys is
 * logged from a copy with the value censored; the caller's objects are never changed. Lines of
 * primitives only (the call log) cost one typeof per field.
 */
function redactNested(line: Record<string, unknown>): Record<string, unknown> {
  let copy: Record<string, unknown> | undefined;
  for (const key in line) {
    const value = line[key];
    if (typeof value !== 'object' || value === null) continue;
    const member = value as Record<string, unknown>;
    if (!NESTED_SECRETS.some((secret) => member[secret] !== undefined)) continue;
    // An Error keeps its prototype, message and stack, so pino's err serializer still recognises it.
    const censored: Record<string, unknown> = Object.assign(Object.create(Object.getPrototypeOf(member)), member, value instanceof Error ? { message: value.message, stack: value.stack } : {});
    for (const secret of NESTED_SECRETS) if (member[secret] !== undefined) censored[secret] = CENSOR;
    (copy ??= { ...line })[key] = censored;
  }
  return copy ?? line;
}

/** A call line's fields: primitives only (no secret among them), undefined ones left out. */
export type CallLine = Record<string, string | number | undefined>;

/**
 * The per-call info line, written as pino writes it (same keys, same order, same escaping) without
 * pino's generic path (redaction, formatters, serialisers): ~5% of a validated call's CPU
 * (--cpu-prof). Only for lines of primitives that hold no secret, like the call line.
 */
export function infoLineWriter(log: Logger, msg: string): (fields: CallLine) => void {
  const internals = log as unknown as Record<symbol, unknown>;
  const stream = internals[pino.symbols.streamSym] as DestinationStream;
  const head = internals[pino.symbols.chindingsSym] as string; // the base fields, as pino writes them
  const tail = `,"msg":${JSON.stringify(msg)}}\n`;
  return (fields) => {
    if (!log.isLevelEnabled('info')) return;
    let line = `{"level":30,"time":"${isoNow()}"${head}`;
    for (const key in fields) {
      const value = fields[key];
      if (value !== undefined) line += `,"${key}":${typeof value === 'string' ? JSON.stringify(value) : Number.isFinite(value) ? value : 'null'}`;
    }
    stream.write(line + tail);
  };
}
