// Compiles src/ to JavaScript ahead of time, as the images ship it (Dockerfile, stage build):
//   node scripts/build.ts [outDir=dist]
// tsc with tsconfig.build.json (rootDir src, `.ts` imports rewritten to `.js`), then every file of src/
// that is not TypeScript (src/agent/announce.py) copied alongside, so `new URL('./announce.py',
// import.meta.url)` and `new URL('../../templates/', import.meta.url)` resolve from <outDir>/ as they do
// from src/ when <outDir> sits next to templates/. Emit only (--noCheck): `npm run typecheck` checks the
// types, and the image's build stage has TypeScript but none of the type packages. Compiled JavaScript
// spares the process Node's run-time type stripper (about 30 MiB RSS, BENCHMARKS.md, Node agent).
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const outDir = resolve(process.argv[2] ?? join(root, 'dist'));
const tsc = createRequire(join(root, 'package.json')).resolve('typescript/bin/tsc');

rmSync(outDir, { recursive: true, force: true });
const run = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json'), '--outDir', outDir], {
  stdio: 'inherit',
});
if (run.status !== 0) {
  console.error(`tsc -p tsconfig.build.json failed (exit ${run.status ?? run.signal}): fix the errors above`);
  process.exit(1);
}
const assets = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? assets(join(dir, e.name)) : e.name.endsWith('.ts') ? [] : [join(dir, e.name)],
  );
for (const file of assets(join(root, 'src'))) {
  const to = join(outDir, relative(join(root, 'src'), file));
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(file, to);
}
console.log(`compiled src/ to ${outDir}`);
