// `nexthop get KIND [NAME] [-o yaml|json|wide]`: lists cluster resources from the datastore,
// as a table or as YAML/JSON that `nexthop apply` accepts again. Nodes show the agent-written
// fields (tunnel addresses, VXLAN MAC) merged into their spec, and their blocks in the table.
// No RFC: resource listing (Calico's projectcalico.org/v3 format, not an RFC).
import * as YAML from 'yaml';
import { parseFlags, UsageError } from '../usage';
import { kindFromName, toDocument, Resource, NodeResource, Kind } from '../../cluster/resources';
import { mergeNodeStatus } from '../../cluster/state';
import { withDatastore, DATASTORE_FLAGS, DATASTORE_HELP } from '../../cluster/cli-support';

export const summary = 'list cluster resources (table, YAML or JSON)';

const USAGE = 'usage: nexthop get KIND [NAME] [-o yaml|json|wide] [--datastore SPEC]';
const HELP = `${USAGE}

KIND: bgpconfig(uration), bgppeer(s), ippool(s), node(s) (any case; calicoctl short names too).
  -o, --output FMT   table (default), wide, yaml or json
${DATASTORE_HELP}
  --help             this text`;

export async function run(args: string[]): Promise<number> {
  const { flags, positional } = parseFlags(args, { output: 'string', ...DATASTORE_FLAGS, help: 'boolean' }, USAGE, { o: 'output' });
  if (flags.help) { process.stdout.write(HELP + '\n'); return 0; }
  if (positional.length < 1 || positional.length > 2) throw new UsageError(positional.length < 1 ? 'need a KIND' : `unexpected argument '${positional[2]}'`, USAGE);
  const kind = kindFromName(positional[0]);
  if (!kind) throw new UsageError(`unknown kind '${positional[0]}' (bgpconfiguration, bgppeer, ippool, node)`, USAGE);
  const name = positional[1];
  const output = (flags.output as string | undefined) ?? 'table';
  if (!['table', 'wide', 'yaml', 'json'].includes(output)) throw new UsageError(`unknown output format '${output}' (yaml, json, wide)`, USAGE);
  return withDatastore('get', flags, USAGE, async (ds) => {
    await ds.load();
    const status = ds.state.nodeStatus();
    let list = ds.state.resources().filter((r) => r.kind === kind)
      .map((r) => (r.kind === 'Node' ? mergeNodeStatus(r, status.get(r.metadata.name)) : r));
    if (name !== undefined) {
      list = list.filter((r) => r.metadata.name === name);
      if (list.length === 0) {
        process.stderr.write(`nexthop get: ${kind} ${name} not found in ${ds.description}\n`);
        return 1;
      }
    }
    if (output === 'json') {
      const docs = list.map(toDocument);
      const out = name !== undefined ? docs[0] : { apiVersion: 'nexthop.io/v1', kind: 'List', items: docs };
      process.stdout.write(JSON.stringify(out, null, 2) + '\n');
    } else if (output === 'yaml') {
      process.stdout.write(list.map((r) => YAML.stringify(toDocument(r))).join('---\n'));
    } else {
      const view = ds.state.view();
      process.stdout.write(table(kind, list, output === 'wide', view.nodes.map((n) => [n.name, n] as const)));
    }
    return 0;
  });
}

function table(kind: Kind, list: Resource[], wide: boolean, nodes: readonly (readonly [string, { blocks: string[]; alive: boolean }])[]): string {
  const byName = new Map(nodes);
  let header: string[];
  let rows: string[][];
  switch (kind) {
    case 'BGPConfiguration':
      header = ['NAME', 'ASN', 'MESH', 'PORT', 'LOG'];
      rows = list.map((r) => { const s = (r as Extract<Resource, { kind: 'BGPConfiguration' }>).spec;
        return [r.metadata.name, str(s.asNumber), str(s.nodeToNodeMeshEnabled), str(s.listenPort), str(s.logSeverityScreen)]; });
      break;
    case 'BGPPeer':
      header = ['NAME', 'PEERIP', 'NODE', 'ASN', ...(wide ? ['PEERSELECTOR', 'TTLSEC', 'PASSWORD'] : [])];
      rows = list.map((r) => { const s = (r as Extract<Resource, { kind: 'BGPPeer' }>).spec;
        const ip = s.peerIP ? (s.peerPort ? `${s.peerIP}:${s.peerPort}` : s.peerIP) : '';
        return [r.metadata.name, ip, s.node ?? s.nodeSelector ?? '(global)', str(s.asNumber),
          ...(wide ? [str(s.peerSelector), str(s.ttlSecurity), s.password ? 'set' : ''] : [])]; });
      break;
    case 'IPPool':
      header = ['NAME', 'CIDR', 'BLOCK', 'IPIP', 'VXLAN', 'NAT', 'DISABLED', ...(wide ? ['SELECTOR'] : [])];
      rows = list.map((r) => { const s = (r as Extract<Resource, { kind: 'IPPool' }>).spec;
        return [r.metadata.name, s.cidr, `/${s.blockSize}`, s.ipipMode, s.vxlanMode, str(s.natOutgoing), str(s.disabled), ...(wide ? [s.nodeSelector] : [])]; });
      break;
    case 'Node':
      header = ['NAME', 'IPV4', 'IPV6', 'ASN', 'RR-CLUSTER', 'BLOCKS', 'LIVE'];
      rows = list.map((r) => { const s = (r as NodeResource).spec; const v = byName.get(r.metadata.name);
        return [r.metadata.name, str(s.bgp?.ipv4Address), str(s.bgp?.ipv6Address), str(s.bgp?.asNumber), str(s.bgp?.routeReflectorClusterID),
          v?.blocks.join(',') || '', v?.alive ? 'yes' : 'no']; });
      break;
  }
  return formatTable(header, rows);
}

function str(v: unknown): string {
  return v === undefined || v === null ? '' : String(v);
}

export function formatTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join('   ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}
