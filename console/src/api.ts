// The console's calls: same-origin fetches with the console's header and a JSON body (what the server's
// cross-site check wants). The session is the HttpOnly cookie: this script never sees its id.
export interface Problem {
  code: number;
  message: string;
  status?: number;
  data?: { error_code?: string; detail?: string; reason?: string; field?: string };
}

export class ApiError extends Error {
  constructor(readonly problem: Problem) {
    super(problem.data?.detail ?? problem.message);
  }
  get errorCode(): string | undefined {
    return this.problem.data?.error_code;
  }
}

/** Codes that mean the console's session is gone: back to the sign-in form. */
export const SIGNED_OUT = new Set(['SESSION_REQUIRED', 'SESSION_EXPIRED', 'SESSION_INVALID', 'SESSION_ID_FORMAT', 'SESSION_TOKEN_REQUIRED', 'SESSION_TOKEN_INVALID']);

type Hooks = { signedOut(): void; reauthenticate(detail: string): Promise<boolean> };
let hooks: Hooks = { signedOut() {}, reauthenticate: async () => false };
export const setHooks = (h: Hooks) => void (hooks = h);

async function post(path: string, body: unknown): Promise<{ result?: unknown; error?: Problem }> {
  const response = await fetch(`api/${path}`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-tether-console': '1' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  try {
    return JSON.parse(text) as { result?: unknown; error?: Problem };
  } catch {
    return { error: { code: -32603, message: `HTTP ${response.status}`, data: { detail: text.slice(0, 200) } } };
  }
}

function unwrap<T>(answer: { result?: unknown; error?: Problem }): T {
  if (answer.error) throw new ApiError(answer.error);
  return answer.result as T;
}

export const signIn = async (login: string, password: string) => unwrap<{ user: { id: number; login: string; is_admin: boolean } }>(await post('login', { login, password }));
export const signOut = async () => unwrap<unknown>(await post('logout', {}));
export const reauth = async (password: string) => unwrap<unknown>(await post('reauth', { password }));

/** A registry method on the console's session; asks for the password once when the proof is too old. */
export async function rpc<T>(method: string, params: Record<string, unknown> = {}): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const answer = await post('rpc', { method, params });
    if (answer.error) {
      const error = new ApiError(answer.error);
      if (error.errorCode === 'REAUTH_REQUIRED' && attempt === 0 && (await hooks.reauthenticate(error.message))) continue;
      if (error.errorCode && SIGNED_OUT.has(error.errorCode)) hooks.signedOut();
      throw error;
    }
    return answer.result as T;
  }
}
