// Applies sql/NNN_name.sql once each, in order, each in its own transaction, recorded in
// schema_migrations. A transaction-scoped advisory lock makes two processes starting at once safe:
// the second waits, then finds the file applied.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Sql } from './database.ts';

const SQL_DIR = fileURLToPath(new URL('../../sql/', import.meta.url));
const LOCK_KEY = 7_460_501; // any constant shared by every Tether process

export async function migrate(sql: Sql, dir = SQL_DIR): Promise<string[]> {
  // Under the lock too: `create table if not exists` run by two sessions at once fails in one of
  // them (duplicate pg_type row), so a second process waits here instead.
  await sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
    await tx`create table if not exists schema_migrations (name text primary key, applied_at timestamptz not null default now())`;
  });
  const files = (await readdir(dir)).filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f)).sort();
  const applied: string[] = [];
  for (const file of files) {
    const text = await readFile(join(dir, file), 'utf8');
    const done = await sql.begin(async (tx) => {
      await tx`select pg_advisory_xact_lock(${LOCK_KEY})`;
      const [seen] = await tx`select 1 from schema_migrations where name = ${file}`;
      if (seen) return false;
      await tx.unsafe(text);
      await tx`insert into schema_migrations (name) values (${file})`;
      return true;
    });
    if (done) applied.push(file);
  }
  return applied;
}
