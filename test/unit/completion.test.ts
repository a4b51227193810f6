// Shell completion candidates (pure): from the commands' own option definitions, as __complete answers the
// bash/zsh scripts and kubectl (cobra's "value<TAB>description" lines and ":<directive>").
import { expect, test } from '@jest/globals';
import { complete, formatCompletion, type CommandTable } from '../../src/cli/completion.ts';
import { command as lab } from '../../src/cli/lab.ts';
import { command as status } from '../../src/cli/status.ts';
import { command as validate } from '../../src/cli/validate.ts';

const table: CommandTable = { status, lab, validate, __complete: undefined };
const values = (words: string[], dynamic = {}) => complete(table, words, dynamic).candidates.map((c) => c.value);

test('command names with their summaries; hidden commands are never offered', () => {
  expect(complete(table, ['s']).candidates).toEqual([{ value: 'status', description: status.summary }]);
  expect(values([''])).toEqual(['status', 'lab', 'validate']);
});

test("a command's options are the ones its parseArgs call uses; single options given once are not offered again", () => {
  expect(values(['status', '--'])).toEqual(Object.keys(status.options!).map((o) => `--${o}`));
  const rest = values(['status', '-n', 'x', '-w', '--']);
  expect(rest).not.toContain('--namespace');
  expect(rest).not.toContain('--watch');
  expect(rest).toContain('--context');
  // repeatable options stay
  expect(values(['validate', '-f', 'a.yaml', '--'])).toEqual(['--file', '--help']);
  expect(complete(table, ['status', '--o']).candidates).toEqual([{ value: '--output', description: '-o' }]);
});

test('option values: declared choices, dynamic values (contexts), else file names', () => {
  expect(values(['status', '-o', ''])).toEqual(['table', 'json']);
  expect(values(['status', '--output', 'j'])).toEqual(['json']);
  expect(values(['status', '--context', 'p'], { context: () => ['prod', 'staging', 'prod-eu'] })).toEqual([
    'prod',
    'prod-eu',
  ]);
  expect(complete(table, ['status', '--kubeconfig', ''])).toEqual({ candidates: [], files: true });
  // a boolean option takes no value: the next word is an option again
  expect(values(['status', '--watch', '--up'])).toEqual(['--upstream', '--upstream-vty']);
});

test('subcommands, then their own options and choices', () => {
  expect(values(['lab', ''])).toEqual(['up', 'status', 'down']);
  expect(values(['lab', 'down', '--'])).toEqual(['--name']);
  expect(values(['lab', 'up', '--daemon', ''])).toEqual(['bird', 'frr', 'gobgp']);
  expect(values(['lab', 'nope', ''])).toEqual([]);
  expect(values(['nope', ''])).toEqual([]);
});

test("the answer kubectl reads from kubectl_complete-purelb: lines, then ':4' (no files) or ':0'", () => {
  expect(formatCompletion(complete(table, ['status', '--w']))).toBe('--watch\t-w\n:4');
  expect(formatCompletion(complete(table, ['status', '--kubeconfig', '']))).toBe(':0');
});
