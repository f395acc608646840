// Text for `nexthop status`, `nexthop routes` and `nexthop explain`, rendered from the plain JSON
// snapshots of status-types.ts: the peer table (what `calicoctl node status` shows, plus prefix
// counts and the last error), the RIB and FIB side by side per prefix, and the answer to
// "how does traffic to this address leave this node". Pure functions: the same snapshot and
// `now` always give the same text; times are shown in UTC.
//
// Vocabulary: RFC 4271 §8.2.2 states, §9.1.2 decision process; RFC 4456 reflector roles;
// RFC 4724 graceful restart.

import { parseIP, parseCidr, Cidr } from '../lib/ip';
import type { DesiredPeer } from '../cluster/peers';
import type { Resource, BGPPeer } from '../cluster/resources';
import type {
  AgentStatus, ExplainResult, FibState, PeerStatus, PeerType, RouteStatus, RoutesStatus,
} from './status-types';

// ---------------------------------------------------------------------------------------------
// Small pieces

/** "45s", "5m02s", "2h13m", "3d04h". Negative (clock skew) counts as 0. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${String(m % 60).padStart(2, '0')}m`;
  const d = Math.floor(h / 24);
  return `${d}d${String(h % 24).padStart(2, '0')}h`;
}

/** "2026-11-21 11:45:02" (UTC). */
export function formatTimestamp(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19).replace('T', ' ');
}

/** "2h13m (09:32:00)" within a day of `now`, else "3d04h (2026-11-18 07:41:00)". */
export function formatSince(since: number, now: number): string {
  const age = now - since;
  const ts = formatTimestamp(since);
  return `${formatDuration(age)} (${age < 86_400_000 ? ts.slice(11) : ts})`;
}

const PEER_TYPE_LABELS: Record<PeerType, string> = {
  'mesh': 'node-to-node mesh',
  'rr-server': 'route reflector',
  'rr-client': 'reflector client',
  'rr-nonclient': 'reflector (non-client)',
  'global': 'global',
  'node-specific': 'node-specific',
};

/**
 * The PEER TYPE of a desired session (Calico's classification): cluster peers by their RFC 4456
 * role; an external peer is 'node-specific' when a BGPPeer it comes from has `node` or
 * `nodeSelector`, and 'global' when it comes only from BGPPeers that apply to every node.
 */
export function peerTypeOf(p: DesiredPeer, resources: readonly Resource[]): PeerType {
  if (p.kind !== 'external') return p.kind;
  const names = new Set(p.source.filter((s) => s.startsWith('BGPPeer/')).map((s) => s.slice('BGPPeer/'.length).split(' ')[0]));
  const scoped = resources.some((r): r is BGPPeer => r.kind === 'BGPPeer' && names.has(r.metadata.name)
    && (r.spec.node !== undefined || r.spec.nodeSelector !== undefined));
  return scoped ? 'node-specific' : 'global';
}

export function peerTypeLabel(t: PeerType): string {
  return PEER_TYPE_LABELS[t] ?? t;
}

const PEER_TYPE_ORDER: Record<PeerType, number> = {
  'rr-server': 0, 'rr-nonclient': 1, 'mesh': 2, 'rr-client': 3, 'node-specific': 4, 'global': 5,
};

/** Orders addresses IPv4 before IPv6, then numerically; unparsable text last, by text. */
export function compareAddresses(a: string, b: string): number {
  const x = parseIP(a);
  const y = parseIP(b);
  if (!x || !y) return x ? -1 : y ? 1 : a < b ? -1 : a > b ? 1 : 0;
  if (x.length !== y.length) return x.length - y.length;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return 0;
}

function cidrOrNull(text: string): Cidr | null {
  return parseCidr(text, false);
}

/** Orders prefixes IPv4 before IPv6, by network address, then shorter first. */
export function comparePrefixes(a: string, b: string): number {
  const x = cidrOrNull(a);
  const y = cidrOrNull(b);
  if (!x || !y) return x ? -1 : y ? 1 : a < b ? -1 : a > b ? 1 : 0;
  if (x.family !== y.family) return x.family - y.family;
  for (let i = 0; i < x.bytes.length; i++) if (x.bytes[i] !== y.bytes[i]) return x.bytes[i] - y.bytes[i];
  return x.length - y.length;
}

/** Breaks text into lines of at most `width` columns at spaces (a longer word stays whole). */
export function wrapText(text: string, width: number): string {
  const lines: string[] = [];
  let cur = '';
  for (const word of text.split(/ +/)) {
    if (cur === '') cur = word;
    else if (cur.length + 1 + word.length <= width) cur += ' ' + word;
    else {
      lines.push(cur);
      cur = word;
    }
  }
  if (cur !== '') lines.push(cur);
  return lines.join('\n');
}

function truncate(s: string, width: number): string {
  if (s.length <= width) return s;
  if (width <= 1) return s.slice(0, width);
  return s.slice(0, width - 1) + '…';
}

export interface TableOptions {
  /** Total line width to fit in (e.g. the terminal's columns); wide columns are cut with "…". */
  maxWidth?: number;
  /** Columns that may be cut, by index; default: the last column. */
  shrinkable?: number[];
  /** Columns aligned right (numbers). */
  alignRight?: number[];
}

const GAP = '  ';
/** No column is cut narrower than this. */
const MIN_SHRUNK = 12;

/**
 * A plain aligned table: headers, then rows, columns separated by two spaces, each column as wide
 * as its widest cell, no trailing spaces. With maxWidth, the shrinkable columns are narrowed
 * (widest first) until the line fits: first not below MIN_SHRUNK, then not below their header.
 * Lines may still be wider when the other columns alone do not fit.
 */
export function renderTable(headers: string[], rows: string[][], opts: TableOptions = {}): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  if (opts.maxWidth !== undefined) {
    const shrinkable = opts.shrinkable ?? [headers.length - 1];
    const total = (): number => widths.reduce((a, b) => a + b, 0) + GAP.length * (widths.length - 1);
    // First down to MIN_SHRUNK, then, if that is not enough, down to the header's width.
    for (const floor of [(i: number) => Math.max(MIN_SHRUNK, headers[i].length), (i: number) => Math.max(2, headers[i].length)]) {
      for (let guard = 0; guard < 10_000 && total() > opts.maxWidth; guard++) {
        let widest = -1;
        for (const i of shrinkable) {
          if (widths[i] > floor(i) && (widest < 0 || widths[i] > widths[widest])) widest = i;
        }
        if (widest < 0) break;
        widths[widest] -= 1;
      }
    }
  }
  const right = new Set(opts.alignRight ?? []);
  const line = (cells: string[]): string => cells
    .map((c, i) => {
      const t = truncate(c ?? '', widths[i]);
      return right.has(i) ? t.padStart(widths[i]) : t.padEnd(widths[i]);
    })
    .join(GAP)
    .replace(/\s+$/, '');
  return [line(headers), ...rows.map(line)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// (a) peers

/** BIRD-style one-word condition: up, start, idle, restart (peer in graceful restart). */
export function peerCondition(p: PeerStatus): string {
  if (p.state === 'Established') return 'up';
  if (p.gracefulRestart?.restarting) return 'restart';
  if (p.state === 'Idle') return 'idle';
  return 'start';
}

function peerAddress(p: PeerStatus): string {
  const a = p.port !== undefined && p.port !== 179 ? (p.address.includes(':') ? `[${p.address}]:${p.port}` : `${p.address}:${p.port}`) : p.address;
  return p.node ? `${a} (${p.node})` : a;
}

/**
 * Whether a session's last error says something about it now: always while it is not
 * Established (it is why); on an Established session only when it came after the session
 * came up (`since`) - an older one (e.g. "connect failed: ECONNREFUSED" before the peer
 * started) is stale. An Established session's error of unknown time is taken as older.
 */
export function lastErrorIsCurrent(p: PeerStatus): boolean {
  if (!p.lastError) return false;
  if (p.state !== 'Established') return true;
  return p.lastErrorAt !== undefined && p.lastErrorAt > p.since;
}

/** "5m02s ago: Hold timer expired ..." (the age first, so a stale error reads as one). */
function agedError(p: PeerStatus, now: number): string {
  return p.lastErrorAt !== undefined ? `${formatDuration(now - p.lastErrorAt)} ago: ${p.lastError}` : p.lastError ?? '';
}

/** LAST ERROR cell: "-" when there is none or it is older than the Established session. */
function lastErrorCell(p: PeerStatus, now: number): string {
  return lastErrorIsCurrent(p) ? agedError(p, now) : '-';
}

export function sortPeers(peers: readonly PeerStatus[]): PeerStatus[] {
  return [...peers].sort((a, b) =>
    (PEER_TYPE_ORDER[a.type] ?? 9) - (PEER_TYPE_ORDER[b.type] ?? 9) || compareAddresses(a.address, b.address) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export const PEER_TABLE_HEADERS = ['PEER ADDRESS', 'ASN', 'PEER TYPE', 'STATE', 'SINCE', 'INFO', 'PREFIXES IN', 'OUT', 'LAST ERROR'];

/**
 * The peer table. PREFIXES IN is accepted/received, OUT advertised. INFO says the session's
 * condition ("Established", "Active: Connection refused"); a peer in graceful restart says how
 * long its stale routes are kept (RFC 4724 §4.2).
 */
export function formatPeerTable(peers: readonly PeerStatus[], now: number, opts: { maxWidth?: number } = {}): string {
  if (peers.length === 0) return 'No BGP peers configured.';
  const rows = sortPeers(peers).map((p) => {
    let info = p.info || p.state;
    const gr = p.gracefulRestart;
    if (gr?.restarting) {
      info += gr.staleUntil !== undefined ? `; peer restarting, routes kept ${formatDuration(gr.staleUntil - now)} more` : '; peer restarting, routes kept';
    }
    return [
      peerAddress(p),
      String(p.asn),
      peerTypeLabel(p.type),
      peerCondition(p),
      formatSince(p.since, now),
      info,
      `${p.prefixes.accepted}/${p.prefixes.received}`,
      String(p.prefixes.advertised),
      lastErrorCell(p, now),
    ];
  });
  return renderTable(PEER_TABLE_HEADERS, rows, { maxWidth: opts.maxWidth, shrinkable: [5, 8], alignRight: [1, 6, 7] });
}

/**
 * Everything known about one session, `birdc show protocols all`-style: for `nexthop status PEER`.
 */
export function formatPeerDetail(p: PeerStatus, now: number): string {
  const f: [string, string][] = [
    ['session', p.name],
    ['peer', `${peerAddress(p)}, AS ${p.asn}`],
    ['type', peerTypeLabel(p.type) + (p.source && p.source.length > 0 ? ` (from ${p.source.join(', ')})` : '')],
    ['state', `${p.state} since ${formatSince(p.since, now)}`],
    ['info', p.info || p.state],
  ];
  if (p.lastError) {
    f.push(['last error', lastErrorIsCurrent(p) ? agedError(p, now) : `${agedError(p, now)} (before the session was established ${formatDuration(now - p.since)} ago)`]);
  }
  f.push(['prefixes', `${p.prefixes.received} received, ${p.prefixes.accepted} accepted, ${p.prefixes.advertised} advertised`]);
  for (const [fam, c] of Object.entries(p.families ?? {})) {
    if (c) f.push([`  ${fam}`, `${c.received} received, ${c.accepted} accepted, ${c.advertised} advertised`]);
  }
  f.push(['messages', `${p.messages.in} in, ${p.messages.out} out` + (p.updates ? ` (UPDATE ${p.updates.in} in, ${p.updates.out} out)` : '')]);
  f.push(['capabilities', p.capabilities.length > 0 ? p.capabilities.join(', ') : '(none negotiated)']);
  const gr = p.gracefulRestart;
  if (gr) {
    let t = gr.peerCapable ? 'peer capable' : 'peer not capable';
    if (gr.restarting) {
      t += ', peer restarting: routes kept as stale';
      if (gr.staleUntil !== undefined) t += ` for ${formatDuration(gr.staleUntil - now)} more (until ${formatTimestamp(gr.staleUntil)})`;
      if (gr.staleFamilies && gr.staleFamilies.length > 0) t += ` [${gr.staleFamilies.join(', ')}]`;
    }
    f.push(['graceful restart', t]);
  }
  if (p.desired === false) f.push(['note', 'no longer configured; being removed']);
  const w = Math.max(...f.map(([k]) => k.length));
  return f.map(([k, v]) => `${k.padEnd(w)}  ${v}`).join('\n');
}

/** The whole `nexthop status` screen: agent line, readiness, datastore, blocks, peer tables per family. */
export function formatStatus(s: AgentStatus, opts: { maxWidth?: number } = {}): string {
  const out: string[] = [];
  out.push(`nexthop agent ${s.version} on node ${s.node} is running (up ${formatDuration(s.now - s.startedAt)}, AS ${s.asn}, router id ${s.routerId}).`);
  out.push(s.ready ? 'Ready.' : `Not ready: ${(s.notReady ?? ['unknown reason']).join('; ')}.`);
  const ds = s.datastore;
  out.push(`Datastore: ${ds.kind} ${ds.endpoint}, ${ds.connected ? 'connected' : 'NOT connected'}${ds.lastError ? ` (last error: ${ds.lastError})` : ''}.`);
  out.push(`Blocks: ${s.blocks.length > 0 ? s.blocks.join(', ') : 'none yet'}.`);
  const v4 = s.peers.filter((p) => !p.address.includes(':'));
  const v6 = s.peers.filter((p) => p.address.includes(':'));
  const established = s.peers.filter((p) => p.state === 'Established').length;
  out.push('');
  out.push(`${s.peers.length} BGP peer${s.peers.length === 1 ? '' : 's'}, ${established} established.`);
  if (v4.length > 0 || v6.length === 0) {
    out.push('', 'IPv4 BGP status', formatPeerTable(v4, s.now, opts));
  }
  if (v6.length > 0) out.push('', 'IPv6 BGP status', formatPeerTable(v6, s.now, opts));
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// (b) routes

const FIB_STATE_TEXT: Record<FibState, string> = {
  'in-sync': 'in sync', 'missing': 'MISSING', 'extra': 'EXTRA', 'differs': 'DIFFERS', 'skipped': 'skipped',
};

function bestCells(r: RouteStatus): string[] {
  const b = r.best;
  if (!b) return ['-', '-', '-', r.fib?.state === 'extra' ? 'no longer in RIB' : 'no path'];
  const nh = b.multipath.length > 0 ? `${b.nextHop} +${b.multipath.length} ecmp` : b.nextHop;
  const reason = b.stale ? `${b.reason} (stale, peer restarting)` : b.reason;
  return [b.peer, nh, b.asPath === '' ? '(empty)' : b.asPath, reason];
}

function fibCells(r: RouteStatus): string[] {
  const f = r.fib;
  if (!f) return ['-', '-', '-', '-', 'not in FIB'];
  const via = f.routeType && f.routeType !== 'unicast' ? f.routeType : f.nexthops.length > 0 ? f.nexthops.join(',') : '-';
  const how: string[] = [];
  if (f.tunnel !== 'none') how.push(f.tunnel);
  if (f.onlink) how.push('onlink');
  if (f.nexthops.length > 1) how.push('ecmp');
  const encap = how.length > 0 ? how.join(',') : f.nexthops.length > 0 ? 'direct' : '-';
  return [via, f.dev ?? '-', encap, f.protocol, FIB_STATE_TEXT[f.state] ?? f.state];
}

export const ROUTES_TABLE_HEADERS = ['PREFIX', 'FROM PEER', 'NEXT HOP', 'AS PATH', 'REASON', '|', 'KERNEL VIA', 'DEV', 'ENCAP', 'PROTO', 'FIB'];

/**
 * The RIB's best path and the kernel route of each prefix side by side, sorted by prefix, then
 * a count per FIB state and one note line per prefix the dataplane skipped or found different.
 */
export function formatRoutes(input: RoutesStatus | readonly RouteStatus[], opts: { maxWidth?: number } = {}): string {
  const routes = [...(Array.isArray(input) ? input : (input as RoutesStatus).routes) as RouteStatus[]]
    .sort((a, b) => comparePrefixes(a.prefix, b.prefix));
  if (routes.length === 0) return 'No routes.';
  const rows = routes.map((r) => [r.prefix, ...bestCells(r), '|', ...fibCells(r)]);
  const out = [renderTable(ROUTES_TABLE_HEADERS, rows, { maxWidth: opts.maxWidth, shrinkable: [1, 3, 4] })];
  const counts = new Map<string, number>();
  for (const r of routes) {
    const k = r.fib ? FIB_STATE_TEXT[r.fib.state].toLowerCase() : 'not in FIB';
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const order = ['in sync', 'missing', 'extra', 'differs', 'skipped', 'not in FIB'];
  const summary = order.filter((k) => counts.has(k)).map((k) => `${counts.get(k)} ${k}`).join(', ');
  out.push('', `${routes.length} prefix${routes.length === 1 ? '' : 'es'}: ${summary}.`);
  const notes = routes.filter((r) => r.fib?.note).map((r) => `  ${r.prefix}: ${r.fib!.note}`);
  if (notes.length > 0) out.push('Notes:', ...notes);
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// (c) explain

function encapText(pool: NonNullable<ExplainResult['pool']>): string {
  const parts: string[] = [];
  parts.push(`IPIP ${pool.ipipMode}`);
  parts.push(`VXLAN ${pool.vxlanMode}`);
  if (pool.natOutgoing) parts.push('NAT outgoing');
  return parts.join(', ');
}

function kernelRouteText(r: RouteStatus): string {
  const f = r.fib!;
  if (f.routeType && f.routeType !== 'unicast') return `${r.prefix} ${f.routeType}, protocol ${f.protocol}`;
  const via = f.nexthops.length > 0 ? `via ${f.nexthops.join(' and ')}` : 'directly';
  const dev = f.dev ? ` dev ${f.dev}` : '';
  const onlink = f.onlink ? ' onlink' : '';
  const tunnel = f.tunnel === 'ipip' ? ' (IPIP tunnel)' : f.tunnel === 'vxlan' ? ' (VXLAN tunnel)' : '';
  return `${r.prefix} ${via}${dev}${onlink}${tunnel}, protocol ${f.protocol}`;
}

/** " (the kernel: via 10.0.0.1 dev eth0)" from `ip route get`, or "" when it gave nothing. */
function kernelHint(k: ExplainResult['kernel']): string {
  const parts = k ? [k.via ? `via ${k.via}` : '', k.dev ? `dev ${k.dev}` : ''].filter((p) => p) : [];
  return parts.length > 0 ? ` (the kernel: ${parts.join(' ')})` : '';
}

/**
 * The answer of `nexthop explain IP`: a short paragraph that follows a packet's way out of this
 * node (pool, owning node, best path, kernel route, why direct or tunnelled), then the same as
 * fields, then any problems found.
 */
export function formatExplain(x: ExplainResult, opts: { width?: number } = {}): string {
  const s: string[] = [];
  // Where the address belongs.
  if (!x.pool && x.route?.best) {
    s.push(`${x.address} is in no IP pool; it is routed by the BGP route ${x.route.prefix} below.`);
  } else if (!x.pool) {
    s.push(`${x.address} is in no IP pool, so nexthop does not route it: traffic to it follows the host's other routes${kernelHint(x.kernel)}.`);
  } else {
    let t = `${x.address} is in pool ${x.pool.name} (${x.pool.cidr}; ${encapText(x.pool)})`;
    if (x.block) t += `, block ${x.block}`;
    if (x.owner) t += x.owner.local ? `, which this node owns` : `, owned by ${x.owner.node ? `node ${x.owner.node} (${x.owner.address})` : x.owner.address}`;
    else if (x.pool) t += x.block ? ', owner unknown' : ', in no block any node has announced';
    s.push(t + '.');
  }
  // What the RIB says.
  const r = x.route;
  if (x.owner?.local) {
    // Own block: delivered here, never sent back out (the blackhole route stops loops).
    const k = x.kernel;
    if (k?.table === '(local)' || k?.table === 'local') s.push(`It is an address of this node itself${k.dev ? ` (on ${k.dev})` : ''}, so traffic to it is delivered here.`);
    else if (k?.dev) s.push(`Traffic to it is delivered on this node: the kernel sends it to ${k.dev}${k.via ? ` via ${k.via}` : ''}, the pod's interface.`);
    else s.push('No pod on this node has this address now, so the blackhole route for the block drops traffic to it (it is never sent back out).');
    s.push('Pods in this block are reached over their own interfaces; other nodes learn the block from this node over BGP.');
  } else if (r?.best) {
    const b = r.best;
    const path = b.asPath === '' ? 'empty AS path' : `AS path ${b.asPath}`;
    let t = `The best path to ${r.prefix} comes from ${b.peer} with next hop ${b.nextHop} (${path}), chosen because: ${b.reason}`;
    if (b.multipath.length > 0) t += `; also load-shared over ${b.multipath.join(', ')}`;
    if (b.stale) t += '; the path is stale, kept while its peer restarts';
    s.push(t + '.');
  } else if (x.pool) {
    s.push(`No BGP route covers it, so nexthop does not route it: traffic to it follows the host's other routes${kernelHint(x.kernel)}.`);
  }
  // What the kernel has.
  if (r?.fib && !x.owner?.local) {
    const f = r.fib;
    const state = f.state === 'in-sync' ? 'as the RIB wants' : f.state === 'missing' ? 'but it is MISSING from the kernel'
      : f.state === 'extra' ? 'but the RIB no longer wants it (EXTRA, will be removed)'
        : f.state === 'differs' ? 'but the kernel route DIFFERS from what the RIB wants'
          : 'and it is skipped on purpose';
    s.push(f.state === 'missing' ? `The kernel should route ${kernelRouteText(r)}, ${state}.` : `The kernel routes ${kernelRouteText(r)}, ${state}${f.note ? ` (${f.note})` : ''}.`);
  }
  if (x.decision) s.push(`Why ${r?.fib?.tunnel && r.fib.tunnel !== 'none' ? 'tunnelled' : 'this way'}: ${x.decision}.`);

  const fields: [string, string][] = [['address', x.address]];
  if (x.pool) fields.push(['pool', `${x.pool.name} ${x.pool.cidr} (${encapText(x.pool)})`]);
  if (x.block) fields.push(['block', x.block]);
  if (x.owner) fields.push(['owner', x.owner.local ? 'this node' : x.owner.node ? `${x.owner.node} ${x.owner.address}` : x.owner.address]);
  if (r?.best) {
    fields.push(['best path', `${r.best.peer} next hop ${r.best.nextHop}${r.best.multipath.length > 0 ? ` (+ ${r.best.multipath.join(', ')})` : ''}`]);
    fields.push(['as path', r.best.asPath === '' ? '(empty)' : r.best.asPath]);
    fields.push(['reason', r.best.reason]);
    for (const alt of r.best.alternatives ?? []) fields.push(['lost', `${alt.peer} next hop ${alt.nextHop}: ${alt.lostBecause}`]);
  }
  if (r?.fib) fields.push(['fib', `${kernelRouteText(r)} [${FIB_STATE_TEXT[r.fib.state]}]`]);
  if (x.kernel) {
    const k = x.kernel;
    const parts = [k.via ? `via ${k.via}` : '', k.dev ? `dev ${k.dev}` : '', k.src ? `src ${k.src}` : '', k.table ? `table ${k.table}` : ''].filter((p) => p);
    fields.push(['ip route get', parts.length > 0 ? parts.join(' ') : '(no route)']);
  }
  if (x.decision) fields.push(['decision', x.decision]);
  const w = Math.max(...fields.map(([k]) => k.length));
  const out = [wrapText(s.join(' '), opts.width ?? 80), '', ...fields.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)];
  if (x.problems.length > 0) out.push('', 'Problems:', ...x.problems.map((p) => `  - ${p}`));
  return out.join('\n');
}
