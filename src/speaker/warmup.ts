// JIT warm-up of the route-reflection path. A fresh Node process runs its first UPDATEs through
// V8's interpreter and compiles the hot functions with TurboFan on background threads while the
// burst is under way: for a route reflector that has just (re)started and gets every client's
// table at once, that is most of its CPU (bench/README.md "RR convergence": 10 clients x 1000
// prefixes took 0.14-0.19 s of CPU cold — ~0.05 s on the main thread, mostly interpreted code,
// the rest TurboFan and GC threads — and ~0.03 s in a warm process). warmUpReflection() runs a
// small synthetic reflection workload through the real code — UPDATE encode and decode (src/wire),
// framing, import and the Adj-RIB-In, the decision process and Loc-RIB (src/rib), the change views
// the speaker reports to the dataplane, an update group's export, packing and per-member origin
// tags, encoding of the output — on two scratch Ribs that are dropped afterwards. Nothing of it
// reaches the speaker's own RIB, peers or sockets.
//
// The workload mirrors RFC 4456 reflection between iBGP clients (§6, with ORIGINATOR_ID and
// CLUSTER_LIST added on export, §8): announcements, replacements (implicit withdraw, RFC 4271
// §3.1) and explicit withdrawals, in processing rounds like the speaker's. The same functions
// learn a full table from one peer (decode, import, Adj-RIB-In, decision), so every speaker
// warms up, once per process (JIT state is per process). Afterwards one full garbage collection
// returns the workload's heap at once, instead of V8 keeping it until its memory reducer runs.
//
// What the warm-up must not leave out, or the first real UPDATEs run interpreted again (seen with
// --trace-deopt in bench/speaker's learn: hot functions recompiled mid-table):
// - every import and export branch a node's peers take: cluster peers (pool-checked), external
//   peers with accept-all import (a ToR, iBGP or eBGP), a group that refuses a peer's routes by
//   split horizon (RFC 4271 §9.2) and one that exports them with next-hop self and AS prepend;
// - the scratch RIBs themselves: optimized code holds weak references to the hidden classes and
//   closures it was compiled against, and V8 discards that code when they die ("weak objects"
//   deoptimization). warmUpOnce keeps the emptied RIBs (a few KiB), and one object of each class
//   the receive path makes and drops (a decoded Ipv4Nlri, an UpdateResult, a Loc-RIB change and
//   its view, a learned Destination and the Route that replaced its path, a destination with a
//   second path, an encoder's Writer), whose hidden classes nothing else holds, for the life of
//   the process.
import { performance } from 'perf_hooks';
import { collectGarbage } from '../lib/gc';
import { Framer, decodeMessage, encodeMessage } from '../wire';
import { Writer } from '../wire/writer';
import { codecContext, IPV4_UNICAST } from '../wire/family';
import type { PathAttributes, UpdateMessage } from '../wire/types';
import { Rib } from '../rib/rib';
import type { LocRibChange } from '../rib/loc-rib';
import { ribPeer, StandaloneRoute } from '../rib/route';
import { AttributeStore } from '../rib/attributes';
import { Destination } from '../rib/destination';
import { MAX_MESSAGE_SIZE, packAnnouncements, packWithdrawals, type PackContext } from '../rib/packing';
import type { GroupTx, UpdateGroup } from '../rib/adj-rib-out';
import { exportProfile, importRule, ribPeerInit } from './config';
import type { PeerConfig, RouteChange, SpeakerConfig } from './types';
import { routeChangeViews } from './views';

export interface WarmUpOptions {
  /** Synthetic client peers (each announces its own prefixes), 2..16. Default 4. */
  peers?: number;
  /** Prefixes per peer, 1..4096 (one UPDATE of /24s holds ~1000). Default 1000. */
  prefixesPerPeer?: number;
  /** Announce / replace rounds before the final withdrawal, in each of the two sessions. Default 4. */
  rounds?: number;
}

export interface WarmUpResult {
  /** Wall-clock milliseconds the warm-up took. */
  ms: number;
  /** Routes received by the scratch RIBs (announcements and withdrawals). */
  routes: number;
  /** UPDATEs the scratch update groups produced and encoded. */
  messagesOut: number;
  /** Announced routes import policy rejected: 0 when every synthetic route took the accept path. */
  rejected: number;
  /** Best paths the scratch update groups did not send, by reason (split horizon: RFC 4456 §6). */
  refused: Record<string, number>;
  /**
   * Loc-RIB changes read through the speaker's change views (routeChangeViews) as the agent's
   * dataplane reads them: announcements with a next hop, and withdrawals.
   */
  changesViewed: { announced: number; withdrawn: number };
}

let processWarm = false;
/**
 * What this process's warm-up keeps alive: its scratch RIBs, emptied (see the header), and one
 * of each kind of object the receive path makes and drops (see the header's list).
 * The hidden class V8 builds for such an object is held only by its instances; when the last one
 * dies, every function compiled against it is thrown away ("weak objects" deopts of the decoder,
 * Adj-RIB-In put/find/withdraw and the encoder, seen with --trace-deopt after the warm-up's full
 * GC) and compiled again in the middle of the first table.
 */
let kept: { ribs: readonly Rib[]; samples: readonly unknown[] } = { ribs: [], samples: [] };

/** The emptied scratch RIBs warmUpOnce keeps alive ([] before it ran). */
export function keptWarmUpRibs(): readonly Rib[] {
  return kept.ribs;
}

/** The receive path's objects warmUpOnce keeps alive ([] before it ran; see the header). */
export function keptWarmUpSamples(): readonly unknown[] {
  return kept.samples;
}

/** True once a warm-up ran in this process (see warmUpOnce). */
export function processWarmedUp(): boolean {
  return processWarm;
}

/**
 * Runs warmUpReflection() unless this process already did, then collects the garbage it left
 * (collectGarbage). Null when the process was already warm.
 */
export function warmUpOnce(config: SpeakerConfig, opts: WarmUpOptions = {}): WarmUpResult | null {
  if (processWarm) return null;
  processWarm = true;
  const t0 = performance.now();
  const { result, ribs, samples } = runWarmUp(config, opts);
  kept = { ribs, samples };
  collectGarbage();
  return { ...result, ms: performance.now() - t0 };
}

/**
 * A destination with two paths, for the samples: its DestinationExtra (the record of paths after
 * the first) is a class whose instances all die with the scratch RIBs' last multi-path prefix.
 */
function twoPathDestination(): Destination {
  const attrs = new AttributeStore().intern({ origin: 0, asPath: [], nextHop: `${PEER_NET}1` });
  const d = new Destination(IPV4_UNICAST, `${PEER_NET}0/24`);
  for (const n of [1, 2]) d.addPath(new StandaloneRoute(ribPeer({ id: `${PEER_NET}${n}`, kind: 'ibgp', asn: 64496 }), IPV4_UNICAST, d, 0, attrs, 0));
  return d;
}

/** Times the synthetic peers come up, run their rounds and go (see runWarmUp). */
const WARM_UP_SESSIONS = 2;

/** RFC 5737 TEST-NET-1: addresses of the synthetic peers; nothing is ever sent to them. */
const PEER_NET = '192.0.2.';
/** The scratch RIBs' pool, which the synthetic prefixes lie in. */
const POOL = '10.0.0.0/8';
/** RFC 5398 documentation AS numbers, for the synthetic eBGP peer (one that is not ours). */
const EBGP_AS = [64496, 64497];

/**
 * The synthetic peers, in turn: two route-reflector clients (cluster import rule), an internal
 * external-type peer (accept-all import; the group of iBGP non-clients refuses what it learned
 * from one, RFC 4456 §6) and an eBGP peer (accept-all; export with next-hop self and AS prepend).
 */
function syntheticPeer(i: number, localAs: number): PeerConfig {
  const address = `${PEER_NET}${i + 1}`;
  const name = `warm-up-${i}`;
  switch (i % 4) {
    case 2: return { name, address, peerAs: localAs, type: 'external' };
    case 3: return { name, address, peerAs: EBGP_AS[0] === localAs ? EBGP_AS[1] : EBGP_AS[0], type: 'external' };
    default: return { name, address, peerAs: localAs, type: 'rr-client' };
  }
}

/**
 * Runs the warm-up synchronously (~0.3 s in a fresh process, ~0.6 s of CPU with V8's compiler
 * threads; the heap it grows is returned by V8's memory reducer once the process idles). `config`
 * gives the speaker's identity (AS, router id, cluster id), so the same export branches run as
 * for its real clients.
 */
export function warmUpReflection(config: SpeakerConfig, opts: WarmUpOptions = {}): WarmUpResult {
  return runWarmUp(config, opts).result;
}

/** warmUpReflection, also handing back its (emptied) scratch RIBs and the samples to keep. */
function runWarmUp(config: SpeakerConfig, opts: WarmUpOptions): { result: WarmUpResult; ribs: Rib[]; samples: unknown[] } {
  const t0 = performance.now();
  const peerCount = Math.max(2, Math.min(opts.peers ?? 4, 16));
  const perPeer = Math.max(1, Math.min(opts.prefixesPerPeer ?? 1000, 4096));
  const rounds = Math.max(1, opts.rounds ?? 4);
  const s: SpeakerConfig = {
    localAs: config.localAs,
    routerId: config.routerId,
    // RFC 4456 §7: reflection needs a CLUSTER_ID; our own when we have one.
    clusterId: config.clusterId ?? config.routerId,
    pools: [POOL],
    nextHopIPv4: config.nextHopIPv4 ?? PEER_NET + '254',
  };
  // Two scratch RIBs, used in turn: objects that every Rib makes for itself (the Loc-RIB's
  // next-hop resolver closure, its tables) then reach each call site in two instances, so what
  // V8 compiles does not specialize on one of them — and still fits the speaker's own RIB, which
  // is a third (a call site compiled for exactly one closure would be deoptimized by the real one).
  const ribs = [0, 1].map(() => new Rib({ localAs: s.localAs, routerId: s.routerId, clusterId: s.clusterId, pools: s.pools }));
  const tx: GroupTx = { families: [IPV4_UNICAST], as4: true, addPath: new Set(), extendedMessage: false };
  const ctx = codecContext({ as4: true, numericIpv4: true });
  const pack: PackContext = { as4: true, addPath: false, maxSize: MAX_MESSAGE_SIZE };
  const peers: PeerConfig[] = [];
  for (let i = 0; i < peerCount; i++) peers.push(syntheticPeer(i, s.localAs));
  const ribOf = (i: number): Rib => ribs[i % ribs.length];
  const prefixesOf = (i: number): string[] => {
    const out: string[] = [];
    for (let j = 0; j < perPeer; j++) {
      const k = i * perPeer + j;
      out.push(`10.${(k >> 8) & 255}.${k & 255}.0/24`);
    }
    return out;
  };
  let routes = 0;
  let rejected = 0;
  let messagesOut = 0;
  const framer = new Framer();
  const samples: unknown[] = [new Writer()];
  let decoded: unknown = null;
  let change: LocRibChange | null = null;
  let view: RouteChange | null = null;
  const changesViewed = { announced: 0, withdrawn: 0 };
  const receive = (rib: Rib, peer: string, msgs: readonly UpdateMessage[]): void => {
    for (const m of msgs) {
      // The wire bytes as a peer sends them, framed and decoded as PeerConnection does.
      for (const frame of framer.push(encodeMessage(m, ctx))) {
        const u = decodeMessage(frame, ctx);
        if (u.type !== 'update') continue;
        const r = rib.receive(peer, u, performance.now());
        if (decoded === null && u.nlri.length > 0) {
          decoded = u.nlri[0];
          samples.push(decoded, r);
        }
        routes += r.announced + r.withdrawn;
        rejected += r.rejected;
      }
    }
  };
  /** Each scratch group's refusal counters as last read (a group leaves with its last peer). */
  const refusedBy = new Map<UpdateGroup, ReadonlyMap<string, number>>();
  const processRound = (): void => {
    for (const rib of ribs) {
      const { changes, outputs } = rib.process();
      if (change === null && changes.length > 0) {
        change = changes[0];
        samples.push(change);
      }
      // The changes as the speaker reports them, read as the agent's dataplane reads them.
      const views = routeChangeViews(changes, (t) => t);
      if (view === null && views.length > 0) {
        view = views[0];
        samples.push(view);
      }
      for (const v of views) {
        if (v.local || v.prefix === '') continue;
        if (v.withdrawn) changesViewed.withdrawn++;
        else if (v.nextHops.length > 0) changesViewed.announced++;
      }
      // Each group's refusal counters are read, as a metrics scrape reads them: that ends the
      // group's run of refusals, so the next refusal takes the path that starts a run, which a
      // new group's first refusal takes; without type feedback there, V8 threw the compiled
      // change loop away at the real table's first refusal (seen with --trace-deopt).
      for (const g of rib.updateGroups()) refusedBy.set(g, new Map(g.refused));
      for (const o of outputs) {
        for (const m of o.messages) {
          encodeMessage(m, o.group.codecContext());
          o.group.origin(m);
          messagesOut++;
        }
      }
    }
  };
  // Two sessions of the synthetic peers: the first one's end (every route withdrawn, the peers
  // removed) makes V8 throw compiled code away for shapes it meets there first; the second runs
  // the same rounds with what V8 has learnt, so the warm-up ends with the receive path compiled
  // and its last steps throw nothing away (seen with --trace-opt: with one session, Adj-RIB-In's
  // announce loop or put was compiled again in the middle of the first real table in some runs).
  for (let session = 0; session < WARM_UP_SESSIONS; session++) {
    for (let i = 0; i < peerCount; i++) {
      const cfg = peers[i];
      const rib = ribOf(i);
      rib.addPeer(ribPeer(ribPeerInit(s, cfg)), importRule(cfg));
      rib.setPeerRouterId(cfg.name, cfg.address);
      rib.joinGroup(cfg.name, exportProfile(s, cfg, null), tx);
    }
    for (let r = 0; r <= rounds; r++) {
      for (let i = 0; i < peerCount; i++) {
        const prefixes = prefixesOf(i);
        const cfg = peers[i];
        if (r === rounds) {
          if (i === 0 && session === 0) {
            // A learned prefix's Destination (its first path stored in it) and the path that
            // replaced that one (a StandaloneRoute), before the withdrawal takes them out.
            const d = ribOf(i).locRib.lookup(prefixes[0]);
            if (d) samples.push(d);
            if (d && d.first !== d) samples.push(d.first);
            samples.push(twoPathDestination());
          }
          receive(ribOf(i), cfg.name, packWithdrawals(IPV4_UNICAST, prefixes, pack));
        } else {
          if (r % 2 === 0 && r > 0) {
            // Every other round the routes are withdrawn first, so the announcement below makes
            // new destinations again (as a full table does, 100k of them) instead of replacing
            // paths: in one round of 4,000 V8 did not yet compile that path, and then compiled it
            // in the middle of the first real table (seen with --trace-opt).
            receive(ribOf(i), cfg.name, packWithdrawals(IPV4_UNICAST, prefixes, pack));
            processRound();
          }
          // A new LOCAL_PREF (MED from the eBGP peer) each round: every route is replaced (RFC 4271
          // §3.1 implicit withdraw). The attributes a BIRD or Calico client sends (ORIGIN, AS_PATH,
          // NEXT_HOP, LOCAL_PREF), or a ToR (its AS first in the AS_PATH, RFC 4271 §5.1.2), so V8
          // sees the decoded attribute objects with the shape real UPDATEs give them.
          const attrs: PathAttributes = cfg.peerAs === s.localAs
            ? { origin: 0, asPath: [], nextHop: cfg.address, localPref: 100 + r }
            : { origin: 0, asPath: [{ type: 2, asns: [cfg.peerAs] }], nextHop: cfg.address, med: 100 + r };
          receive(ribOf(i), cfg.name, packAnnouncements(IPV4_UNICAST, attrs, prefixes, pack));
        }
        // A round per UPDATE, as the speaker runs them while a burst trickles in.
        processRound();
      }
      processRound();
    }
    for (let i = 0; i < peerCount; i++) ribOf(i).removePeer(peers[i].name);
    processRound();
  }
  const refused: Record<string, number> = {};
  for (const counts of refusedBy.values()) for (const [reason, n] of counts) refused[reason] = (refused[reason] ?? 0) + n;
  return { result: { ms: performance.now() - t0, routes, messagesOut, rejected, refused, changesViewed }, ribs, samples };
}
