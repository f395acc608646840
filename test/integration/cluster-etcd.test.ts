// The etcd datastore against a real etcd (Debian etcd-server) started by the test on loopback:
// 50 concurrent block claims over 50 client connections, reuse after restarts, release on Node
// delete, liveness separate from ownership, compaction past the watcher's revision (re-list and
// diff), and etcd killed and restarted during a watch (no mass delete, catch-up).
import { expect } from 'chai';
import { Lab, waitFor, sh } from '../helpers/lab';
import { EtcdServer } from '../helpers/etcd';
import { EtcdDatastore } from '../../src/cluster/etcd';
import { parseResources } from '../../src/cluster/resources';
import { ClusterEvent, livenessKey } from '../../src/cluster/keys';
import { DatastoreState } from '../../src/cluster/datastore';
import { IpamError } from '../../src/cluster/errors';
import { desiredPeers, planPeerTransition, DesiredPeer } from '../../src/cluster/peers';

const POOLS = `apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: v4}
spec: {cidr: 10.96.0.0/16}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: v6}
spec: {cidr: "fd00:96::/104"}
`;
const nodeDoc = (n: string, i: number, extra = '') =>
  `---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: ${n}}\nspec: {bgp: {ipv4Address: 10.1.${Math.floor(i / 250)}.${(i % 250) + 1}/16}${extra}}\n`;

describe('integration: cluster etcd datastore', function () {
  this.timeout(90000);
  const lab = new Lab('etcd');
  let etcd: EtcdServer;
  const open: EtcdDatastore[] = [];
  let prefixCounter = 0;
  let prefix = '';

  const ds = (): EtcdDatastore => {
    const d = new EtcdDatastore([etcd.url], { prefix, callTimeoutMs: 3000, dialTimeoutMs: 2000, backoffInitialMs: 50, backoffMaxMs: 500, ownConnection: true });
    open.push(d);
    return d;
  };

  before(async () => { etcd = await EtcdServer.start(lab); });
  beforeEach(() => { prefix = `/nhtest${process.pid}-${prefixCounter++}/`; });
  afterEach(async () => { await Promise.all(open.splice(0).map((d) => d.close())); });
  after(async () => { await lab.destroy(); });

  it('gives 50 nodes claiming at once over 50 connections 50 distinct blocks, and the same ones after restart', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `node-${i}`);
    await ds().apply(parseResources(POOLS + names.map((n, i) => nodeDoc(n, i)).join(''), 'cluster.yaml'));
    const clients = names.map(() => ds());
    // Half of them watch, as agents do (their claims decide from the watched state).
    await Promise.all(clients.filter((_, i) => i % 2 === 0).map((c) => c.watch()));
    const claims = await Promise.all(names.map((n, i) => clients[i].claimBlocks(n)));
    // 50 clients really are 50 TCP connections to etcd.
    const conns = sh('ss', ['-Htn', 'state', 'established', `dst 127.0.0.1:${etcd.clientPort}`]).trim().split('\n').filter((l) => l !== '');
    expect(conns.length).to.be.at.least(50);
    const v4 = claims.map((c) => c.find((b) => b.pool === 'v4')!.cidr);
    const v6 = claims.map((c) => c.find((b) => b.pool === 'v6')!.cidr);
    expect(new Set(v4).size).to.equal(50);
    expect(new Set(v6).size).to.equal(50);
    claims.forEach((c, i) => expect(c.every((b) => b.node === names[i])).to.equal(true));
    // What etcd holds agrees: exactly 100 claims, each owned by the node that got it.
    const stored = await ds().readBlocks();
    expect(stored).to.have.length(100);
    // Restart every client (new connections) and claim again: same blocks.
    await Promise.all(open.splice(0).map((d) => d.close()));
    const again = await Promise.all(names.map((n) => ds().claimBlocks(n)));
    expect(again.map((c) => c.find((b) => b.pool === 'v4')!.cidr)).to.deep.equal(v4);
    // And after etcd itself restarts (same data dir).
    await etcd.restart();
    const afterRestart = await ds().claimBlocks('node-7');
    expect(afterRestart.find((b) => b.pool === 'v4')!.cidr).to.equal(v4[7]);
  });

  it('registers 50 agents at once with one lease grant and ONE transaction each: distinct blocks, liveness on the lease, same blocks after restart', async () => {
    const names = Array.from({ length: 50 }, (_, i) => `reg-${i}`);
    const admin = ds();
    await admin.apply(parseResources(POOLS, 'pools.yaml'));
    const clients = names.map(() => ds());
    await Promise.all(clients.filter((_, i) => i % 2 === 0).map((c) => c.watch()));
    const rev0 = (await admin.kv.listWithRevision('')).revision;
    const regs = await Promise.all(names.map((n, i) => clients[i].register(n, { ttlSeconds: 3, addresses: { ipv4Address: `10.1.0.${i + 1}/16` }, labels: { agent: 'yes' } })));
    // Every successful etcd transaction is one revision; failed ones (lost races) are none:
    // 50 nodes registered = 50 writes in all (Node + blocks + index + liveness in each).
    expect((await admin.kv.listWithRevision('')).revision - rev0).to.equal(50);
    expect(regs.map((r) => r.node)).to.deep.equal(names.map(() => 'created'));
    const v4 = regs.map((r) => r.claims.find((b) => b.pool === 'v4')!.cidr);
    expect(new Set(v4).size).to.equal(50);
    expect(new Set(regs.map((r) => r.claims.find((b) => b.pool === 'v6')!.cidr)).size).to.equal(50);
    regs.forEach((r, i) => expect(r.claims.every((b) => b.node === names[i])).to.equal(true));
    expect(await admin.readBlocks()).to.have.length(100);
    await admin.load();
    expect([...admin.state.liveness().keys()].sort()).to.deep.equal([...names].sort());
    const nodes = admin.state.view().nodes;
    expect(nodes.find((n) => n.name === 'reg-7')).to.include({ ipv4Address: '10.1.0.8/16', alive: true });
    expect(nodes.find((n) => n.name === 'reg-7')!.labels).to.deep.equal({ agent: 'yes' });
    // The agents stop without revoking (crash): liveness expires with the lease, blocks stay.
    await Promise.all(clients.map((c) => c.close()));
    const w = ds();
    await w.watch();
    await waitFor('leases to expire', () => w.state.liveness().size === 0, 15000, 200);
    expect(w.state.blocks()).to.have.length(100);
    // Restarted agents: same blocks, Node unchanged, one transaction each (the liveness put), no race.
    const rev1 = (await admin.kv.listWithRevision('')).revision;
    const again = await Promise.all(names.map((n, i) => ds().register(n, { ttlSeconds: 3, addresses: { ipv4Address: `10.1.0.${i + 1}/16` } })));
    expect(again.map((r) => r.claims.find((b) => b.pool === 'v4')!.cidr)).to.deep.equal(v4);
    expect(again.map((r) => `${r.node} ${r.attempts}`)).to.deep.equal(names.map(() => 'unchanged 1'));
    expect((await admin.kv.listWithRevision('')).revision - rev1).to.equal(50);
    // A clean stop revokes the lease: the liveness key goes at once.
    await again[0].liveness.stop();
    await waitFor('liveness of reg-0 gone', async () => (await admin.kv.get(livenessKey('reg-0'))) === undefined, 5000, 50);
    // A registration that cannot claim writes nothing and leaves no liveness behind.
    const rev2 = (await admin.kv.listWithRevision('')).revision;
    try {
      await ds().register('late', { ttlSeconds: 3 });
      expect.fail('registered a node that has no Node resource and gave no addresses');
    } catch (e) {
      expect((e as IpamError).code).to.equal('UNKNOWN_NODE');
    }
    expect((await admin.kv.listWithRevision('')).revision).to.equal(rev2);
  });

  it('keeps blocks while a node is away, releases them only on Node delete, and reports exhaustion', async () => {
    const small = POOLS.replace('10.96.0.0/16', '10.97.0.0/23');
    await ds().apply(parseResources(small + nodeDoc('a', 1) + nodeDoc('b', 2) + nodeDoc('c', 3), 'c.yaml'));
    const a = ds();
    const live = await a.keepAlive('a', 2);
    const [blockA] = await a.claimBlocks('a');
    const watcher = ds();
    await watcher.watch();
    expect(watcher.state.liveness().has('a')).to.equal(true);
    // The agent goes away without revoking: the lease expires, the block stays.
    await a.close();
    await waitFor('liveness of a to expire', () => !watcher.state.liveness().has('a'), 15000, 200);
    expect(watcher.state.blocks().map((b) => `${b.node} ${b.cidr}`)).to.include(`a ${blockA.cidr}`);
    expect((await ds().claimBlocks('a'))[0].cidr).to.equal(blockA.cidr);
    void live;
    await ds().claimBlocks('b');
    try {
      await ds().claimBlocks('c');
      expect.fail('claimed from an exhausted pool');
    } catch (e) {
      expect((e as IpamError).code).to.equal('POOL_EXHAUSTED');
    }
    const { releasedBlocks } = await ds().delete('Node', 'a');
    expect(releasedBlocks).to.include(blockA.cidr);
    expect((await ds().claimBlocks('c'))[0].cidr).to.equal(blockA.cidr);
  });

  it('re-lists and emits the exact diff when the watch revision was compacted away', async () => {
    const writer = ds();
    await writer.apply(parseResources(POOLS + nodeDoc('keep', 1) + nodeDoc('change', 2) + nodeDoc('remove', 3), 'c.yaml'));
    const w = ds();
    await w.load();
    const loadedAt = w.state.revision;
    // Changes the watcher has not seen, then a compaction past its revision.
    await writer.apply(parseResources(nodeDoc('change', 20).slice(4) + nodeDoc('added', 4), 'c2.yaml', { crossChecks: false }));
    await writer.delete('Node', 'remove');
    const { revision } = await writer.kv.listWithRevision('');
    expect(revision).to.be.greaterThan(loadedAt);
    await writer.kv.compact(revision);
    const events: ClusterEvent[] = [];
    w.on('change', (evs) => events.push(...evs));
    await w.watch();
    await waitFor('resync after compaction', () => w.resyncs >= 1 && events.length >= 3, 10000, 50);
    expect(events.map((e) => `${e.type} ${e.key}`).sort()).to.deep.equal([
      'delete resources/nodes/remove', 'put resources/nodes/added', 'put resources/nodes/change']);
    expect(w.state.resources().map((r) => r.metadata.name)).to.include.members(['keep', 'change', 'added']);
    // And it keeps watching after the resync.
    await writer.apply(parseResources(nodeDoc('later', 5).slice(4), 'c3.yaml', { crossChecks: false }));
    await waitFor('event after resync', () => events.some((e) => e.key === 'resources/nodes/later'), 10000, 50);
  });

  it('keeps its state through an etcd outage (no deletes), then catches up and re-grants liveness', async () => {
    await ds().apply(parseResources(POOLS + nodeDoc('x', 1) + nodeDoc('y', 2), 'c.yaml'));
    const agent = ds();
    await agent.claimBlocks('x');
    const handle = await agent.keepAlive('x', 3);
    const w = ds();
    const events: ClusterEvent[] = [];
    const states: DatastoreState[] = [];
    w.on('change', (evs) => events.push(...evs));
    w.on('state', (s) => states.push(s));
    await w.watch();
    const before = w.state.rawEntries();
    expect(before.size).to.be.greaterThan(4);
    await etcd.kill();
    await waitFor('disconnected state', () => states.includes('disconnected'), 10000, 50);
    // While etcd is away for longer than the lease TTL, nothing is deleted from the view.
    await new Promise((r) => setTimeout(r, 4000));
    expect(events.filter((e) => e.type === 'delete')).to.deep.equal([]);
    expect(w.state.rawEntries()).to.deep.equal(before);
    expect(w.connection).to.equal('disconnected');
    await etcd.restart();
    await waitFor('reconnected', () => w.connection === 'connected', 20000, 100);
    await ds().apply(parseResources(nodeDoc('z', 3).slice(4), 'c2.yaml', { crossChecks: false }));
    await waitFor('catch-up event', () => events.some((e) => e.type === 'put' && e.key === 'resources/nodes/z'), 15000, 100);
    // The agent's liveness key is there again (lease kept or re-granted), its block untouched.
    await waitFor('liveness back', async () => (await ds().kv.get(livenessKey('x'))) !== undefined, 20000, 200);
    expect(w.state.blocks().map((b) => b.node)).to.include('x');
    expect(events.filter((e) => e.type === 'delete' && e.item.what !== 'liveness')).to.deep.equal([]);
    await handle.stop();
  });

  it('stores agent-written node fields apart from the user spec', async () => {
    const d = ds();
    await d.apply(parseResources(POOLS + nodeDoc('n', 1), 'c.yaml'));
    await d.setNodeStatus('n', { ipv4VXLANTunnelAddr: '10.96.0.0', vxlanTunnelMACAddr: '66:55:44:33:22:11' });
    // The user re-applies the Node with a label: the agent's fields survive.
    await d.apply(parseResources(nodeDoc('n', 1).slice(4).replace('metadata: {name: n}', 'metadata: {name: n, labels: {rack: b}}'), 'c.yaml', { crossChecks: false }));
    await d.setNodeStatus('n', { ipv4IPIPTunnelAddr: '10.96.0.1', vxlanTunnelMACAddr: null });
    await d.load();
    const v = d.state.view().nodes.find((n) => n.name === 'n')!;
    expect(v).to.include({ ipv4VXLANTunnelAddr: '10.96.0.0', ipv4IPIPTunnelAddr: '10.96.0.1' });
    expect(v.vxlanTunnelMACAddr).to.equal(undefined);
    expect(v.labels).to.deep.equal({ rack: 'b' });
  });

  it('follows a mesh -> route reflector change through the watch and plans it make-before-break', async () => {
    const d = ds();
    await d.apply(parseResources(POOLS + nodeDoc('c1', 1) + nodeDoc('c2', 2) + nodeDoc('rr1', 3), 'c.yaml'));
    const w = ds();
    await w.watch();
    const before = desiredPeers('c1', w.state.resources());
    expect(before.map((p) => `${p.name} ${p.kind}`)).to.deep.equal(['node/c2/v4 mesh', 'node/rr1/v4 mesh']);
    await d.apply(parseResources(`apiVersion: nexthop.io/v1
kind: BGPConfiguration
metadata: {name: default}
spec: {nodeToNodeMeshEnabled: false}
---
apiVersion: nexthop.io/v1
kind: BGPPeer
metadata: {name: to-rr}
spec: {peerSelector: has(route-reflector)}
` + nodeDoc('rr1', 3).replace('metadata: {name: rr1}', 'metadata: {name: rr1, labels: {route-reflector: "true"}}')
      .replace('/16}', '/16, routeReflectorClusterID: 224.0.0.1}'), 'rr.yaml', { crossChecks: false }));
    const after = (await waitFor('reflector topology', (): DesiredPeer[] | null => {
      const ps = desiredPeers('c1', w.state.resources());
      return ps.length === 1 && ps[0].kind === 'rr-server' ? ps : null;
    }, 10000, 50))!;
    expect(desiredPeers('rr1', w.state.resources()).map((p) => `${p.name} ${p.kind}`)).to.deep.equal(['node/c1/v4 rr-client', 'node/c2/v4 rr-client']);
    // c1 keeps its session to c2 until c2's routes also arrive over the reflector.
    const all = new Set(before.map((p) => p.name));
    let plan = planPeerTransition(before, after, all, { covered: new Set() });
    expect(plan.update.map((c) => `${c.after.name} ${c.before.kind}->${c.after.kind}`)).to.deep.equal(['node/rr1/v4 mesh->rr-server']);
    expect(plan.removeNow).to.deep.equal([]);
    expect(plan.removeAfterConverged.map((p) => p.name)).to.deep.equal(['node/c2/v4']);
    plan = planPeerTransition(before, after, all, { covered: new Set(['node/c2/v4']) });
    expect(plan.removeNow.map((p) => p.name)).to.deep.equal(['node/c2/v4']);
  });

  it('registers an agent\'s Node: creates it, updates only its addresses, keeps the user\'s fields', async () => {
    const d = ds();
    expect(await d.registerNode('auto', { ipv4Address: '192.0.2.7/24' }, { zone: 'z1' })).to.equal('created');
    expect(await d.registerNode('auto', { ipv4Address: '192.0.2.7/24' })).to.equal('unchanged');
    await d.apply(parseResources('apiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: auto, labels: {zone: z2}}\nspec: {bgp: {ipv4Address: 192.0.2.7/24, routeReflectorClusterID: 1.2.3.4}}\n', 'u.yaml', { crossChecks: false }));
    expect(await d.registerNode('auto', { ipv4Address: '192.0.2.8/24', ipv6Address: '2001:db8::8/64' })).to.equal('updated');
    const [node] = (await d.readResources(['Node'])).filter((r) => r.metadata.name === 'auto');
    expect(node.metadata.labels).to.deep.equal({ zone: 'z2' });
    expect(node.spec).to.deep.equal({ bgp: { ipv4Address: '192.0.2.8/24', ipv6Address: '2001:db8::8/64', routeReflectorClusterID: '1.2.3.4' } });
    try {
      await d.registerNode('auto', { ipv4Address: '192.0.2.300/24' });
      expect.fail('registered a bad address');
    } catch (e) {
      expect((e as Error).message).to.match(/spec.bgp.ipv4Address: '192.0.2.300\/24' is not an IPv4 address/);
    }
  });
});
