// OPEN building and capability negotiation: RFC 4271 §4.2, RFC 6793 §4.1, RFC 4760 §8,
// RFC 7911 §4, RFC 8654, RFC 4724 / RFC 8538, RFC 6286 §2.3; NOTIFICATION texts (RFC 9003).
import { expect } from 'chai';
import { buildOpen, negotiate, outgoingWinsCollision, OpenError } from '../../../src/session/negotiate';
import { decodeShutdownCommunication, describeNotification, encodeShutdownCommunication } from '../../../src/session/notification';
import { config, grCap, peerOpen } from './harness';
import type { Capability } from '../../../src/wire/types';

describe('session/negotiate', () => {
  it('builds our OPEN: AS_TRANS for a 4-octet AS, the 4-octet capability, our families', () => {
    const open = buildOpen(config({ localAs: 4200000001, families: ['ipv4-unicast', 'ipv6-unicast'], hostname: 'node-1' }));
    expect(open.myAs).to.equal(23456);
    expect(open.version).to.equal(4);
    expect(open.capabilities).to.deep.include({ code: 65, kind: 'as4', asn: 4200000001 });
    expect(open.capabilities.filter((c) => c.kind === 'multiprotocol')).to.deep.equal([
      { code: 1, kind: 'multiprotocol', afi: 1, safi: 1 },
      { code: 1, kind: 'multiprotocol', afi: 2, safi: 1 },
    ]);
    expect(open.capabilities).to.deep.include({ code: 73, kind: 'fqdn', hostname: 'node-1', domain: '' });
    expect(buildOpen(config()).myAs).to.equal(65001);
  });

  it('families: the intersection; no MP capability from the peer means IPv4 unicast (RFC 4760 §8)', () => {
    const cfg = config({ families: ['ipv4-unicast', 'ipv6-unicast'] });
    const local = buildOpen(cfg);
    const withMp = negotiate(cfg, local, peerOpen({ extraCaps: [{ code: 1, kind: 'multiprotocol', afi: 2, safi: 1 }] }));
    expect(withMp.families).to.deep.equal(['ipv4-unicast', 'ipv6-unicast']);
    const noMp = negotiate(cfg, local, peerOpen({ capabilities: [{ code: 65, kind: 'as4', asn: 65002 }] }));
    expect(noMp.families).to.deep.equal(['ipv4-unicast']);
    const v6only = negotiate(cfg, local, peerOpen({ capabilities: [{ code: 1, kind: 'multiprotocol', afi: 2, safi: 1 }, { code: 65, kind: 'as4', asn: 65002 }] }));
    expect(v6only.families).to.deep.equal(['ipv6-unicast']);
  });

  it('ADD-PATH per family and direction (RFC 7911 §4)', () => {
    const cfg = config({ families: ['ipv4-unicast', 'ipv6-unicast'], addPath: { 'ipv4-unicast': 'both', 'ipv6-unicast': 'receive' } });
    const addPath: Capability = {
      code: 69, kind: 'add-path',
      families: [{ afi: 1, safi: 1, mode: 'receive' }, { afi: 2, safi: 1, mode: 'both' }],
    };
    const n = negotiate(cfg, buildOpen(cfg), peerOpen({ extraCaps: [{ code: 1, kind: 'multiprotocol', afi: 2, safi: 1 }, addPath] }));
    // v4: we both, they receive → we send ids, we do not receive them. v6: we receive, they both → receive only.
    expect([...n.addPath.send]).to.deep.equal(['ipv4-unicast']);
    expect([...n.addPath.receive]).to.deep.equal(['ipv6-unicast']);
    expect([...n.txContext.addPath]).to.deep.equal(['ipv4-unicast']);
    expect([...n.rxContext.addPath]).to.deep.equal(['ipv6-unicast']);
  });

  it('extended message, route refresh, enhanced route refresh only when both advertise', () => {
    const cfg = config({ enhancedRouteRefresh: true });
    const bare = negotiate(cfg, buildOpen(cfg), peerOpen());
    expect([bare.extendedMessage, bare.routeRefresh, bare.enhancedRouteRefresh]).to.deep.equal([false, true, false]);
    expect(bare.rxContext.extendedMessage).to.equal(false);
    const full = negotiate(cfg, buildOpen(cfg), peerOpen({ extraCaps: [{ code: 6, kind: 'extended-message' }, { code: 70, kind: 'enhanced-route-refresh' }] }));
    expect([full.extendedMessage, full.enhancedRouteRefresh]).to.deep.equal([true, true]);
    expect(full.txContext.extendedMessage).to.equal(true);
  });

  it('graceful restart: the peer\'s time, R and F bits; N only when both set it', () => {
    const cfgN = config({ gracefulRestart: { restartTime: 60, restarting: false, notification: true, forwardingPreserved: ['ipv4-unicast'] } });
    const open = buildOpen(cfgN);
    expect(open.capabilities.find((c) => c.kind === 'graceful-restart')).to.deep.equal({
      code: 64, kind: 'graceful-restart', restarting: false, notification: true, restartTime: 60,
      families: [{ afi: 1, safi: 1, forwardingPreserved: true }],
    });
    const n = negotiate(cfgN, open, peerOpen({ extraCaps: [grCap(false)] }));
    expect(n.gracefulRestart?.restartTime).to.equal(120);
    expect(n.gracefulRestart?.notification).to.equal(false);
    expect(n.gracefulRestart?.families.get('ipv4-unicast')).to.deep.equal({ forwardingPreserved: true });
    expect(negotiate(cfgN, open, peerOpen({ extraCaps: [grCap(true)] })).gracefulRestart?.notification).to.equal(true);
    expect(negotiate(config(), buildOpen(config()), peerOpen({ extraCaps: [grCap(true)] })).gracefulRestart).to.equal(null);
  });

  it('AS 0 is refused (RFC 7607)', () => {
    expect(() => negotiate(config(), buildOpen(config()), peerOpen({ as4: 0, myAs: 0 }))).to.throw(OpenError, /RFC 7607/);
  });

  it('collision winner: higher identifier, then larger AS on equal identifiers', () => {
    expect(outgoingWinsCollision('10.0.0.2', '10.0.0.1', 1, 2)).to.equal(true);
    expect(outgoingWinsCollision('9.255.255.255', '10.0.0.1', 1, 2)).to.equal(false);
    expect(outgoingWinsCollision('200.0.0.1', '10.0.0.1', 1, 2)).to.equal(true); // unsigned compare
    expect(outgoingWinsCollision('10.0.0.1', '10.0.0.1', 3, 2)).to.equal(true);
    expect(outgoingWinsCollision('10.0.0.1', '10.0.0.1', 1, 2)).to.equal(false);
  });

  it('shutdown communication: encoded with its length, cut at 255 octets on a character boundary', () => {
    expect([...encodeShutdownCommunication('hi')]).to.deep.equal([2, 0x68, 0x69]);
    const long = encodeShutdownCommunication('é'.repeat(200)); // 400 octets
    expect(long[0]).to.equal(254);
    expect(decodeShutdownCommunication(6, 2, long)).to.equal('é'.repeat(127));
    expect(decodeShutdownCommunication(6, 2, Uint8Array.of(5, 0x61))).to.equal(null);
    expect(describeNotification({ code: 6, subcode: 2, data: new Uint8Array(0), communication: 'x' })).to.equal("Cease/Administrative Shutdown: 'x'");
    expect(describeNotification({ code: 4, subcode: 0, data: new Uint8Array(0) })).to.equal('Hold Timer Expired');
    expect(describeNotification({ code: 99, subcode: 3, data: new Uint8Array(0) })).to.equal('code 99/subcode 3');
  });
});
