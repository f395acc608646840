// The control socket's answers built from speaker, cluster and dataplane data: peer rows (state,
// info line, RFC 4724 restart state, prefix counts, Calico peer type), the routes view (RIB best
// path next to the kernel route: in sync, missing, differs, skipped, extra, own blackhole, VXLAN
// decision) and explain (pool, block, owner, best path, decision, problems).
import { expect } from 'chai';
import { parseResources, Resource } from '../../../src/cluster/resources';
import { buildView } from '../../../src/cluster/state';
import { desiredPeers } from '../../../src/cluster/peers';
import { makeDecisionContext } from '../../../src/dataplane/nexthop-decision';
import { peerStatusRow, routeStatuses, explainResult, reasonText, InstalledRoute, ribRoutesForDataplane } from '../../../src/agent/agent-views';
import type { PeerStatusView, RouteView, PathView, ExplainView } from '../../../src/speaker/types';

const YAML = `
apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.244.0.0/16, vxlanMode: CrossSubnet }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: a }
spec: { bgp: { ipv4Address: 10.0.0.1/24 } }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: b }
spec: { bgp: { ipv4Address: 10.0.0.2/24 } }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: far }
spec: { bgp: { ipv4Address: 10.9.0.7/24 } }
---
apiVersion: nexthop.io/v1
kind: BGPPeer
metadata: { name: tor }
spec: { peerIP: 10.0.0.254, asNumber: 65001, node: a }
`;

const resources: Resource[] = parseResources(YAML, 't.yaml').map((l) => l.resource);
const claims = [['10.244.1.0/24', 'a'], ['10.244.2.0/24', 'b'], ['10.244.9.0/24', 'far']].map(([cidr, node]) => ({ cidr, pool: 'pods', node, claimedAt: '', pinned: false }));
const view = buildView(resources, claims, new Map(), new Map());
const own = ['10.244.1.0/24'];
const ctx = makeDecisionContext({
  pools: [{ cidr: '10.244.0.0/16', vxlanMode: 'CrossSubnet' }],
  interfaces: [{ name: 'eth0', addresses: ['10.0.0.1/24'] }],
  nodes: [
    { name: 'a', ipv4Address: '10.0.0.1/24', ipv4VXLANTunnelAddr: '10.244.1.0', vxlanTunnelMACAddr: '02:00:00:00:00:01' },
    { name: 'b', ipv4Address: '10.0.0.2/24', ipv4VXLANTunnelAddr: '10.244.2.0', vxlanTunnelMACAddr: '02:00:00:00:00:02' },
    { name: 'far', ipv4Address: '10.9.0.7/24', ipv4VXLANTunnelAddr: '10.244.9.0', vxlanTunnelMACAddr: '02:00:00:00:00:09' },
  ],
  ownBlocks: own,
});

function pathOf(peer: string, nextHop: string | null, over: Partial<PathView> = {}): PathView {
  return { peer, peerAddress: nextHop, kind: peer === 'local' ? 'local' : 'ibgp', nextHop, asPath: [], origin: 'igp', communities: [], largeCommunities: [], stale: false, receivedAt: 0, ...over };
}

function rv(prefix: string, paths: PathView[], reason = 'only-path'): RouteView {
  return { family: 'ipv4-unicast', prefix, best: paths[0], reason: reason as RouteView['reason'], nextHops: paths[0].nextHop ? [paths[0].nextHop] : [], paths };
}

const RIB: RouteView[] = [
  rv('10.244.1.0/24', [pathOf('local', null)]),
  rv('10.244.2.0/24', [pathOf('node/b/v4', '10.0.0.2'), pathOf('peer/10.0.0.254', '10.0.0.254', { kind: 'ebgp', asPath: [65001] })], 'as-path-length'),
  rv('10.244.9.0/24', [pathOf('node/far/v4', '10.9.0.7', { stale: true })]),
  rv('10.244.77.0/24', [pathOf('node/b/v4', '10.244.1.5')]),
];

const KERNEL: InstalledRoute[] = [
  { prefix: '10.244.1.0/24', type: 'blackhole', gateways: [], devs: [], onlink: false },
  { prefix: '10.244.2.0/24', type: 'unicast', gateways: ['10.0.0.2'], devs: ['eth0'], onlink: false },
  { prefix: '10.244.9.0/24', type: 'unicast', gateways: ['10.0.0.9'], devs: ['eth0'], onlink: false },
  { prefix: '10.244.50.0/24', type: 'unicast', gateways: ['10.0.0.2'], devs: ['eth0'], onlink: false },
];

function statusView(over: Partial<PeerStatusView>): PeerStatusView {
  return {
    name: 'node/b/v4', address: '10.0.0.2', port: 179, asn: 64512, localAs: 64512, type: 'mesh', state: 'Established', since: 1000, lastError: null,
    localAddress: '10.0.0.1', messagesIn: 10, messagesOut: 12, updatesIn: 2, updatesOut: 3, flaps: 0,
    families: { 'ipv4-unicast': { received: 3, accepted: 2, rejected: 1, stale: 0, advertised: 1 } }, rejected: {},
    capabilities: {
      peerId: '10.0.0.2', peerAs: 64512, internal: true, holdTime: 90, keepaliveTime: 30, families: ['ipv4-unicast'], as4: true, routeRefresh: true,
      enhancedRouteRefresh: false, extendedMessage: true, addPathReceive: [], addPathSend: [],
      gracefulRestart: { restartTime: 120, restarting: false, notification: true, families: [] }, peerHostname: 'b',
    },
    gracefulRestart: { enabled: true, staleFamilies: [], staleUntil: null, endOfRibReceived: ['ipv4-unicast'], endOfRibSent: true },
    maxPrefixExceeded: null,
    ...over,
  };
}

describe('agent: status, routes and explain views (agent-views)', () => {
  const desired = new Map(desiredPeers('a', resources).map((d) => [d.name, d]));

  it('peer rows: state, info, counts, capabilities, node, type, source', () => {
    const row = peerStatusRow(statusView({}), desired.get('node/b/v4'), resources, false);
    expect(row).to.deep.include({ name: 'node/b/v4', address: '10.0.0.2', asn: 64512, type: 'mesh', node: 'b', state: 'Established', info: 'Established', desired: true });
    expect(row.prefixes).to.deep.equal({ received: 3, accepted: 2, advertised: 1 });
    expect(row.capabilities).to.include.members(['4-octet AS', 'route refresh', 'graceful restart (120s)', 'ipv4-unicast']);
    expect(row.gracefulRestart).to.deep.equal({ peerCapable: true, restarting: false });
    expect(row.source).to.deep.equal(['BGPConfiguration/default (node-to-node mesh)']);
    const tor = peerStatusRow(statusView({ name: 'peer/10.0.0.254', address: '10.0.0.254', type: 'external', state: 'Active', lastError: 'Connection refused', capabilities: null }),
      desired.get('peer/10.0.0.254'), resources, false);
    expect(tor).to.deep.include({ type: 'node-specific', info: 'Active: Connection refused', lastError: 'Connection refused' });
  });

  it('peer rows: INFO is the condition now - an old error on a session that moved on is not in it (LAST ERROR keeps it)', () => {
    const d = desired.get('node/b/v4');
    // Established after a failed connect: INFO says Established, the error stays as history.
    const up = peerStatusRow(statusView({ lastError: 'connect failed: ECONNREFUSED' }), d, resources, false);
    expect(up.info).to.equal('Established');
    expect(up.lastError).to.equal('connect failed: ECONNREFUSED');
    // Established, graceful restart negotiated, the peer's End-of-RIB not in yet (RFC 4724 §2).
    const gr = statusView({});
    const waiting = peerStatusRow({ ...gr, gracefulRestart: { ...gr.gracefulRestart, endOfRibReceived: [] } }, d, resources, false);
    expect(waiting.info).to.equal('Established: waiting for End-of-RIB (ipv4-unicast)');
    // Connecting again after an error: the state's own detail, not the old error.
    expect(peerStatusRow(statusView({ state: 'Connect', lastError: 'Hold timer expired', capabilities: null }), d, resources, false).info)
      .to.equal('Connect: connecting to 10.0.0.2');
    expect(peerStatusRow(statusView({ state: 'OpenSent', lastError: 'connect failed: ECONNREFUSED', capabilities: null }), d, resources, false).info)
      .to.equal('OpenSent: OPEN sent, waiting for the peer\'s OPEN');
    expect(peerStatusRow(statusView({ state: 'Active', lastError: null, capabilities: null }), d, resources, false).info)
      .to.equal('Active: waiting for the peer to connect');
    // With the error's time known: current only when it came when this state was entered.
    const timed = (at: number) => ({ ...statusView({ state: 'Idle', since: 50_000, lastError: 'Hold timer expired', capabilities: null }), lastErrorAt: at });
    const cur = peerStatusRow(timed(50_000), d, resources, false);
    expect(cur.info).to.equal('Idle: Hold timer expired');
    expect(cur.lastErrorAt).to.equal(50_000);
    expect(peerStatusRow(timed(10_000), d, resources, false).info).to.equal('Idle: waiting before the next connection attempt');
  });

  it('peer rows: a peer whose routes we keep as stale is restarting (RFC 4724 §4.2); a removed one is not desired', () => {
    const row = peerStatusRow(statusView({ state: 'Idle', gracefulRestart: { enabled: true, staleFamilies: ['ipv4-unicast'], staleUntil: 5000, endOfRibReceived: [], endOfRibSent: false } }),
      desired.get('node/b/v4'), resources, true);
    expect(row.gracefulRestart).to.deep.equal({ peerCapable: true, restarting: true, staleUntil: 5000, staleFamilies: ['ipv4-unicast'] });
    expect(row.info).to.equal('Idle: graceful restart, routes kept');
    expect(row.desired).to.equal(false);
  });

  it('routes: RIB next to FIB with the state of each prefix', () => {
    const rs = routeStatuses(RIB, ctx, KERNEL, own);
    const by = new Map(rs.map((r) => [r.prefix, r]));
    expect(by.get('10.244.1.0/24')!.fib).to.deep.include({ routeType: 'blackhole', state: 'in-sync' });
    expect(by.get('10.244.1.0/24')!.best).to.deep.include({ peer: 'local', nextHop: 'self', reason: 'only path' });
    const b = by.get('10.244.2.0/24')!;
    expect(b.best).to.deep.include({ peer: 'node/b/v4', nextHop: '10.0.0.2', reason: 'shortest AS_PATH' });
    expect(b.best!.alternatives).to.deep.equal([{ peer: 'peer/10.0.0.254', nextHop: '10.0.0.254', lostBecause: 'shortest AS_PATH' }]);
    expect(b.fib).to.deep.include({ state: 'in-sync', dev: 'eth0', tunnel: 'none', nexthops: ['10.0.0.2'] });
    // 10.9.0.7 is across a router: CrossSubnet VXLAN to its VTEP, but the kernel has something else.
    const far = by.get('10.244.9.0/24')!;
    expect(far.best!.stale).to.equal(true);
    expect(far.fib).to.deep.include({ state: 'differs', tunnel: 'vxlan' });
    expect(far.fib!.note).to.contain('RIB wants 10.244.9.0 dev vxlan.nexthop');
    // A next hop inside our own block is refused by the dataplane.
    expect(by.get('10.244.77.0/24')!.fib).to.deep.include({ state: 'skipped' });
    // In the kernel with our protocol, not in the RIB.
    expect(by.get('10.244.50.0/24')!.fib).to.deep.include({ state: 'extra' });
    expect(by.get('10.244.50.0/24')!.best).to.equal(undefined);
    const missing = routeStatuses(RIB, ctx, [], own);
    expect(missing.find((r) => r.prefix === '10.244.2.0/24')!.fib).to.deep.include({ state: 'missing', dev: 'eth0', nexthops: ['10.0.0.2'] });
  });

  it('explain: pool, block, owner, best path, why direct or tunnelled, problems', () => {
    const routes = routeStatuses(RIB, ctx, KERNEL, own);
    const ex: ExplainView = { address: '10.244.2.9', prefix: '10.244.2.0/24', route: RIB[1], eliminated: [{ step: 'as-path-length', peers: ['peer/10.0.0.254'] }], ineligible: [] };
    const peers = [peerStatusRow(statusView({}), desired.get('node/b/v4'), resources, false)];
    const x = explainResult({ address: '10.244.2.9', nodeName: 'a', view, ownBlocks: own, explain: ex, routes, ctx, peers, kernel: { dev: 'eth0', via: '10.0.0.2' } });
    expect(x.pool).to.deep.equal({ name: 'pods', cidr: '10.244.0.0/16', ipipMode: 'Never', vxlanMode: 'CrossSubnet', natOutgoing: false });
    expect(x.block).to.equal('10.244.2.0/24');
    expect(x.owner).to.deep.equal({ node: 'b', address: '10.0.0.2', local: false });
    expect(x.route!.best!.peer).to.equal('node/b/v4');
    expect(x.decision).to.contain('on the subnet of eth0');
    expect(x.problems).to.deep.equal([]);

    const farEx: ExplainView = { address: '10.244.9.1', prefix: '10.244.9.0/24', route: RIB[2], eliminated: [], ineligible: [] };
    const down = [peerStatusRow(statusView({ name: 'node/far/v4', state: 'Active', lastError: 'Connection refused' }), desired.get('node/far/v4'), resources, false)];
    const y = explainResult({ address: '10.244.9.1', nodeName: 'a', view, ownBlocks: own, explain: farEx, routes, ctx, peers: down });
    expect(y.decision).to.contain('VXLAN');
    expect(y.problems.join('\n')).to.contain('session node/far/v4 (10.0.0.2) is Active: Connection refused; the route is kept as stale');
    expect(y.problems.join('\n')).to.contain('the kernel route differs from what the RIB wants: kernel has 10.0.0.9 dev eth0');

    const mine = explainResult({ address: '10.244.1.20', nodeName: 'a', view, ownBlocks: own, explain: { address: '10.244.1.20', prefix: '10.244.1.0/24', route: RIB[0], eliminated: [], ineligible: [] }, routes, ctx, peers });
    expect(mine.owner).to.deep.equal({ node: 'a', address: '10.0.0.1', local: true });
    const outside = explainResult({ address: '192.0.2.1', nodeName: 'a', view, ownBlocks: own, explain: { address: '192.0.2.1', prefix: null, route: null, eliminated: [], ineligible: [] }, routes, ctx, peers });
    expect(outside.pool).to.equal(undefined);
    expect(outside.route).to.equal(undefined);
    const nobody = explainResult({ address: '10.244.200.1', nodeName: 'a', view, ownBlocks: own, explain: { address: '10.244.200.1', prefix: null, route: null, eliminated: [], ineligible: [] }, routes, ctx, peers });
    expect(nobody.problems).to.deep.equal(['no node has announced a block holding this address']);
    expect(explainResult({ address: 'nope', nodeName: 'a', view, ownBlocks: own, explain: ex, routes, ctx, peers }).problems[0]).to.contain('not an IP address');
  });

  it('reasons in words; the dataplane gets learned routes with next hops only', () => {
    expect(reasonText('router-id')).to.equal('lowest router id');
    expect(reasonText('only-path')).to.equal('only path');
    expect(ribRoutesForDataplane(RIB).map((r) => r.prefix)).to.deep.equal(['10.244.2.0/24', '10.244.9.0/24', '10.244.77.0/24']);
  });
});
