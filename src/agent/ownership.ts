// Which kernel addresses the agent placed, kept in a small JSON file on the node (a hostPath in the
// DaemonSet) so a restarted agent knows what it may remove. Addresses placed by anyone else are not
// in it and are never touched. Written atomically (temp file + rename).
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

export interface OwnershipRecord {
  owned(): ReadonlySet<string>;
  /** Records the keys ("ifname ip/prefix") as owned or not, and persists the record. */
  update(add: Iterable<string>, remove: Iterable<string>): Promise<void>;
}

export async function loadOwnership(path: string): Promise<OwnershipRecord> {
  let keys = new Set<string>();
  try {
    const data = JSON.parse(await readFile(path, 'utf8')) as { addresses?: unknown };
    if (Array.isArray(data.addresses)) keys = new Set(data.addresses.filter((a): a is string => typeof a === 'string'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw new Error(
        `cannot read the agent state file ${path}: ${(err as Error).message}; fix or remove it (the agent then leaves addresses it placed earlier in place)`,
        { cause: err },
      );
    }
  }
  await mkdir(dirname(path), { recursive: true });
  return {
    owned: () => keys,
    async update(add, remove) {
      const next = new Set(keys);
      for (const k of add) next.add(k);
      for (const k of remove) next.delete(k);
      if (next.size === keys.size && [...next].every((k) => keys.has(k))) return;
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify({ version: 1, addresses: [...next].sort() }, null, 1));
      await rename(tmp, path);
      keys = next;
    },
  };
}
