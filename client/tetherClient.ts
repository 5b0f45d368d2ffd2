// TetherClient: gets and renews the bearer, logs in, sends the session id and the same fingerprint
// headers on every call, and logs in again once when the session lapsed. Only `fetch`: Node 20 and
// browsers. Method types come from the server's own declarations (./methods.ts, type-only).
import { TetherError } from './errors.ts';
import type { MethodName, ParamsArg, ParamsOf, ResultOf } from './methods.ts';

export interface Credentials {
  login: string;
  password: string;
}

export interface TetherClientOptions {
  /** The service's base URL, e.g. http://127.0.0.1:8069 */
  url: string;
  clientId: string;
  clientSecret: string;
  /** Asked at login() and whenever the session lapsed (idle, absolute, cap) to log in again once. */
  credentials?: () => Promise<Credentials>;
  /** Sent on every request; the session is bound to it at login. */
  userAgent?: string;
  /** Sent on every request; the session is bound to it at login. */
  acceptLanguage?: string;
  /** X-Client-Fingerprint on every request, when given. */
  clientFingerprint?: string;
  /** A session opened earlier (e.g. by another process of the same client, with the same headers) to resume. */
  sessionId?: string;
  fetch?: typeof fetch;
  /** Seconds before the bearer's expires_in runs out when it is renewed (default a tenth of its lifetime, from 1 to 60). */
  renewBefore?: number;
}

/** One element of client.batch([...]): a method name and its params. */
export type BatchCall = {
  [N in MethodName]: {} extends ParamsOf<N> ? { method: N; params?: ParamsOf<N> } : { method: N; params: ParamsOf<N> };
}[MethodName];

export type BatchOutcome<N extends MethodName> = { ok: true; result: ResultOf<N> } | { ok: false; error: TetherError };
type BatchOutcomes<T extends readonly BatchCall[]> = { -readonly [K in keyof T]: T[K] extends { method: infer N extends MethodName } ? BatchOutcome<N> : never };

interface RpcAnswer {
  id?: unknown;
  result?: unknown;
  error?: { code?: unknown; message?: unknown; status?: unknown; data?: unknown };
}

/** Session refusals a new login cures: the session ran out, or was ended by the per-user cap. */
const LAPSED_REASONS = new Set(['idle', 'absolute', 'cap']);
/** Methods that must never trigger a login of their own. */
const NO_RELOGIN = new Set<string>(['users.login', 'users.logout']);

export class TetherClient {
  readonly #options: TetherClientOptions;
  readonly #fetch: typeof fetch;
  readonly #url: string;
  #token: { value: string; renewAt: number } | undefined;
  #tokenPending: Promise<string> | undefined;
  #sessionId: string | undefined;
  #loginPending: Promise<unknown> | undefined;
  /** Set by logout(), cleared by login(): a call after a logout never opens a session by itself. */
  #loggedOut = false;
  #nextId = 1;

  constructor(options: TetherClientOptions) {
    this.#options = options;
    this.#fetch = options.fetch ?? globalThis.fetch.bind(globalThis);
    this.#url = options.url.replace(/\/+$/, '');
    this.#sessionId = options.sessionId;
  }

  /** The current session id (undefined before login() or after logout()). */
  get sessionId(): string | undefined {
    return this.#sessionId;
  }

  /** Opens a session with the given credentials, or those the options' credentials() answers. */
  async login(credentials?: Credentials): Promise<ResultOf<'users.login'>> {
    const given = credentials ?? (await this.#options.credentials?.());
    if (!given) throw new TetherError('login() needs credentials: pass them, or give the client a credentials() option', { code: 0, errorCode: 'CREDENTIALS_REQUIRED', status: 0 });
    const result = await this.#call('users.login', { login: given.login, password: given.password });
    this.#sessionId = result.session_id;
    this.#loggedOut = false;
    return result;
  }

  /**
   * Ends the session everywhere; the client forgets it whatever the answer. Until login() is called
   * again, a call is sent without a session and its SESSION_REQUIRED is raised: credentials() is not
   * asked, no session is opened behind the caller's back.
   */
  async logout(): Promise<ResultOf<'users.logout'>> {
    this.#loggedOut = true;
    if (this.#sessionId === undefined) return { logged_out: false };
    try {
      return await this.#call('users.logout', {});
    } finally {
      this.#sessionId = undefined;
    }
  }

  me(): Promise<ResultOf<'me'>> {
    return this.#call('me', {});
  }

  /**
   * Every agent, a page at a time (agents.list by keyset: each page's `next` is the following page's
   * `after`), so a caller never counts or offsets: `for await (const agent of tether.agents()) ...`.
   */
  async *agents(params: Omit<ParamsOf<'agents.list'>, 'after' | 'offset' | 'with_total'> = {}): AsyncGenerator<ResultOf<'agents.list'>['items'][number]> {
    let after = 0;
    for (;;) {
      const page = await this.#call('agents.list', { ...params, after });
      yield* page.items;
      if (page.next === null) return;
      after = page.next;
    }
  }

  /** Any registry method, typed from its declaration: client.call('agents.list', { limit: 10 }). */
  call<N extends MethodName>(method: N, ...[params]: ParamsArg<N>): Promise<ResultOf<N>> {
    if (method === 'users.login') return this.login(params as Credentials) as Promise<ResultOf<N>>;
    if (method === 'users.logout') return this.logout() as Promise<ResultOf<N>>;
    return this.#call(method, (params ?? {}) as ParamsOf<N>);
  }

  /** One JSON-RPC batch; one typed outcome per element, in order. */
  async batch<const T extends readonly BatchCall[]>(calls: T): Promise<BatchOutcomes<T>> {
    const outcomes: BatchOutcome<MethodName>[] = new Array(calls.length);
    let pending = calls.map((_, i) => i);
    let renewedToken = false;
    let loggedInAgain = false;
    while (pending.length > 0) {
      const sent = this.#sessionId;
      const token = await this.#bearer();
      const ids = pending.map(() => this.#nextId++);
      const body = pending.map((i, j) => this.#request(ids[j], calls[i].method, calls[i].params ?? {}, sent));
      const { answers, requestId } = await this.#postBatch(body, token);
      const retryToken: number[] = [];
      const retrySession: number[] = [];
      pending.forEach((i, j) => {
        const answer = answers.get(ids[j]) ?? answers.get('*');
        if (answer && !answer.error) return void (outcomes[i] = { ok: true, result: answer.result as never });
        const error = answer?.error ? TetherError.fromRpc(answer.error, requestId) : new TetherError('No answer for this element of the batch', { code: 0, errorCode: 'NO_ANSWER', status: 0, requestId });
        if (error.errorCode === 'TOKEN_EXPIRED' && !renewedToken) retryToken.push(i);
        else if (!loggedInAgain && this.#canLogInAgain(calls[i].method, error, sent)) retrySession.push(i);
        else outcomes[i] = { ok: false, error };
      });
      if (retryToken.length > 0) {
        renewedToken = true;
        this.#forgetToken(token);
      }
      if (retrySession.length > 0) {
        loggedInAgain = true;
        try {
          await this.#logInAgain(sent);
        } catch (error) {
          for (const i of retrySession) outcomes[i] = { ok: false, error: error as TetherError };
          retrySession.length = 0;
        }
      }
      pending = [...retryToken, ...retrySession];
    }
    return outcomes as BatchOutcomes<T>;
  }

  // ---- one call, with its one token renewal and its one new login ----

  async #call<N extends MethodName>(method: N, params: object): Promise<ResultOf<N>> {
    let renewedToken = false;
    let loggedInAgain = false;
    for (;;) {
      const sent = method === 'users.login' ? undefined : this.#sessionId;
      const token = await this.#bearer();
      const { answer, requestId } = await this.#postOne(this.#request(this.#nextId++, method, params, sent), token);
      if (!answer.error) return answer.result as ResultOf<N>;
      const error = TetherError.fromRpc(answer.error, requestId);
      if (error.errorCode === 'TOKEN_EXPIRED' && !renewedToken) {
        renewedToken = true;
        this.#forgetToken(token);
        continue;
      }
      if (!loggedInAgain && this.#canLogInAgain(method, error, sent)) {
        loggedInAgain = true;
        await this.#logInAgain(sent);
        continue;
      }
      throw error;
    }
  }

  /**
   * A lapsed session (SESSION_EXPIRED; SESSION_REQUIRED for idle, absolute or cap; or no session yet
   * on a client never logged out) when the client has credentials. SESSION_INVALID (a fingerprint
   * verdict), a session ended by a logout or a revocation, and any call after logout() (until the
   * next login()) never log in again.
   */
  #canLogInAgain(method: string, error: TetherError, sent: string | undefined): boolean {
    if (!this.#options.credentials || NO_RELOGIN.has(method) || this.#loggedOut) return false;
    if (error.errorCode === 'SESSION_EXPIRED') return true;
    if (error.errorCode !== 'SESSION_REQUIRED') return false;
    return sent === undefined || LAPSED_REASONS.has(String(error.problem.reason));
  }

  /** One login for all the calls that saw the same lapsed session; a call that saw an older one just retries. */
  async #logInAgain(sent: string | undefined): Promise<void> {
    if (this.#sessionId !== sent) return;
    this.#loginPending ??= this.login().finally(() => (this.#loginPending = undefined));
    await this.#loginPending;
  }

  // ---- the bearer ----

  async #bearer(): Promise<string> {
    if (this.#token && Date.now() < this.#token.renewAt) return this.#token.value;
    this.#tokenPending ??= this.#fetchToken().finally(() => (this.#tokenPending = undefined));
    return this.#tokenPending;
  }

  #forgetToken(value: string): void {
    if (this.#token?.value === value) this.#token = undefined;
  }

  async #fetchToken(): Promise<string> {
    const form = new URLSearchParams({ grant_type: 'client_credentials', client_id: this.#options.clientId, client_secret: this.#options.clientSecret });
    const response = await this.#fetchOrFail(`${this.#url}/api/v1/auth/token`, { 'content-type': 'application/x-www-form-urlencoded' }, form.toString());
    const requestId = response.headers.get('x-request-id') ?? undefined;
    const body = (await response.json().catch(() => ({}))) as { access_token?: unknown; expires_in?: unknown; error?: unknown; error_description?: unknown };
    if (!response.ok || typeof body.access_token !== 'string') {
      throw new TetherError(typeof body.error_description === 'string' ? body.error_description : `The token endpoint answered HTTP ${response.status}`, {
        code: 0,
        errorCode: typeof body.error === 'string' ? body.error : 'HTTP_ERROR',
        status: response.status,
        requestId,
      });
    }
    const lifetime = typeof body.expires_in === 'number' ? body.expires_in : 3600;
    // At least a second: a JWT's exp counts whole seconds, so a token can end up to a second early.
    const margin = this.#options.renewBefore ?? Math.min(60, Math.max(1, lifetime / 10));
    this.#token = { value: body.access_token, renewAt: Date.now() + Math.max(0, lifetime - margin) * 1000 };
    return body.access_token;
  }

  // ---- HTTP ----

  #request(id: number, method: string, params: object, sessionId: string | undefined) {
    return { jsonrpc: '2.0', id, method, params: sessionId === undefined ? params : { ...params, session_id: sessionId } };
  }

  #headers(): Record<string, string> {
    const headers: Record<string, string> = {
      'user-agent': this.#options.userAgent ?? 'TetherClient/0.1.0',
      'accept-language': this.#options.acceptLanguage ?? 'en',
    };
    if (this.#options.clientFingerprint !== undefined) headers['x-client-fingerprint'] = this.#options.clientFingerprint;
    return headers;
  }

  async #fetchOrFail(url: string, headers: Record<string, string>, body: string): Promise<Response> {
    try {
      return await this.#fetch(url, { method: 'POST', headers: { ...this.#headers(), ...headers }, body });
    } catch (error) {
      throw new TetherError(`Tether could not be reached: ${(error as Error).message}`, { code: 0, errorCode: 'NETWORK_ERROR', status: 0 });
    }
  }

  /** POST /jsonrpc; answers the parsed body, or raises for an answer that is not JSON-RPC (413, 415...). */
  async #post(body: unknown, token: string): Promise<{ parsed: unknown; requestId: string | undefined }> {
    const response = await this.#fetchOrFail(`${this.#url}/jsonrpc`, { 'content-type': 'application/json', authorization: `Bearer ${token}` }, JSON.stringify(body));
    const requestId = response.headers.get('x-request-id') ?? undefined;
    const text = await response.text();
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new TetherError(`Tether answered HTTP ${response.status} without JSON-RPC`, { code: 0, errorCode: 'HTTP_ERROR', status: response.status, requestId });
    }
    return { parsed, requestId };
  }

  async #postOne(request: object, token: string): Promise<{ answer: RpcAnswer; requestId: string | undefined }> {
    const { parsed, requestId } = await this.#post(request, token);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new TetherError('Tether answered something that is not a JSON-RPC response', { code: 0, errorCode: 'HTTP_ERROR', status: 0, requestId });
    }
    return { answer: parsed as RpcAnswer, requestId };
  }

  /** Answers by id; a single answer to the whole batch (e.g. the batch refused) stands for every element as '*'. */
  async #postBatch(requests: object[], token: string): Promise<{ answers: Map<unknown, RpcAnswer>; requestId: string | undefined }> {
    const { parsed, requestId } = await this.#post(requests, token);
    const answers = new Map<unknown, RpcAnswer>();
    if (Array.isArray(parsed)) for (const answer of parsed as RpcAnswer[]) answers.set(answer.id, answer);
    else if (typeof parsed === 'object' && parsed !== null) answers.set('*', parsed as RpcAnswer);
    return { answers, requestId };
  }
}
