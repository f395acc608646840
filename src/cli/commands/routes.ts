// `nexthop routes [--json]`: the Loc-RIB (RFC 4271 §9: best path, why it won) next to the kernel
// FIB of our protocol (next hops, device, direct / IPIP / VXLAN, in sync or not), from the agent.
import { formatRoutes } from '../../agent/status-format';
import type { RoutesStatus } from '../../agent/status-types';
import { runAgentView } from '../../agent/agent-client';

export const summary = 'show the RIB and the FIB side by side, with the tunnel decision';

export function run(args: string[]): Promise<number> {
  return runAgentView<RoutesStatus>({ method: 'routes', jsonHelp: 'the raw routes object', timeoutMs: 30_000, format: formatRoutes }, args);
}
