// The demo's plan (src/demo/topology.ts) against the real cluster layer: the resources of each
// act parse and validate (src/cluster/resources.ts), and the sessions the demo waits for are
// exactly the ones src/cluster/peers.ts derives from them (Calico mesh / RFC 4456 semantics).
import { expect } from 'chai';
import { parseResources, validateSet, Resource } from '../../../src/cluster/resources';
import { desiredPeers } from '../../../src/cluster/peers';
import { Act, MAX_NODES_PER_RACK, NODE_AS, RR_CLUSTER_ID, TOR_AS, TopologyError, clusterResources, expectedPeers, planTopology, torBirdConfig } from '../../../src/demo/topology';

function resourcesOf(yaml: string): Resource[] {
  const items = parseResources(yaml, 'demo.yaml');
  validateSet(items);
  return items.map((i) => i.resource);
}

describe('demo/topology', () => {
  it('plans two racks of N nodes with distinct addresses on their rack subnet and one reflector per rack', () => {
    const t = planTopology(3);
    expect(t.racks).to.have.length(2);
    expect(t.nodes).to.have.length(6);
    expect(new Set(t.nodes.map((n) => n.address)).size).to.equal(6);
    expect(new Set(t.nodes.map((n) => n.short)).size).to.equal(6);
    for (const n of t.nodes) {
      expect(n.address.startsWith(`10.0.${n.rack}.`)).to.equal(true);
      expect(n.gateway).to.equal(`10.0.${n.rack}.1`);
    }
    expect(t.nodes.filter((n) => n.reflector).map((n) => n.name)).to.deep.equal(['rack1-node1', 'rack2-node1']);
  });

  it('rejects a node count outside 1..MAX with an error naming the field', () => {
    for (const bad of [0, -1, 1.5, MAX_NODES_PER_RACK + 1, NaN]) {
      expect(() => planTopology(bad)).to.throw(TopologyError, /nodesPerRack/);
    }
  });

  for (const act of ['mesh', 'reflectors'] as Act[]) {
    for (const perRack of [1, 2, 3]) {
      it(`act '${act}' with ${perRack} per rack: resources validate and the awaited sessions are what the cluster layer derives`, () => {
        const t = planTopology(perRack);
        const resources = resourcesOf(clusterResources(t, act));
        for (const n of t.nodes) {
          const derived = desiredPeers(n.name, resources).map((p) => p.peerAddress).sort();
          expect(derived, n.name).to.deep.equal(expectedPeers(t, n, act));
        }
      });
    }
  }

  it('act reflectors: reflectors carry the cluster id and label, the mesh is off, clients peer only with reflectors and their ToR', () => {
    const t = planTopology(2);
    const resources = resourcesOf(clusterResources(t, 'reflectors'));
    const cfg = resources.find((r) => r.kind === 'BGPConfiguration');
    expect(cfg?.kind === 'BGPConfiguration' && cfg.spec.nodeToNodeMeshEnabled).to.equal(false);
    const rr = resources.find((r) => r.kind === 'Node' && r.metadata.name === 'rack1-node1');
    expect(rr?.kind === 'Node' && rr.spec.bgp?.routeReflectorClusterID).to.equal(RR_CLUSTER_ID);
    expect(expectedPeers(t, t.nodes[1], 'reflectors')).to.deep.equal(['10.0.1.1', '10.0.1.11', '10.0.2.11']);
    const kinds = desiredPeers('rack1-node2', resources).map((p) => `${p.peerAddress}:${p.kind}`).sort();
    expect(kinds.some((k) => k.startsWith('10.0.1.1:'))).to.equal(true);
    expect(desiredPeers('rack1-node2', resources).find((p) => p.peerAddress === '10.0.1.1')?.peerAsn).to.equal(TOR_AS);
    expect(desiredPeers('rack1-node2', resources).find((p) => p.peerAddress === '10.0.1.11')?.peerAsn).to.equal(NODE_AS);
  });

  it('the ToR config peers with both rack subnets as eBGP and exports nothing to the nodes', () => {
    const conf = torBirdConfig(planTopology(2));
    expect(conf).to.include(`neighbor range 10.0.1.0/24 as ${NODE_AS};`);
    expect(conf).to.include(`neighbor range 10.0.2.0/24 as ${NODE_AS};`);
    expect(conf.match(new RegExp(`as ${TOR_AS};`, 'g'))).to.have.length(2);
    expect(conf.match(/export none;/g)).to.have.length(2);
  });
});
