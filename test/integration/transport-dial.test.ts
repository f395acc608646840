// The dialer's two paths (src/transport/dialer.ts), each dial in a child process of its own so
// that what it loads can be checked: a plain peer connects with Node's net.connect (from the
// configured source address) and never loads koffi; a failure names the peer with the errno
// (ECONNREFUSED, EADDRNOTAVAIL for a source that is not ours, ETIMEDOUT when the SYN goes
// nowhere, ECANCELED when cancelled), as the FFI path does; a peer with TCP MD5 (RFC 2385) still
// goes through the FFI. The speaker runner with plain peers idles without koffi mapped.
// Timeouts and cancellation run inside a namespace (test/helpers/lab.ts), toward an address on a
// veth link that nobody holds: the SYN waits for ARP and never leaves.
import { expect } from 'chai';
import * as fs from 'fs';
import * as net from 'net';
import * as path from 'path';
import type { ChildProcess } from 'child_process';
import { Lab, isRoot, waitFor } from '../helpers/lab';
import { repoPath } from '../helpers/repo';
import { RUNNER_JS } from '../helpers/speaker-runner';

interface DialOutcome {
  ok: boolean;
  local?: string;
  typed?: boolean;
  code?: string;
  operation?: string;
  peer?: string;
  message?: string;
  ms: number;
  koffi: boolean;
}

function runChild(lab: Lab, ns: string | null, opts: Record<string, unknown>): Promise<DialOutcome> {
  const p: ChildProcess = lab.spawn(ns, process.execPath, [path.join(__dirname, 'dial-child.js'), JSON.stringify(opts)], {
    env: { ...process.env, NODE_PATH: repoPath('node_modules') },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  p.stdout!.on('data', (d) => { out += d; });
  p.stderr!.on('data', (d) => { err += d; });
  return new Promise((resolve, reject) => {
    p.on('exit', () => {
      try { resolve(JSON.parse(out.trim().split('\n').pop()!) as DialOutcome); } catch { reject(new Error(`dial child: no result; stdout '${out}', stderr '${err}'`)); }
    });
  });
}

describe('transport: dialer paths (net.connect for plain peers, FFI for socket options)', function () {
  this.timeout(30000);
  let lab: Lab;
  const servers: net.Server[] = [];

  before(function () {
    if (!isRoot()) this.skip();
  });
  beforeEach(() => { lab = new Lab('dl'); });
  afterEach(async () => {
    for (const s of servers.splice(0)) s.close();
    await lab.destroy();
  });

  async function listener(address: string): Promise<number> {
    const s = net.createServer((c) => c.destroy());
    servers.push(s);
    await new Promise<void>((r) => s.listen(0, address, () => r()));
    return (s.address() as net.AddressInfo).port;
  }

  it('a plain peer connects from its source address without loading koffi', async () => {
    const port = await listener('127.0.0.1');
    const r = await runChild(lab, null, { remoteAddress: '127.0.0.1', remotePort: port, localAddress: '127.0.0.7', timeoutMs: 3000 });
    expect(r, JSON.stringify(r)).to.deep.include({ ok: true, local: '127.0.0.7', koffi: false });
  });

  it('plain-peer failures are TransportErrors naming the peer: refused, and a source address that is not ours', async () => {
    const port = await listener('127.0.0.1');
    servers.pop()!.close(); // nobody listens there now
    const refused = await runChild(lab, null, { remoteAddress: '127.0.0.1', remotePort: port, timeoutMs: 3000 });
    expect(refused).to.deep.include({ ok: false, typed: true, code: 'ECONNREFUSED', operation: 'connect', peer: `127.0.0.1 port ${port}`, koffi: false });
    expect(refused.message).to.equal(`connect 127.0.0.1 port ${port}: connect: ECONNREFUSED (errno 111)`);
    // 192.0.2.1 (RFC 5737 TEST-NET-1) is on no interface of this host.
    const badSource = await runChild(lab, null, { remoteAddress: '127.0.0.1', remotePort: port, localAddress: '192.0.2.1', timeoutMs: 3000 });
    expect(badSource).to.deep.include({ ok: false, typed: true, code: 'EADDRNOTAVAIL', operation: 'bind source 192.0.2.1 for', peer: '127.0.0.1', koffi: false });
  });

  it('a SYN that goes nowhere: ETIMEDOUT after the timeout, ECANCELED when cancelled; the MD5 path still uses the FFI', async () => {
    const a = lab.netns('a');
    const b = lab.netns('b');
    lab.link(a, ['10.77.8.1/24'], b, ['10.77.8.2/24']);
    // 10.77.8.9 is on the link but held by nobody: ARP never resolves, the SYN is never sent.
    const timedOut = await runChild(lab, a, { remoteAddress: '10.77.8.9', timeoutMs: 400 });
    expect(timedOut).to.deep.include({ ok: false, typed: true, code: 'ETIMEDOUT', operation: 'connect', peer: '10.77.8.9 port 179', message: 'connect 10.77.8.9 port 179: timed out', koffi: false });
    expect(timedOut.ms).to.be.at.least(350).and.below(3000);
    const cancelled = await runChild(lab, a, { remoteAddress: '10.77.8.9', timeoutMs: 10000, abortAfterMs: 200 });
    expect(cancelled).to.deep.include({ ok: false, typed: true, code: 'ECANCELED', operation: 'connect', koffi: false });
    expect(cancelled.ms).to.be.below(3000);
    const md5 = await runChild(lab, a, { remoteAddress: '10.77.8.9', md5Password: 's3cret', timeoutMs: 400 });
    expect(md5).to.deep.include({ ok: false, typed: true, code: 'ETIMEDOUT', koffi: true });
  });

  it('the speaker runner with plain peers (one dialing, refused) runs without koffi mapped', async () => {
    const dir = lab.tempDir();
    const file = path.join(dir, 'speaker.json');
    fs.writeFileSync(file, JSON.stringify({
      speaker: { localAs: 64512, routerId: '10.77.9.1', listen: [{ address: '127.0.0.1', port: 0 }], nextHopIPv4: '127.0.0.1', pools: ['10.0.0.0/8'], gracefulRestart: { enabled: false }, connectRetryTime: 1 },
      peers: [
        { name: 'passive', address: '127.0.9.2', peerAs: 64512, type: 'rr-client', passive: true },
        { name: 'active', address: '127.0.9.3', port: 1, peerAs: 64512, type: 'mesh' },
      ],
    }));
    const p = lab.spawn(null, process.execPath, [RUNNER_JS, file], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    p.stdout!.on('data', (d) => { out += d; });
    await waitFor('runner ready', () => out.includes('"ready"'), 10000, 20);
    // The active peer dials at once (refused: nothing on port 1) and again after its retry time.
    await new Promise((r) => setTimeout(r, 1500));
    const maps = fs.readFileSync(`/proc/${p.pid}/maps`, 'utf8');
    expect(maps.includes('koffi')).to.equal(false);
  });
});
