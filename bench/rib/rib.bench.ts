// RIB benchmark: N peers × M IPv4 prefixes arriving as full 4096-octet UPDATEs in wire format
// → decode (src/wire) → Adj-RIB-In (import policy, interning) → Loc-RIB (decision process),
// optionally → one update group (export + packing, the route-reflector fan-out). Reports wall
// time and retained heap per route. The UPDATEs are built and encoded before the clock starts.
//
//   node <build>/bench/rib/rib.bench.js [--passes 5]        the three standard scenarios
//   node <build>/bench/rib/rib.bench.js --peers 10 [--prefixes 100000] [--attr-sets 10]
//        [--export] [--round 16] [--numeric] [--passes 5] [--json]        one scenario
// --numeric decodes IPv4 NLRI as numbers, as the speaker does once a session is up.
// Time is wall clock and process CPU (user + system, GC threads included); the machine is shared,
// so CPU time is the steadier figure. Heap is heapUsed after a full GC, minus the same before.
import * as os from 'os';
import { codecContext, decodeMessage, encodeMessage } from '../../src/wire';
import type { PathAttributes, UpdateMessage } from '../../src/wire/types';
import { packAnnouncements } from '../../src/rib/packing';
import { Rib } from '../../src/rib/rib';
import { ribPeer } from '../../src/rib/route';
import { collectGarbage } from '../../src/lib/gc';

interface Options {
  /** Set when the command line chose a scenario. */
  single: boolean;
  json: boolean;
  peers: number;
  prefixes: number;
  passes: number;
  attrSets: number;
  exportGroup: boolean;
  /** UPDATEs per processing round (a socket read's worth). */
  round: number;
  /** Decode IPv4 NLRI as numbers, as the speaker does after negotiation (CodecContext.numericIpv4). */
  numeric: boolean;
}

function parseArgs(argv: string[]): Options {
  const o: Options = { single: false, json: false, peers: 1, prefixes: 100_000, passes: 5, attrSets: 10, exportGroup: false, round: 16, numeric: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const num = (): number => {
      const v = Number(argv[++i]);
      if (!Number.isInteger(v) || v <= 0) throw new Error(`${a} needs a positive integer`);
      return v;
    };
    if (a === '--peers') {
      o.peers = num();
      o.single = true;
    } else if (a === '--prefixes') {
      o.prefixes = num();
      o.single = true;
    } else if (a === '--json') o.json = true;
    else if (a === '--passes') o.passes = num();
    else if (a === '--attr-sets') o.attrSets = num();
    else if (a === '--round') o.round = num();
    else if (a === '--numeric') o.numeric = true;
    else if (a === '--export') {
      o.exportGroup = true;
      o.single = true;
    }
    else throw new Error(`unknown option ${a}`);
  }
  return o;
}

function prefixText(i: number): string {
  // /24s from 20.0.0.0 upward.
  const x = (20 << 24) + i * 256;
  return `${(x >>> 24) & 255}.${(x >>> 16) & 255}.${(x >>> 8) & 255}.0/24`;
}

/** The encoded UPDATEs one peer sends: `attrSets` attribute sets over the prefixes. */
function buildStream(peerIndex: number, o: Options): Buffer[] {
  const ctx = codecContext();
  const peerAs = 65100 + peerIndex;
  const nextHop = `172.16.${peerIndex >> 8}.${(peerIndex & 255) + 1}`;
  const perSet = Math.ceil(o.prefixes / o.attrSets);
  const out: Buffer[] = [];
  for (let s = 0; s < o.attrSets; s++) {
    const attrs: PathAttributes = {
      origin: 0,
      asPath: [{ type: 2, asns: [peerAs, 64512 + s, 64600 + (s % 3)] }],
      nextHop,
      communities: [peerAs * 65536 + s],
    };
    const prefixes: string[] = [];
    for (let i = s * perSet; i < Math.min(o.prefixes, (s + 1) * perSet); i++) prefixes.push(prefixText(i));
    for (const m of packAnnouncements('ipv4-unicast', attrs, prefixes, { as4: true, addPath: false, maxSize: 4096 })) out.push(encodeMessage(m, ctx));
  }
  return out;
}

function gc(): void {
  collectGarbage();
  collectGarbage();
}

function median(xs: number[]): number {
  const s = xs.slice().sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function onePass(streams: Buffer[][], o: Options): { ms: number; cpuMs: number; bytesPerRoute: number; locRib: number; messages: number; outMessages: number } {
  gc();
  const before = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const rib = new Rib({ localAs: 65000, routerId: '10.0.0.100', clusterId: '10.0.0.100', pools: [] });
  const ids: string[] = [];
  for (let p = 0; p < streams.length; p++) {
    const peer = ribPeer({ id: `172.16.${p >> 8}.${(p & 255) + 1}`, kind: 'ebgp', asn: 65100 + p, routerId: `172.16.${p >> 8}.${(p & 255) + 1}` });
    rib.addPeer(peer, { kind: 'accept-all' });
    ids.push(peer.id);
  }
  let outMessages = 0;
  if (o.exportGroup) {
    const g = rib.joinGroup('rr-client', {
      peerKind: 'ibgp', rrClient: true, localAs: 65000, routerId: '10.0.0.100', clusterId: '10.0.0.100',
      nextHopIPv4: '10.0.0.100', keepOriginalNextHop: false, nextHopSelf: false,
    }, { families: ['ipv4-unicast'], as4: true, addPath: new Set(), extendedMessage: false });
    outMessages += g.toNew.length;
  }
  const ctx = codecContext({ numericIpv4: o.numeric });
  let messages = 0;
  // Peers' streams interleave message by message, as sessions read concurrently would.
  const longest = Math.max(...streams.map((s) => s.length));
  let inRound = 0;
  for (let i = 0; i < longest; i++) {
    for (let p = 0; p < streams.length; p++) {
      const buf = streams[p][i];
      if (!buf) continue;
      const msg = decodeMessage(buf, ctx) as UpdateMessage;
      rib.receive(ids[p], msg, i);
      messages++;
      if (++inRound >= o.round) {
        inRound = 0;
        for (const out of rib.process().outputs) outMessages += out.messages.length;
      }
    }
  }
  for (const out of rib.process().outputs) outMessages += out.messages.length;
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  gc();
  const after = process.memoryUsage().heapUsed;
  const routes = streams.length * o.prefixes;
  const locRib = rib.locRib.size();
  // Keep the RIB alive until after the measurement.
  if (rib.peers().length !== streams.length) throw new Error('lost a peer');
  return { ms, cpuMs, bytesPerRoute: (after - before) / routes, locRib, messages, outMessages };
}

interface Row {
  scenario: string;
  routes: number;
  updatesIn: number;
  updatesOut: number;
  locRib: number;
  msMedian: number;
  msMin: number;
  msMax: number;
  cpuMsMedian: number;
  cpuUsPerRoute: number;
  heapBytesPerRoute: number;
  loadavg1: number;
}

function scenario(o: Options): Row {
  const streams: Buffer[][] = [];
  for (let p = 0; p < o.peers; p++) streams.push(buildStream(p, o));
  const results = [];
  for (let pass = 0; pass < o.passes; pass++) results.push(onePass(streams, o));
  const times = results.map((r) => r.ms);
  const cpus = results.map((r) => r.cpuMs);
  const mem = results.map((r) => r.bytesPerRoute);
  const r0 = results[0];
  const routes = o.peers * o.prefixes;
  return {
    scenario: `${o.peers} peer${o.peers > 1 ? 's' : ''} x ${o.prefixes} prefixes, ${o.attrSets} attribute sets${o.exportGroup ? ', + 1 update group' : ''}`,
    routes,
    updatesIn: r0.messages,
    updatesOut: r0.outMessages,
    locRib: r0.locRib,
    msMedian: +median(times).toFixed(1),
    msMin: +Math.min(...times).toFixed(1),
    msMax: +Math.max(...times).toFixed(1),
    cpuMsMedian: +median(cpus).toFixed(1),
    cpuUsPerRoute: +((median(cpus) * 1000) / routes).toFixed(2),
    heapBytesPerRoute: Math.round(median(mem)),
    loadavg1: +os.loadavg()[0].toFixed(1),
  };
}

function main(): void {
  const o = parseArgs(process.argv.slice(2));
  const runs: Options[] = o.single
    ? [o]
    : [
        { ...o, peers: 1, exportGroup: false },
        { ...o, peers: 1, exportGroup: true },
        { ...o, peers: 10, exportGroup: false, passes: Math.min(o.passes, 3) },
      ];
  for (const run of runs) {
    const r = scenario(run);
    if (o.json) console.log(JSON.stringify(r));
    else {
      console.log(`${r.scenario}: ${r.msMedian} ms wall (${r.msMin}–${r.msMax}), ${r.cpuMsMedian} ms CPU = ${r.cpuUsPerRoute} µs/route, ` +
        `${r.heapBytesPerRoute} B/route heap; ${r.updatesIn} UPDATEs in, ${r.updatesOut} out, Loc-RIB ${r.locRib}, load ${r.loadavg1}`);
    }
  }
}

main();
