// The program as the images ship it: src/ compiled by scripts/build.ts into a temporary tree laid out as
// the image's /app (bin/purelb.js, dist/, templates/, package.json; node_modules linked to the
// checkout's), with no src/. The benches' `--compiled` measure the JavaScript the images run rather than
// the TypeScript sources Node strips at run time; test/unit/build.test.ts runs it.
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';

/** Builds the tree: `entry` is its bin/purelb.js, `remove` deletes the tree. */
export function shippedTree(): { entry: string; remove: () => void } {
  const app = mkdtempSync(join(tmpdir(), 'purelb-shipped-'));
  execFileSync(process.execPath, [join(repoRoot, 'scripts', 'build.ts'), join(app, 'dist')], { stdio: 'inherit' });
  mkdirSync(join(app, 'bin'));
  copyFileSync(join(repoRoot, 'bin', 'purelb.js'), join(app, 'bin', 'purelb.js'));
  copyFileSync(join(repoRoot, 'package.json'), join(app, 'package.json'));
  symlinkSync(join(repoRoot, 'templates'), join(app, 'templates'));
  symlinkSync(join(repoRoot, 'node_modules'), join(app, 'node_modules'));
  return { entry: join(app, 'bin', 'purelb.js'), remove: () => rmSync(app, { recursive: true, force: true }) };
}
