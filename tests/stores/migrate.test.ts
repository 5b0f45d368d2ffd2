// Migrations on a throwaway PostgreSQL (always: it needs fresh databases): several processes, and
// several independent connections, migrating one fresh database at the same moment each apply every
// file exactly once without an error; a failing migration leaves nothing half-applied.
//
// This file is also its own child process: with MIGRATE_CHILD_URL set it opens that database, waits
// until the parent says go (once every child is connected, so they collide), migrates, prints the
// applied files with when it started and ended, and exits.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';
import { openDatabase, type Database } from '../../server/stores/database.ts';
import { migrate } from '../../server/stores/migrate.ts';
import { startThrowawayPostgres, type ThrowawayPostgres } from '../support/throwaway.ts';

if (process.env.MIGRATE_CHILD_URL) {
  const db = await openDatabase({ databaseUrl: process.env.MIGRATE_CHILD_URL, dataDir: tmpdir() });
  try {
    await db.sql`select 1`; // connected before the start line
    // A barrier, not a clock: say "ready", then wait for the parent's "go" (sent once all are ready).
    process.stdout.write('ready\n');
    await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
    const started = Date.now();
    const applied = await migrate(db.sql);
    process.stdout.write(JSON.stringify({ applied, started, ended: Date.now() }) + '\n');
    process.stdin.destroy();
  } catch (err) {
    process.stdout.write(JSON.stringify({ error: (err as Error).message }) + '\n');
    process.exitCode = 1;
  } finally {
    await db.close();
  }
} else {
  runTests();
}

function runTests() {
  const SELF = fileURLToPath(import.meta.url);
  const SQL_FILES = readdirSync(fileURLToPath(new URL('../../sql/', import.meta.url)))
    .filter((f) => /^\d{3}_[\w-]+\.sql$/.test(f))
    .sort();
  let pg: ThrowawayPostgres;
  let admin: postgres.Sql;
  let dbCount = 0;
  const opened: Database[] = [];
  const temps: string[] = [];

  /** A new, empty database on the throwaway server. */
  async function freshDatabase(): Promise<string> {
    const name = `migrate_${++dbCount}`;
    await admin.unsafe(`create database ${name}`);
    return pg.urlFor(name);
  }
  async function open(url: string): Promise<Database> {
    const db = await openDatabase({ databaseUrl: url, dataDir: tmpdir() });
    opened.push(db);
    return db;
  }
  async function recorded(db: Database): Promise<string[]> {
    const rows = await db.sql<{ name: string }[]>`select name from schema_migrations order by applied_at, name`;
    return rows.map((r) => r.name);
  }
  async function tableExists(db: Database, name: string): Promise<boolean> {
    const [row] = await db.sql<{ present: boolean }[]>`select to_regclass(${name}) is not null as present`;
    return row.present;
  }
  function bounded<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout;
    return Promise.race([
      work.finally(() => clearTimeout(timer)),
      new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: not done within ${ms} ms`)), ms))),
    ]);
  }

  test.before(async () => {
    pg = await startThrowawayPostgres();
    admin = postgres(pg.url, { max: 1, onnotice: () => {} });
  });
  test.after(async () => {
    await Promise.allSettled(opened.map((db) => db.close()));
    await admin?.end({ timeout: 5 });
    await pg?.stop();
    for (const dir of temps) rmSync(dir, { recursive: true, force: true });
  });

  test('four processes migrating one fresh database at the same moment: each file applied once, no error', async () => {
    const url = await freshDatabase();
    const ready: Promise<void>[] = [];
    const spawned: ReturnType<typeof spawn>[] = [];
    const children = Array.from({ length: 4 }, () =>
      bounded(
        45_000,
        'a migrating child',
        new Promise<{ code: number | null; out: string }>((resolve) => {
          const child = spawn(process.execPath, ['--import', 'tsx', SELF], {
            env: { ...process.env, MIGRATE_CHILD_URL: url },
            stdio: ['pipe', 'pipe', 'pipe'],
          });
          spawned.push(child);
          let out = '';
          child.stdout!.on('data', (d) => (out += d));
          ready.push(new Promise((ok) => child.stdout!.on('data', () => out.includes('ready\n') && ok())));
          child.stderr!.on('data', (d) => (out += d));
          child.on('close', (code) => resolve({ code, out }));
        }),
      ),
    );
    await bounded(45_000, 'every child connected', Promise.all(ready));
    for (const child of spawned) child.stdin!.write('go\n');
    const results = await Promise.all(children);
    const applied: string[] = [];
    for (const { code, out } of results) {
      assert.is(code, 0, `a child failed:\n${out}`);
      const line = out.split('\n').find((l) => l.startsWith('{"applied"'));
      assert.ok(line, `a child printed no result:\n${out}`);
      applied.push(...(JSON.parse(line).applied as string[]));
    }
    // They collided: every child had started migrating before the first one finished.
    const spans = results.map(({ out }) => JSON.parse(out.split('\n').find((l) => l.startsWith('{"applied"'))!) as { started: number; ended: number });
    const lastStart = Math.max(...spans.map((x) => x.started));
    const firstEnd = Math.min(...spans.map((x) => x.ended));
    assert.ok(lastStart < firstEnd, `the children did not overlap: ${JSON.stringify(spans)}`);
    // Between them the children applied every file, and no file twice.
    assert.equal([...applied].sort(), SQL_FILES);
    const db = await open(url);
    assert.equal(await recorded(db), SQL_FILES);
    assert.ok(await tableExists(db, 'api_access_log'));
  });

  test('independent connections migrating fresh databases at once, five rounds: each file applied once, no error', async () => {
    for (let round = 0; round < 5; round++) {
      const url = await freshDatabase();
      const dbs = await Promise.all(Array.from({ length: 4 }, () => open(url)));
      const outcomes = await bounded(30_000, 'parallel migrations', Promise.allSettled(dbs.map((db) => migrate(db.sql))));
      const errors = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected').map((o) => String(o.reason?.message ?? o.reason));
      assert.equal(errors, [], `round ${round}: a concurrent migrate failed`);
      const applied = outcomes.flatMap((o) => (o.status === 'fulfilled' ? o.value : []));
      assert.equal(applied.sort(), SQL_FILES, `round ${round}: the files were not applied exactly once between them`);
      assert.equal(await recorded(dbs[0]), SQL_FILES);
      await Promise.all(dbs.map((db) => db.close()));
      opened.splice(0, opened.length, ...opened.filter((db) => !dbs.includes(db)));
    }
  });

  test('a failing migration leaves nothing half-applied; the files after it wait; fixed, it resumes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-migrations-'));
    temps.push(dir);
    writeFileSync(join(dir, '001_ok.sql'), `create table m_ok (id int primary key); insert into m_ok values (1);`);
    const broken = `create table m_half (id int primary key);
      insert into m_half values (1);
      alter table m_ok add column extra text;
      insert into m_ok values (2);
      select 1 / 0;`;
    writeFileSync(join(dir, '002_broken.sql'), broken);
    writeFileSync(join(dir, '003_later.sql'), `create table m_later (id int);`);
    // Names migrate must ignore (they would fail if run).
    writeFileSync(join(dir, '04_short.sql'), `select 1 / 0;`);
    writeFileSync(join(dir, 'notes.txt'), `select 1 / 0;`);
    const url = await freshDatabase();
    const db = await open(url);

    // The directory is given without a trailing slash.
    const failure = await bounded(10_000, 'migrate', migrate(db.sql, dir)).then(
      () => undefined,
      (err: Error) => err,
    );
    assert.ok(failure, 'migrate resolved although 002 fails');
    assert.match(failure.message, /division by zero/);
    assert.equal(await recorded(db), ['001_ok.sql']);
    assert.is(await tableExists(db, 'm_ok'), true);
    assert.is(await tableExists(db, 'm_half'), false, '002 created a table although it failed');
    assert.is(await tableExists(db, 'm_later'), false, '003 ran after 002 failed');
    const okRows = await db.sql`select * from m_ok order by id`;
    assert.equal(
      okRows.map((r) => ({ ...r })),
      [{ id: 1 }],
      '002 changed m_ok although it failed',
    );

    // A second try (another connection, so no lock is left behind) fails the same way, changing nothing.
    const other = await open(url);
    const again = await bounded(10_000, 'migrate again', migrate(other.sql, dir + '/')).then(
      () => undefined,
      (err: Error) => err,
    );
    assert.match(again?.message ?? '', /division by zero/);
    assert.equal(await recorded(db), ['001_ok.sql']);

    // Fixed, the next run applies 002 and 003, and only them.
    writeFileSync(join(dir, '002_broken.sql'), broken.replace('select 1 / 0;', 'select 1;'));
    assert.equal(await bounded(10_000, 'migrate fixed', migrate(db.sql, dir)), ['002_broken.sql', '003_later.sql']);
    assert.equal(await recorded(db), ['001_ok.sql', '002_broken.sql', '003_later.sql']);
    assert.is(await tableExists(db, 'm_half'), true);
    assert.is(await tableExists(db, 'm_later'), true);
    assert.is(await tableExists(db, 'schema_migrations'), true);
    assert.is(await tableExists(db, 'users'), false, 'the product migrations ran from another directory');
  });

  test('a failing migration hit by two connections at once: both fail, nothing half-applied', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'tether-migrations-'));
    temps.push(dir);
    writeFileSync(join(dir, '001_ok.sql'), `create table p_ok (id int);`);
    writeFileSync(join(dir, '002_broken.sql'), `create table p_half (id int); insert into p_half values ('not a number');`);
    const url = await freshDatabase();
    const [a, b] = await Promise.all([open(url), open(url)]);
    const outcomes = await bounded(15_000, 'parallel broken migrations', Promise.allSettled([migrate(a.sql, dir), migrate(b.sql, dir)]));
    for (const o of outcomes) {
      assert.is(o.status, 'rejected', 'a migrate resolved although 002 fails');
      assert.match(String((o as PromiseRejectedResult).reason?.message), /invalid input syntax/);
    }
    assert.equal(await recorded(a), ['001_ok.sql']);
    assert.is(await tableExists(a, 'p_ok'), true);
    assert.is(await tableExists(a, 'p_half'), false);
  });

  test.run();
}
