// The embedded database shared by a server and the commands beside it: one PGlite directory opened
// by a "server" (which publishes its address) and a "command" that attaches to it, in one process.
// Concurrent queries and transactions from both connections must each get their own answers
// (pglite-socket alone interleaves extended-protocol messages: a Bind runs the other's statement),
// and the lock must refuse a second opener while the first holds the directory.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDatabase, type Database } from '../../server/stores/database.ts';
import { DataDirInUse } from '../../server/embedded/dataDirLock.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'tether-pglite-shared-'));
let server: Database;
let command: Database;

test.before(async () => {
  server = await openDatabase({ databaseUrl: undefined, dataDir }, { role: 'server' });
  server.publish?.();
  command = await openDatabase({ databaseUrl: undefined, dataDir }, { role: 'cli' });
  await server.sql`create table if not exists shared_test (owner text not null, n int not null)`;
});
test.after(async () => {
  await command?.close();
  await server?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test("the embedded engine runs with the small-database memory settings (README Performance: embedded RSS), the server's and a command's connection alike", async () => {
  for (const db of [server, command]) {
    const [settings] = await db.sql<{ shared_buffers: string; maintenance_work_mem: string }[]>`select current_setting('shared_buffers') as shared_buffers, current_setting('maintenance_work_mem') as maintenance_work_mem`;
    assert.equal({ ...settings }, { shared_buffers: '16MB', maintenance_work_mem: '16MB' });
  }
  // Made by the initdb child on the first open; the directory is a PostgreSQL data directory.
  assert.ok(existsSync(join(dataDir, 'pglite', 'PG_VERSION')));
});

test('a command attaches to the published server instead of opening the directory', () => {
  assert.is(command.kind, 'embedded');
  assert.is(command.attachedTo?.pid, process.pid);
  assert.is(server.attachedTo, undefined);
});

test('a second opener of a held directory is refused, naming DATA_DIR and the pid', async () => {
  try {
    await openDatabase({ databaseUrl: undefined, dataDir }, { role: 'server', waitMs: 0 });
    assert.unreachable('opened a directory another opener holds');
  } catch (err) {
    assert.instance(err, DataDirInUse);
    assert.ok((err as Error).message.includes(dataDir));
    assert.ok((err as Error).message.includes(String(process.pid)));
  }
});

test('concurrent queries and transactions on both connections each get their own answers, 25 rounds', async () => {
  let wrong = 0;
  for (let round = 0; round < 25; round++) {
    const work: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      work.push(server.sql<{ v: number; who: string }[]>`select ${i}::int as v, 'server' as who`.then(([r]) => void (r.v === i && r.who === 'server' ? 0 : wrong++)));
      work.push(command.sql<{ v: number; who: string }[]>`select ${i + 100}::int + 0 as v, 'command' as who, 1 as x`.then(([r]) => void (r.v === i + 100 && r.who === 'command' ? 0 : wrong++)));
    }
    work.push(server.sql.begin(async (tx) => {
      await tx`insert into shared_test (owner, n) values ('server', ${round})`;
      await tx`insert into shared_test (owner, n) values ('server', ${round + 1000})`;
    }));
    // Rolled back: none of its rows may survive, nor leak into the other connection's work.
    work.push(
      command.sql
        .begin(async (tx) => {
          await tx`insert into shared_test (owner, n) values ('command', ${round})`;
          throw new Error('roll back');
        })
        .catch((err: Error) => assert.is(err.message, 'roll back')),
    );
    await Promise.all(work);
  }
  assert.is(wrong, 0, 'every query answered with its own statement and parameters');
  const rows = await command.sql<{ owner: string; n: number }[]>`select owner, count(*)::int as n from shared_test group by owner order by owner`;
  assert.equal(rows.map((r) => ({ ...r })), [{ owner: 'server', n: 50 }]);
});

test.run();
