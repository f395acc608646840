// Next-hop resolvability in the speaker's decision process (RFC 4271 §9.1.2: a path whose
// NEXT_HOP is unresolvable is not eligible; §9.1.2.2 e: lowest IGP cost to the next hop wins),
// end to end over loopback TCP: one Speaker and two hand-driven ToR peers (eBGP, different ASes)
// that announce the same prefix with different next hops. The resolver given in
// SpeakerConfig.resolveNextHop decides; Speaker.nextHopsChanged() re-runs the decision when what
// it answers changes, without touching the sessions.
import { expect } from 'chai';
import * as net from 'net';
import { Speaker } from '../../../src/speaker';
import type { PeerConfig, RouteChange, SpeakerConfig } from '../../../src/speaker';
import type { NextHopResolution } from '../../../src/rib/decision';
import { codecContext, encodeMessage } from '../../../src/wire';
import type { OpenMessage, UpdateMessage } from '../../../src/wire/types';
import { endOfRib } from '../../../src/wire/eor';
import { waitFor } from '../../helpers/lab';
import { speakerTestResources } from './resources';
import { answeringPeer } from './raw-peer';

const AS = 64512;
const addr = (n: number): string => `127.78.41.${n}`;
const SPEAKER = 1;
const PREFIX = '198.51.100.0/24';
/** Each ToR's NEXT_HOP for PREFIX: an address beyond it (third-party next hop, RFC 4271 §5.1.3). */
const nextHopOf = (n: number): string => `10.41.${n}.1`;

interface Tor {
  n: number;
  asn: number;
  port: number;
  established: boolean;
}

function torOpen(t: Tor): OpenMessage {
  return {
    type: 'open', version: 4, myAs: t.asn, holdTime: 90, bgpId: `10.79.41.${t.n}`,
    capabilities: [{ code: 1, kind: 'multiprotocol', afi: 1, safi: 1 }, { code: 65, kind: 'as4', asn: t.asn }],
  };
}

function torAnnouncement(t: Tor): UpdateMessage {
  return {
    type: 'update', withdrawn: [], nlri: [{ prefix: PREFIX }],
    attributes: { origin: 0, asPath: [{ type: 2, asns: [t.asn] }], nextHop: nextHopOf(t.n) },
  };
}

/** A passive ToR: answers OPEN, and once the session is up announces PREFIX and End-of-RIB. */
async function startTor(n: number, asn: number, servers: net.Server[], sockets: net.Socket[]): Promise<Tor> {
  const t: Tor = { n, asn, port: 0, established: false };
  const ctx = codecContext();
  const conn = await answeringPeer(addr(n), torOpen(t), servers, sockets, (m, sock) => {
    if (m.type === 'keepalive' && !t.established) {
      t.established = true;
      sock.write(Buffer.concat([encodeMessage(torAnnouncement(t), ctx), encodeMessage(endOfRib('ipv4-unicast'), ctx)]));
    }
  });
  t.port = conn.port;
  return t;
}

function speakerConfig(resolveNextHop: SpeakerConfig['resolveNextHop']): SpeakerConfig {
  return {
    localAs: AS,
    routerId: '10.79.41.1',
    listen: [],
    nextHopIPv4: addr(SPEAKER),
    pools: ['10.244.0.0/16'],
    connectRetryTime: 1,
    holdTime: 90,
    backoff: { initialMs: 100, maxMs: 500, stableMs: 60_000 },
    gracefulRestart: { enabled: false },
    resolveNextHop,
  };
}

function torPeer(t: Tor): PeerConfig {
  return { name: `tor${t.n}`, address: addr(t.n), port: t.port, peerAs: t.asn, type: 'external', sourceAddress: addr(SPEAKER), families: ['ipv4-unicast'] };
}

describe('speaker: next-hop resolvability (RFC 4271 §9.1.2, §9.1.2.2 e)', function () {
  this.timeout(30000);
  const { live, sockets, servers } = speakerTestResources();

  /** A table-driven resolver the test changes: next hop -> cost, absent = unresolvable. */
  function tableResolver(table: Map<string, number>): (nh: string) => NextHopResolution | null {
    return (nh) => {
      const c = table.get(nh);
      return c === undefined ? null : { igpCost: c };
    };
  }

  async function setUp(table: Map<string, number>): Promise<{ s: Speaker; changes: RouteChange[] }> {
    // tor2 has the lower BGP Identifier: with everything else equal it wins at 'router-id'.
    const tors = [await startTor(2, 65002, servers, sockets), await startTor(3, 65003, servers, sockets)];
    const s = new Speaker(speakerConfig(tableResolver(table)));
    live.push(s);
    const changes: RouteChange[] = [];
    s.onLocRibChange((b) => { for (const c of b.changes) if (c.prefix === PREFIX) changes.push(c); });
    for (const t of tors) s.addPeer(torPeer(t));
    await s.start();
    await waitFor('both ToR paths in the Loc-RIB', () => s.routes('ipv4-unicast').find((r) => r.prefix === PREFIX)?.paths.length === 2);
    return { s, changes };
  }

  const route = (s: Speaker) => s.routes('ipv4-unicast').find((r) => r.prefix === PREFIX);

  it('a path whose next hop is unresolvable is not eligible: the other ToR wins; nextHopsChanged flips it back', async () => {
    const table = new Map([[nextHopOf(3), 0]]); // tor2's next hop unreachable
    const { s, changes } = await setUp(table);
    await waitFor('tor3 selected', () => route(s)?.best.peer === 'tor3');
    const ex = s.explain('198.51.100.7');
    expect(ex.prefix).to.equal(PREFIX);
    expect(ex.route?.best.peer).to.equal('tor3');
    expect(ex.route?.nextHops).to.deep.equal([nextHopOf(3)]);
    expect(ex.ineligible).to.deep.equal([{ peer: 'tor2', why: 'unresolvable-next-hop' }]);
    expect(changes.at(-1)?.peer).to.equal('tor3');
    const sessionsBefore = s.peerStatus().map((p) => [p.name, p.state]);

    // The host learns a route to tor2's next hop: the decision runs again, tor2 wins on router-id.
    table.set(nextHopOf(2), 0);
    s.nextHopsChanged();
    await waitFor('tor2 selected after nextHopsChanged', () => route(s)?.best.peer === 'tor2');
    expect(route(s)?.reason).to.equal('router-id');
    expect(s.explain('198.51.100.7').ineligible).to.deep.equal([]);
    expect(changes.at(-1)?.peer).to.equal('tor2');
    expect(changes.at(-1)?.nextHops).to.deep.equal([nextHopOf(2)]);

    // Both unreachable: no best path, the destination is withdrawn from the FIB's point of view.
    table.clear();
    s.nextHopsChanged('ipv4-unicast');
    await waitFor('withdrawn when no next hop resolves', () => changes.at(-1)?.withdrawn === true);
    expect(route(s)).to.equal(undefined);
    expect(changes.at(-1)?.nextHops).to.deep.equal([]);
    // No session was touched by any of it.
    expect(s.peerStatus().map((p) => [p.name, p.state])).to.deep.equal(sessionsBefore);
  });

  it('IGP cost to the next hop breaks the tie before router-id (§9.1.2.2 e)', async () => {
    const table = new Map([[nextHopOf(2), 20], [nextHopOf(3), 10]]);
    const { s } = await setUp(table);
    await waitFor('tor3 selected on IGP cost', () => route(s)?.best.peer === 'tor3');
    expect(route(s)?.reason).to.equal('igp-cost');
    expect(s.explain('198.51.100.7').eliminated).to.deep.equal([{ step: 'igp-cost', peers: ['tor2'] }]);

    table.set(nextHopOf(2), 5);
    const rounds = s.counters.rounds;
    s.nextHopsChanged();
    await waitFor('tor2 selected after its cost fell', () => route(s)?.best.peer === 'tor2');
    expect(route(s)?.reason).to.equal('igp-cost');
    expect(s.counters.rounds).to.be.greaterThan(rounds);
  });

  it('setNextHopResolver replaces the resolver and re-runs the decision', async () => {
    const { s } = await setUp(new Map([[nextHopOf(2), 0], [nextHopOf(3), 0]]));
    await waitFor('tor2 selected on router-id', () => route(s)?.best.peer === 'tor2' && route(s)?.reason === 'router-id');
    s.setNextHopResolver((nh) => (nh === nextHopOf(3) ? { igpCost: 0 } : null));
    await waitFor('tor3 selected with the new resolver', () => route(s)?.best.peer === 'tor3');
  });
});
