// Four-node lab for the dataplane (issue "Dataplane", parts 3-6): nodes n1, n2 on subnet A
// (192.168.10.0/24) and n3, n4 on subnet B (192.168.20.0/24), each subnet one Linux bridge in a
// router namespace that forwards between them; nodes have default routes to the router, which
// knows nothing of the pods. Each node's dataplane runs in its own namespace (a driver process
// under `ip netns exec`, the agent's own code path) with a static route feed: the other nodes'
// blocks via the other nodes' addresses. Pods are namespaces attached with the REAL CNI bridge +
// host-local (+ portmap) plugins using the conflist our dataplane wrote. Asserts: within a subnet
// routes are direct (`via NH dev eth0`, proto nexthop), across subnets VXLAN (RFC 7348); every pod
// reaches every other pod; ip_forward, blackhole, nft table, MASQUERADE only for traffic leaving
// the pool (RFC 3022); teardown removes exactly our things. The IPIP (RFC 2003) variant runs where
// the kernel has ipip, and is reported skipped with the reason where not.
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, sh } from '../helpers/lab';
import { CniAttachment, cniAdd, cniDel, podIPv4 } from '../helpers/cni';
import { DriverConfig } from '../helpers/dataplane-driver';
import { ClusterView } from '../../src/dataplane/dataplane';
import { vtepMacFor } from '../../src/dataplane/tunnels';
import { NEXTHOP_RTPROT } from '../../src/dataplane/fib/protocol';
import { EncapMode } from '../../src/dataplane/nexthop-decision';

const DRIVER = path.join(__dirname, '..', 'helpers', 'dataplane-driver.js');
const POOL = '10.244.0.0/16';

interface LabNode {
  name: string;
  ns: string;
  address: string;
  subnet: 'A' | 'B';
  block: string;
  dir: string;
  configPath: string;
  conflistPath: string;
  subnetEnvPath: string;
  hostStatePath: string;
}

interface IpRoute { dst: string; gateway?: string; dev?: string; protocol?: string; type?: string; metric?: number; flags?: string[] }

function routes(ns: string): IpRoute[] {
  return JSON.parse(nsExec(ns, 'ip', ['-j', 'route', 'show', 'table', 'main'])) as IpRoute[];
}

function ourRoutes(ns: string): IpRoute[] {
  return routes(ns).filter((r) => r.protocol === String(NEXTHOP_RTPROT) || r.protocol === 'nexthop');
}

/** Route lines of every table and family, minus those of `exceptDev`, sorted: the namespace's routing state. */
function routeSnapshot(ns: string, exceptDev: string): string[] {
  const lines = [
    ...nsExec(ns, 'ip', ['-o', '-4', 'route', 'show', 'table', 'all']).split('\n'),
    ...nsExec(ns, 'ip', ['-o', '-6', 'route', 'show', 'table', 'all']).split('\n'),
  ];
  // IPv6 link-local addresses appear a moment after a link comes up: not ours, not compared.
  return lines.map((l) => l.trim())
    .filter((l) => l && !l.includes(`dev ${exceptDev} `) && !l.endsWith(`dev ${exceptDev}`) && !l.includes('fe80:'))
    .sort();
}

function linkNames(ns: string): string[] {
  return (JSON.parse(nsExec(ns, 'ip', ['-j', 'link', 'show'])) as Array<{ ifname: string }>).map((l) => l.ifname).sort();
}

function runDriver(node: LabNode, command: 'apply' | 'teardown'): { ok: boolean; [k: string]: unknown } {
  const r = spawnSync('ip', ['netns', 'exec', node.ns, process.execPath, DRIVER, command, node.configPath], { encoding: 'utf8', timeout: 60000 });
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  try {
    return JSON.parse(line);
  } catch {
    throw new Error(`driver ${command} on ${node.name} printed no report (status ${r.status}): ${r.stdout}${r.stderr}`);
  }
}

function ping(fromNs: string, to: string): boolean {
  const out = sh('ip', ['netns', 'exec', fromNs, 'ping', '-n', '-c', '2', '-i', '0.2', '-W', '2', to], { allowFail: true, timeoutMs: 10000 });
  return / [12] received/.test(out);
}

function masqueradePackets(ns: string): number {
  const out = nsExec(ns, 'nft', ['-j', 'list', 'chain', 'inet', 'nexthop', 'postrouting']);
  let packets = 0;
  for (const item of (JSON.parse(out) as { nftables: Array<{ rule?: { expr: Array<{ counter?: { packets: number } }> } }> }).nftables) {
    for (const e of item.rule?.expr ?? []) if (e.counter) packets += e.counter.packets;
  }
  return packets;
}

describe('lab: 4-node dataplane, direct within a subnet, tunnels across (integration)', function () {
  this.timeout(180000);
  const lab = new Lab('dp');
  const nodes: LabNode[] = [];
  let router = '';
  const pods: CniAttachment[] = [];

  function cluster(node: LabNode, mode: { ipipMode?: EncapMode; vxlanMode?: EncapMode }): ClusterView {
    return {
      nodeName: node.name,
      pools: [{ cidr: POOL, natOutgoing: true, ...mode }],
      ownBlocks: [node.block],
      nodes: nodes.map((n) => ({
        name: n.name,
        ipv4Address: `${n.address}/24`,
        ipv4VXLANTunnelAddr: n.block.replace('/24', ''),
        vxlanTunnelMACAddr: vtepMacFor(n.name),
        ipv4IPIPTunnelAddr: n.block.replace('.0/24', '.254'),
        blocks: [n.block],
      })),
    };
  }

  function writeConfig(node: LabNode, mode: { ipipMode?: EncapMode; vxlanMode?: EncapMode }): void {
    const config: DriverConfig = {
      netns: node.ns,
      cluster: cluster(node, mode),
      // The static feed: every other node's block via that node (as the BGP mesh would deliver it).
      routes: nodes.filter((n) => n !== node).map((n) => ({ prefix: n.block, nexthops: [n.address] })),
      cni: { conflistPath: node.conflistPath, subnetEnvPath: node.subnetEnvPath, ipamDataDir: path.join(node.dir, 'ipam') },
      hostStatePath: node.hostStatePath,
      firewall: {},
    };
    fs.writeFileSync(node.configPath, JSON.stringify(config, null, 2));
  }

  before(function () {
    if (!isRoot()) return this.skip();
    if (!fs.existsSync('/usr/lib/cni/bridge') || !fs.existsSync('/usr/lib/cni/host-local')) throw new Error('CNI plugins missing: install containernetworking-plugins (scripts/setup)');
    router = lab.netns('rt');
    for (const [br, addr] of [['brA', '192.168.10.1/24'], ['brB', '192.168.20.1/24']]) {
      nsExec(router, 'ip', ['link', 'add', br, 'type', 'bridge']);
      nsExec(router, 'ip', ['addr', 'add', addr, 'dev', br]);
      nsExec(router, 'ip', ['link', 'set', br, 'up']);
    }
    nsExec(router, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    const specs: Array<[string, string, 'A' | 'B', string]> = [
      ['n1', '192.168.10.11', 'A', '10.244.1.0/24'],
      ['n2', '192.168.10.12', 'A', '10.244.2.0/24'],
      ['n3', '192.168.20.13', 'B', '10.244.3.0/24'],
      ['n4', '192.168.20.14', 'B', '10.244.4.0/24'],
    ];
    for (const [name, address, subnet, block] of specs) {
      const ns = lab.netns(name);
      const [, rtSide] = lab.link(ns, [`${address}/24`], router, [], ['eth0', `p-${name}`]);
      nsExec(router, 'ip', ['link', 'set', rtSide, 'master', subnet === 'A' ? 'brA' : 'brB']);
      nsExec(ns, 'ip', ['route', 'add', 'default', 'via', subnet === 'A' ? '192.168.10.1' : '192.168.20.1']);
      const dir = lab.tempDir();
      nodes.push({
        name, ns, address, subnet, block, dir,
        configPath: path.join(dir, 'driver.json'),
        conflistPath: path.join(dir, 'net.d', '10-nexthop.conflist'),
        subnetEnvPath: path.join(dir, 'run', 'flannel', 'subnet.env'),
        hostStatePath: path.join(dir, 'state', 'host.json'),
      });
    }
  });

  after(async () => {
    for (const p of pods.splice(0)) {
      try { cniDel(p); } catch { /* the namespaces go anyway */ }
    }
    await lab.destroy();
  });

  describe('VXLAN across subnets (vxlanMode CrossSubnet)', () => {
    const before: Record<string, { routes: string[]; links: string[]; tables: string; forward: string }> = {};

    it('applies on every node; conflist and subnet.env carry the block and the VXLAN MTU', () => {
      for (const n of nodes) {
        // Something that is not ours, which teardown must leave alone.
        nsExec(n.ns, 'ip', ['route', 'add', '10.99.0.0/24', 'via', n.subnet === 'A' ? '192.168.10.1' : '192.168.20.1', 'proto', 'static']);
        nsExec(n.ns, 'nft', ['add', 'table', 'inet', 'other']);
        before[n.name] = {
          routes: routeSnapshot(n.ns, 'cni0'), links: linkNames(n.ns),
          tables: nsExec(n.ns, 'nft', ['list', 'tables']), forward: nsExec(n.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim(),
        };
        writeConfig(n, { vxlanMode: 'CrossSubnet' });
        const r = runDriver(n, 'apply');
        expect(r, JSON.stringify(r)).to.include({ ok: true, mtu: 1450 });
        expect(r.skipped).to.deep.equal([]);
        const conflist = JSON.parse(fs.readFileSync(n.conflistPath, 'utf8'));
        expect(conflist.plugins[0].ipam.ranges[0][0].subnet).to.equal(n.block);
        expect(conflist.plugins[0].mtu).to.equal(1450);
        expect(fs.readFileSync(n.subnetEnvPath, 'utf8')).to.contain(`FLANNEL_SUBNET=${n.block.replace('.0/24', '.1/24')}\nFLANNEL_MTU=1450`);
      }
    });

    it('is idempotent: a second apply (a restarted agent) changes no route', () => {
      const r = runDriver(nodes[0], 'apply');
      expect(r).to.include({ ok: true, added: 0, replaced: 0, deleted: 0 });
    });

    it('routes within a subnet are direct via the node on eth0, proto nexthop', () => {
      for (const n of nodes) {
        const peer = nodes.find((m) => m !== n && m.subnet === n.subnet)!;
        const r = ourRoutes(n.ns).find((x) => x.dst === peer.block);
        expect(r, `${n.name} -> ${peer.block}`).to.deep.include({ gateway: peer.address, dev: 'eth0' });
        expect(r!.flags ?? []).to.not.include('onlink');
      }
    });

    it('routes across subnets go via the remote VTEP on vxlan.nexthop (onlink), with permanent neighbour + FDB entries', () => {
      for (const n of nodes) {
        for (const peer of nodes.filter((m) => m.subnet !== n.subnet)) {
          const r = ourRoutes(n.ns).find((x) => x.dst === peer.block);
          expect(r, `${n.name} -> ${peer.block}`).to.deep.include({ gateway: peer.block.replace('/24', ''), dev: 'vxlan.nexthop' });
          expect(r!.flags).to.include('onlink');
        }
        const link = JSON.parse(nsExec(n.ns, 'ip', ['-d', '-j', 'link', 'show', 'vxlan.nexthop']))[0];
        expect(link.linkinfo.info_kind).to.equal('vxlan');
        expect(link.linkinfo.info_data).to.include({ id: 4096, port: 4789, local: n.address, learning: false });
        expect(link.mtu).to.equal(1450);
        expect(link.address).to.equal(vtepMacFor(n.name));
        const neigh = nsExec(n.ns, 'ip', ['neigh', 'show', 'dev', 'vxlan.nexthop']);
        const fdb = nsExec(n.ns, 'bridge', ['fdb', 'show', 'dev', 'vxlan.nexthop']);
        for (const peer of nodes.filter((m) => m !== n)) {
          expect(neigh).to.contain(`${peer.block.replace('/24', '')} lladdr ${vtepMacFor(peer.name)} PERMANENT`);
          expect(fdb).to.contain(`${vtepMacFor(peer.name)} dst ${peer.address} self permanent`);
        }
      }
    });

    it('host state: ip_forward=1, blackhole for the own block (proto nexthop), table inet nexthop', () => {
      for (const n of nodes) {
        expect(nsExec(n.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim()).to.equal('1');
        const bh = ourRoutes(n.ns).find((r) => r.dst === n.block);
        expect(bh, `${n.name} blackhole`).to.deep.include({ type: 'blackhole', metric: 0x40000000 });
        const table = nsExec(n.ns, 'nft', ['list', 'table', 'inet', 'nexthop']);
        expect(table).to.contain('type filter hook forward priority filter; policy accept;');
        expect(table).to.match(/ip saddr @masq-from-v4 ip daddr != @no-masq-to-v4 counter packets \d+ bytes \d+ masquerade/);
      }
    });

    it('the real CNI bridge plugin attaches pods from the conflist we wrote', () => {
      const perNode: Record<string, number> = { n1: 2, n2: 1, n3: 2, n4: 1 };
      for (const n of nodes) {
        const conflist = JSON.parse(fs.readFileSync(n.conflistPath, 'utf8'));
        for (let i = 0; i < perNode[n.name]; i++) {
          const podNs = lab.netns(`${n.name}p${i}`);
          const a = cniAdd(n.ns, podNs, `${lab.tag}-${n.name}-${i}`, conflist);
          pods.push(a);
          const ip = podIPv4(a);
          expect(ip.startsWith(n.block.replace('.0/24', '.')), `${ip} in ${n.block}`).to.equal(true);
          expect(nsExec(podNs, 'cat', ['/sys/class/net/eth0/mtu']).trim()).to.equal('1450');
        }
      }
      expect(pods).to.have.length(6);
    });

    it('every pod pings every other pod (30 pairs, within and across subnets), with no NAT between pods', () => {
      const failed: string[] = [];
      for (const a of pods) {
        for (const b of pods) {
          if (a === b) continue;
          if (!ping(a.podNs, podIPv4(b))) failed.push(`${a.podNs} -> ${podIPv4(b)}`);
        }
      }
      expect(failed, `unreachable: ${failed.join(', ')}`).to.deep.equal([]);
      // The router between the subnets knows no pod network: cross-subnet pod traffic was tunnelled.
      expect(nsExec(router, 'ip', ['route', 'get', '10.244.3.2'], { allowFail: true })).to.equal('');
      for (const n of nodes) expect(masqueradePackets(n.ns), `${n.name} masqueraded pod-to-pod traffic`).to.equal(0);
    });

    it('pod traffic leaving the pool is masqueraded (natOutgoing): a pod reaches the router, which has no pod routes', () => {
      const pod = pods[0];
      expect(ping(pod.podNs, '192.168.20.1')).to.equal(true);
      expect(masqueradePackets(pod.nodeNs)).to.be.greaterThan(0);
    });

    it('teardown removes exactly our things: routes, vxlan device, nft table, sysctl, CNI files', () => {
      for (const p of pods.splice(0)) cniDel(p);
      for (const n of nodes) {
        const r = runDriver(n, 'teardown');
        expect(r, JSON.stringify(r)).to.include({ ok: true });
        expect(ourRoutes(n.ns)).to.deep.equal([]);
        expect(routeSnapshot(n.ns, 'cni0')).to.deep.equal(before[n.name].routes);
        // cni0 is the CNI bridge plugin's (it keeps its bridge after DEL); nothing else is new.
        expect(linkNames(n.ns).filter((l) => l !== 'cni0')).to.deep.equal(before[n.name].links);
        expect(nsExec(n.ns, 'nft', ['list', 'tables'])).to.equal(before[n.name].tables);
        expect(nsExec(n.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim()).to.equal(before[n.name].forward);
        expect(fs.existsSync(n.conflistPath) || fs.existsSync(n.subnetEnvPath) || fs.existsSync(n.hostStatePath)).to.equal(false);
        expect(routes(n.ns).some((x) => x.dst === '10.99.0.0/24' && x.protocol === 'static')).to.equal(true);
      }
    });
  });

  describe('IPIP across subnets (ipipMode CrossSubnet)', () => {
    let unsupported: Record<string, unknown> | null = null;

    it('applies, or on a kernel without ipip stops with an error naming the module and changes nothing', () => {
      for (const n of nodes) {
        const linksBefore = linkNames(n.ns);
        writeConfig(n, { ipipMode: 'CrossSubnet' });
        const r = runDriver(n, 'apply');
        if (r.ok) continue;
        expect(r).to.include({ error: 'TunnelUnsupportedError', code: 'TUNNEL_UNSUPPORTED', module: 'ipip', config: 'CONFIG_NET_IPIP' });
        expect(String(r.message)).to.match(/load the 'ipip' module or build with CONFIG_NET_IPIP/);
        // Never a silent fallback: no routes, no rules, no sysctl changed, no device made.
        expect(ourRoutes(n.ns)).to.deep.equal([]);
        expect(nsExec(n.ns, 'nft', ['list', 'tables'])).to.not.contain('nexthop');
        expect(nsExec(n.ns, 'sysctl', ['-n', 'net.ipv4.ip_forward']).trim()).to.equal('0');
        expect(linkNames(n.ns)).to.deep.equal(linksBefore);
        unsupported = r;
      }
    });

    it('end to end over tunl0: direct within a subnet, `via NH dev tunl0 onlink` across, every pod pings every other', function () {
      if (unsupported) {
        // Reported, not hidden: the reason is printed next to the pending test.
        console.log(`      skipped: this kernel has no IPIP support (${String(unsupported.message)})`);
        return this.skip();
      }
      for (const n of nodes) {
        for (const peer of nodes.filter((m) => m !== n)) {
          const r = ourRoutes(n.ns).find((x) => x.dst === peer.block)!;
          if (peer.subnet === n.subnet) expect(r).to.deep.include({ gateway: peer.address, dev: 'eth0' });
          else {
            expect(r).to.deep.include({ gateway: peer.address, dev: 'tunl0' });
            expect(r.flags).to.include('onlink');
          }
        }
        expect(JSON.parse(nsExec(n.ns, 'ip', ['-j', 'link', 'show', 'tunl0']))[0].mtu).to.equal(1480);
      }
      for (const n of nodes) {
        const conflist = JSON.parse(fs.readFileSync(n.conflistPath, 'utf8'));
        const podNs = lab.netns(`${n.name}q`);
        pods.push(cniAdd(n.ns, podNs, `${lab.tag}-${n.name}-ipip`, conflist));
      }
      const failed: string[] = [];
      for (const a of pods) for (const b of pods) if (a !== b && !ping(a.podNs, podIPv4(b))) failed.push(`${a.podNs} -> ${podIPv4(b)}`);
      expect(failed).to.deep.equal([]);
      for (const p of pods.splice(0)) cniDel(p);
      for (const n of nodes) {
        expect(runDriver(n, 'teardown')).to.include({ ok: true });
        expect(ourRoutes(n.ns)).to.deep.equal([]);
      }
    });
  });
});
