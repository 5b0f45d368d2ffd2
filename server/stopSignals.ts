// SIGTERM, SIGINT and SIGHUP for the server process, installed before anything else is loaded (main.ts imports
// only this module statically), and never removed. A supervisor often signals twice: `make run` passes
// the signal its process group got on to node, `timeout` and systemd send one to every process of the
// group. With process.once the second signal got the default action and killed the process halfway
// through its shutdown (lock and server.json left behind, the audit queue not flushed). Here the first
// signal is acted on and the rest are logged once and ignored: a shutdown that has begun always ends.
export type StopSignal = 'SIGTERM' | 'SIGINT' | 'SIGHUP';

type Log = (signal: StopSignal) => void;

export interface StopSignals {
  /** The first signal received, if any (it may have come before a handler was set). */
  readonly received: StopSignal | undefined;
  /** What the first signal does; set it again as the process moves from start-up to serving. */
  onStop(handler: (signal: StopSignal) => void): void;
  /** Called (once) for the first signal that comes after the one acted on. */
  onRepeat(log: Log): void;
}

let installed: StopSignals | undefined;

export function stopSignals(): StopSignals {
  if (installed) return installed;
  let received: StopSignal | undefined;
  let handler: ((signal: StopSignal) => void) | undefined;
  let acted = false;
  let repeatLog: Log | undefined;
  let repeatLogged = false;
  const act = () => {
    if (acted || !handler || !received) return;
    acted = true;
    handler(received);
  };
  const on = (signal: StopSignal) => {
    if (received) {
      if (!repeatLogged && repeatLog) {
        repeatLogged = true;
        repeatLog(signal);
      }
      return;
    }
    received = signal;
    act();
  };
  // SIGHUP too: the terminal that ran `make run` closing is a stop, and a clean one.
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) process.on(signal, () => on(signal));
  installed = {
    get received() {
      return received;
    },
    onStop(next) {
      handler = next;
      // A handler replaced before the signal was acted on gets it now; one acted on is not repeated.
      act();
    },
    onRepeat(log) {
      repeatLog = log;
    },
  };
  return installed;
}
