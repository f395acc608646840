// Two Calico v3 fields nexthop acts on: IPPool.disableBGPExport (parsed, validated, in the pool
// view, exportedBlocks() leaves such pools' blocks out of what a node originates) and
// BGPConfiguration.nodeMeshMaxRestartTime (a Go duration, only in "default", carried into the
// mesh sessions' maxRestartTime - RFC 4724 §3 Restart Time - and never into explicit BGPPeers').
import { expect } from 'chai';
import { parseResources, parseDuration, toDocument, CALICO_UNUSED_FIELDS, Resource } from '../../../src/cluster/resources';
import { ResourceError, ResourceProblem } from '../../../src/cluster/errors';
import { poolsOf, exportedBlocks, effectiveConfig, buildView } from '../../../src/cluster/state';
import { desiredPeers } from '../../../src/cluster/peers';

const res = (yaml: string): Resource[] => parseResources(yaml, 'c.yaml').map((l) => l.resource);
function problems(yaml: string): string[] {
  try { parseResources(yaml, 'c.yaml'); } catch (e) { return (e as ResourceError).problems.map((p) => `${p.field}: ${p.message}`); }
  return [];
}
const pool = (name: string, spec: string) => `---\napiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const node = (name: string, addr: string) => `---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: ${name}}\nspec: {bgp: {ipv4Address: ${addr}/24}}\n`;
const cfg = (name: string, spec: string) => `---\napiVersion: projectcalico.org/v3\nkind: BGPConfiguration\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
const peer = (name: string, spec: string) => `---\napiVersion: nexthop.io/v1\nkind: BGPPeer\nmetadata: {name: ${name}}\nspec: ${spec}\n`;

describe('cluster: IPPool.disableBGPExport', () => {
  it('is a validated boolean of the pool, false unless given, and no longer an ignored field', () => {
    const warnings: ResourceProblem[] = [];
    const rs = parseResources(pool('quiet', '{cidr: 10.1.0.0/16, disableBGPExport: true}') + pool('loud', '{cidr: 10.2.0.0/16}') +
      pool('said-no', '{cidr: 10.3.0.0/16, disableBGPExport: false}'), 'c.yaml', { warnings }).map((l) => l.resource);
    expect(warnings).to.deep.equal([]);
    expect(CALICO_UNUSED_FIELDS.IPPool.spec).to.not.include('disableBGPExport');
    expect(poolsOf(rs).map((p) => `${p.name} ${p.disableBGPExport}`)).to.deep.equal(['loud false', 'quiet true', 'said-no false']);
    // Stored as given: a pool without the field encodes exactly as before the field existed.
    expect(toDocument(rs[1]).spec).to.not.have.property('disableBGPExport');
    expect(toDocument(rs[0]).spec).to.include({ disableBGPExport: true });
    expect(res(JSON.stringify(toDocument(rs[0]))).map((r) => r.spec)).to.deep.equal([rs[0].spec]);
    expect(problems(pool('p', '{cidr: 10.1.0.0/16, disableBGPExport: "yes"}'))).to.deep.equal(['spec.disableBGPExport: must be true or false, got string "yes"']);
  });

  it('exportedBlocks leaves out the blocks of pools with disableBGPExport, keeps the rest in order', () => {
    const rs = res(pool('quiet', '{cidr: 10.1.0.0/16, disableBGPExport: true}') + pool('loud', '{cidr: 10.2.0.0/16}') +
      pool('v6', '{cidr: "fd00:1::/104", disableBGPExport: true}') + node('a', '192.0.2.1'));
    const view = buildView(rs, [], new Map(), new Map());
    expect(exportedBlocks(['10.2.4.0/24', '10.1.3.0/24', 'fd00:1::100/120', '10.9.0.0/24'], view.pools))
      .to.deep.equal(['10.2.4.0/24', '10.9.0.0/24']);
    expect(exportedBlocks(['10.1.3.0/24'], poolsOf(res(pool('loud', '{cidr: 10.1.0.0/16}'))))).to.deep.equal(['10.1.3.0/24']);
    expect(exportedBlocks([], view.pools)).to.deep.equal([]);
  });
});

describe('cluster: BGPConfiguration.nodeMeshMaxRestartTime', () => {
  it('parses Go durations into seconds and rejects what Go would not read', () => {
    expect(['120s', '2m0s', '2m', '1h', '1m30s', '1.5m', '500ms', '90000ms', '0s', '120', '1h0m0.4s'].map(parseDuration))
      .to.deep.equal([120, 120, 120, 3600, 90, 90, 1, 90, 0, 120, 3600]);
    for (const bad of ['', 's', '2x', '-5s', '1m 30s', 'm2', '5s3']) expect(parseDuration(bad), bad).to.equal(null);
  });

  it('is read from the default BGPConfiguration, validated, and rejected elsewhere', () => {
    const rs = res(cfg('default', '{nodeMeshMaxRestartTime: 2m0s}'));
    expect(CALICO_UNUSED_FIELDS.BGPConfiguration.spec).to.not.include('nodeMeshMaxRestartTime');
    expect(effectiveConfig(rs).nodeMeshMaxRestartTime).to.equal(120);
    expect(effectiveConfig(res(cfg('default', '{}')))).to.not.have.property('nodeMeshMaxRestartTime');
    expect(problems(cfg('default', '{nodeMeshMaxRestartTime: soon}'))).to.deep.equal(['spec.nodeMeshMaxRestartTime: string "soon" is not a duration such as "120s" or "2m0s"']);
    expect(problems(cfg('default', '{nodeMeshMaxRestartTime: 2h}'))).to.deep.equal(['spec.nodeMeshMaxRestartTime: 7200s is out of range 0..4095 s (RFC 4724 §3 Restart Time is 12 bits)']);
    expect(problems(cfg('node.a', '{nodeMeshMaxRestartTime: 60s}'))).to.deep.equal(['spec.nodeMeshMaxRestartTime: only the BGPConfiguration named "default" may set it (this one is "node.a")']);
  });

  it('goes into every mesh session\'s maxRestartTime, and not into explicit BGPPeers\' sessions', () => {
    const nodes = node('a', '10.0.0.1') + node('b', '10.0.0.2') + node('c', '10.0.0.3');
    const rs = res(cfg('default', '{nodeMeshMaxRestartTime: 300s}') + nodes +
      peer('to-c', '{peerIP: 10.0.0.3, asNumber: 64512}') + peer('tor', '{peerIP: 10.0.0.254, asNumber: 65100}') + peer('tor-gr', '{peerIP: 10.0.0.253, asNumber: 65100, maxRestartTime: 45s}'));
    expect(desiredPeers('a', rs).map((p) => `${p.name} ${p.kind} ${p.maxRestartTime}`)).to.deep.equal([
      'node/b/v4 mesh 300',
      // An explicit BGPPeer to a node replaces the mesh session, with its own (absent) restart time.
      'node/c/v4 mesh undefined',
      'peer/10.0.0.253 external 45',
      'peer/10.0.0.254 external undefined',
    ]);
    // Without the field, mesh sessions carry none (the speaker's default applies).
    expect(desiredPeers('a', res(nodes)).map((p) => p.maxRestartTime)).to.deep.equal([undefined, undefined]);
  });
});
