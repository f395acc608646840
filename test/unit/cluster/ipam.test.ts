// IPAM: the pure block choice, and claims/reuse/release/pinning against the real file backend
// (a temp dir; the concurrent multi-process case is in test/integration/cluster-file.test.ts).
import { expect } from 'chai';
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import { chooseBlock, poolUsage } from '../../../src/cluster/ipam';
import { FileDatastore } from '../../../src/cluster/file';
import { PoolView } from '../../../src/cluster/state';
import { IpamError } from '../../../src/cluster/errors';
import { parseCidr } from '../../../src/lib/ip';
import { parseResources } from '../../../src/cluster/resources';

const pool = (cidr: string, blockSize: number): PoolView => ({ name: 'p', cidr, family: cidr.includes(':') ? 6 : 4, blockSize,
  ipipMode: 'Never', vxlanMode: 'Never', natOutgoing: false, disabled: false, nodeSelector: 'all()', disableBGPExport: false });

describe('cluster/ipam chooseBlock', () => {
  it('takes the lowest free block first, skipping taken and reserved ones', () => {
    const p = pool('10.244.0.0/16', 24);
    expect(chooseBlock(p, new Set(), [], 0)).to.equal('10.244.0.0/24');
    expect(chooseBlock(p, new Set(['10.244.0.0/24', '10.244.1.0/24']), [parseCidr('10.244.2.0/23')!], 0)).to.equal('10.244.4.0/24');
  });
  it('spreads retries over the lowest free blocks', () => {
    const p = pool('10.244.0.0/16', 24);
    const seen = new Set<string>();
    let r = 0;
    for (let i = 0; i < 64; i++) seen.add(chooseBlock(p, new Set(), [], 1, () => (r++ % 64) / 64)!);
    expect(seen.size).to.equal(64);
    expect([...seen].every((c) => parseCidr(c)!.bytes[2] < 64)).to.equal(true);
  });
  it('returns null when the pool is exhausted, and handles IPv6 pools', () => {
    const p = pool('10.0.0.0/30', 31);
    expect(chooseBlock(p, new Set(['10.0.0.0/31', '10.0.0.2/31']), [], 0)).to.equal(null);
    expect(chooseBlock(pool('fd00::/64', 120), new Set(['fd00::/120']), [], 0)).to.equal('fd00::100/120');
  });
});

describe('cluster/ipam against the file datastore', () => {
  let dir: string;
  let ds: FileDatastore;
  const yaml = `apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: v4}
spec: {cidr: 10.244.0.0/22}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: v6}
spec: {cidr: "fd00:244::/118"}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: off}
spec: {cidr: 10.99.0.0/16, disabled: true}
`;
  const nodeDoc = (n: string, extra = '') => `---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: ${n}}\nspec: {bgp: {ipv4Address: 10.0.0.1/24}${extra}}\n`;

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nh-ipam-'));
    fs.writeFileSync(path.join(dir, 'c.yaml'), yaml + nodeDoc('a') + nodeDoc('b') + nodeDoc('c') + nodeDoc('d') + nodeDoc('e') +
      nodeDoc('pin', ', podCIDRs: [10.244.3.0/24]'));
    ds = new FileDatastore(path.join(dir, 'c.yaml'));
  });
  afterEach(async () => { await ds.close(); fs.rmSync(dir, { recursive: true, force: true }); });

  it('claims one block per enabled pool, reuses it, never hands out a pinned block, and reports exhaustion', async () => {
    const a = await ds.claimBlocks('a');
    expect(a.map((b) => `${b.pool} ${b.cidr} ${b.node}`)).to.deep.equal(['v4 10.244.0.0/24 a', 'v6 fd00:244::/120 a']);
    expect((await ds.claimBlocks('a')).map((b) => b.cidr)).to.deep.equal(['10.244.0.0/24', 'fd00:244::/120']);
    expect((await ds.claimBlocks('b'))[0].cidr).to.equal('10.244.1.0/24');
    expect((await ds.claimBlocks('c'))[0].cidr).to.equal('10.244.2.0/24');
    // 10.244.3.0/24 is pinned by node "pin" (not yet claimed): d must not get it; the /22 is full.
    try {
      await ds.claimBlocks('d');
      expect.fail('claimed from an exhausted pool');
    } catch (e) {
      expect(e).to.be.instanceOf(IpamError);
      expect((e as IpamError).code).to.equal('POOL_EXHAUSTED');
      expect((e as Error).message).to.match(/pool v4 \(10.244.0.0\/22\) is exhausted: all 4 \/24 blocks are held/);
    }
    const pin = await ds.claimBlocks('pin');
    expect(pin.map((b) => `${b.cidr} ${b.pinned}`)).to.include('10.244.3.0/24 true');
    // The user's YAML was not touched by any of this.
    expect(fs.readFileSync(path.join(dir, 'c.yaml'), 'utf8')).to.not.include('claimed');
    const usage = poolUsage((await ds.load(), ds.state.view().pools), ds.state.blocks());
    expect(usage.find((u) => u.pool.name === 'v4')!.claimed.map((b) => b.node)).to.deep.equal(['a', 'b', 'c', 'pin']);
  });

  it('releases blocks only when the node is deleted, and rejects unknown nodes', async () => {
    await ds.claimBlocks('a');
    const { releasedBlocks } = await ds.delete('Node', 'a');
    expect(releasedBlocks).to.deep.equal(['10.244.0.0/24', 'fd00:244::/120']);
    expect(fs.readFileSync(path.join(dir, 'c.yaml'), 'utf8')).to.not.match(/name: a\b/);
    expect((await ds.claimBlocks('b'))[0].cidr).to.equal('10.244.0.0/24');
    try {
      await ds.claimBlocks('a');
      expect.fail('claimed for a deleted node');
    } catch (e) {
      expect((e as IpamError).code).to.equal('UNKNOWN_NODE');
    }
  });

  it('rejects applying a pin on a block another node holds, naming the field', async () => {
    await ds.claimBlocks('a');
    const items = parseResources(nodeDoc('e', ', podCIDRs: [10.244.0.0/24]').slice(4), 'new.yaml', { crossChecks: false });
    try {
      await ds.apply(items);
      expect.fail('applied a conflicting pin');
    } catch (e) {
      expect((e as Error).message).to.equal('new.yaml: document 1 (Node/e): spec.podCIDRs[0]: block 10.244.0.0/24 overlaps 10.244.0.0/24, which node a holds');
    }
  });
});
