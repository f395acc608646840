// `nexthop ipam show`: pools, their blocks, who owns each block and whether the owner is alive
// (liveness is separate from ownership: a dead owner keeps its block until its Node is deleted).
// `nexthop ipam claim --node NAME`: claims (or finds again) a node's blocks, as the agent does
// at start - for scripts, the demo, and tests of concurrent claims.
// No RFC: IPAM bookkeeping (nexthop's own Calico-style block scheme; see src/cluster/ipam.ts).
import { parseFlags, UsageError } from '../usage';
import { poolUsage } from '../../cluster/ipam';
import { BlockClaim } from '../../cluster/keys';
import { withDatastore, DATASTORE_FLAGS, DATASTORE_HELP } from '../../cluster/cli-support';
import { formatTable } from './get';

export const summary = 'show IPAM pools, blocks, owners and liveness; claim a node\'s blocks';

const USAGE = 'usage: nexthop ipam show [-o json] [--datastore SPEC] | nexthop ipam claim --node NAME [--datastore SPEC]';
const HELP = `${USAGE}

  show             pools (size, blocks used), every block with its owner, pinned or not, and
                   whether the owner is live; blocks of deleted nodes or outside every pool are
                   flagged as orphaned
  claim            claim the node's blocks (one per enabled pool, or its spec.podCIDRs) and print them
  -o, --output FMT   table (default) or json
  --node NAME        the node (claim)
${DATASTORE_HELP}
  --help             this text`;

export async function run(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, { output: 'string', node: 'string', ...DATASTORE_FLAGS, help: 'boolean' }, USAGE, { o: 'output' });
  if (flags.help) { process.stdout.write(HELP + '\n'); return 0; }
  const [sub, ...extra] = positional;
  if (!sub) throw new UsageError('need a subcommand: show or claim', USAGE);
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`, USAGE);
  const output = (flags.output as string | undefined) ?? 'table';
  if (!['table', 'json'].includes(output)) throw new UsageError(`unknown output format '${output}' (json)`, USAGE);
  if (sub === 'claim') {
    const node = flags.node as string | undefined;
    if (!node) throw new UsageError('claim needs --node NAME', USAGE);
    return withDatastore('ipam', flags, USAGE, async (ds) => {
      const claims = await ds.claimBlocks(node);
      if (output === 'json') process.stdout.write(JSON.stringify(claims) + '\n');
      else for (const c of claims) process.stdout.write(`${c.cidr} ${c.pool} ${c.node}${c.pinned ? ' pinned' : ''}\n`);
      return 0;
    });
  }
  if (sub !== 'show') throw new UsageError(`unknown subcommand '${sub}' (show, claim)`, USAGE);
  return withDatastore('ipam', flags, USAGE, async (ds) => {
    await ds.load();
    const view = ds.state.view();
    const nodes = new Set(view.nodes.map((n) => n.name));
    const live = ds.state.liveness();
    const usage = poolUsage(view.pools, view.blocks);
    const inPool = new Set(usage.flatMap((u) => u.claimed));
    const orphan = (b: BlockClaim) => !nodes.has(b.node) || !inPool.has(b);
    if (output === 'json') {
      process.stdout.write(JSON.stringify({
        pools: usage.map((u) => ({ ...u.pool, totalBlocks: Number(u.totalBlocks), usedBlocks: u.claimed.length })),
        blocks: view.blocks.map((b) => ({ ...b, live: live.has(b.node), orphaned: orphan(b) })),
      }, null, 2) + '\n');
      return 0;
    }
    process.stdout.write(formatTable(['POOL', 'CIDR', 'BLOCK', 'USED', 'TOTAL', 'STATE'],
      usage.map((u) => [u.pool.name, u.pool.cidr, `/${u.pool.blockSize}`, String(u.claimed.length), String(u.totalBlocks), u.pool.disabled ? 'disabled' : 'enabled'])));
    process.stdout.write('\n');
    const rows = [...usage.flatMap((u) => u.claimed.map((b) => [u.pool.name, b] as const)),
      ...view.blocks.filter((b) => !inPool.has(b)).map((b) => ['-', b] as const)];
    process.stdout.write(formatTable(['BLOCK', 'POOL', 'OWNER', 'PINNED', 'LIVE', 'NOTE'],
      rows.map(([pool, b]) => [b.cidr, pool, b.node, b.pinned ? 'yes' : 'no', live.has(b.node) ? 'yes' : 'no',
        !nodes.has(b.node) ? 'orphaned: no such node' : !inPool.has(b) ? 'orphaned: in no pool' : ''])));
    return 0;
  });
}
