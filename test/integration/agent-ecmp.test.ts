// ECMP end to end through `nexthop agent`: one node and two top-of-rack routers (BIRD 2, one
// namespace each, all three on one L2 segment: a bridge in a "switch" namespace). Both ToRs are
// in AS 65100, peer eBGP with the node (AS 64512) as BGPPeer resources for it, and originate the
// same external prefix 198.51.100.0/24 with identical attributes apart from NEXT_HOP and router
// id. A BGPPeer (an `external` peer) accepts every prefix (src/speaker/config.ts importRule:
// accept-all), so the ToRs send an ordinary external prefix, no pool block.
// Checks: the two paths are equal up to the IGP-cost step (RFC 4271 §9.1.2.2 a-e), so both are
// kept as the multipath set and the FIB gets ONE proto 78 route with TWO nexthops (RTA_MULTIPATH,
// RFC 2992); `nexthop routes --json` reports the second path as multipath and the FIB side with
// both next hops; `nexthop explain` names both paths; a withdrawal by one ToR (RFC 4271 §9.1.3)
// shrinks the route to the other next hop alone, and its return widens it again; an agent
// restarted with `--max-paths 1` installs a single next hop (the RFC 4271 §9.1.2.2 f/g winner:
// the lower BGP Identifier).
import { expect } from 'chai';
import { ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';
import { CLI_MAIN, runCli } from '../helpers/cli';
import { Daemon, daemonAvailable, startDaemon } from '../helpers/daemons';
import type { AgentStatus, ExplainResult, RoutesStatus } from '../../src/agent/status-types';

/** The compiled CLI next to this compiled test (dist/ under `npm test`, or an engineer's build dir). */

const PREFIX = '198.51.100.0/24';
const NODE_ADDR = '10.93.0.1';
const NODE_AS = 64512;
const TOR_AS = 65100;
const TORS = [
  { name: 'tor-1', addr: '10.93.0.11' },
  { name: 'tor-2', addr: '10.93.0.12' },
] as const;

function clusterYaml(): string {
  return [
    `apiVersion: nexthop.io/v1
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: ${NODE_AS}, nodeToNodeMeshEnabled: true }`,
    `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.94.0.0/16, blockSize: 24, ipipMode: Never, vxlanMode: Never, natOutgoing: false }`,
    `apiVersion: nexthop.io/v1
kind: Node
metadata: { name: node-a }
spec:
  bgp: { ipv4Address: ${NODE_ADDR}/24 }
  podCIDRs: [10.94.1.0/24]`,
    ...TORS.map((t) => `apiVersion: nexthop.io/v1
kind: BGPPeer
metadata: { name: ${t.name} }
spec: { peerIP: ${t.addr}, asNumber: ${TOR_AS}, node: node-a }`),
  ].join('\n---\n') + '\n';
}

interface KernelRoute { dst: string; gateway?: string; dev?: string; nexthops?: { gateway?: string; dev?: string }[] }

/** The node's proto 78 routes for PREFIX, as `ip -j route show proto 78` gives them. */
function kernelRoutes(ns: string): KernelRoute[] {
  const all = JSON.parse(nsExec(ns, 'ip', ['-j', 'route', 'show', 'proto', '78']) || '[]') as KernelRoute[];
  return all.filter((r) => r.dst === PREFIX);
}

/** The gateways of the single kernel route for PREFIX, sorted; null when there is not exactly one route. */
function kernelGateways(ns: string): string[] | null {
  const rs = kernelRoutes(ns);
  if (rs.length !== 1) return null;
  const r = rs[0];
  return (r.nexthops ? r.nexthops.map((h) => h.gateway ?? '') : [r.gateway ?? '']).sort();
}

describe('integration: nexthop agent ECMP over two BIRD ToRs (RFC 4271 §9.1.2.2 multipath, RFC 2992)', function () {
  this.timeout(90_000);
  const lab = new Lab('ecmp');
  let dir = '';
  let nodeNs = '';
  let agent: ChildProcess | null = null;
  let agentLog = '';
  const tors: Daemon[] = [];
  const sock = (): string => path.join(dir, 'run', 'nexthop.sock');

  function startAgent(extra: string[]): void {
    agentLog = '';
    const p = lab.spawn(nodeNs, process.execPath, [CLI_MAIN, 'agent', '--node', 'node-a', '--datastore', `file:${path.join(dir, 'cluster.yaml')}`,
      '--control-socket', sock(), '--metrics-address', 'none', '--cni-conf-dir', path.join(dir, 'cni'),
      '--subnet-env', path.join(dir, 'subnet.env'), '--state-dir', path.join(dir, 'state'), '--log-level', 'info', ...extra]);
    p.stdout?.on('data', (d: Buffer) => { agentLog += d.toString(); });
    p.stderr?.on('data', (d: Buffer) => { agentLog += d.toString(); });
    agent = p;
  }

  async function stopAgent(): Promise<void> {
    const p = agent;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()));
    process.kill(p.pid!, 'SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15000))]);
    expect(p.exitCode, `agent exit after SIGTERM; log:\n${agentLog.slice(-2000)}`).to.equal(0);
  }

  function routes(): RoutesStatus | null {
    const r = runCli(['routes', '--json', '--control-socket', sock()]);
    return r.status === 0 ? JSON.parse(r.stdout) as RoutesStatus : null;
  }

  async function bothToRsEstablished(): Promise<void> {
    await waitFor('both ToR sessions Established at the agent', () => {
      const r = runCli(['status', '--json', '--control-socket', sock()]);
      if (r.status !== 0) return false;
      const s = JSON.parse(r.stdout) as AgentStatus;
      return s.peers.filter((p) => p.state === 'Established').length === 2;
    }, 30_000, 300);
  }

  async function gatewaysBecome(want: string[], what: string): Promise<void> {
    await waitFor(`${what}: FIB route ${PREFIX} via ${want.join(' + ')}`, () => JSON.stringify(kernelGateways(nodeNs)) === JSON.stringify(want), 20_000, 200)
      .catch((e: Error) => {
        throw new Error(`${e.message}; kernel: ${JSON.stringify(kernelRoutes(nodeNs))}; agent log:\n${agentLog.slice(-2000)}`);
      });
  }

  before(async function () {
    if (!isRoot() || !daemonAvailable('bird')) this.skip();
    if (!fs.existsSync(CLI_MAIN)) throw new Error(`${CLI_MAIN} not built`);
    dir = lab.tempDir();
    fs.writeFileSync(path.join(dir, 'cluster.yaml'), clusterYaml());
    const sw = lab.netns('sw');
    nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    nsExec(sw, 'ip', ['link', 'set', 'br0', 'up']);
    nodeNs = lab.netns('node');
    const [, nodeSw] = lab.link(nodeNs, [`${NODE_ADDR}/24`], sw, [], ['eth0', 'pn']);
    nsExec(sw, 'ip', ['link', 'set', nodeSw, 'master', 'br0']);
    for (const [i, t] of TORS.entries()) {
      const ns = lab.netns(`t${i + 1}`);
      const [, swEnd] = lab.link(ns, [`${t.addr}/24`], sw, [], ['eth0', `pt${i + 1}`]);
      nsExec(sw, 'ip', ['link', 'set', swEnd, 'master', 'br0']);
      // Identical attributes from both ToRs: same AS_PATH (65100), ORIGIN, no MED; only the
      // NEXT_HOP (the ToR's own address, eBGP) and the BGP Identifier differ.
      tors.push(await startDaemon(lab, ns, 'bird', {
        routerId: t.addr, asn: TOR_AS,
        neighbors: [{ address: NODE_ADDR, asn: NODE_AS, localAddress: t.addr }],
        routes: [{ prefix: PREFIX }],
      }));
    }
    startAgent([]);
  });

  after(async () => {
    if (process.env.NEXTHOP_TEST_DEBUG) process.stderr.write(`--- agent\n${agentLog}\n`);
    await lab.destroy();
  });

  it('installs ONE proto 78 route with TWO nexthops, one per ToR, on the uplink', async () => {
    await bothToRsEstablished();
    await gatewaysBecome([TORS[0].addr, TORS[1].addr], 'default --max-paths 4');
    const [r] = kernelRoutes(nodeNs);
    expect(r.nexthops!.map((h) => h.dev)).to.deep.equal(['eth0', 'eth0']);
  });

  it('reports the multipath in `nexthop routes --json` and both paths in `nexthop explain`', async () => {
    const rs = (await waitFor('routes answer with the FIB in sync', () => {
      const x = routes()?.routes.find((y) => y.prefix === PREFIX);
      return x?.fib?.state === 'in-sync' ? x : null;
    }, 15_000, 300))!;
    expect(rs.best, JSON.stringify(rs)).to.not.equal(undefined);
    const best = rs.best!;
    // The best path is one ToR's, the other is installed alongside it.
    expect(best.multipath, JSON.stringify(rs)).to.have.length(1);
    expect(best.multipath[0]).to.not.equal(best.peer);
    expect([TORS[0].addr, TORS[1].addr]).to.include(best.nextHop);
    expect(best.alternatives ?? [], 'no losing path: both are used').to.deep.equal([]);
    expect(best.asPath).to.equal(String(TOR_AS));
    expect([...rs.fib!.nexthops].sort()).to.deep.equal([TORS[0].addr, TORS[1].addr]);
    expect(rs.fib!.dev).to.equal('eth0');
    expect(rs.fib!.protocol).to.match(/^(nexthop|78)$/);
    const text = runCli(['routes', '--control-socket', sock()]);
    expect(text.status).to.equal(0, text.stderr);
    expect(text.stdout).to.match(/198\.51\.100\.0\/24.*\+1 ecmp/);

    const x = runCli(['explain', '198.51.100.7', '--json', '--control-socket', sock()]);
    expect(x.status).to.equal(0, x.stderr);
    const ex = JSON.parse(x.stdout) as ExplainResult;
    expect(ex.route?.prefix).to.equal(PREFIX);
    const paths = [ex.route!.best!.peer, ...ex.route!.best!.multipath].sort();
    expect(paths).to.deep.equal([best.peer, best.multipath[0]].sort());
    expect(ex.problems).to.deep.equal([]);
    expect(ex.decision).to.contain(`next hops ${TORS[0].addr} and ${TORS[1].addr} are on the subnet of eth0`).and.to.contain('ECMP');
    const t = runCli(['explain', '198.51.100.7', '--control-socket', sock()]);
    expect(t.status).to.equal(0, t.stderr);
    if (process.env.NEXTHOP_TEST_DEBUG) process.stderr.write(`--- routes\n${text.stdout}\n--- routes --json\n${JSON.stringify(rs)}\n--- explain\n${t.stdout}\n`);
    expect(t.stdout).to.contain(best.peer).and.to.contain(best.multipath[0]);
    expect(t.stdout).to.contain(TORS[0].addr).and.to.contain(TORS[1].addr);
  });

  it('drops to the other ToR alone when one withdraws (RFC 4271 §9.1.3), and back to two when it returns', async () => {
    await tors[1].command(['disable', 'static_ipv4']);
    await gatewaysBecome([TORS[0].addr], 'tor-2 withdrew');
    const one = routes()!.routes.find((y) => y.prefix === PREFIX)!;
    expect(one.best?.nextHop).to.equal(TORS[0].addr);
    expect(one.best?.multipath).to.deep.equal([]);
    await tors[1].command(['enable', 'static_ipv4']);
    await gatewaysBecome([TORS[0].addr, TORS[1].addr], 'tor-2 announces again');
  });

  it('drops the paths of a ToR whose session goes down (Cease, RFC 4271 §6.7 / §9.1.3), and re-adds them when it is back', async () => {
    // The harness's BIRD runs without graceful restart: the session's routes go at once.
    await tors[0].command(['disable', 'peer1']);
    await gatewaysBecome([TORS[1].addr], 'tor-1 session down');
    await tors[0].command(['enable', 'peer1']);
    await bothToRsEstablished();
    await gatewaysBecome([TORS[0].addr, TORS[1].addr], 'tor-1 session back');
  });

  it('installs a single next hop with --max-paths 1 (the lower BGP Identifier wins, RFC 4271 §9.1.2.2 f)', async () => {
    await stopAgent();
    startAgent(['--max-paths', '1']);
    await bothToRsEstablished();
    await gatewaysBecome([TORS[0].addr], '--max-paths 1');
    const rs = (await waitFor('routes answer with the FIB in sync', () => {
      const x = routes()?.routes.find((y) => y.prefix === PREFIX);
      return x?.fib?.state === 'in-sync' ? x : null;
    }, 15_000, 300))!;
    expect(rs.best?.nextHop).to.equal(TORS[0].addr);
    expect(rs.best?.multipath).to.deep.equal([]);
    expect((rs.best?.alternatives ?? []).map((a) => a.nextHop)).to.deep.equal([TORS[1].addr]);
    await stopAgent();
  });
});
