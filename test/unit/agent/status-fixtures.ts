// Realistic snapshots for the status formatting tests: a node in rack 1 of a route-reflected
// cluster with a ToR peer, as the agent would fill them from the speaker and the dataplane.
import type { AgentStatus, ExplainResult, PeerStatus, RouteStatus } from '../../../src/agent/status-types';

/** 2026-11-21 12:00:00 UTC. */
export const NOW = Date.UTC(2026, 10, 21, 12, 0, 0);
const MIN = 60_000;
const HOUR = 60 * MIN;

export const PEERS: PeerStatus[] = [
  {
    name: 'peer/10.0.1.1', address: '10.0.1.1', asn: 65001, type: 'node-specific', state: 'Established',
    since: NOW - 26 * HOUR - 5 * MIN, info: 'Established', prefixes: { received: 3, accepted: 1, advertised: 1 },
    messages: { in: 3200, out: 3190 }, capabilities: ['4-octet AS', 'route refresh', 'graceful restart'],
    source: ['BGPPeer/rack-1-tor'],
  },
  {
    name: 'node/rr-1/v4', node: 'rr-1', address: '10.0.1.10', asn: 64512, type: 'rr-server', state: 'Established',
    since: NOW - 2 * HOUR - 13 * MIN - 4_000, info: 'Established', prefixes: { received: 41, accepted: 41, advertised: 1 },
    messages: { in: 900, out: 850 }, capabilities: ['4-octet AS', 'route refresh', 'graceful restart', 'extended message'],
  },
  {
    name: 'node/rr-2/v4', node: 'rr-2', address: '10.0.2.10', asn: 64512, type: 'rr-server', state: 'Active',
    since: NOW - 42_000, info: 'Active: Connection refused', lastError: 'Hold timer expired (sent NOTIFICATION 4/0)',
    lastErrorAt: NOW - 5 * MIN - 2_000, prefixes: { received: 0, accepted: 0, advertised: 0 },
    messages: { in: 700, out: 702 }, capabilities: [],
    gracefulRestart: { peerCapable: true, restarting: true, staleUntil: NOW + 78_000 },
  },
];

export const STATUS: AgentStatus = {
  node: 'node-a', version: '0.1.0', startedAt: NOW - 26 * HOUR - 6 * MIN, asn: 64512, routerId: '10.0.1.21',
  blocks: ['10.244.3.0/24'],
  datastore: { kind: 'etcd', endpoint: 'https://10.0.0.5:2379', connected: true },
  peers: PEERS, ready: true, now: NOW,
};

export const ROUTES: RouteStatus[] = [
  {
    prefix: '10.244.7.0/24', family: 'ipv4-unicast',
    best: { peer: 'node/rr-1/v4', nextHop: '10.0.2.33', asPath: '', reason: 'only path', multipath: [] },
    fib: { nexthops: ['10.0.2.33'], dev: 'tunl0', onlink: true, tunnel: 'ipip', protocol: 'nexthop', state: 'in-sync' },
  },
  {
    prefix: '10.244.3.0/24', family: 'ipv4-unicast',
    best: { peer: 'local', nextHop: '10.0.1.21', asPath: '', reason: 'locally originated', multipath: [] },
    fib: { nexthops: [], onlink: false, tunnel: 'none', protocol: 'nexthop', routeType: 'blackhole', state: 'in-sync' },
  },
  {
    prefix: '10.244.5.0/24', family: 'ipv4-unicast',
    best: { peer: 'node/rr-1/v4', nextHop: '10.0.1.22', asPath: '', reason: 'only path', multipath: [] },
    fib: { nexthops: ['10.0.1.22'], dev: 'eth0', onlink: false, tunnel: 'none', protocol: 'nexthop', state: 'missing' },
  },
  {
    prefix: '10.244.9.0/24', family: 'ipv4-unicast',
    fib: { nexthops: ['10.0.1.29'], dev: 'eth0', onlink: false, tunnel: 'none', protocol: 'nexthop', state: 'extra' },
  },
  {
    prefix: '0.0.0.0/0', family: 'ipv4-unicast',
    best: { peer: 'peer/10.0.1.1', nextHop: '10.0.1.1', asPath: '65001 65000', reason: 'only path', multipath: [] },
    fib: { nexthops: [], onlink: false, tunnel: 'none', protocol: 'nexthop', state: 'skipped', note: 'outside every IP pool: not installed (import policy)' },
  },
];

export const EXPLAIN_REMOTE: ExplainResult = {
  address: '10.244.7.17',
  pool: { name: 'default-ipv4-ippool', cidr: '10.244.0.0/16', ipipMode: 'CrossSubnet', vxlanMode: 'Never', natOutgoing: true },
  block: '10.244.7.0/24',
  owner: { node: 'node-f', address: '10.0.2.33', local: false },
  route: ROUTES[0],
  kernel: { dev: 'tunl0', via: '10.0.2.33', src: '10.244.3.1' },
  decision: '10.0.2.33 is not on a directly connected subnet (eth0 is 10.0.1.0/24) and ipipMode is CrossSubnet',
  problems: [],
};

export const EXPLAIN_OUTSIDE: ExplainResult = {
  address: '192.168.7.7',
  problems: [],
};
