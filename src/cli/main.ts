// The `nexthop` command: dispatches to one module per subcommand (src/cli/commands/NAME.ts),
// each exporting `run(args: string[]): Promise<number>` and a one-line `summary`.
// No RFC: command dispatch only (each subcommand's header names the RFCs it touches).
import * as path from 'path';
import * as fs from 'fs';
import { UsageError } from './usage';

/** Subcommands in the order `nexthop --help` lists them. */
const COMMANDS = [
  'agent', 'status', 'routes', 'explain',
  'apply', 'get', 'delete', 'ipam',
  'decode', 'demo',
];

interface CommandModule {
  summary: string;
  run(args: string[]): Promise<number>;
}

function load(name: string): CommandModule | null {
  const file = path.join(__dirname, 'commands', `${name}.js`);
  if (!fs.existsSync(file)) return null;
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require(file) as CommandModule;
}

function help(): string {
  const lines = ['usage: nexthop <command> [options]', '', 'commands:'];
  for (const name of COMMANDS) {
    const m = load(name);
    if (m) lines.push(`  ${name.padEnd(10)} ${m.summary}`);
  }
  lines.push('', 'nexthop <command> --help shows the options of a command.');
  return lines.join('\n');
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(help() + '\n');
    return name ? 0 : 2;
  }
  const m = COMMANDS.includes(name) ? load(name) : null;
  if (!m) {
    process.stderr.write(`nexthop: unknown command '${name}'\n${help()}\n`);
    return 2;
  }
  try {
    return await m.run(rest);
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`nexthop ${name}: ${err.message}\n${err.usage}\n`);
      return 2;
    }
    throw err;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => { process.exitCode = code; });
}
