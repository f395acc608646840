// Codec throughput: decode and encode of (1) streams of full 4096-octet IPv4 UPDATEs (all /24s,
// and mixed prefix lengths) and (2) a stream of small mixed IPv4/IPv6 UPDATEs with the
// attributes a route reflector sees (communities, ORIGINATOR_ID, CLUSTER_LIST, MP_REACH_NLRI v6).
// Reports the median of several timed passes over each stream, on one core.
// Run: npm run build && node dist/bench/codec/codec.bench.js [--passes N] [--json]
import * as os from 'os';
import {
  codecContext, decodeMessage, encodeMessage, type CodecContext, type Nlri, type UpdateMessage,
} from '../../src/wire';

interface Stream {
  name: string;
  messages: Buffer[];
  decoded: UpdateMessage[];
  prefixes: number;
  octets: number;
}

/** Deterministic PRNG (mulberry32) so every run measures the same bytes. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function v4Prefix(addr: number, len: number): string {
  const masked = len === 0 ? 0 : (addr & (~0 << (32 - len))) >>> 0;
  return `${masked >>> 24}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${len}`;
}

/** Fills UPDATEs up to 4096 octets with IPv4 NLRI from `next()`. */
function fullUpdates(ctx: CodecContext, count: number, next: () => string): UpdateMessage[] {
  const out: UpdateMessage[] = [];
  const attributes = { origin: 0 as const, asPath: [{ type: 2 as const, asns: [65001, 65002, 4200000001] }], nextHop: '192.0.2.1', med: 10 };
  const attrOctets = encodeMessage({ type: 'update', withdrawn: [], attributes, nlri: [] }, ctx).length;
  for (let i = 0; i < count; i++) {
    const nlri: Nlri[] = [];
    let size = attrOctets;
    for (;;) {
      const p = next();
      const len = Number(p.slice(p.indexOf('/') + 1));
      const n = 1 + ((len + 7) >> 3);
      if (size + n > 4096) break;
      nlri.push({ prefix: p });
      size += n;
    }
    out.push({ type: 'update', withdrawn: [], attributes, nlri });
  }
  return out;
}

function reflectorUpdates(count: number): UpdateMessage[] {
  const r = rng(7);
  const out: UpdateMessage[] = [];
  for (let i = 0; i < count; i++) {
    const node = 1 + Math.floor(r() * 250);
    const base = {
      origin: 0 as const,
      asPath: [] as { type: 2; asns: number[] }[],
      localPref: 100,
      communities: [65000 * 65536 + 100, 65000 * 65536 + node],
      originatorId: `10.0.0.${node}`,
      clusterList: ['10.0.255.1', '10.0.255.2'],
      largeCommunities: [[65000, 1, node]] as [number, number, number][],
    };
    if (i % 2 === 0) {
      const nlri: Nlri[] = [];
      const k = 1 + Math.floor(r() * 3);
      for (let j = 0; j < k; j++) nlri.push({ prefix: `10.${(i >> 8) & 255}.${(i + j) & 255}.0/24` });
      out.push({ type: 'update', withdrawn: [], attributes: { ...base, nextHop: `10.0.0.${node}` }, nlri });
    } else {
      const nlri: Nlri[] = [];
      const k = 1 + Math.floor(r() * 3);
      for (let j = 0; j < k; j++) nlri.push({ prefix: `2001:db8:${(i & 0xffff).toString(16)}:${j.toString(16)}::/64` });
      out.push({
        type: 'update', withdrawn: [], nlri: [],
        attributes: { ...base, mpReach: { afi: 2, safi: 1, nextHops: [`2001:db8::${node.toString(16)}`, `fe80::${node.toString(16)}`], nlri } },
      });
    }
  }
  return out;
}

function makeStream(name: string, ctx: CodecContext, updates: UpdateMessage[]): Stream {
  const messages = updates.map((u) => encodeMessage(u, ctx));
  let prefixes = 0;
  for (const u of updates) prefixes += u.nlri.length + u.withdrawn.length + (u.attributes.mpReach?.nlri.length ?? 0);
  return { name, messages, decoded: updates, prefixes, octets: messages.reduce((n, m) => n + m.length, 0) };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/**
 * Median seconds per pass: CPU time of this process (user + system), which is what "on one core"
 * means on a shared machine, and wall time, which includes waiting for the CPU.
 */
function time(passes: number, fn: () => number): { cpu: number; wall: number } {
  const cpu: number[] = [];
  const wall: number[] = [];
  let sink = 0;
  for (let i = 0; i < passes + 1; i++) {
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    sink += fn();
    const dt = Number(process.hrtime.bigint() - t0) / 1e9;
    const dc = process.cpuUsage(c0);
    if (i > 0) { // pass 0 warms up the JIT
      wall.push(dt);
      cpu.push((dc.user + dc.system) / 1e6);
    }
  }
  if (sink < 0) console.log(sink);
  return { cpu: median(cpu), wall: median(wall) };
}

function main(): void {
  const args = process.argv.slice(2);
  const passes = args.includes('--passes') ? Number(args[args.indexOf('--passes') + 1]) : 7;
  const json = args.includes('--json');
  const ctx = codecContext();
  let seq = 0;
  const slash24 = (): string => { const a = (0x0a000000 + (seq++ << 8)) >>> 0; return v4Prefix(a, 24); };
  const r2 = rng(2);
  const mixed = (): string => v4Prefix((r2() * 2 ** 32) >>> 0, 8 + Math.floor(r2() * 25));
  const streams = [
    makeStream('full 4096-octet UPDATEs, IPv4 /24', ctx, fullUpdates(ctx, 400, slash24)),
    makeStream('full 4096-octet UPDATEs, IPv4 /8../32', ctx, fullUpdates(ctx, 400, mixed)),
    makeStream('small route-reflector UPDATEs, v4 + v6 (MP_REACH)', ctx, reflectorUpdates(40000)),
  ];
  const rows: { stream: string; op: string; msgsPerSec: number; prefixesPerSec: number; mbPerSec: number; wallPrefixesPerSec: number }[] = [];
  for (const s of streams) {
    const dec = time(passes, () => {
      let n = 0;
      for (const m of s.messages) {
        const u = decodeMessage(m, ctx) as UpdateMessage;
        n += u.nlri.length + u.withdrawn.length + (u.attributes.mpReach?.nlri.length ?? 0);
      }
      return n;
    });
    // The same, also reading every prefix's text (V8 may build it as a lazy rope; reading a
    // character flattens it), i.e. decode plus the first use a RIB would make of it.
    const decUse = time(passes, () => {
      let n = 0;
      for (const m of s.messages) {
        const u = decodeMessage(m, ctx) as UpdateMessage;
        for (const x of u.nlri) n += x.prefix.charCodeAt(x.prefix.length - 1);
        const mp = u.attributes.mpReach;
        if (mp) for (const x of mp.nlri) n += x.prefix.charCodeAt(x.prefix.length - 1);
      }
      return n;
    });
    const enc = time(passes, () => {
      let n = 0;
      for (const u of s.decoded) n += encodeMessage(u, ctx).length;
      return n;
    });
    for (const [op, t] of [['decode', dec], ['decode + read prefix text', decUse], ['encode', enc]] as const) {
      rows.push({
        stream: s.name, op,
        msgsPerSec: s.messages.length / t.cpu,
        prefixesPerSec: s.prefixes / t.cpu,
        mbPerSec: s.octets / t.cpu / 1e6,
        wallPrefixesPerSec: s.prefixes / t.wall,
      });
    }
  }
  if (json) {
    console.log(JSON.stringify(rows, null, 2));
    return;
  }
  console.log(`codec benchmark: node ${process.version}, median of ${passes} passes, per CPU second (load average ${os.loadavg()[0].toFixed(1)} on ${os.cpus().length} CPUs)`);
  console.log('| stream | op | messages/s | prefixes/s | MB/s | prefixes/s wall |');
  console.log('|---|---|---:|---:|---:|---:|');
  const fmt = (x: number): string => Math.round(x).toLocaleString('en-US');
  for (const r of rows) console.log(`| ${r.stream} | ${r.op} | ${fmt(r.msgsPerSec)} | ${fmt(r.prefixesPerSec)} | ${r.mbPerSec.toFixed(1)} | ${fmt(r.wallPrefixesPerSec)} |`);
}

main();
