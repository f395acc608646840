// Pure builders of the control socket's answers (src/agent/status-types.ts): the peer table
// rows from the speaker's PeerStatusView and the desired sessions, the RIB-and-FIB routes view
// (the speaker's Loc-RIB next to the dataplane's decision and the kernel routes of our
// protocol), and `explain` for one address. The agent gathers the inputs; nothing here does I/O.
//
// RFC 4271 §8.2.2 (session states), §9.1.2.2 (decision steps named in reasons), RFC 4724 §4.2
// (stale paths, restarting peers), RFC 4456 (peer roles), RFC 7348 / RFC 2003 (tunnel decision).

import type { PeerStatusView, RouteView, ExplainView, PathView } from '../speaker/types';
import type { DesiredPeer } from '../cluster/peers';
import type { ClusterView as ClusterStateView } from '../cluster/state';
import type { Resource } from '../cluster/resources';
import type { DecisionContext, FibNexthop, FibRouteIntent, SkippedNexthop } from '../dataplane/nexthop-decision';
import { decideRoute } from '../dataplane/nexthop-decision';
import type { PeerStatus, PeerState, StatusFamily, PrefixCounts, RouteStatus, FibStatus, BestPathStatus, ExplainResult } from './status-types';
import { peerTypeOf } from './status-format';
import { parseCidr, formatCidr, parseIP, cidrContainsIP, canonicalIP } from '../lib/ip';

/** A kernel route of our protocol, reduced to what the views compare. */
export interface InstalledRoute {
  prefix: string;
  type: 'unicast' | 'blackhole' | string;
  gateways: string[];
  devs: string[];
  onlink: boolean;
}

const STEP_TEXT: Record<string, string> = {
  'only-path': 'only path',
  'no-eligible-path': 'no eligible path',
  'non-stale': 'not stale',
  'local-pref': 'highest local preference',
  'as-path-length': 'shortest AS_PATH',
  'origin': 'lowest ORIGIN',
  'med': 'lowest MED',
  'ebgp-over-ibgp': 'eBGP over iBGP',
  'igp-cost': 'lowest IGP cost to next hop',
  'router-id': 'lowest router id',
  'cluster-list-length': 'shortest CLUSTER_LIST',
  'peer-address': 'lowest peer address',
  'path-id': 'lowest path id',
};

/** RFC 4271 §9.1.2.2 step (or degenerate case) in words. */
export function reasonText(step: string): string {
  return STEP_TEXT[step] ?? step.replace(/-/g, ' ');
}

function familyLabel(f: string): StatusFamily | null {
  return f === 'ipv4-unicast' || f === 'ipv6-unicast' ? f : null;
}

function capabilityList(v: PeerStatusView): string[] {
  const c = v.capabilities;
  if (!c) return [];
  const out: string[] = [];
  if (c.as4) out.push('4-octet AS');
  if (c.routeRefresh) out.push('route refresh');
  if (c.enhancedRouteRefresh) out.push('enhanced route refresh');
  if (c.extendedMessage) out.push('extended message');
  if (c.gracefulRestart) out.push(`graceful restart (${c.gracefulRestart.restartTime}s)`);
  for (const f of c.addPathReceive) out.push(`add-path rx ${f}`);
  for (const f of c.addPathSend) out.push(`add-path tx ${f}`);
  for (const f of c.families) out.push(f);
  return out;
}

/** RFC 4271 §8.2.2: what a session in each state is doing. */
const STATE_DETAIL: Record<PeerState, string> = {
  Idle: 'Idle: waiting before the next connection attempt',
  Connect: 'Connect: connecting',
  Active: 'Active: waiting for the peer to connect',
  OpenSent: 'OpenSent: OPEN sent, waiting for the peer\'s OPEN',
  OpenConfirm: 'OpenConfirm: OPEN received, waiting for KEEPALIVE',
  Established: 'Established',
};

/**
 * The INFO line: the session's condition NOW. An error is part of it only while it explains the
 * current state - it happened when this state was entered (or, when its time is unknown, the
 * session fell back to Idle/Active, RFC 4271 §8.2.2, which errors do); an old error on a session
 * that has since moved on (Established, or connecting again) is history: LAST ERROR shows it.
 */
export function peerInfo(v: PeerStatusView, state: PeerState, restarting: boolean, lastErrorAt?: number): string {
  if (state === 'Established') {
    // RFC 4724 §4.1/§2: after the peer's End-of-RIB for each family its routes are complete.
    const waiting = v.capabilities?.gracefulRestart
      ? (v.capabilities.families ?? []).filter((f) => !v.gracefulRestart.endOfRibReceived.includes(f)) : [];
    const parts: string[] = [];
    if (waiting.length > 0) parts.push(`waiting for End-of-RIB (${waiting.join(', ')})`);
    const mx = v.maxPrefixExceeded;
    if (mx) parts.push(`maximum prefixes exceeded (${mx.family}: ${mx.count} > ${mx.limit})`);
    return parts.length > 0 ? `Established: ${parts.join('; ')}` : 'Established';
  }
  if (restarting) return `${state}: graceful restart, routes kept`;
  const current = v.lastError !== null && (lastErrorAt !== undefined ? lastErrorAt >= v.since - 1000 : state === 'Idle' || state === 'Active');
  if (current) return `${state}: ${v.lastError}`;
  const detail = STATE_DETAIL[state] ?? state;
  return state === 'Connect' ? `${detail} to ${v.address}` : detail;
}

/**
 * One row of the peer table. `desired` is the session's DesiredPeer (undefined while a removed
 * session is still draining, make-before-break).
 */
export function peerStatusRow(v: PeerStatusView, desired: DesiredPeer | undefined, resources: readonly Resource[], removing: boolean): PeerStatus {
  const families: Partial<Record<StatusFamily, PrefixCounts>> = {};
  const sum: PrefixCounts = { received: 0, accepted: 0, advertised: 0 };
  for (const [f, c] of Object.entries(v.families)) {
    const fam = familyLabel(f);
    if (!fam) continue;
    families[fam] = { received: c.received, accepted: c.accepted, advertised: c.advertised };
    sum.received += c.received;
    sum.accepted += c.accepted;
    sum.advertised += c.advertised;
  }
  const state = v.state as PeerState;
  const stale = v.gracefulRestart.staleFamilies.map(familyLabel).filter((f): f is StatusFamily => f !== null);
  // RFC 4724 §4.2: while we hold a peer's routes as stale, the peer is restarting.
  const restarting = stale.length > 0 && state !== 'Established';
  // The speaker's PeerStatusView may carry when the last error happened (the FSM knows it).
  const lastErrorAt = (v as PeerStatusView & { lastErrorAt?: number | null }).lastErrorAt ?? undefined;
  const info = peerInfo(v, state, restarting, lastErrorAt);
  const row: PeerStatus = {
    name: v.name,
    address: v.address,
    asn: v.asn,
    type: desired ? peerTypeOf(desired, resources) : v.type === 'external' ? 'global' : v.type,
    state,
    since: v.since,
    info,
    prefixes: sum,
    families,
    messages: { in: v.messagesIn, out: v.messagesOut },
    updates: { in: v.updatesIn, out: v.updatesOut },
    capabilities: capabilityList(v),
    gracefulRestart: {
      peerCapable: v.capabilities?.gracefulRestart !== null && v.capabilities?.gracefulRestart !== undefined,
      restarting,
      ...(v.gracefulRestart.staleUntil !== null ? { staleUntil: v.gracefulRestart.staleUntil } : {}),
      ...(stale.length > 0 ? { staleFamilies: stale } : {}),
    },
    desired: !removing,
  };
  if (v.port !== 179) row.port = v.port;
  if (desired?.peerNode) row.node = desired.peerNode;
  if (v.lastError) row.lastError = v.lastError;
  if (v.lastError && lastErrorAt !== undefined) row.lastErrorAt = lastErrorAt;
  if (desired) row.source = [...desired.source];
  return row;
}

function bestOf(r: RouteView, explain?: ExplainView): BestPathStatus {
  const b = r.best;
  const multipath = r.paths.filter((p) => p !== r.paths[0] && p.nextHop !== null && r.nextHops.includes(p.nextHop) && p.nextHop !== b.nextHop).map((p) => p.peer);
  const lostAt = new Map<string, string>();
  for (const e of explain?.eliminated ?? []) for (const p of e.peers) if (!lostAt.has(p)) lostAt.set(p, reasonText(e.step));
  for (const i of explain?.ineligible ?? []) if (!lostAt.has(i.peer)) lostAt.set(i.peer, i.why.replace(/-/g, ' '));
  const alternatives = r.paths.slice(1).filter((p) => !multipath.includes(p.peer)).map((p: PathView) => ({
    peer: p.peer, nextHop: p.nextHop ?? 'self', lostBecause: lostAt.get(p.peer) ?? reasonText(r.reason),
  }));
  const out: BestPathStatus = {
    peer: b.peer,
    nextHop: b.nextHop ?? 'self',
    asPath: b.asPath.join(' '),
    reason: reasonText(r.reason),
    multipath,
  };
  if (alternatives.length > 0) out.alternatives = alternatives;
  if (b.stale) out.stale = true;
  return out;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  const s = new Set(a);
  return b.every((x) => s.has(x));
}

function skipNote(s: readonly SkippedNexthop[]): string {
  return s.map((x) => `${x.nexthop || 'route'}: ${x.reason} (${x.detail})`).join('; ');
}

function fibFromInstalled(k: InstalledRoute, state: FibStatus['state'], tunnel: FibStatus['tunnel'], note?: string): FibStatus {
  const f: FibStatus = {
    nexthops: k.gateways, onlink: k.onlink, tunnel, protocol: 'nexthop', state,
  };
  if (k.devs.length > 0) f.dev = k.devs.join(',');
  if (k.type !== 'unicast') f.routeType = k.type;
  if (note) f.note = note;
  return f;
}

function tunnelOf(intent: FibRouteIntent | null, dev?: string): FibStatus['tunnel'] {
  const kind = intent?.nexthops[0]?.kind;
  if (kind === 'ipip' || dev === 'tunl0') return 'ipip';
  if (kind === 'vxlan' || (dev ?? '').startsWith('vxlan')) return 'vxlan';
  return 'none';
}

/** One route's FIB side: what the dataplane decided vs what the kernel holds. */
export function fibStatusFor(r: RouteView, ctx: DecisionContext | null, installed: InstalledRoute | undefined, ownBlocks: readonly string[]): FibStatus | undefined {
  if (r.best.peer === 'local' || ownBlocks.includes(r.prefix)) {
    // Our own block: the blackhole route (pods are reached over their own interfaces).
    if (!installed) return { nexthops: [], onlink: false, tunnel: 'none', protocol: 'nexthop', routeType: 'blackhole', state: 'missing', note: 'own block: blackhole route not in the kernel' };
    return fibFromInstalled(installed, installed.type === 'blackhole' ? 'in-sync' : 'differs', 'none');
  }
  if (!ctx) {
    return installed ? fibFromInstalled(installed, 'differs', 'none', 'dataplane not started yet') : undefined;
  }
  const d = decideRoute(ctx, { prefix: r.prefix, nexthops: r.nextHops });
  if (!d.route) {
    const note = skipNote(d.skipped) || 'no usable next hop';
    if (installed) return fibFromInstalled(installed, 'extra', tunnelOf(null, installed.devs[0]), note);
    return { nexthops: [], onlink: false, tunnel: 'none', protocol: 'nexthop', state: 'skipped', note };
  }
  const want = d.route.nexthops;
  const tunnel = tunnelOf(d.route);
  const partial = d.skipped.length > 0 ? skipNote(d.skipped) : undefined;
  if (!installed) {
    return {
      nexthops: want.map((n) => n.gateway), dev: [...new Set(want.map((n) => n.dev).filter((x): x is string => !!x))].join(',') || undefined,
      onlink: want.some((n) => n.onlink), tunnel, protocol: 'nexthop', state: 'missing', ...(partial ? { note: partial } : {}),
    };
  }
  const same = sameSet(installed.gateways, want.map((n) => n.gateway))
    && sameSet(installed.devs, [...new Set(want.map((n) => n.dev).filter((x): x is string => !!x))]);
  return fibFromInstalled(installed, same ? 'in-sync' : 'differs', tunnel,
    same ? partial : `kernel has ${installed.gateways.join(',') || '-'} dev ${installed.devs.join(',') || '-'}, RIB wants ${want.map((n) => `${n.gateway} dev ${n.dev ?? '-'}`).join(', ')}`);
}

/** The routes view: every Loc-RIB destination with its FIB state, then our kernel routes nothing wants. */
export function routeStatuses(routes: readonly RouteView[], ctx: DecisionContext | null, installed: readonly InstalledRoute[], ownBlocks: readonly string[]): RouteStatus[] {
  const byPrefix = new Map(installed.map((k) => [k.prefix, k]));
  const seen = new Set<string>();
  const out: RouteStatus[] = [];
  for (const r of routes) {
    const c = parseCidr(r.prefix, false);
    const key = c ? formatCidr(c) : r.prefix;
    seen.add(key);
    const rs: RouteStatus = { prefix: r.prefix, family: r.family === 'ipv6-unicast' ? 'ipv6-unicast' : 'ipv4-unicast', best: bestOf(r) };
    const fib = fibStatusFor(r, ctx, byPrefix.get(key), ownBlocks);
    if (fib) rs.fib = fib;
    out.push(rs);
  }
  for (const k of installed) {
    if (seen.has(k.prefix)) continue;
    const own = ownBlocks.includes(k.prefix) && k.type === 'blackhole';
    out.push({
      prefix: k.prefix,
      family: k.prefix.includes(':') ? 'ipv6-unicast' : 'ipv4-unicast',
      fib: fibFromInstalled(k, own ? 'in-sync' : 'extra', tunnelOf(null, k.devs[0]), own ? 'own block' : 'no longer in the RIB: will be removed'),
    });
  }
  return out;
}

/**
 * Why the dataplane sends this way, in words (Calico CrossSubnet semantics). An ECMP route
 * (RFC 2992) is explained for every next hop: next hops handled alike (same kind, same device)
 * share one sentence, e.g. "next hops 10.0.0.11 and 10.0.0.12 are on the subnet of eth0".
 */
export function decisionText(intent: FibRouteIntent | null, pool: ExplainResult['pool'] | undefined): string | undefined {
  const hops = intent?.nexthops ?? [];
  if (hops.length === 0) return undefined;
  const modes = pool ? ` (pool ${pool.name}: ipipMode ${pool.ipipMode}, vxlanMode ${pool.vxlanMode})` : '';
  const groups = new Map<string, FibNexthop[]>();
  for (const n of hops) {
    const key = `${n.kind} ${n.dev ?? ''}`;
    const g = groups.get(key);
    if (g) g.push(n);
    else groups.set(key, [n]);
  }
  const parts = [...groups.values()].map((g) => nexthopGroupText(g));
  return `${parts.join('; ')}${hops.length > 1 ? `; the kernel load-shares over the ${hops.length} next hops (ECMP)` : ''}${modes}`;
}

/** One sentence for next hops of the same kind on the same device. */
function nexthopGroupText(g: readonly FibNexthop[]): string {
  const n = g[0];
  const many = g.length > 1;
  const which = `next hop${many ? 's' : ''} ${listText(g.map((h) => h.bgpNexthop))}`;
  const is = many ? 'are' : 'is';
  switch (n.kind) {
    case 'direct': return `${which} ${is} on the subnet of ${n.dev ?? 'a local interface'}, so packets go to ${many ? 'them' : 'it'} directly`;
    case 'vxlan': return `${which} ${is} reached through the VXLAN device ${n.dev ?? ''} to ${many ? 'their VTEPs' : 'its VTEP'} ${listText(g.map((h) => h.gateway))}`;
    case 'ipip': return `${which} ${is} encapsulated in IPIP over ${n.dev ?? 'tunl0'}`;
    case 'plain': return `${which} ${is} not on a connected subnet and the pool asks for no encapsulation: routed via ${listText(g.map((h) => h.gateway))}${n.dev ? ` dev ${n.dev}` : ''}`;
  }
  return which;
}

/** "a", "a and b", "a, b and c". */
function listText(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs[xs.length - 1]}`;
}

export interface ExplainInputs {
  address: string;
  nodeName: string;
  view: ClusterStateView;
  ownBlocks: readonly string[];
  explain: ExplainView;
  routes: readonly RouteStatus[];
  ctx: DecisionContext | null;
  peers: readonly PeerStatus[];
  kernel?: ExplainResult['kernel'];
}

/** `nexthop explain IP`: pool, block, owner, best path, kernel route, decision, problems. */
export function explainResult(x: ExplainInputs): ExplainResult {
  const bytes = parseIP(x.address);
  const out: ExplainResult = { address: canonicalIP(x.address) ?? x.address, problems: [] };
  if (!bytes) {
    out.problems.push(`'${x.address}' is not an IP address`);
    return out;
  }
  const pool = x.view.pools.find((p) => { const c = parseCidr(p.cidr); return c !== null && cidrContainsIP(c, bytes); });
  if (pool) {
    out.pool = { name: pool.name, cidr: pool.cidr, ipipMode: pool.ipipMode, vxlanMode: pool.vxlanMode, natOutgoing: pool.natOutgoing };
    if (pool.disabled) out.problems.push(`pool ${pool.name} is disabled: its routes are not accepted`);
  }
  const own = x.ownBlocks.find((b) => { const c = parseCidr(b); return c !== null && cidrContainsIP(c, bytes); });
  const ownerNode = x.view.nodes.find((n) => n.blocks.some((b) => { const c = parseCidr(b); return c !== null && cidrContainsIP(c, bytes); }));
  const block = own ?? x.explain.prefix ?? ownerNode?.blocks.find((b) => { const c = parseCidr(b); return c !== null && cidrContainsIP(c, bytes); });
  if (block) out.block = block;
  if (own) {
    const me = x.view.nodes.find((n) => n.name === x.nodeName);
    out.owner = { node: x.nodeName, address: (me?.ipv4Address ?? me?.ipv6Address ?? '').replace(/\/.*/, ''), local: true };
  } else if (ownerNode) {
    out.owner = { node: ownerNode.name, address: (ownerNode.ipv4Address ?? ownerNode.ipv6Address ?? '').replace(/\/.*/, ''), local: false };
  } else if (x.explain.route?.best.nextHop) {
    out.owner = { address: x.explain.route.best.nextHop, local: false };
  }
  const rv = x.explain.route;
  if (rv) {
    const rs = x.routes.find((r) => r.prefix === rv.prefix);
    const best = bestOf(rv, x.explain);
    out.route = { prefix: rv.prefix, family: rv.family === 'ipv6-unicast' ? 'ipv6-unicast' : 'ipv4-unicast', best, ...(rs?.fib ? { fib: rs.fib } : {}) };
    if (!own && x.ctx) {
      const d = decideRoute(x.ctx, { prefix: rv.prefix, nexthops: rv.nextHops });
      const text = decisionText(d.route, out.pool);
      if (text) out.decision = text;
      for (const s of d.skipped) out.problems.push(`next hop ${s.nexthop} not installed: ${s.reason} (${s.detail})`);
    }
    const peer = x.peers.find((p) => p.name === best.peer);
    if (peer && peer.state !== 'Established') {
      out.problems.push(`session ${peer.name} (${peer.address}) is ${peer.info}${best.stale ? '; the route is kept as stale (graceful restart)' : ''}`);
    }
    const f = out.route.fib;
    if (f && f.state !== 'in-sync' && f.state !== 'skipped' && !own) {
      const what = f.state === 'missing' ? 'the kernel route is missing' : f.state === 'differs' ? 'the kernel route differs from what the RIB wants'
        : 'the kernel route is no longer wanted (extra)';
      out.problems.push(`${what}${f.note ? `: ${f.note}` : ''}`);
    }
  } else if (pool && !own) {
    out.problems.push(ownerNode
      ? `node ${ownerNode.name} owns ${block} but no BGP route for it was learned: is its session up?`
      : 'no node has announced a block holding this address');
  }
  if (x.kernel) out.kernel = x.kernel;
  return out;
}

/** The Loc-RIB view the dataplane takes: destinations with next hops (own routes excluded). */
export function ribRoutesForDataplane(routes: readonly RouteView[]): { prefix: string; nexthops: string[] }[] {
  return routes.filter((r) => r.best.peer !== 'local' && r.nextHops.length > 0).map((r) => ({ prefix: r.prefix, nexthops: [...r.nextHops] }));
}
