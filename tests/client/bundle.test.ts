// The client ships no server code: its files, compiled as a bundler would (type-only imports
// dropped), import nothing but each other, and nothing from Node.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const dir = fileURLToPath(new URL('../../client/', import.meta.url));

test('client/*.ts at run time imports only ./ siblings', () => {
  const files = readdirSync(dir).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('index.ts') && files.includes('methods.ts'));
  for (const file of files) {
    const source = readFileSync(join(dir, file), 'utf8');
    const { outputText } = ts.transpileModule(source, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: true } });
    const specifiers = [...outputText.matchAll(/^\s*(?:import|export)\b[^'"]*?from\s+['"]([^'"]+)['"]/gm)].map((m) => m[1]);
    for (const specifier of specifiers) assert.ok(/^\.\/[\w-]+\.ts$/.test(specifier), `${file} imports ${specifier} at run time`);
    assert.not.match(outputText, /\brequire\(|node:|process\./, `${file} uses Node`);
    if (file === 'methods.ts') assert.is(specifiers.length, 0, 'methods.ts is types only');
  }
});

test.run();
