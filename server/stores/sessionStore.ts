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
}

export interface NewSession {
  hash: string;
  userId: number;
  clientId: string;
  securityToken: string;
  ip: string;
  userAgent: string;
  acceptLanguage: string;
  clientFingerprint?: string;
  loginAt: Date;
  expiresAt: Date;
}

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
    async insert(s: NewSession): Promise<number> {
      const [row] = await sql<{ id: number }[]>`
        insert into api_sessions (session_hash, user_id, client_id, security_token, ip, user_agent, accept_language,
                                  client_fingerprint, login_at, last_activity, expires_at)
        values (${s.hash}, ${s.userId}, ${s.clientId}, ${s.securityToken}, ${s.ip}, ${s.userAgent}, ${s.acceptLanguage},
                ${s.clientFingerprint ?? null}, ${s.loginAt}, ${s.loginAt}, ${s.expiresAt})
        returning id`;
      return Number(row.id);
    },

    async findByHash(hash: string): Promise<SessionWithUser | undefined> {
      const [row] = await sql<SessionWithUser[]>`
        select s.*, u.login, u.name, u.is_admin, u.is_active as user_active
          from api_sessions s join users u on u.id = s.user_id
         where s.session_hash = ${hash}`;
      return row && numeric(row);
    },

    async touch(hash: string, at: Date): Promise<void> {
      await sql`update api_sessions set last_activity = ${at} where session_hash = ${hash} and is_active and last_activity < ${at}`;
    },

    /** Ends one session; answers whether it was active. */
    async end(hash: string, reason: EndReason): Promise<boolean> {
      return (await endWhere(reason, sql`session_hash = ${hash}`)).length > 0;
    },

    /** Ends one session by row id, optionally only if it belongs to userId; answers its hash. */
    async endById(id: number, reason: EndReason, userId?: number): Promise<string | undefined> {
      const owner = userId === undefined ? sql`true` : sql`user_id = ${userId}`;
      return (await endWhere(reason, sql`id = ${id} and ${owner}`))[0];
    },

    async endOthers(userId: number, exceptHash: string, reason: EndReason): Promise<string[]> {
      return endWhere(reason, sql`user_id = ${userId} and session_hash <> ${exceptHash}`);
    },

    async endAllOfUser(userId: number, reason: EndReason): Promise<string[]> {
      return endWhere(reason, sql`user_id = ${userId}`);
    },

    /** Ends the oldest active sessions of a user beyond `cap`. */
    async endBeyondCap(userId: number, cap: number): Promise<string[]> {
      return endWhere(
        'cap',
        sql`id in (select id from api_sessions where user_id = ${userId} and is_active
                    order by login_at desc, id desc offset ${cap})`,
      );
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
