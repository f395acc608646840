// `nexthop delete KIND NAME`: removes one resource. Deleting a Node also releases the IPAM
// blocks it holds and its agent-written status (the only way a block is ever released).
// No RFC: datastore and IPAM bookkeeping.
import { parseFlags, UsageError } from '../usage';
import { kindFromName } from '../../cluster/resources';
import { withDatastore, DATASTORE_FLAGS, DATASTORE_HELP } from '../../cluster/cli-support';

export const summary = 'delete a cluster resource (a Node releases its blocks)';

const USAGE = 'usage: nexthop delete KIND NAME [--datastore SPEC]';
const HELP = `${USAGE}

KIND: bgpconfig(uration), bgppeer(s), ippool(s), node(s) (any case; calicoctl short names too).
${DATASTORE_HELP}
  --help             this text`;

export async function run(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, { ...DATASTORE_FLAGS, help: 'boolean' }, USAGE);
  if (flags.help) { process.stdout.write(HELP + '\n'); return 0; }
  if (positional.length !== 2) throw new UsageError(positional.length < 2 ? 'need KIND and NAME' : `unexpected argument '${positional[2]}'`, USAGE);
  const kind = kindFromName(positional[0]);
  if (!kind) throw new UsageError(`unknown kind '${positional[0]}' (bgpconfiguration, bgppeer, ippool, node)`, USAGE);
  const name = positional[1];
  return withDatastore('delete', flags, USAGE, async (ds) => {
    const { releasedBlocks } = await ds.delete(kind, name);
    process.stdout.write(`${kind}/${name} deleted${releasedBlocks.length > 0 ? `; released blocks ${releasedBlocks.join(', ')}` : ''}\n`);
    return 0;
  });
}
