// tether/client across a server restart. Real mode: Tether on a throwaway redis-server (never the
// shared one), stopped, the Redis replaced by an empty one (flushed), Tether started again on the same
// port: the client's session and bearer still work, restored from PostgreSQL, with no new login.
// Embedded mode: the server restarts on the same data dir; its in-process cache is what is lost.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createClient } from 'redis';
import { TetherClient } from 'tether/client';
import { realStores, startTestTether, type TestTether } from '../support/tether.ts';
import { startThrowawayRedis, type ThrowawayRedis } from '../support/throwaway.ts';
import { newClient, newUser } from '../support/fixtures.ts';
import { cacheKeyOf, hashOf } from '../../server/sessions/sessionId.ts';
import { recordingFetch } from './recorder.ts';

let redis: ThrowawayRedis | undefined;
let server: TestTether | undefined;
const dataDir = mkdtempSync(join(tmpdir(), 'tether-client-restart-'));

test.after(async () => {
  await server?.close();
  await redis?.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function start(port = '0'): Promise<TestTether> {
  return startTestTether({ DATA_DIR: dataDir, PORT: port, ...(redis ? { REDIS_URL: redis.url } : {}) });
}

async function redisHas(key: string): Promise<boolean> {
  const r = createClient({ url: redis!.url });
  await r.connect();
  try {
    return (await r.exists(key)) === 1;
  } finally {
    await r.close();
  }
}

const name = realStores
  ? 'real mode: Tether restarted with its (throwaway) Redis flushed mid-run; the client carries on without a new login'
  : 'embedded mode (no Redis to flush): Tether restarted on its data dir, in-process cache lost; the client carries on without a new login';

test(name, async () => {
  if (realStores) redis = await startThrowawayRedis();
  server = await start();
  const app = await newClient(server);
  const user = await newUser(server);
  const recorder = recordingFetch();
  const client = new TetherClient({ url: server.url, clientId: app.id, clientSecret: app.secret, credentials: async () => ({ login: user.login, password: user.password }), fetch: recorder.fetch });
  const { session_id } = await client.login();
  const created = await client.call('agents.create', { name: 'before the restart' });
  const before = await client.me();
  if (redis) assert.ok(await redisHas(cacheKeyOf(hashOf(session_id))), 'cached before');

  const port = new URL(server.url).port;
  await server.close();
  server = undefined;
  if (redis) {
    await redis.restart();
    assert.not.ok(await redisHas(cacheKeyOf(hashOf(session_id))), 'the new Redis is empty');
  }
  server = await start(port);

  const after = await client.me();
  assert.is(after.session.id, before.session.id, 'the same session');
  assert.is((await client.call('agents.get', { id: created.id })).name, 'before the restart');
  const outcomes = await client.batch([{ method: 'me' }, { method: 'sessions.list' }]);
  assert.ok(outcomes.every((o) => o.ok));
  assert.is(client.sessionId, session_id);
  assert.is(recorder.calls('users.login').length, 1, 'no new login');
  assert.is(recorder.tokenRequests(), 1, 'the bearer survived too');
  assert.equal(recorder.errorCodes(), []);
  if (redis) assert.ok(await redisHas(cacheKeyOf(hashOf(session_id))), 'restored into the new Redis');
});

test.run();
