// The agent end to end: three (then four) nodes in network namespaces on one L2 segment (a
// bridge in a "switch" namespace), each running the real `nexthop agent` (the compiled CLI) on
// one file datastore. Checks: the mesh comes up (`nexthop status --json`), every node's FIB gets
// the other blocks (proto 78), `nexthop routes` / `nexthop explain` answer; a kill -9 of one
// agent during a 20 pkt/s ping between two blocks loses no packet, and its restart adopts the
// FIB without a single route change (ip monitor) thanks to graceful restart (RFC 4724 §4.1
// restarting speaker, §4.2 receiving speaker keeps stale routes); SIGTERM exits 0 and leaves
// the routes in place on the stopped node and on its peers; a Node added to the datastore file
// gets sessions from the running agents without a restart; BGPConfiguration.communities and a
// new external peer (BGPPeer, a BIRD observer) are taken live: the node's block reaches BIRD with
// the communities (RFC 1997, RFC 8092), the speaker is not restarted and no session flaps.
import { expect } from 'chai';
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, waitFor, requireTool } from '../helpers/lab';
import { agentSocket, agentStatus, CLI_MAIN, runCli, spawnAgent } from '../helpers/cli';
import { startDaemon, daemonAvailable, waitEstablished, waitRoutes } from '../helpers/daemons';
import type { AgentStatus, RoutesStatus, ExplainResult } from '../../src/agent/status-types';

/** The compiled CLI next to this compiled test (dist/ under `npm test`, or an engineer's build dir). */

interface NodeSpec { name: string; ns: string; addr: string; block: string; dir: string; proc?: ChildProcess; log?: string }

function clusterYaml(nodes: { name: string; addr: string; block: string }[], extra: { communities?: string[]; docs?: string[]; disableBGPExport?: boolean } = {}): string {
  const communities = extra.communities?.length ? `, communities: [${extra.communities.map((v, i) => `{ name: c${i}, value: "${v}" }`).join(', ')}]` : '';
  const docs = [
    `apiVersion: nexthop.io/v1
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: true${communities} }`,
    ...(extra.docs ?? []),
    `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.78.0.0/16, blockSize: 24, ipipMode: Never, vxlanMode: Never, natOutgoing: false${extra.disableBGPExport ? ', disableBGPExport: true' : ''} }`,
    ...nodes.map((n) => `apiVersion: nexthop.io/v1
kind: Node
metadata: { name: ${n.name} }
spec:
  bgp: { ipv4Address: ${n.addr}/24 }
  podCIDRs: [${n.block}]`),
  ];
  return docs.join('\n---\n') + '\n';
}

const sockOf = agentSocket;

function statusOf(n: NodeSpec): AgentStatus | null {
  return agentStatus(sockOf(n));
}

function ourRoutes(ns: string): string[] {
  return nsExec(ns, 'ip', ['route', 'show', 'proto', '78']).split('\n').map((l) => l.trim()).filter((l) => l !== '').sort();
}

describe('integration: nexthop agent lifecycle (3 nodes, file datastore, kill -9 / SIGTERM / live add)', function () {
  this.timeout(180_000);
  const lab = new Lab('agl');
  let dir = '';
  let yamlPath = '';
  const nodes: NodeSpec[] = [];
  let sw = '';

  function startAgent(n: NodeSpec): ChildProcess {
    n.log = '';
    return spawnAgent(lab, n, yamlPath);
  }

  function addNode(name: string, i: number): NodeSpec {
    const ns = lab.netns(name);
    const [, swEnd] = lab.link(ns, [`10.77.0.${i}/24`], sw, [], ['eth0', `p${i}`]);
    nsExec(sw, 'ip', ['link', 'set', swEnd, 'master', 'br0']);
    // A "pod" address inside the node's own block, on lo: answered locally, reached over BGP routes.
    nsExec(ns, 'ip', ['addr', 'add', `10.78.${i}.1/32`, 'dev', 'lo']);
    const n: NodeSpec = { name, ns, addr: `10.77.0.${i}`, block: `10.78.${i}.0/24`, dir: path.join(dir, name) };
    nodes.push(n);
    return n;
  }

  async function allEstablished(n: NodeSpec, count: number): Promise<AgentStatus | null> {
    const s = statusOf(n);
    return s && s.peers.filter((p) => p.state === 'Established').length === count ? s : null;
  }

  before(async function () {
    if (!isRoot()) this.skip();
    if (!fs.existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} not built`);
    dir = lab.tempDir();
    yamlPath = path.join(dir, 'cluster.yaml');
    sw = lab.netns('sw');
    nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    nsExec(sw, 'ip', ['link', 'set', 'br0', 'up']);
    for (const [i, name] of [[1, 'node-a'], [2, 'node-b'], [3, 'node-c']] as const) addNode(name, i);
    fs.writeFileSync(yamlPath, clusterYaml(nodes));
    for (const n of nodes) startAgent(n);
  });

  after(async () => {
    if (process.env.NEXTHOP_TEST_DEBUG) for (const n of nodes) process.stderr.write(`--- ${n.name}\n${n.log}\n`);
    await lab.destroy();
  });

  it('brings the mesh up: every agent reports 2 Established sessions, its node, AS and block', async () => {
    for (const n of nodes) {
      const s = (await waitFor(`${n.name} sessions`, () => allEstablished(n, 2), 30_000, 300))!;
      expect(s.node).to.equal(n.name);
      expect(s.asn).to.equal(64512);
      expect(s.routerId).to.equal(n.addr);
      expect(s.blocks).to.deep.equal([n.block]);
      expect(s.peers.map((p) => p.node).sort()).to.deep.equal(nodes.filter((o) => o !== n).map((o) => o.name).sort());
    }
    const text = runCli(['status', '--control-socket', sockOf(nodes[0])]);
    expect(text.status).to.equal(0);
    expect(text.stdout).to.contain('node node-a').and.to.contain('10.78.1.0/24').and.to.contain('Established');
  });

  it('writes the other nodes\' blocks into each FIB (proto 78) and a blackhole for its own', async () => {
    for (const n of nodes) {
      const want = nodes.filter((o) => o !== n).map((o) => `${o.block} via ${o.addr} dev eth0`);
      const routes = (await waitFor(`${n.name} FIB`, () => {
        const r = ourRoutes(n.ns);
        return want.every((w) => r.some((l) => l.startsWith(w))) ? r : null;
      }, 15_000, 200))!;
      expect(routes.some((l) => l.startsWith(`blackhole ${n.block}`))).to.equal(true, routes.join('\n'));
    }
    // Pod-to-pod across nodes, both ways.
    nsExec(nodes[0].ns, 'ping', ['-c', '2', '-W', '1', '-I', '10.78.1.1', '10.78.2.1']);
  });

  it('answers nexthop routes (RIB and FIB side by side) and nexthop explain', async () => {
    const a = nodes[0];
    const r = runCli(['routes', '--json', '--control-socket', sockOf(a)]);
    expect(r.status).to.equal(0, r.stderr);
    const routes = JSON.parse(r.stdout) as RoutesStatus;
    const b = routes.routes.find((x) => x.prefix === '10.78.2.0/24')!;
    expect(b.best?.peer).to.equal('node/node-b/v4');
    expect(b.best?.nextHop).to.equal('10.77.0.2');
    expect(b.fib?.state).to.equal('in-sync');
    expect(b.fib?.dev).to.equal('eth0');
    expect(b.fib?.tunnel).to.equal('none');
    const own = routes.routes.find((x) => x.prefix === '10.78.1.0/24')!;
    expect(own.fib?.routeType).to.equal('blackhole');
    expect(runCli(['routes', '--control-socket', sockOf(a)]).stdout).to.contain('in sync');

    const x = runCli(['explain', '10.78.3.7', '--json', '--control-socket', sockOf(a)]);
    expect(x.status).to.equal(0, x.stderr);
    const ex = JSON.parse(x.stdout) as ExplainResult;
    expect(ex.pool?.name).to.equal('pods');
    expect(ex.block).to.equal('10.78.3.0/24');
    expect(ex.owner).to.deep.include({ node: 'node-c', address: '10.77.0.3', local: false });
    expect(ex.route?.best?.peer).to.equal('node/node-c/v4');
    expect(ex.kernel?.dev).to.equal('eth0');
    expect(ex.kernel?.via).to.equal('10.77.0.3');
    expect(ex.decision).to.match(/directly/);
    expect(ex.problems).to.deep.equal([]);
    const text = runCli(['explain', '10.78.3.7', '--control-socket', sockOf(a)]);
    expect(text.stdout).to.match(/owned by\s+node\s+node-c/);
    const bad = runCli(['explain', 'not-an-ip', '--control-socket', sockOf(a)]);
    expect(bad.status).to.equal(2);
    const none = runCli(['status', '--control-socket', path.join(dir, 'nowhere.sock')]);
    expect(none.status).to.equal(1);
    expect(none.stderr).to.match(/cannot reach nexthop agent at .*nowhere\.sock: is it running\?/);
  });

  it('kill -9 of an agent during a 20 pkt/s ping loses no packet; the restart adopts the FIB with no route change', async () => {
    const [a, b] = nodes;
    const before = ourRoutes(b.ns);
    // ~14 s of pings from a's block to b's block and back.
    const ping = lab.spawn(a.ns, 'ping', ['-i', '0.05', '-c', '280', '-W', '1', '-I', '10.78.1.1', '10.78.2.1']);
    let pingOut = '';
    ping.stdout?.on('data', (d: Buffer) => { pingOut += d.toString(); });
    const pingDone = new Promise<number>((resolve) => ping.on('exit', (code) => resolve(code ?? -1)));
    await new Promise((r) => setTimeout(r, 1000));
    process.kill(b.proc!.pid!, 'SIGKILL');
    await new Promise<void>((resolve) => { if (b.proc!.exitCode !== null || b.proc!.signalCode !== null) resolve(); else b.proc!.once('exit', () => resolve()); });
    // Watch b's routes from now on: the restarted agent must not touch them.
    const monitor = lab.spawn(b.ns, 'ip', ['-o', 'monitor', 'route']);
    let events = '';
    monitor.stdout?.on('data', (d: Buffer) => { events += d.toString(); });
    await new Promise((r) => setTimeout(r, 1500));
    // While b is down, a keeps b's routes as stale (RFC 4724 §4.2).
    expect(ourRoutes(a.ns).some((l) => l.startsWith('10.78.2.0/24 via 10.77.0.2'))).to.equal(true);
    startAgent(b);
    await waitFor('b back in the mesh', () => allEstablished(b, 2), 30_000, 300);
    await waitFor('b FIB reconciled', () => {
      const r = runCli(['routes', '--json', '--control-socket', sockOf(b)]);
      if (r.status !== 0) return false;
      const rs = (JSON.parse(r.stdout) as RoutesStatus).routes;
      return rs.length === 3 && rs.every((x) => x.fib?.state === 'in-sync');
    }, 30_000, 300);
    expect(b.log).to.contain('graceful restart');
    const code = await pingDone;
    process.kill(monitor.pid!, 'SIGKILL');
    const m = /(\d+) packets transmitted, (\d+) received/.exec(pingOut);
    expect(m, pingOut).to.not.equal(null);
    expect(Number(m![2])).to.equal(Number(m![1]), pingOut.split('\n').slice(-4).join('\n'));
    expect(code).to.equal(0);
    const churn = events.split('\n').filter((l) => /10\.78\./.test(l));
    expect(churn, churn.join('\n')).to.deep.equal([]);
    expect(ourRoutes(b.ns)).to.deep.equal(before);
  });

  it('picks up a Node added to the datastore file: sessions to it come up without restarting agents', async () => {
    const d = addNode('node-d', 4);
    const pidsBefore = nodes.slice(0, 3).map((n) => n.proc!.pid);
    fs.writeFileSync(yamlPath, clusterYaml(nodes));
    startAgent(d);
    await waitFor('node-d has 3 sessions', () => allEstablished(d, 3), 40_000, 300);
    for (const n of nodes.slice(0, 3)) {
      const s = (await waitFor(`${n.name} sees node-d`, () => allEstablished(n, 3), 20_000, 300))!;
      expect(s.peers.some((p) => p.node === 'node-d' && p.state === 'Established')).to.equal(true);
      await waitFor(`${n.name} routes to node-d`, () => ourRoutes(n.ns).some((l) => l.startsWith('10.78.4.0/24 via 10.77.0.4')), 10_000, 200);
    }
    expect(nodes.slice(0, 3).map((n) => n.proc!.pid)).to.deep.equal(pidsBefore);
    nsExec(d.ns, 'ping', ['-c', '2', '-W', '1', '-I', '10.78.4.1', '10.78.1.1']);
  });

  it('moves a node to a new block when its pinned podCIDRs change: originated, old one withdrawn everywhere', async () => {
    const d = nodes[3];
    d.block = '10.78.5.0/24';
    fs.writeFileSync(yamlPath, clusterYaml(nodes));
    await waitFor('node-d announces 10.78.5.0/24 and withdraws 10.78.4.0/24', () => {
      const r = ourRoutes(nodes[0].ns);
      return r.some((l) => l.startsWith('10.78.5.0/24 via 10.77.0.4')) && !r.some((l) => l.startsWith('10.78.4.0/24')) ? r : null;
    }, 20_000, 200);
    const own = (await waitFor('node-d blackhole moved', () => {
      const r = ourRoutes(d.ns);
      return r.some((l) => l.startsWith('blackhole 10.78.5.0/24')) && !r.some((l) => l.includes('10.78.4.0/24')) ? r : null;
    }, 10_000, 200))!;
    expect(own.filter((l) => l.startsWith('blackhole'))).to.have.length(1);
    expect(statusOf(d)!.blocks).to.deep.equal(['10.78.5.0/24']);
    const conflist = fs.readFileSync(path.join(d.dir, 'cni', '10-nexthop.conflist'), 'utf8');
    expect(conflist).to.contain('10.78.5.0/24').and.not.contain('10.78.4.0/24');
  });

  it('takes BGPConfiguration communities and a new external peer live: block re-originated with them, no restart, no flap', async function () {
    requireTool(this, 'bird (daemon and CLI)', daemonAvailable('bird'));
    const a = nodes[0];
    const obs = lab.netns('obs');
    const [, swEnd] = lab.link(obs, ['10.77.0.50/24'], sw, [], ['eth0', 'p50']);
    nsExec(sw, 'ip', ['link', 'set', swEnd, 'master', 'br0']);
    const bird = await startDaemon(lab, obs, 'bird', { routerId: '10.77.0.50', asn: 65099, neighbors: [{ address: a.addr, asn: 64512 }] });
    const since = new Map(statusOf(a)!.peers.map((p) => [p.name, p.since]));
    expect(since.size).to.equal(3);
    fs.writeFileSync(yamlPath, clusterYaml(nodes, {
      communities: ['64512:300', '64512:1:2'],
      docs: [`apiVersion: nexthop.io/v1
kind: BGPPeer
metadata: { name: observer }
spec: { node: node-a, peerIP: 10.77.0.50, asNumber: 65099 }`],
    }));
    await waitEstablished(bird, a.addr, 30_000);
    // RFC 1997 64512:300 and RFC 8092 64512:1:2 on node-a's own block, at the eBGP observer.
    const got = await waitFor('BIRD has node-a\'s block with the communities', async () => {
      const r = (await waitRoutes(bird, [a.block], { peer: a.addr, timeoutMs: 20_000 })).find((x) => x.prefix === a.block);
      return r && r.communities.includes('64512:300') && r.largeCommunities.includes('64512:1:2') ? r : null;
    }, 20_000, 500);
    expect(got!.asPath).to.deep.equal([64512]);
    expect(got!.nextHops).to.deep.equal([a.addr]);
    // Live: the speaker was not restarted, the sessions to the other nodes did not flap.
    expect(a.log).to.contain('communities changed: own blocks originated again');
    expect(a.log).to.not.contain('restarting the speaker gracefully');
    const after = statusOf(a)!;
    for (const [name, t] of since) expect(after.peers.find((p) => p.name === name)?.since, name).to.equal(t);
    expect(after.peers.find((p) => p.address === '10.77.0.50')?.state).to.equal('Established');
    await bird.stop();
  });

  it('IPPool disableBGPExport withdraws every node\'s block from BGP live (blackholes stay), and back', async () => {
    const a = nodes[0];
    const others = (r: string[]): string[] => r.filter((l) => !l.startsWith('blackhole'));
    expect(others(ourRoutes(a.ns)).length).to.be.greaterThan(0);
    const since = new Map(statusOf(a)!.peers.filter((p) => p.node).map((p) => [p.name, p.since]));
    fs.writeFileSync(yamlPath, clusterYaml(nodes, { disableBGPExport: true }));
    await waitFor('node-a has no learned pod routes', () => (others(ourRoutes(a.ns)).length === 0 ? true : null), 20_000, 200);
    expect(ourRoutes(a.ns).filter((l) => l.startsWith(`blackhole ${a.block}`))).to.have.length(1);
    // node-a's FIB empties when node-b and node-c withdraw; node-a may read the file after them,
    // so its own withdrawal (logged) can come a moment later.
    await waitFor('node-a logs its own block withdrawn', () => (a.log?.includes('announced blocks changed') ? true : null), 20_000, 200);
    fs.writeFileSync(yamlPath, clusterYaml(nodes));
    await waitFor('node-a learns the other blocks again', () => {
      const r = others(ourRoutes(a.ns));
      return nodes.slice(1).every((n) => r.some((l) => l.startsWith(`${n.block} via ${n.addr}`))) ? r : null;
    }, 20_000, 200);
    // BGP export is local policy: no mesh session flapped.
    const after = statusOf(a)!;
    for (const [name, t] of since) expect(after.peers.find((p) => p.name === name)?.since, name).to.equal(t);
  });

  it('SIGTERM exits 0 and leaves the routes in the FIB, on the stopped node and (stale) on its peers', async () => {
    const [a, , c] = nodes;
    const cBefore = ourRoutes(c.ns);
    const exit = new Promise<number | null>((resolve) => c.proc!.once('exit', (code) => resolve(code)));
    process.kill(c.proc!.pid!, 'SIGTERM');
    expect(await exit).to.equal(0);
    expect(ourRoutes(c.ns)).to.deep.equal(cBefore);
    const s = (await waitFor('a sees c restarting', () => {
      const st = statusOf(a);
      const p = st?.peers.find((x) => x.node === 'node-c');
      return p && p.state !== 'Established' ? p : null;
    }, 10_000, 200))!;
    expect(s.gracefulRestart?.restarting).to.equal(true);
    expect(ourRoutes(a.ns).some((l) => l.startsWith('10.78.3.0/24 via 10.77.0.3'))).to.equal(true);
    nsExec(a.ns, 'ping', ['-c', '2', '-W', '1', '-I', '10.78.1.1', '10.78.3.1']);
    expect(fs.existsSync(sockOf(c))).to.equal(false);
  });
});
