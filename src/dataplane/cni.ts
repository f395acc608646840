// CNI configuration for this node's block: a network configuration list (CNI spec 1.0.0,
// "Network Configuration Lists") for the standard `bridge` + `host-local` plugins (+ `portmap`),
// and a flannel-compatible subnet.env for tools that read flannel's file. No RFC governs these;
// the formats are the CNI SPEC.md (containernetworking/cni) and flannel's subnet.env. Every path
// is a parameter, so several agents on one machine (one per namespace) do not collide. Files are
// written atomically: a temporary file in the same directory, fsync, rename.

import { writeFileIfChanged } from '../lib/fs';
import * as fs from 'fs';
import { addressInCidr, formatCidr, formatIP, parseCidr } from '../lib/ip';

export const CNI_VERSION = '1.0.0';

export interface CniOptions {
  /** The network name (also the conflist's "name"). */
  networkName?: string;
  /** This node's blocks, one per family (e.g. "10.244.1.0/24", "fd00:244:0:1::/64"). */
  blocks: string[];
  /** The pod MTU (uplink MTU minus tunnel overhead). */
  mtu: number;
  /** The Linux bridge the plugin creates (default "cni0"). */
  bridge?: string;
  /** host-local's state directory; default is the plugin's own (/var/lib/cni/networks). */
  ipamDataDir?: string;
  /** Add the portmap plugin (hostPort support). Default true. */
  portmap?: boolean;
}

export class CniConfigError extends Error {
  readonly code = 'CNI_CONFIG';
  constructor(readonly field: string, detail: string) {
    super(`CNI config: ${field}: ${detail}`);
    this.name = 'CniConfigError';
  }
}

/** The gateway the bridge takes in a block: its first host address (host-local's default too). */
export function blockGateway(block: string): string {
  const c = parseCidr(block);
  if (!c) throw new CniConfigError('blocks', `'${block}' is not a network address/length`);
  if (c.length >= c.bytes.length * 8 - 1) throw new CniConfigError('blocks', `${block} is too small to hold a gateway and pods`);
  return formatIP(addressInCidr(c, 1n));
}

/** Pure: the conflist object. The bridge does the gatewaying, masquerade is ours (ipMasq false). */
export function cniConflist(opts: CniOptions): Record<string, unknown> {
  if (opts.blocks.length === 0) throw new CniConfigError('blocks', 'this node has no block yet');
  if (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535) throw new CniConfigError('mtu', `${opts.mtu} is not a usable MTU`);
  const ranges: Array<Array<Record<string, string>>> = [];
  const routes: Array<Record<string, string>> = [];
  const seen = new Set<number>();
  for (const b of opts.blocks) {
    const c = parseCidr(b);
    if (!c) throw new CniConfigError('blocks', `'${b}' is not a network address/length`);
    if (seen.has(c.family)) throw new CniConfigError('blocks', `two IPv${c.family} blocks; host-local takes one range set per family here`);
    seen.add(c.family);
    ranges.push([{ subnet: formatCidr(c), gateway: blockGateway(b) }]);
    routes.push({ dst: c.family === 4 ? '0.0.0.0/0' : '::/0' });
  }
  const ipam: Record<string, unknown> = { type: 'host-local', ranges, routes };
  if (opts.ipamDataDir) ipam.dataDir = opts.ipamDataDir;
  const plugins: Array<Record<string, unknown>> = [{
    type: 'bridge',
    bridge: opts.bridge ?? 'cni0',
    isGateway: true,
    ipMasq: false,
    hairpinMode: true,
    mtu: opts.mtu,
    ipam,
  }];
  if (opts.portmap !== false) plugins.push({ type: 'portmap', capabilities: { portMappings: true }, snat: true });
  return { cniVersion: CNI_VERSION, name: opts.networkName ?? 'nexthop', plugins };
}

/** The single-plugin network config a runtime hands the bridge plugin on stdin (from the list). */
export function cniPluginConfig(conflist: Record<string, unknown>, index = 0): Record<string, unknown> {
  const plugins = conflist.plugins as Array<Record<string, unknown>>;
  return { cniVersion: conflist.cniVersion, name: conflist.name, ...plugins[index] };
}

export interface SubnetEnvOptions {
  /** The pools the blocks come from (FLANNEL_NETWORK / FLANNEL_IPV6_NETWORK). */
  networks: string[];
  blocks: string[];
  mtu: number;
  /** FLANNEL_IPMASQ: true when we masquerade pod traffic leaving the pool (natOutgoing). */
  ipMasq: boolean;
}

/** Pure: flannel's subnet.env text (FLANNEL_SUBNET is the gateway address with the block length). */
export function subnetEnv(opts: SubnetEnvOptions): string {
  const lines: string[] = [];
  for (const fam of [4, 6] as const) {
    const net = opts.networks.map((n) => parseCidr(n)).find((c) => c?.family === fam);
    const block = opts.blocks.map((b) => parseCidr(b)).find((c) => c?.family === fam);
    if (!net && !block) continue;
    if (!net || !block) throw new CniConfigError(fam === 4 ? 'networks/blocks' : 'networks/blocks (IPv6)', 'need both the pool and the block of a family');
    const pre = fam === 4 ? 'FLANNEL_' : 'FLANNEL_IPV6_';
    lines.push(`${pre}NETWORK=${formatCidr(net)}`);
    lines.push(`${pre}SUBNET=${blockGateway(formatCidr(block))}/${block.length}`);
  }
  if (lines.length === 0) throw new CniConfigError('blocks', 'this node has no block yet');
  lines.push(`FLANNEL_MTU=${opts.mtu}`);
  lines.push(`FLANNEL_IPMASQ=${opts.ipMasq ? 'true' : 'false'}`);
  return lines.join('\n') + '\n';
}

/** Writes a file atomically only when its content changed (src/lib/fs.ts); true when it wrote. */
export const writeFileAtomic = writeFileIfChanged;

export interface CniFiles {
  /** Where the conflist goes, e.g. /etc/cni/net.d/10-nexthop.conflist. */
  conflistPath: string;
  /** Where subnet.env goes (e.g. /run/flannel/subnet.env); omit to not write one. */
  subnetEnvPath?: string;
}

/** Writes (or refreshes) the CNI files; returns which were changed. */
export function writeCniFiles(files: CniFiles, cni: CniOptions, env: SubnetEnvOptions | null): string[] {
  const changed: string[] = [];
  if (writeFileAtomic(files.conflistPath, JSON.stringify(cniConflist(cni), null, 2) + '\n')) changed.push(files.conflistPath);
  if (files.subnetEnvPath && env && writeFileAtomic(files.subnetEnvPath, subnetEnv(env))) changed.push(files.subnetEnvPath);
  return changed;
}

/** Removes the files writeCniFiles wrote (absent ones are fine). */
export function removeCniFiles(files: CniFiles): void {
  fs.rmSync(files.conflistPath, { force: true });
  if (files.subnetEnvPath) fs.rmSync(files.subnetEnvPath, { force: true });
}
