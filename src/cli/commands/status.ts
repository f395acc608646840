// `nexthop status [--json]`: the agent's peer table (node, AS, router id, blocks, readiness,
// then one row per BGP session: RFC 4271 §8.2.2 state, RFC 4724 restart state, prefixes),
// asked over the control socket.
import { formatStatus } from '../../agent/status-format';
import type { AgentStatus } from '../../agent/status-types';
import { runAgentView } from '../../agent/agent-client';

export const summary = 'show the agent\'s node, blocks and BGP sessions';

export function run(args: string[]): Promise<number> {
  return runAgentView<AgentStatus>({ method: 'status', jsonHelp: 'the raw status object', format: formatStatus }, args);
}
