// Flag parsing for the CLI subcommands: a bad flag stops with a usage line, never a stack trace.
// No RFC: command-line parsing only.

export class UsageError extends Error {
  constructor(message: string, readonly usage: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export interface FlagSpec {
  /** Flags that take a value, e.g. { datastore: 'string' }; booleans take none. */
  [flag: string]: 'string' | 'boolean' | 'strings';
}

export interface ParsedFlags {
  flags: Record<string, string | boolean | string[] | undefined>;
  positional: string[];
}

/**
 * Parses `--flag value`, `--flag=value`, `-o value` (single-letter aliases via `aliases`) and
 * positionals. Unknown flags and missing values throw UsageError with `usage`.
 */
export function parseFlags(args: string[], spec: FlagSpec, usage: string, aliases: Record<string, string> = {}): ParsedFlags {
  const flags: ParsedFlags['flags'] = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    if (a === '--') { positional.push(...args.slice(i + 1)); break; }
    if (a.startsWith('-') && a !== '-') {
      let name = a.replace(/^--?/, '');
      let value: string | undefined;
      const eq = name.indexOf('=');
      if (eq >= 0) { value = name.slice(eq + 1); name = name.slice(0, eq); }
      if (!a.startsWith('--')) name = aliases[name] ?? name;
      const kind = spec[name];
      if (!kind) throw new UsageError(`unknown option '${a}'`, usage);
      if (kind === 'boolean') {
        if (value !== undefined) throw new UsageError(`option --${name} takes no value`, usage);
        flags[name] = true;
        continue;
      }
      if (value === undefined) {
        if (i + 1 >= args.length) throw new UsageError(`option --${name} needs a value`, usage);
        value = args[++i];
      }
      if (kind === 'strings') {
        const prev = (flags[name] as string[] | undefined) ?? [];
        flags[name] = [...prev, value];
      } else flags[name] = value;
      continue;
    }
    positional.push(a);
  }
  return { flags, positional };
}
