// The speaker end to end inside one process: several Speakers over loopback TCP (distinct
// 127.77.1.x addresses, kernel-chosen ports). Routes propagate and are withdrawn (RFC 4271 §9),
// graceful restart keeps a vanished peer's routes as stale and End-of-RIB purges them (RFC 4724
// §4.2), the restart time expires them, restarting speakers defer selection without stalling each
// other (§4.1), max-prefix tears the session down with Cease subcode 1 (RFC 4486 §4), and a peer
// that sends garbage gets the right NOTIFICATION (RFC 4271 §6.1) while other sessions stay up.
import { rawPeer, RawConn } from './raw-peer';
import { expect } from 'chai';
import * as net from 'net';
import { Speaker } from '../../../src/speaker';
import type { PeerConfig, RouteChange, SpeakerConfig } from '../../../src/speaker';
import { codecContext, decodeMessage, encodeMessage, Framer } from '../../../src/wire';
import type { BgpMessage, Capability, OpenMessage, UpdateMessage } from '../../../src/wire/types';
import { endOfRib, endOfRibFamily } from '../../../src/wire/eor';
import { waitFor } from '../../helpers/lab';
import { speakerTestResources } from './resources';

const AS = 64512;
const addr = (n: number): string => `127.77.1.${n}`;

function speaker(n: number, extra: Partial<SpeakerConfig> = {}): Speaker {
  return new Speaker({
    localAs: AS,
    routerId: `10.77.0.${n}`,
    listen: [{ address: addr(n), port: 0 }],
    nextHopIPv4: addr(n),
    nextHopIPv6: `fd77::${n}`,
    pools: ['10.244.0.0/16', 'fd77:244::/32'],
    connectRetryTime: 1,
    holdTime: 9,
    backoff: { initialMs: 100, maxMs: 500, stableMs: 60_000 },
    ...extra,
    gracefulRestart: { restartTime: 30, ...extra.gracefulRestart },
  });
}

function peer(self: number, other: number, port: number, extra: Partial<PeerConfig> = {}): PeerConfig {
  return {
    name: `node${other}`,
    address: addr(other),
    port,
    peerAs: AS,
    type: 'mesh',
    sourceAddress: addr(self),
    families: ['ipv4-unicast', 'ipv6-unicast'],
    nodeAddresses: [addr(other), `fd77::${other}`],
    ...extra,
  };
}

/** Connects a and b both ways (each dials the other; the FSM resolves the collision). */
function mesh(a: { s: Speaker; n: number }, b: { s: Speaker; n: number }, extra: Partial<PeerConfig> = {}): void {
  a.s.addPeer(peer(a.n, b.n, b.s.port, extra));
  b.s.addPeer(peer(b.n, a.n, a.s.port, extra));
}

/** The raw peer's OPEN: IPv4 unicast, 4-octet AS, optionally graceful restart (not restarting). */
function rawOpen(n: number, asn: number, gr: boolean): OpenMessage {
  const capabilities: Capability[] = [{ code: 1, kind: 'multiprotocol', afi: 1, safi: 1 }, { code: 65, kind: 'as4', asn }];
  if (gr) capabilities.push({ code: 64, kind: 'graceful-restart', restarting: false, notification: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] });
  return { type: 'open', version: 4, myAs: asn > 0xffff ? 23456 : asn, holdTime: 90, bgpId: `10.77.0.${n}`, capabilities };
}

function rawSend(c: RawConn, ...msgs: BgpMessage[]): void {
  for (const m of msgs) c.sock.write(encodeMessage(m, codecContext()));
}

const grCapOf = (m: BgpMessage | undefined) => (m?.type === 'open' ? m.capabilities.find((c) => c.kind === 'graceful-restart') : undefined) as
  Extract<Capability, { kind: 'graceful-restart' }> | undefined;

const has = (s: Speaker, prefix: string): boolean => s.routes().some((r) => r.prefix === prefix);
const state = (s: Speaker, name: string): string => s.peerStatus().find((p) => p.name === name)?.state ?? 'none';

describe('speaker: speakers over loopback TCP', function () {
  this.timeout(30000);
  const { live, sockets, servers } = speakerTestResources();

  async function started(n: number, extra: Partial<SpeakerConfig> = {}): Promise<{ s: Speaker; n: number }> {
    const s = speaker(n, extra);
    live.push(s);
    await s.start();
    return { s, n };
  }

  it('regression: IPv4 and IPv6 blocks with equal attributes both go out (IPv6 with its MP_REACH next hop)', async () => {
    const a = await started(13);
    const b = await started(14);
    mesh(a, b);
    a.s.originate('10.244.13.0/24');
    a.s.originate('fd77:244:13::/64');
    await waitFor('b learns both blocks', () => has(b.s, '10.244.13.0/24') && has(b.s, 'fd77:244:13::/64'));
    expect(b.s.routes().find((r) => r.prefix === 'fd77:244:13::/64')!.nextHops).to.deep.equal(['fd77::13']);
    expect(b.s.routes().find((r) => r.prefix === '10.244.13.0/24')!.nextHops).to.deep.equal([addr(13)]);
  });

  it('R bit only until selection deferral ends, F bits stay; the deferral timer bounds a GR peer that never sends End-of-RIB (RFC 4724 §3, §4.1)', async () => {
    const raw = await rawPeer(addr(122), servers, sockets);
    const s = speaker(121, { gracefulRestart: { restarting: true, selectionDeferralMs: 3000 } });
    live.push(s);
    s.addPeer({ name: 'raw122', address: addr(122), port: raw.port, peerAs: AS, type: 'external', sourceAddress: addr(121) });
    s.originate('10.244.121.0/24');
    const t0 = Date.now();
    await s.start();
    const open1 = await waitFor('our first OPEN', () => raw.conns[0]?.got.find((m) => m.type === 'open'));
    expect(grCapOf(open1)).to.deep.include({ restarting: true });
    expect(grCapOf(open1)!.families).to.deep.equal([{ afi: 1, safi: 1, forwardingPreserved: true }]);
    rawSend(raw.conns[0], rawOpen(122, AS, true), { type: 'keepalive' });
    await waitFor('raw peer Established', () => state(s, 'raw122') === 'Established');
    // The peer advertised GR without the R bit: we wait for its End-of-RIB, which never comes.
    expect(s.selectionDeferred).to.equal(true);
    await waitFor('the deferral timer releases selection', () => !s.selectionDeferred, 10000);
    expect(Date.now() - t0).to.be.at.least(2900);
    const eorAt = await waitFor('our table and End-of-RIB follow', () => {
      const ups = raw.conns[0].got.filter((m): m is UpdateMessage => m.type === 'update');
      const i = ups.findIndex((u) => endOfRibFamily(u) === 'ipv4-unicast');
      return i >= 0 ? { ups, i } : undefined;
    });
    expect(eorAt!.ups.slice(0, eorAt!.i).flatMap((u) => u.nlri.map((x) => x.prefix))).to.deep.equal(['10.244.121.0/24']);
    // A flap: the session after it is built from current state — no R bit, F bits as configured.
    raw.conns[0].sock.destroy();
    const open2 = await waitFor('our OPEN on the next session', () => raw.conns[1]?.got.find((m) => m.type === 'open'), 10000);
    expect(grCapOf(open2)).to.deep.include({ restarting: false });
    expect(grCapOf(open2)!.families).to.deep.equal([{ afi: 1, safi: 1, forwardingPreserved: true }]);
  });

  it('selection deferral waits for a peer added after start() (RFC 4724 §4.1)', async () => {
    const raw1 = await rawPeer(addr(132), servers, sockets);
    const raw2 = await rawPeer(addr(133), servers, sockets);
    const s = speaker(131, { gracefulRestart: { restarting: true, selectionDeferralMs: 30000 } });
    live.push(s);
    const rawCfg = (n: number, port: number): PeerConfig => ({ name: `raw${n}`, address: addr(n), port, peerAs: AS, type: 'external', sourceAddress: addr(131) });
    s.addPeer(rawCfg(132, raw1.port));
    await s.start();
    s.addPeer(rawCfg(133, raw2.port)); // while the deferral runs
    await waitFor('our OPEN to raw132', () => raw1.conns[0]?.got.find((m) => m.type === 'open'));
    rawSend(raw1.conns[0], rawOpen(132, AS, true), { type: 'keepalive' });
    await waitFor('raw132 Established', () => state(s, 'raw132') === 'Established');
    // raw133 has our OPEN but holds its own back: it is neither up nor gone.
    await waitFor('our OPEN to raw133', () => raw2.conns[0]?.got.find((m) => m.type === 'open'));
    rawSend(raw1.conns[0], endOfRib('ipv4-unicast'));
    await new Promise((r) => setTimeout(r, 400));
    expect(s.selectionDeferred, 'still waiting for the peer added after start()').to.equal(true);
    rawSend(raw2.conns[0], rawOpen(133, AS, true), { type: 'keepalive' });
    await waitFor('raw133 Established', () => state(s, 'raw133') === 'Established');
    expect(s.selectionDeferred).to.equal(true);
    rawSend(raw2.conns[0], endOfRib('ipv4-unicast'));
    await waitFor('selection released by the End-of-RIBs, long before the 30 s timer', () => !s.selectionDeferred, 5000);
    await waitFor('raw133 gets our End-of-RIB', () => raw2.conns[0].got.some((m) => m.type === 'update' && endOfRibFamily(m) === 'ipv4-unicast'));
  });

  it('max-prefix teardown sends Cease/1 with AFI, SAFI and the upper bound (RFC 4486 §4)', async () => {
    const raw = await rawPeer(addr(142), servers, sockets);
    const a = await started(141);
    a.s.addPeer({ name: 'raw142', address: addr(142), port: raw.port, peerAs: 65142, type: 'external', sourceAddress: addr(141), maxPrefix: { limit: 2, action: 'teardown' } });
    await waitFor('our OPEN', () => raw.conns[0]?.got.find((m) => m.type === 'open'));
    rawSend(raw.conns[0], rawOpen(142, 65142, false), { type: 'keepalive' });
    await waitFor('raw142 Established', () => state(a.s, 'raw142') === 'Established');
    const nlri = ['192.0.2.0/24', '198.51.100.0/24', '203.0.113.0/24'].map((prefix) => ({ prefix }));
    rawSend(raw.conns[0], { type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [{ type: 2, asns: [65142] }], nextHop: addr(142) }, nlri });
    const n = await waitFor('a NOTIFICATION', () => raw.conns[0].got.find((m) => m.type === 'notification'));
    expect(n).to.deep.include({ code: 6, subcode: 1 });
    expect([...(n as { data: Uint8Array }).data]).to.deep.equal([0, 1, 1, 0, 0, 0, 2]);
  });

  it('drops our own block reflected back with our ORIGINATOR_ID (RFC 4456 §8) and routes looping through a per-peer local AS (RFC 4271 §9.1.2)', async () => {
    const tor = await rawPeer(addr(152), servers, sockets);
    const ebgp = await rawPeer(addr(153), servers, sockets);
    const a = await started(151);
    a.s.originate('10.244.151.0/24');
    // An iBGP ToR acting as our route reflector, and an eBGP router we present AS 65151 to.
    a.s.addPeer({ name: 'tor', address: addr(152), port: tor.port, peerAs: AS, type: 'external', sourceAddress: addr(151) });
    a.s.addPeer({ name: 'edge', address: addr(153), port: ebgp.port, peerAs: 65153, localAs: 65151, type: 'external', sourceAddress: addr(151) });
    await waitFor('our OPENs', () => tor.conns[0]?.got.some((m) => m.type === 'open') && ebgp.conns[0]?.got.some((m) => m.type === 'open'));
    const openToEdge = ebgp.conns[0].got.find((m) => m.type === 'open') as OpenMessage;
    expect(openToEdge.capabilities.find((c) => c.kind === 'as4')).to.deep.include({ asn: 65151 });
    rawSend(tor.conns[0], rawOpen(152, AS, false), { type: 'keepalive' });
    rawSend(ebgp.conns[0], rawOpen(153, 65153, false), { type: 'keepalive' });
    await waitFor('both Established', () => state(a.s, 'tor') === 'Established' && state(a.s, 'edge') === 'Established');
    rawSend(tor.conns[0], {
      type: 'update', withdrawn: [],
      attributes: { origin: 0, asPath: [], nextHop: addr(151), localPref: 100, originatorId: '10.77.0.151', clusterList: ['10.77.0.152'] },
      nlri: [{ prefix: '10.244.151.0/24' }, { prefix: '10.244.152.0/24' }],
    });
    rawSend(tor.conns[0], {
      type: 'update', withdrawn: [],
      attributes: { origin: 0, asPath: [], nextHop: addr(152), localPref: 100, originatorId: '10.77.0.9', clusterList: ['10.77.0.152'] },
      nlri: [{ prefix: '10.244.159.0/24' }],
    });
    rawSend(ebgp.conns[0], { type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [{ type: 2, asns: [65153, 65151] }], nextHop: addr(153) }, nlri: [{ prefix: '192.0.2.0/24' }] });
    rawSend(ebgp.conns[0], { type: 'update', withdrawn: [], attributes: { origin: 0, asPath: [{ type: 2, asns: [65153, 65001] }], nextHop: addr(153) }, nlri: [{ prefix: '198.51.100.0/24' }] });
    await waitFor('the clean routes arrive', () => has(a.s, '10.244.159.0/24') && has(a.s, '198.51.100.0/24'));
    const st = (name: string) => a.s.peerStatus().find((p) => p.name === name)!;
    expect(st('tor').rejected).to.deep.equal({ 'originator-loop': 2 });
    expect(st('edge').rejected).to.deep.equal({ 'as-loop': 1 });
    expect(has(a.s, '10.244.152.0/24')).to.equal(false);
    expect(has(a.s, '192.0.2.0/24')).to.equal(false);
    expect(a.s.routes().find((r) => r.prefix === '10.244.151.0/24')!.best.peer).to.equal('local');
  });

  it('propagates originated IPv4 and IPv6 blocks with the node address as next hop, and withdraws them', async () => {
    const a = await started(11);
    const b = await started(12);
    const batches: RouteChange[] = [];
    b.s.onLocRibChange((batch) => batches.push(...batch.changes));
    mesh(a, b);
    a.s.originate('10.244.11.0/24', { communities: [64512 * 65536 + 7] });
    a.s.originate('fd77:244:11::/64');
    await waitFor('b learns both blocks', () => has(b.s, '10.244.11.0/24') && has(b.s, 'fd77:244:11::/64'));
    const v4 = b.s.routes().find((r) => r.prefix === '10.244.11.0/24')!;
    expect(v4.nextHops).to.deep.equal([addr(11)]);
    expect(v4.best.peer).to.equal('node11');
    expect(v4.best.communities).to.deep.equal(['64512:7']);
    expect(v4.best.localPref).to.equal(100);
    const v6 = b.s.routes().find((r) => r.prefix === 'fd77:244:11::/64')!;
    expect(v6.nextHops).to.deep.equal(['fd77::11']);
    const ex = b.s.explain('10.244.11.77');
    expect(ex.prefix).to.equal('10.244.11.0/24');
    expect(ex.route!.best.peer).to.equal('node11');
    expect(b.s.explain('10.9.9.9').route).to.equal(null);
    expect(batches.some((c) => c.prefix === '10.244.11.0/24' && !c.withdrawn && c.nextHops[0] === addr(11))).to.equal(true);
    const st = b.s.peerStatus()[0];
    expect(st.state).to.equal('Established');
    expect(st.families['ipv4-unicast'].accepted).to.equal(1);
    expect(st.capabilities!.gracefulRestart).to.not.equal(null);
    expect(st.gracefulRestart.endOfRibReceived).to.include('ipv4-unicast');
    a.s.withdraw('10.244.11.0/24');
    await waitFor('b drops the withdrawn block', () => !has(b.s, '10.244.11.0/24'));
    expect(batches.some((c) => c.prefix === '10.244.11.0/24' && c.withdrawn)).to.equal(true);
    expect(has(b.s, 'fd77:244:11::/64')).to.equal(true);
  });

  it('does not accept a mesh peer route outside the pools, and applies iBGP split horizon', async () => {
    const a = await started(21);
    const b = await started(22);
    const c = await started(23);
    mesh(a, b);
    mesh(b, c);
    a.s.originate('10.244.21.0/24');
    a.s.originate('192.0.2.0/24'); // outside every pool
    await waitFor('b learns a', () => has(b.s, '10.244.21.0/24'));
    await waitFor('b-c up', () => state(c.s, 'node22') === 'Established');
    await new Promise((r) => setTimeout(r, 300));
    expect(has(b.s, '192.0.2.0/24')).to.equal(false);
    expect(b.s.peerStatus().find((p) => p.name === 'node21')!.rejected).to.deep.equal({ 'outside-pool': 1 });
    // RFC 4271 §9.2: b does not pass a's iBGP route to c (no reflection configured).
    expect(has(c.s, '10.244.21.0/24')).to.equal(false);
  });

  it('keeps a vanished peer\'s routes as stale (no withdraw toward the FIB) and purges them on End-of-RIB', async () => {
    const a = await started(31);
    const b1 = await started(32);
    const seenByA: RouteChange[] = [];
    a.s.onLocRibChange((batch) => seenByA.push(...batch.changes));
    mesh(a, b1);
    b1.s.originate('10.244.32.0/24');
    b1.s.originate('10.244.132.0/24');
    await waitFor('a learns b', () => has(a.s, '10.244.32.0/24') && has(a.s, '10.244.132.0/24'));
    const port = b1.s.port;
    // The speaker vanishes: TCP dropped, no NOTIFICATION (like kill -9).
    await b1.s.stop({ graceful: true });
    live.splice(live.indexOf(b1.s), 1);
    await waitFor('a sees the session down', () => state(a.s, 'node32') !== 'Established');
    await new Promise((r) => setTimeout(r, 200));
    const st = a.s.peerStatus()[0];
    expect(st.gracefulRestart.staleFamilies).to.include('ipv4-unicast');
    expect(st.families['ipv4-unicast'].stale).to.equal(2);
    expect(a.s.routes().find((r) => r.prefix === '10.244.32.0/24')!.best.stale).to.equal(true);
    expect(seenByA.some((c) => c.withdrawn)).to.equal(false);
    // It comes back (restarting, same address and port) announcing only one of the two blocks.
    const b2 = { s: speaker(32, { listen: [{ address: addr(32), port }], gracefulRestart: { restarting: true, selectionDeferralMs: 20000 } }), n: 32 };
    live.push(b2.s);
    b2.s.addPeer(peer(32, 31, a.s.port));
    b2.s.originate('10.244.32.0/24');
    await b2.s.start();
    expect(b2.s.selectionDeferred).to.equal(true);
    await waitFor('a purges the block b no longer announces', () => !has(a.s, '10.244.132.0/24'), 15000);
    const r = a.s.routes().find((x) => x.prefix === '10.244.32.0/24')!;
    expect(r.best.stale).to.equal(false);
    expect(a.s.peerStatus()[0].gracefulRestart.staleFamilies).to.deep.equal([]);
    expect(seenByA.filter((c) => c.withdrawn).map((c) => c.prefix)).to.deep.equal(['10.244.132.0/24']);
    // b2 deferred its selection until a's End-of-RIB, then learned a's table.
    a.s.originate('10.244.31.0/24');
    await waitFor('b2 learns a', () => has(b2.s, '10.244.31.0/24'));
    expect(b2.s.selectionDeferred).to.equal(false);
  });

  it('removes stale routes when the peer does not return within its restart time', async () => {
    const a = await started(41);
    const b = await started(42, { gracefulRestart: { restartTime: 1 } });
    mesh(a, b);
    b.s.originate('10.244.42.0/24');
    await waitFor('a learns b', () => has(a.s, '10.244.42.0/24'));
    await b.s.stop({ graceful: true });
    live.splice(live.indexOf(b.s), 1);
    await waitFor('a sees b down', () => state(a.s, 'node42') !== 'Established');
    expect(has(a.s, '10.244.42.0/24')).to.equal(true);
    await waitFor('stale route removed after the 1 s restart time', () => !has(a.s, '10.244.42.0/24'), 5000);
  });

  it('withdraws at once when the peer shuts down with a NOTIFICATION (Hard Reset)', async () => {
    const a = await started(51);
    const b = await started(52);
    mesh(a, b);
    b.s.originate('10.244.52.0/24');
    await waitFor('a learns b', () => has(a.s, '10.244.52.0/24'));
    await b.s.stop({ message: 'maintenance' });
    live.splice(live.indexOf(b.s), 1);
    await waitFor('a withdraws b\'s route', () => !has(a.s, '10.244.52.0/24'), 5000);
    expect(a.s.peerStatus()[0].lastError).to.match(/Cease|shutdown|maintenance/i);
  });

  it('speakers restarting together do not wait on each other (RFC 4724 §4.1)', async () => {
    // Peers configured before start() are waited for; a fixed port on our own loopback addresses.
    const gr = { restarting: true, selectionDeferralMs: 60_000 };
    const port = 17961;
    const a = { s: speaker(61, { gracefulRestart: gr, listen: [{ address: addr(61), port }] }), n: 61 };
    const b = { s: speaker(62, { gracefulRestart: gr, listen: [{ address: addr(62), port }] }), n: 62 };
    live.push(a.s, b.s);
    mesh(a, b);
    a.s.originate('10.244.61.0/24');
    b.s.originate('10.244.62.0/24');
    await a.s.start();
    await b.s.start();
    expect(a.s.selectionDeferred).to.equal(true);
    expect(a.s.routes()).to.deep.equal([]);
    await waitFor('both converge long before the 60 s deferral timer', () => has(a.s, '10.244.62.0/24') && has(b.s, '10.244.61.0/24'), 10000);
    expect(a.s.selectionDeferred).to.equal(false);
  });

  it('tears a session down with Cease/Maximum Number of Prefixes Reached, and warn mode only warns', async () => {
    const a = await started(71);
    const b = await started(72);
    const c = await started(73);
    a.s.addPeer(peer(71, 72, b.s.port, { maxPrefix: { limit: 2, action: 'teardown' } }));
    b.s.addPeer(peer(72, 71, a.s.port));
    a.s.addPeer(peer(71, 73, c.s.port, { maxPrefix: { limit: 1, action: 'warn' } }));
    c.s.addPeer(peer(73, 71, a.s.port));
    for (const p of ['10.244.72.0/24', '10.244.73.0/24']) c.s.originate(p);
    b.s.originate('10.244.172.0/24');
    await waitFor('a learns b', () => has(a.s, '10.244.172.0/24'));
    await waitFor('a learns c (over its warn limit)', () => has(a.s, '10.244.72.0/24') && has(a.s, '10.244.73.0/24'));
    for (const p of ['10.244.174.0/24', '10.244.175.0/24']) b.s.originate(p);
    await waitFor('a tears b down', () => a.s.peerStatus().find((p) => p.name === 'node72')!.maxPrefixExceeded !== null && state(a.s, 'node72') !== 'Established');
    await waitFor('b\'s routes are gone from a', () => !has(a.s, '10.244.172.0/24'));
    await waitFor('b saw the NOTIFICATION', () => /Maximum Number of Prefixes|prefix/i.test(b.s.peerStatus()[0].lastError ?? ''));
    expect(state(a.s, 'node73')).to.equal('Established');
    expect(a.s.peerStatus().find((p) => p.name === 'node73')!.maxPrefixExceeded).to.deep.include({ limit: 1, count: 2 });
  });

  it('answers garbage from one peer with NOTIFICATION 1/1 and leaves another peer\'s session and routes alone', async () => {
    const a = await started(81);
    const b = await started(82);
    mesh(a, b);
    b.s.originate('10.244.82.0/24');
    await waitFor('a learns b', () => has(a.s, '10.244.82.0/24'));
    a.s.addPeer({ name: 'raw', address: addr(83), peerAs: 65083, type: 'external', passive: true });
    const got: BgpMessage[] = [];
    const framer = new Framer();
    const sock = net.connect({ host: addr(81), port: a.s.port, localAddress: addr(83) });
    sockets.push(sock);
    sock.on('error', () => { /* reset by a after the NOTIFICATION */ });
    sock.on('data', (d: Buffer) => { for (const f of framer.push(d)) got.push(decodeMessage(f, codecContext())); });
    await new Promise<void>((r) => sock.once('connect', () => r()));
    const ctx = codecContext();
    sock.write(encodeMessage({ type: 'open', version: 4, myAs: 65083, holdTime: 90, bgpId: '10.77.0.83', capabilities: [{ code: 65, kind: 'as4', asn: 65083 }] }, ctx));
    sock.write(encodeMessage({ type: 'keepalive' }, ctx));
    await waitFor('raw peer Established', () => state(a.s, 'raw') === 'Established');
    // A header with a broken marker (RFC 4271 §6.1: Connection Not Synchronized).
    const bad = Buffer.alloc(19, 0xff);
    bad[3] = 0x00;
    bad.writeUInt16BE(19, 16);
    bad[18] = 4;
    sock.write(bad);
    const n = await waitFor('a NOTIFICATION', () => got.find((m) => m.type === 'notification'));
    expect(n).to.deep.include({ code: 1, subcode: 1 });
    expect(state(a.s, 'node82')).to.equal('Established');
    expect(has(a.s, '10.244.82.0/24')).to.equal(true);
    expect(a.s.peerStatus().find((p) => p.name === 'node82')!.flaps).to.equal(0);
  });

  it('reflects a client\'s route to another client with ORIGINATOR_ID and CLUSTER_LIST (RFC 4456)', async () => {
    const r = await started(101, { clusterId: '10.77.0.101' });
    const a = await started(102);
    const c = await started(103);
    for (const cl of [a, c]) {
      r.s.addPeer(peer(101, cl.n, cl.s.port, { type: 'rr-client' }));
      cl.s.addPeer(peer(cl.n, 101, r.s.port, { type: 'rr-server', nodeAddresses: undefined }));
    }
    a.s.originate('10.244.102.0/24');
    await waitFor('c learns a\'s block through the reflector', () => has(c.s, '10.244.102.0/24'));
    const got = c.s.routes().find((x) => x.prefix === '10.244.102.0/24')!;
    expect(got.best.peer).to.equal('node101');
    expect(got.nextHops).to.deep.equal([addr(102)]); // RFC 4456 §10: next hop unchanged
    expect(got.best.originatorId).to.equal('10.77.0.102');
    expect(got.best.clusterList).to.deep.equal(['10.77.0.101']);
  });

  it('updatePeer applies import changes in place and resets the session for the rest', async () => {
    const a = await started(111);
    const b = await started(112);
    mesh(a, b);
    b.s.originate('10.244.112.0/24');
    b.s.originate('10.244.113.0/24');
    await waitFor('a learns b', () => has(a.s, '10.244.112.0/24') && has(a.s, '10.244.113.0/24'));
    // Soft reconfiguration inbound: only one block accepted now, without a session reset.
    a.s.updatePeer(peer(111, 112, b.s.port, { importRule: { kind: 'prefix-list', prefixes: ['10.244.112.0/24'] } }));
    await waitFor('a drops the block outside the new list', () => !has(a.s, '10.244.113.0/24'));
    expect(has(a.s, '10.244.112.0/24')).to.equal(true);
    expect(a.s.peerStatus()[0].flaps).to.equal(0);
    // A hold-time change needs a new session.
    a.s.updatePeer(peer(111, 112, b.s.port, { holdTime: 6 }));
    await waitFor('a new session with hold time 6, the old import rule gone', () => a.s.peerStatus()[0].capabilities?.holdTime === 6 && has(a.s, '10.244.113.0/24'), 15000);
    expect(b.s.peerStatus()[0].flaps).to.be.greaterThan(0);
  });

  it('refuses bad configuration with the field named, and answers route refresh', async () => {
    expect(() => speaker(1, { routerId: '0.0.0.0' })).to.throw(/routerId/);
    expect(() => speaker(1, { pools: ['10.0.0.1/8'] })).to.throw(/pools/);
    const a = await started(91);
    const b = await started(92);
    expect(() => a.s.addPeer({ ...peer(91, 92, 179), peerAs: 0 })).to.throw(/peer node92: peerAs/);
    expect(() => a.s.addPeer({ ...peer(91, 92, 179), address: 'x' })).to.throw(/address/);
    expect(() => a.s.originate('10.244.1.1/24')).to.throw(/prefix/);
    mesh(a, b);
    a.s.originate('10.244.91.0/24');
    await waitFor('b learns a', () => has(b.s, '10.244.91.0/24'));
    const before = a.s.peerStatus()[0].updatesOut;
    expect(b.s.requestRefresh('node91')).to.equal(true);
    // a answers with its table again: at least one more UPDATE per family.
    await waitFor('a re-sends its table', () => a.s.peerStatus()[0].updatesOut > before);
    expect(has(b.s, '10.244.91.0/24')).to.equal(true);
    expect(() => b.s.removePeer('nope')).to.throw(/no peer named 'nope'/);
    b.s.removePeer('node91');
    await waitFor('b forgets a\'s routes', () => !has(b.s, '10.244.91.0/24'));
    await waitFor('a withdraws too (Peer De-configured, Hard Reset)', () => state(a.s, 'node92') !== 'Established');
  });
});
