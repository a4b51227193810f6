// The import examples in the docs are real runs, and stay so: each console example is run again as
// written, on the YAML inputs shown above it, and must print the same report, exit with the same code
// and write the same YAML shown below it.
import { afterAll, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../src/lab/cluster/binaries.ts';
import { fencedBlocks } from '../harness/markdown.ts';

const dir = mkdtempSync(join(tmpdir(), 'purelb-import-docs-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

interface Example {
  args: string[];
  stdoutFile: string;
  stderr: string;
  code: number;
}

/** The `$ purelb import ... > FILE` run of a console block: its arguments, its stderr lines and `echo $?`. */
function parseConsole(block: string): Example {
  const [command, ...rest] = block.replace(/\\\n\s*/g, '').split('\n$ ');
  const words = command!.replace(/^\$ /, '').split(/\s+/);
  const redirect = words.indexOf('>');
  const code = /^echo \$\?\n(\d+)/.exec(rest.join('\n'))![1]!;
  const [, ...report] = command!.split('\n');
  return {
    args: words.slice(1, redirect),
    stdoutFile: words[redirect + 1]!,
    stderr: report.join('\n'),
    code: Number(code),
  };
}

/** Inputs are the YAML blocks named in the text right above them ("`metallb.yaml`:", "Input `v2.yaml`:"). */
function namedYaml(section: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of section.matchAll(/`([\w.-]+\.yaml)`[^\n]*:\n\n```yaml\n([\s\S]*?)^```$/gm)) out.set(m[1]!, m[2]!);
  return out;
}

const cases: Array<[string, string]> = [
  ['docs/migrating-from-metallb.md', '## 2. Import'],
  ['docs/migrating-from-metallb.md', '## How each MetalLB object maps'],
  ['docs/migrating-from-purelb.md', '## From PureLB v2'],
];

test.each(cases)('%s (%s) shows what purelb import prints and writes', (doc, heading) => {
  const text = readFileSync(join(repoRoot, doc), 'utf8');
  const section = text.slice(text.indexOf(heading)).split(/^## (?!#)/m)[1]!;
  const files = namedYaml(section);
  const example = parseConsole(fencedBlocks(section, 'console')[0]!);
  for (const [name, content] of files) writeFileSync(join(dir, name), content);
  const r = spawnSync(process.execPath, [join(repoRoot, 'bin/purelb.js'), ...example.args], {
    cwd: dir,
    encoding: 'utf8',
  });
  expect(r.stderr.trimEnd()).toBe(example.stderr);
  expect(r.status).toBe(example.code);
  expect(r.stdout).toBe(files.get(example.stdoutFile));
  const patches = example.args.indexOf('--service-patches');
  if (patches >= 0)
    expect(readFileSync(join(dir, example.args[patches + 1]!), 'utf8')).toBe(files.get(example.args[patches + 1]!));
});
