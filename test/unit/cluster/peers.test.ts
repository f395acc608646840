// Desired peers (mesh, route reflectors, ToR peers), diff, and the make-before-break planner,
// including a simulated mesh -> route-reflector migration that must never lose a route.
import { expect } from 'chai';
import { parseResources, Resource } from '../../../src/cluster/resources';
import { desiredPeers, diffPeers, planPeerTransition, DesiredPeer } from '../../../src/cluster/peers';

function res(yaml: string): Resource[] {
  return parseResources(yaml, 'test.yaml').map((l) => l.resource);
}
const node = (name: string, addr: string, extra = '', labels = '{}') =>
  `---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: ${name}, labels: ${labels}}\nspec: {bgp: {ipv4Address: ${addr}/24${extra}}}\n`;
const cfg = (spec: string) => `---\napiVersion: nexthop.io/v1\nkind: BGPConfiguration\nmetadata: {name: default}\nspec: ${spec}\n`;
const peer = (name: string, spec: string) => `---\napiVersion: nexthop.io/v1\nkind: BGPPeer\nmetadata: {name: ${name}}\nspec: ${spec}\n`;

describe('cluster/peers desiredPeers', () => {
  it('builds the full mesh per address family with the cluster AS', () => {
    const rs = res(cfg('{asNumber: 65001}') + node('a', '10.0.0.1', ', ipv6Address: "fd00::1/64"') + node('b', '10.0.0.2', ', ipv6Address: "fd00::2/64"') + node('c', '10.0.0.3'));
    const ps = desiredPeers('a', rs);
    expect(ps.map((p) => p.name)).to.deep.equal(['node/b/v4', 'node/b/v6', 'node/c/v4']);
    expect(ps[0]).to.deep.equal({ name: 'node/b/v4', family: 4, peerAddress: '10.0.0.2', peerPort: 179, peerAsn: 65001, localAsn: 65001,
      kind: 'mesh', peerNode: 'b', sourceAddress: '10.0.0.1', keepOriginalNextHop: false, source: ['BGPConfiguration/default (node-to-node mesh)'] });
    expect(ps[1]).to.include({ peerAddress: 'fd00::2', sourceAddress: 'fd00::1', family: 6 });
    expect(desiredPeers('nobody', rs)).to.deep.equal([]);
  });

  it('gives a node without a BGP address no sessions and leaves it out of others\' mesh', () => {
    const rs = res(node('a', '10.0.0.1') + '---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: b}\nspec: {}\n');
    expect(desiredPeers('b', rs)).to.deep.equal([]);
    expect(desiredPeers('a', rs)).to.deep.equal([]);
  });

  it('applies global and per-node external peers with every session field', () => {
    const rs = res(cfg('{nodeToNodeMeshEnabled: false}') + node('a', '10.0.0.1', '', '{rack: r1}') + node('b', '10.0.1.1', '', '{rack: r2}') +
      peer('tor-r1', "{peerIP: 10.0.0.254, asNumber: 65100, nodeSelector: \"rack == 'r1'\", password: pw, ttlSecurity: 1, keepOriginalNextHop: true, maxRestartTime: 90s}") +
      peer('tor-b', '{peerIP: "10.0.1.254:1790", asNumber: 65101, node: b, sourceAddress: None}') +
      peer('upstream', '{peerIP: 192.0.2.1, asNumber: 65200}'));
    expect(desiredPeers('a', rs)).to.deep.equal([
      { name: 'peer/10.0.0.254', family: 4, peerAddress: '10.0.0.254', peerPort: 179, peerAsn: 65100, localAsn: 64512, kind: 'external',
        password: 'pw', ttlSecurity: 1, sourceAddress: '10.0.0.1', keepOriginalNextHop: true, maxRestartTime: 90, source: ['BGPPeer/tor-r1'] },
      { name: 'peer/192.0.2.1', family: 4, peerAddress: '192.0.2.1', peerPort: 179, peerAsn: 65200, localAsn: 64512, kind: 'external',
        sourceAddress: '10.0.0.1', keepOriginalNextHop: false, source: ['BGPPeer/upstream'] },
    ]);
    const b = desiredPeers('b', rs);
    expect(b.map((p) => p.name)).to.deep.equal(['peer/10.0.1.254:1790', 'peer/192.0.2.1']);
    expect(b[0]).to.include({ peerPort: 1790, peerAsn: 65101 });
    expect(b[0]).to.not.have.property('sourceAddress');
  });

  it('derives route reflector roles in both directions (Calico semantics)', () => {
    const rr = ', routeReflectorClusterID: 224.0.0.1';
    const rs = res(cfg('{nodeToNodeMeshEnabled: false}') +
      node('rr1', '10.0.0.11', rr, '{route-reflector: "true"}') + node('rr2', '10.0.0.12', ', routeReflectorClusterID: 224.0.0.2', '{route-reflector: "true"}') +
      node('c1', '10.0.0.21') + node('c2', '10.0.0.22') +
      peer('to-rr', "{nodeSelector: '!has(route-reflector)', peerSelector: has(route-reflector)}") +
      peer('rr-mesh', "{nodeSelector: has(route-reflector), peerSelector: has(route-reflector)}"));
    const c1 = desiredPeers('c1', rs);
    expect(c1.map((p) => `${p.name} ${p.kind}`)).to.deep.equal(['node/rr1/v4 rr-server', 'node/rr2/v4 rr-server']);
    expect(c1[0]).to.not.have.property('routeReflectorClusterId');
    const r1 = desiredPeers('rr1', rs);
    expect(r1.map((p) => `${p.name} ${p.kind} ${p.routeReflectorClusterId}`)).to.deep.equal([
      'node/c1/v4 rr-client 224.0.0.1', 'node/c2/v4 rr-client 224.0.0.1', 'node/rr2/v4 rr-nonclient 224.0.0.1']);
    expect(r1[0].source).to.deep.equal(['BGPPeer/to-rr']);
    // Symmetry: every session one end wants, the other end wants too.
    for (const a of ['rr1', 'rr2', 'c1', 'c2']) {
      for (const p of desiredPeers(a, rs)) {
        expect(desiredPeers(p.peerNode!, rs).map((q) => q.name), `${a} -> ${p.name}`).to.include(`node/${a}/v4`);
      }
    }
  });

  it('treats a peerIP that is a node address as that node, and never peers a node with itself', () => {
    const rs = res(cfg('{nodeToNodeMeshEnabled: false}') + node('a', '10.0.0.1') + node('b', '10.0.0.2', ', routeReflectorClusterID: 1.1.1.1') +
      peer('to-b', '{peerIP: 10.0.0.2, asNumber: 64512}'));
    expect(desiredPeers('a', rs).map((p) => `${p.name} ${p.kind}`)).to.deep.equal(['node/b/v4 rr-server']);
    expect(desiredPeers('b', rs)).to.deep.equal([]);
  });

  it('lets an explicit BGPPeer override the mesh session to the same node', () => {
    const rs = res(node('a', '10.0.0.1') + node('b', '10.0.0.2') + peer('ab', "{node: a, peerSelector: \"kubernetes.io/hostname == 'b'\", password: x}")
      .replace('metadata: {name: ab}', 'metadata: {name: ab}') + '');
    // b has no hostname label: the selector selects nothing, the mesh stays.
    expect(desiredPeers('a', rs)[0]).to.not.have.property('password');
    const rs2 = res(node('a', '10.0.0.1') + node('b', '10.0.0.2', '', '{kubernetes.io/hostname: b}') + peer('ab', "{node: a, peerSelector: \"kubernetes.io/hostname == 'b'\", password: x}"));
    const p = desiredPeers('a', rs2)[0];
    expect(p).to.include({ name: 'node/b/v4', password: 'x', kind: 'mesh' });
    expect(p.source).to.deep.equal(['BGPConfiguration/default (node-to-node mesh)', 'BGPPeer/ab']);
    expect(desiredPeers('b', rs2)[0]).to.include({ password: 'x' });
  });
});

describe('cluster/peers diff and transition plan', () => {
  const base: DesiredPeer = { name: 'node/b/v4', family: 4, peerAddress: '10.0.0.2', peerPort: 179, peerAsn: 1, localAsn: 1, kind: 'mesh', keepOriginalNextHop: false, source: ['x'] };
  it('classifies changes as in-place or needing a reset', () => {
    const d = diffPeers([base, { ...base, name: 'gone' }], [{ ...base, kind: 'rr-client', source: ['y'] }, { ...base, name: 'new' }]);
    expect(d.added.map((p) => p.name)).to.deep.equal(['new']);
    expect(d.removed.map((p) => p.name)).to.deep.equal(['gone']);
    expect(d.changed).to.have.length(1);
    expect(d.changed[0]).to.include({ needsReset: false });
    expect(d.changed[0].fields).to.deep.equal(['kind']);
    const r = diffPeers([base], [{ ...base, password: 'new' }]);
    expect(r.changed[0].needsReset).to.equal(true);
    expect(diffPeers([base], [{ ...base, source: ['z'] }]).unchanged).to.have.length(1);
  });

  it('removes only after every desired session has converged', () => {
    const old = { ...base, name: 'old' };
    const neu = { ...base, name: 'new' };
    let plan = planPeerTransition([old], [neu], new Set(['old']));
    expect(plan.add).to.deep.equal([neu]);
    expect(plan.removeNow).to.deep.equal([]);
    expect(plan.removeAfterConverged).to.deep.equal([old]);
    plan = planPeerTransition([old, neu], [neu], new Set(['old']));
    expect(plan.add).to.deep.equal([]);
    expect(plan.removeAfterConverged).to.deep.equal([old]);
    plan = planPeerTransition([old, neu], [neu], new Set(['old', 'new']));
    expect(plan.removeNow).to.deep.equal([old]);
    // A peer we gave up waiting for does not block forever.
    plan = planPeerTransition([old, neu], [neu], new Set(['old']), { gaveUp: new Set(['new']) });
    expect(plan.removeNow).to.deep.equal([old]);
    // With route coverage known, an uncovered session waits; one that carries nothing goes.
    plan = planPeerTransition([old, neu], [neu], new Set(['old', 'new']), { covered: new Set() });
    expect(plan.removeAfterConverged).to.deep.equal([old]);
    plan = planPeerTransition([old, neu], [neu], new Set(['new']), { covered: new Set() });
    expect(plan.removeNow).to.deep.equal([old]);
    // Resets wait for the rest, too.
    plan = planPeerTransition([old, neu], [{ ...old, password: 'k' }, neu], new Set(['old']));
    expect(plan.resetAfterConverged.map((c) => c.after.name)).to.deep.equal(['old']);
    plan = planPeerTransition([old, neu], [{ ...old, password: 'k' }, neu], new Set(['old', 'new']));
    expect(plan.resetNow.map((c) => c.after.name)).to.deep.equal(['old']);
  });
});

// ---------------------------------------------------------------------------------------------
// Simulated live migration: every node runs the planner on its own, in an adversarial order;
// after every single step every node must still have a route to every other node's block.

type Configured = Map<string, Map<string, DesiredPeer>>; // node -> session name -> session

function up(cfgd: Configured, a: string, b: string): boolean {
  return cfgd.get(a)!.has(`node/${b}/v4`) && cfgd.get(b)!.has(`node/${a}/v4`);
}

/** Adj-RIB-In per node: prefix owner -> set of peers it was learned from (RFC 4456 §6 rules). */
function propagate(cfgd: Configured): Map<string, Map<string, Set<string>>> {
  const nodes = [...cfgd.keys()];
  const rib = new Map(nodes.map((n) => [n, new Map<string, Set<string>>()]));
  for (let changed = true, rounds = 0; changed && rounds < 50; rounds++) {
    changed = false;
    for (const x of nodes) {
      for (const p of cfgd.get(x)!.values()) {
        const y = p.peerNode!;
        if (!up(cfgd, x, y)) continue;
        // What x advertises to y: its own block, plus reflected routes.
        const adv = new Set<string>([x]);
        for (const [owner, froms] of rib.get(x)!) {
          for (const q of froms) {
            if (q === y || owner === y) continue;
            const fromKind = cfgd.get(x)!.get(`node/${q}/v4`)?.kind;
            const toKind = p.kind;
            // From a client: reflect to everyone; from a non-client: reflect to clients only.
            if (fromKind === 'rr-client' || toKind === 'rr-client') adv.add(owner);
          }
        }
        for (const owner of adv) {
          if (owner === y) continue;
          const m = rib.get(y)!;
          const s = m.get(owner) ?? new Set<string>();
          if (!s.has(x)) { s.add(x); m.set(owner, s); changed = true; }
        }
      }
    }
  }
  return rib;
}

function simulate(before: Resource[], after: Resource[], order: string[], useCoverage: boolean): { gaps: string[]; final: Configured } {
  const cfgd: Configured = new Map(order.map((n) => [n, new Map(desiredPeers(n, before).map((p) => [p.name, p]))]));
  const gaps: string[] = [];
  const check = (step: string) => {
    const rib = propagate(cfgd);
    for (const a of order) for (const b of order) if (a !== b && !(rib.get(a)!.get(b)?.size)) gaps.push(`${step}: ${a} has no route to ${b}`);
  };
  check('start');
  for (let round = 0; round < 20; round++) {
    let acted = false;
    for (const n of order) {
      const current = [...cfgd.get(n)!.values()];
      const converged = new Set(current.filter((p) => up(cfgd, n, p.peerNode!)).map((p) => p.name));
      const desired = desiredPeers(n, after);
      let covered: Set<string> | undefined;
      if (useCoverage) {
        const rib = propagate(cfgd).get(n)!;
        const staying = new Set(desired.map((p) => p.peerNode!));
        covered = new Set(current.filter((p) => [...rib.values()].every((froms) => !froms.has(p.peerNode!) || [...froms].some((f) => f !== p.peerNode && staying.has(f)))).map((p) => p.name));
      }
      const plan = planPeerTransition(current, desired, converged, { covered });
      const m = cfgd.get(n)!;
      for (const p of plan.add) m.set(p.name, p);
      for (const c of [...plan.update, ...plan.resetNow]) m.set(c.after.name, c.after);
      for (const p of plan.removeNow) m.delete(p.name);
      if (plan.add.length + plan.update.length + plan.resetNow.length + plan.removeNow.length > 0) { acted = true; check(`round ${round} ${n}`); }
    }
    if (!acted) break;
  }
  return { gaps, final: cfgd };
}

describe('cluster/peers mesh -> route reflector migration', () => {
  const rr = ', routeReflectorClusterID: 224.0.0.1';
  const names = ['c1', 'c2', 'c3', 'rr1', 'rr2'];
  const before = res(node('c1', '10.0.0.1') + node('c2', '10.0.0.2') + node('c3', '10.0.0.3') + node('rr1', '10.0.0.11') + node('rr2', '10.0.0.12'));
  const after = res(cfg('{nodeToNodeMeshEnabled: false}') + node('c1', '10.0.0.1') + node('c2', '10.0.0.2') + node('c3', '10.0.0.3') +
    node('rr1', '10.0.0.11', rr, '{route-reflector: "y"}') + node('rr2', '10.0.0.12', rr, '{route-reflector: "y"}') +
    peer('rr', "{peerSelector: has(route-reflector)}"));

  for (const order of [names, [...names].reverse(), ['c1', 'rr1', 'c2', 'rr2', 'c3']]) {
    it(`never loses a route (nodes act in order ${order.join(',')})`, () => {
      const { gaps, final } = simulate(before, after, order, true);
      expect(gaps).to.deep.equal([]);
      // The end state is exactly the reflector topology.
      for (const n of names) expect([...final.get(n)!.keys()].sort()).to.deep.equal(desiredPeers(n, after).map((p) => p.name));
      expect(final.get('c1')!.has('node/c2/v4')).to.equal(false);
    });
  }

  it('would lose routes without coverage information when clients move first (the planner needs it)', () => {
    const { gaps } = simulate(before, after, names, false);
    expect(gaps.length).to.be.greaterThan(0);
  });
});
