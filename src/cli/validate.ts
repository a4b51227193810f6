// `purelb validate -f FILE...`: checks purelb.io manifests offline with the same validator the
// allocator and agent use. Other kinds in the files (Namespaces, Deployments...) are skipped.
import { GROUP } from '../api/names.ts';
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { loadAll } from 'js-yaml';
import { validateObjects } from '../api/validate.ts';
import { formatProblem } from '../api/validation.ts';
import type { Command } from './main.ts';

const HELP = `Usage: purelb validate -f FILE [-f FILE...]   (FILE "-" reads stdin)

Validates ServiceGroup, LBNodeAgent and RouterConfig manifests (purelb.io/v1) offline, including
overlaps and duplicate names across all the given files. Prints "<object>: <field>: <reason>" per
problem and exits 1 when there is any; exits 0 when all are valid.
`;

const isPureLB = (doc: unknown) => {
  const apiVersion = (doc as { apiVersion?: unknown })?.apiVersion;
  return typeof apiVersion === 'string' && apiVersion.split('/')[0] === GROUP;
};

/** The options run() parses; shell completion offers the same ones. */
const OPTIONS = {
  file: { type: 'string', short: 'f', multiple: true },
  help: { type: 'boolean', short: 'h' },
} as const;

export const command: Command = {
  options: OPTIONS,
  summary: 'Validate ServiceGroup / LBNodeAgent / RouterConfig YAML offline',
  async run(argv) {
    const { values } = parseArgs({
      args: argv,
      options: OPTIONS,
    });
    if (values.help) {
      console.log(HELP);
      return 0;
    }
    const files = values.file ?? [];
    if (files.length === 0) {
      console.error(`purelb validate: give at least one -f FILE\n\n${HELP}`);
      return 2;
    }
    const docs: unknown[] = [];
    for (const file of files) {
      let text: string;
      try {
        text = readFileSync(file === '-' ? 0 : file, 'utf8');
      } catch (err) {
        console.error(`${file}: cannot read: ${(err as Error).message}`);
        return 1;
      }
      try {
        docs.push(...loadAll(text).filter((d) => d !== null && d !== undefined));
      } catch (err) {
        console.error(`${file}: not valid YAML: ${(err as Error).message.split('\n')[0]}`);
        return 1;
      }
    }
    const ours = docs.filter(isPureLB);
    const problems = validateObjects(ours);
    for (const p of problems) console.error(formatProblem(p));
    if (problems.length) return 1;
    console.log(
      `${ours.length} purelb.io object(s) valid${docs.length > ours.length ? ` (${docs.length - ours.length} other object(s) skipped)` : ''}`,
    );
    return 0;
  },
};
