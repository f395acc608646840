// The agent's pure mapping from cluster state to speaker and dataplane input: node identity and
// its errors, VXLAN VTEP fields, the dataplane view, PeerConfig from DesiredPeer, and the sets
// the make-before-break planner needs (converged: Established + End-of-RIB, RFC 4724 §2;
// covered: every route also learned over a session that stays), and the mapping of desired-peer
// changes onto Speaker.addPeer / updatePeer / removePeer (planPeerOperations), what restarts the
// speaker and what it takes live, and the communities of the own blocks.
import { expect } from 'chai';
import { parseResources, Resource, IPPoolSpec } from '../../../src/cluster/resources';
import { buildView, ClusterView } from '../../../src/cluster/state';
import { BlockClaim } from '../../../src/cluster/keys';
import { desiredPeers, DesiredPeer } from '../../../src/cluster/peers';
import {
  AgentConfigError, nodeIdentity, desiredNodeStatus, withOwnStatus, dataplaneView, peerConfigFor, convergedPeers, coveredPeers, enabledPoolCidrs,
  planPeerOperations, aliasLivePeers, speakerRestartKey, ownBlockCommunities,
} from '../../../src/agent/agent-plan';
import { vtepMacFor } from '../../../src/dataplane/tunnels';
import { planDataplane } from '../../../src/dataplane/dataplane';
import type { PeerStatusView, RouteView, PathView } from '../../../src/speaker/types';

const YAML = `
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 65010, listenPort: 1179 }
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.244.0.0/16, vxlanMode: CrossSubnet }
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: old }
spec: { cidr: 10.250.0.0/16, disabled: true }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: a }
spec: { bgp: { ipv4Address: 10.0.0.1/24, routeReflectorClusterID: 1.1.1.1 } }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: b }
spec: { bgp: { ipv4Address: 10.0.0.2/24, asNumber: 65020 } }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: v6only }
spec: { bgp: { ipv6Address: fd00::6/64 } }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: bare }
spec: {}
`;

function resources(): Resource[] {
  return parseResources(YAML, 'test.yaml').map((l) => l.resource);
}

function view(blocks: BlockClaim[] = []): ClusterView {
  return buildView(resources(), blocks, new Map(), new Map());
}

const claim = (cidr: string, node: string): BlockClaim => ({ cidr, pool: 'pods', node, claimedAt: '2026-01-01T00:00:00Z', pinned: false });

function peerView(name: string, state: string, over: Partial<PeerStatusView> = {}): PeerStatusView {
  return {
    name, address: '10.0.0.9', port: 179, asn: 65010, localAs: 65010, type: 'mesh', state, since: 0, lastError: null, localAddress: null,
    messagesIn: 0, messagesOut: 0, updatesIn: 0, updatesOut: 0, flaps: 0, families: {}, rejected: {},
    capabilities: null,
    gracefulRestart: { enabled: true, staleFamilies: [], staleUntil: null, endOfRibReceived: [], endOfRibSent: false },
    maxPrefixExceeded: null,
    ...over,
  };
}

function caps(gr: boolean): PeerStatusView['capabilities'] {
  return {
    peerId: '10.0.0.9', peerAs: 65010, internal: true, holdTime: 90, keepaliveTime: 30, families: ['ipv4-unicast'], as4: true,
    routeRefresh: true, enhancedRouteRefresh: false, extendedMessage: false, addPathReceive: [], addPathSend: [],
    gracefulRestart: gr ? { restartTime: 120, restarting: false, notification: true, families: [] } : null, peerHostname: null,
  };
}

function path(peer: string): PathView {
  return { peer, peerAddress: null, kind: 'ibgp', nextHop: '10.0.0.9', asPath: [], origin: 'igp', communities: [], largeCommunities: [], stale: false, receivedAt: 0 };
}

function route(prefix: string, peers: string[]): RouteView {
  return { family: 'ipv4-unicast', prefix, best: path(peers[0]), reason: 'only-path', nextHops: ['10.0.0.9'], paths: peers.map(path) };
}

describe('agent: cluster → speaker/dataplane mapping (agent-plan)', () => {
  it('nodeIdentity: AS (node over cluster), router id from the IPv4 address, cluster id, listen port', () => {
    const a = nodeIdentity(view(), 'a', {}, 'file:x');
    expect(a).to.deep.include({ asNumber: 65010, routerId: '10.0.0.1', ipv4: '10.0.0.1', clusterId: '1.1.1.1', listenPort: 1179 });
    const b = nodeIdentity(view(), 'b', { routerId: '9.9.9.9', listenPort: 179 }, 'file:x');
    expect(b).to.deep.include({ asNumber: 65020, routerId: '9.9.9.9', listenPort: 179 });
  });

  it('nodeIdentity: errors name the node and the field', () => {
    const err = (node: string) => {
      try { nodeIdentity(view(), node, {}, 'file:/c.yaml'); } catch (e) { expect(e).to.be.instanceOf(AgentConfigError); return e as AgentConfigError; }
      throw new Error('no error');
    };
    expect(err('zz').code).to.equal('UNKNOWN_NODE');
    expect(err('zz').message).to.contain('no Node resource named zz in file:/c.yaml (nodes: a, b, bare, v6only)');
    expect(err('bare').code).to.equal('NO_ADDRESS');
    expect(err('bare').message).to.contain('node bare: spec.bgp.ipv4Address');
    expect(err('v6only').code).to.equal('NO_ROUTER_ID');
    expect(err('v6only').message).to.contain('--router-id');
    expect(nodeIdentity(view(), 'v6only', { routerId: '10.6.6.6' }, 'x').ipv6).to.equal('fd00::6');
  });

  it('desiredNodeStatus: VTEP = network address of the own block in a VXLAN pool, MAC from the name; cleared otherwise', () => {
    const v = view([claim('10.244.3.0/24', 'a')]);
    const a = v.nodes.find((n) => n.name === 'a')!;
    const noV6 = { ipv6VXLANTunnelAddr: null, vxlanTunnelMACAddrV6: null };
    expect(desiredNodeStatus(v, a, ['10.244.3.0/24'])).to.deep.equal({ ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: vtepMacFor('a'), ...noV6 });
    expect(desiredNodeStatus(v, a, [])).to.deep.equal({ ipv4VXLANTunnelAddr: null, vxlanTunnelMACAddr: null, ...noV6 });
    const plain = buildView(resources().map((r) => (r.kind === 'IPPool' && r.metadata.name === 'pods' ? { ...r, spec: { ...r.spec, vxlanMode: 'Never' as const } } : r)), [], new Map(), new Map());
    expect(desiredNodeStatus(plain, plain.nodes.find((n) => n.name === 'a')!, ['10.244.3.0/24'])).to.deep.equal({ ipv4VXLANTunnelAddr: null, vxlanTunnelMACAddr: null, ...noV6 });
  });

  describe('desiredNodeStatus for IPv6 pools over VXLAN (vxlan6.nexthop, RFC 7348)', () => {
    const DUAL = `
apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: v4 }
spec: { cidr: 10.244.0.0/16, vxlanMode: CrossSubnet }
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: v6 }
spec: { cidr: 'fd74::/48', blockSize: 64, vxlanMode: CrossSubnet }
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: v6-rack-b }
spec: { cidr: 'fd75::/48', blockSize: 64, vxlanMode: Always, nodeSelector: "rack == 'b'" }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: a }
spec: { bgp: { ipv4Address: 10.0.1.1/24, ipv6Address: 'fd01::1/64' } }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: v4only }
spec: { bgp: { ipv4Address: 10.0.1.2/24 } }
`;
    /** The cluster above, with pool spec fields and node labels overridden by name. */
    const dual = (pools: Record<string, Partial<IPPoolSpec>> = {}, labels: Record<string, Record<string, string>> = {}): ClusterView =>
      buildView(parseResources(DUAL, 'd.yaml').map((l) => l.resource).map((r): Resource => {
        if (r.kind === 'IPPool' && pools[r.metadata.name]) return { ...r, spec: { ...r.spec, ...pools[r.metadata.name] } };
        if (r.kind === 'Node' && labels[r.metadata.name]) return { ...r, metadata: { ...r.metadata, labels: labels[r.metadata.name] } };
        return r;
      }), [], new Map(), new Map());
    const nodeOf = (v: ClusterView, name: string) => v.nodes.find((n) => n.name === name)!;

    it('publishes the IPv6 VTEP: the network address of the own v6 block in the pool, a MAC distinct from the v4 one', () => {
      const v = dual();
      const st = desiredNodeStatus(v, nodeOf(v, 'a'), ['10.244.3.0/24', 'fd74:0:0:3::/64']);
      expect(st).to.deep.equal({
        ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: vtepMacFor('a'),
        ipv6VXLANTunnelAddr: 'fd74:0:0:3::', vxlanTunnelMACAddrV6: vtepMacFor('a', 6),
      });
      expect(st.vxlanTunnelMACAddrV6).to.not.equal(st.vxlanTunnelMACAddr);
      // IPv6 only (no IPv4 block yet): the v6 fields alone.
      expect(desiredNodeStatus(v, nodeOf(v, 'a'), ['fd74:0:0:3::/64'])).to.deep.equal({
        ipv4VXLANTunnelAddr: null, vxlanTunnelMACAddr: null, ipv6VXLANTunnelAddr: 'fd74:0:0:3::', vxlanTunnelMACAddrV6: vtepMacFor('a', 6),
      });
    });

    it('clears the IPv6 fields when no IPv6 VXLAN pool selects the node, it has no v6 block in one, or no IPv6 address', () => {
      const cleared = { ipv6VXLANTunnelAddr: null, vxlanTunnelMACAddrV6: null };
      // The v6 pool goes to vxlanMode Never: v6 cleared, v4 kept.
      const never = dual({ v6: { vxlanMode: 'Never' } });
      expect(desiredNodeStatus(never, nodeOf(never, 'a'), ['10.244.3.0/24', 'fd74:0:0:3::/64'])).to.deep.equal({
        ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: vtepMacFor('a'), ...cleared,
      });
      // A block in a v6 pool without VXLAN does not make a VTEP, though another v6 pool uses VXLAN
      // (that one, fd75::/48, selects rack b only).
      expect(desiredNodeStatus(never, nodeOf(never, 'a'), ['fd75:0:0:3::/64'])).to.deep.include(cleared);
      // No v6 block (yet), or the node has no IPv6 underlay address to send the outer packets from.
      const v = dual();
      expect(desiredNodeStatus(v, nodeOf(v, 'a'), ['10.244.3.0/24'])).to.deep.include(cleared);
      expect(desiredNodeStatus(v, nodeOf(v, 'v4only'), ['10.244.4.0/24', 'fd74:0:0:4::/64'])).to.deep.equal({
        ipv4VXLANTunnelAddr: '10.244.4.0', vxlanTunnelMACAddr: vtepMacFor('v4only'), ...cleared,
      });
      // A disabled pool selects nobody.
      const off = dual({ v6: { disabled: true } });
      expect(desiredNodeStatus(off, nodeOf(off, 'a'), ['fd74:0:0:3::/64'])).to.deep.include(cleared);
    });

    it('a pool with a nodeSelector gives the VTEP only to the nodes it selects', () => {
      const labelled = dual({ v6: { vxlanMode: 'Never' } }, { a: { rack: 'b' } });
      expect(desiredNodeStatus(labelled, nodeOf(labelled, 'a'), ['fd75:0:0:9::/64'])).to.deep.include({ ipv6VXLANTunnelAddr: 'fd75:0:0:9::', vxlanTunnelMACAddrV6: vtepMacFor('a', 6) });
      const unlabelled = dual({ v6: { vxlanMode: 'Never' } });
      expect(desiredNodeStatus(unlabelled, nodeOf(unlabelled, 'a'), ['fd75:0:0:9::/64'])).to.deep.include({ ipv6VXLANTunnelAddr: null });
    });

    it('withOwnStatus applies and clears the IPv6 fields; dataplaneView hands them to the dataplane, which builds vxlan6.nexthop from them', () => {
      const v = dual();
      const st = desiredNodeStatus(v, nodeOf(v, 'a'), ['10.244.3.0/24', 'fd74:0:0:3::/64']);
      const mine = withOwnStatus(v, 'a', st);
      expect(nodeOf(mine, 'a')).to.deep.include({ ipv6VXLANTunnelAddr: 'fd74:0:0:3::', vxlanTunnelMACAddrV6: vtepMacFor('a', 6) });
      const dp = dataplaneView(mine, 'a', ['10.244.3.0/24', 'fd74:0:0:3::/64']);
      expect(dp.nodes.find((n) => n.name === 'a')).to.deep.equal({
        name: 'a', ipv4Address: '10.0.1.1/24', ipv6Address: 'fd01::1/64',
        ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: vtepMacFor('a'),
        ipv6VXLANTunnelAddr: 'fd74:0:0:3::', vxlanTunnelMACAddrV6: vtepMacFor('a', 6),
        blocks: ['10.244.3.0/24', 'fd74:0:0:3::/64'],
      });
      const plan = planDataplane(dp, [{ name: 'eth0', addresses: ['10.0.1.1/24', 'fd01::1/64'], mtu: 1500 }]);
      expect(plan.vxlan6!.device).to.deep.include({ name: 'vxlan6.nexthop', localAddress: 'fd01::1', vtepAddress: 'fd74:0:0:3::', vtepMac: vtepMacFor('a', 6), mtu: 1430 });
      expect(plan.vxlan4!.device).to.deep.include({ name: 'vxlan.nexthop', vtepMac: vtepMacFor('a') });
      // Cleared again: gone from the view and from what the dataplane gets.
      const back = withOwnStatus(mine, 'a', desiredNodeStatus(v, nodeOf(v, 'a'), ['10.244.3.0/24']));
      expect(nodeOf(back, 'a')).to.not.have.any.keys('ipv6VXLANTunnelAddr', 'vxlanTunnelMACAddrV6');
      expect(dataplaneView(back, 'a', ['10.244.3.0/24']).nodes.find((n) => n.name === 'a')).to.not.have.any.keys('ipv6VXLANTunnelAddr', 'vxlanTunnelMACAddrV6');
    });
  });

  it('withOwnStatus and dataplaneView: own fields merged, own blocks as given, other nodes\' blocks from IPAM', () => {
    const v = withOwnStatus(view([claim('10.244.3.0/24', 'a'), claim('10.244.4.0/24', 'b')]), 'a', { ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: '02:00:00:00:00:01' });
    const dp = dataplaneView(v, 'a', ['10.244.3.0/24']);
    expect(dp.nodeName).to.equal('a');
    expect(dp.ownBlocks).to.deep.equal(['10.244.3.0/24']);
    expect(dp.pools).to.deep.equal([
      { cidr: '10.250.0.0/16', ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: true },
      { cidr: '10.244.0.0/16', ipipMode: 'Never', vxlanMode: 'CrossSubnet', natOutgoing: false, disabled: false },
    ]);
    expect(dp.nodes.find((n) => n.name === 'a')).to.deep.equal({
      name: 'a', ipv4Address: '10.0.0.1/24', ipv4VXLANTunnelAddr: '10.244.3.0', vxlanTunnelMACAddr: '02:00:00:00:00:01', blocks: ['10.244.3.0/24'],
    });
    expect(dp.nodes.find((n) => n.name === 'b')!.blocks).to.deep.equal(['10.244.4.0/24']);
    expect(withOwnStatus(v, 'a', { vxlanTunnelMACAddr: null }).nodes.find((n) => n.name === 'a')!.vxlanTunnelMACAddr).to.equal(undefined);
  });

  it('peerConfigFor: every DesiredPeer field maps onto PeerConfig', () => {
    const [toB] = desiredPeers('a', resources()).filter((d) => d.name === 'node/b/v4');
    expect(peerConfigFor(toB)).to.deep.equal({
      name: 'node/b/v4', address: '10.0.0.2', port: 1179, peerAs: 65020, localAs: 65010, type: 'mesh', sourceAddress: '10.0.0.1',
    });
    expect(peerConfigFor({ ...toB, kind: 'external', password: 'pw', ttlSecurity: 1, keepOriginalNextHop: true, maxRestartTime: 30 }))
      .to.deep.include({ type: 'external', password: 'pw', ttlSecurity: 1, keepOriginalNextHop: true, maxRestartTime: 30 });
  });

  it('convergedPeers: Established with End-of-RIB for every family; without GR, Established is enough', () => {
    const s = [
      peerView('up-eor', 'Established', { capabilities: caps(true), gracefulRestart: { enabled: true, staleFamilies: [], staleUntil: null, endOfRibReceived: ['ipv4-unicast'], endOfRibSent: true } }),
      peerView('up-no-eor', 'Established', { capabilities: caps(true) }),
      peerView('up-no-gr', 'Established', { capabilities: caps(false) }),
      peerView('down', 'Active'),
    ];
    expect([...convergedPeers(s)].sort()).to.deep.equal(['up-eor', 'up-no-gr']);
  });

  it('coveredPeers: a leaving session is covered when each of its routes is also learned over one that stays', () => {
    const routes = [route('10.244.1.0/24', ['mesh-b', 'rr']), route('10.244.2.0/24', ['mesh-c']), route('10.244.3.0/24', ['local'])];
    expect([...coveredPeers(routes, ['mesh-b', 'mesh-c'], new Set(['rr']))]).to.deep.equal(['mesh-b']);
    expect([...coveredPeers(routes, ['mesh-b', 'mesh-c'], new Set(['rr', 'mesh-c']))].sort()).to.deep.equal(['mesh-b', 'mesh-c']);
  });

  it('enabledPoolCidrs: the import rule\'s pools leave disabled ones out', () => {
    expect(enabledPoolCidrs(resources())).to.deep.equal(['10.244.0.0/16']);
  });

  describe('planPeerOperations: desired-peer changes → Speaker.addPeer / updatePeer / removePeer', () => {
    /** Three nodes; `rr`: ra is a reflector (cluster id 1.1.1.1), the mesh is off, every node peers with it. */
    const cluster = (rr: boolean, extra = ''): Resource[] => parseResources(`
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec: { asNumber: 64512, nodeToNodeMeshEnabled: ${!rr} }
---
apiVersion: projectcalico.org/v3
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.72.0.0/16 }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: ra, labels: { rr: "true" } }
spec: { bgp: { ipv4Address: 10.73.0.1/24${rr ? ', routeReflectorClusterID: 1.1.1.1' : ''} } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: b, labels: { rr: "false" } }
spec: { bgp: { ipv4Address: 10.73.0.2/24 } }
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: { name: c, labels: { rr: "false" } }
spec: { bgp: { ipv4Address: 10.73.0.3/24 } }
${rr ? `---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: peer-with-rr }
spec: { nodeSelector: all(), peerSelector: rr == 'true' }` : ''}${extra}`, 'x.yaml').map((l) => l.resource);
    const names = (ds: readonly DesiredPeer[]) => ds.map((d) => d.name);

    it('mesh → reflector, on the reflector: both sessions updated in place to rr-client, nothing added or removed', () => {
      const running = desiredPeers('ra', cluster(false));
      const ops = planPeerOperations(running, desiredPeers('ra', cluster(true)), new Set(names(running)));
      expect(ops.add).to.deep.equal([]);
      expect(ops.remove).to.deep.equal([]);
      expect(ops.pending).to.equal(false);
      expect(ops.update.map((u) => [u.name, u.config.type, u.reset])).to.deep.equal([['node/b/v4', 'rr-client', false], ['node/c/v4', 'rr-client', false]]);
      expect(ops.update[0].fields).to.include('kind');
      expect(ops.update[0].config).to.deep.include({ name: 'node/b/v4', address: '10.73.0.2', peerAs: 64512, localAs: 64512 });
    });

    it('mesh → reflector, on a client: the reflector session updated to rr-server now; the client–client session goes only once converged and covered', () => {
      const running = desiredPeers('b', cluster(false));
      const desired = desiredPeers('b', cluster(true));
      const converged = new Set(names(running));
      const first = planPeerOperations(running, desired, converged, { covered: new Set() });
      expect(first.update.map((u) => [u.name, u.config.type])).to.deep.equal([['node/ra/v4', 'rr-server']]);
      expect(first.add).to.deep.equal([]);
      expect(first.remove).to.deep.equal([]);
      expect(first.pending).to.equal(true);
      // After the update the running set has the new role; c's routes now also come from ra.
      const updated = running.map((r) => desired.find((d) => d.name === r.name) ?? r);
      const second = planPeerOperations(updated, desired, converged, { covered: new Set(['node/c/v4']) });
      expect(second.update).to.deep.equal([]);
      expect(names(second.remove)).to.deep.equal(['node/c/v4']);
      expect(second.pending).to.equal(false);
    });

    it('a genuinely new session (a reflector the client did not peer with) is added first; the removal waits for it', () => {
      // Before: b peers only with c (explicit BGPPeer, mesh off); after: only with ra.
      const before = desiredPeers('b', cluster(false)).filter((d) => d.name === 'node/c/v4');
      const after = desiredPeers('b', cluster(true));
      const ops = planPeerOperations(before, after, new Set(['node/c/v4']), { covered: new Set(['node/c/v4']) });
      expect(names(ops.add)).to.deep.equal(['node/ra/v4']);
      expect(ops.update).to.deep.equal([]);
      expect(ops.remove).to.deep.equal([]);
      expect(ops.pending).to.equal(true);
      const later = planPeerOperations([...before, ...after], after, new Set(['node/c/v4', 'node/ra/v4']), { covered: new Set(['node/c/v4']) });
      expect(names(later.remove)).to.deep.equal(['node/c/v4']);
      expect(later.add).to.deep.equal([]);
    });

    it('a session the cluster renames (same address and family) is updated under its live name, never added beside it', () => {
      const live: DesiredPeer = {
        name: 'peer/10.73.0.9', family: 4, peerAddress: '10.73.0.9', peerPort: 179, peerAsn: 65000, localAsn: 64512, kind: 'external',
        keepOriginalNextHop: false, source: ['BGPPeer/tor'],
      };
      const renamed: DesiredPeer = { ...live, name: 'node/x/v4', kind: 'mesh', peerNode: 'x', source: ['BGPPeer/x'] };
      expect(aliasLivePeers([live], [renamed])).to.deep.equal([{ ...renamed, name: 'peer/10.73.0.9' }]);
      const ops = planPeerOperations([live], [renamed], new Set(['peer/10.73.0.9']));
      expect(ops.add).to.deep.equal([]);
      expect(ops.remove).to.deep.equal([]);
      expect(ops.update.map((u) => [u.name, u.config.type, u.config.address])).to.deep.equal([['peer/10.73.0.9', 'mesh', '10.73.0.9']]);
      expect(names(ops.desired)).to.deep.equal(['peer/10.73.0.9']);
      // A different address is a different session: added, and the old one removed after.
      const other = { ...renamed, peerAddress: '10.73.0.8' };
      const ops2 = planPeerOperations([live], [other], new Set(['peer/10.73.0.9']), { covered: new Set(['peer/10.73.0.9']) });
      expect(names(ops2.add)).to.deep.equal(['node/x/v4']);
      expect(ops2.update).to.deep.equal([]);
      // Same address, other family (never equal text, but the key includes it): no alias.
      expect(aliasLivePeers([live], [{ ...renamed, family: 6 }])[0].name).to.equal('node/x/v4');
    });

    it('a change of what the session carries (password) is an update with reset, made after the rest converged', () => {
      const running = desiredPeers('b', cluster(false));
      const desired = desiredPeers('b', cluster(false, `
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: { name: c-key }
spec: { peerIP: 10.73.0.3, asNumber: 64512, password: sesame }`));
      // c/v4 gets a password; ra not yet converged: the reset waits.
      const waiting = planPeerOperations(running, desired, new Set(['node/c/v4']));
      expect(waiting.update).to.deep.equal([]);
      expect(waiting.pending).to.equal(true);
      const ready = planPeerOperations(running, desired, new Set(names(running)));
      expect(ready.update.map((u) => [u.name, u.reset, u.config.password])).to.deep.equal([['node/c/v4', true, 'sesame']]);
      expect(ready.update[0].fields).to.include('password');
    });
  });

  it('speakerRestartKey: AS, router id, addresses, listen port restart the speaker; cluster id does not', () => {
    const a = nodeIdentity(view(), 'a', {}, 'x');
    expect(speakerRestartKey({ ...a, clusterId: undefined })).to.equal(speakerRestartKey(a));
    expect(speakerRestartKey({ ...a, asNumber: 1 })).to.not.equal(speakerRestartKey(a));
    expect(speakerRestartKey({ ...a, routerId: '1.2.3.4' })).to.not.equal(speakerRestartKey(a));
    expect(speakerRestartKey({ ...a, listenPort: 179 })).to.not.equal(speakerRestartKey(a));
    expect(speakerRestartKey({ ...a, ipv6: 'fd00::1' })).to.not.equal(speakerRestartKey(a));
  });

  it('ownBlockCommunities: standard AA:NN (RFC 1997) and large A:B:C (RFC 8092) values, node config over default, no duplicates', () => {
    const rs = parseResources(`
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: default }
spec:
  communities: [{ name: a, value: "64512:100" }, { name: b, value: "64512:100" }, { name: big, value: "4200000000:1:2" }]
---
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: { name: node.n2 }
spec:
  communities: [{ name: c, value: "65535:65535" }]
`, 'c.yaml').map((l) => l.resource);
    expect(ownBlockCommunities(rs, 'n1')).to.deep.equal({ communities: [64512 * 65536 + 100], largeCommunities: [[4200000000, 1, 2]] });
    expect(ownBlockCommunities(rs, 'n2')).to.deep.equal({ communities: [0xffffffff], largeCommunities: [] });
    expect(ownBlockCommunities(resources(), 'a')).to.deep.equal({ communities: [], largeCommunities: [] });
  });
});
