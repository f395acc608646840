// `nexthop demo`: the virtual cluster lab that shows what nexthop does (src/demo/demo.ts), and
// `nexthop demo --cleanup`, which removes what a crashed or --keep run left behind. No RFC here;
// the story covers RFC 4271, 4456, 4724 and 7348 (see src/demo/demo.ts).
import * as path from 'path';
import { parseFlags, UsageError } from '../usage';
import { runDemo, DemoPreflightError } from '../../demo/demo';
import { cleanupLeftovers, isRoot } from '../../demo/lab';
import { MAX_NODES_PER_RACK } from '../../demo/topology';

export const summary = 'build a virtual cluster in network namespaces and show nexthop at work (root)';

const USAGE = 'usage: nexthop demo [--nodes-per-rack N] [--keep] [--etcd] [--timeout SECONDS] | nexthop demo --cleanup [--force]';
const HELP = `${USAGE}

Builds two racks of nodes in network namespaces, a router between them running BIRD 2 as the
ToR, one pod per node (the real CNI bridge plugin), and one nexthop agent per node; shows a
node's BGP sessions, the routes the agents wrote, a pod-to-pod ping matrix, then moves the live
cluster from the node-to-node mesh to route reflectors while a ping runs across the racks and
counts the lost packets. Removes everything on exit, error or Ctrl-C. Needs root.

  --nodes-per-rack N    nodes in each of the 2 racks, 1..${MAX_NODES_PER_RACK} (default 2)
  --keep                leave the lab running at the end and print how to look around
  --etcd                keep the cluster state in a local etcd (in the router namespace)
                        instead of a YAML file
  --timeout SECONDS     give up (and clean up) after this long (default 300)
  --ping-interval MS    interval of the ping during the move, 10..1000 (default 50)
  --no-color            plain output even on a terminal
  --cleanup             remove namespaces (nhdemo-*), processes and work directories left by
                        earlier runs that are no longer running, then exit
  --force               with --cleanup: also remove runs whose demo process is still alive
  --help                this text`;

function intFlag(v: string | undefined, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (!/^\d+$/.test(v) || Number(v) < min || Number(v) > max) throw new UsageError(`--${name} '${v}' must be an integer ${min}..${max}`, USAGE);
  return Number(v);
}

export async function run(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, {
    'nodes-per-rack': 'string', keep: 'boolean', etcd: 'boolean', timeout: 'string', 'ping-interval': 'string',
    'no-color': 'boolean', cleanup: 'boolean', force: 'boolean', help: 'boolean',
  }, USAGE);
  if (flags.help) { process.stdout.write(HELP + '\n'); return 0; }
  if (positional.length > 0) throw new UsageError(`unexpected argument '${positional[0]}'`, USAGE);
  if (flags.force && !flags.cleanup) throw new UsageError('--force goes with --cleanup', USAGE);
  const nodesPerRack = intFlag(flags['nodes-per-rack'] as string | undefined, 'nodes-per-rack', 1, MAX_NODES_PER_RACK, 2);
  const timeoutSeconds = intFlag(flags.timeout as string | undefined, 'timeout', 10, 86400, 300);
  const pingIntervalMs = intFlag(flags['ping-interval'] as string | undefined, 'ping-interval', 10, 1000, 50);

  if (flags.cleanup) {
    if (!isRoot()) {
      process.stderr.write('nexthop demo --cleanup deletes network namespaces and needs root: please run it with sudo.\n');
      return 1;
    }
    const r = await cleanupLeftovers({ force: flags.force === true });
    process.stdout.write(`removed ${r.namespaces.length} namespaces${r.namespaces.length ? ` (${r.namespaces.join(' ')})` : ''}, ` +
      `killed ${r.killed.length} processes, removed ${r.dirs.length} work directories\n`);
    if (r.skipped.length > 0) process.stdout.write(`left ${r.skipped.length} namespaces of a demo that is still running (--force removes them too): ${r.skipped.join(' ')}\n`);
    return 0;
  }

  try {
    return await runDemo({
      nodesPerRack,
      keep: flags.keep === true,
      etcd: flags.etcd === true,
      timeoutSeconds,
      pingIntervalMs,
      cliMain: path.join(__dirname, '..', 'main.js'),
      out: process.stdout,
      color: flags['no-color'] ? false : undefined,
    });
  } catch (e) {
    if (e instanceof DemoPreflightError) {
      process.stderr.write(`nexthop demo: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}
