// The console's assets: index.html and console.css as written, and app.js bundled by esbuild from
// src/main.ts (plain TypeScript and the DOM, no framework, nothing fetched at run time). `make build`
// writes them into dist/console/ (`node --import tsx console/build.ts dist/console`); a server running
// from the sources (make test, tsx) builds them in memory at its first console request instead.
import { build } from 'esbuild';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = fileURLToPath(new URL('.', import.meta.url));

export async function buildConsole(options: { minify?: boolean } = {}): Promise<Map<string, Buffer>> {
  const bundled = await build({
    entryPoints: [join(here, 'src', 'main.ts')],
    bundle: true,
    format: 'esm',
    // Current Chromium and Firefox: standard DOM, ES2022.
    target: ['chrome120', 'firefox120'],
    write: false,
    outfile: 'app.js',
    minify: options.minify ?? false,
    legalComments: 'none',
    logLevel: 'silent',
  });
  const files = new Map<string, Buffer>();
  files.set('app.js', Buffer.from(bundled.outputFiles[0].contents));
  for (const name of ['index.html', 'console.css', 'favicon.svg']) files.set(name, await readFile(join(here, name)));
  return files;
}

// As a command: write the files into the directory named.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const outDir = process.argv[2];
  if (!outDir) {
    console.error('usage: node --import tsx console/build.ts <out dir>');
    process.exit(2);
  }
  const files = await buildConsole({ minify: true });
  await mkdir(outDir, { recursive: true });
  for (const [name, body] of files) await writeFile(join(outDir, name), body);
  console.log(`console: ${[...files.keys()].join(', ')} -> ${outDir}`);
}
