// Runs the REAL CNI plugins (/usr/lib/cni) the way a container runtime does (CNI SPEC 1.0:
// "Execution of Network Configuration Lists"): each plugin of the list in order for ADD with the
// previous plugin's result as prevResult, in reverse order for DEL with the cached result; the
// CNI_* environment variables, the plugin's config on stdin. Plugins run inside a node's
// namespace (`ip netns exec NODE`), and the pod is a named namespace of its own.
import { spawnSync } from 'child_process';

export const CNI_PATH = '/usr/lib/cni';

export interface CniAttachment {
  nodeNs: string;
  podNs: string;
  containerId: string;
  ifname: string;
  conflist: Record<string, unknown>;
  /** The result of the last plugin of the ADD chain (CNI 1.0 result: interfaces, ips, routes). */
  result: { ips?: Array<{ address: string; gateway?: string; interface?: number }>; interfaces?: Array<{ name: string; sandbox?: string }> };
}

export class CniPluginError extends Error {
  constructor(readonly plugin: string, readonly command: string, readonly output: string) {
    super(`CNI plugin ${plugin} ${command} failed: ${output}`);
    this.name = 'CniPluginError';
  }
}

function runPlugin(nodeNs: string, plugin: string, command: 'ADD' | 'DEL', env: Record<string, string>, config: Record<string, unknown>): string {
  const r = spawnSync('ip', ['netns', 'exec', nodeNs, `${CNI_PATH}/${plugin}`], {
    input: JSON.stringify(config),
    encoding: 'utf8',
    timeout: 20000,
    env: { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', CNI_COMMAND: command, CNI_PATH, ...env },
  });
  if (r.status !== 0) throw new CniPluginError(plugin, command, `${r.stdout ?? ''}${r.stderr ?? ''}`.trim() || String(r.error));
  return r.stdout;
}

function pluginConfig(conflist: Record<string, unknown>, plugin: Record<string, unknown>, prevResult?: unknown): Record<string, unknown> {
  const c: Record<string, unknown> = { cniVersion: conflist.cniVersion, name: conflist.name, ...plugin };
  if (prevResult !== undefined) c.prevResult = prevResult;
  return c;
}

/** CNI ADD of the whole list for one pod; returns the attachment (keep it for cniDel). */
export function cniAdd(nodeNs: string, podNs: string, containerId: string, conflist: Record<string, unknown>, ifname = 'eth0'): CniAttachment {
  const env = { CNI_CONTAINERID: containerId, CNI_NETNS: `/var/run/netns/${podNs}`, CNI_IFNAME: ifname };
  let prev: unknown;
  for (const plugin of conflist.plugins as Array<Record<string, unknown>>) {
    const out = runPlugin(nodeNs, String(plugin.type), 'ADD', env, pluginConfig(conflist, plugin, prev));
    prev = JSON.parse(out);
  }
  return { nodeNs, podNs, containerId, ifname, conflist, result: prev as CniAttachment['result'] };
}

/** CNI DEL of the list, last plugin first, each with the cached result as prevResult. */
export function cniDel(a: CniAttachment): void {
  const env = { CNI_CONTAINERID: a.containerId, CNI_NETNS: `/var/run/netns/${a.podNs}`, CNI_IFNAME: a.ifname };
  const plugins = [...(a.conflist.plugins as Array<Record<string, unknown>>)].reverse();
  for (const plugin of plugins) runPlugin(a.nodeNs, String(plugin.type), 'DEL', env, pluginConfig(a.conflist, plugin, a.result));
}

/** The pod's IPv4 address (without the length) from an ADD result. */
export function podIPv4(a: CniAttachment): string {
  const ip = (a.result.ips ?? []).find((i) => !i.address.includes(':'));
  if (!ip) throw new Error(`pod ${a.podNs}: CNI result has no IPv4 address: ${JSON.stringify(a.result)}`);
  return ip.address.split('/')[0];
}

/** The pod's IPv6 address (without the length) from an ADD result. */
export function podIPv6(a: CniAttachment): string {
  const ip = (a.result.ips ?? []).find((i) => i.address.includes(':'));
  if (!ip) throw new Error(`pod ${a.podNs}: CNI result has no IPv6 address: ${JSON.stringify(a.result)}`);
  return ip.address.split('/')[0];
}
