// A route reflector over loopback TCP with hand-driven clients: each client's routes are
// reflected to every OTHER client (RFC 4456 §6, with ORIGINATOR_ID and CLUSTER_LIST, §8) and not
// sent back to the client they came from — it would only discard them (§8), and at N clients that
// is 1/N of every client's input. Also: a reflector warms up its UPDATE path at start() on a
// scratch RIB (src/speaker/warmup.ts) without any trace in its own RIB, and not when told not to.
import { expect } from 'chai';
import * as net from 'net';
import { Speaker } from '../../../src/speaker';
import type { PeerConfig, SpeakerConfig } from '../../../src/speaker';
import { keptWarmUpRibs, keptWarmUpSamples, processWarmedUp, warmUpOnce, warmUpReflection } from '../../../src/speaker/warmup';
import { Ipv4Nlri } from '../../../src/wire/nlri';
import { Writer } from '../../../src/wire/writer';
import { UpdateResult } from '../../../src/rib/adj-rib-in';
import { Destination, LocRibChange } from '../../../src/rib/loc-rib';
import { codecContext, encodeMessage } from '../../../src/wire';
import type { Capability, OpenMessage, UpdateMessage } from '../../../src/wire/types';
import { endOfRib, endOfRibFamily } from '../../../src/wire/eor';
import { waitFor } from '../../helpers/lab';
import { ExportRefusal } from '../../../src/policy/export';
import { speakerTestResources } from './resources';
import { answeringPeer, type AnsweringPeer } from './raw-peer';

const AS = 64512;
const addr = (n: number): string => `127.77.12.${n}`;
const rid = (n: number): string => `10.77.12.${n}`;
const block = (n: number): string => `10.244.${n}.0/24`;
const RR = 1;

interface Client {
  n: number;
  port: number;
  /** The connection the reflector opened (sock: null until then). */
  conn: AnsweringPeer;
  /** prefix → ORIGINATOR_ID of what the reflector sent. */
  rib: Map<string, string | undefined>;
  /** Every prefix announced to this client, in order (repeats included). */
  announced: string[];
  endOfRib: boolean;
}

function clientOpen(n: number): OpenMessage {
  const capabilities: Capability[] = [{ code: 1, kind: 'multiprotocol', afi: 1, safi: 1 }, { code: 65, kind: 'as4', asn: AS }];
  return { type: 'open', version: 4, myAs: AS, holdTime: 90, bgpId: rid(n), capabilities };
}

/** A passive iBGP client: answers OPEN, records what it is sent. */
async function client(n: number, servers: net.Server[], sockets: net.Socket[]): Promise<Client> {
  const c: Client = { n, port: 0, conn: { port: 0, sock: null }, rib: new Map(), announced: [], endOfRib: false };
  c.conn = await answeringPeer(addr(n), clientOpen(n), servers, sockets, (m) => {
    if (m.type !== 'update') return;
    if (endOfRibFamily(m) !== null) c.endOfRib = true;
    for (const w of m.withdrawn) c.rib.delete(w.prefix);
    for (const a of m.nlri) {
      c.rib.set(a.prefix, m.attributes.originatorId);
      c.announced.push(a.prefix);
    }
  });
  c.port = c.conn.port;
  return c;
}

function announce(c: Client, prefixes: string[], extra: Partial<UpdateMessage['attributes']> = {}): void {
  const u: UpdateMessage = {
    type: 'update',
    withdrawn: [],
    attributes: { origin: 0, asPath: [], nextHop: addr(c.n), localPref: 100, ...extra },
    nlri: prefixes.map((prefix) => ({ prefix })),
  };
  c.conn.sock!.write(Buffer.concat([encodeMessage(u, codecContext()), encodeMessage(endOfRib('ipv4-unicast'), codecContext())]));
}

function config(extra: Partial<SpeakerConfig> = {}): SpeakerConfig {
  return {
    localAs: AS,
    routerId: rid(RR),
    listen: [],
    nextHopIPv4: addr(RR),
    pools: ['10.244.0.0/16'],
    clusterId: rid(RR),
    connectRetryTime: 1,
    holdTime: 90,
    backoff: { initialMs: 100, maxMs: 500, stableMs: 60_000 },
    gracefulRestart: { enabled: false },
    ...extra,
  };
}

const clientPeer = (c: Client): PeerConfig => ({ name: `c${c.n}`, address: addr(c.n), port: c.port, peerAs: AS, type: 'rr-client', sourceAddress: addr(RR) });
const established = (s: Speaker, name: string): boolean => s.peerStatus().find((x) => x.name === name)?.state === 'Established';

describe('speaker: a reflector sends no client its own routes back (RFC 4456 §6, §8)', function () {
  this.timeout(30000);
  const { live, sockets, servers } = speakerTestResources();

  it('reflects each client\'s blocks to the others only, in bursts and in later changes', async () => {
    const clients = [await client(2, servers, sockets), await client(3, servers, sockets), await client(4, servers, sockets)];
    const logs: string[] = [];
    const s = new Speaker(config({ log: (_level, message) => logs.push(message) }));
    live.push(s);
    for (const c of clients) s.addPeer(clientPeer(c));
    await s.start();
    // Once per process: an earlier speaker in this test process may have warmed it up already.
    expect(logs.some((l) => /^JIT warm-up: (\d+ synthetic routes|this process is already warm)/.test(l)), 'a reflector warms up').to.equal(true);
    expect(s.routeCount()).to.equal(0); // the warm-up's scratch RIB left nothing behind
    for (const c of clients) await waitFor(`c${c.n} Established with End-of-RIB`, () => established(s, `c${c.n}`) && c.endOfRib);
    // A burst: every client announces two blocks at once.
    for (const c of clients) announce(c, [block(c.n), block(c.n + 10)]);
    for (const c of clients) await waitFor(`c${c.n} holds the other clients' blocks`, () => c.rib.size === 4);
    for (const c of clients) {
      const others = clients.filter((o) => o !== c);
      expect([...c.rib.keys()].sort(), `c${c.n}`).to.deep.equal(others.flatMap((o) => [block(o.n), block(o.n + 10)]).sort());
      for (const o of others) expect(c.rib.get(block(o.n))).to.equal(rid(o.n)); // ORIGINATOR_ID
      expect(c.announced.filter((p) => p === block(c.n) || p === block(c.n + 10)), `c${c.n} got its own blocks back`).to.deep.equal([]);
    }
    // A change of one client's route (new MED): the others get it, it does not.
    const before = clients.map((c) => c.announced.length);
    announce(clients[0], [block(2)], { med: 7 });
    for (const c of clients.slice(1)) await waitFor(`c${c.n} sees the new MED`, () => c.announced.length === before[c.n - 2] + 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(clients[0].announced.length).to.equal(before[0]);
    // The group still counts every member as advertised to: status shows what the group sent.
    expect(s.peerStatus().find((p) => p.name === 'c2')!.families['ipv4-unicast'].advertised).to.equal(6);
  });

  it('a client that joins later gets the table without its own routes; warmUp: false skips the warm-up', async () => {
    const clients = [await client(5, servers, sockets), await client(6, servers, sockets)];
    const logs: string[] = [];
    const s = new Speaker(config({ warmUp: false, log: (_level, message) => logs.push(message) }));
    live.push(s);
    s.addPeer(clientPeer(clients[0]));
    await s.start();
    expect(logs.some((l) => l.startsWith('JIT warm-up'))).to.equal(false);
    await waitFor('c5 Established', () => established(s, 'c5') && clients[0].endOfRib);
    announce(clients[0], [block(5)]);
    await waitFor('c5 block in the Loc-RIB', () => s.routeCount() === 1);
    s.addPeer(clientPeer(clients[1]));
    await waitFor('c6 Established with End-of-RIB', () => established(s, 'c6') && clients[1].endOfRib);
    expect([...clients[1].rib.keys()]).to.deep.equal([block(5)]);
    announce(clients[1], [block(6)]);
    await waitFor('c5 gets c6 block', () => clients[0].rib.has(block(6)));
    await new Promise((r) => setTimeout(r, 200));
    expect(clients[0].announced).to.deep.equal([block(6)]);
    expect(clients[1].announced).to.deep.equal([block(5)]);
  });

  it('warmUpReflection runs the whole path on its own RIB and returns what it did', () => {
    const r = warmUpReflection({ localAs: AS, routerId: rid(1), clusterId: rid(1), pools: [] }, { peers: 2, prefixesPerPeer: 50, rounds: 2 });
    // 2 peers x 50 prefixes: 2 announce rounds + the withdrawal round, in each of two sessions.
    expect(r.routes).to.equal(2 * (2 * 50 * 3));
    // Every change read through the speaker's change views: per session 100 new, 100 replaced,
    // 100 withdrawn.
    expect(r.changesViewed).to.deep.equal({ announced: 2 * (2 * 50 * 2), withdrawn: 2 * (2 * 50) });
    expect(r.messagesOut).to.be.greaterThan(0);
    expect(r.ms).to.be.a('number');
  });

  it('warmUpOnce warms a process up once: later speakers in it skip the workload', () => {
    const cfg = { localAs: AS, routerId: rid(1), pools: [] };
    const first = warmUpOnce(cfg, { peers: 2, prefixesPerPeer: 20, rounds: 1 });
    if (first) expect(first.routes).to.equal(2 * (2 * 20 * 2));
    expect(processWarmedUp()).to.equal(true);
    expect(warmUpOnce(cfg)).to.equal(null);
    // The scratch RIBs stay referenced (their hidden classes keep the compiled code), emptied.
    const kept = keptWarmUpRibs();
    expect(kept.length).to.equal(2);
    for (const rib of kept) {
      expect(rib.locRib.size()).to.equal(0);
      expect(rib.peers()).to.deep.equal([]);
    }
    // And one object of each class the receive path makes and drops, so their hidden classes
    // (and the code compiled against them) outlive the warm-up's full GC.
    const samples = keptWarmUpSamples();
    for (const kind of [Ipv4Nlri, UpdateResult, LocRibChange, Destination, Writer]) {
      expect(samples.some((x) => x instanceof kind), kind.name).to.equal(true);
    }
  });

  it('warmUpReflection also runs an accept-all iBGP peer (refused to its own group) and an eBGP peer', () => {
    const r = warmUpReflection({ localAs: AS, routerId: rid(1), clusterId: rid(1), pools: [] }, { peers: 4, prefixesPerPeer: 20, rounds: 1 });
    // 4 peers x 20 prefixes: 1 announce round + the withdrawal round, in each of two sessions.
    expect(r.routes).to.equal(2 * (4 * 20 * 2));
    // Every synthetic route takes the accept path (pool check, accept-all, eBGP AS_PATH checks).
    expect(r.rejected).to.equal(0);
    expect(r.messagesOut).to.be.greaterThan(0);
    // The accept-all iBGP peer's 20 routes are refused to its own group, of non-clients (RFC 4456
    // §6), in each session, and the refusal counters were read while the groups lived.
    expect(r.refused).to.deep.equal({ [ExportRefusal.NON_CLIENT_TO_NON_CLIENT]: 2 * 20 });
  });
});
