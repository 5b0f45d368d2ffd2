// users: who may log in. Logins match case-insensitively.
import type { Sql } from './database.ts';

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

export function userStore(sql: Sql) {
  return {
    async findByLogin(login: string): Promise<UserRow | undefined> {
      const [row] = await sql<UserRow[]>`select * from users where lower(login) = lower(${login})`;
      return row && { ...row, id: Number(row.id) };
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
      return row && { ...row, id: Number(row.id) };
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
      return row && { ...row, id: Number(row.id) };
    },
  };
}

export type UserStore = ReturnType<typeof userStore>;
