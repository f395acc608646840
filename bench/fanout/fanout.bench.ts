// Benchmark: update-group fan-out (RFC 4271 §9.2; issue "Route reflection at cluster scale",
// part 2). One Speaker over loopback TCP with N passive members of ONE update group (same eBGP AS,
// same source address and capabilities); each member only frames and counts the UPDATEs it
// receives (so the speaker, not the receivers, is measured). Three phases per pass:
//   join   — N members connect to a speaker holding T prefixes, each with its own attribute set
//            (T UPDATEs): time until every member has T UPDATEs + End-of-RIB;
//   round  — every prefix changes its MED in one round: time until every member has T more;
//   slow   — three such rounds (100 communities per route) with one member not reading its
//            socket: time until the N-1 others have them, and the most the speaker queued for the slow one (bound: --limit bytes).
// Reports messages encoded vs written (encode once per group: written ≈ N × encoded).
//
// No root needed (loopback only). Usage: node fanout.bench.js [--passes N] [--members N]
//   [--prefixes N] [--limit BYTES]
import * as net from 'net';
import { performance } from 'perf_hooks';
import { Speaker } from '../../src/speaker';
import { Framer } from '../../src/wire';

const AS = 64512;
const PEER_AS = 64701;
const addr = (n: number): string => `127.77.10.${n}`;
/** 100 communities: the slow phase's UPDATEs are ~480 bytes, enough to fill the kernel's socket buffers. */
const COMMUNITIES = Array.from({ length: 100 }, (_, i) => AS * 65536 + i);

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : def;
}

interface Member { n: number; port: number; server: net.Server; sock: net.Socket | null; updates: number }

/** A member that answers OPEN with a fixed OPEN + KEEPALIVE and counts UPDATE frames (type 2). */
function member(n: number): Promise<Member> {
  // OPEN: version 4, AS 64701, hold 90, id 10.80.0.n, capabilities MP ipv4-unicast + 4-octet AS.
  const caps = Buffer.from([2, 6, 1, 4, 0, 1, 0, 1, 2, 6, 65, 4, 0, 0, PEER_AS >> 8, PEER_AS & 255]);
  const body = Buffer.concat([Buffer.from([4, PEER_AS >> 8, PEER_AS & 255, 0, 90, 10, 80, 0, n, caps.length]), caps]);
  const header = (len: number, type: number): Buffer => Buffer.concat([Buffer.alloc(16, 0xff), Buffer.from([len >> 8, len & 255, type])]);
  const open = Buffer.concat([header(19 + body.length, 1), body]);
  const keepalive = header(19, 4);
  const m: Member = { n, port: 0, server: null as unknown as net.Server, sock: null, updates: 0 };
  m.server = net.createServer((sock) => {
    m.sock = sock;
    const framer = new Framer();
    let opened = false;
    sock.on('error', () => { /* reset at the end */ });
    sock.on('data', (d: Buffer) => {
      for (const f of framer.push(d)) {
        if (f[18] === 2) m.updates++;
        else if (f[18] === 1 && !opened) {
          opened = true;
          sock.write(Buffer.concat([open, keepalive]));
        }
      }
    });
  });
  return new Promise((resolve) => m.server.listen(0, addr(n), () => {
    m.port = (m.server.address() as net.AddressInfo).port;
    resolve(m);
  }));
}

async function until(what: string, check: () => boolean, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface PassResult { joinMs: number; roundMs: number; slowFastMs: number; slowMaxQueued: number; overflows: number; catchUpMs: number; resyncs: number; joinEncoded: number; joinWritten: number; roundEncoded: number; roundWritten: number }

async function pass(members: number, prefixes: number, limit: number): Promise<PassResult> {
  const ms = await Promise.all(Array.from({ length: members }, (_, i) => member(2 + i)));
  const s = new Speaker({
    localAs: AS, routerId: '10.80.0.1', listen: [], nextHopIPv4: addr(1), pools: ['10.0.0.0/8'],
    connectRetryTime: 1, holdTime: 90, gracefulRestart: { enabled: false }, outputQueueLimitBytes: limit,
  });
  const prefixOf = (i: number): string => `10.${i >> 16}.${(i >> 8) & 255}.${i & 255}/32`;
  try {
    for (let i = 0; i < prefixes; i++) s.originate(prefixOf(i), { med: i });
    await s.start();
    await new Promise((r) => setTimeout(r, 50));
    const e0 = { ...s.counters };
    const t0 = performance.now();
    for (const m of ms) s.addPeer({ name: `m${m.n}`, address: addr(m.n), port: m.port, peerAs: PEER_AS, type: 'external', sourceAddress: addr(1), families: ['ipv4-unicast'] });
    await until('every member has the table', () => ms.every((m) => m.updates === prefixes + 1));
    const joinMs = performance.now() - t0;
    const e1 = { ...s.counters };
    const t1 = performance.now();
    for (let i = 0; i < prefixes; i++) s.originate(prefixOf(i), { med: 1_000_000 + i });
    await until('every member has the round', () => ms.every((m) => m.updates === 2 * prefixes + 1));
    const roundMs = performance.now() - t1;
    const e2 = { ...s.counters };
    const slow = ms[ms.length - 1];
    slow.sock!.pause();
    let slowMaxQueued = 0;
    const sampler = setInterval(() => { slowMaxQueued = Math.max(slowMaxQueued, s.peerOutput(`m${slow.n}`).queuedBytes); }, 5);
    const t2 = performance.now();
    for (let r = 0; r < 3; r++) {
      for (let i = 0; i < prefixes; i++) s.originate(prefixOf(i), { med: 2_000_000 + r * prefixes + i, communities: COMMUNITIES });
      await new Promise((res) => setImmediate(res));
    }
    // A fast member may overflow too when one round is bigger than its socket buffer plus the
    // bound (then it gets a resync diff, not every UPDATE): wait until the speaker has nothing
    // left for the fast ones and their counts stop moving.
    await new Promise((res) => setImmediate(res));
    let last = -1;
    await until('the fast members have three rounds', () => {
      const idle = ms.slice(0, -1).every((m) => {
        const o = s.peerOutput(`m${m.n}`);
        return !o.outOfSync && o.queuedMessages === 0 && o.socketBytes === 0;
      });
      const total = ms.slice(0, -1).reduce((n, m) => n + m.updates, 0);
      const settled = idle && total === last;
      last = total;
      return settled && ms.slice(0, -1).every((m) => m.updates >= 2 * prefixes + 1 + prefixes);
    });
    const slowFastMs = performance.now() - t2;
    clearInterval(sampler);
    const overflows = s.peerOutput(`m${slow.n}`).overflows;
    const t3 = performance.now();
    slow.sock!.resume();
    await until('the slow member is caught up', () => {
      const o = s.peerOutput(`m${slow.n}`);
      return !o.outOfSync && o.queuedMessages === 0 && o.socketBytes === 0;
    });
    const catchUpMs = performance.now() - t3;
    return {
      joinMs, roundMs, slowFastMs, slowMaxQueued, overflows, catchUpMs, resyncs: s.counters.resyncs,
      joinEncoded: e1.messagesEncoded - e0.messagesEncoded, joinWritten: e1.messagesWritten - e0.messagesWritten,
      roundEncoded: e2.messagesEncoded - e1.messagesEncoded, roundWritten: e2.messagesWritten - e1.messagesWritten,
    };
  } finally {
    await s.stop();
    for (const m of ms) {
      m.sock?.destroy();
      m.server.close();
    }
  }
}

function median(xs: number[]): string {
  const s = [...xs].sort((a, b) => a - b);
  return `${s[Math.floor(s.length / 2)].toFixed(0)} ms (${s[0].toFixed(0)}–${s[s.length - 1].toFixed(0)})`;
}

async function main(): Promise<void> {
  const passes = arg('--passes', 3);
  const members = arg('--members', 20);
  const prefixes = arg('--prefixes', 10_000);
  const limit = arg('--limit', 1 << 20);
  const rs: PassResult[] = [];
  for (let p = 0; p < passes; p++) rs.push(await pass(members, prefixes, limit));
  const last = rs[rs.length - 1];
  console.log(`members ${members}, prefixes ${prefixes} (one UPDATE each), queue bound ${limit} bytes, ${passes} passes`);
  console.log(`join  (table to all members): ${median(rs.map((r) => r.joinMs))}; encoded ${last.joinEncoded}, written ${last.joinWritten}`);
  console.log(`round (all prefixes change):  ${median(rs.map((r) => r.roundMs))}; encoded ${last.roundEncoded}, written ${last.roundWritten}`);
  console.log(`slow member, 3 rounds to the ${members - 1} others: ${median(rs.map((r) => r.slowFastMs))}; max queued for the slow one ${Math.max(...rs.map((r) => r.slowMaxQueued))} bytes, overflows ${last.overflows}, resyncs ${last.resyncs}`);
  console.log(`slow member resumes → caught up (queue and socket empty): ${median(rs.map((r) => r.catchUpMs))}`);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
