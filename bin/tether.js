#!/usr/bin/env node
// `npx tether <command>`: the built JavaScript (dist/, `make build`) with plain node when the build is
// newer than every source; otherwise the sources through the TypeScript loader, so a stale build
// never runs and a checkout without a build still works.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/** The newest modification time under these folders and files (a few dozen stats: about a millisecond). */
function newest(paths) {
  let latest = 0;
  for (const path of paths) {
    const stat = statSync(path);
    if (!stat.isDirectory()) latest = Math.max(latest, stat.mtimeMs);
    else latest = Math.max(latest, newest(readdirSync(path).map((name) => join(path, name))));
  }
  return latest;
}

const built = join(root, 'dist', '.built');
const sources = ['server', 'rpc-methods', 'tsconfig.json', 'tsconfig.build.json'].map((p) => join(root, p));
const fresh = existsSync(built) && newest(sources) <= statSync(built).mtimeMs;

let cli;
if (fresh) {
  cli = await import('../dist/server/cli.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import('../server/cli.ts');
}
const code = await cli.main(process.argv.slice(2));
if (code >= 0) process.exit(code);
