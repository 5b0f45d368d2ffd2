// A tiny seeded PRNG (mulberry32) and the picks a fuzzer needs: the same seed gives the same sequence
// on every machine and Node version, so a failing fuzz case is replayed from its seed and index.

export interface Prng {
  /** [0, 1) */
  next(): number;
  /** Integer in [min, max] (inclusive). */
  int(min: number, max: number): number;
  chance(p: number): boolean;
  pick<T>(items: readonly T[]): T;
  /** Weighted pick: [[weight, value], ...]. */
  weighted<T>(items: readonly (readonly [number, T])[]): T;
  bytes(n: number): Buffer;
  /** A child generator with its own stream, derived from this one (one per fuzz case). */
  fork(): Prng;
}

export function prng(seed: number): Prng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const self: Prng = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    chance: (p) => next() < p,
    pick: (items) => items[Math.floor(next() * items.length)],
    weighted(items) {
      const total = items.reduce((s, [w]) => s + w, 0);
      let r = next() * total;
      for (const [w, v] of items) {
        r -= w;
        if (r < 0) return v;
      }
      return items[items.length - 1][1];
    },
    bytes(n) {
      const b = Buffer.alloc(n);
      for (let i = 0; i < n; i++) b[i] = Math.floor(next() * 256);
      return b;
    },
    fork: () => prng(Math.floor(next() * 4294967296)),
  };
  return self;
}

/** The seed for case `index` of a run: case N is replayed alone with caseSeed(seed, N). */
export const caseSeed = (seed: number, index: number): number => (Math.imul(seed ^ 0x9e3779b9, 0x85ebca6b) + Math.imul(index + 1, 0xc2b2ae35)) >>> 0;
