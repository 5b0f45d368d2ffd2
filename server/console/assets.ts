// Where the console's files come from: dist/console/ (written by `make build`) when this server runs
// built, or, running from the TypeScript sources (make test, tsx), built in memory from console/ by
// console/build.ts at the first request. Either way read once per process.
import { readFile } from 'node:fs/promises';

export interface Asset {
  body: Buffer;
  type: string;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
};
/** What console/build.ts writes: nothing else under /console/ answers. */
const CONSOLE_FILES = ['index.html', 'app.js', 'console.css', 'favicon.svg'];

const typeOf = (name: string) => TYPES[name.slice(name.lastIndexOf('.'))] ?? 'application/octet-stream';

let loading: Promise<Map<string, Asset>> | undefined;

async function load(): Promise<Map<string, Asset>> {
  let files: Map<string, Buffer>;
  if (import.meta.url.endsWith('.ts')) {
    // A specifier tsc does not follow: the built server never loads the builder (nor esbuild).
    const builder = new URL('../../console/build.ts', import.meta.url).href;
    files = await ((await import(builder)) as { buildConsole(): Promise<Map<string, Buffer>> }).buildConsole();
  } else {
    // dist/server/console/assets.js -> dist/console/
    const dir = new URL('../../console/', import.meta.url);
    files = new Map(await Promise.all(CONSOLE_FILES.map(async (name) => [name, await readFile(new URL(name, dir))] as const)));
  }
  return new Map([...files].map(([name, body]) => [name, { body, type: typeOf(name) }]));
}

/** The console's files by name; a failed load is retried at the next request. */
export function consoleAssets(): Promise<Map<string, Asset>> {
  loading ??= load().catch((err) => {
    loading = undefined;
    throw err;
  });
  return loading;
}
