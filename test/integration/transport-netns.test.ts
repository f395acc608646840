// Transport across network namespaces (veth, a router namespace, a real BIRD 2): TCP MD5
// (RFC 2385) with the right key establishes and with a wrong key never connects (the dial times
// out and the FSM backs off); GTSM (RFC 5082) lets a directly connected peer in and keeps a peer
// two hops away out; a session with BIRD comes up with and without MD5 and carries its UPDATEs.
// Our side runs as a child process inside its namespace (test/integration/transport-child.ts).
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import * as readline from 'readline';
import type { ChildProcess } from 'child_process';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';
import { repoPath } from '../helpers/repo';
import type { ChildConfig } from './transport-child';

type Msg = Record<string, unknown> & { type: string; peer?: string };

class Child {
  readonly messages: Msg[] = [];
  private readonly proc: ChildProcess;

  constructor(lab: Lab, ns: string, cfg: ChildConfig) {
    this.proc = lab.spawn(ns, process.execPath, [path.join(__dirname, 'transport-child.js'), JSON.stringify(cfg)], {
      env: { ...process.env, NODE_PATH: repoPath('node_modules') },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    readline.createInterface({ input: this.proc.stdout! }).on('line', (l) => {
      try { this.messages.push(JSON.parse(l) as Msg); } catch { this.messages.push({ type: 'garbled', line: l }); }
    });
    let err = '';
    this.proc.stderr!.on('data', (d) => { err += d; });
    this.proc.on('exit', (code) => { if (code) this.messages.push({ type: 'exit', code, stderr: err }); });
  }

  async ready(): Promise<void> {
    await waitFor('child ready', () => {
      const bad = this.messages.find((m) => m.type === 'fatal' || m.type === 'exit');
      if (bad) throw new Error(JSON.stringify(bad));
      return this.messages.some((m) => m.type === 'ready');
    }, 10000, 20);
  }

  command(c: Record<string, unknown>): void {
    this.proc.stdin!.write(`${JSON.stringify(c)}\n`);
  }

  async status(peer: string): Promise<Msg> {
    const before = this.messages.length;
    this.command({ cmd: 'status', peer });
    return (await waitFor('status', () => this.messages.slice(before).find((m) => m.type === 'status'), 3000, 10))!;
  }

  has(type: string, peer?: string): boolean {
    return this.messages.some((m) => m.type === type && (peer === undefined || m.peer === peer));
  }

  errors(): Msg[] {
    return this.messages.filter((m) => m.type === 'error' || m.type === 'fatal' || m.type === 'exit');
  }
}

const quick = { holdTime: 9, connectRetryTime: 1, backoff: { initialMs: 500, maxMs: 4000, stableMs: 10000 } };

function peerCfg(localId: string, localAs: number, remote: string, peerAs: number, t: Record<string, unknown> = {}, passive = false): ChildConfig['peers'][number] {
  return {
    session: { peerAddress: remote, localAs, localId, peerAs, passive, ...quick },
    transport: { remoteAddress: remote, ...t },
  };
}

describe('transport across namespaces', function () {
  this.timeout(30000);
  let lab: Lab;

  before(function () {
    if (!isRoot()) this.skip();
  });
  beforeEach(() => { lab = new Lab('tr'); });
  afterEach(async () => { await lab.destroy(); });

  function pair(): [string, string] {
    const a = lab.netns('a');
    const b = lab.netns('b');
    lab.link(a, ['10.77.1.1/24'], b, ['10.77.1.2/24']);
    return [a, b];
  }

  it('TCP MD5 with the same key on both sides establishes (RFC 2385)', async () => {
    const [a, b] = pair();
    const ca = new Child(lab, a, { listen: { address: '0.0.0.0' }, peers: [peerCfg('10.77.1.1', 65001, '10.77.1.2', 65002, { md5Password: 's3cret' })] });
    const cb = new Child(lab, b, { listen: { address: '0.0.0.0' }, peers: [peerCfg('10.77.1.2', 65002, '10.77.1.1', 65001, { md5Password: 's3cret' })] });
    await Promise.all([ca.ready(), cb.ready()]);
    await waitFor('both Established', () => ca.has('established', '10.77.1.2') && cb.has('established', '10.77.1.1'), 10000, 50);
    expect(ca.errors()).to.deep.equal([]);
    expect(cb.errors()).to.deep.equal([]);
  });

  it('a dual-stack listener serves an IPv4 and an IPv6 peer, each with its own MD5 key', async () => {
    const a = lab.netns('a');
    const b = lab.netns('b');
    lab.link(a, ['10.77.1.1/24', 'fd77::1/64'], b, ['10.77.1.2/24', 'fd77::2/64']);
    const ca = new Child(lab, a, {
      listen: { address: '::' },
      peers: [
        peerCfg('10.77.1.1', 65001, '10.77.1.2', 65002, { md5Password: 'key-v4' }, true),
        peerCfg('10.77.1.1', 65001, 'fd77::2', 65002, { md5Password: 'key-v6' }, true),
      ],
    });
    const cb = new Child(lab, b, {
      peers: [
        peerCfg('10.77.1.2', 65002, '10.77.1.1', 65001, { md5Password: 'key-v4' }),
        peerCfg('10.77.1.2', 65002, 'fd77::1', 65001, { md5Password: 'key-v6', localAddress: 'fd77::2' }),
      ],
    });
    await Promise.all([ca.ready(), cb.ready()]);
    await waitFor('both sessions Established', () => ca.has('established', '10.77.1.2') && ca.has('established', 'fd77::2'), 10000, 50);
    expect(cb.has('established', '10.77.1.1') && cb.has('established', 'fd77::1')).to.equal(true);
    expect(ca.errors()).to.deep.equal([]);
  });

  it('TCP MD5 with a wrong key never connects: the dial times out and the FSM backs off', async () => {
    const [a, b] = pair();
    const ca = new Child(lab, a, { listen: { address: '0.0.0.0' }, peers: [peerCfg('10.77.1.1', 65001, '10.77.1.2', 65002, { md5Password: 'right' }, true)] });
    const cb = new Child(lab, b, { peers: [peerCfg('10.77.1.2', 65002, '10.77.1.1', 65001, { md5Password: 'wrong' })] });
    await Promise.all([ca.ready(), cb.ready()]);
    // connectRetryTime 1 s: dial (1 s timeout), wait 1 s, dial, wait 2 s, dial ... by 4.5 s: ≥ 2 timeouts.
    await new Promise((r) => setTimeout(r, 4500));
    expect(ca.has('established')).to.equal(false);
    expect(cb.has('established')).to.equal(false);
    const sb = await cb.status('10.77.1.1');
    expect(sb.lastError).to.equal('connect timed out after 1000 ms');
    expect((sb.failures as { dial: number }).dial).to.be.at.least(2);
    expect(['Active', 'Connect']).to.include(sb.state);
    const sa = await ca.status('10.77.1.2');
    expect(sa.state).to.equal('Active');
    expect(sa.messagesIn).to.equal(0);
  });

  describe('GTSM (RFC 5082)', () => {
    function routed(): [string, string] {
      const a = lab.netns('a');
      const r = lab.netns('r');
      const c = lab.netns('c');
      lab.link(a, ['10.77.2.1/24'], r, ['10.77.2.254/24']);
      lab.link(r, ['10.77.3.254/24'], c, ['10.77.3.2/24']);
      nsExec(r, 'sysctl', ['-q', '-w', 'net.ipv4.ip_forward=1']);
      nsExec(a, 'ip', ['route', 'add', '10.77.3.0/24', 'via', '10.77.2.254']);
      nsExec(c, 'ip', ['route', 'add', '10.77.2.0/24', 'via', '10.77.3.254']);
      nsExec(c, 'ping', ['-c', '1', '-W', '2', '10.77.2.1']); // the path works
      return [a, c];
    }

    it('a GTSM listener for directly connected peers drops a peer two hops away', async () => {
      const [a, c] = routed();
      const ca = new Child(lab, a, { listen: { address: '0.0.0.0', minTtl: 255 }, peers: [peerCfg('10.77.2.1', 65001, '10.77.3.2', 65003, { ttlSecurityHops: 1 }, true)] });
      const cc = new Child(lab, c, { peers: [peerCfg('10.77.3.2', 65003, '10.77.2.1', 65001, { ttlSecurityHops: 1 })] });
      await Promise.all([ca.ready(), cc.ready()]);
      ca.command({ cmd: 'sockopts' });
      await waitFor('sockopts', () => ca.has('sockopts'), 3000, 10);
      expect(ca.messages.find((m) => m.type === 'sockopts')!.listener).to.deep.equal({ ttl: 255, minTtl: 255 });
      await new Promise((r) => setTimeout(r, 2500));
      expect(cc.has('established')).to.equal(false);
      const st = await cc.status('10.77.2.1');
      expect(st.lastError).to.equal('connect timed out after 1000 ms');
      expect((await ca.status('10.77.3.2')).messagesIn).to.equal(0);
    });

    it('with hops = 2 on both sides the same peer establishes', async () => {
      const [a, c] = routed();
      const ca = new Child(lab, a, { listen: { address: '0.0.0.0', minTtl: 254 }, peers: [peerCfg('10.77.2.1', 65001, '10.77.3.2', 65003, { ttlSecurityHops: 2 }, true)] });
      const cc = new Child(lab, c, { peers: [peerCfg('10.77.3.2', 65003, '10.77.2.1', 65001, { ttlSecurityHops: 2 })] });
      await Promise.all([ca.ready(), cc.ready()]);
      await waitFor('Established over two hops', () => ca.has('established') && cc.has('established'), 10000, 50);
    });
  });

  describe('with BIRD 2', () => {
    async function withBird(password: string | null): Promise<{ ours: Child; birdc: () => string }> {
      const a = lab.netns('a');
      const b = lab.netns('b');
      lab.link(a, ['10.77.4.1/24'], b, ['10.77.4.2/24']);
      const dir = lab.tempDir();
      const conf = path.join(dir, 'bird.conf');
      fs.writeFileSync(conf, `
router id 10.77.4.2;
protocol device {}
protocol static { ipv4; route 10.99.1.0/24 blackhole; route 10.99.2.0/24 blackhole; }
protocol bgp nh {
  local 10.77.4.2 as 65002;
  neighbor 10.77.4.1 as 65001;
  hold time 9;
  connect retry time 1;
  error wait time 1, 2;
  ${password ? `password "${password}";` : ''}
  ipv4 { import all; export all; };
}
`);
      const sock = path.join(dir, 'bird.ctl');
      lab.spawn(b, 'bird', ['-f', '-c', conf, '-s', sock, '-P', path.join(dir, 'bird.pid')]);
      await waitFor('BIRD control socket', () => fs.existsSync(sock), 5000, 20);
      const ours = new Child(lab, a, {
        listen: { address: '0.0.0.0' },
        peers: [peerCfg('10.77.4.1', 65001, '10.77.4.2', 65002, password ? { md5Password: password } : {})],
      });
      await ours.ready();
      return { ours, birdc: () => nsExec(b, 'birdc', ['-s', sock, 'show', 'protocols', 'nh'], { allowFail: true }) };
    }

    for (const password of [null, 'bird-s3cret']) {
      it(`establishes ${password ? 'with' : 'without'} TCP MD5 and receives BIRD's routes`, async () => {
        const { ours, birdc } = await withBird(password);
        await waitFor('our side Established', () => ours.has('established', '10.77.4.2'), 15000, 50);
        await waitFor('BIRD reports Established', () => /Established/.test(birdc()), 10000, 100);
        const est = ours.messages.find((m) => m.type === 'established')!;
        expect(est).to.deep.include({ peerId: '10.77.4.2', peerAs: 65002, holdTime: 9, as4: true });
        expect((est.endpoints as { localAddress: string }).localAddress).to.equal('10.77.4.1');
        expect((est.endpoints as { remoteAddress: string }).remoteAddress).to.equal('10.77.4.2');
        await waitFor('UPDATEs from BIRD', () => ours.messages.filter((m) => m.type === 'update').reduce((n, m) => n + (m.nlri as number), 0) >= 2, 5000, 50);
        expect(ours.errors()).to.deep.equal([]);
      });
    }

    it('does not establish with BIRD when only BIRD has the MD5 key', async () => {
      const a = lab.netns('a');
      const b = lab.netns('b');
      lab.link(a, ['10.77.4.1/24'], b, ['10.77.4.2/24']);
      const dir = lab.tempDir();
      const conf = path.join(dir, 'bird.conf');
      fs.writeFileSync(conf, `router id 10.77.4.2;\nprotocol device {}\nprotocol bgp nh { local 10.77.4.2 as 65002; neighbor 10.77.4.1 as 65001; connect retry time 1; password "k"; ipv4 { import all; export none; }; }\n`);
      const sock = path.join(dir, 'bird.ctl');
      lab.spawn(b, 'bird', ['-f', '-c', conf, '-s', sock, '-P', path.join(dir, 'bird.pid')]);
      await waitFor('BIRD control socket', () => fs.existsSync(sock), 5000, 20);
      const ours = new Child(lab, a, { listen: { address: '0.0.0.0' }, peers: [peerCfg('10.77.4.1', 65001, '10.77.4.2', 65002)] });
      await ours.ready();
      await new Promise((r) => setTimeout(r, 3000));
      expect(ours.has('established')).to.equal(false);
      expect(nsExec(b, 'birdc', ['-s', sock, 'show', 'protocols', 'nh'])).to.not.match(/Established/);
    });
  });
});
