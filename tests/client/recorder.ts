// A fetch that records what the TetherClient sent and what Tether answered, for the client tests.
export interface Exchange {
  path: string;
  headers: Record<string, string>;
  request: unknown;
  status: number;
  answer: unknown;
}

export function recordingFetch(options: { tokenLifetimeLie?: number } = {}) {
  const exchanges: Exchange[] = [];
  const recorded: typeof fetch = async (input, init) => {
    const url = new URL(String(input));
    const response = await fetch(input, init);
    const text = await response.text();
    let answer: unknown = text;
    try {
      answer = JSON.parse(text);
    } catch {
      /* not JSON */
    }
    // A client whose clock (or a proxy) says the bearer lasts longer than it does: only TOKEN_EXPIRED tells it.
    if (options.tokenLifetimeLie && url.pathname === '/api/v1/auth/token' && response.ok) {
      answer = { ...(answer as object), expires_in: options.tokenLifetimeLie };
    }
    const body = typeof init?.body === 'string' && url.pathname === '/jsonrpc' ? JSON.parse(init.body) : init?.body;
    exchanges.push({ path: url.pathname, headers: Object.fromEntries(new Headers(init?.headers).entries()), request: body, status: response.status, answer });
    return new Response(JSON.stringify(answer), { status: response.status, headers: response.headers });
  };
  const calls = (method: string) => exchanges.filter((e) => e.path === '/jsonrpc').flatMap((e) => (Array.isArray(e.request) ? e.request : [e.request])).filter((r) => (r as { method?: string }).method === method);
  const errorCodes = () =>
    exchanges
      .flatMap((e) => (Array.isArray(e.answer) ? e.answer : [e.answer]))
      .map((a) => (a as { error?: { data?: { error_code?: string } } })?.error?.data?.error_code)
      .filter((c): c is string => Boolean(c));
  return { fetch: recorded, exchanges, calls, tokenRequests: () => exchanges.filter((e) => e.path === '/api/v1/auth/token').length, errorCodes };
}
