// A Speaker as a process of its own, driven over stdin/stdout with JSON lines: the interop tests
// run it inside a network namespace and SIGKILL it to exercise graceful restart (RFC 4724 §4.2:
// the peers keep our routes when we vanish; §4.1: we come back with `restarting: true`), and the
// benchmark uses it to learn a full table. Not the agent: no datastore, no FIB.
//
// Usage: node runner.js CONFIG.json   (or '-' to read the JSON config from the first stdin line)
// Config: { speaker: SpeakerConfig (without log), peers: PeerConfig[], originate?: [{ prefix,
//           communities?: ["asn:value"], largeCommunities?: ["a:b:c"], med? }], verbose?: bool }
// Requests, one JSON object per line: { id, op, ... } with op one of
//   status | routes [family] | count [family] | explain address | refresh peer [family] |
//   originate prefix [communities] | withdraw prefix | memory [gc] | stop [graceful]
// Answers: { id, ok: true, result } or { id, ok: false, error }. Events: { event: 'ready', port },
// { event: 'log', level, message } (verbose), { event: 'changes', count, batches }: the Loc-RIB
// changes (and change batches) of the last 0.1 s.
import * as fs from 'fs';
import * as readline from 'readline';
import * as v8 from 'v8';
import { Speaker } from './speaker';
import type { OriginateOptions } from './speaker';
import { collectGarbage } from '../lib/gc';
import type { PeerConfig, SpeakerConfig } from './types';

interface RunnerConfig {
  speaker: Omit<SpeakerConfig, 'log'>;
  peers: PeerConfig[];
  originate?: ({ prefix: string; communities?: string[]; largeCommunities?: string[]; med?: number })[];
  verbose?: boolean;
}

type Request = { id?: number | string; op: string; [k: string]: unknown };

function emit(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** "65000:100" → 65000 * 65536 + 100 (RFC 1997). */
function community(text: string): number {
  const m = /^(\d+):(\d+)$/.exec(text);
  if (!m || Number(m[1]) > 0xffff || Number(m[2]) > 0xffff) throw new Error(`bad community '${text}': expected asn:value, each 0..65535`);
  return Number(m[1]) * 65536 + Number(m[2]);
}

function largeCommunity(text: string): [number, number, number] {
  const xs = text.split(':').map(Number);
  if (xs.length !== 3 || xs.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffffffff)) throw new Error(`bad large community '${text}'`);
  return xs as [number, number, number];
}

function originateOptions(o: { communities?: string[]; largeCommunities?: string[]; med?: number }): OriginateOptions {
  return {
    communities: o.communities?.map(community),
    largeCommunities: o.largeCommunities?.map(largeCommunity),
    med: o.med,
  };
}

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (!arg) {
    process.stderr.write('usage: runner.js CONFIG.json | -\n');
    process.exit(2);
  }
  const rl = readline.createInterface({ input: process.stdin });
  const lines: string[] = [];
  let waiting: ((l: string) => void) | null = null;
  rl.on('line', (l) => {
    if (waiting) {
      const w = waiting;
      waiting = null;
      w(l);
    } else lines.push(l);
  });
  const nextLine = (): Promise<string> => (lines.length > 0 ? Promise.resolve(lines.shift()!) : new Promise((r) => { waiting = r; }));
  const cfg = JSON.parse(arg === '-' ? await nextLine() : fs.readFileSync(arg, 'utf8')) as RunnerConfig;
  const speaker = new Speaker({
    ...cfg.speaker,
    log: cfg.verbose ? (level, message, fields) => emit({ event: 'log', level, message, fields }) : undefined,
  });
  for (const p of cfg.peers) speaker.addPeer(p);
  for (const o of cfg.originate ?? []) speaker.originate(o.prefix, originateOptions(o));
  // The listener sees every batch, as the agent's does; the parent hears of them at most every
  // 0.1 s (one line per round would cost the harness a pipe write and a JSON parse per UPDATE
  // when a slow feeder sends small ones).
  let pending = { count: 0, batches: 0 };
  let flush: NodeJS.Timeout | null = null;
  speaker.onLocRibChange((b) => {
    pending.count += b.changes.length;
    pending.batches++;
    flush ??= setTimeout(() => {
      emit({ event: 'changes', ...pending });
      pending = { count: 0, batches: 0 };
      flush = null;
    }, 100);
  });
  await speaker.start();
  emit({ event: 'ready', port: speaker.port, pid: process.pid });

  const handle = async (req: Request): Promise<unknown> => {
    switch (req.op) {
      case 'status': return speaker.peerStatus();
      case 'routes': return speaker.routes(req.family as string | undefined);
      case 'count': return speaker.routeCount(req.family as string | undefined);
      case 'explain': return speaker.explain(String(req.address));
      case 'refresh': return speaker.requestRefresh(String(req.peer), req.family as string | undefined);
      case 'originate':
        speaker.originate(String(req.prefix), originateOptions(req as { communities?: string[] }));
        return true;
      case 'withdraw':
        speaker.withdraw(String(req.prefix));
        return true;
      case 'memory': {
        // For benchmarks: where the process's memory is (V8 heap spaces, used vs committed).
        if (req.gc === true) collectGarbage();
        const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, committed: s.physical_space_size }]));
        return { ...process.memoryUsage(), spaces };
      }
      case 'stop':
        await speaker.stop({ graceful: req.graceful === true, message: req.message as string | undefined });
        setTimeout(() => process.exit(0), 100);
        return true;
      default: throw new Error(`unknown op '${req.op}'`);
    }
  };
  const serve = async (line: string): Promise<void> => {
    if (line.trim() === '') return;
    let req: Request;
    try {
      req = JSON.parse(line) as Request;
    } catch (e) {
      emit({ ok: false, error: `bad request line: ${(e as Error).message}` });
      return;
    }
    try {
      emit({ id: req.id, ok: true, result: await handle(req) });
    } catch (e) {
      emit({ id: req.id, ok: false, error: (e as Error).message });
    }
  };
  for (const l of lines.splice(0)) await serve(l);
  rl.removeAllListeners('line');
  rl.on('line', (l) => { void serve(l); });
  rl.on('close', () => {
    void speaker.stop({ graceful: true }).then(() => process.exit(0));
  });
}

main().catch((e) => {
  process.stderr.write(`runner: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
