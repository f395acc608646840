// Reachability checks of the demo with the system's ping(8) (ICMP echo, RFC 792) run inside the
// pod namespaces: the one-shot pod-to-pod matrix, and a continuous ping that runs while the
// cluster changes under it and is then counted packet by packet. Parsing is pure
// (parsePingOutput); the shells spawn `ip netns exec POD ping ...`.

import { run } from './lab';

export interface PingCount {
  /** Echo requests sent (ping's "transmitted"). */
  transmitted: number;
  /** Distinct sequence numbers answered (duplicates counted once). */
  received: number;
  /** Sequence numbers that got no answer. */
  missing: number[];
  /** The last request was still in flight when ping was stopped (not counted as lost). */
  inFlightAtStop: boolean;
  /** Requests that count: transmitted minus the one in flight at the stop, if any. */
  sent: number;
  lost: number;
}

export class PingOutputError extends Error {
  readonly code = 'PING_OUTPUT';
  constructor(detail: string, readonly output: string) {
    super(`cannot read ping's output: ${detail}`);
    this.name = 'PingOutputError';
  }
}

/**
 * Reads ping(8) output: the per-reply lines ("... icmp_seq=N ttl=.. time=..") and the summary
 * ("N packets transmitted, M received"). Sequence numbers run 1..transmitted; a reply missing
 * for the very last one only means ping was interrupted while it was in flight.
 */
export function parsePingOutput(text: string): PingCount {
  const summary = /(\d+) packets transmitted, (\d+) (?:packets )?received/.exec(text);
  if (!summary) throw new PingOutputError('no "packets transmitted" summary', text.slice(-500));
  const transmitted = Number(summary[1]);
  const answered = new Set<number>();
  for (const m of text.matchAll(/bytes from [^:]+: icmp_seq=(\d+)/g)) answered.add(Number(m[1]));
  const missing: number[] = [];
  for (let s = 1; s <= transmitted; s++) if (!answered.has(s)) missing.push(s);
  const inFlightAtStop = transmitted > 0 && missing.length > 0 && missing[missing.length - 1] === transmitted;
  const lostSeqs = inFlightAtStop ? missing.slice(0, -1) : missing;
  const sent = inFlightAtStop ? transmitted - 1 : transmitted;
  return { transmitted, received: answered.size, missing: lostSeqs, inFlightAtStop, sent, lost: lostSeqs.length };
}

/** One echo request from namespace `ns` to `address`; true when it was answered. */
export async function pingOnce(ns: string, address: string, waitSeconds = 2): Promise<boolean> {
  const r = await run('ip', ['netns', 'exec', ns, 'ping', '-n', '-q', '-c', '1', '-W', String(waitSeconds), address], (waitSeconds + 5) * 1000);
  return r.status === 0;
}

export interface MatrixSource { label: string; ns: string }
export interface MatrixTarget { label: string; address: string }

/** Every source pings every target (not itself), a few at a time; result[source][target]. */
export async function pingMatrix(sources: MatrixSource[], targets: MatrixTarget[], parallel = 4): Promise<Map<string, Map<string, boolean | null>>> {
  const result = new Map<string, Map<string, boolean | null>>();
  const jobs: Array<() => Promise<void>> = [];
  for (const s of sources) {
    const row = new Map<string, boolean | null>();
    result.set(s.label, row);
    for (const t of targets) {
      if (t.label === s.label) { row.set(t.label, null); continue; }
      jobs.push(async () => { row.set(t.label, await pingOnce(s.ns, t.address)); });
    }
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) await jobs[next++]();
  };
  await Promise.all(Array.from({ length: Math.max(1, parallel) }, worker));
  return result;
}

/** The arguments of the continuous ping: every `intervalMs`, numeric, 1 s reply wait. */
export function continuousPingArgs(address: string, intervalMs: number): string[] {
  return ['-n', '-i', (intervalMs / 1000).toFixed(3), '-W', '1', address];
}
