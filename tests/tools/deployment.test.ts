// The deployment files, checked without a container runtime (none runs here): compose.yaml parsed and
// its services cross-checked (every Tether variable is one server/config.ts reads and accepts, the
// URLs and cluster nodes name services that exist with matching credentials and addresses, the Redis
// Cluster is six cluster-enabled nodes that a one-shot service makes into 3 masters + 3 replicas
// before Tether starts, depends_on and healthchecks agree, nginx's
// upstreams are the Tether services on their port, TRUSTED_PROXIES is nginx's fixed address), and the
// Dockerfile's stages (a build stage, then plain node on dist/ as a non-root user, copying only what
// the repository has).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile, spawn } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { testIn } from '../support/modes.ts';
import { freePort } from '../support/throwaway.ts';
import { parse } from 'yaml';
import { loadConfig } from '../../server/config.ts';

const root = new URL('../..', import.meta.url).pathname;
const read = (file: string) => readFileSync(join(root, file), 'utf8');

interface Service {
  image?: string;
  build?: string;
  command?: string[];
  environment?: Record<string, string>;
  ports?: string[];
  volumes?: string[];
  healthcheck?: { test: string[] };
  depends_on?: string[] | Record<string, { condition: string }>;
  networks?: Record<string, { ipv4_address?: string }> | string[];
  entrypoint?: string[];
}
// merge: the Redis nodes share an anchor (`<<: *redis-node`), as docker compose reads it.
const compose = parse(read('compose.yaml'), { merge: true }) as { services: Record<string, Service>; volumes?: Record<string, unknown>; networks?: Record<string, { ipam?: { config: { subnet: string }[] } }> };
const services = compose.services;
const tethers = Object.entries(services).filter(([, s]) => s.build === '.');
// compose's `${NAME:?message}` needs the variable: what `JWT_SECRET=... docker compose up` gives it.
const JWT = 'compose-test-secret-0123456789-0123456789';
const envOf = (s: Service) =>
  Object.fromEntries(Object.entries(s.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{JWT_SECRET:\?[^}]*\}/, JWT)]));

const redisNodes = Object.entries(services).filter(([, s]) => s.command?.[0] === 'redis-server');
const addressOf = (s: Service) => (s.networks as Record<string, { ipv4_address?: string }> | undefined)?.default?.ipv4_address;
const flag = (s: Service, name: string) => s.command?.[s.command.indexOf(name) + 1];

test('compose.yaml: two Tether instances built from this repository, PostgreSQL, a Redis Cluster and nginx', () => {
  assert.ok(tethers.length >= 2, `Tether services: ${tethers.map(([n]) => n)}`);
  assert.match(services.postgres?.image ?? '', /^postgres:/);
  assert.match(services.nginx?.image ?? '', /^nginx:/);
  assert.ok(services.nginx.ports?.some((p) => p.endsWith(':80')), 'nginx published');
  assert.is(services.redis, undefined, 'no single Redis beside the cluster');
  assert.is(redisNodes.length, 6, `Redis nodes: ${redisNodes.map(([n]) => n)}`);
});

test('compose.yaml: six cluster-enabled Redis nodes, each on its fixed announced address with a volume and a healthcheck; a one-shot service makes them 3 masters + 3 replicas', () => {
  const addresses = new Set<string>();
  const volumes = new Set<string>();
  for (const [name, node] of redisNodes) {
    assert.match(node.image ?? '', /^redis:7/, name);
    assert.is(flag(node, '--cluster-enabled'), 'yes', name);
    assert.is(flag(node, '--appendonly'), 'yes', `${name}: a restart keeps its shard's positions with its keys`);
    const address = addressOf(node);
    assert.ok(address, `${name} has a fixed address`);
    assert.is(flag(node, '--cluster-announce-ip'), address, `${name} announces the address it has`);
    addresses.add(address!);
    assert.ok(node.healthcheck?.test.includes('ping'), `${name} has a healthcheck`);
    const volume = node.volumes?.find((v) => v.endsWith(':/data'))?.split(':')[0];
    assert.ok(volume && compose.volumes && volume in compose.volumes, `${name}: a named volume for /data`);
    volumes.add(volume!);
  }
  assert.is(addresses.size, 6, 'six distinct addresses');
  assert.is(volumes.size, 6, 'six distinct volumes');
  const subnet = compose.networks?.default.ipam?.config[0].subnet ?? '';
  for (const address of addresses) assert.ok(subnet.startsWith(address.split('.').slice(0, 2).join('.') + '.'), `${address} in ${subnet}`);

  const init = services['redis-cluster-init'];
  assert.ok(init, 'a redis-cluster-init service');
  const script = (init.command ?? []).join(' ');
  const create = /redis-cli --cluster create ((?:\S+:\d+ )+)--cluster-replicas 1 --cluster-yes/.exec(script);
  assert.ok(create, script);
  const created = create![1].trim().split(' ').map((n) => n.split(':')[0]);
  assert.equal(created.sort(), [...addresses].sort(), 'the cluster is made of exactly the six nodes');
  assert.ok(/cluster_state:ok/.test(script), 'it waits until the cluster says ok (and skips the create once made)');
  const deps = init.depends_on as Record<string, { condition: string }>;
  assert.equal(Object.keys(deps).sort(), redisNodes.map(([n]) => n).sort());
  for (const dep of Object.values(deps)) assert.is(dep.condition, 'service_healthy');
});

test('compose.yaml: every Tether variable is one server/config.ts reads, and the values load', () => {
  const configSource = read('server/config.ts');
  for (const [name, service] of tethers) {
    const env = envOf(service);
    for (const key of Object.keys(env)) assert.ok(configSource.includes(`'${key}'`) || configSource.includes(`env.${key}`), `${name}: ${key} is not read by server/config.ts`);
    const config = loadConfig(env);
    assert.is(config.jwtSecret, JWT);
    assert.is(config.host, '0.0.0.0', `${name} listens beyond its container's loopback`);

    const db = new URL(config.databaseUrl!);
    assert.ok(services[db.hostname], `${name}: DATABASE_URL names service ${db.hostname}`);
    assert.is(db.password, services[db.hostname].environment?.POSTGRES_PASSWORD);
    assert.is(db.pathname.slice(1), services[db.hostname].environment?.POSTGRES_DB);
    assert.is(config.redisUrl, undefined, `${name}: the cluster, not one Redis`);
    assert.ok(config.redisClusterNodes && config.redisClusterNodes.length >= 3, `${name}: REDIS_CLUSTER_NODES names several nodes`);
    for (const node of config.redisClusterNodes!) {
      const [host, port] = node.split(':');
      assert.ok(redisNodes.some(([n]) => n === host), `${name}: REDIS_CLUSTER_NODES names ${host}, a Redis node`);
      assert.is(port, '6379');
    }

    // Started after the stores answer: PostgreSQL healthy, the cluster made (its one-shot service done).
    const deps = service.depends_on as Record<string, { condition: string }>;
    assert.is(deps?.[db.hostname]?.condition, 'service_healthy', `${name} waits for ${db.hostname}`);
    assert.ok(services[db.hostname].healthcheck?.test.length, `${db.hostname} has a healthcheck`);
    assert.is(deps?.['redis-cluster-init']?.condition, 'service_completed_successfully', `${name} waits for the cluster to be made`);

    // X-Forwarded-For believed from nginx's fixed address only, inside the network's subnet.
    const nginxAddress = (services.nginx.networks as Record<string, { ipv4_address?: string }>).default.ipv4_address;
    assert.equal(config.trustedProxies, [nginxAddress]);
    const subnet = compose.networks?.default.ipam?.config[0].subnet ?? '';
    assert.ok(nginxAddress && subnet.startsWith(nginxAddress.split('.').slice(0, 2).join('.') + '.'), `${nginxAddress} in ${subnet}`);
  }
});

test('compose.yaml: depends_on names services that exist; nginx balances over every Tether instance on its port', () => {
  for (const [name, service] of Object.entries(services)) {
    const deps = Array.isArray(service.depends_on) ? service.depends_on : Object.keys(service.depends_on ?? {});
    for (const dep of deps) assert.ok(services[dep], `${name} depends on ${dep}, which is not a service`);
  }
  const mount = services.nginx.volumes?.find((v) => v.includes('/etc/nginx/'));
  const file = mount!.split(':')[0].replace(/^\.\//, '');
  assert.ok(existsSync(join(root, file)), `${file} exists`);
  const upstreams = [...read(file).matchAll(/^\s*server\s+([\w-]+):(\d+)/gm)].map((m) => ({ host: m[1], port: Number(m[2]) }));
  assert.equal(upstreams.map((u) => u.host).sort(), tethers.map(([n]) => n).sort());
  for (const u of upstreams) assert.is(u.port, loadConfig(envOf(services[u.host])).port);
  assert.equal((services.nginx.depends_on as string[]).sort(), tethers.map(([n]) => n).sort());
});

test('Dockerfile: a build stage, then plain node on dist/ as a non-root user, copying only what the repository has', () => {
  const lines = read('Dockerfile')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages = lines.filter((l) => l.startsWith('FROM '));
  assert.is(stages.length, 2);
  assert.match(stages[0], /^FROM node:20\S* AS build$/);
  assert.match(stages[1], /^FROM node:20\S*$/);
  const final = lines.slice(lines.indexOf(stages[1]));
  const build = lines.slice(0, lines.indexOf(stages[1]));

  // The build context's files exist (COPY without --from).
  for (const copy of build.filter((l) => l.startsWith('COPY '))) {
    const parts = copy.split(/\s+/).slice(1, -1);
    for (const src of parts) assert.ok(existsSync(join(root, src)), `COPY ${src}: not in the repository`);
  }
  // The build is `make build`'s: tsconfig.build.json into dist/, and the migrations beside it.
  const tsconfig = JSON.parse(read('tsconfig.build.json')) as { compilerOptions: { outDir: string } };
  assert.is(tsconfig.compilerOptions.outDir, 'dist');
  assert.ok(build.some((l) => l.startsWith('RUN ') && l.includes('npx tsc -p tsconfig.build.json') && l.includes('cp -r sql dist/sql')));
  assert.ok(build.some((l) => l.includes('npm ci')));

  // The final stage: only copies from the build, a non-root user, node on the built entry point.
  assert.ok(final.filter((l) => l.startsWith('COPY ')).every((l) => l.includes('--from=build')));
  const user = final.filter((l) => l.startsWith('USER ')).pop();
  assert.ok(user && !/^USER\s+(root|0)\b/.test(user), `non-root: ${user}`);
  const cmd = JSON.parse(final.find((l) => l.startsWith('CMD '))!.slice(4)) as string[];
  assert.equal(cmd, ['node', 'dist/server/main.js']);
  assert.ok(existsSync(join(root, 'server/main.ts')), 'dist/server/main.js is built from server/main.ts');
  assert.ok(read('Makefile').includes('node dist/server/main.js'), 'the same entry point as `make run`');
  const port = final.find((l) => l.startsWith('ENV '))!.match(/PORT=(\d+)/)![1];
  assert.ok(final.includes(`EXPOSE ${port}`));
  assert.ok(read('.dockerignore').split('\n').includes('node_modules'), 'the host node_modules stays out of the context');
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Once, in embedded mode (it needs no store): the build stage's own RUN line, as a shell step.
testIn(test, 'embedded', "Dockerfile: the build stage's steps, run as shell steps on a copy of its COPY sources, give a dist/ that plain node serves", async () => {
  const lines = read('Dockerfile').split('\n').map((l) => l.trim());
  const froms = lines.flatMap((l, i) => (l.startsWith('FROM ') ? [i] : []));
  const build = lines.slice(froms[0], froms[1]);
  const dir = mkdtempSync(join(tmpdir(), 'tether-docker-build-'));
  try {
    for (const copy of build.filter((l) => l.startsWith('COPY '))) {
      for (const src of copy.split(/\s+/).slice(1, -1)) cpSync(join(root, src), join(dir, src), { recursive: true });
    }
    // `npm ci` is the installed node_modules; `npm prune` would change it, so the steps stop before it.
    symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
    const run = build.find((l) => l.startsWith('RUN ') && l.includes('tsc'))!.slice(4).split(' && npm prune')[0];
    await promisify(execFile)('bash', ['-c', run], { cwd: dir, timeout: 120_000 });
    assert.ok(existsSync(join(dir, 'dist/server/main.js')));
    assert.ok(existsSync(join(dir, 'dist/sql/014_audit_partitioned.sql')));
    assert.ok(existsSync(join(dir, 'dist/console/app.js')) && existsSync(join(dir, 'dist/console/index.html')));

    const port = await freePort();
    const server = spawn('node', ['dist/server/main.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: String(port), DATA_DIR: join(dir, 'data'), LOG_LEVEL: 'warn' },
      stdio: 'ignore',
    });
    try {
      let ready = 0;
      for (const deadline = Date.now() + 90_000; ready !== 200 && Date.now() < deadline && server.exitCode === null; await sleep(250)) {
        ready = await fetch(`http://127.0.0.1:${port}/readyz`).then((r) => r.status, () => 0);
      }
      assert.is(ready, 200, 'node dist/server/main.js answers /readyz');
      // The console from dist/console (built by the same step), not from the sources.
      for (const [path, type] of [['/console/', 'text/html'], ['/console/app.js', 'text/javascript'], ['/console/console.css', 'text/css']]) {
        const response = await fetch(`http://127.0.0.1:${port}${path}`);
        assert.is(response.status, 200, path);
        assert.ok(response.headers.get('content-type')?.startsWith(type), path);
      }
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => (server.exitCode === null ? server.once('exit', resolve) : resolve(null)));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
