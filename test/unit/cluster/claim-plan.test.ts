// planNodeClaims (the pure core of a claim and of an agent's one-transaction registration):
// every pool in one transaction, guarded so that a stale snapshot can only fail it; and
// Datastore.register against the real file backend (Node + blocks + liveness in one write).
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { planNodeClaims, decodeNodeIndex, blockKeysToRead, ClaimInputs } from '../../../src/cluster/ipam';
import { parseResources, Resource } from '../../../src/cluster/resources';
import { blockKey, nodeBlockKey, resourceKey, livenessKey } from '../../../src/cluster/keys';
import { IpamError } from '../../../src/cluster/errors';
import { FileDatastore } from '../../../src/cluster/file';

const POOLS = `apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: v4}
spec: {cidr: 10.50.0.0/22}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: v6}
spec: {cidr: "fd00:50::/118"}
`;
const nodeDoc = (n: string, extra = '') => `---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: ${n}}\nspec: {bgp: {ipv4Address: 10.0.0.1/24}${extra}}\n`;
const res = (yaml: string): Resource[] => parseResources(yaml, 'c.yaml').map((l) => l.resource);
const claim = (cidr: string, pool: string, node: string, pinned = false) => JSON.stringify({ cidr, pool, node, claimedAt: 't', pinned });

function inputs(resources: Resource[], blocks: Record<string, string>, index: Record<string, string> = {}): ClaimInputs {
  const b = new Map(Object.entries(blocks));
  return { resources, index: decodeNodeIndex(Object.entries(index)), blockKeys: b.keys(), blockValue: (k) => b.get(k) };
}

describe('cluster/ipam planNodeClaims', () => {
  it('claims the lowest free block of every pool in one create-if-absent transaction', () => {
    const rs = res(POOLS + nodeDoc('a') + nodeDoc('b'));
    const plan = planNodeClaims('a', inputs(rs, { [blockKey('10.50.0.0/24')]: claim('10.50.0.0/24', 'v4', 'b') }), 0,
      new Map([['v4', 'V4TEXT'], ['v6', 'V6TEXT']]));
    expect(plan.claims.map((c) => `${c.pool} ${c.cidr} ${c.node}`)).to.deep.equal(['v4 10.50.1.0/24 a', 'v6 fd00:50::/120 a']);
    expect(plan.unchanged).to.equal(false);
    expect(plan.txn.absent).to.deep.equal([blockKey('10.50.1.0/24'), nodeBlockKey('a', 'v4'), blockKey('fd00:50::/120'), nodeBlockKey('a', 'v6')]);
    // The pools it decided in must be unchanged when the transaction runs.
    expect(plan.txn.equal).to.deep.equal([[resourceKey('IPPool', 'v4'), 'V4TEXT'], [resourceKey('IPPool', 'v6'), 'V6TEXT']]);
    expect(plan.txn.put.map(([k]) => k)).to.deep.equal([blockKey('10.50.1.0/24'), nodeBlockKey('a', 'v4'), blockKey('fd00:50::/120'), nodeBlockKey('a', 'v6')]);
    expect(JSON.parse(plan.txn.put[1][1])).to.deep.equal(['10.50.1.0/24']);
    expect(plan.txn.del).to.deep.equal([]);
  });

  it('reuses what the index records, guarded by the stored claim and index; nothing to write', () => {
    const rs = res(POOLS + nodeDoc('a'));
    const ix = { v4: '["10.50.2.0/24"]', v6: '["fd00:50::100/120"]' };
    const blocks = { [blockKey('10.50.2.0/24')]: claim('10.50.2.0/24', 'v4', 'a'), [blockKey('fd00:50::100/120')]: claim('fd00:50::100/120', 'v6', 'a') };
    expect(blockKeysToRead('a', rs, decodeNodeIndex(Object.entries(ix)))).to.deep.equal([blockKey('10.50.2.0/24'), blockKey('fd00:50::100/120')]);
    const plan = planNodeClaims('a', inputs(rs, blocks, ix), 0);
    expect(plan.claims.map((c) => c.cidr)).to.deep.equal(['10.50.2.0/24', 'fd00:50::100/120']);
    expect(plan.unchanged).to.equal(true);
    expect(plan.txn.absent).to.deep.equal([]);
    expect(plan.txn.equal).to.deep.equal([[blockKey('10.50.2.0/24'), blocks[blockKey('10.50.2.0/24')]], [nodeBlockKey('a', 'v4'), ix.v4],
      [blockKey('fd00:50::100/120'), blocks[blockKey('fd00:50::100/120')]], [nodeBlockKey('a', 'v6'), ix.v6]]);
    // The index survived, the claim did not: take the same block again, create-if-absent.
    const again = planNodeClaims('a', inputs(rs, {}, { v4: ix.v4 }), 0);
    expect(again.claims.map((c) => c.cidr)).to.deep.equal(['10.50.2.0/24', 'fd00:50::/120']);
    expect(again.txn.absent).to.include(blockKey('10.50.2.0/24'));
    // Another node holds the indexed block now: a new one, and the index compare-and-swapped.
    const moved = planNodeClaims('a', inputs(rs, { [blockKey('10.50.2.0/24')]: claim('10.50.2.0/24', 'v4', 'z') }, { v4: ix.v4 }), 0);
    expect(moved.claims[0].cidr).to.equal('10.50.0.0/24');
    expect(moved.txn.equal).to.deep.include([nodeBlockKey('a', 'v4'), ix.v4]);
  });

  it('pins: claims them, gives back the automatic block, refuses a block another node holds', () => {
    const rs = res(POOLS + nodeDoc('p', ', podCIDRs: [10.50.3.0/24]') + nodeDoc('q'));
    const old = { [blockKey('10.50.0.0/24')]: claim('10.50.0.0/24', 'v4', 'p') };
    const plan = planNodeClaims('p', inputs(rs, old, { v4: '["10.50.0.0/24"]' }), 0);
    expect(plan.claims.map((c) => `${c.cidr} ${c.pinned}`)).to.deep.equal(['10.50.3.0/24 true', 'fd00:50::/120 false']);
    expect(plan.txn.del).to.deep.equal([blockKey('10.50.0.0/24')]);
    expect(plan.txn.put).to.deep.include([nodeBlockKey('p', 'v4'), '["10.50.3.0/24"]']);
    // q never gets p's pinned block automatically, even before p claims it.
    expect(() => planNodeClaims('q', inputs(rs, {
      [blockKey('10.50.0.0/24')]: claim('10.50.0.0/24', 'v4', 'x'), [blockKey('10.50.1.0/24')]: claim('10.50.1.0/24', 'v4', 'x'),
      [blockKey('10.50.2.0/24')]: claim('10.50.2.0/24', 'v4', 'x') }), 0)).to.throw(IpamError, /pool v4 \(10.50.0.0\/22\) is exhausted/);
    expect(() => planNodeClaims('p', inputs(rs, { [blockKey('10.50.3.0/24')]: claim('10.50.3.0/24', 'v4', 'q') }), 0))
      .to.throw(IpamError, 'node p: pinned block 10.50.3.0/24 is held by node q');
    expect(() => planNodeClaims('nobody', inputs(rs, {}), 0)).to.throw(IpamError, /node nobody has no Node resource/);
  });
});

describe('cluster/datastore register (file backend)', () => {
  let dir: string;
  let ds: FileDatastore;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-register-'));
    fs.writeFileSync(path.join(dir, 'c.yaml'), POOLS + nodeDoc('a'));
    ds = new FileDatastore(path.join(dir, 'c.yaml'));
  });
  afterEach(async () => { await ds.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  it('claims the blocks and writes liveness in one write, and finds the same blocks again', async () => {
    const first = await ds.register('a', { ttlSeconds: 30 });
    expect(first.node).to.equal('unchanged');
    expect(first.attempts).to.equal(1);
    // A registration picks a new block at random among the lowest free ones (storms collide less).
    expect(first.claims.map((c) => c.pool)).to.deep.equal(['v4', 'v6']);
    expect(first.claims[0].cidr).to.match(/^10\.50\.[0-3]\.0\/24$/);
    expect(first.claims[1].cidr).to.match(/^fd00:50::([1-3]00)?\/120$/);
    await ds.load();
    expect(ds.state.liveness().has('a')).to.equal(true);
    expect(ds.state.rawEntries(livenessKey('a')).size).to.equal(1);
    await first.liveness.stop();
    await ds.load();
    expect(ds.state.liveness().has('a')).to.equal(false);
    const again = await ds.register('a', { ttlSeconds: 30 });
    expect(again.claims).to.deep.equal(first.claims);
    await again.liveness.stop();
    // No Node and no addresses to create one: nothing is written, the liveness is not left behind.
    try {
      await ds.register('ghost', { ttlSeconds: 30 });
      expect.fail('registered a node without a Node resource');
    } catch (e) {
      expect((e as IpamError).code).to.equal('UNKNOWN_NODE');
    }
    await ds.load();
    expect(ds.state.liveness().has('ghost')).to.equal(false);
  });

  it('decides from the store when the watched state has not seen the Node yet', async () => {
    await ds.watch();
    expect(ds.state.resources().map((r) => r.metadata.name)).to.not.include('b');
    // The user adds node b; the watch re-reads the file only after its debounce.
    fs.appendFileSync(path.join(dir, 'c.yaml'), nodeDoc('b'));
    const reg = await ds.register('b', { ttlSeconds: 30 });
    // Not in the watched state, so the first decision is already made from fresh reads.
    expect(reg.attempts).to.equal(1);
    expect(reg.claims.map((c) => `${c.pool} ${c.node}`)).to.deep.equal(['v4 b', 'v6 b']);
    await reg.liveness.stop();
  });
});
