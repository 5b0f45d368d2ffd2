// One database contract, run against real PostgreSQL (DATABASE_URL when set, else a throwaway
// server, so the real half always runs) and against the embedded PGlite (no DATABASE_URL, a temp
// DATA_DIR): migrations, types, transactions and parameters behave the same on both.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { openDatabase, type Database } from '../../server/stores/database.ts';
import { migrate } from '../../server/stores/migrate.ts';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway.ts';

const SQL_FILES = readdirSync(fileURLToPath(new URL('../../sql/', import.meta.url)))
  .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
  .sort();

const TABLES = ['users', 'oauth_clients', 'revoked_tokens', 'api_sessions', 'agents', 'api_access_log'];

interface Target {
  db: Database;
  /** The database was empty before this run (so this run's migrate applies every file). */
  fresh: boolean;
  done(): Promise<void>;
}

function databaseContract(name: string, open: () => Promise<Target>) {
  const s = suite(`database contract: ${name}`);
  // A table of this run's own: the shared PostgreSQL is used by other test runs at the same time.
  const table = `contract_${process.pid}_${randomBytes(4).toString('hex')}`;
  let target: Target;
  let applied: string[];

  s.before(async () => {
    target = await open();
    applied = await migrate(target.db.sql);
    const { sql } = target.db;
    await sql`create table ${sql(table)} (id serial primary key, label text not null unique, at timestamptz, tags text[])`;
  });
  s.after(async () => {
    if (!target) return;
    await target.db.sql`drop table if exists ${target.db.sql(table)}`.catch(() => {});
    await target.db.close();
    await target.done();
  });

  s('migrate applies every sql/ file, recorded once each, in file order', async () => {
    if (target.fresh) assert.equal(applied, SQL_FILES, 'a fresh database gets every migration');
    else for (const file of applied) assert.ok(SQL_FILES.includes(file), `applied an unknown file ${file}`);
    const rows = await target.db.sql<{ name: string }[]>`select name from schema_migrations order by applied_at, name`;
    const names = rows.map((r) => r.name).filter((n) => /^\d{3}_/.test(n));
    // Every file once; applied_at follows the file order.
    assert.equal(names, SQL_FILES);
  });

  s('migrate again applies nothing and changes nothing', async () => {
    const before = await target.db.sql`select name, applied_at from schema_migrations order by name`;
    assert.equal(await migrate(target.db.sql), []);
    const after = await target.db.sql`select name, applied_at from schema_migrations order by name`;
    assert.equal(
      after.map((r) => [r.name, (r.applied_at as Date).toISOString()]),
      before.map((r) => [r.name, (r.applied_at as Date).toISOString()]),
    );
  });

  s('the product tables exist', async () => {
    const rows = await target.db.sql<{ table_name: string }[]>`
      select table_name from information_schema.tables
      where table_schema = current_schema() and table_name in ${target.db.sql(TABLES)}`;
    assert.equal(rows.map((r) => r.table_name).sort(), [...TABLES].sort());
    // The columns the code relies on, spot-checked with their types.
    const cols = await target.db.sql<{ table_name: string; column_name: string; data_type: string }[]>`
      select table_name, column_name, data_type from information_schema.columns
      where table_schema = current_schema()
        and (table_name, column_name) in (('api_sessions', 'expires_at'), ('api_access_log', 'event_id'), ('oauth_clients', 'scopes'))
      order by table_name`;
    assert.equal(
      cols.map((c) => `${c.table_name}.${c.column_name}:${c.data_type}`),
      ['api_access_log.event_id:uuid', 'api_sessions.expires_at:timestamp with time zone', 'oauth_clients.scopes:ARRAY'],
    );
  });

  s('timestamptz round-trips to the millisecond, whatever the session time zone', async () => {
    const { sql } = target.db;
    const instants = [new Date('2024-03-31T01:30:00.123Z'), new Date('1999-12-31T23:59:59.999Z'), new Date(0), new Date('2038-01-19T03:14:08.001Z')];
    for (const [i, at] of instants.entries()) await sql`insert into ${sql(table)} (label, at) values (${'ts' + i}, ${at})`;
    const rows = await sql<{ label: string; at: Date }[]>`select label, at from ${sql(table)} where label like 'ts%' order by label`;
    assert.equal(
      rows.map((r) => r.at.toISOString()),
      instants.map((d) => d.toISOString()),
    );
    assert.ok(rows.every((r) => r.at instanceof Date), 'timestamptz is not read as a Date');
    // A session in another zone writes and reads the same instants.
    const seen = await sql.begin(async (tx) => {
      await tx`set local time zone 'Pacific/Chatham'`;
      await tx`insert into ${sql(table)} (label, at) values ('tz-chatham', ${instants[0]})`;
      const [zone] = await tx`show time zone`;
      const [row] = await tx<{ at: Date; same: boolean }[]>`
        select at, at = '2024-03-31T01:30:00.123Z'::timestamptz as same from ${sql(table)} where label = 'tz-chatham'`;
      return { zone: zone.TimeZone as string, ...row };
    });
    assert.is(seen.zone, 'Pacific/Chatham');
    assert.is(seen.at.toISOString(), instants[0].toISOString());
    assert.is(seen.same, true);
    // The server's now() and the client's clock agree on what an instant is (within a generous minute).
    const [{ now }] = await sql<{ now: Date }[]>`select now() as now`;
    assert.ok(Math.abs(now.getTime() - Date.now()) < 60_000, `server now() ${now.toISOString()} is not this instant`);
  });

  s('a transaction that throws rolls back everything it wrote', async () => {
    const { sql } = target.db;
    const boom = new Error('boom');
    const thrown = await sql
      .begin(async (tx) => {
        await tx`insert into ${sql(table)} (label) values ('tx-a')`;
        await tx`insert into ${sql(table)} (label) values ('tx-b')`;
        throw boom;
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    assert.is(thrown, boom, 'sql.begin did not reject with the callback error');
    // An SQL error (a unique violation) half-way rolls back the earlier insert as well.
    await sql`insert into ${sql(table)} (label) values ('tx-existing')`;
    const failed = await sql
      .begin(async (tx) => {
        await tx`insert into ${sql(table)} (label) values ('tx-c')`;
        await tx`insert into ${sql(table)} (label) values ('tx-existing')`;
      })
      .then(
        () => undefined,
        (err: { code?: string }) => err,
      );
    assert.is(failed?.code, '23505', 'the duplicate did not fail with unique_violation');
    const rows = await sql<{ label: string }[]>`select label from ${sql(table)} where label like 'tx-%' order by label`;
    assert.equal(
      rows.map((r) => r.label),
      ['tx-existing'],
    );
    // And a transaction that returns commits, and answers its value.
    const answer = await sql.begin(async (tx) => {
      await tx`insert into ${sql(table)} (label) values ('tx-ok')`;
      return 42;
    });
    assert.is(answer, 42);
    const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(table)} where label = 'tx-ok'`;
    assert.is(n, 1);
    // The connection is usable after the failed transactions.
    const [{ one }] = await sql<{ one: number }[]>`select 1 as one`;
    assert.is(one, 1);
  });

  s('parameters with SQL metacharacters are stored and matched verbatim', async () => {
    const { sql } = target.db;
    const nasty = [
      `'; drop table ${table}; --`,
      `Robert'); DROP TABLE users;--`,
      `"double" and 'single' quotes`,
      `back\\slash \\' \\\\ E'\\x41'`,
      `$1 $2 $$ dollar $$ ?`,
      `100% _under_ %_ like wildcards`,
      `{braces,"and",NULL} , commas`,
      `/* comment */ -- line`,
      `unicode é 中文 🎉 \u200b zero-width`,
      `line\nbreak\r\ttab`,
      ``,
    ];
    for (const [i, label] of nasty.entries()) {
      await sql`insert into ${sql(table)} (label, tags) values (${'meta' + i + ':' + label}, ${sql.array([label, 'NULL', ',', '{}', '"'])})`;
    }
    for (const [i, label] of nasty.entries()) {
      const rows = await sql<{ label: string; tags: string[] }[]>`select label, tags from ${sql(table)} where label = ${'meta' + i + ':' + label}`;
      assert.is(rows.length, 1, `no exact match for ${JSON.stringify(label)}`);
      assert.is(rows[0].label, 'meta' + i + ':' + label);
      assert.equal(rows[0].tags, [label, 'NULL', ',', '{}', '"']);
    }
    // A wildcard passed as a parameter to = matches only itself.
    const [{ n }] = await sql<{ n: number }[]>`select count(*)::int as n from ${sql(table)} where label = ${'%'}`;
    assert.is(n, 0);
    // Nothing was executed: the table and the product tables are still there.
    const [{ exists }] = await sql<{ exists: boolean }[]>`select to_regclass(${table}) is not null and to_regclass('users') is not null as exists`;
    assert.is(exists, true);
  });

  s.run();
}

databaseContract(process.env.DATABASE_URL ? 'PostgreSQL (DATABASE_URL)' : 'PostgreSQL (throwaway server)', async () => {
  if (process.env.DATABASE_URL) {
    const db = await openDatabase({ databaseUrl: process.env.DATABASE_URL, dataDir: tmpdir() });
    assert.is(db.kind, 'postgres');
    return { db, fresh: false, done: async () => {} };
  }
  const pg: ThrowawayPostgres = await startThrowawayPostgres();
  const db = await openDatabase({ databaseUrl: pg.url, dataDir: tmpdir() });
  assert.is(db.kind, 'postgres');
  return { db, fresh: true, done: () => pg.stop() };
});

databaseContract('PGlite (embedded)', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tether-dbcontract-'));
  const db = await openDatabase({ databaseUrl: undefined, dataDir });
  assert.is(db.kind, 'embedded');
  return { db, fresh: true, done: async () => rmSync(dataDir, { recursive: true, force: true }) };
});
