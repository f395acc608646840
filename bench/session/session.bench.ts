// Session + transport throughput on loopback: two PeerConnections (127.0.0.1 ↔ 127.0.0.2, our own
// sockets only) establish; one sends UPDATEs honouring backpressure (send() false → wait for
// 'drain'), the other frames, decodes, runs every message through the FSM and counts prefixes
// delivered. Streams: (1) one /24 per UPDATE (the container-cluster case: each node announces its
// block), (2) full 4096-octet UPDATEs of /24s. Also: the pure FSM alone (handle() of UPDATE
// events), and time from start() to Established on both sides. Median of N passes.
// Run: npm run build && node dist/bench/session/session.bench.js [--passes N] [--json]
import { performance } from 'perf_hooks';
import { BgpListener } from '../../src/transport/listener';
import { PeerConnection, type PeerEvent } from '../../src/transport/peer';
import { PeerFsm } from '../../src/session/fsm';
import type { SessionConfig } from '../../src/session/types';
import { codecContext, encodeMessage, type Nlri, type UpdateMessage } from '../../src/wire';

const args = process.argv.slice(2);
const passes = args.includes('--passes') ? Math.max(1, Number(args[args.indexOf('--passes') + 1]) || 3) : 3;
const json = args.includes('--json');

/** The i-th /24 from 10.0.0.0/24 on (i < 2^16 * 246). */
function prefix(i: number): string {
  return `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`;
}

function updates(total: number, perMessage: number): UpdateMessage[] {
  const attributes = { origin: 0 as const, asPath: [{ type: 2 as const, asns: [65001] }], nextHop: '192.0.2.1' };
  const out: UpdateMessage[] = [];
  for (let i = 0; i < total; i += perMessage) {
    const nlri: Nlri[] = [];
    for (let j = i; j < Math.min(total, i + perMessage); j++) nlri.push({ prefix: prefix(j) });
    out.push({ type: 'update', withdrawn: [], attributes, nlri });
  }
  return out;
}

function session(localId: string, localAs: number, peerAs: number): SessionConfig {
  return { peerAddress: '', localAs, localId, peerAs, holdTime: 90, connectRetryTime: 1, jitter: () => 1 };
}

interface Pair {
  a: PeerConnection;
  b: PeerConnection;
  la: BgpListener;
  lb: BgpListener;
  onB: (e: PeerEvent) => void;
  onA: (e: PeerEvent) => void;
  upMs: number;
}

async function establish(): Promise<Pair> {
  const la = new BgpListener({ address: '127.0.0.1', port: 0 });
  const lb = new BgpListener({ address: '127.0.0.2', port: 0 });
  await la.listen();
  await lb.listen();
  const pair = { la, lb, onA: (_e: PeerEvent) => {}, onB: (_e: PeerEvent) => {} } as Pair;
  pair.a = new PeerConnection({
    session: session('10.255.0.1', 65001, 65002),
    transport: { remoteAddress: '127.0.0.2', remotePort: lb.port, localAddress: '127.0.0.1' },
    listener: la,
    onEvent: (e) => pair.onA(e),
  });
  pair.b = new PeerConnection({
    session: { ...session('10.255.0.2', 65002, 65001), passive: true },
    transport: { remoteAddress: '127.0.0.1', remotePort: la.port, localAddress: '127.0.0.2' },
    listener: lb,
    onEvent: (e) => pair.onB(e),
  });
  const t0 = performance.now();
  pair.b.start();
  pair.a.start();
  for (let i = 0; i < 1000 && !(pair.a.state === 'Established' && pair.b.state === 'Established'); i++) {
    await new Promise((r) => setTimeout(r, 1));
  }
  if (pair.a.state !== 'Established') throw new Error('session did not come up');
  pair.upMs = performance.now() - t0;
  return pair;
}

function teardown(p: Pair): void {
  p.a.close();
  p.b.close();
  p.la.close();
  p.lb.close();
}

async function stream(p: Pair, msgs: UpdateMessage[], prefixes: number): Promise<number> {
  let received = 0;
  let resolveDone: () => void = () => {};
  const done = new Promise<void>((r) => { resolveDone = r; });
  p.onB = (e) => {
    if (e.type === 'update') {
      received += e.message.nlri.length;
      if (received >= prefixes) resolveDone();
    }
  };
  let drain: () => void = () => {};
  p.onA = (e) => { if (e.type === 'drain') drain(); };
  const t0 = performance.now();
  for (const m of msgs) {
    if (!p.a.send(m)) await new Promise<void>((r) => { drain = r; });
  }
  await done;
  return performance.now() - t0;
}

function fsmOnly(count: number): number {
  const fsm = new PeerFsm({ ...session('10.255.0.1', 65001, 65002) });
  let now = 0;
  fsm.handle({ type: 'start' }, now);
  fsm.handle({ type: 'tcp-connected', conn: 1 }, now);
  fsm.handle({
    type: 'message', conn: 1,
    message: { type: 'open', version: 4, myAs: 65002, holdTime: 90, bgpId: '10.255.0.2', capabilities: [{ code: 65, kind: 'as4', asn: 65002 }] },
  }, now);
  fsm.handle({ type: 'message', conn: 1, message: { type: 'keepalive' } }, now);
  if (fsm.state !== 'Established') throw new Error('FSM did not establish');
  const msg = updates(1, 1)[0];
  const t0 = performance.now();
  for (let i = 0; i < count; i++) fsm.handle({ type: 'message', conn: 1, message: msg }, now += 0.001);
  return performance.now() - t0;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function main(): Promise<void> {
  const ctx = codecContext();
  const single = updates(100_000, 1);
  const perFull = Math.floor((4096 - encodeMessage(updates(1, 1)[0], ctx).length + 4) / 4);
  const full = updates(100_000, perFull);
  const rows: Record<string, string | number>[] = [];
  const results: Record<string, number[]> = { up: [], single: [], full: [], fsm: [] };
  for (let i = 0; i < passes; i++) {
    const p = await establish();
    results.up.push(p.upMs);
    results.single.push(await stream(p, single, 100_000));
    results.full.push(await stream(p, full, 100_000));
    teardown(p);
    results.fsm.push(fsmOnly(1_000_000));
    await new Promise((r) => setTimeout(r, 100));
  }
  const range = (xs: number[], digits = 0) => `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
  rows.push({ what: 'start() to Established, both sides (ms)', median: +median(results.up).toFixed(1), range: range(results.up, 1) });
  rows.push({ what: `100,000 prefixes, 1 per UPDATE (${single.length} msgs): ms`, median: +median(results.single).toFixed(0), range: range(results.single), 'msgs/s': Math.round(single.length / (median(results.single) / 1000)) });
  rows.push({ what: `100,000 prefixes, ${perFull} per UPDATE (${full.length} msgs): ms`, median: +median(results.full).toFixed(0), range: range(results.full), 'prefixes/s': Math.round(100_000 / (median(results.full) / 1000)) });
  rows.push({ what: 'pure FSM, 1,000,000 UPDATE events: ms', median: +median(results.fsm).toFixed(0), range: range(results.fsm), 'events/s': Math.round(1_000_000 / (median(results.fsm) / 1000)) });
  if (json) console.log(JSON.stringify(rows));
  else console.table(rows);
  setTimeout(() => process.exit(0), 50).unref();
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
