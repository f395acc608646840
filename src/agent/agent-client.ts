// The CLI side of the control socket shared by `nexthop status`, `routes` and `explain`: the
// --control-socket help text and one plain message (exit 1) for each way a call can fail (agent
// not running, no permission, no answer in time, an error from the agent). No RFC.
import { AgentUnreachableError, AgentTimeoutError, AgentRequestError, AgentProtocolError, DEFAULT_CONTROL_SOCKET } from './control';

export const CONTROL_SOCKET_HELP = `  --control-socket PATH    the agent's control socket (default ${DEFAULT_CONTROL_SOCKET})`;

/** Prints why a control call failed and returns the exit status (1); rethrows anything unexpected. */
export function agentCallFailed(cmd: string, e: unknown, write: (s: string) => void = (s) => process.stderr.write(s)): number {
  if (e instanceof AgentUnreachableError || e instanceof AgentTimeoutError || e instanceof AgentRequestError || e instanceof AgentProtocolError) {
    write(`nexthop ${cmd}: ${e.message}\n`);
    return 1;
  }
  throw e;
}
