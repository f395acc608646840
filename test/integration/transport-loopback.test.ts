// Transport on the loopback interface (127.0.0.0/8 addresses, ephemeral ports; nothing but our
// own sockets is touched): two PeerConnections establish and exchange KEEPALIVEs, simultaneous
// dials resolve to one session (RFC 4271 §6.8), a peer sending garbage gets the NOTIFICATION
// RFC 4271 §6.1 prescribes while the listener keeps serving others, unknown sources are refused,
// the dialer reports refusals, and GTSM (RFC 5082) socket options read back as set.
import { expect } from 'chai';
import * as net from 'net';
import { BgpListener } from '../../src/transport/listener';
import { PeerConnection, serialQueue } from '../../src/transport/peer';
import type { PeerEvent } from '../../src/transport/peer';
import { dial } from '../../src/transport/dialer';
import { TransportError, readTtlOptions, fdOf } from '../../src/transport/sockopt';
import { Framer, decodeMessage, encodeMessage, codecContext } from '../../src/wire';
import type { BgpMessage } from '../../src/wire/types';
import type { SessionConfig } from '../../src/session/types';
import { waitFor } from '../helpers/lab';

interface Node {
  listener: BgpListener;
  peers: PeerConnection[];
  events: { peer: string; e: PeerEvent }[];
}

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) {
    try { c(); } catch { /* best effort */ }
  }
});

async function node(address: string): Promise<Node> {
  const listener = new BgpListener({ address, port: 0 });
  await listener.listen();
  const n: Node = { listener, peers: [], events: [] };
  cleanups.push(() => {
    for (const p of n.peers) p.close();
    listener.close();
  });
  return n;
}

function session(localId: string, localAs: number, peerAs: number, over: Partial<SessionConfig> = {}): SessionConfig {
  return { peerAddress: '', localAs, localId, peerAs, holdTime: 3, connectRetryTime: 2, backoff: { initialMs: 200, maxMs: 1000, stableMs: 5000 }, ...over };
}

function addPeer(n: Node, remote: Node, remoteAddress: string, localAddress: string, s: SessionConfig, passive = false): PeerConnection {
  const pc = new PeerConnection({
    session: { ...s, passive },
    transport: { remoteAddress, remotePort: remote.listener.port, localAddress },
    listener: n.listener,
    onEvent: (e) => n.events.push({ peer: remoteAddress, e }),
  });
  n.peers.push(pc);
  return pc;
}

/** Reads messages from a raw socket until it closes or `until` says stop. */
function collectMessages(s: net.Socket, out: BgpMessage[]): Promise<void> {
  const framer = new Framer();
  return new Promise((resolve) => {
    s.on('data', (chunk) => {
      for (const f of framer.push(chunk)) out.push(decodeMessage(f, codecContext()));
    });
    s.on('close', () => resolve());
    s.on('error', () => resolve());
  });
}

describe('transport over loopback', function () {
  this.timeout(20000);

  it('two PeerConnections establish and keep the session up with KEEPALIVEs', async () => {
    const a = await node('127.0.0.1');
    const b = await node('127.0.0.2');
    const ab = addPeer(a, b, '127.0.0.2', '127.0.0.1', session('10.255.0.1', 65001, 65002));
    const ba = addPeer(b, a, '127.0.0.1', '127.0.0.2', session('10.255.0.2', 65002, 65001), true);
    ba.start();
    ab.start();
    await waitFor('both Established', () => ab.state === 'Established' && ba.state === 'Established', 5000, 20);
    expect(ab.session?.peerId).to.equal('10.255.0.2');
    expect(ab.session?.holdTime).to.equal(3);
    expect(ab.endpoints).to.deep.include({ localAddress: '127.0.0.1', remoteAddress: '127.0.0.2' });
    expect(ba.endpoints).to.deep.include({ localAddress: '127.0.0.2', remoteAddress: '127.0.0.1' });
    expect(a.events.filter((x) => x.e.type === 'established')).to.have.length(1);
    const before = ab.status().messagesIn;
    // Hold time 3 s: a KEEPALIVE a second. Over 3.5 s the session must stay up on KEEPALIVEs alone.
    await new Promise((r) => setTimeout(r, 3500));
    expect(ab.state).to.equal('Established');
    expect(ba.state).to.equal('Established');
    expect(ab.status().messagesIn - before).to.be.at.least(3);
    expect(ab.status().messagesIn - before).to.be.at.most(6);
    expect(a.events.filter((x) => x.e.type === 'down')).to.have.length(0);
    expect(ab.congested).to.equal(false);
    // A stop is seen by the other side as a Cease with the communication.
    ab.stop({ communication: 'maintenance' });
    await waitFor('B sees the session down', () => b.events.some((x) => x.e.type === 'down'), 3000, 20);
    const down = b.events.find((x) => x.e.type === 'down')!.e as Extract<PeerEvent, { type: 'down' }>;
    expect(down.reason.text).to.equal("received NOTIFICATION Cease/Administrative Shutdown: 'maintenance'");
  });

  it('simultaneous dials from both sides end with exactly one session (collision resolution)', async () => {
    let collisions = 0;
    for (let round = 0; round < 3; round++) {
      const a = await node('127.0.0.1');
      const b = await node('127.0.0.2');
      const ab = addPeer(a, b, '127.0.0.2', '127.0.0.1', session('10.255.0.1', 65001, 65002));
      const ba = addPeer(b, a, '127.0.0.1', '127.0.0.2', session('10.255.0.2', 65002, 65001));
      // Started together: both dial before either has accepted the other.
      ab.start();
      ba.start();
      await waitFor('both Established', () => ab.state === 'Established' && ba.state === 'Established', 5000, 20);
      await new Promise((r) => setTimeout(r, 300));
      expect(ab.status().connections, 'A connections').to.equal(1);
      expect(ba.status().connections, 'B connections').to.equal(1);
      expect(ab.state).to.equal('Established');
      expect(a.events.filter((x) => x.e.type === 'down')).to.have.length(0);
      expect(b.events.filter((x) => x.e.type === 'down')).to.have.length(0);
      // Both sides chose the same connection: each closed the other one (or one side closed it
      // and the other learned of it by the Cease).
      collisions += ab.status().collisions + ba.status().collisions;
      expect(ab.status().lastError).to.equal(null);
      for (const c of cleanups.splice(0)) c();
    }
    expect(collisions, 'connections closed by collision resolution').to.be.at.least(1);
  });

  it('a peer sending garbage gets Connection Not Synchronized; the listener keeps serving the others', async () => {
    const a = await node('127.0.0.1');
    const b = await node('127.0.0.3');
    addPeer(a, b, '127.0.0.2', '127.0.0.1', session('10.255.0.1', 65001, 65002), true).start();
    const ac = addPeer(a, b, '127.0.0.3', '127.0.0.1', session('10.255.0.1', 65001, 65003), true);
    const ca = addPeer(b, a, '127.0.0.1', '127.0.0.3', session('10.255.0.3', 65003, 65001));
    ac.start();
    ca.start();
    await waitFor('A–C Established', () => ac.state === 'Established' && ca.state === 'Established', 5000, 20);

    const raw = net.connect({ host: '127.0.0.1', port: a.listener.port, localAddress: '127.0.0.2' });
    const got: BgpMessage[] = [];
    const done = collectMessages(raw, got);
    await new Promise<void>((r) => raw.once('connect', () => r()));
    const garbage = Buffer.alloc(19, 0);
    garbage.writeUInt16BE(19, 16);
    garbage[18] = 4;
    raw.write(garbage);
    await done;
    expect(got.map((m) => m.type)).to.deep.equal(['open', 'notification']);
    const n = got[1] as Extract<BgpMessage, { type: 'notification' }>;
    expect([n.code, n.subcode]).to.deep.equal([1, 1]); // RFC 4271 §6.1
    const garbled = a.peers[0].status();
    expect(garbled.lastError).to.match(/^sent NOTIFICATION Message Header Error\/Connection Not Synchronized/);

    // A bad message length in an otherwise good header: Bad Message Length with the length as data.
    await new Promise((r) => setTimeout(r, 300)); // idle hold (200 ms) ends, the peer accepts again
    const raw2 = net.connect({ host: '127.0.0.1', port: a.listener.port, localAddress: '127.0.0.2' });
    const got2: BgpMessage[] = [];
    const done2 = collectMessages(raw2, got2);
    await new Promise<void>((r) => raw2.once('connect', () => r()));
    const bad = Buffer.from(encodeMessage({ type: 'keepalive' }, codecContext()));
    bad.writeUInt16BE(5000, 16);
    raw2.write(bad);
    await done2;
    const n2 = got2.find((m) => m.type === 'notification') as Extract<BgpMessage, { type: 'notification' }>;
    expect([n2.code, n2.subcode, [...n2.data]]).to.deep.equal([1, 2, [0x13, 0x88]]);

    // The other session never noticed.
    expect(ac.state).to.equal('Established');
    expect(a.events.filter((x) => x.peer === '127.0.0.3' && x.e.type === 'down')).to.have.length(0);
  });

  it('refuses connections from addresses with no peer configured', async () => {
    const a = await node('127.0.0.1');
    const raw = net.connect({ host: '127.0.0.1', port: a.listener.port, localAddress: '127.0.0.9' });
    const got: BgpMessage[] = [];
    await collectMessages(raw, got);
    expect(got).to.have.length(0);
    expect(a.listener.rejected).to.equal(1);
    expect(a.listener.accepted).to.equal(0);
  });

  it('dialer: a refused connection is ECONNREFUSED; a bad address is a precise error', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', () => r()));
    const port = (probe.address() as net.AddressInfo).port;
    probe.close();
    try {
      await dial({ remoteAddress: '127.0.0.1', remotePort: port, timeoutMs: 2000 });
      expect.fail('dial succeeded');
    } catch (e) {
      expect(e).to.be.instanceOf(TransportError);
      expect((e as TransportError).code).to.equal('ECONNREFUSED');
    }
    try {
      await dial({ remoteAddress: '127.0.0.1', localAddress: '::1', remotePort: port });
      expect.fail('dial succeeded');
    } catch (e) {
      expect((e as TransportError).message).to.match(/different address families/);
    }
  });

  it('GTSM: TTL 255 and the minimum TTL read back on dialed and accepted sockets (RFC 5082 §3)', async () => {
    const listener = new BgpListener({ address: '127.0.0.1', port: 0, minTtl: 250 });
    await listener.listen();
    cleanups.push(() => listener.close());
    const accepted: net.Socket[] = [];
    listener.addPeer('127.0.0.1', { ttlSecurityHops: 2, onConnection: (s) => accepted.push(s) });
    expect(readTtlOptions(fdOf((listener as unknown as { server: net.Server }).server)).minTtl).to.equal(250);
    const s = await dial({ remoteAddress: '127.0.0.1', remotePort: listener.port, ttlSecurityHops: 1, timeoutMs: 2000 });
    cleanups.push(() => s.destroy());
    expect(readTtlOptions(fdOf(s))).to.deep.equal({ ttl: 255, minTtl: 255 });
    await waitFor('accepted', () => accepted.length === 1, 2000, 10);
    cleanups.push(() => accepted[0].destroy());
    expect(readTtlOptions(fdOf(accepted[0]))).to.deep.equal({ ttl: 255, minTtl: 254 });
  });

  it('a queue owned by the caller receives every job, in order', async () => {
    const ran: string[] = [];
    const q = serialQueue();
    q(() => { ran.push('a'); q(() => ran.push('c')); ran.push('b'); });
    expect(ran).to.deep.equal(['a', 'b', 'c']);
  });
});
