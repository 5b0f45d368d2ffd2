// users: who may log in. Logins match case-insensitively. A change of a user's state (active, admin)
// is committed (a trigger appends it to the change log), then `afterChange` brings the cache up to the
// log before the change is answered (cache/changeLog.ts).
import type { Sql } from './database.ts';
import type { UserState } from '../cache/stateCache.ts';

export interface UserRow {
  id: number;
  login: string;
  password_hash: string;
  name: string;
  is_admin: boolean;
  is_active: boolean;
  created_at: Date;
}

export type PublicUser = Pick<UserRow, 'id' | 'login' | 'name' | 'is_admin'>;

export const publicUser = (u: PublicUser): PublicUser => ({ id: Number(u.id), login: u.login, name: u.name, is_admin: u.is_admin });

export function userStore(sql: Sql, afterChange: () => Promise<void>) {
  const changed = async (row: UserRow | undefined): Promise<UserRow | undefined> => {
    if (!row) return undefined;
    await afterChange();
    return { ...row, id: Number(row.id) };
  };
  return {
    /** What every call checks of a user; undefined when there is no such user. */
    async stateOf(id: number): Promise<UserState | undefined> {
      const [row] = await sql<{ is_active: boolean; is_admin: boolean }[]>`select is_active, is_admin from users where id = ${id}`;
      return row && { active: row.is_active, admin: row.is_admin };
    },
    async findByLogin(login: string): Promise<UserRow | undefined> {
      const [row] = await sql<UserRow[]>`select * from users where lower(login) = lower(${login})`;
      return row && { ...row, id: Number(row.id) };
    },
    /** The user a login names (if any), with the login as PostgreSQL lowers it: the lookup's own rule. */
    async findForLogin(login: string): Promise<{ lowered: string; user: UserRow | undefined }> {
      const [row] = await sql<(Omit<UserRow, 'id'> & { id: number | null; lowered: string })[]>`
        select lower(${login}) as lowered, u.* from (select 1) one left join users u on lower(u.login) = lower(${login})`;
      const { lowered, ...user } = row;
      return { lowered, user: user.id === null ? undefined : ({ ...user, id: Number(user.id) } as UserRow) };
    },
    async findById(id: number): Promise<UserRow | undefined> {
      const [row] = await sql<UserRow[]>`select * from users where id = ${id}`;
      return row && { ...row, id: Number(row.id) };
    },
    async create(user: { login: string; passwordHash: string; name?: string; isAdmin?: boolean }): Promise<UserRow> {
      const [row] = await sql<UserRow[]>`
        insert into users (login, password_hash, name, is_admin)
        values (${user.login}, ${user.passwordHash}, ${user.name ?? ''}, ${user.isAdmin ?? false})
        returning *`;
      return { ...row, id: Number(row.id) };
    },
    async list(): Promise<UserRow[]> {
      const rows = await sql<UserRow[]>`select * from users order by id`;
      return rows.map((r) => ({ ...r, id: Number(r.id) }));
    },
    /** A page of users by id, for administration. */
    async listPage(page: { limit: number; offset: number }): Promise<UserRow[]> {
      const rows = await sql<UserRow[]>`select * from users order by id limit ${page.limit} offset ${page.offset}`;
      return rows.map((r) => ({ ...r, id: Number(r.id) }));
    },
    async setActiveById(id: number, active: boolean): Promise<UserRow | undefined> {
      const [row] = await sql<UserRow[]>`update users set is_active = ${active}, updated_at = now() where id = ${id} returning *`;
      return changed(row);
    },
    /**
     * Stores a new password hash. With `replacing`, only if the stored hash is still that one (a
     * compare-and-set: of two changes checked against the same current password, one wins); answers
     * whether a row changed.
     */
    async setPasswordHash(id: number, passwordHash: string, replacing?: string): Promise<boolean> {
      const current = replacing === undefined ? sql`true` : sql`password_hash = ${replacing}`;
      const rows = await sql`update users set password_hash = ${passwordHash}, updated_at = now() where id = ${id} and ${current}`;
      return rows.count > 0;
    },
    async setActive(login: string, active: boolean): Promise<UserRow | undefined> {
      const [row] = await sql<UserRow[]>`
        update users set is_active = ${active}, updated_at = now() where lower(login) = lower(${login}) returning *`;
      return changed(row);
    },
    async setAdmin(login: string, admin: boolean): Promise<UserRow | undefined> {
      const [row] = await sql<UserRow[]>`
        update users set is_admin = ${admin}, updated_at = now() where lower(login) = lower(${login}) returning *`;
      return changed(row);
    },
  };
}

export type UserStore = ReturnType<typeof userStore>;
