// The `purelb` command: one binary, one subcommand per component or tool.
import type { ParseArgsOptionsConfig } from 'node:util';
import { UsageError } from './options.ts';

/** What shell completion offers for a command: the options run() parses, and the values some of them take. */
export interface CommandOptions {
  options?: ParseArgsOptionsConfig;
  choices?: Record<string, readonly string[]>;
}

export interface Command extends CommandOptions {
  summary: string;
  /** Subcommands (`purelb lab up`) with their own options, for completion. */
  subcommands?: Record<string, CommandOptions & { summary: string }>;
  /** Returns the process exit code. */
  run(argv: string[]): Promise<number>;
}

/** Subcommands register here as their components land; each loads lazily. Names starting with __ are hidden. */
export const commands: Record<string, () => Promise<Command>> = {
  allocator: async () => (await import('./allocator.ts')).command,
  agent: async () => (await import('./agent.ts')).command,
  validate: async () => (await import('./validate.ts')).command,
  status: async () => (await import('./status.ts')).command,
  lab: async () => (await import('./lab.ts')).command,
  render: async () => (await import('./render.ts')).command,
  import: async () => (await import('./import.ts')).command,
  install: async () => (await import('./install.ts')).command,
  completion: async () => (await import('./completion.ts')).command,
  __complete: async () => (await import('./completion.ts')).completeCommand,
};

async function usage(): Promise<string> {
  const loaded = await Promise.all(
    Object.entries(commands)
      .filter(([name]) => !name.startsWith('__'))
      .map(async ([name, load]) => [name, (await load()).summary]),
  );
  const width = Math.max(0, ...loaded.map(([name]) => name!.length));
  return [
    'Usage: purelb <command> [options]    (purelb <command> --help for its options)',
    '',
    'Commands:',
    ...loaded.map(([name, text]) => `  ${name!.padEnd(width)}  ${text}`),
  ].join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(await usage());
    return 0;
  }
  const load = commands[name];
  if (!load) {
    console.error(`purelb: unknown command "${name}"\n\n${await usage()}`);
    return 2;
  }
  try {
    return await (await load()).run(rest);
  } catch (err) {
    // option errors (node:util parseArgs, or ours) are usage errors, not crashes
    if (!(err instanceof UsageError) && !String((err as { code?: string }).code).startsWith('ERR_PARSE_ARGS'))
      throw err;
    console.error(`purelb ${name}: ${(err as Error).message} (see purelb ${name} --help)`);
    return 2;
  }
}
