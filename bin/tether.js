#!/usr/bin/env node
// `npx tether <command>`: registers the TypeScript loader, then runs the command line.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../server/cli.ts');
const code = await main(process.argv.slice(2));
if (code >= 0) process.exit(code);
