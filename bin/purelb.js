#!/usr/bin/env node
// Entry point of the `purelb` command. Node >= 24 runs the TypeScript sources directly (type stripping).
const [major] = process.versions.node.split('.').map(Number);
if (major < 24) {
  console.error(
    `purelb needs Node >= 24 (this is ${process.version}); run it through npx or npm scripts, which use the pinned Node 24`,
  );
  process.exit(1);
}
const { main } = await import('../src/cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
