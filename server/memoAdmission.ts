// Whether a full memo should keep what it just missed. A memo whose working set is larger than it
// holds (the bench's memory run: 100,000 sessions in rotation through 2,000 decoded entries and, then,
// 10,000 verified tokens) only evicts: each entry it keeps lives long enough to be promoted to V8's old
// generation, and dies there, ~2.5 KB a call, a full collection every second. So while the memo is full
// and fewer than half of its recent lookups hit, it keeps one miss in 16: a new hot set still gets in
// (a session called again and again is kept within a few calls) and the rest dies young. A memo that
// is not full, or that mostly hits, keeps every miss as before.

/** Lookups per verdict on whether the memo is thrashing. */
export const ADMISSION_WINDOW = 1024;
/** While thrashing, one miss in this many is kept. */
export const ADMISSION_SAMPLE = 16;

export interface MemoAdmission {
  hit(): void;
  /** Counts a miss; answers whether to keep its value, given whether the memo is full. */
  miss(full: boolean): boolean;
}

export function memoAdmission(): MemoAdmission {
  let lookups = 0;
  let hits = 0;
  let thrashing = false;
  let skipped = 0;
  const count = (hit: boolean) => {
    if (hit) hits++;
    if (++lookups < ADMISSION_WINDOW) return;
    thrashing = hits * 2 < lookups;
    lookups = hits = 0;
  };
  return {
    hit: () => count(true),
    miss(full) {
      count(false);
      return !full || !thrashing || ++skipped % ADMISSION_SAMPLE === 0;
    },
  };
}
