// PeerConnection.abort() and stop() with NOTIFICATION data, over loopback TCP (127.78.0.x, kernel
// ports; only our own sockets). abort() drops the connection WITHOUT a NOTIFICATION, so a peer
// that negotiated graceful restart keeps our routes (RFC 4724 §4.2: the session ended by a TCP
// failure); stop() carries the subcode's data (RFC 4486 §4: AFI, SAFI, upper bound).
import { expect } from 'chai';
import { BgpListener } from '../../../src/transport/listener';
import { PeerConnection } from '../../../src/transport/peer';
import type { PeerEvent } from '../../../src/transport/peer';
import type { SessionConfig } from '../../../src/session/types';
import { waitFor } from '../../helpers/lab';

type Down = Extract<PeerEvent, { type: 'down' }>;

describe('transport/peer: abort() and stop() data', function () {
  this.timeout(15000);
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0)) {
      try { c(); } catch { /* best effort */ }
    }
  });

  async function pair(): Promise<{ ab: PeerConnection; ba: PeerConnection; aEvents: PeerEvent[]; bEvents: PeerEvent[]; la: BgpListener }> {
    const la = new BgpListener({ address: '127.78.0.1', port: 0 });
    const lb = new BgpListener({ address: '127.78.0.2', port: 0 });
    await la.listen();
    await lb.listen();
    const gr = { restartTime: 60, restarting: false, notification: true, forwardingPreserved: [] };
    const s = (id: string, a: number, p: number): SessionConfig => ({
      peerAddress: '', localAs: a, localId: id, peerAs: p, holdTime: 9, connectRetryTime: 1,
      backoff: { initialMs: 5000, maxMs: 5000, stableMs: 60000 }, gracefulRestart: gr,
    });
    const aEvents: PeerEvent[] = [];
    const bEvents: PeerEvent[] = [];
    const ab = new PeerConnection({ session: s('10.78.0.1', 65001, 65002), transport: { remoteAddress: '127.78.0.2', remotePort: lb.port, localAddress: '127.78.0.1' }, listener: la, onEvent: (e) => aEvents.push(e) });
    const ba = new PeerConnection({ session: { ...s('10.78.0.2', 65002, 65001), passive: true }, transport: { remoteAddress: '127.78.0.1', remotePort: la.port, localAddress: '127.78.0.2' }, listener: lb, onEvent: (e) => bEvents.push(e) });
    cleanups.push(() => { ab.close(); ba.close(); la.close(); lb.close(); });
    ba.start();
    ab.start();
    await waitFor('both Established', () => ab.state === 'Established' && ba.state === 'Established', 5000, 20);
    return { ab, ba, aEvents, bEvents, la };
  }

  it('abort() drops the session without a NOTIFICATION: the GR peer sees a TCP failure and keeps routes', async () => {
    const { ab, aEvents, bEvents, la } = await pair();
    ab.abort();
    await waitFor('B sees the session down', () => bEvents.some((e) => e.type === 'down'), 5000, 20);
    const down = (bEvents.find((e) => e.type === 'down') as Down).reason;
    expect(down.kind).to.equal('tcp-failure');
    expect(down.notification).to.equal(undefined);
    expect(down.graceful).to.equal(true);
    // Our side reported its session down too, holds nothing, and left the listener at once.
    expect((aEvents.find((e) => e.type === 'down') as Down | undefined)?.reason.graceful).to.equal(true);
    await waitFor('no connections left', () => ab.status().connections === 0, 3000, 20);
    expect(la.hasPeer('127.78.0.2')).to.equal(false);
    // Nothing comes back: no timers, no re-dial.
    await new Promise((r) => setTimeout(r, 1500));
    expect(ab.status().connections).to.equal(0);
  });

  it('stop() sends the NOTIFICATION data it is given (Cease/Maximum Number of Prefixes Reached)', async () => {
    const { ab, bEvents } = await pair();
    ab.stop({ subcode: 1, data: Uint8Array.of(0, 1, 1, 0, 0, 0, 50) });
    await waitFor('B sees the session down', () => bEvents.some((e) => e.type === 'down'), 5000, 20);
    const n = (bEvents.find((e) => e.type === 'down') as Down).reason.notification!;
    expect([n.code, n.subcode, [...n.data]]).to.deep.equal([6, 1, [0, 1, 1, 0, 0, 0, 50]]);
  });
});
