// OAuth clients and revoked access tokens. Client secrets are 256-bit random strings, so SHA-256 is
// enough to store them; comparison is constant-time. A change of a client's state (active, scopes) or
// a token revocation is committed (a trigger appends it to the change log), then `afterChange` brings
// the cache up to the log before the change is answered (cache/changeLog.ts).
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Sql } from './database.ts';
import type { ClientState } from '../cache/stateCache.ts';

export interface ClientRow {
  id: string;
  name: string;
  secret_hash: string;
  scopes: string[];
  is_active: boolean;
  created_at: Date;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest();
const DUMMY_HASH = sha256('tether-no-such-client').toString('hex');

export function clientStore(sql: Sql, afterChange: () => Promise<void>) {
  const changed = async (row: ClientRow | undefined): Promise<ClientRow | undefined> => {
    if (row) await afterChange();
    return row;
  };
  return {
    /** Creates a client; the secret is returned once and never stored. */
    async create(name: string, scopes: string[] = []): Promise<{ client: ClientRow; secret: string }> {
      const id = `cli_${randomBytes(9).toString('base64url')}`;
      const secret = `tsec_${randomBytes(32).toString('base64url')}`;
      const [client] = await sql<ClientRow[]>`
        insert into oauth_clients (id, name, secret_hash, scopes)
        values (${id}, ${name}, ${sha256(secret).toString('hex')}, ${sql.array(scopes)})
        returning *`;
      return { client, secret };
    },
    /** A new secret, answered once; the old one stops working at once (tokens already issued live to their expiry). */
    async rotateSecret(id: string): Promise<{ client: ClientRow; secret: string } | undefined> {
      const secret = `tsec_${randomBytes(32).toString('base64url')}`;
      const [client] = await sql<ClientRow[]>`update oauth_clients set secret_hash = ${sha256(secret).toString('hex')} where id = ${id} returning *`;
      return client ? { client, secret } : undefined;
    },
    async find(id: string): Promise<ClientRow | undefined> {
      const [row] = await sql<ClientRow[]>`select * from oauth_clients where id = ${id}`;
      return row;
    },
    /** The client when id and secret match (same work whether or not the id exists). */
    async authenticate(id: string, secret: string): Promise<ClientRow | undefined> {
      const [row] = await sql<ClientRow[]>`select * from oauth_clients where id = ${id}`;
      const stored = Buffer.from(row?.secret_hash ?? DUMMY_HASH, 'hex');
      const same = timingSafeEqual(stored, sha256(secret));
      return row && same ? row : undefined;
    },
    async list(): Promise<ClientRow[]> {
      return sql<ClientRow[]>`select * from oauth_clients order by created_at, id`;
    },
    async setActive(id: string, active: boolean): Promise<ClientRow | undefined> {
      const [row] = await sql<ClientRow[]>`update oauth_clients set is_active = ${active} where id = ${id} returning *`;
      return changed(row);
    },
    async setScopes(id: string, scopes: string[]): Promise<ClientRow | undefined> {
      const [row] = await sql<ClientRow[]>`update oauth_clients set scopes = ${sql.array(scopes)} where id = ${id} returning *`;
      return changed(row);
    },
    /** What a bearer check needs when the cache has not got it: the client's state, and whether this token id is revoked. */
    async tokenStatus(clientId: string, jti: string): Promise<ClientState & { revoked: boolean }> {
      const [row] = await sql<{ active: boolean | null; scopes: string[] | null; revoked: boolean }[]>`
        select c.is_active as active, c.scopes, exists (select 1 from revoked_tokens where jti = ${jti}) as revoked
          from (select 1) one left join oauth_clients c on c.id = ${clientId}`;
      return { active: row?.active === true, scopes: row?.scopes ?? [], revoked: row?.revoked === true };
    },
    async revokeToken(jti: string, clientId: string, expiresAt: Date): Promise<void> {
      await sql`insert into revoked_tokens (jti, client_id, expires_at) values (${jti}, ${clientId}, ${expiresAt}) on conflict (jti) do nothing`;
      await afterChange();
    },
  };
}

export type ClientStore = ReturnType<typeof clientStore>;
