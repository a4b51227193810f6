// Config files shared with a daemon: written atomically (temp file + rename in the same directory) so a
// daemon never reads half a file, and the previous version is kept as "<file>.last-good".
import { copyFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export function writeAtomic(path: string, text: string, mode = 0o644): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  writeFileSync(tmp, text, { mode, flush: true });
  renameSync(tmp, path);
}

export const readIfExists = (path: string): string | undefined =>
  existsSync(path) ? readFileSync(path, 'utf8') : undefined;

export const lastGoodPath = (path: string) => `${path}.last-good`;

/** Installs a checked candidate as `path`, keeping the current file as last-good. */
export function installChecked(candidate: string, path: string): void {
  if (existsSync(path)) copyFileSync(path, lastGoodPath(path));
  renameSync(candidate, path);
}

/** Puts last-good back after the daemon refused the installed file; false when there was none. */
export function restoreLastGood(path: string): boolean {
  if (!existsSync(lastGoodPath(path))) return false;
  copyFileSync(lastGoodPath(path), path);
  return true;
}
