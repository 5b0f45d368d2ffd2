// agents.list's pages, memoised per process: a page read from PostgreSQL is kept under the agents'
// version (the change-log position of their last change, sql/017) read in the call's one cache round
// trip (requireJwt, the method's `reads`), and served again only to a call that read the same version.
//
// Why that is exactly as correct as asking PostgreSQL. PostgreSQL is the truth; the version in the
// cache is written only after the change committed: the follower applies the log, which holds only
// committed rows, in commit order, and an instance's own agent changes are applied (afterChange) before
// they are answered. So:
// - a page read from PostgreSQL after reading version V reflects at least V (every change up to V had
//   committed before the lookup, and the query starts after it): keeping it under V is safe;
// - a change answered before a call's lookup has been applied, so that call reads a version at least
//   the change's position, which no page read before the change committed is kept under (positions
//   only grow; a missing key is filled with the cache's own position, never an older one:
//   stateCache.ts fillVersion). It misses, and reads PostgreSQL.
// A call with no usable version (the cache behind the log, unreachable or emptied, the key missing or
// corrupt) asks PostgreSQL and keeps nothing. Concurrent calls at one version share one read (the same
// argument: the read started after a lookup that read that version).
//
// Bounded: MAX_PAGES pages and MAX_TEXT of their text (least recently used dropped first); what is memoised is the page only
// (items and next), the total of with_total is counted as before.
import type { AgentView } from './agentStore.ts';

export interface PageQuery {
  limit: number;
  after: number;
  offset: number;
  includeInactive: boolean;
}

export interface Page {
  items: AgentView[];
  next: number | null;
}

/** How a page was answered: from the memo, read and kept, or read with no usable version (kept nowhere). */
export const PAGE_MEMO_RESULTS = ['hit', 'miss', 'bypass'] as const;
export type PageMemoResult = (typeof PAGE_MEMO_RESULTS)[number];

/** Pages kept per process, at most: 256 pages of 20 agents are ~1-2 MB. */
export const MAX_PAGES = 256;
/**
 * And at most this much text (names and descriptions, plus ~150 bytes per agent for the rest): 256
 * pages of 100 agents with 2,000-character descriptions would be ~50 MB; past the budget the least
 * recently used pages go first.
 */
export const MAX_TEXT = 16 * 1024 * 1024;

interface Kept {
  version: string;
  page: Promise<Page>;
  /** Its text's size once read (0 while the read is in flight). */
  size: number;
}

const sizeOf = (page: Page) => page.items.reduce((n, a) => n + 150 + a.name.length + a.description.length, 0);

export function agentPages(options: { max?: number; maxText?: number; counted?: (result: PageMemoResult) => void } = {}) {
  const max = options.max ?? MAX_PAGES;
  const maxText = options.maxText ?? MAX_TEXT;
  const counted = options.counted ?? (() => {});
  // Map order is the recency order: a hit moves its page to the end, the first one is dropped.
  const pages = new Map<string, Kept>();
  let text = 0;

  const drop = (key: string) => {
    text -= pages.get(key)?.size ?? 0;
    pages.delete(key);
  };

  return {
    /** The page for `query` at `version` (undefined: none usable), from the memo or from `read`. */
    async page(query: PageQuery, version: string | undefined, read: () => Promise<Page>): Promise<Page> {
      if (version === undefined) {
        counted('bypass');
        return read();
      }
      const key = `${query.limit} ${query.after} ${query.offset} ${query.includeInactive ? 1 : 0}`;
      const kept = pages.get(key);
      if (kept !== undefined && kept.version === version) {
        counted('hit');
        pages.delete(key);
        pages.set(key, kept);
        return kept.page;
      }
      counted('miss');
      // A call that read an older version than the page kept (its lookup came before a change another
      // call has already seen) reads for itself and leaves the newer page in place.
      if (kept !== undefined && Number(kept.version) > Number(version)) return read();
      const entry: Kept = { version, page: read().then(frozen), size: 0 };
      drop(key);
      pages.set(key, entry);
      if (pages.size > max) drop(pages.keys().next().value as string);
      entry.page.then(
        (page) => {
          if (pages.get(key) !== entry) return;
          entry.size = sizeOf(page);
          text += entry.size;
          while (text > maxText && pages.size > 1) drop(pages.keys().next().value as string);
        },
        // A failed read is not kept: the next call reads again.
        () => {
          if (pages.get(key) === entry) drop(key);
        },
      );
      return entry.page;
    },
    /** Pages kept now, and their text's size (tests). */
    size: () => ({ pages: pages.size, text }),
  };
}

/** A kept page is handed to every call that hits it: nobody may change it. */
function frozen(page: Page): Page {
  for (const item of page.items) Object.freeze(item);
  Object.freeze(page.items);
  return Object.freeze(page);
}

export type AgentPages = ReturnType<typeof agentPages>;
