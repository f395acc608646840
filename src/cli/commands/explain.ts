// `nexthop explain IP`: how traffic to one address leaves this node: the pool and block it is
// in, the owning node, the best path (RFC 4271 §9.1.2.2 step that chose it), the kernel route,
// and why it is direct or tunnelled (IPIP RFC 2003 / VXLAN RFC 7348), with problems found.
import { parseFlags, UsageError } from '../usage';
import { callAgent, DEFAULT_CONTROL_SOCKET } from '../../agent/control';
import { formatExplain } from '../../agent/status-format';
import type { ExplainResult } from '../../agent/status-types';
import { canonicalIP } from '../../lib/ip';
import { agentCallFailed, CONTROL_SOCKET_HELP } from '../../agent/agent-client';

export const summary = 'explain how traffic to an address is routed from this node';

const USAGE = 'usage: nexthop explain IP [--json] [--control-socket PATH]';
const HELP = `${USAGE}

  IP                       an IPv4 or IPv6 address (a pod, a node)
  --json                   the raw explanation object
${CONTROL_SOCKET_HELP}
  --help                   this text`;

export async function run(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, { json: 'boolean', 'control-socket': 'string', help: 'boolean' }, USAGE);
  if (flags.help) { process.stdout.write(HELP + '\n'); return 0; }
  if (positional.length !== 1) throw new UsageError(positional.length === 0 ? 'need an IP address' : `unexpected argument '${positional[1]}'`, USAGE);
  const address = canonicalIP(positional[0]);
  if (!address) throw new UsageError(`'${positional[0]}' is not an IP address`, USAGE);
  const socketPath = (flags['control-socket'] as string | undefined) ?? DEFAULT_CONTROL_SOCKET;
  let x: ExplainResult;
  try {
    x = await callAgent<ExplainResult>('explain', { address }, { socketPath });
  } catch (e) {
    return agentCallFailed('explain', e);
  }
  if (flags.json) process.stdout.write(JSON.stringify(x, null, 2) + '\n');
  else process.stdout.write(formatExplain(x, { width: Math.min(process.stdout.columns ?? 100, 100) }) + '\n');
  return 0;
}
