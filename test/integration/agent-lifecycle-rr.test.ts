// Live peer changes, make-before-break: three `nexthop agent`s start as a full mesh; the
// datastore file is then edited into a route-reflector design (node-a gets a
// routeReflectorClusterID, the mesh is turned off, a BGPPeer makes every node a client of the
// reflector; Calico's documented migration). Without restarting any agent process and without
// resetting any session that stays: node-a's speaker takes its new CLUSTER_ID live (RFC 4456
// §7, Speaker.setClusterId) and its mesh sessions to b and c become rr-client sessions in place
// (Speaker.updatePeer, RFC 4456 §6 client status is local policy), b and c see their session
// to a become rr-server in place, and keep their direct b–c session until a reflects c's
// routes (End-of-RIB, RFC 4724 §2; coverage), and only then drop it with a Cease / Peer
// De-configured NOTIFICATION (RFC 4486 §3, subcode 3) that b's /metrics counts. 20 pkt/s pings
// between the two clients' blocks and from a client to the reflector's block lose no packet,
// and the sessions to the reflector keep their Established "since" time (no flap).
import { expect } from 'chai';
import { ChildProcess, spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';
import type { AgentStatus } from '../../src/agent/status-types';

const METRICS_PORT = 9747;

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

interface N { name: string; ns: string; addr: string; block: string; dir: string; proc?: ChildProcess; log: string }

function yaml(nodes: N[], rr: boolean): string {
  const docs = [
    `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: ${rr ? 'false' : 'true'} }`,
    `apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.72.0.0/16, blockSize: 24 }`,
    ...nodes.map((n) => `apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: ${n.name}, labels: { rr: "${n.name === 'node-a'}" } }
spec:
  bgp: { ipv4Address: ${n.addr}/24${rr && n.name === 'node-a' ? ', routeReflectorClusterID: 1.1.1.1' : ''} }
  podCIDRs: [${n.block}]`),
  ];
  if (rr) {
    docs.push(`apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: peer-with-rr }
spec: { nodeSelector: all(), peerSelector: rr == 'true' }`);
  }
  return docs.join('\n---\n') + '\n';
}

function status(n: N): AgentStatus | null {
  const r = spawnSync(process.execPath, [MAIN, 'status', '--json', '--control-socket', path.join(n.dir, 'run', 'nexthop.sock')], { encoding: 'utf8', timeout: 20000 });
  return r.status === 0 ? JSON.parse(r.stdout) as AgentStatus : null;
}

function pingStats(out: string): { sent: number; received: number } {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(out);
  if (!m) throw new Error(`no ping summary in: ${out}`);
  return { sent: Number(m[1]), received: Number(m[2]) };
}

describe('integration: nexthop agent live mesh → route reflector migration (make-before-break)', function () {
  this.timeout(120_000);
  const lab = new Lab('agr');
  const nodes: N[] = [];
  let file = '';

  before(async function () {
    if (!isRoot()) this.skip();
    const dir = lab.tempDir();
    file = path.join(dir, 'cluster.yaml');
    const sw = lab.netns('sw');
    nsExec(sw, 'ip', ['link', 'add', 'br0', 'type', 'bridge']);
    nsExec(sw, 'ip', ['link', 'set', 'br0', 'up']);
    for (const [i, name] of [[1, 'node-a'], [2, 'node-b'], [3, 'node-c']] as const) {
      const ns = lab.netns(name);
      const [, p] = lab.link(ns, [`10.73.0.${i}/24`], sw, [], ['eth0', `p${i}`]);
      nsExec(sw, 'ip', ['link', 'set', p, 'master', 'br0']);
      nsExec(ns, 'ip', ['addr', 'add', `10.72.${i}.1/32`, 'dev', 'lo']);
      nodes.push({ name, ns, addr: `10.73.0.${i}`, block: `10.72.${i}.0/24`, dir: path.join(dir, name), log: '' });
    }
    fs.writeFileSync(file, yaml(nodes, false));
    for (const n of nodes) {
      fs.mkdirSync(n.dir, { mode: 0o700 });
      n.proc = lab.spawn(n.ns, process.execPath, [MAIN, 'agent', '--node', n.name, '--datastore', `file:${file}`,
        '--control-socket', path.join(n.dir, 'run', 'nexthop.sock'), '--metrics-address', `127.0.0.1:${METRICS_PORT}`, '--cni-conf-dir', 'none',
        '--subnet-env', 'none', '--state-dir', path.join(n.dir, 'state'), '--transition-timeout', '30']);
      n.proc.stdout?.on('data', (d: Buffer) => { n.log += d.toString(); });
      n.proc.stderr?.on('data', (d: Buffer) => { n.log += d.toString(); });
    }
    for (const n of nodes) await waitFor(`${n.name} mesh`, () => status(n)?.peers.filter((p) => p.state === 'Established').length === 2, 30_000, 300);
    await waitFor('b routes to c', () => /10\.72\.3\.0\/24 via 10\.73\.0\.3/.test(nsExec(nodes[1].ns, 'ip', ['route', 'show', 'proto', '78'])), 10_000, 200);
  });

  after(async () => {
    if (process.env.NEXTHOP_TEST_DEBUG) for (const n of nodes) process.stderr.write(`--- ${n.name}\n${n.log}\n`);
    await lab.destroy();
  });

  it('moves to the reflector without restarting agents, resetting sessions that stay, or losing packets', async () => {
    const [a, b, c] = nodes;
    const pids = nodes.map((n) => n.proc!.pid);
    // When each session to or from the reflector entered Established, before the move.
    const sinceBefore = new Map<string, number>();
    for (const n of nodes) {
      for (const p of status(n)!.peers) {
        if (p.state === 'Established' && (n === a || p.node === 'node-a')) sinceBefore.set(`${n.name}→${p.node}`, p.since);
      }
    }
    expect([...sinceBefore.keys()].sort()).to.deep.equal(['node-a→node-b', 'node-a→node-c', 'node-b→node-a', 'node-c→node-a']);
    const scrape = (n: N) => nsExec(n.ns, process.execPath, ['-e',
      `require('http').get('http://127.0.0.1:${METRICS_PORT}/metrics', (r) => { let t = ''; r.on('data', (d) => t += d); r.on('end', () => process.stdout.write(t)); })`]);
    // NOTIFICATIONs counted so far: a connection collision while the mesh came up (RFC 4271 §6.8,
    // Cease subcode 7) is normal and not part of the move.
    const notifications = (n: N, peer?: string) => scrape(n).split('\n')
      .filter((l) => l.startsWith('nexthop_bgp_notifications_total{') && (peer === undefined || l.includes(`peer="${peer}"`)));
    const before = new Map(nodes.map((n) => [n.name, notifications(n)]));
    const ping = lab.spawn(b.ns, 'ping', ['-i', '0.05', '-c', '240', '-W', '1', '-I', '10.72.2.1', '10.72.3.1']);
    const pingToRr = lab.spawn(b.ns, 'ping', ['-i', '0.05', '-c', '240', '-W', '1', '-I', '10.72.2.1', '10.72.1.1']);
    let out = '';
    let outRr = '';
    ping.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    pingToRr.stdout?.on('data', (d: Buffer) => { outRr += d.toString(); });
    const done = Promise.all([ping, pingToRr].map((p) => new Promise<void>((r) => p.on('exit', () => r()))));
    await new Promise((r) => setTimeout(r, 1000));
    fs.writeFileSync(file, yaml(nodes, true));

    // The clients end with one session, to the reflector (Calico type rr-server)...
    for (const n of [b, c]) {
      const s = (await waitFor(`${n.name} only peers with the reflector`, () => {
        const st = status(n);
        return st && st.peers.length === 1 && st.peers[0].state === 'Established' ? st : null;
      }, 40_000, 300))!;
      expect(s.peers[0]).to.deep.include({ node: 'node-a', type: 'rr-server' });
    }
    // ...the reflector has both as clients and reflects their blocks (RFC 4456).
    const sa = (await waitFor('a has two clients', () => {
      const st = status(a);
      return st && st.peers.filter((p) => p.type === 'rr-client' && p.state === 'Established').length === 2 ? st : null;
    }, 20_000, 300))!;
    expect(sa.peers.map((p) => p.node).sort()).to.deep.equal(['node-b', 'node-c']);
    expect(nsExec(b.ns, 'ip', ['route', 'show', 'proto', '78'])).to.match(/10\.72\.3\.0\/24 via 10\.73\.0\.3 dev eth0/);
    expect(nsExec(c.ns, 'ip', ['route', 'show', 'proto', '78'])).to.match(/10\.72\.2\.0\/24 via 10\.73\.0\.2 dev eth0/);
    // No speaker restart: the cluster id and the roles changed live.
    expect(a.log).to.not.contain('restarting the speaker gracefully');
    expect(a.log).to.contain('cluster id changed: applied in place');
    for (const n of nodes) expect(n.log, n.name).to.match(/session changed: in-place/);
    expect(b.log).to.match(/session removed.*node\/node-c\/v4|node\/node-c\/v4.*session removed/);
    expect(nodes.map((n) => n.proc!.pid)).to.deep.equal(pids);
    // Sessions that existed before and after did not flap: same Established "since".
    for (const n of nodes) {
      for (const p of status(n)!.peers) {
        const key = `${n.name}→${p.node}`;
        if (sinceBefore.has(key)) expect(p.since, `${key} Established since`).to.equal(sinceBefore.get(key));
      }
    }
    // b and c each removed their session to the other: whichever went first sent Cease / Peer
    // De-configured (RFC 4486 §3), wrapped in a Hard Reset (RFC 8538 §3: Cease, subcode 9) as both
    // ends announced the N bit; counted after the removal, by peer address, as on the wire.
    const ceaseSent = (n: N, other: N) => scrape(n).split('\n').find((l) => l.startsWith('nexthop_bgp_notifications_total{')
      && l.includes(`peer="${other.addr}"`) && l.includes('direction="sent"') && l.includes('code="6"') && l.includes('subcode="9"'));
    let line: string | undefined;
    try {
      line = await waitFor('a Cease sent between the clients is counted', () => ceaseSent(b, c) ?? ceaseSent(c, b), 10_000, 300);
    } catch (e) {
      for (const n of [b, c]) process.stderr.write(`--- ${n.name} /metrics\n${scrape(n).split('\n').filter((l) => l.includes('notification')).join('\n')}\n`);
      throw e;
    }
    expect(line).to.match(/\} 1$/);
    // Nothing new on the sessions to the reflector, which stayed up.
    for (const n of [b, c]) {
      expect(notifications(n, a.addr), `${n.name}: NOTIFICATIONs on the session to the reflector`)
        .to.deep.equal(before.get(n.name)!.filter((l) => l.includes(`peer="${a.addr}"`)));
    }
    expect(notifications(a), 'node-a: NOTIFICATIONs').to.deep.equal(before.get(a.name));

    await done;
    const st = pingStats(out);
    expect(st.received, `client to client: ${out.split('\n').slice(-3).join(' ')}`).to.equal(st.sent);
    const rr = pingStats(outRr);
    expect(rr.received, `client to reflector block: ${outRr.split('\n').slice(-3).join(' ')}`).to.equal(rr.sent);
  });
});
