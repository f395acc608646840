// The agent on an etcd datastore, with VXLAN: etcd runs in the "switch" namespace on the nodes'
// segment; resources go in with `nexthop apply`; two agents claim blocks, publish their VXLAN
// VTEP address and MAC as agent-written Node fields (RFC 7348 endpoints, Calico's
// ipv4VXLANTunnelAddr / vxlanTunnelMACAddr), peer, and route each other's blocks over
// vxlan.nexthop (pool vxlanMode Always). A third Node applied to etcd while they run gets its
// sessions and routes through the watch, without a restart.
import { expect } from 'chai';
import { ChildProcess, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, requireTool, waitFor } from '../helpers/lab';
import { etcdAvailable } from '../helpers/etcd';
import type { AgentStatus, RoutesStatus } from '../../src/agent/status-types';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const ETCD = 'http://10.71.0.254:23790';

interface N { name: string; ns: string; addr: string; dir: string; proc?: ChildProcess; log: string }

function nodeDoc(name: string, addr: string): string {
  return `apiVersion: nexthop.io/v1
kind: Node
metadata: { name: ${name} }
spec: { bgp: { ipv4Address: ${addr}/24 } }
`;
}

describe('integration: nexthop agent on etcd with a VXLAN pool', function () {
  this.timeout(120_000);
  const lab = new Lab('age');
  const nodes: N[] = [];
  let sw = '';
  let dir = '';

  /** Runs the CLI inside the switch namespace (where etcd listens). */
  function ctl(args: string[], input?: string): { status: number; stdout: string; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', sw, process.execPath, MAIN, ...args], { encoding: 'utf8', timeout: 20000, input });
    return { status: r.status ?? -1, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
  }

  function status(n: N): AgentStatus | null {
    const r = spawnSync(process.execPath, [MAIN, 'status', '--json', '--control-socket', path.join(n.dir, 'run', 'nexthop.sock')], { encoding: 'utf8', timeout: 20000 });
    return r.status === 0 ? JSON.parse(r.stdout) as AgentStatus : null;
  }

  function addNode(name: string, i: number): N {
    const ns = lab.netns(name);
    const [, p] = lab.link(ns, [`10.71.0.${i}/24`], sw, [], ['eth0', `p${i}`]);
    nsExec(sw, 'ip', ['link', 'set', p, 'master', 'br0']);
    const n: N = { name, ns, addr: `10.71.0.${i}`, dir: path.join(dir, name), log: '' };
    nodes.push(n);
    return n;
  }

  function startAgent(n: N): void {
    fs.mkdirSync(n.dir, { mode: 0o700, recursive: true });
    n.proc = lab.spawn(n.ns, process.execPath, [MAIN, 'agent', '--node', n.name, '--datastore', `etcd:${ETCD}`,
      '--control-socket', path.join(n.dir, 'run', 'nexthop.sock'), '--metrics-address', '127.0.0.1:9743', '--cni-conf-dir', path.join(n.dir, 'cni'),
      '--subnet-env', 'none', '--state-dir', path.join(n.dir, 'state')]);
    n.proc.stdout?.on('data', (d: Buffer) => { n.log += d.toString(); });
    n.proc.stderr?.on('data', (d: Buffer) => { n.log += d.toString(); });
  }

  before(async function () {
    if (!isRoot()) this.skip();
    requireTool(this, 'etcd (package etcd-server)', etcdAvailable());
    dir = lab.tempDir();
    sw = lab.netns('sw');
    nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    nsExec(sw, 'ip', ['addr', 'add', '10.71.0.254/24', 'dev', 'br0']);
    nsExec(sw, 'ip', ['link', 'set', 'br0', 'up']);
    const etcd = lab.spawn(sw, 'etcd', ['--name', 'agent-test', '--data-dir', path.join(dir, 'etcd'), '--listen-client-urls', ETCD,
      '--advertise-client-urls', ETCD, '--listen-peer-urls', 'http://127.0.0.1:23800', '--initial-advertise-peer-urls', 'http://127.0.0.1:23800',
      '--initial-cluster', 'agent-test=http://127.0.0.1:23800', '--log-level', 'warn', '--logger', 'zap']);
    let etcdLog = '';
    etcd.stderr?.on('data', (d: Buffer) => { etcdLog += d.toString(); });
    // etcdctl exits 0 once the endpoint answers (waitFor retries while it throws).
    await waitFor('etcd health', () => { nsExec(sw, 'etcdctl', ['--endpoints', ETCD, 'endpoint', 'health'], { timeoutMs: 5000 }); return true; }, 20_000, 300)
      .catch((e: Error) => { throw new Error(`${e.message}\n${etcdLog}`); });
    const a = addNode('node-a', 1);
    const b = addNode('node-b', 2);
    const applied = ctl(['apply', '--datastore', `etcd:${ETCD}`, '-f', '-'], `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.70.0.0/16, vxlanMode: Always }
---
${nodeDoc(a.name, a.addr)}---
${nodeDoc(b.name, b.addr)}`);
    expect(applied.status).to.equal(0, applied.stderr);
    for (const n of nodes) startAgent(n);
  });

  after(async () => {
    if (process.env.NEXTHOP_TEST_DEBUG) for (const n of nodes) process.stderr.write(`--- ${n.name}\n${n.log}\n`);
    await lab.destroy();
  });

  it('claims blocks, publishes VTEP fields, peers and routes over vxlan.nexthop', async () => {
    const [a, b] = nodes;
    const sa = (await waitFor('a established', () => { const s = status(a); return s?.peers[0]?.state === 'Established' ? s : null; }, 30_000, 300))!;
    const sb = (await waitFor('b established', () => { const s = status(b); return s?.peers[0]?.state === 'Established' ? s : null; }, 30_000, 300))!;
    expect(sa.datastore).to.deep.include({ kind: 'etcd', connected: true });
    const [blockA] = sa.blocks;
    const [blockB] = sb.blocks;
    expect(blockA).to.match(/^10\.70\.\d+\.0\/24$/);
    expect(blockB).to.not.equal(blockA);
    // Agent-written fields, stored apart from the user's Node and shown merged by `get`.
    const got = ctl(['get', 'node', 'node-b', '-o', 'json', '--datastore', `etcd:${ETCD}`]);
    expect(got.status).to.equal(0, got.stderr);
    const vtepB = blockB.replace('/24', '');
    expect(got.stdout).to.contain(`"ipv4VXLANTunnelAddr": "${vtepB}"`);
    expect(got.stdout).to.match(/"vxlanTunnelMACAddr": "[0-9a-f:]{17}"/);
    const route = await waitFor('a routes b over VXLAN', () => {
      const r = nsExec(a.ns, 'ip', ['route', 'show', 'proto', '78']);
      return r.includes(`${blockB} via ${vtepB} dev vxlan.nexthop onlink`) ? r : null;
    }, 20_000, 300);
    expect(route).to.contain(`blackhole ${blockA}`);
    expect(nsExec(a.ns, 'ip', ['neigh', 'show', 'dev', 'vxlan.nexthop'])).to.contain(vtepB);
    // Across the tunnel: a's VTEP address to b's VTEP address (both are host addresses).
    nsExec(a.ns, 'ping', ['-c', '2', '-W', '1', '-I', blockA.replace('/24', ''), vtepB]);
    const rr = spawnSync(process.execPath, [MAIN, 'routes', '--json', '--control-socket', path.join(a.dir, 'run', 'nexthop.sock')], { encoding: 'utf8' });
    const rs = JSON.parse(rr.stdout) as RoutesStatus;
    expect(rs.routes.find((r) => r.prefix === blockB)!.fib).to.deep.include({ tunnel: 'vxlan', dev: 'vxlan.nexthop', state: 'in-sync', onlink: true });
    // /readyz and /metrics inside the node's namespace (each namespace has its own loopback).
    const get = (url: string) => nsExec(a.ns, process.execPath, ['-e',
      `require('http').get(${JSON.stringify(url)}, (r) => { let b = ''; r.on('data', (d) => b += d); r.on('end', () => process.stdout.write(r.statusCode + '\\n' + b)); })`]);
    const ready = get('http://127.0.0.1:9743/readyz');
    expect(ready.split('\n')[0]).to.equal('200');
    expect(JSON.parse(ready.slice(ready.indexOf('\n') + 1))).to.deep.include({ ready: true });
    const metrics = get('http://127.0.0.1:9743/metrics');
    expect(metrics).to.match(/nexthop_bgp_session_state\{peer="10\.71\.0\.2",type="mesh"\} 6/);
    expect(metrics).to.match(/nexthop_fib_routes\{family="ipv4"\} 2/);
    expect(metrics).to.match(/nexthop_datastore_connected\{kind="etcd"\} 1/);
  });

  it('a Node applied to etcd while the agents run gets sessions and routes through the watch', async () => {
    const c = addNode('node-c', 3);
    const applied = ctl(['apply', '--datastore', `etcd:${ETCD}`, '-f', '-'], nodeDoc(c.name, c.addr));
    expect(applied.status).to.equal(0, applied.stderr);
    startAgent(c);
    for (const n of nodes) {
      await waitFor(`${n.name} has 2 sessions up`, () => status(n)?.peers.filter((p) => p.state === 'Established').length === 2, 30_000, 300);
    }
    const sc = status(c)!;
    const vtepC = sc.blocks[0].replace('/24', '');
    await waitFor('a routes c over VXLAN', () => nsExec(nodes[0].ns, 'ip', ['route', 'show', 'proto', '78']).includes(`${sc.blocks[0]} via ${vtepC} dev vxlan.nexthop onlink`), 20_000, 300);
  });
});
