// The agent dual stack, end to end: two nodes in network namespaces on one veth segment, both
// with ipv4Address and ipv6Address, one file datastore whose pools are an IPv4 and an IPv6
// CIDR (blocks handed out by IPAM, not pinned). Checks: each node gets a v4 and a v6 block;
// the v4 and v6 sessions come up (RFC 4760 / RFC 2545 next hop); each FIB gets the other
// node's v6 block (proto 78) via the node's IPv6 address; a v6 ping from block to block works;
// `nexthop explain` answers for an address in our own block, in another node's block and in
// no block. Then SIGINT is handled like SIGTERM (RFC 4724 §4.2): exit 0, the stopped node's
// routes stay, and its peer keeps the node's routes as stale; once the node is back, the
// status table no longer shows the error from before the sessions came up as LAST ERROR.
import { expect } from 'chai';
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';
import { agentSocket, agentStatus, CLI_MAIN, runCli, spawnAgent } from '../helpers/cli';
import { addressInCidr, formatIP, parseCidr } from '../../src/lib/ip';
import type { AgentStatus, ExplainResult } from '../../src/agent/status-types';


interface NodeSpec { name: string; ns: string; v4: string; v6: string; dir: string; proc?: ChildProcess; log: string; blocks: string[] }

function clusterYaml(nodes: NodeSpec[]): string {
  return [
    `apiVersion: nexthop.io/v1
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: true }`,
    `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods-v4 }
spec: { cidr: 10.72.0.0/16, blockSize: 24, ipipMode: Never, vxlanMode: Never, natOutgoing: false }`,
    `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods-v6 }
spec: { cidr: 'fd72::/48', blockSize: 64, ipipMode: Never, vxlanMode: Never, natOutgoing: false }`,
    ...nodes.map((n) => `apiVersion: nexthop.io/v1
kind: Node
metadata: { name: ${n.name} }
spec:
  bgp: { ipv4Address: ${n.v4}/24, ipv6Address: '${n.v6}/64' }`),
  ].join('\n---\n') + '\n';
}

function v6Routes(ns: string): string[] {
  return nsExec(ns, 'ip', ['-6', 'route', 'show', 'proto', '78']).split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();
}

/** Host number `n` of a block ("fd72:0:0:3::/64", 1 -> "fd72:0:0:3::1"). */
function hostOf(block: string, n = 1): string {
  return formatIP(addressInCidr(parseCidr(block)!, BigInt(n)));
}

describe('integration: nexthop agent dual stack (v4 + v6 pools, IPAM blocks, v6 FIB and ping) and SIGINT', function () {
  this.timeout(150_000);
  const lab = new Lab('ag6');
  let dir = '';
  let yamlPath = '';
  const nodes: NodeSpec[] = [];

  const sockOf = agentSocket;
  const statusOf = (n: NodeSpec): AgentStatus | null => agentStatus(sockOf(n));

  before(async function () {
    if (!isRoot()) this.skip();
    if (!fs.existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} not built`);
    dir = lab.tempDir();
    yamlPath = path.join(dir, 'cluster.yaml');
    const a = lab.netns('a');
    const b = lab.netns('b');
    lab.link(a, ['10.71.0.1/24', 'fd71::1/64'], b, ['10.71.0.2/24', 'fd71::2/64'], ['eth0', 'eth0']);
    nodes.push({ name: 'node-a', ns: a, v4: '10.71.0.1', v6: 'fd71::1', dir: path.join(dir, 'node-a'), log: '', blocks: [] });
    nodes.push({ name: 'node-b', ns: b, v4: '10.71.0.2', v6: 'fd71::2', dir: path.join(dir, 'node-b'), log: '', blocks: [] });
    fs.writeFileSync(yamlPath, clusterYaml(nodes));
    for (const n of nodes) startAgent(n);
  });

  function startAgent(n: NodeSpec): void {
    spawnAgent(lab, n, yamlPath);
  }

  after(async () => {
    if (process.env.NEXTHOP_TEST_DEBUG) for (const n of nodes) process.stderr.write(`--- ${n.name}\n${n.log}\n`);
    await lab.destroy();
  });

  it('gives each node a v4 and a v6 block and brings both sessions up', async () => {
    for (const n of nodes) {
      const s = (await waitFor(`${n.name} v4+v6 sessions`, () => {
        const st = statusOf(n);
        return st && st.peers.length === 2 && st.peers.every((p) => p.state === 'Established') ? st : null;
      }, 40_000, 300))!;
      const v4 = s.blocks.filter((b) => !b.includes(':'));
      const v6 = s.blocks.filter((b) => b.includes(':'));
      expect(v4, s.blocks.join(' ')).to.have.length(1);
      expect(v6, s.blocks.join(' ')).to.have.length(1);
      expect(v4[0]).to.match(/^10\.72\.\d+\.0\/24$/);
      expect(v6[0]).to.match(/^fd72:[0-9a-f:]*\/64$/);
      expect(s.peers.map((p) => p.address).sort()).to.deep.equal(nodes.filter((o) => o !== n).flatMap((o) => [o.v4, o.v6]).sort());
      n.blocks = s.blocks;
    }
    expect(nodes[0].blocks.find((b) => b.includes(':'))).to.not.equal(nodes[1].blocks.find((b) => b.includes(':')));
  });

  it('writes the other node\'s v6 block into the FIB (proto 78) via its IPv6 address, and a v6 ping between blocks works', async () => {
    for (const n of nodes) {
      const o = nodes.find((x) => x !== n)!;
      const want = `${o.blocks.find((b) => b.includes(':'))} via ${o.v6} dev eth0`;
      const r = (await waitFor(`${n.name} v6 FIB`, () => { const rs = v6Routes(n.ns); return rs.some((l) => l.startsWith(want)) ? rs : null; }, 20_000, 200))!;
      expect(r.some((l) => l.startsWith(`blackhole ${n.blocks.find((b) => b.includes(':'))}`)), r.join('\n')).to.equal(true);
      // A "pod" address at the start of the node's own v6 block (on lo).
      nsExec(n.ns, 'ip', ['-6', 'addr', 'add', `${hostOf(n.blocks.find((b) => b.includes(':'))!)}/128`, 'dev', 'lo', 'nodad']);
    }
    const [a, b] = nodes;
    const out = nsExec(a.ns, 'ping', ['-6', '-c', '2', '-W', '2', '-I', hostOf(a.blocks.find((x) => x.includes(':'))!), hostOf(b.blocks.find((x) => x.includes(':'))!)]);
    expect(out).to.match(/2 packets transmitted, 2 received/);
    expect(nsExec(a.ns, 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding']).trim()).to.equal('1');
    // The CNI config hands out addresses from both blocks (host-local, one range set per family).
    const conflist = JSON.parse(fs.readFileSync(path.join(a.dir, 'cni', '10-nexthop.conflist'), 'utf8')) as { plugins: { ipam: { ranges: { subnet: string }[][] } }[] };
    expect(conflist.plugins[0].ipam.ranges.map((r) => r[0].subnet).sort()).to.deep.equal([...a.blocks].sort());
    expect(fs.readFileSync(path.join(a.dir, 'subnet.env'), 'utf8')).to.contain('FLANNEL_IPV6_NETWORK=fd72::/48');
  });

  it('explains an address in our own block, in another node\'s block and in no block, in words', () => {
    const [a, b] = nodes;
    const ownV6 = a.blocks.find((x) => x.includes(':'))!;
    const otherV6 = b.blocks.find((x) => x.includes(':'))!;
    const ask = (ip: string): { text: string; json: ExplainResult } => {
      const t = runCli(['explain', ip, '--control-socket', sockOf(a)]);
      const j = runCli(['explain', ip, '--json', '--control-socket', sockOf(a)]);
      expect(t.status).to.equal(0, t.stderr);
      return { text: t.stdout.replace(/\s+/g, ' '), json: JSON.parse(j.stdout) as ExplainResult };
    };
    // Own block: the "pod" on lo is delivered here; an unused address is dropped by the blackhole.
    const mine = ask(hostOf(ownV6));
    expect(mine.json.owner).to.deep.include({ node: 'node-a', local: true });
    expect(mine.text).to.contain(`is in pool pods-v6 (fd72::/48; IPIP Never, VXLAN Never), block ${ownV6}, which this node owns.`);
    expect(mine.text).to.contain('It is an address of this node itself (on lo), so traffic to it is delivered here.');
    const unused = ask(hostOf(ownV6, 0xabc));
    expect(unused.text).to.contain('No pod on this node has this address now, so the blackhole route for the block drops traffic to it');
    // Another node's block: owner, best path, kernel route, decision.
    const theirs = ask(hostOf(otherV6));
    expect(theirs.json.owner).to.deep.include({ node: 'node-b', address: '10.71.0.2', local: false });
    expect(theirs.text).to.contain(`block ${otherV6}, owned by node node-b (10.71.0.2).`);
    expect(theirs.text).to.contain(`The best path to ${otherV6} comes from node/node-b/v6 with next hop fd71::2`);
    expect(theirs.text).to.contain(`The kernel routes ${otherV6} via fd71::2 dev eth0, protocol nexthop, as the RIB wants.`);
    expect(theirs.text).to.contain('next hop fd71::2 is on the subnet of eth0, so packets go to it directly');
    expect(theirs.json.problems).to.deep.equal([]);
    // In the pool, in no block; and outside every pool.
    const nobody = ask('fd72:0:0:ffff::1');
    expect(nobody.text).to.contain('is in pool pods-v6 (fd72::/48; IPIP Never, VXLAN Never), in no block any node has announced.');
    expect(nobody.text).to.contain('No BGP route covers it, so nexthop does not route it');
    expect(nobody.text).to.contain('Problems: - no node has announced a block holding this address');
    const outside = ask('192.0.2.1');
    expect(outside.text).to.contain('192.0.2.1 is in no IP pool, so nexthop does not route it');
  });

  it('SIGINT is handled like SIGTERM: exit 0, routes stay on the node, its peer keeps them as stale', async () => {
    const [a, b] = nodes;
    const bBefore = v6Routes(b.ns);
    const bV4Before = nsExec(b.ns, 'ip', ['route', 'show', 'proto', '78']);
    const exit = new Promise<number | null>((resolve) => b.proc!.once('exit', (code) => resolve(code)));
    // `ip netns exec` execs the agent in place, so the pid is the agent's own.
    process.kill(b.proc!.pid!, 'SIGINT');
    expect(await exit).to.equal(0);
    expect(b.log).to.contain('stopping gracefully').and.to.contain('SIGINT');
    expect(v6Routes(b.ns)).to.deep.equal(bBefore);
    expect(nsExec(b.ns, 'ip', ['route', 'show', 'proto', '78'])).to.equal(bV4Before);
    expect(fs.existsSync(sockOf(b))).to.equal(false);
    const peers = (await waitFor('a sees b restarting on both sessions', () => {
      const ps = statusOf(a)?.peers ?? [];
      return ps.length === 2 && ps.every((p) => p.state !== 'Established' && p.gracefulRestart?.restarting) ? ps : null;
    }, 10_000, 200))!;
    expect(peers.map((p) => p.info)).to.satisfy((xs: string[]) => xs.every((x) => /graceful restart, routes kept/.test(x)));
    const otherV6 = b.blocks.find((x) => x.includes(':'))!;
    expect(v6Routes(a.ns).some((l) => l.startsWith(`${otherV6} via fd71::2`))).to.equal(true);
    nsExec(a.ns, 'ping', ['-6', '-c', '1', '-W', '2', '-I', hostOf(a.blocks.find((x) => x.includes(':'))!), hostOf(otherV6)]);
    // While b is down, `nexthop status` on a shows why in LAST ERROR.
    const down = runCli(['status', '--control-socket', sockOf(a)]);
    expect(down.stdout).to.match(/fd71::2 \(node-b\).*restart.*graceful restart, routes kept/);
  });

  it('after the peer is back, LAST ERROR no longer shows the error from before the session came up', async () => {
    const [a, b] = nodes;
    startAgent(b);
    const s = (await waitFor('a and b Established again', () => {
      const st = statusOf(a);
      return st && st.peers.length === 2 && st.peers.every((p) => p.state === 'Established') ? st : null;
    }, 40_000, 300))!;
    // The error is kept in the snapshot (history)...
    expect(s.peers.every((p) => typeof p.lastError === 'string' && p.lastError.length > 0), JSON.stringify(s.peers.map((p) => p.lastError))).to.equal(true);
    expect(s.peers.every((p) => p.info === 'Established' || p.info.startsWith('Established: waiting for End-of-RIB'))).to.equal(true);
    // ...but the table does not present it as the session's problem now.
    const text = runCli(['status', '--control-socket', sockOf(a)]).stdout;
    const rows = text.split('\n').filter((l) => /^(10\.71\.0\.2|fd71::2) /.test(l));
    expect(rows, text).to.have.length(2);
    for (const r of rows) {
      expect(r).to.match(/ {2}-$/);
      expect(r).to.not.contain(s.peers[0].lastError!);
    }
  });
});
