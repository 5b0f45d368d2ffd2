// tether/client as a user outside this repository gets it: `npm pack` (its prepack builds dist/),
// the tarball installed into a temporary project, then a plain .mjs run by Node (no TypeScript
// loader) against a real Tether, and `tsc --noEmit` on a standard nodenext project whose code must
// type-check (and whose wrong calls must not: the types are the registry's, not `any`).
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startTestTether, type TestTether } from '../support/tether.ts';
import { newClient, newUser } from '../support/fixtures.ts';

const run = promisify(execFile);
const ROOT = new URL('../..', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'tether-package-'));
const project = join(work, 'project');
let t: TestTether;

/** A command's output, or its output in the assertion message when it fails. */
async function sh(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, env, maxBuffer: 16 * 1024 * 1024, timeout: 300_000 });
    return stdout;
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    assert.unreachable(`${file} ${args.join(' ')} failed in ${cwd}: ${e.message}\nstdout: ${e.stdout}\nstderr: ${e.stderr}`);
    throw error;
  }
}

test.before(async () => {
  t = await startTestTether();
  // npm pack runs prepack (make build): the tarball carries dist/client's JavaScript and .d.ts.
  await sh('npm', ['pack', '--pack-destination', work], ROOT);
  const [tarball] = readdirSync(work).filter((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack made a tarball');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
  // --prefer-offline: from the npm cache where it has the packages, else the registry.
  await sh('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', join(work, tarball)], project);
});
test.after(async () => {
  await t?.close();
  rmSync(work, { recursive: true, force: true });
});

test('the tarball ships tether/client built: JavaScript and .d.ts, no .ts import left in them', async () => {
  const listing = await sh('tar', ['tzf', readdirSync(work).find((f) => f.endsWith('.tgz'))!], work);
  for (const file of ['index.js', 'index.d.ts', 'tetherClient.js', 'tetherClient.d.ts', 'errors.js', 'methods.d.ts']) {
    assert.ok(listing.includes(`package/dist/client/${file}`), `dist/client/${file} in the tarball`);
  }
  const installed = join(project, 'node_modules/tether/dist');
  const declarations = readdirSync(installed, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.d.ts'));
  assert.ok(declarations.length > 4);
  for (const file of declarations) assert.not.match(readFileSync(join(installed, file), 'utf8'), /['"]\.{1,2}\/[^'"]*\.ts['"]/, `${file} imports a .ts file`);
});

test('plain Node 20 imports tether/client from the installed package and runs a session against Tether', async () => {
  const app = await newClient(t);
  const user = await newUser(t);
  writeFileSync(
    join(project, 'flow.mjs'),
    `import { TetherClient, TetherError } from 'tether/client';
const tether = new TetherClient({ url: process.env.URL, clientId: process.env.CLIENT_ID, clientSecret: process.env.CLIENT_SECRET,
  credentials: async () => ({ login: process.env.LOGIN, password: process.env.PASSWORD }) });
await tether.login();
const me = await tether.me();
const page = await tether.call('agents.list', { limit: 5 });
await tether.logout();
let after;
try { await tether.me(); after = 'answered'; } catch (error) { after = error instanceof TetherError ? error.errorCode : String(error); }
console.log(JSON.stringify({ login: me.user.login, limit: page.limit, after }));
`,
  );
  // No TypeScript loader anywhere: plain node, the package's exports and its built JavaScript.
  const env = { PATH: process.env.PATH, URL: t.url, CLIENT_ID: app.id, CLIENT_SECRET: app.secret, LOGIN: user.login, PASSWORD: user.password };
  const out = JSON.parse((await sh(process.execPath, ['flow.mjs'], project, env)).trim());
  assert.equal(out, { login: user.login, limit: 5, after: 'SESSION_REQUIRED' });
});

test('a standard nodenext TypeScript project type-checks against tether/client, with the registry types', async () => {
  // tsc --init's choices for a Node project: nodenext, strict, skipLibCheck.
  writeFileSync(
    join(project, 'tsconfig.json'),
    JSON.stringify({ compilerOptions: { target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', strict: true, skipLibCheck: true, noEmit: true }, include: ['main.ts'] }),
  );
  writeFileSync(
    join(project, 'main.ts'),
    `import { TetherClient, TetherError, type ResultOf } from 'tether/client';
const client = new TetherClient({ url: 'http://127.0.0.1:8069', clientId: 'id', clientSecret: 'secret' });
export async function typed(): Promise<number> {
  const me: ResultOf<'me'> = await client.me();
  const page = await client.call('agents.list', { limit: 10 });
  // @ts-expect-error: no such method
  await client.call('no.such.method');
  // @ts-expect-error: limit is a number
  await client.call('agents.list', { limit: 'ten' });
  // @ts-expect-error: the user has no such field
  me.user.no_such_field;
  return page.items.length + new TetherError('x', { code: 0, errorCode: 'X', status: 0 }).status;
}
`,
  );
  // The repository's compiler, run in the consumer project: only its tsconfig and node_modules count.
  await sh(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', '.'], project);
});

test.run();
