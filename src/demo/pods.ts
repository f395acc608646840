// Pods for the demo, attached the way a container runtime does it: the demo plays the runtime
// and runs the REAL CNI plugins from /usr/lib/cni (CNI SPEC 1.0, "Execution of Network
// Configuration Lists") with the network configuration list the node's agent wrote into its
// --cni-conf-dir: each plugin in order for ADD with the previous result as prevResult, the
// CNI_* environment variables, the plugin's config on stdin. Plugins run inside the node's
// namespace; the pod is a namespace of its own. No RFC: the CNI specification.

import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';

export const CNI_PATH = '/usr/lib/cni';
export const CNI_PLUGINS_NEEDED = ['bridge', 'host-local'];

export class CniError extends Error {
  readonly code = 'DEMO_CNI';
  constructor(readonly node: string, readonly plugin: string, detail: string) {
    super(`CNI ${plugin} on ${node}: ${detail}`);
    this.name = 'CniError';
  }
}

export interface PodAttachment {
  node: string;
  nodeNs: string;
  podNs: string;
  containerId: string;
  /** The pod's IPv4 address (no length). */
  ip: string;
  conflistFile: string;
}

/** The network configuration list in a CNI conf dir (lexically first *.conflist), or null. */
export function findConflist(confDir: string): string | null {
  let names: string[];
  try {
    names = fs.readdirSync(confDir).filter((n) => n.endsWith('.conflist')).sort();
  } catch {
    return null;
  }
  return names.length > 0 ? path.join(confDir, names[0]) : null;
}

/**
 * Parses a conflist and points host-local's state at `ipamDataDir` (a runtime may: the default,
 * /var/lib/cni/networks, is shared by every namespace of this machine). Throws CniError naming
 * the field when the list is not usable.
 */
export function loadConflist(node: string, file: string, ipamDataDir: string): Record<string, unknown> {
  let conf: Record<string, unknown>;
  try {
    conf = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CniError(node, 'conflist', `${file}: ${(e as Error).message}`);
  }
  const plugins = conf.plugins;
  if (!Array.isArray(plugins) || plugins.length === 0) throw new CniError(node, 'conflist', `${file}: "plugins" is not a non-empty list`);
  const out = { ...conf, plugins: (plugins as Array<Record<string, unknown>>).map((p) => ({ ...p })) };
  for (const p of out.plugins) {
    if (typeof p.type !== 'string') throw new CniError(node, 'conflist', `${file}: a plugin has no "type"`);
    if (p.ipam && typeof p.ipam === 'object' && (p.ipam as Record<string, unknown>).type === 'host-local') {
      p.ipam = { ...(p.ipam as Record<string, unknown>), dataDir: ipamDataDir };
    }
  }
  return out;
}

function runPlugin(node: string, nodeNs: string, plugin: string, command: 'ADD' | 'DEL', env: Record<string, string>, config: Record<string, unknown>): string {
  const r = spawnSync('ip', ['netns', 'exec', nodeNs, path.join(CNI_PATH, plugin)], {
    input: JSON.stringify(config),
    encoding: 'utf8',
    timeout: 20_000,
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_PATH, ...env },
  });
  if (r.status !== 0) throw new CniError(node, plugin, `${command} failed: ${`${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || String(r.error)}`);
  return r.stdout;
}

/** CNI ADD of the whole list for one pod namespace; returns the pod's address. */
export function attachPod(node: string, nodeNs: string, podNs: string, conflistFile: string, conflist: Record<string, unknown>): PodAttachment {
  const containerId = `nhdemo-${podNs}`;
  const env = { CNI_CONTAINERID: containerId, CNI_NETNS: `/var/run/netns/${podNs}`, CNI_IFNAME: 'eth0' };
  let prev: unknown;
  for (const plugin of conflist.plugins as Array<Record<string, unknown>>) {
    const config: Record<string, unknown> = { cniVersion: conflist.cniVersion, name: conflist.name, ...plugin };
    if (prev !== undefined) config.prevResult = prev;
    const out = runPlugin(node, nodeNs, String(plugin.type), 'ADD', env, config);
    try {
      prev = JSON.parse(out);
    } catch {
      throw new CniError(node, String(plugin.type), `ADD printed no JSON result: ${out.slice(0, 200)}`);
    }
  }
  const ips = ((prev as { ips?: Array<{ address: string }> }).ips ?? []).filter((i) => !i.address.includes(':'));
  if (ips.length === 0) throw new CniError(node, 'result', `no IPv4 address in the ADD result ${JSON.stringify(prev)}`);
  return { node, nodeNs, podNs, containerId, ip: ips[0].address.split('/')[0], conflistFile };
}
