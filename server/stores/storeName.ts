// How a start-up error names a store: which one, the variable that points at it, and where (never the
// user or password), so the operator knows what to fix without reading a stack trace.

/** A store that did not answer at start: the message names the store, its variable and its address. */
export class StoreUnavailable extends Error {
  override name = 'StoreUnavailable';
}

/** "PostgreSQL at DATABASE_URL (host:port)": where, without the user or password. */
export function storeName(store: 'PostgreSQL' | 'Redis', variable: string, url: string): string {
  let where = '?';
  try {
    const parsed = new URL(url);
    const host = parsed.hostname || decodeURIComponent(parsed.searchParams.get('host') ?? '') || 'localhost';
    where = `${host}:${parsed.port || (store === 'PostgreSQL' ? 5432 : 6379)}`;
  } catch {
    // loadConfig has checked the URL; nothing better to say
  }
  return `${store} at ${variable} (${where})`;
}
