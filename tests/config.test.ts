// Configuration (DESIGN.md "Configuration"): the defaults, a ConfigError naming the variable for every
// bad value, and a real process that refuses to start on one.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, loadConfig } from '../server/config.ts';

const root = new URL('..', import.meta.url).pathname;
const SECRET = 'config-test-secret-0123456789-0123456789';

test('defaults match DESIGN.md', () => {
  const config = loadConfig({});
  assert.is(config.host, '127.0.0.1');
  assert.is(config.port, 8069);
  assert.is(config.databaseUrl, undefined, 'no DATABASE_URL: embedded PostgreSQL');
  assert.is(config.redisUrl, undefined, 'no REDIS_URL: in-process cache');
  assert.is(config.jwtSecret, undefined, 'generated under ./data in embedded mode');
  assert.is(config.dataDir, './data');
  assert.is(config.sessionIdleTimeout, 7200);
  assert.is(config.sessionAbsoluteTimeout, 86400);
  assert.is(config.accessTokenTtl, 3600);
  assert.equal([...config.fingerprint.components].sort(), ['client', 'ip', 'lang', 'ua']);
  assert.is(config.fingerprint.ua, 'exact');
  assert.is(config.fingerprint.ip, 'exact');
  assert.equal(config.trustedProxies, []);
  assert.is(config.maxSessionsPerUser, 10);
  assert.is(config.logLevel, 'info');
  assert.is(config.bodyLimit, 1024 * 1024);
  assert.is(config.batchLimit, 50);
});

test('METRICS_PORT, METRICS_HOST, METRICS_REFRESH_INTERVAL, STORE_STARTUP_TIMEOUT: defaults and refusals naming the variable', () => {
  const config = loadConfig({});
  assert.is(config.metricsPort, undefined, 'unset: /metrics on PORT');
  assert.is(config.metricsHost, '127.0.0.1', 'METRICS_HOST defaults to HOST');
  assert.is(config.metricsRefreshInterval, 15);
  assert.is(config.storeStartupTimeout, 5);
  const own = loadConfig({ HOST: '0.0.0.0', METRICS_PORT: '9469', METRICS_HOST: '10.0.0.5', STORE_STARTUP_TIMEOUT: '2' });
  assert.is(own.metricsPort, 9469);
  assert.is(own.metricsHost, '10.0.0.5');
  assert.is(own.storeStartupTimeout, 2);
  assert.throws(() => loadConfig({ PORT: '9000', METRICS_PORT: '9000' }), (err: Error) => err instanceof ConfigError && /^METRICS_PORT=9000 .*differ from PORT/.test(err.message));
  assert.throws(() => loadConfig({ METRICS_PORT: 'x' }), (err: Error) => err instanceof ConfigError && err.message.startsWith('METRICS_PORT='));
  assert.throws(() => loadConfig({ METRICS_REFRESH_INTERVAL: '0' }), (err: Error) => err instanceof ConfigError && err.message.startsWith('METRICS_REFRESH_INTERVAL='));
  assert.throws(() => loadConfig({ STORE_STARTUP_TIMEOUT: '0' }), (err: Error) => err instanceof ConfigError && err.message.startsWith('STORE_STARTUP_TIMEOUT='));
});

test('DATABASE_POOL_SIZE: the query pool, 4 by default, 1 to 100', () => {
  const url = 'postgres://db:5432/tether';
  assert.is(loadConfig({ DATABASE_URL: url, JWT_SECRET: SECRET }).databasePoolSize, 4);
  assert.is(loadConfig({ DATABASE_URL: url, DATABASE_POOL_SIZE: '12', JWT_SECRET: SECRET }).databasePoolSize, 12);
  for (const bad of ['0', '101', 'many']) {
    assert.throws(() => loadConfig({ DATABASE_URL: url, DATABASE_POOL_SIZE: bad, JWT_SECRET: SECRET }), (err: Error) => err instanceof ConfigError && /DATABASE_POOL_SIZE/.test(err.message));
  }
});

test('DATABASE_LISTEN_URL defaults to DATABASE_URL; a listen URL of its own (a pooler in front) turns named statements off', () => {
  const direct = 'postgres://db:5432/tether';
  const pooled = 'postgres://pgbouncer:6432/tether';
  const plain = loadConfig({ DATABASE_URL: direct, JWT_SECRET: SECRET });
  assert.is(plain.databaseListenUrl, direct);
  assert.is(plain.databasePrepare, true);
  const behind = loadConfig({ DATABASE_URL: pooled, DATABASE_LISTEN_URL: direct, JWT_SECRET: SECRET });
  assert.is(behind.databaseListenUrl, direct);
  assert.is(behind.databasePrepare, false);
  assert.is(loadConfig({ DATABASE_URL: pooled, DATABASE_LISTEN_URL: direct, DATABASE_PREPARE: 'on', JWT_SECRET: SECRET }).databasePrepare, true);
  assert.is(loadConfig({ DATABASE_URL: pooled, DATABASE_PREPARE: 'off', JWT_SECRET: SECRET }).databasePrepare, false);
  assert.throws(() => loadConfig({ DATABASE_LISTEN_URL: direct }), (err: Error) => err instanceof ConfigError && /DATABASE_LISTEN_URL/.test(err.message));
  assert.throws(() => loadConfig({ DATABASE_URL: direct, DATABASE_LISTEN_URL: 'http://x', JWT_SECRET: SECRET }), (err: Error) => /DATABASE_LISTEN_URL/.test(err.message));
  assert.throws(() => loadConfig({ DATABASE_URL: direct, DATABASE_PREPARE: 'maybe', JWT_SECRET: SECRET }), (err: Error) => /DATABASE_PREPARE/.test(err.message));
});

test('empty strings count as unset', () => {
  const config = loadConfig({ PORT: '', SESSION_IDLE_TIMEOUT: '', LOG_LEVEL: '', FINGERPRINT_UA: '', DATABASE_URL: '', REDIS_URL: '' });
  assert.is(config.port, 8069);
  assert.is(config.sessionIdleTimeout, 7200);
  assert.is(config.logLevel, 'info');
  assert.is(config.fingerprint.ua, 'exact');
  assert.is(config.databaseUrl, undefined);
});

test('good values are read', () => {
  const config = loadConfig({
    HOST: '0.0.0.0',
    PORT: '9000',
    DATABASE_URL: 'postgres://u@db:5432/tether',
    REDIS_URL: 'rediss://cache:6380',
    JWT_SECRET: SECRET,
    SESSION_IDLE_TIMEOUT: '60',
    SESSION_ABSOLUTE_TIMEOUT: '600',
    ACCESS_TOKEN_TTL: '120',
    FINGERPRINT_COMPONENTS: 'ip, ua',
    FINGERPRINT_UA: 'major',
    FINGERPRINT_IP: 'subnet',
    TRUSTED_PROXIES: '10.0.0.0/8,::1',
    MAX_SESSIONS_PER_USER: '1',
    LOG_LEVEL: 'debug',
    BODY_LIMIT: '4096',
    BATCH_LIMIT: '5',
  });
  assert.is(config.host, '0.0.0.0');
  assert.is(config.port, 9000);
  assert.is(config.databaseUrl, 'postgres://u@db:5432/tether');
  assert.is(config.redisUrl, 'rediss://cache:6380');
  assert.is(config.jwtSecret, SECRET);
  assert.is(config.sessionIdleTimeout, 60);
  assert.is(config.sessionAbsoluteTimeout, 600);
  assert.is(config.accessTokenTtl, 120);
  assert.equal([...config.fingerprint.components].sort(), ['ip', 'ua']);
  assert.is(config.fingerprint.ua, 'major');
  assert.is(config.fingerprint.ip, 'subnet');
  assert.equal(config.trustedProxies, ['10.0.0.0/8', '::1']);
  assert.is(config.maxSessionsPerUser, 1);
  assert.is(config.logLevel, 'debug');
  assert.is(config.bodyLimit, 4096);
  assert.is(config.batchLimit, 5);
});

const BAD: Array<[string, Record<string, string>, string]> = [
  ['PORT=abc', { PORT: 'abc' }, 'PORT'],
  ['PORT=70000', { PORT: '70000' }, 'PORT'],
  ['SESSION_IDLE_TIMEOUT=0', { SESSION_IDLE_TIMEOUT: '0' }, 'SESSION_IDLE_TIMEOUT'],
  ['SESSION_IDLE_TIMEOUT=-5', { SESSION_IDLE_TIMEOUT: '-5' }, 'SESSION_IDLE_TIMEOUT'],
  ['FINGERPRINT_UA=foo', { FINGERPRINT_UA: 'foo' }, 'FINGERPRINT_UA'],
  ['FINGERPRINT_IP=foo', { FINGERPRINT_IP: 'foo' }, 'FINGERPRINT_IP'],
  ['FINGERPRINT_COMPONENTS=ip,nose', { FINGERPRINT_COMPONENTS: 'ip,nose' }, 'FINGERPRINT_COMPONENTS'],
  ['TRUSTED_PROXIES=notacidr', { TRUSTED_PROXIES: 'notacidr' }, 'TRUSTED_PROXIES'],
  ['DATABASE_URL=mysql://x', { DATABASE_URL: 'mysql://x', JWT_SECRET: SECRET }, 'DATABASE_URL'],
  ['REDIS_URL=http://x', { REDIS_URL: 'http://x' }, 'REDIS_URL'],
  ['REDIS_CLUSTER_NODES without a port', { REDIS_CLUSTER_NODES: '10.0.0.1:7001,10.0.0.2' }, 'REDIS_CLUSTER_NODES'],
  ['REDIS_CLUSTER_NODES as URLs', { REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7001' }, 'REDIS_CLUSTER_NODES'],
  ['REDIS_CLUSTER_NODES port 0', { REDIS_CLUSTER_NODES: '10.0.0.1:0' }, 'REDIS_CLUSTER_NODES'],
  ['REDIS_CLUSTER_NODES with REDIS_URL', { REDIS_CLUSTER_NODES: '10.0.0.1:7001', REDIS_URL: 'redis://cache:6379' }, 'REDIS_CLUSTER_NODES'],
  ['JWT_SECRET too short', { JWT_SECRET: 'short-secret' }, 'JWT_SECRET'],
  ['DATABASE_URL without JWT_SECRET', { DATABASE_URL: 'postgres://u@db:5432/tether' }, 'JWT_SECRET'],
  ['LOG_LEVEL=loud', { LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
  ['BATCH_LIMIT=0', { BATCH_LIMIT: '0' }, 'BATCH_LIMIT'],
  // The README's ranges, one value just outside each.
  ['SWEEP_INTERVAL=-1', { SWEEP_INTERVAL: '-1' }, 'SWEEP_INTERVAL'],
  ['SWEEP_INTERVAL=soon', { SWEEP_INTERVAL: 'soon' }, 'SWEEP_INTERVAL'],
  ['RETENTION_DAYS=-1', { RETENTION_DAYS: '-1' }, 'RETENTION_DAYS'],
  ['RETENTION_DAYS=1.5', { RETENTION_DAYS: '1.5' }, 'RETENTION_DAYS'],
  ['METRICS=yes', { METRICS: 'yes' }, 'METRICS'],
  ['MAX_SESSIONS_PER_USER=0', { MAX_SESSIONS_PER_USER: '0' }, 'MAX_SESSIONS_PER_USER'],
  ['MAX_SESSIONS_PER_USER=10001', { MAX_SESSIONS_PER_USER: '10001' }, 'MAX_SESSIONS_PER_USER'],
  ['BODY_LIMIT=1023', { BODY_LIMIT: '1023' }, 'BODY_LIMIT'],
  ['WORKERS=0', { WORKERS: '0' }, 'WORKERS'],
  ['WORKERS=65', { WORKERS: '65', DATABASE_URL: 'postgres://u@db:5432/tether', JWT_SECRET: SECRET }, 'WORKERS'],
  ['WORKERS=2 without DATABASE_URL', { WORKERS: '2' }, 'WORKERS=2 needs DATABASE_URL'],
  ['V8_THREADS_NICE=20', { V8_THREADS_NICE: '20' }, 'V8_THREADS_NICE'],
  ['V8_THREADS_NICE=-5', { V8_THREADS_NICE: '-5' }, 'V8_THREADS_NICE'],
];

test('REDIS_CLUSTER_NODES: a comma list of host:port (spaces and an empty REDIS_URL allowed); unset by default', () => {
  assert.is(loadConfig({}).redisClusterNodes, undefined);
  const config = loadConfig({ REDIS_CLUSTER_NODES: ' 10.0.0.1:7001, redis-2:6379,[::1]:7003 ', REDIS_URL: '' });
  assert.equal(config.redisClusterNodes, ['10.0.0.1:7001', 'redis-2:6379', '[::1]:7003']);
  assert.is(config.redisUrl, undefined);
});

test('the edges of the README ranges are accepted', () => {
  assert.is(loadConfig({}).v8ThreadsNice, 19);
  assert.is(loadConfig({ V8_THREADS_NICE: '0' }).v8ThreadsNice, 0);
  const config = loadConfig({ SWEEP_INTERVAL: '0', RETENTION_DAYS: '0', METRICS: 'off', MAX_SESSIONS_PER_USER: '10000', BODY_LIMIT: '1024', WORKERS: '1' });
  assert.is(config.sweepInterval, 0);
  assert.is(config.retentionDays, 0);
  assert.is(config.metricsEnabled, false);
  assert.is(config.maxSessionsPerUser, 10000);
  assert.is(config.bodyLimit, 1024);
  assert.is(loadConfig({ WORKERS: '64', DATABASE_URL: 'postgres://u@db:5432/tether', JWT_SECRET: SECRET }).workers, 64);
});

for (const [label, env, variable] of BAD) {
  test(`${label} -> ConfigError naming ${variable}`, () => {
    let caught: unknown;
    try {
      loadConfig(env);
    } catch (err) {
      caught = err;
    }
    assert.instance(caught, ConfigError, `loadConfig(${JSON.stringify(env)}) should throw a ConfigError`);
    assert.match((caught as Error).message, variable);
  });
}

test('the real process refuses to start on PORT=abc, naming PORT, with exit status 2', async () => {
  const dataDir = mkdtempSync(join(tmpdir(), 'tether-config-test-'));
  try {
    // Only what the child needs: no DATABASE_URL/REDIS_URL/JWT_SECRET from this shell, so PORT is
    // the one bad value and no store is touched.
    const env: Record<string, string> = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? dataDir, DATA_DIR: dataDir, PORT: 'abc', NO_COLOR: '1' };
    const child = spawn(process.execPath, ['--import', 'tsx', 'server/main.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    // A process that starts after all would never exit by itself: stop it (the assertion then fails).
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    clearTimeout(guard);
    // The README: a bad value stops it with exit status 2.
    assert.is(code, 2, `exit code ${code}; output: ${output}`);
    assert.match(output, /configuration error/);
    assert.match(output, /PORT/);
    assert.not.match(output, /listening/);
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

test.run();
