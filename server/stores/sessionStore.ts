// api_sessions: the source of truth for sessions. Keyed by the SHA-256 of the session id.
import type { Sql } from './database.ts';

export type EndReason = 'idle' | 'absolute' | 'logout' | 'revoked' | 'cap' | 'user_disabled' | 'password_changed' | 'password_reset' | 'reauthenticated';


export interface SessionRow {
  id: number;
  session_hash: string;
  user_id: number;
  client_id: string;
  security_token: string | null;
  ip: string;
  user_agent: string;
  accept_language: string;
  client_fingerprint: string | null;
  login_at: Date;
  last_activity: Date;
  expires_at: Date;
  logout_at: Date | null;
  is_active: boolean;
  end_reason: EndReason | null;
  ended_at: Date | null;
  password_proved_at: Date;
}

/** A session row with what validation needs of its user. */
export interface SessionWithUser extends SessionRow {
  login: string;
  name: string;
  is_admin: boolean;
  user_active: boolean;
  /** The change log's head in the same snapshot: every change up to it is in this row. */
  log_pos: number;
}

export interface NewSession {
  hash: string;
  /** The session id's first 8 characters: what its events show (sql/015). */
  idPrefix: string;
  userId: number;
  clientId: string;
  securityToken: string;
  ip: string;
  userAgent: string;
  acceptLanguage: string;
  clientFingerprint?: string;
  loginAt: Date;
  expiresAt: Date;
  /** The password hash the login verified: the session opens only while it is still the user's. */
  passwordHash: string;
}

/** Why a session could not be opened. */
export type NotOpened = 'inactive' | 'password_changed';

const numeric = <T extends { id: number; user_id: number }>(r: T): T => ({ ...r, id: Number(r.id), user_id: Number(r.user_id) });

export function sessionStore(sql: Sql) {
  const endWhere = async (reason: EndReason, condition: ReturnType<Sql>): Promise<string[]> => {
    const rows = await sql<{ session_hash: string }[]>`
      update api_sessions
         set is_active = false, end_reason = ${reason}, ended_at = now(), logout_at = case when ${reason} = 'logout' then now() else logout_at end
       where is_active and ${condition}
       returning session_hash`;
    return rows.map((r) => r.session_hash);
  };

  return {
    /**
     * Opens a session in one transaction: the user's row is locked and must still be active and still
     * hold the password hash the login verified (else no session: a login racing a disable, or a
     * password change or reset, never leaves a session opened with the old state behind), the row is
     * inserted, and the user's oldest sessions beyond `cap` are ended. Logins of one user are
     * serialised by the lock, so concurrent logins never leave more than `cap` active sessions.
     */
    async open(s: NewSession, cap: number): Promise<{ id: number; capped: string[] } | NotOpened> {
      return sql.begin(async (tx) => {
        const [user] = await tx<{ is_active: boolean; same: boolean }[]>`
          select is_active, password_hash = ${s.passwordHash} as same from users where id = ${s.userId} for update`;
        if (!user?.is_active) return 'inactive';
        if (!user.same) return 'password_changed';
        const [row] = await tx<{ id: number }[]>`
          insert into api_sessions (session_hash, id_prefix, user_id, client_id, security_token, ip, user_agent, accept_language,
                                    client_fingerprint, login_at, last_activity, expires_at)
          values (${s.hash}, ${s.idPrefix}, ${s.userId}, ${s.clientId}, ${s.securityToken}, ${s.ip}, ${s.userAgent}, ${s.acceptLanguage},
                  ${s.clientFingerprint ?? null}, ${s.loginAt}, ${s.loginAt}, ${s.expiresAt})
          returning id`;
        const capped = await tx<{ session_hash: string }[]>`
          update api_sessions set is_active = false, end_reason = 'cap', ended_at = now()
           where id in (select id from api_sessions where user_id = ${s.userId} and is_active
                         order by login_at desc, id desc offset ${cap})
          returning session_hash`;
        return { id: Number(row.id), capped: capped.map((r) => r.session_hash) };
      }) as Promise<{ id: number; capped: string[] } | NotOpened>;
    },

    async findByHash(hash: string): Promise<SessionWithUser | undefined> {
      const [row] = await sql<SessionWithUser[]>`
        select s.*, u.login, u.name, u.is_admin, u.is_active as user_active,
               (select coalesce(max(pos), 0) from cache_changes)::float8 as log_pos
          from api_sessions s join users u on u.id = s.user_id
         where s.session_hash = ${hash}`;
      return row && numeric(row);
    },

    async touch(hash: string, at: Date): Promise<void> {
      await sql`update api_sessions set last_activity = ${at} where session_hash = ${hash} and is_active and last_activity < ${at}`;
    },

    /** Many sessions' keep-alives in one statement (activityWriter.ts): each row's time in seconds since the epoch. */
    async touchMany(hashes: string[], seconds: number[]): Promise<void> {
      await sql`
        update api_sessions s set last_activity = to_timestamp(v.at)
          from unnest(${hashes}::text[], ${seconds}::float8[]) as v(hash, at)
         where s.session_hash = v.hash and s.is_active and s.last_activity < to_timestamp(v.at)`;
    },

    /** Ends one session; answers whether it was active. */
    async end(hash: string, reason: EndReason): Promise<boolean> {
      return (await endWhere(reason, sql`session_hash = ${hash}`)).length > 0;
    },

    /** Ends one session by row id, optionally only if it belongs to userId; answers its hash (ended now or before) and whether it was active. */
    async endById(id: number, reason: EndReason, userId?: number): Promise<{ hash: string; ended: boolean } | undefined> {
      const owner = userId === undefined ? sql`true` : sql`user_id = ${userId}`;
      const [ended] = await endWhere(reason, sql`id = ${id} and ${owner}`);
      if (ended) return { hash: ended, ended: true };
      const [row] = await sql<{ session_hash: string }[]>`select session_hash from api_sessions where id = ${id} and ${owner} and expires_at > now()`;
      return row && { hash: row.session_hash, ended: false };
    },

    /**
     * Ends every active session of a user but one (or all); answers the hashes ended. Only live rows
     * are touched (the partial index on active rows), never the user's history: the change log, not a
     * rewrite of old tombstones, keeps every cache right.
     */
    async endOfUser(userId: number, reason: EndReason, exceptHash = ''): Promise<string[]> {
      return endWhere(reason, sql`user_id = ${userId} and session_hash <> ${exceptHash}`);
    },

    async countActive(idleSeconds: number): Promise<number> {
      const [row] = await sql<{ n: number }[]>`
        select count(*)::int as n from api_sessions
         where is_active and expires_at > now() and last_activity > now() - make_interval(secs => ${idleSeconds})`;
      return row.n;
    },

    /** The sweeper: ends sessions past their absolute end, then those idle too long; answers the hashes by reason. */
    async endExpired(idleSeconds: number, limit = 1000): Promise<{ absolute: string[]; idle: string[] }> {
      const absolute = await endWhere('absolute', sql`id in (select id from api_sessions where is_active and expires_at <= now() limit ${limit})`);
      const idle = await endWhere(
        'idle',
        sql`id in (select id from api_sessions where is_active and last_activity < now() - make_interval(secs => ${idleSeconds}) limit ${limit})`,
      );
      return { absolute, idle };
    },

    /** Retention: deletes sessions that ended before `before`; answers how many. */
    async deleteEndedBefore(before: Date, limit = 5000): Promise<number> {
      const rows = await sql`
        delete from api_sessions where id in (
          select id from api_sessions where not is_active and ended_at < ${before} limit ${limit})`;
      return rows.count;
    },

    async listActive(filter: { userId?: number; limit: number; offset: number }): Promise<(SessionRow & { login: string })[]> {
      const user = filter.userId === undefined ? sql`true` : sql`s.user_id = ${filter.userId}`;
      const rows = await sql<(SessionRow & { login: string })[]>`
        select s.*, u.login from api_sessions s join users u on u.id = s.user_id
         where s.is_active and s.expires_at > now() and ${user}
         order by s.login_at desc, s.id desc
         limit ${filter.limit} offset ${filter.offset}`;
      return rows.map(numeric);
    },
  };
}

export type SessionStore = ReturnType<typeof sessionStore>;
