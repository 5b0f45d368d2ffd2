// ISO-8601 texts of times a call writes over and over: formatting a Date is a visible share of a
// validated call (--cpu-prof: the call line's and the audit row's `time`, me's three timestamps).
// Same texts as Date.prototype.toISOString, computed once per millisecond or per second value.

let lastMs = -1;
let lastText = '';

/** new Date().toISOString(), once per millisecond whatever the call rate. */
export function isoNow(): string {
  const ms = Date.now();
  if (ms !== lastMs) {
    lastMs = ms;
    lastText = new Date(ms).toISOString();
  }
  return lastText;
}

const SECONDS_MAX = 4096;
const bySeconds = new Map<number, string>();

/** The ISO text of a whole second since the epoch (session times are kept in seconds). Bounded: the oldest goes first. */
export function isoOfSeconds(seconds: number): string {
  let text = bySeconds.get(seconds);
  if (text === undefined) {
    text = new Date(seconds * 1000).toISOString();
    if (bySeconds.size >= SECONDS_MAX) bySeconds.delete(bySeconds.keys().next().value as number);
    bySeconds.set(seconds, text);
  }
  return text;
}
