// `nexthop status [--json]`: the agent's peer table (node, AS, router id, blocks, readiness,
// then one row per BGP session: RFC 4271 §8.2.2 state, RFC 4724 restart state, prefixes),
// asked over the control socket.
import { parseFlags, UsageError } from '../usage';
import { callAgent, DEFAULT_CONTROL_SOCKET } from '../../agent/control';
import { formatStatus } from '../../agent/status-format';
import type { AgentStatus } from '../../agent/status-types';
import { agentCallFailed, CONTROL_SOCKET_HELP } from '../../agent/agent-client';

export const summary = 'show the agent\'s node, blocks and BGP sessions';

const USAGE = 'usage: nexthop status [--json] [--control-socket PATH]';
const HELP = `${USAGE}

  --json                   the raw status object
${CONTROL_SOCKET_HELP}
  --help                   this text`;

export async function run(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, { json: 'boolean', 'control-socket': 'string', help: 'boolean' }, USAGE);
  if (flags.help) { process.stdout.write(HELP + '\n'); return 0; }
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`, USAGE);
  const socketPath = (flags['control-socket'] as string | undefined) ?? DEFAULT_CONTROL_SOCKET;
  let s: AgentStatus;
  try {
    s = await callAgent<AgentStatus>('status', {}, { socketPath });
  } catch (e) {
    return agentCallFailed('status', e);
  }
  if (flags.json) process.stdout.write(JSON.stringify(s, null, 2) + '\n');
  else process.stdout.write(formatStatus(s, { maxWidth: process.stdout.columns }) + '\n');
  return 0;
}
