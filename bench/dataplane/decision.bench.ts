// Benchmark of the dataplane's pure cores (no kernel): the next-hop decision (Calico CrossSubnet
// rule, nexthop-decision.ts) over a large Loc-RIB, turning decisions into FIB routes, planning a
// node of a 1,000-node cluster (VXLAN peers), and rendering the nft ruleset for 1,000 blocks.
// Usage: node bench/dataplane/decision.bench.js [--passes N] [--routes N]
import { performance } from 'perf_hooks';
import { ClusterView, planDataplane, toFibRoute } from '../../src/dataplane/dataplane';
import { firewallRules, renderNftScript } from '../../src/dataplane/firewall';
import { decideRoute, makeDecisionContext } from '../../src/dataplane/nexthop-decision';

function arg(name: string, dflt: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
}

const passes = arg('passes', 5);
const routeCount = arg('routes', 100000);
const NODES = 1000;

// 1,000 nodes: half on this host's subnet (direct), half on another (VXLAN).
const nodes = Array.from({ length: NODES }, (_, i) => ({
  name: `n${i}`,
  ipv4Address: i % 2 === 0 ? `10.${100 + (i >> 8)}.${i & 255}.${1 + (i % 200)}` : `172.16.${i >> 8}.${i & 255}`,
  ipv4VXLANTunnelAddr: `100.64.${i >> 8}.${i & 255}`,
  vxlanTunnelMACAddr: `02:00:00:00:${((i >> 8) & 255).toString(16).padStart(2, '0')}:${(i & 255).toString(16).padStart(2, '0')}`,
  blocks: [`10.${(i >> 8) & 255}.${i & 255}.0/24`],
}));
nodes[0].ipv4Address = '172.16.255.254';
const interfaces = [{ name: 'eth0', addresses: ['172.16.255.254/16'], mtu: 1500 }];
const pools = [{ cidr: '10.0.0.0/8', vxlanMode: 'CrossSubnet' as const, natOutgoing: true }, { cidr: '11.0.0.0/8', vxlanMode: 'CrossSubnet' as const }];
const ctx = makeDecisionContext({ pools, interfaces, nodes, ownBlocks: ['10.0.0.0/24'] });
const routes = Array.from({ length: routeCount }, (_, i) => ({
  prefix: `${10 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}.0/24`,
  nexthops: [nodes[1 + (i % (NODES - 1))].ipv4Address.replace(/\/.*/, '')],
}));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

function measure(label: string, fn: () => number, perUnit: string): void {
  const times: number[] = [];
  let units = 0;
  for (let p = 0; p < passes; p++) {
    const t0 = performance.now();
    units = fn();
    times.push(performance.now() - t0);
  }
  const m = median(times);
  const rate = units / (m / 1000);
  const rateText = rate >= 1e6 ? `${(rate / 1e6).toFixed(2)}M` : rate >= 1e4 ? `${Math.round(rate / 1000)}k` : rate.toFixed(0);
  console.log(`${label}: ${m.toFixed(1)} ms (${Math.min(...times).toFixed(1)}-${Math.max(...times).toFixed(1)}), ${rateText} ${perUnit}/s`);
}

measure(`decideRoute x ${routeCount}`, () => {
  let installed = 0;
  for (const r of routes) if (decideRoute(ctx, r).route) installed++;
  if (installed !== routeCount - 1) throw new Error(`expected ${routeCount - 1} routes (one is in the own block), got ${installed}`);
  return routeCount;
}, 'routes');

measure(`decideRoute + toFibRoute x ${routeCount}`, () => {
  let n = 0;
  for (const r of routes) {
    const d = decideRoute(ctx, r);
    if (d.route) n += toFibRoute(d.route).nexthops!.length;
  }
  return n;
}, 'routes');

const cluster: ClusterView = { nodeName: 'n0', pools, ownBlocks: ['10.0.0.0/24'], nodes };
measure(`planDataplane, ${NODES}-node cluster`, () => {
  const p = planDataplane(cluster, interfaces);
  if (p.vxlan4!.peers.length !== NODES - 1) throw new Error('peers');
  return 1;
}, 'plans');

measure(`firewall rules + nft script, ${NODES} blocks`, () => {
  const text = renderNftScript(firewallRules({ pools, otherBlocks: nodes.slice(1).map((n) => n.blocks[0]) }));
  if (!text.includes('masquerade')) throw new Error('no masquerade rule');
  return 1;
}, 'scripts');
