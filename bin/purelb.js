#!/usr/bin/env node
// Entry point of the `purelb` command. The images ship src/ compiled to JavaScript in dist/ and no src/
// (Dockerfile; scripts/build.ts); a checkout runs the TypeScript sources directly (Node >= 24 strips
// the types). A checkout's src/ wins over a dist/ left there by a build, which may be older than it.
import { existsSync } from 'node:fs';
import { URL } from 'node:url';

const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `purelb needs Node >= 24 (this is ${process.version}); run it through npx or npm scripts, which use the pinned Node 24`,
  );
  process.exit(1);
}
const source = new URL('../src/cli/main.ts', import.meta.url);
const { main } = await import(existsSync(source) ? source.href : new URL('../dist/cli/main.js', import.meta.url).href);
process.exitCode = await main(process.argv.slice(2));
