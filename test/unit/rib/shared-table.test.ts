// Adj-RIBs-In built on a Loc-RIB keep their accepted paths in the Loc-RIB's own destination table
// (one prefix-keyed entry for both RIBs, RFC 4271 §3.2); rejected paths stay per peer. These tests
// check that the per-peer views (get, routes, counts, clear, stale marks, soft reconfiguration,
// RFC 7911 path ids) behave as if each peer had its own table, and the compact Route and
// Destination fields (path id + stale mark, reason + dirty mark) read back what was written.
import { expect } from 'chai';
import { Rib } from '../../../src/rib/rib';
import { Destination, LocRib } from '../../../src/rib/loc-rib';
import { familyCode, familyOfCode, StandaloneRoute } from '../../../src/rib/route';
import { AttributeStore } from '../../../src/rib/attributes';
import type { UpdateMessage } from '../../../src/wire/types';
import { path, peer, v4Update } from './fixtures';

const attrs = (nextHop: string) => ({ origin: 0 as const, asPath: [], nextHop, localPref: 100 });

function twoPeers(pools = ['10.244.0.0/16']) {
  const rib = new Rib({ localAs: 65000, routerId: '10.0.0.100', pools });
  const a = peer('10.0.0.1', { routerId: '10.0.0.1' });
  const b = peer('10.0.0.2', { routerId: '10.0.0.2' });
  rib.addPeer(a, { kind: 'cluster', nodeAddresses: ['10.0.0.1'] });
  rib.addPeer(b, { kind: 'cluster', nodeAddresses: ['10.0.0.2'] });
  return { rib, a, b };
}

function addPathUpdate(prefix: string, pathIds: number[], nextHop: string, withdrawn: number[] = []): UpdateMessage {
  return {
    type: 'update',
    withdrawn: withdrawn.map((pathId) => ({ prefix, pathId })),
    attributes: attrs(nextHop),
    nlri: pathIds.map((pathId) => ({ prefix, pathId })),
  };
}

describe('rib: Adj-RIB-In paths kept in the Loc-RIB destination table', () => {
  it('two peers share one destination; each peer sees only its own path; a withdraw leaves the other', () => {
    const { rib, a, b } = twoPeers();
    rib.receive(a.id, v4Update(['10.244.1.0/24', '10.244.2.0/24'], attrs('10.0.0.1')), 1);
    rib.receive(b.id, v4Update(['10.244.1.0/24'], attrs('10.0.0.2')), 2);
    rib.process();
    const d = rib.locRib.lookup('10.244.1.0/24')!;
    expect(d.pathCount).to.equal(2);
    expect(rib.locRib.size()).to.equal(2);
    const inA = rib.adjRibIn(a.id);
    const inB = rib.adjRibIn(b.id);
    expect(inA.get('ipv4-unicast', '10.244.1.0/24')!.peer).to.equal(a);
    expect(inB.get('ipv4-unicast', '10.244.1.0/24')!.peer).to.equal(b);
    expect(inB.get('ipv4-unicast', '10.244.2.0/24')).to.equal(undefined);
    expect([...inA.routes('ipv4-unicast')].map((r) => r.prefix).sort()).to.deep.equal(['10.244.1.0/24', '10.244.2.0/24']);
    expect([...inB.routes('ipv4-unicast')].map((r) => r.peer.id)).to.deep.equal([b.id]);
    expect(inA.counts('ipv4-unicast')).to.deep.equal({ total: 2, accepted: 2, rejected: 0, stale: 0 });

    const w = rib.receive(a.id, v4Update([], {}, ['10.244.1.0/24', '10.244.2.0/24']), 3);
    expect(w.changed).to.deep.equal(['10.244.1.0/24', '10.244.2.0/24']);
    const changes = rib.process().changes;
    expect(changes.map((c) => [c.prefix, c.best?.peer.id ?? null])).to.have.deep.members([
      ['10.244.1.0/24', b.id], ['10.244.2.0/24', null],
    ]);
    expect(rib.locRib.lookup('10.244.1.0/24')!.paths.map((p) => p.peer)).to.deep.equal([b]);
    // The emptied destination leaves the table once its withdrawal was reported.
    expect(rib.locRib.lookup('10.244.2.0/24')).to.equal(undefined);
    expect(inA.counts('ipv4-unicast')).to.deep.equal({ total: 0, accepted: 0, rejected: 0, stale: 0 });
  });

  it('rejected paths stay out of the destination; soft reconfiguration moves them in and out', () => {
    const { rib, a } = twoPeers(['10.244.0.0/16']);
    const r = rib.receive(a.id, v4Update(['10.99.1.0/24', '10.244.1.0/24'], attrs('10.0.0.1')), 1);
    expect(r.rejected).to.equal(1);
    rib.process();
    expect(rib.locRib.lookup('10.99.1.0/24')).to.equal(undefined);
    const inA = rib.adjRibIn(a.id);
    expect(inA.get('ipv4-unicast', '10.99.1.0/24')!.rejected).to.be.a('string');
    expect(inA.counts('ipv4-unicast')).to.deep.equal({ total: 2, accepted: 1, rejected: 1, stale: 0 });

    rib.setPools(['10.244.0.0/16', '10.99.0.0/16'], 2);
    expect(rib.process().changes.map((c) => c.prefix)).to.deep.equal(['10.99.1.0/24']);
    expect(rib.locRib.lookup('10.99.1.0/24')!.best!.peer).to.equal(a);
    expect(inA.counts('ipv4-unicast')).to.deep.equal({ total: 2, accepted: 2, rejected: 0, stale: 0 });

    rib.setPools(['10.99.0.0/16'], 3);
    const out = rib.process().changes;
    expect(out.map((c) => [c.prefix, c.best])).to.deep.equal([['10.244.1.0/24', null]]);
    expect(rib.locRib.lookup('10.244.1.0/24')).to.equal(undefined);
    expect(inA.get('ipv4-unicast', '10.244.1.0/24')!.rejected).to.be.a('string');
    // A rejected path withdrawn by the peer is gone from its view; the Loc-RIB never saw it.
    rib.receive(a.id, v4Update([], {}, ['10.244.1.0/24']), 4);
    expect(inA.counts('ipv4-unicast')).to.deep.equal({ total: 1, accepted: 1, rejected: 0, stale: 0 });
  });

  it('removing a peer takes exactly its paths out (RFC 4271 §9.1.3 withdraw on session loss)', () => {
    const { rib, a, b } = twoPeers();
    rib.receive(a.id, v4Update(['10.244.1.0/24', '10.244.2.0/24'], attrs('10.0.0.1')), 1);
    rib.receive(b.id, v4Update(['10.244.2.0/24', '10.244.3.0/24'], attrs('10.0.0.2')), 1);
    rib.process();
    rib.removePeer(a.id);
    const changes = rib.process().changes;
    expect(changes.map((c) => [c.prefix, c.best?.peer.id ?? null])).to.have.deep.members([
      ['10.244.1.0/24', null], ['10.244.2.0/24', b.id],
    ]);
    expect(rib.locRib.size()).to.equal(2);
    expect([...rib.adjRibIn(b.id).routes('ipv4-unicast')].length).to.equal(2);
  });

  it('RFC 4724 §4.2 stale marks and purge through the shared table touch only that peer', () => {
    const { rib, a, b } = twoPeers();
    rib.receive(a.id, v4Update(['10.244.1.0/24', '10.244.2.0/24'], attrs('10.0.0.1')), 1);
    rib.receive(b.id, v4Update(['10.244.1.0/24'], attrs('10.0.0.2')), 1);
    rib.process();
    const inA = rib.adjRibIn(a.id);
    expect(inA.markStale('ipv4-unicast').sort()).to.deep.equal(['10.244.1.0/24', '10.244.2.0/24']);
    expect(rib.adjRibIn(b.id).get('ipv4-unicast', '10.244.1.0/24')!.stale).to.equal(false);
    // Refreshed with the same attributes: fresh again, no new path object.
    const before = inA.get('ipv4-unicast', '10.244.1.0/24')!;
    rib.receive(a.id, v4Update(['10.244.1.0/24'], attrs('10.0.0.1')), 2);
    expect(inA.get('ipv4-unicast', '10.244.1.0/24')).to.equal(before);
    expect(before.stale).to.equal(false);
    expect(inA.purgeStale('ipv4-unicast')).to.deep.equal(['10.244.2.0/24']);
    rib.process();
    expect(rib.locRib.lookup('10.244.2.0/24')).to.equal(undefined);
    expect(rib.locRib.lookup('10.244.1.0/24')!.pathCount).to.equal(2);
    expect(inA.counts('ipv4-unicast')).to.deep.equal({ total: 1, accepted: 1, rejected: 0, stale: 0 });
  });

  it('RFC 7911: paths of one peer with different path ids are separate paths of the destination', () => {
    const { rib, a } = twoPeers();
    rib.receive(a.id, addPathUpdate('10.244.1.0/24', [1, 2, 0xffffffff], '10.0.0.1'), 1);
    rib.process();
    const inA = rib.adjRibIn(a.id);
    expect(rib.locRib.lookup('10.244.1.0/24')!.pathCount).to.equal(3);
    expect(inA.get('ipv4-unicast', '10.244.1.0/24', 0xffffffff)!.pathId).to.equal(0xffffffff);
    expect(inA.get('ipv4-unicast', '10.244.1.0/24', 3)).to.equal(undefined);
    rib.receive(a.id, addPathUpdate('10.244.1.0/24', [], '10.0.0.1', [2]), 2);
    rib.process();
    expect(rib.locRib.lookup('10.244.1.0/24')!.paths.map((p) => p.pathId).sort((x, y) => x - y)).to.deep.equal([1, 0xffffffff]);
    expect(inA.counts('ipv4-unicast').accepted).to.equal(2);
  });
});

describe('rib: compact Route and Destination fields', () => {
  it('a Route keeps its path id while its stale mark changes, up to 2^32 - 1', () => {
    for (const id of [0, 1, 7, 0x3fffffff, 0x40000000, 0xffffffff]) {
      const r = path(peer('10.0.0.9'), {}, '10.244.9.0/24', id);
      expect([r.pathId, r.stale]).to.deep.equal([id, false]);
      r.stale = true;
      expect([r.pathId, r.stale]).to.deep.equal([id, true]);
      r.stale = true;
      expect([r.pathId, r.stale]).to.deep.equal([id, true]);
      r.stale = false;
      expect([r.pathId, r.stale]).to.deep.equal([id, false]);
    }
  });

  it('a Destination keeps its decision reason and dirty mark apart', () => {
    const d = new Destination('ipv4-unicast', '10.244.9.0/24');
    expect([d.reason, d.dirty]).to.deep.equal(['no-eligible-path', false]);
    d.dirty = true;
    d.reason = 'router-id';
    expect([d.reason, d.dirty]).to.deep.equal(['router-id', true]);
    d.dirty = false;
    expect([d.reason, d.dirty]).to.deep.equal(['router-id', false]);
    d.reason = 'only-path';
    expect([d.reason, d.dirty]).to.deep.equal(['only-path', false]);
  });

  it('a Route keeps its family, path id, stale mark and arrival time (to 0.1 s) in packed fields', () => {
    const rec = new AttributeStore().intern({ origin: 0, asPath: [], nextHop: '192.0.2.1' });
    for (const family of ['ipv4-unicast', 'ipv6-unicast', 'afi1-safi2', 'afi25-safi70']) {
      for (const id of [0, 1, 0xffffffff]) {
        const r = new StandaloneRoute(peer('10.0.0.9'), family, '10.244.9.0/24', id, rec, 1234567.8);
        r.stale = true;
        expect([r.family, r.pathId, r.stale, r.receivedAt]).to.deep.equal([family, id, true, 1234500]);
        r.stale = false;
        expect([r.family, r.pathId, r.stale]).to.deep.equal([family, id, false]);
      }
    }
    expect(familyOfCode(familyCode('afi25-safi70'))).to.equal('afi25-safi70');
    // Route age survives years of uptime: 6 years of milliseconds, to the tenth of a second.
    const sixYears = 6 * 365 * 86400_000;
    expect(new StandaloneRoute(peer('10.0.0.9'), 'ipv4-unicast', '10.244.9.0/24', 0, rec, sixYears + 42).receivedAt).to.equal(sixYears);
  });

  it('a Destination keeps family, reason, dirty mark and best apart', () => {
    const d = new Destination('afi2-safi1', '2001:db8::/64');
    const a = path(peer('10.0.0.1'), {}, '2001:db8::/64');
    d.addPath(a);
    d.best = a;
    d.dirty = true;
    d.reason = 'igp-cost';
    expect([d.family, d.reason, d.dirty, d.best]).to.deep.equal(['afi2-safi1', 'igp-cost', true, a]);
    d.decided(1);
    expect([d.family, d.reason, d.dirty, d.best]).to.deep.equal(['afi2-safi1', 'only-path', false, a]);
  });

  it('a best path that is replaced or removed stays the best until the next round (reported as previous)', () => {
    const d = new Destination('ipv4-unicast', '10.244.9.0/24');
    const a = path(peer('10.0.0.1'), {}, '10.244.9.0/24');
    const b = path(peer('10.0.0.2'), {}, '10.244.9.0/24');
    const a2 = path(peer('10.0.0.1'), { med: 5 }, '10.244.9.0/24');
    d.addPath(a);
    d.best = a;
    d.replacePath(a, a2);
    expect([d.first, d.best]).to.deep.equal([a2, a]);
    d.best = a2;
    d.addPath(b);
    d.removePath(a2);
    expect([d.first, d.best, d.more]).to.deep.equal([b, a2, null]);
    d.best = b;
    d.removePath(b);
    expect([d.first, d.best, d.pathCount]).to.deep.equal([null, b, 0]);
    d.best = null;
    expect(d.best).to.equal(null);
  });

  it('the Loc-RIB reports the replaced single path as previous, and the new one as best', () => {
    const loc = new LocRib({ localAs: 65000, routerId: '10.0.0.100' });
    const p = peer('10.0.0.1');
    const a = path(p, {}, '10.244.9.0/24');
    const a2 = path(p, { med: 7 }, '10.244.9.0/24');
    loc.routeChanged(null, a);
    loc.process();
    loc.routeChanged(a, a2);
    const [c] = loc.process();
    expect([c.previous, c.best, c.reason]).to.deep.equal([a, a2, 'only-path']);
    loc.routeChanged(a2, null);
    const [gone] = loc.process();
    expect([gone.previous, gone.best]).to.deep.equal([a2, null]);
    expect(loc.lookup('10.244.9.0/24')).to.equal(undefined);
  });
});
