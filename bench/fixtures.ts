// What the benchmark needs in Tether's stores: a client and its bearer token, a user with a known
// password, and sessions in bulk. Sessions are inserted with SQL (a real security token each, the
// fingerprint the load generator sends), so 100 thousand take seconds instead of 100 thousand logins.
import { randomBytes } from 'node:crypto';
import postgres from 'postgres';
import { deriveKeys } from '../server/auth/keys.ts';
import { signAccessToken } from '../server/auth/accessTokens.ts';
import { hashPassword } from '../server/auth/passwords.ts';
import { hashOf, newSessionId } from '../server/sessions/sessionId.ts';
import { signSecurityToken } from '../server/sessions/securityToken.ts';
import { migrate } from '../server/stores/migrate.ts';
import { clientStore } from '../server/stores/clientStore.ts';
import { userStore } from '../server/stores/userStore.ts';
import type { Sql } from '../server/stores/database.ts';

export const BENCH_UA = 'tether-bench/1.0';
export const BENCH_LANG = 'en';
export const BENCH_IP = '127.0.0.1';

export interface BenchWorld {
  sql: Sql;
  token: string;
  clientId: string;
  userId: number;
  login: string;
  password: string;
  /** Opens `count` sessions for the bench user; answers their ids. */
  openSessions(count: number): Promise<string[]>;
  /** Adds ended sessions (other users' history) until api_sessions holds `total` rows. */
  fillSessionsTo(total: number): Promise<number>;
  /** Adds active agents (by the bench user, past any per-user limit: straight SQL) until the table holds `total`. */
  fillAgentsTo(total: number): Promise<number>;
  close(): Promise<void>;
}

/** Recreates the bench database from scratch, so every run starts from the same state. */
export async function freshDatabase(adminUrl: string, name: string): Promise<string> {
  const admin = postgres(adminUrl, { onnotice: () => {}, max: 1 });
  await admin.unsafe(`drop database if exists ${name} with (force)`);
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

export async function benchWorld(databaseUrl: string, jwtSecret: string, lifetimeSeconds = 86400): Promise<BenchWorld> {
  const sql = postgres(databaseUrl, { onnotice: () => {}, max: 4, transform: { undefined: null } }) as unknown as Sql;
  await migrate(sql);
  const keys = deriveKeys(jwtSecret);
  // Created before any server runs: no cache holds their state yet.
  const uncached = async () => {};
  const { client } = await clientStore(sql, uncached).create('bench', ['admin']);
  const clientId = client.id;
  const login = `bench_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('base64url');
  const user = await userStore(sql, uncached).create({ login, passwordHash: await hashPassword(password), name: 'Bench' });
  const userId = Number(user.id);
  const { token } = signAccessToken(keys.access, clientId, ['admin'], lifetimeSeconds);

  return {
    sql,
    token,
    clientId,
    userId,
    login,
    password,
    async openSessions(count) {
      const ids: string[] = [];
      for (let done = 0; done < count; ) {
        const chunk = Math.min(5000, count - done);
        const rows = Array.from({ length: chunk }, () => {
          const id = newSessionId();
          ids.push(id);
          const hash = hashOf(id);
          const fingerprint = { ip: BENCH_IP, ua: BENCH_UA, lang: BENCH_LANG };
          return {
            session_hash: hash,
            user_id: userId,
            client_id: clientId,
            security_token: signSecurityToken(keys.session, { uid: userId, sid: hash, cid: clientId, fingerprint }, lifetimeSeconds),
            ip: BENCH_IP,
            user_agent: BENCH_UA,
            accept_language: BENCH_LANG,
            expires_at: new Date(Date.now() + lifetimeSeconds * 1000),
          };
        });
        await sql`insert into api_sessions ${sql(rows as never, 'session_hash', 'user_id', 'client_id', 'security_token', 'ip', 'user_agent', 'accept_language', 'expires_at')}`;
        done += chunk;
      }
      return ids;
    },
    async fillSessionsTo(total) {
      const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from api_sessions`;
      if (n >= total) return n;
      await sql`
        insert into api_sessions (session_hash, user_id, client_id, security_token, login_at, last_activity, expires_at, logout_at, is_active, end_reason, ended_at)
        select md5(random()::text || g::text) || md5(g::text || random()::text), ${userId}, ${clientId}, null,
               now() - interval '2 days', now() - interval '2 days', now() - interval '1 day', now() - interval '2 days', false, 'logout', now() - interval '2 days'
          from generate_series(1, ${total - n}) g`;
      await sql`analyze api_sessions`;
      return total;
    },
    async fillAgentsTo(total) {
      const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from agents`;
      if (n >= total) return n;
      await sql`
        insert into agents (name, description, created_by)
        select 'agent ' || g, 'made by the bench', ${userId} from generate_series(${n + 1}::int, ${total}::int) g`;
      await sql`vacuum analyze agents`;
      return total;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}
