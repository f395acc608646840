// `nexthop routes [--json]`: the Loc-RIB (RFC 4271 §9: best path, why it won) next to the kernel
// FIB of our protocol (next hops, device, direct / IPIP / VXLAN, in sync or not), from the agent.
import { parseFlags, UsageError } from '../usage';
import { callAgent, DEFAULT_CONTROL_SOCKET } from '../../agent/control';
import { formatRoutes } from '../../agent/status-format';
import type { RoutesStatus } from '../../agent/status-types';
import { agentCallFailed, CONTROL_SOCKET_HELP } from '../../agent/agent-client';

export const summary = 'show the RIB and the FIB side by side, with the tunnel decision';

const USAGE = 'usage: nexthop routes [--json] [--control-socket PATH]';
const HELP = `${USAGE}

  --json                   the raw routes object
${CONTROL_SOCKET_HELP}
  --help                   this text`;

export async function run(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, { json: 'boolean', 'control-socket': 'string', help: 'boolean' }, USAGE);
  if (flags.help) { process.stdout.write(HELP + '\n'); return 0; }
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`, USAGE);
  const socketPath = (flags['control-socket'] as string | undefined) ?? DEFAULT_CONTROL_SOCKET;
  let r: RoutesStatus;
  try {
    r = await callAgent<RoutesStatus>('routes', {}, { socketPath, timeoutMs: 30_000 });
  } catch (e) {
    return agentCallFailed('routes', e);
  }
  if (flags.json) process.stdout.write(JSON.stringify(r, null, 2) + '\n');
  else process.stdout.write(formatRoutes(r, { maxWidth: process.stdout.columns }) + '\n');
  return 0;
}
