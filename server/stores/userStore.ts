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
    /** A new password for an existing user (the demo's, when its credentials file is lost). */
    async setPasswordHash(login: string, passwordHash: string): Promise<UserRow | undefined> {
      const [row] = await sql<UserRow[]>`
        update users set password_hash = ${passwordHash}, updated_at = now() where lower(login) = lower(${login}) returning *`;
      return row && { ...row, id: Number(row.id) };
    },
    async setActive(login: string, active: boolean): Promise<UserRow | undefined> {
      const [row] = await sql<UserRow[]>`
        update users set is_active = ${active}, updated_at = now() where lower(login) = lower(${login}) returning *`;
      return row && { ...row, id: Number(row.id) };
    },
  };
}

export type UserStore = ReturnType<typeof userStore>;
