// `nexthop agent`: runs the node agent (src/agent/agent.ts) until SIGTERM or SIGINT, then stops
// it gracefully (routes stay in the FIB, peers keep ours as stale: RFC 4724). A configuration
// that cannot work stops it before the host is touched, with a message naming the problem and
// exit status 1; a bad flag exits 2 with the usage line.
import { UsageError } from '../usage';
import { parseAgentArgs, AGENT_HELP } from '../../agent/agent-config';
import { Agent } from '../../agent/agent';
import { AgentConfigError } from '../../agent/agent-plan';
import { ResourceError, IpamError, DatastoreError, SelectorError } from '../../cluster/errors';
import { DataplaneConfigError } from '../../dataplane/dataplane';
import { PoolConfigError } from '../../dataplane/nexthop-decision';
import { TunnelUnsupportedError, TunnelConfigError } from '../../dataplane/tunnels';
import { ControlSocketError } from '../../agent/control';
import { HttpListenError } from '../../agent/http';
import { SpeakerConfigError } from '../../speaker/types';

export const summary = 'run the node agent (BGP speaker, FIB programming, status socket)';

/** Errors that describe a configuration or environment problem: printed as one line, exit 1. */
const CONFIG_ERRORS = [
  AgentConfigError, ResourceError, IpamError, DatastoreError, SelectorError, DataplaneConfigError, PoolConfigError,
  TunnelUnsupportedError, TunnelConfigError, ControlSocketError, HttpListenError, SpeakerConfigError,
];

/** A handle a library left open must not keep a stopped agent alive: exit after a grace period. */
function exitSoon(code: number): void {
  setTimeout(() => process.exit(code), 3000).unref();
}

export async function run(args: string[]): Promise<number> {
  const opts = parseAgentArgs(args);
  if (opts === 'help') {
    process.stdout.write(AGENT_HELP + '\n');
    return 0;
  }
  const agent = new Agent(opts);
  // Signals are caught from the start, so a stop during start-up still leaves things tidy.
  let stopRequested: ((sig: string) => void) | null = null;
  const stopped = new Promise<string>((resolve) => { stopRequested = resolve; });
  const onSignal = (sig: NodeJS.Signals) => stopRequested?.(sig);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    try {
      const starting = agent.start();
      const first = await Promise.race([starting.then(() => 'started' as const), stopped]);
      if (first !== 'started') {
        // Stopped while starting: let the start settle (bounded), then stop what it made.
        await Promise.race([starting.catch(() => undefined), new Promise((r) => setTimeout(r, 5000).unref())]);
        await agent.stop();
        exitSoon(0);
        return 0;
      }
    } catch (e) {
      await agent.stop().catch(() => undefined);
      const err = e as Error & { code?: string };
      if (CONFIG_ERRORS.some((c) => e instanceof c)) {
        process.stderr.write(`nexthop agent: ${err.message}\n`);
        exitSoon(1);
        return 1;
      }
      if (e instanceof UsageError) throw e;
      // etcd/gRPC failures: name the datastore rather than print a stack.
      if (/etcd|grpc|unavailable|deadline|ECONNREFUSED/i.test(`${err.name} ${err.message}`)) {
        process.stderr.write(`nexthop agent: datastore ${opts.datastore}: ${err.message}\n`);
        exitSoon(1);
        return 1;
      }
      throw e;
    }
    const sig = await stopped;
    agent.logging.component('agent').info({ signal: sig }, 'stopping gracefully');
    await agent.stop();
    exitSoon(0);
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }
}
