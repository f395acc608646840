// Route-reflector topologies end to end inside one process: several Speakers (and, where the
// exact bytes on the wire matter, hand-driven BGP peers) over loopback TCP on distinct
// 127.79.40.x addresses. Every test checks the routes AND their attributes.
//  1. IPv6 reflection: clients' IPv6 blocks are reflected with the original global next hop
//     (RFC 4456 §10), a link-local second next hop is not passed on (RFC 2545 §3: it only means
//     something on the link it came from), ORIGINATOR_ID and CLUSTER_LIST set (RFC 4456 §8).
//  2. A redundant pair with one CLUSTER_ID: every client learns every other client's block twice
//     (one path per reflector); a reflector drops what its twin reflects to it (its own
//     CLUSTER_ID in CLUSTER_LIST, RFC 4456 §8); one reflector dies and reachability stays.
//  3. Two clusters whose reflectors are non-clients of each other (RFC 4456 §6): CLUSTER_LIST
//     [id2, id1] (prepend, §8), ORIGINATOR_ID the originating client, nothing reflected back.
//  4. A reflector that also peers with a ToR over eBGP: client blocks go to the ToR with
//     next-hop-self (or the original next hop with keepOriginalNextHop) and our AS prepended,
//     without ORIGINATOR_ID / CLUSTER_LIST (RFC 4456 §8 attributes are optional non-transitive,
//     RFC 4271 §5) and without LOCAL_PREF (RFC 4271 §5.1.5); ToR routes go to the clients with
//     the ToR's next hop (or next-hop-self, RFC 4271 §5.1.3) and our LOCAL_PREF.
import { rawPeer, RawConn } from './raw-peer';
import { expect } from 'chai';
import { Speaker } from '../../../src/speaker';
import type { PathView, PeerConfig, RouteChange, RouteView, SpeakerConfig } from '../../../src/speaker';
import { codecContext, encodeMessage } from '../../../src/wire';
import type { BgpMessage, Capability, OpenMessage, PathAttributes, UpdateMessage } from '../../../src/wire/types';
import { waitFor } from '../../helpers/lab';
import { speakerTestResources } from './resources';

const AS = 64512;
const TOR_AS = 65100;
const addr = (n: number): string => `127.79.40.${n}`;
const v6addr = (n: number): string => `fd79::${n}`;
const rid = (n: number): string => `10.79.0.${n}`;
const block4 = (n: number): string => `10.244.${n}.0/24`;
const block6 = (n: number): string => `fd79:244:${n}::/64`;

function speaker(n: number, extra: Partial<SpeakerConfig> = {}): Speaker {
  return new Speaker({
    localAs: AS,
    routerId: rid(n),
    listen: [{ address: addr(n), port: 0 }],
    nextHopIPv4: addr(n),
    nextHopIPv6: v6addr(n),
    pools: ['10.244.0.0/16', 'fd79:244::/32'],
    connectRetryTime: 1,
    holdTime: 9,
    backoff: { initialMs: 100, maxMs: 500, stableMs: 60_000 },
    ...extra,
    gracefulRestart: { restartTime: 30, ...extra.gracefulRestart },
  });
}

/** `self`'s view of speaker `other` (listening on `port`): IPv4 + IPv6 over an IPv4 session. */
function peer(self: number, other: number, port: number, type: PeerConfig['type'], extra: Partial<PeerConfig> = {}): PeerConfig {
  return {
    name: `n${other}`,
    address: addr(other),
    port,
    peerAs: AS,
    type,
    sourceAddress: addr(self),
    families: ['ipv4-unicast', 'ipv6-unicast'],
    ...extra,
  };
}

interface Node { s: Speaker; n: number }

/** Makes `rr` a reflector of `client` (the client sees `rr` as its route reflector). */
function attachClient(rr: Node, client: Node, rrSide: Partial<PeerConfig> = {}, clientSide: Partial<PeerConfig> = {}): void {
  rr.s.addPeer(peer(rr.n, client.n, client.s.port, 'rr-client', rrSide));
  client.s.addPeer(peer(client.n, rr.n, rr.s.port, 'rr-server', clientSide));
}

/** The raw peer's OPEN: IPv4 and IPv6 unicast (RFC 4760), 4-octet AS (RFC 6793), no GR. */
function rawOpen(n: number, asn: number): OpenMessage {
  const capabilities: Capability[] = [
    { code: 1, kind: 'multiprotocol', afi: 1, safi: 1 },
    { code: 1, kind: 'multiprotocol', afi: 2, safi: 1 },
    { code: 65, kind: 'as4', asn },
  ];
  return { type: 'open', version: 4, myAs: asn > 0xffff ? 23456 : asn, holdTime: 90, bgpId: rid(n), capabilities };
}

function rawSend(c: RawConn, ...msgs: BgpMessage[]): void {
  for (const m of msgs) c.sock.write(encodeMessage(m, codecContext()));
}

/** The last attributes the raw peer received for `prefix` (in NLRI or MP_REACH_NLRI). */
function lastAnnounced(c: RawConn, prefix: string): PathAttributes | undefined {
  let found: PathAttributes | undefined;
  for (const m of c.got) {
    if (m.type !== 'update') continue;
    const u = m as UpdateMessage;
    if (u.nlri.some((x) => x.prefix === prefix) || u.attributes.mpReach?.nlri.some((x) => x.prefix === prefix)) found = u.attributes;
  }
  return found;
}

/** Every UPDATE the raw peer received that carries reachable prefixes. */
const announcements = (c: RawConn): UpdateMessage[] =>
  c.got.filter((m): m is UpdateMessage => m.type === 'update' && (m.nlri.length > 0 || (m.attributes.mpReach?.nlri.length ?? 0) > 0));

const route = (s: Speaker, prefix: string): RouteView | undefined => s.routes().find((r) => r.prefix === prefix);
const has = (s: Speaker, prefix: string): boolean => route(s, prefix) !== undefined;
const pathVia = (s: Speaker, prefix: string, peerName: string): PathView | undefined => route(s, prefix)?.paths.find((p) => p.peer === peerName);
const state = (s: Speaker, name: string): string => s.peerStatus().find((p) => p.name === name)?.state ?? 'none';
const status = (s: Speaker, name: string) => s.peerStatus().find((p) => p.name === name)!;

describe('speaker: route-reflector topologies (RFC 4456) over loopback TCP', function () {
  this.timeout(30000);
  const { live, sockets, servers } = speakerTestResources();

  async function started(n: number, extra: Partial<SpeakerConfig> = {}): Promise<Node> {
    const s = speaker(n, extra);
    live.push(s);
    await s.start();
    return { s, n };
  }

  it('IPv6: reflects clients\' IPv6 blocks with the original global next hop, no link-local, ORIGINATOR_ID and CLUSTER_LIST (RFC 4456 §8/§10, RFC 2545 §3)', async () => {
    const CLUSTER = '10.79.99.1';
    const rr = await started(1, { clusterId: CLUSTER });
    // Client 2 has a link-local address configured: it goes to directly connected eBGP peers
    // only, never over this iBGP session.
    const a = await started(2, { nextHopIPv6LinkLocal: 'fe80::2' });
    const b = await started(3);
    attachClient(rr, a);
    attachClient(rr, b);
    // Client 5 is hand-driven so it can send a global + link-local next hop pair (RFC 2545 §3)
    // and show the exact attributes the reflector sends.
    const raw = await rawPeer(addr(5), servers, sockets);
    rr.s.addPeer({ name: 'n5', address: addr(5), port: raw.port, peerAs: AS, type: 'rr-client', sourceAddress: addr(1), families: ['ipv4-unicast', 'ipv6-unicast'] });
    await waitFor('the reflector dials the raw client', () => raw.conns[0]?.got.some((m) => m.type === 'open'));
    rawSend(raw.conns[0], rawOpen(5, AS), { type: 'keepalive' });
    await waitFor('raw client Established', () => state(rr.s, 'n5') === 'Established');
    rawSend(raw.conns[0], {
      type: 'update', withdrawn: [], nlri: [],
      attributes: {
        origin: 0, asPath: [], localPref: 100,
        mpReach: { afi: 2, safi: 1, nextHops: [v6addr(5), 'fe80::5'], nlri: [{ prefix: block6(5) }] },
      },
    });
    a.s.originate(block6(2));
    b.s.originate(block6(3));

    await waitFor('b learns a\'s and the raw client\'s IPv6 blocks', () => has(b.s, block6(2)) && has(b.s, block6(5)));
    await waitFor('a learns b\'s and the raw client\'s IPv6 blocks', () => has(a.s, block6(3)) && has(a.s, block6(5)));
    for (const [me, origin, nh, originator] of [
      [b, 2, v6addr(2), rid(2)], [b, 5, v6addr(5), rid(5)], [a, 3, v6addr(3), rid(3)], [a, 5, v6addr(5), rid(5)],
    ] as const) {
      const r = route(me.s, block6(origin))!;
      expect(r.family).to.equal('ipv6-unicast');
      expect(r.best.peer, `${block6(origin)} at n${me.n} comes from the reflector`).to.equal('n1');
      expect(r.nextHops, `${block6(origin)} at n${me.n}: the originating client's global address`).to.deep.equal([nh]);
      expect(r.best.nextHop).to.equal(nh);
      expect(r.best.originatorId).to.equal(originator);
      expect(r.best.clusterList).to.deep.equal([CLUSTER]);
      expect(r.best.asPath).to.deep.equal([]);
      expect(r.best.localPref).to.equal(100);
    }
    // The reflector's own Loc-RIB: the client's global next hop, the client as the only path.
    expect(route(rr.s, block6(2))!.nextHops).to.deep.equal([v6addr(2)]);
    expect(route(rr.s, block6(5))!.nextHops).to.deep.equal([v6addr(5)]);
    expect(route(rr.s, block6(2))!.best.originatorId).to.equal(undefined);

    // On the wire toward the raw client: MP_REACH_NLRI with exactly one (global) next hop.
    await waitFor('the raw client gets a\'s and b\'s blocks', () => lastAnnounced(raw.conns[0], block6(2)) && lastAnnounced(raw.conns[0], block6(3)));
    for (const n of [2, 3]) {
      const at = lastAnnounced(raw.conns[0], block6(n))!;
      expect(at.mpReach!.afi).to.equal(2);
      expect(at.mpReach!.nextHops, `next hops of ${block6(n)} on the wire`).to.deep.equal([v6addr(n)]);
      expect(at.nextHop, 'no IPv4 NEXT_HOP attribute for an IPv6-only UPDATE').to.equal(undefined);
      expect(at.originatorId).to.equal(rid(n));
      expect(at.clusterList).to.deep.equal([CLUSTER]);
      expect(at.localPref).to.equal(100);
      expect(at.asPath ?? []).to.deep.equal([]);
    }
    // Its own block is not sent back with anything but its own id as ORIGINATOR_ID (it would drop
    // it, RFC 4456 §8); the reflector may include it in a shared update group.
    const back = lastAnnounced(raw.conns[0], block6(5));
    if (back) expect(back.originatorId).to.equal(rid(5));

    // A withdrawal in MP_UNREACH_NLRI is reflected too.
    rawSend(raw.conns[0], { type: 'update', withdrawn: [], nlri: [], attributes: { mpUnreach: { afi: 2, safi: 1, withdrawn: [{ prefix: block6(5) }] } } });
    await waitFor('a and b lose the raw client\'s block', () => !has(a.s, block6(5)) && !has(b.s, block6(5)));
  });

  it('redundant pair with one CLUSTER_ID: two paths per block, twin reflections dropped as cluster loops, one reflector dies and nothing is lost (RFC 4456 §8)', async () => {
    const CLUSTER = '10.79.99.2';
    const rr1 = await started(11, { clusterId: CLUSTER });
    // rr2's BGP Identifier is the LOWER one, its address the higher: see the tie-break below.
    const rr2 = await started(12, { clusterId: CLUSTER, routerId: '10.79.0.10' });
    const clients = [await started(13), await started(14), await started(15)];
    // The reflectors peer with each other as non-clients (RFC 4456 §6), as twin reflectors do.
    rr1.s.addPeer(peer(11, 12, rr2.s.port, 'rr-nonclient'));
    rr2.s.addPeer(peer(12, 11, rr1.s.port, 'rr-nonclient'));
    const changes = new Map<number, RouteChange[]>();
    for (const c of clients) {
      attachClient(rr1, c);
      attachClient(rr2, c);
      c.s.originate(block4(c.n));
      const seen: RouteChange[] = [];
      changes.set(c.n, seen);
      c.s.onLocRibChange((batch) => seen.push(...batch.changes));
    }
    const others = (c: Node) => clients.filter((o) => o.n !== c.n);
    await waitFor('every client has every other block via both reflectors', () => clients.every((c) =>
      others(c).every((o) => pathVia(c.s, block4(o.n), 'n11') && pathVia(c.s, block4(o.n), 'n12'))), 15000);
    for (const c of clients) {
      for (const o of others(c)) {
        const r = route(c.s, block4(o.n))!;
        expect(r.paths.map((p) => p.peer).sort(), `paths of ${block4(o.n)} at n${c.n}`).to.deep.equal(['n11', 'n12']);
        expect(r.nextHops, 'the originating client\'s address (RFC 4456 §10)').to.deep.equal([addr(o.n)]);
        for (const p of r.paths) {
          expect(p.nextHop).to.equal(addr(o.n));
          expect(p.originatorId).to.equal(rid(o.n));
          expect(p.clusterList).to.deep.equal([CLUSTER]);
          expect(p.asPath).to.deep.equal([]);
          expect(p.localPref).to.equal(100);
        }
        // RFC 4456 §9: ORIGINATOR_ID stands in for the BGP Identifier in §9.1.2.2 (f) and is the
        // same on both paths; CLUSTER_LIST lengths are equal; so the lower peer address wins
        // (§9.1.2.2 (g)): rr1, although rr2 has the lower BGP Identifier.
        expect(r.best.peer).to.equal('n11');
        expect(r.reason).to.equal('peer-address');
      }
      // RFC 4456 §8: its own block reflected back with its ORIGINATOR_ID is never installed.
      expect(route(c.s, block4(c.n))!.paths.map((p) => p.peer)).to.deep.equal(['local']);
    }
    // Each reflector got the clients' blocks from its twin with CLUSTER_LIST [CLUSTER] and
    // dropped them: its own CLUSTER_ID is in the list (RFC 4456 §8).
    for (const [me, twin] of [[rr1, 'n12'], [rr2, 'n11']] as const) {
      await waitFor(`${twin}'s reflections counted as cluster loops`, () => status(me.s, twin).rejected['cluster-loop'] === 3);
      expect(status(me.s, twin).rejected, `rejections at ${me.n} from ${twin}`).to.deep.equal({ 'cluster-loop': 3 });
      expect(status(me.s, twin).families['ipv4-unicast'].accepted).to.equal(0);
      for (const c of clients) {
        const r = route(me.s, block4(c.n))!;
        expect(r.paths.map((p) => p.peer), `${block4(c.n)} at reflector ${me.n}: from the client only`).to.deep.equal([`n${c.n}`]);
        expect(r.nextHops).to.deep.equal([addr(c.n)]);
      }
    }

    // rr1 dies: Cease with Hard Reset (not graceful), so the clients drop its paths at once.
    for (const seen of changes.values()) seen.length = 0;
    await rr1.s.stop({ message: 'reflector 1 down' });
    live.splice(live.indexOf(rr1.s), 1);
    await waitFor('every client has dropped the paths via rr1', () => clients.every((c) =>
      others(c).every((o) => !pathVia(c.s, block4(o.n), 'n11') && pathVia(c.s, block4(o.n), 'n12'))), 10000);
    for (const c of clients) {
      expect(state(c.s, 'n11')).to.not.equal('Established');
      for (const o of others(c)) {
        const r = route(c.s, block4(o.n))!;
        expect(r.best.peer).to.equal('n12');
        expect(r.nextHops).to.deep.equal([addr(o.n)]);
        expect(r.best.originatorId).to.equal(rid(o.n));
        expect(r.best.clusterList).to.deep.equal([CLUSTER]);
      }
      // No gap: the FIB was never told to remove a block; the best path moved from rr1 to rr2
      // with the same next hop.
      const seen = changes.get(c.n)!;
      expect(seen.filter((x) => x.withdrawn), `withdrawals reported at n${c.n}`).to.deep.equal([]);
      for (const x of seen) expect(x.nextHops).to.deep.equal([addr(Number(x.prefix.split('.')[2]))]);
    }
  });

  it('two clusters, reflectors meshed as non-clients: CLUSTER_LIST [id2, id1], ORIGINATOR_ID the origin client, no loops (RFC 4456 §6, §8)', async () => {
    const ID1 = '10.79.99.31';
    const ID2 = '10.79.99.32';
    const rr1 = await started(31, { clusterId: ID1 });
    const rr2 = await started(32, { clusterId: ID2 });
    const behind1 = [await started(33), await started(34)];
    const behind2 = [await started(35), await started(36)];
    rr1.s.addPeer(peer(31, 32, rr2.s.port, 'rr-nonclient'));
    rr2.s.addPeer(peer(32, 31, rr1.s.port, 'rr-nonclient'));
    for (const c of behind1) attachClient(rr1, c);
    for (const c of behind2) attachClient(rr2, c);
    const all = [...behind1, ...behind2];
    for (const c of all) c.s.originate(block4(c.n));
    await waitFor('every client has every other block', () => all.every((c) => all.every((o) => has(c.s, block4(o.n)))), 15000);

    const expectPath = (at: Node, origin: Node, viaRr: string, clusterList: string[]) => {
      const r = route(at.s, block4(origin.n))!;
      expect(r.paths.map((p) => p.peer), `paths of ${block4(origin.n)} at n${at.n}`).to.deep.equal([viaRr]);
      expect(r.nextHops).to.deep.equal([addr(origin.n)]);
      expect(r.best.nextHop).to.equal(addr(origin.n));
      expect(r.best.originatorId, `ORIGINATOR_ID of ${block4(origin.n)} at n${at.n}`).to.equal(rid(origin.n));
      expect(r.best.clusterList, `CLUSTER_LIST of ${block4(origin.n)} at n${at.n}`).to.deep.equal(clusterList);
      expect(r.best.asPath).to.deep.equal([]);
      expect(r.best.localPref).to.equal(100);
    };
    for (const c of behind1) {
      for (const o of behind1) if (o !== c) expectPath(c, o, 'n31', [ID1]);
      // Reflected by rr2 (ID2 first), then by rr1, which prepends its own (RFC 4456 §8).
      for (const o of behind2) expectPath(c, o, 'n31', [ID1, ID2]);
    }
    for (const c of behind2) {
      for (const o of behind2) if (o !== c) expectPath(c, o, 'n32', [ID2]);
      for (const o of behind1) expectPath(c, o, 'n32', [ID2, ID1]);
    }
    // The reflectors: the other cluster's blocks from the other reflector, with its CLUSTER_LIST;
    // their own clients' blocks straight from the client. Nothing is reflected back across
    // (non-client to non-client is not reflected, RFC 4456 §6), so nothing is rejected.
    for (const [me, mine, theirs, twin, twinId] of [[rr1, behind1, behind2, 'n32', ID2], [rr2, behind2, behind1, 'n31', ID1]] as const) {
      for (const c of mine) expect(route(me.s, block4(c.n))!.paths.map((p) => p.peer)).to.deep.equal([`n${c.n}`]);
      for (const o of theirs) {
        const r = route(me.s, block4(o.n))!;
        expect(r.paths.map((p) => p.peer)).to.deep.equal([twin]);
        expect(r.best.originatorId).to.equal(rid(o.n));
        expect(r.best.clusterList).to.deep.equal([twinId]);
        expect(r.nextHops).to.deep.equal([addr(o.n)]);
      }
      const st = status(me.s, twin);
      expect(st.families['ipv4-unicast'].received, `routes ${me.n} received from ${twin}`).to.equal(2);
      expect(st.rejected).to.deep.equal({});
      expect(st.families['ipv4-unicast'].advertised, `routes ${me.n} advertised to ${twin}`).to.equal(2);
    }
    // A withdrawal crosses both clusters.
    behind1[0].s.withdraw(block4(behind1[0].n));
    await waitFor('the block is gone everywhere', () => [rr1, rr2, ...all].every((x) => !has(x.s, block4(behind1[0].n))));
  });

  it('reflector + eBGP ToR: client blocks to the ToR with next-hop-self / keepOriginalNextHop, AS prepended, no ORIGINATOR_ID, CLUSTER_LIST or LOCAL_PREF; ToR routes to clients with its next hop (or ours) and LOCAL_PREF (RFC 4456 §8, RFC 4271 §5.1.2-5)', async () => {
    const CLUSTER = '10.79.99.4';
    const rr = await started(41, { clusterId: CLUSTER });
    const a = await started(42);
    const b = await started(43);
    // The clients accept the ToR's routes (the default cluster rule accepts pool blocks only).
    const acceptAll = { importRule: { kind: 'accept-all' as const } };
    // a: the reflector sets next-hop-self on eBGP-learned routes toward it; b: no.
    attachClient(rr, a, { nextHopSelf: true }, acceptAll);
    attachClient(rr, b, {}, acceptAll);
    a.s.originate(block4(42));
    b.s.originate(block4(43));
    const tor1 = await rawPeer(addr(45), servers, sockets);
    const tor2 = await rawPeer(addr(46), servers, sockets);
    rr.s.addPeer({ name: 'tor1', address: addr(45), port: tor1.port, peerAs: TOR_AS, type: 'external', sourceAddress: addr(41), importLocalPref: 200 });
    rr.s.addPeer({ name: 'tor2', address: addr(46), port: tor2.port, peerAs: TOR_AS + 1, type: 'external', sourceAddress: addr(41), keepOriginalNextHop: true });
    await waitFor('the reflector dials both ToRs', () => tor1.conns[0]?.got.some((m) => m.type === 'open') && tor2.conns[0]?.got.some((m) => m.type === 'open'));
    rawSend(tor1.conns[0], rawOpen(45, TOR_AS), { type: 'keepalive' });
    rawSend(tor2.conns[0], rawOpen(46, TOR_AS + 1), { type: 'keepalive' });
    await waitFor('ToR sessions Established', () => state(rr.s, 'tor1') === 'Established' && state(rr.s, 'tor2') === 'Established');
    rawSend(tor1.conns[0], {
      type: 'update', withdrawn: [], nlri: [{ prefix: '0.0.0.0/0' }],
      attributes: { origin: 0, asPath: [{ type: 2, asns: [TOR_AS] }], nextHop: addr(45), med: 5 },
    });

    // Client blocks at the ToRs.
    await waitFor('both ToRs get both client blocks', () => [tor1, tor2].every((t) => [42, 43].every((n) => lastAnnounced(t.conns[0], block4(n)))));
    for (const n of [42, 43]) {
      const at1 = lastAnnounced(tor1.conns[0], block4(n))!;
      expect(at1.nextHop, 'next-hop-self toward eBGP (RFC 4271 §5.1.3)').to.equal(addr(41));
      expect(at1.asPath).to.deep.equal([{ type: 2, asns: [AS] }]);
      const at2 = lastAnnounced(tor2.conns[0], block4(n))!;
      expect(at2.nextHop, 'keepOriginalNextHop: the client\'s own address').to.equal(addr(n));
      expect(at2.asPath).to.deep.equal([{ type: 2, asns: [AS] }]);
    }
    // The ToR's default route goes to the other ToR (eBGP to eBGP: our AS prepended, MED not
    // passed on, RFC 4271 §5.1.4) ...
    await waitFor('tor2 gets tor1\'s default route', () => lastAnnounced(tor2.conns[0], '0.0.0.0/0'));
    const dflt = lastAnnounced(tor2.conns[0], '0.0.0.0/0')!;
    expect(dflt.asPath).to.deep.equal([{ type: 2, asns: [AS, TOR_AS] }]);
    expect(dflt.med).to.equal(undefined);
    expect(dflt.nextHop, 'keepOriginalNextHop toward tor2').to.equal(addr(45));
    // ... and nothing that reaches a ToR carries RFC 4456 or LOCAL_PREF attributes.
    for (const t of [tor1, tor2]) {
      for (const u of announcements(t.conns[0])) {
        expect(u.attributes.originatorId, 'ORIGINATOR_ID toward eBGP').to.equal(undefined);
        expect(u.attributes.clusterList, 'CLUSTER_LIST toward eBGP').to.equal(undefined);
        expect(u.attributes.localPref, 'LOCAL_PREF toward eBGP (RFC 4271 §5.1.5)').to.equal(undefined);
      }
    }

    // The ToR's route at the clients: not a reflection (learned over eBGP), so no RFC 4456
    // attributes; the ToR's AS_PATH; LOCAL_PREF = the reflector's degree of preference (200).
    await waitFor('both clients learn the default route', () => has(a.s, '0.0.0.0/0') && has(b.s, '0.0.0.0/0'));
    for (const [c, nh] of [[a, addr(41)], [b, addr(45)]] as const) {
      const r = route(c.s, '0.0.0.0/0')!;
      expect(r.best.peer).to.equal('n41');
      expect(r.nextHops, `next hop of the default route at n${c.n}`).to.deep.equal([nh]);
      expect(r.best.asPath).to.deep.equal([TOR_AS]);
      expect(r.best.localPref).to.equal(200);
      expect(r.best.med, 'MED kept inside the AS').to.equal(5);
      expect(r.best.originatorId).to.equal(undefined);
      expect(r.best.clusterList).to.equal(undefined);
    }
    // next-hop-self toward a applies to eBGP-learned routes only: b's block keeps b's address.
    const bAtA = route(a.s, block4(43))!;
    expect(bAtA.nextHops).to.deep.equal([addr(43)]);
    expect(bAtA.best.originatorId).to.equal(rid(43));
    expect(bAtA.best.clusterList).to.deep.equal([CLUSTER]);
    const aAtB = route(b.s, block4(42))!;
    expect(aAtB.nextHops).to.deep.equal([addr(42)]);
    expect(aAtB.best.originatorId).to.equal(rid(42));

    // A withdrawal at the ToR reaches the clients; a withdrawn client block leaves the ToRs.
    rawSend(tor1.conns[0], { type: 'update', withdrawn: [{ prefix: '0.0.0.0/0' }], nlri: [], attributes: {} });
    await waitFor('clients lose the default route', () => !has(a.s, '0.0.0.0/0') && !has(b.s, '0.0.0.0/0'));
    b.s.withdraw(block4(43));
    const withdrawnAt = (c: RawConn, prefix: string) => c.got.some((m) => m.type === 'update' && m.withdrawn.some((w) => w.prefix === prefix));
    await waitFor('both ToRs get the withdrawal', () => withdrawnAt(tor1.conns[0], block4(43)) && withdrawnAt(tor2.conns[0], block4(43)));
  });
});
