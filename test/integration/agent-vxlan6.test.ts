// IPv6 pools over VXLAN, end to end with real agents: two dual-stack nodes on different subnets
// (IPv4 and IPv6), routed through a third namespace that knows nothing of the pods; one file
// datastore with an IPv4 and an IPv6 pool, both vxlanMode CrossSubnet. Checks: each agent
// publishes both VTEPs as agent-written Node fields (Calico's ipv4VXLANTunnelAddr /
// vxlanTunnelMACAddr and ipv6VXLANTunnelAddr / vxlanTunnelMACAddrV6, shown by `nexthop get node
// -o yaml`; a different MAC per family); the other node's v6 block is routed via its v6 VTEP on
// vxlan6.nexthop (onlink), with the permanent neighbour entry (VTEP address -> MAC) and FDB entry
// (MAC -> the node's IPv6 underlay address, RFC 7348 §4) and the device's outer source being the
// node's IPv6 address; pods attached by the REAL CNI bridge + host-local plugins from the conflist
// the agent wrote ping each other over IPv6 (and IPv4, over vxlan.nexthop) across the router.
// Then the IPv6 pool goes to vxlanMode Never: the v6 fields are cleared, vxlan6.nexthop goes,
// the IPv4 overlay stays.
import { expect } from 'chai';
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import * as YAML from 'yaml';
import { Lab, isRoot, nsExec, requireTool, sh, waitFor } from '../helpers/lab';
import { agentSocket, agentStatus, CLI_MAIN, runCli, spawnAgent } from '../helpers/cli';
import { CniAttachment, cniAdd, cniDel, podIPv4, podIPv6 } from '../helpers/cni';
import { vtepMacFor } from '../../src/dataplane/tunnels';
import type { AgentStatus, RoutesStatus } from '../../src/agent/status-types';


interface N {
  name: string; ns: string; v4: string; v6: string; gw4: string; gw6: string; dir: string;
  proc?: ChildProcess; log: string; block4: string; block6: string; pod?: CniAttachment;
}

interface IpRoute { dst: string; gateway?: string; dev?: string; flags?: string[] }

function clusterYaml(nodes: N[], v6Mode: 'CrossSubnet' | 'Never'): string {
  return [
    `apiVersion: nexthop.io/v1
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: true }`,
    `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods-v4 }
spec: { cidr: 10.86.0.0/16, blockSize: 24, vxlanMode: CrossSubnet, natOutgoing: false }`,
    `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods-v6 }
spec: { cidr: 'fd86::/48', blockSize: 64, vxlanMode: ${v6Mode}, natOutgoing: false }`,
    ...nodes.map((n) => `apiVersion: nexthop.io/v1
kind: Node
metadata: { name: ${n.name} }
spec:
  bgp: { ipv4Address: ${n.v4}/24, ipv6Address: '${n.v6}/64' }`),
  ].join('\n---\n') + '\n';
}

function v6Routes(ns: string): IpRoute[] {
  return JSON.parse(nsExec(ns, 'ip', ['-6', '-j', 'route', 'show', 'proto', '78'])) as IpRoute[];
}

function hasLink(ns: string, name: string): boolean {
  return (JSON.parse(nsExec(ns, 'ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).some((l) => l.ifname === name);
}

function ping(fromNs: string, to: string, v6: boolean): string {
  return sh('ip', ['netns', 'exec', fromNs, 'ping', ...(v6 ? ['-6'] : []), '-n', '-c', '2', '-i', '0.2', '-W', '2', to], { allowFail: true, timeoutMs: 10000 });
}

describe('integration: IPv6 pool over VXLAN (vxlan6.nexthop) between agents on different subnets', function () {
  this.timeout(150_000);
  const lab = new Lab('vx6');
  const nodes: N[] = [];
  let dir = '';
  let yamlPath = '';
  let rt = '';

  const sockOf = agentSocket;
  const statusOf = (n: N): AgentStatus | null => agentStatus(sockOf(n));
  /** `nexthop get node NAME -o yaml`: the user's spec with the agent-written fields merged in. */
  const nodeSpec = (n: N): Record<string, unknown> => {
    const r = runCli(['get', 'node', n.name, '-o', 'yaml', '--datastore', `file:${yamlPath}`]);
    expect(r.status).to.equal(0, r.stderr);
    return (YAML.parse(r.stdout) as { spec: Record<string, unknown> }).spec;
  };
  const network = (block: string): string => block.slice(0, block.indexOf('/'));

  before(async function () {
    if (!isRoot()) this.skip();
    if (!fs.existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} not built`);
    requireTool(this, 'the CNI plugins (package containernetworking-plugins)', fs.existsSync('/usr/lib/cni/bridge') && fs.existsSync('/usr/lib/cni/host-local'));
    dir = lab.tempDir();
    yamlPath = path.join(dir, 'cluster.yaml');
    // The router: one subnet per node, IPv4 and IPv6 forwarding, no route to any pod.
    rt = lab.netns('rt');
    nsExec(rt, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    nsExec(rt, 'sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);
    const specs: Array<[string, number]> = [['node-a', 1], ['node-b', 2]];
    for (const [name, i] of specs) {
      const ns = lab.netns(name.slice(-1));
      const n: N = {
        name, ns, v4: `10.85.${i}.2`, v6: `fd85:${i}::2`, gw4: `10.85.${i}.1`, gw6: `fd85:${i}::1`,
        dir: path.join(dir, name), log: '', block4: '', block6: '',
      };
      lab.link(ns, [`${n.v4}/24`, `${n.v6}/64`], rt, [`${n.gw4}/24`, `${n.gw6}/64`], ['eth0', `r${i}`]);
      nsExec(ns, 'ip', ['route', 'add', 'default', 'via', n.gw4]);
      nsExec(ns, 'ip', ['-6', 'route', 'add', 'default', 'via', n.gw6]);
      nodes.push(n);
    }
    // The underlay works across the router before any agent runs.
    expect(ping(nodes[0].ns, nodes[1].v6, true)).to.match(/ 2 received/);
    fs.writeFileSync(yamlPath, clusterYaml(nodes, 'CrossSubnet'));
    for (const n of nodes) startAgent(n);
  });

  function startAgent(n: N): void {
    spawnAgent(lab, n, yamlPath, ['--ipam-data-dir', path.join(n.dir, 'ipam')]);
  }

  after(async () => {
    if (process.env.NEXTHOP_TEST_DEBUG) for (const n of nodes) process.stderr.write(`--- ${n.name}\n${n.log}\n`);
    for (const n of nodes) {
      if (n.pod) try { cniDel(n.pod); } catch { /* the namespaces go anyway */ }
    }
    await lab.destroy();
  });

  it('brings the v4 and v6 sessions up across the router and gives each node a v4 and a v6 block', async () => {
    for (const n of nodes) {
      const s = (await waitFor(`${n.name} v4+v6 sessions`, () => {
        const st = statusOf(n);
        return st && st.peers.length === 2 && st.peers.every((p) => p.state === 'Established') ? st : null;
      }, 40_000, 300).catch((e: Error) => { throw new Error(`${e.message}\n${n.log}`); }))!;
      n.block4 = s.blocks.find((b) => !b.includes(':')) ?? '';
      n.block6 = s.blocks.find((b) => b.includes(':')) ?? '';
      expect(n.block4, s.blocks.join(' ')).to.match(/^10\.86\.\d+\.0\/24$/);
      expect(n.block6, s.blocks.join(' ')).to.match(/^fd86:[0-9a-f:]*\/64$/);
    }
    expect(nodes[0].block6).to.not.equal(nodes[1].block6);
  });

  it('publishes both VTEPs as agent-written Node fields: block network addresses, a different MAC per family', async () => {
    for (const n of nodes) {
      const spec = (await waitFor(`${n.name} publishes its v6 VTEP`, () => { const s = nodeSpec(n); return s.ipv6VXLANTunnelAddr ? s : null; }, 20_000, 300))!;
      expect(spec).to.deep.include({
        ipv4VXLANTunnelAddr: network(n.block4), vxlanTunnelMACAddr: vtepMacFor(n.name, 4),
        ipv6VXLANTunnelAddr: network(n.block6), vxlanTunnelMACAddrV6: vtepMacFor(n.name, 6),
      });
      expect(spec.vxlanTunnelMACAddrV6).to.not.equal(spec.vxlanTunnelMACAddr);
      // The user's YAML is untouched: the fields live in the state file (status/nodes/<node>).
      expect(fs.readFileSync(yamlPath, 'utf8')).to.not.contain('VXLANTunnelAddr');
    }
  });

  it('routes the other node\'s v6 block via its v6 VTEP on vxlan6.nexthop, with permanent neighbour and FDB entries', async () => {
    for (const n of nodes) {
      const o = nodes.find((x) => x !== n)!;
      const r = (await waitFor(`${n.name} routes ${o.block6} over vxlan6.nexthop`, () =>
        v6Routes(n.ns).find((x) => x.dst === o.block6 && x.dev === 'vxlan6.nexthop'), 20_000, 200)
        .catch((e: Error) => { throw new Error(`${e.message}\n${nsExec(n.ns, 'ip', ['-6', 'route'])}\n${n.log}`); }))!;
      expect(r.gateway).to.equal(network(o.block6));
      expect(r.flags ?? []).to.include('onlink');
      // RFC 7348 §4: the VTEP-to-IP mapping is static (learning off), one entry per remote node.
      expect(nsExec(n.ns, 'ip', ['-6', 'neigh', 'show', 'dev', 'vxlan6.nexthop'])).to.contain(`${network(o.block6)} lladdr ${vtepMacFor(o.name, 6)} PERMANENT`);
      expect(nsExec(n.ns, 'bridge', ['fdb', 'show', 'dev', 'vxlan6.nexthop'])).to.contain(`${vtepMacFor(o.name, 6)} dst ${o.v6} self permanent`);
      // The device: VNI 4096, UDP 4789, outer source = the node's IPv6 address, MTU 1500 - 70.
      const link = nsExec(n.ns, 'ip', ['-d', 'link', 'show', 'vxlan6.nexthop']);
      expect(link).to.match(new RegExp(`vxlan id 4096 local ${n.v6} dev eth0 .*dstport 4789 nolearning`));
      expect(link).to.match(/ mtu 1430 /);
      expect(link).to.contain(`link/ether ${vtepMacFor(n.name, 6)}`);
      expect(nsExec(n.ns, 'ip', ['-6', 'addr', 'show', 'dev', 'vxlan6.nexthop'])).to.contain(`inet6 ${network(n.block6)}/128`);
      // The IPv4 overlay beside it, on its own device with its own MAC.
      expect(nsExec(n.ns, 'ip', ['route', 'show', 'proto', '78'])).to.contain(`${o.block4} via ${network(o.block4)} dev vxlan.nexthop onlink`);
      expect(nsExec(n.ns, 'ip', ['link', 'show', 'vxlan.nexthop'])).to.contain(`link/ether ${vtepMacFor(n.name, 4)}`);
    }
    const rr = runCli(['routes', '--json', '--control-socket', sockOf(nodes[0])]);
    const rs = JSON.parse(rr.stdout) as RoutesStatus;
    expect(rs.routes.find((r) => r.prefix === nodes[1].block6)!.fib).to.deep.include({ tunnel: 'vxlan', dev: 'vxlan6.nexthop', state: 'in-sync', onlink: true });
  });

  it('pods attached by the real CNI plugins ping each other over IPv6 (and IPv4) through the tunnels', async () => {
    for (const n of nodes) {
      const conflist = JSON.parse(fs.readFileSync(path.join(n.dir, 'cni', '10-nexthop.conflist'), 'utf8')) as Record<string, unknown>;
      n.pod = cniAdd(n.ns, lab.netns(`${n.name.slice(-1)}p`), `${lab.tag}-${n.name}`, conflist);
      expect(`${podIPv6(n.pod)}/64`.startsWith(n.block6.replace(/::\/64$/, ':')), `${podIPv6(n.pod)} in ${n.block6}`).to.equal(true);
      expect(nsExec(n.pod.podNs, 'cat', ['/sys/class/net/eth0/mtu']).trim()).to.equal('1430');
    }
    const [a, b] = nodes;
    // The pods' IPv6 addresses may be tentative (DAD) for a moment after ADD.
    const out = await waitFor('pod a pings pod b over IPv6', () => { const o = ping(a.pod!.podNs, podIPv6(b.pod!), true); return / [12] received/.test(o) ? o : null; }, 15_000, 500)
      .catch((e: Error) => { throw new Error(`${e.message}\n${nsExec(a.ns, 'ip', ['-6', 'route'])}\n${nsExec(a.pod!.podNs, 'ip', ['-6', 'addr'])}`); });
    expect(out).to.match(/ttl=62/);
    expect(ping(b.pod!.podNs, podIPv6(a.pod!), true)).to.match(/ 2 received/);
    expect(ping(a.pod!.podNs, podIPv4(b.pod!), false)).to.match(/ 2 received/);
    // Through the tunnel (ttl 62: two forwarding hops, the nodes; the router only saw UDP): the
    // router has no route to the pods at all, and vxlan6.nexthop counted the packets.
    expect(nsExec(rt, 'ip', ['-6', 'route', 'show'])).to.not.contain('fd86:');
    const stats = JSON.parse(nsExec(a.ns, 'ip', ['-j', '-s', 'link', 'show', 'vxlan6.nexthop'])) as Array<{ stats64: { tx: { packets: number }; rx: { packets: number } } }>;
    expect(stats[0].stats64.tx.packets).to.be.greaterThan(0);
    expect(stats[0].stats64.rx.packets).to.be.greaterThan(0);
  });

  it('clears the IPv6 VTEP and removes vxlan6.nexthop when the IPv6 pool no longer uses VXLAN; the IPv4 overlay stays', async () => {
    fs.writeFileSync(yamlPath, clusterYaml(nodes, 'Never'));
    for (const n of nodes) {
      const spec = await waitFor(`${n.name} clears its v6 VTEP`, () => { const s = nodeSpec(n); return s.ipv6VXLANTunnelAddr === undefined ? s : null; }, 20_000, 300);
      expect(spec).to.not.have.any.keys('ipv6VXLANTunnelAddr', 'vxlanTunnelMACAddrV6');
      expect(spec).to.deep.include({ ipv4VXLANTunnelAddr: network(n.block4), vxlanTunnelMACAddr: vtepMacFor(n.name, 4) });
      await waitFor(`${n.name} removes vxlan6.nexthop`, () => !hasLink(n.ns, 'vxlan6.nexthop'), 20_000, 200);
      const o = nodes.find((x) => x !== n)!;
      expect(v6Routes(n.ns).some((r) => r.dev === 'vxlan6.nexthop'), JSON.stringify(v6Routes(n.ns))).to.equal(false);
      expect(hasLink(n.ns, 'vxlan.nexthop')).to.equal(true);
      expect(nsExec(n.ns, 'ip', ['route', 'show', 'proto', '78'])).to.contain(`${o.block4} via ${network(o.block4)} dev vxlan.nexthop onlink`);
    }
    const [a, b] = nodes;
    expect(ping(a.pod!.podNs, podIPv4(b.pod!), false)).to.match(/ 2 received/);
  });
});
