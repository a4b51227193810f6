// Shell completion. `purelb completion bash|zsh` prints a script that asks `purelb __complete WORDS...` for
// the candidates, so they always come from the commands' own option definitions (Command.options, the
// object their parseArgs call uses). __complete answers in the format kubectl expects from a plugin's
// `kubectl_complete-<plugin>` executable (one candidate per line, "value<TAB>description", then
// ":<directive>"), so bin/kubectl_complete-purelb only forwards its arguments here.
import { loadKubeConfig } from '../k8s/kubeconfig.ts';
import { commands, type Command, type CommandOptions } from './main.ts';
import { UsageError } from './options.ts';

export interface Candidate {
  value: string;
  description?: string;
}

export interface Completion {
  candidates: Candidate[];
  /** No candidate fits but the word may be a file name (e.g. --kubeconfig PATH): let the shell offer files. */
  files: boolean;
}

/** The commands as completion sees them: name -> definition (undefined: not loaded, i.e. not needed). */
export type CommandTable = Record<string, Pick<Command, 'summary' | 'options' | 'choices' | 'subcommands'> | undefined>;

/** Values only known at completion time, per long option name (e.g. context -> the kubeconfig's contexts). */
export type DynamicValues = Record<string, () => string[]>;

const none: Completion = { candidates: [], files: false };
const startingWith = (prefix: string, cs: Candidate[]) => cs.filter((c) => c.value.startsWith(prefix));

/** The option an argv word names (--long or -s), if `spec` defines it. */
function optionNamed(spec: CommandOptions, word: string): string | undefined {
  const opts = spec.options ?? {};
  if (word.startsWith('--')) return word.slice(2) in opts ? word.slice(2) : undefined;
  if (/^-[^-]$/.test(word)) return Object.keys(opts).find((k) => opts[k]!.short === word.slice(1));
  return undefined;
}

/**
 * Pure: the candidates for the last of `words` (the arguments after the program name; the last one is the
 * word being completed, '' for a new one).
 */
export function complete(table: CommandTable, words: string[], dynamic: DynamicValues = {}): Completion {
  const cur = words[words.length - 1] ?? '';
  if (words.length <= 1) {
    const names = Object.entries(table)
      .filter(([name]) => !name.startsWith('__'))
      .map(([value, c]) => ({ value, ...(c ? { description: c.summary } : {}) }));
    return { candidates: startingWith(cur, names), files: false };
  }
  const command = table[words[0]!];
  if (!command) return none;
  let spec: CommandOptions = command;
  let args = words.slice(1);
  if (command.subcommands) {
    const subs = Object.entries(command.subcommands).map(([value, s]) => ({ value, description: s.summary }));
    if (args.length === 1) return { candidates: startingWith(cur, subs), files: false };
    const sub = command.subcommands[args[0]!];
    if (!sub) return none;
    spec = sub;
    args = args.slice(1);
  }
  const opts = spec.options ?? {};
  // the value of a string option: its choices, the dynamic values, or (a path, a name) whatever the shell has
  const prev = args.length >= 2 ? optionNamed(spec, args[args.length - 2]!) : undefined;
  if (prev && opts[prev]!.type === 'string') {
    const values = spec.choices?.[prev] ?? dynamic[prev]?.();
    if (!values) return { candidates: [], files: true };
    return {
      candidates: startingWith(
        cur,
        values.map((value) => ({ value })),
      ),
      files: false,
    };
  }
  const given = new Set(args.slice(0, -1).map((w) => optionNamed(spec, w)));
  const flags = Object.entries(opts)
    .filter(([name, o]) => o.multiple || !given.has(name))
    .map(([name, o]) => ({ value: `--${name}`, ...(o.short ? { description: `-${o.short}` } : {}) }));
  return { candidates: startingWith(cur, flags), files: false };
}

// cobra's ShellCompDirective values, which kubectl reads from a plugin's completion executable
const DIRECTIVE_DEFAULT = 0;
const DIRECTIVE_NO_FILE = 4;

/** The __complete output: candidates, then the directive line. */
export function formatCompletion(c: Completion): string {
  const lines = c.candidates.map((x) => (x.description ? `${x.value}\t${x.description}` : x.value));
  return [...lines, `:${c.files ? DIRECTIVE_DEFAULT : DIRECTIVE_NO_FILE}`].join('\n');
}

// Both scripts call the program the user typed (word 0), drop the directive line and the descriptions bash
// cannot show, and fall back to file names only when __complete says so (directive bit 4 clear).
const BASH = `# bash completion for purelb; load with: source <(purelb completion bash)
_purelb() {
  local out directive
  out=$("\${COMP_WORDS[0]}" __complete "\${COMP_WORDS[@]:1:COMP_CWORD}" 2>/dev/null) || return 0
  directive=\${out##*:}
  local -a lines=()
  mapfile -t lines <<<"\${out%:*}"
  COMPREPLY=()
  local line
  for line in "\${lines[@]}"; do
    [[ -n $line ]] && COMPREPLY+=("\${line%%$'\\t'*}")
  done
  if (( \${#COMPREPLY[@]} == 0 && (directive & 4) == 0 )); then
    compopt -o default
  fi
}
complete -F _purelb purelb
`;

const ZSH = `#compdef purelb
# zsh completion for purelb; load with: source <(purelb completion zsh) (after compinit),
# or save as _purelb in a directory of $fpath
_purelb() {
  local out directive line value
  local -a lines candidates
  out=$("\${words[1]}" __complete "\${(@)words[2,CURRENT]}" 2>/dev/null) || return 1
  lines=("\${(@f)out}")
  directive=\${lines[-1]#:}
  for line in "\${(@)lines[1,-2]}"; do
    [[ -z $line ]] && continue
    value=\${line%%$'\\t'*}
    value=\${value//:/\\\\:}
    if [[ $line == *$'\\t'* ]]; then
      candidates+=("$value:\${line#*$'\\t'}")
    else
      candidates+=("$value")
    fi
  done
  if (( \${#candidates} )); then
    _describe -t purelb 'purelb' candidates
  elif (( (directive & 4) == 0 )); then
    _files
  fi
}
if [[ "\${funcstack[1]}" == _purelb ]]; then
  _purelb "$@"
else
  compdef _purelb purelb
fi
`;

export const SCRIPTS: Record<string, string> = { bash: BASH, zsh: ZSH };

export const command: Command = {
  summary: 'Print a shell completion script: purelb completion bash|zsh',
  subcommands: { bash: { summary: 'bash completion script' }, zsh: { summary: 'zsh completion script' } },
  async run(argv) {
    const [shell, ...rest] = argv;
    if (shell === '--help' || shell === '-h') {
      console.log(
        'Usage: purelb completion bash|zsh\n\n  source <(purelb completion bash)    # or zsh; see docs/cli.md',
      );
      return 0;
    }
    const script = shell ? SCRIPTS[shell] : undefined;
    if (!script || rest.length > 0) throw new UsageError(`give one shell: bash or zsh (got "${argv.join(' ')}")`);
    process.stdout.write(script);
    return 0;
  },
};

/** The kubeconfig's context names (of --kubeconfig when given earlier on the line); none if it does not load. */
function contextNames(words: string[]): string[] {
  const i = words.lastIndexOf('--kubeconfig');
  try {
    return loadKubeConfig(i >= 0 ? words[i + 1] : undefined).contextNames();
  } catch {
    return [];
  }
}

/** Hidden: `purelb __complete WORDS...` (and `kubectl_complete-purelb WORDS...`). */
export const completeCommand: Command = {
  summary: 'shell completion candidates (used by the completion scripts)',
  async run(argv) {
    const words = argv.length > 0 ? argv : [''];
    // load only what the answer needs: every command for their names and summaries, else just the one typed
    const wanted = words.length <= 1 ? Object.keys(commands) : [words[0]!];
    const table: CommandTable = Object.fromEntries(Object.keys(commands).map((n) => [n, undefined]));
    for (const name of wanted) if (commands[name]) table[name] = await commands[name]();
    process.stdout.write(formatCompletion(complete(table, words, { context: () => contextNames(words) })) + '\n');
    return 0;
  },
};
