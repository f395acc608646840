// The CLI side of the control socket shared by `nexthop status`, `routes` and `explain`: the
// --control-socket help text and one plain message (exit 1) for each way a call can fail (agent
// not running, no permission, no answer in time, an error from the agent). No RFC.
import { AgentUnreachableError, AgentTimeoutError, AgentRequestError, AgentProtocolError, DEFAULT_CONTROL_SOCKET, callAgent } from './control';
import { parseFlags, UsageError } from '../cli/usage';

export const CONTROL_SOCKET_HELP = `  --control-socket PATH    the agent's control socket (default ${DEFAULT_CONTROL_SOCKET})`;

/** Prints why a control call failed and returns the exit status (1); rethrows anything unexpected. */
export function agentCallFailed(cmd: string, e: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (e instanceof AgentUnreachableError || e instanceof AgentTimeoutError || e instanceof AgentRequestError || e instanceof AgentProtocolError) {
    write(`nexthop ${cmd}: ${e.message}\n`);
    return 1;
  }
  throw e;
}

/**
 * The whole of a read-only view command (`nexthop status`, `nexthop routes`): flags
 * [--json] [--control-socket PATH] [--help], one control call, then JSON or the formatted text.
 */
export async function runAgentView<T>(view: {
  method: string;
  jsonHelp: string;
  timeoutMs?: number;
  format: (value: T, opts: { maxWidth?: number }) => string;
}, args: string[]): Promise<number> {
  const usage = `usage: nexthop ${view.method} [--json] [--control-socket PATH]`;
  const help = `${usage}\n\n  --json                   ${view.jsonHelp}\n${CONTROL_SOCKET_HELP}\n  --help                   this text`;
  const { flags, positional } = parseFlags(args, { json: 'boolean', 'control-socket': 'string', help: 'boolean' }, usage);
  if (flags.help) { process.stdout.write(help + '\n'); return 0; }
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`, usage);
  const socketPath = (flags['control-socket'] as string | undefined) ?? DEFAULT_CONTROL_SOCKET;
  let value: T;
  try {
    value = await callAgent<T>(view.method, {}, { socketPath, ...(view.timeoutMs ? { timeoutMs: view.timeoutMs } : {}) });
  } catch (e) {
    return agentCallFailed(view.method, e);
  }
  if (flags.json) process.stdout.write(JSON.stringify(value, null, 2) + '\n');
  else process.stdout.write(view.format(value, { maxWidth: process.stdout.columns }) + '\n');
  return 0;
}
