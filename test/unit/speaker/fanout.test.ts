// Update-group fan-out (issue "Route reflection at cluster scale", part 2), end to end over
// loopback TCP: one Speaker and three hand-driven passive peers in ONE update group (same eBGP AS,
// same source address, same capabilities). Each round's UPDATEs are encoded once and the same
// bytes written to every member (RFC 4271 §9.2); a joining member's full table comes from a cached
// encoding; a member that stops reading its socket does not hold back the others, the speaker's
// queue for it stays under the configured bound, and when it reads again it is brought to exactly
// the group's Adj-RIB-Out (announcements and withdrawals), followed by nothing stale.
import { expect } from 'chai';
import * as net from 'net';
import { Speaker } from '../../../src/speaker';
import type { PeerConfig, SpeakerConfig } from '../../../src/speaker';
import { PeerOutbox, type OutputSink } from '../../../src/speaker/outbox';
import { codecContext, decodeMessage, encodeMessage } from '../../../src/wire';
import type { BgpMessage, Capability, OpenMessage, UpdateMessage } from '../../../src/wire/types';
import { endOfRib, endOfRibFamily } from '../../../src/wire/eor';
import { waitFor } from '../../helpers/lab';
import { speakerTestResources } from './resources';
import { answeringPeer, type AnsweringPeer } from './raw-peer';

const AS = 64512;
const PEER_AS = 64700;
const addr = (n: number): string => `127.77.9.${n}`;
const SPEAKER = 1;

/** A passive raw BGP peer: accepts the speaker's connection, answers OPEN, keeps its Adj-RIB-In. */
interface RawPeer {
  n: number;
  port: number;
  /** The connection the speaker opened (sock: null until then). */
  conn: AnsweringPeer;
  /** prefix → MED of the route held (the MED identifies the wave that announced it). */
  rib: Map<string, number | undefined>;
  updates: number;
  endOfRib: boolean;
}

function rawOpen(n: number): OpenMessage {
  const capabilities: Capability[] = [{ code: 1, kind: 'multiprotocol', afi: 1, safi: 1 }, { code: 65, kind: 'as4', asn: PEER_AS }, { code: 2, kind: 'route-refresh' }];
  return { type: 'open', version: 4, myAs: PEER_AS, holdTime: 90, bgpId: `10.79.0.${n}`, capabilities };
}

async function rawPeer(n: number, servers: net.Server[], sockets: net.Socket[]): Promise<RawPeer> {
  const p: RawPeer = { n, port: 0, conn: { port: 0, sock: null }, rib: new Map(), updates: 0, endOfRib: false };
  p.conn = await answeringPeer(addr(n), rawOpen(n), servers, sockets, (m) => {
    if (m.type !== 'update') return;
    p.updates++;
    if (endOfRibFamily(m) !== null) p.endOfRib = true;
    for (const w of m.withdrawn) p.rib.delete(w.prefix);
    for (const a of m.nlri) p.rib.set(a.prefix, m.attributes.med);
  });
  p.port = p.conn.port;
  return p;
}

function speakerConfig(extra: Partial<SpeakerConfig> = {}): SpeakerConfig {
  return {
    localAs: AS,
    routerId: '10.79.0.1',
    listen: [],
    nextHopIPv4: addr(SPEAKER),
    pools: ['10.244.0.0/16'],
    connectRetryTime: 1,
    holdTime: 90,
    backoff: { initialMs: 100, maxMs: 500, stableMs: 60_000 },
    gracefulRestart: { enabled: false },
    ...extra,
  };
}

function peerConfig(p: RawPeer): PeerConfig {
  return { name: `raw${p.n}`, address: addr(p.n), port: p.port, peerAs: PEER_AS, type: 'external', sourceAddress: addr(SPEAKER), families: ['ipv4-unicast'] };
}

const prefixOf = (i: number): string => `10.244.${i >> 8}.${i & 255}/32`;
/** A MED per wave and prefix: every prefix has its own attribute set, so its own UPDATE. */
const medOf = (wave: number, i: number): number => wave * 10_000 + i;
/** 200 communities: each UPDATE about 900 bytes, one prefix per UPDATE (distinct MEDs). */
const COMMUNITIES = Array.from({ length: 200 }, (_, i) => AS * 65536 + i);
const established = (s: Speaker, name: string): boolean => s.peerStatus().find((x) => x.name === name)?.state === 'Established';
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 5));

describe('speaker: update-group fan-out and slow peers', function () {
  this.timeout(90000);
  const { live, sockets, servers } = speakerTestResources();

  async function setUp(extra: Partial<SpeakerConfig>, before?: (s: Speaker) => void): Promise<{ s: Speaker; peers: RawPeer[] }> {
    const peers = [await rawPeer(2, servers, sockets), await rawPeer(3, servers, sockets), await rawPeer(4, servers, sockets)];
    const s = new Speaker(speakerConfig(extra));
    live.push(s);
    before?.(s);
    for (const p of peers) s.addPeer(peerConfig(p));
    await s.start();
    for (const p of peers) await waitFor(`raw${p.n} Established with its End-of-RIB`, () => established(s, `raw${p.n}`) && p.endOfRib);
    return { s, peers };
  }

  it('N members, 1 encoding: a round\'s UPDATEs and a joining member\'s table are encoded once for the group', async () => {
    const TABLE = 100;
    const { s, peers } = await setUp({}, (sp) => {
      for (let i = 0; i < TABLE; i++) sp.originate(prefixOf(i), { med: i });
    });
    // The three joined one after another with an unchanged group: the table was encoded once,
    // plus one End-of-RIB per join; every member was written table + End-of-RIB.
    for (const p of peers) expect(p.rib.size).to.equal(TABLE);
    expect(s.counters.messagesEncoded).to.equal(TABLE + 3);
    expect(s.counters.messagesWritten).to.equal(3 * (TABLE + 1));
    const before = { ...s.counters };
    const updatesBefore = peers.map((p) => p.updates);
    // One round: 50 changed MEDs → 50 UPDATEs, encoded once, written three times.
    for (let i = 0; i < 50; i++) s.originate(prefixOf(i), { med: 1000 + i });
    for (const p of peers) await waitFor(`raw${p.n} has the new MEDs`, () => p.rib.get(prefixOf(49)) === 1049);
    const sent = peers.map((p, k) => p.updates - updatesBefore[k]);
    expect(sent).to.deep.equal([50, 50, 50]);
    expect(s.counters.messagesEncoded - before.messagesEncoded).to.equal(50);
    expect(s.counters.messagesWritten - before.messagesWritten).to.equal(150);
    // RFC 2918 route refresh from two members: the changed table is encoded for the first and
    // served from the cache to the second.
    const r0 = { ...s.counters };
    const updatesAt = peers.map((p) => p.updates);
    for (const p of peers.slice(0, 2)) {
      p.conn.sock!.write(encodeMessage({ type: 'route-refresh', afi: 1, safi: 1, subtype: 0 }, codecContext()));
      await waitFor(`raw${p.n} gets the table again`, () => p.updates - updatesAt[p.n - 2] === TABLE);
    }
    expect(s.counters.messagesEncoded - r0.messagesEncoded).to.equal(TABLE);
    expect(s.counters.messagesWritten - r0.messagesWritten).to.equal(2 * TABLE);
  });

  it('a member that stops reading: fast members get every update promptly, the queue stays under its bound, and on resume it ends with exactly the group\'s routes', async () => {
    const LIMIT = 256 * 1024;
    const PREFIXES = 1000;
    const WAVES = 30;
    const { s, peers } = await setUp({ outputQueueLimitBytes: LIMIT }, (sp) => {
      for (let i = 0; i < PREFIXES; i++) sp.originate(prefixOf(i), { med: medOf(0, i), communities: COMMUNITIES });
    });
    const [fast1, fast2, slow] = peers;
    for (const p of peers) expect(p.rib.size).to.equal(PREFIXES);
    slow.conn.sock!.pause(); // reads nothing from now on: its socket and kernel buffers fill up
    let maxQueued = 0;
    let maxSocket = 0;
    let sawOutOfSync = false;
    const sample = (): void => {
      const o = s.peerOutput('raw4');
      maxQueued = Math.max(maxQueued, o.queuedBytes);
      maxSocket = Math.max(maxSocket, o.socketBytes);
      sawOutOfSync ||= o.outOfSync;
    };
    const sampler = setInterval(sample, 10);
    try {
      for (let w = 1; w <= WAVES; w++) {
        for (let i = 0; i < PREFIXES; i++) s.originate(prefixOf(i), { med: medOf(w, i), communities: COMMUNITIES });
        // Let the round run and the fast peers read, so the waves are separate rounds.
        await tick();
        sample();
      }
      // The last change while the slow peer is out of sync: withdrawals it must get on resync.
      for (let i = 0; i < 100; i++) s.withdraw(prefixOf(i));
      const expected = new Map<string, number | undefined>();
      for (let i = 100; i < PREFIXES; i++) expected.set(prefixOf(i), medOf(WAVES, i));
      const t0 = Date.now();
      for (const p of [fast1, fast2]) await waitFor(`raw${p.n} has the final routes`, () => sameRoutes(p.rib, expected), 20000);
      const fastMs = Date.now() - t0;
      sample();
      expect(sawOutOfSync, 'the slow peer overflowed its bound').to.equal(true);
      expect(maxQueued).to.be.at.most(LIMIT);
      // The socket buffer is bounded by the PeerConnection's high-water mark (1 MiB) plus one write.
      expect(maxSocket).to.be.below((1 << 20) + 64 * 1024);
      expect(slow.rib.get(prefixOf(500)), 'the slow peer is behind').to.not.equal(medOf(WAVES, 500));
      expect(fastMs, 'fast peers are not held back').to.be.below(15000);
      slow.conn.sock!.resume();
      await waitFor('the slow peer ends with exactly the group\'s routes', () => sameRoutes(slow.rib, expected), 30000);
      expect(s.counters.resyncs).to.be.at.least(1);
      if (process.env.FANOUT_VERBOSE) console.log(JSON.stringify({ fastMs, maxQueued, maxSocket, resumeMs: Date.now() - t0 - fastMs, counters: s.counters, output: s.peerOutput('raw4') }));
      const o = s.peerOutput('raw4');
      expect(o.outOfSync).to.equal(false);
      expect(o.overflows).to.be.at.least(1);
      // Changes after the resync flow normally again.
      s.originate(prefixOf(0), { med: 7777 });
      for (const p of peers) await waitFor(`raw${p.n} gets a change after the resync`, () => p.rib.get(prefixOf(0)) === 7777);
    } finally {
      clearInterval(sampler);
    }
  });

  it('rejects an output queue bound below 4096 bytes with an error naming the field', () => {
    expect(() => new Speaker(speakerConfig({ outputQueueLimitBytes: 100 }))).to.throw(/outputQueueLimitBytes/);
  });
});

function sameRoutes(got: ReadonlyMap<string, number | undefined>, want: ReadonlyMap<string, number | undefined>): boolean {
  if (got.size !== want.size) return false;
  for (const [k, v] of want) if (!got.has(k) || got.get(k) !== v) return false;
  return true;
}

// The queue on its own, with a sink that takes `room` messages before reporting congestion.
describe('speaker: PeerOutbox ordering and markers', () => {
  const ctx = codecContext();
  const upd = (prefix: string, med: number): UpdateMessage => ({ type: 'update', withdrawn: [], nlri: [{ prefix }], attributes: { origin: 0, asPath: [], nextHop: '192.0.2.1', med } });
  const wd = (prefix: string): UpdateMessage => ({ type: 'update', withdrawn: [{ prefix }], nlri: [], attributes: {} });
  const enc = (ms: BgpMessage[]): Buffer[] => ms.map((m) => encodeMessage(m, ctx));
  function sink(): OutputSink & { out: BgpMessage[]; room: number } {
    const k = {
      out: [] as BgpMessage[],
      room: Infinity,
      write(b: Buffer): boolean {
        k.out.push(decodeMessage(b, ctx));
        k.room--;
        return k.room > 0;
      },
    };
    return k;
  }

  it('keeps order across congestion, drops past the bound, remembers touched prefixes, and holds End-of-RIB and EoRR for after the resync', () => {
    const box = new PeerOutbox(4096);
    const k = sink();
    k.room = 1;
    const first = [upd('10.0.0.0/24', 1), upd('10.0.1.0/24', 1)];
    box.send(k, first, enc(first));
    expect(k.out.length).to.equal(1); // congested after the first
    expect(box.queuedMessages).to.equal(1);
    // A batch bigger than the bound: the peer goes out of sync, nothing more is queued.
    const big = Array.from({ length: 200 }, (_, i) => upd(`10.1.${i}.0/24`, 2));
    const more = [...big, wd('10.0.0.0/24'), endOfRib('ipv4-unicast'), { type: 'route-refresh' as const, afi: 1, safi: 1, subtype: 1 }, upd('10.2.0.0/24', 3), { type: 'route-refresh' as const, afi: 1, safi: 1, subtype: 2 }];
    box.send(k, more, enc(more));
    expect(box.outOfSync).to.equal(true);
    expect(box.queuedMessages).to.equal(1);
    expect(box.dirtyCount).to.equal(202); // 200 + the withdrawn 10.0.0.0/24 + 10.2.0.0/24
    k.room = Infinity;
    expect(box.pump(k)).to.equal('resync-needed');
    expect((k.out[1] as UpdateMessage).nlri[0].prefix).to.equal('10.0.1.0/24');
    const dirty = box.takeResync();
    expect([...dirty.get('ipv4-unicast')!]).to.include.members(['10.0.0.0/24', '10.1.199.0/24', '10.2.0.0/24']);
    const resync = [upd('10.1.0.0/24', 2)];
    expect(box.resync(k, enc(resync))).to.equal('idle');
    // The resync, then End-of-RIB; the BoRR was dropped and so was its EoRR.
    expect(k.out.slice(2).map((m) => (m.type === 'update' ? (endOfRibFamily(m) ? 'eor' : 'update') : m.type))).to.deep.equal(['update', 'eor']);
    expect(box.idle).to.equal(true);
  });
});
