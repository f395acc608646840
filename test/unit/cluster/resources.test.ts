// Resource parsing and validation: Calico field names, precise errors, cross-resource checks.
import { expect } from 'chai';
import { parseResources, kindFromName, parseDuration, toDocument, BGPPeer, IPPool, NodeResource } from '../../../src/cluster/resources';
import { ResourceError, ResourceProblem, formatProblem } from '../../../src/cluster/errors';

function problems(text: string): string[] {
  try {
    parseResources(text, 'cluster.yaml');
  } catch (e) {
    expect(e).to.be.instanceOf(ResourceError);
    return (e as ResourceError).message.split('\n');
  }
  return [];
}

const GOOD = `
apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 64512, nodeToNodeMeshEnabled: false, logSeverityScreen: info,
  communities: [{name: c1, value: "65000:100"}, {name: big, value: "65000:1:2"}]}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: pods-v4}
spec: {cidr: 10.244.0.0/16, ipipMode: CrossSubnet, natOutgoing: true}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: pods-v6}
spec: {cidr: "fd00:244::/112"}
---
apiVersion: nexthop.io/v1
kind: Node
metadata: {name: node-1, labels: {rack: a}}
spec:
  bgp: {ipv4Address: 192.168.1.1/24, ipv6Address: "FD00::0001/64", routeReflectorClusterID: 224.0.0.1}
  podCIDRs: [10.244.7.0/24]
---
apiVersion: nexthop.io/v1
kind: BGPPeer
metadata: {name: tor-a}
spec: {peerIP: "192.168.1.254:1790", asNumber: "1.10", nodeSelector: "rack == 'a'", password: s3cret,
  ttlSecurity: 1, maxRestartTime: 2m0s, keepOriginalNextHop: true, sourceAddress: None}
`;

describe('cluster/resources', () => {
  it('parses both apiVersions, applies defaults and canonicalizes', () => {
    const rs = parseResources(GOOD, 'cluster.yaml').map((l) => l.resource);
    expect(rs.map((r) => `${r.kind}/${r.metadata.name}`)).to.deep.equal(
      ['BGPConfiguration/default', 'IPPool/pods-v4', 'IPPool/pods-v6', 'Node/node-1', 'BGPPeer/tor-a']);
    const v4 = rs[1] as IPPool;
    expect(v4.spec).to.deep.equal({ cidr: '10.244.0.0/16', blockSize: 24, ipipMode: 'CrossSubnet', vxlanMode: 'Never',
      natOutgoing: true, disabled: false, nodeSelector: 'all()' });
    expect((rs[2] as IPPool).spec.blockSize).to.equal(120);
    const node = rs[3] as NodeResource;
    expect(node.spec.bgp!.ipv6Address).to.equal('fd00::1/64');
    const peer = rs[4] as BGPPeer;
    expect(peer.spec).to.include({ peerIP: '192.168.1.254', peerPort: 1790, asNumber: 65546, maxRestartTime: 120, sourceAddress: 'None' });
    expect(rs[0].spec).to.include({ logSeverityScreen: 'Info' });
    // toDocument output parses back to the same resource.
    const again = parseResources(rs.map((r) => JSON.stringify(toDocument(r))).join('\n---\n'), 'out.yaml').map((l) => l.resource);
    expect(again).to.deep.equal(rs);
  });

  it('accepts JSON, JSON arrays and List documents', () => {
    const one = '{"apiVersion":"nexthop.io/v1","kind":"IPPool","metadata":{"name":"p"},"spec":{"cidr":"10.0.0.0/8"}}';
    expect(parseResources(one, 'a.json')).to.have.length(1);
    expect(parseResources(`[${one}]`, 'a.json')).to.have.length(1);
    expect(parseResources(`{"kind":"List","items":[${one}]}`, 'a.json')).to.have.length(1);
  });

  it('names file, document, resource and field of every problem', () => {
    const text = `
apiVersion: nexthop.io/v1
kind: BGPPeer
metadata: {name: both}
spec: {node: n1, nodeSelector: all(), peerIP: 10.0.0.1, asNumber: 4294967296}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: pool}
spec: {cidr: 10.0.0.1/16, colour: blue}
`;
    const ps = problems(text);
    expect(ps).to.include('cluster.yaml: document 1 (BGPPeer/both): spec.nodeSelector: node and nodeSelector cannot both be set (node picks one node, nodeSelector several)');
    expect(ps).to.include('cluster.yaml: document 1 (BGPPeer/both): spec.asNumber: 4294967296 is out of range 1..4294967295');
    expect(ps.some((p) => p.startsWith('cluster.yaml: document 2 (IPPool/pool): spec.colour: unknown field'))).to.equal(true);
    expect(ps).to.include('cluster.yaml: document 2 (IPPool/pool): spec.cidr: \'10.0.0.1/16\' has host bits set; did you mean 10.0.0.0/16?');
  });

  it('rejects impossible values', () => {
    const doc = (kind: string, spec: string, name = 'x') => `apiVersion: nexthop.io/v1\nkind: ${kind}\nmetadata: {name: ${name}}\nspec: ${spec}\n`;
    const cases: [string, RegExp][] = [
      [doc('BGPPeer', '{peerIP: 10.0.0.1, asNumber: 23456}'), /AS_TRANS/],
      [doc('BGPPeer', '{peerIP: 10.0.0.1, asNumber: 0}'), /spec.asNumber: 0 is out of range/],
      [doc('BGPPeer', '{peerIP: 10.0.0.1}'), /spec.asNumber: required when peerIP/],
      [doc('BGPPeer', '{asNumber: 1}'), /one of peerIP or peerSelector/],
      [doc('BGPPeer', "{peerIP: 10.0.0.1, peerSelector: all(), asNumber: 1}"), /peerIP and peerSelector cannot both/],
      [doc('BGPPeer', "{peerSelector: 'rack = 1'}"), /spec.peerSelector: unexpected character '=' at position 5/],
      [doc('BGPPeer', '{peerIP: 10.0.0.300, asNumber: 1}'), /spec.peerIP: '10.0.0.300' is not an IP/],
      [doc('BGPPeer', '{peerIP: 10.0.0.1, asNumber: 1, ttlSecurity: 256}'), /ttlSecurity: 256 is out of range 1..255/],
      [doc('BGPPeer', '{peerIP: 10.0.0.1, asNumber: 1, maxRestartTime: 2h}'), /RFC 4724/],
      [doc('BGPPeer', '{peerIP: 10.0.0.1, asNumber: 1, password: {secretKeyRef: {name: a, key: b}}}'), /secretKeyRef/],
      [doc('IPPool', '{cidr: 10.0.0.0/24, blockSize: 16}'), /\/16 blocks do not fit in the \/24 pool/],
      [doc('IPPool', '{cidr: 10.0.0.0/24, ipipMode: Always, vxlanMode: Always}'), /cannot both be enabled/],
      [doc('IPPool', '{cidr: 10.0.0.0/24, ipipMode: Sometimes}'), /'Sometimes' is not one of Always, CrossSubnet, Never/],
      [doc('IPPool', '{cidr: "fd00::/104", ipipMode: Always, blockSize: 120}'), /IPIP carries IPv4 only/],
      [doc('Node', '{bgp: {ipv4Address: "fd00::1/64"}}'), /not an IPv4 address/],
      [doc('Node', '{bgp: {asNumber: 65000}}'), /needs ipv4Address or ipv6Address/],
      [doc('Node', '{vxlanTunnelMACAddr: "zz:00:00:00:00:00"}'), /not a MAC address/],
      [doc('Node', '{}', 'Bad_Name'), /metadata.name: 'Bad_Name' is not a valid name/],
      [doc('BGPConfiguration', '{listenPort: 0}', 'default'), /listenPort: 0 is out of range 1..65535/],
      [doc('BGPConfiguration', '{}', 'mine'), /named 'default' .* or 'node.<nodename>'/],
      [doc('BGPConfiguration', '{communities: [{name: c, value: "70000:1"}]}', 'default'), /RFC 1997/],
      [doc('Widget', '{}'), /kind: 'Widget' is not one of/],
      ['apiVersion: v1\nkind: Node\nmetadata: {name: n}\n', /apiVersion: 'v1' is not one of nexthop.io\/v1, projectcalico.org\/v3/],
      ['kind: Node\nmetadata: {name: n}\nspec: {bgp: [1]}\n', /spec.bgp: must be a mapping, got a list/],
      ['a: [1\n', /YAML syntax/],
    ];
    for (const [text, re] of cases) {
      const ps = problems(text);
      expect(ps.join('\n'), text).to.match(re);
    }
  });

  it('rejects pinned blocks outside pools, of the wrong size or held twice, overlapping pools and duplicates', () => {
    const pool = 'apiVersion: nexthop.io/v1\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.244.0.0/16}\n';
    const node = (name: string, cidrs: string) => `---\napiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: ${name}}\nspec: {podCIDRs: [${cidrs}]}\n`;
    expect(problems(pool + node('a', '10.245.0.0/24')).join()).to.match(/document 2 \(Node\/a\): spec.podCIDRs\[0\]: block 10.245.0.0\/24 lies outside every IPPool/);
    expect(problems(pool + node('a', '10.244.0.0/25')).join()).to.match(/is a \/25 but pool p hands out \/24 blocks/);
    expect(problems(pool + node('a', '10.244.1.0/24') + node('b', '10.244.1.0/24')).join()).to.match(/overlaps 10.244.1.0\/24 pinned by node a/);
    expect(problems(pool + pool.replace('name: p', 'name: q').replace('10.244.0.0/16', '10.244.128.0/17').replace(/^/, '---\n')).join())
      .to.match(/overlaps pool p/);
    expect(problems(pool + '---\n' + pool).join()).to.match(/defined twice/);
  });

  it('maps CLI kind names like calicoctl', () => {
    for (const n of ['bgppeer', 'BGPPeers', 'bgpp']) expect(kindFromName(n)).to.equal('BGPPeer');
    for (const n of ['bgpconfig', 'bgpconfiguration', 'BGPConfigurations']) expect(kindFromName(n)).to.equal('BGPConfiguration');
    for (const n of ['ippool', 'IPPools', 'ipp']) expect(kindFromName(n)).to.equal('IPPool');
    for (const n of ['node', 'Nodes', 'no']) expect(kindFromName(n)).to.equal('Node');
    expect(kindFromName('pod')).to.equal(null);
  });

  it('parses Go durations', () => {
    expect(parseDuration('120s')).to.equal(120);
    expect(parseDuration('2m0s')).to.equal(120);
    expect(parseDuration('1h1m')).to.equal(3660);
    expect(parseDuration('90')).to.equal(90);
    expect(parseDuration('1500ms')).to.equal(2);
    expect(parseDuration('2x')).to.equal(null);
    expect(parseDuration('s')).to.equal(null);
  });
});

// What `calicoctl get ippool -o yaml` prints on a kubeadm cluster with Calico 3.2x (a list kind,
// server-set metadata, allowedUses and the other fields Calico fills in).
const CALICOCTL_IPPOOLS = `apiVersion: projectcalico.org/v3
items:
- apiVersion: projectcalico.org/v3
  kind: IPPool
  metadata:
    creationTimestamp: "2024-05-02T09:14:27Z"
    name: default-ipv4-ippool
    resourceVersion: "791"
    uid: 6a0b8f52-2f5e-4c41-9c36-1f0e0b9a5d11
  spec:
    allowedUses:
    - Workload
    - Tunnel
    assignmentMode: Automatic
    blockSize: 26
    cidr: 192.168.0.0/16
    disableBGPExport: false
    ipipMode: Always
    natOutgoing: true
    nodeSelector: all()
    vxlanMode: Never
kind: IPPoolList
metadata:
  resourceVersion: "1342"
`;

describe('cluster/resources: Calico v3 documents', () => {
  it('reads `calicoctl get ippool -o yaml` output, warning for each Calico field nexthop does not use', () => {
    const warnings: ResourceProblem[] = [];
    const rs = parseResources(CALICOCTL_IPPOOLS, 'ippools.yaml', { warnings });
    expect(rs.map((l) => l.resource)).to.deep.equal([{
      apiVersion: 'projectcalico.org/v3', kind: 'IPPool',
      metadata: { name: 'default-ipv4-ippool', labels: {}, annotations: {} },
      spec: { cidr: '192.168.0.0/16', blockSize: 26, ipipMode: 'Always', vxlanMode: 'Never', natOutgoing: true, disabled: false, nodeSelector: 'all()',
        disableBGPExport: false },
    }]);
    expect(warnings.map(formatProblem)).to.deep.equal([
      'ippools.yaml: document 1 (IPPool/default-ipv4-ippool): spec.allowedUses: Calico v3 field accepted but not used by nexthop (ignored)',
      'ippools.yaml: document 1 (IPPool/default-ipv4-ippool): spec.assignmentMode: Calico v3 field accepted but not used by nexthop (ignored)',
    ]);
  });

  it('accepts the documented Calico BGPConfiguration, BGPPeer and Node fields, naming each in a warning', () => {
    const text = `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec:
  logSeverityScreen: Info
  nodeToNodeMeshEnabled: true
  nodeMeshMaxRestartTime: 120s
  nodeMeshPassword: {secretKeyRef: {name: bgp-secrets, key: mesh}}
  asNumber: 63400
  serviceClusterIPs: [{cidr: 10.96.0.0/12}]
  serviceExternalIPs: [{cidr: 104.244.42.129/32}]
  serviceLoadBalancerIPs: [{cidr: 172.217.4.0/24}]
  listenPort: 178
  bindMode: NodeIP
  ignoredInterfaces: [eth9]
  communities: [{name: bgp-large-community, value: "63400:300:100"}]
  prefixAdvertisements: [{cidr: 172.218.4.0/26, communities: [bgp-large-community, "63400:120"]}]
---
apiVersion: projectcalico.org/v3
kind: BGPPeer
metadata: {name: tor}
spec:
  peerIP: 192.168.1.1
  asNumber: 63400
  filters: [export-only-pods]
  numAllowedLocalASNumbers: 1
  reachableBy: 192.168.1.254
---
apiVersion: projectcalico.org/v3
kind: Node
metadata: {name: node-hostname}
spec:
  bgp: {asNumber: 64512, ipv4Address: 10.244.0.1/24}
  orchRefs: [{nodeName: node-hostname, orchestrator: k8s}]
  addresses: [{address: 10.244.0.1, type: InternalIP}]
  wireguard: {interfaceIPv4Address: 10.244.0.2}
`;
    const warnings: ResourceProblem[] = [];
    const rs = parseResources(text, 'calico.yaml', { warnings });
    expect(rs.map((l) => l.resource.kind)).to.deep.equal(['BGPConfiguration', 'BGPPeer', 'Node']);
    expect(rs[0].resource.spec).to.deep.equal({
      asNumber: 63400, nodeToNodeMeshEnabled: true, listenPort: 178, logSeverityScreen: 'Info',
      communities: [{ name: 'bgp-large-community', value: '63400:300:100' }], nodeMeshMaxRestartTime: 120,
    });
    expect(warnings.map((w) => `${w.origin.document} ${w.resource} ${w.field}`)).to.deep.equal([
      '1 BGPConfiguration/default spec.nodeMeshPassword',
      '1 BGPConfiguration/default spec.serviceClusterIPs',
      '1 BGPConfiguration/default spec.serviceExternalIPs',
      '1 BGPConfiguration/default spec.serviceLoadBalancerIPs',
      '1 BGPConfiguration/default spec.bindMode',
      '1 BGPConfiguration/default spec.ignoredInterfaces',
      '1 BGPConfiguration/default spec.prefixAdvertisements',
      '2 BGPPeer/tor spec.filters',
      '2 BGPPeer/tor spec.numAllowedLocalASNumbers',
      '2 BGPPeer/tor spec.reachableBy',
      '3 Node/node-hostname spec.orchRefs',
      '3 Node/node-hostname spec.addresses',
      '3 Node/node-hostname spec.wireguard',
    ]);
    expect(warnings.every((w) => w.origin.file === 'calico.yaml' && /accepted but not used by nexthop/.test(w.message))).to.equal(true);
  });

  it('still rejects fields that are neither nexthop nor Calico, and warns nothing for a rejected document', () => {
    const warnings: ResourceProblem[] = [];
    let err: unknown;
    try {
      parseResources('apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata: {name: p}\nspec: {cidr: 10.0.0.0/16, allowedUses: [Workload], allowedUse: [Tunnel]}\n', 'typo.yaml', { warnings });
    } catch (e) { err = e; }
    expect(err).to.be.instanceOf(ResourceError);
    expect((err as ResourceError).problems.map((p) => p.field)).to.deep.equal(['spec.allowedUse']);
    expect((err as ResourceError).message).to.match(/spec\.allowedUse: unknown field \(allowed: cidr, .*Calico fields accepted but not used: allowedUses/);
    expect(warnings).to.deep.equal([]);
    expect(problems('apiVersion: projectcalico.org/v3\nkind: Node\nmetadata: {name: n}\nspec: {bgp: {ipv4Address: 10.0.0.1/24}, wireguards: {}}\n'))
      .to.deep.equal(['cluster.yaml: document 1 (Node/n): spec.wireguards: unknown field (allowed: bgp, podCIDRs, ipv4VXLANTunnelAddr, vxlanTunnelMACAddr, ipv6VXLANTunnelAddr, vxlanTunnelMACAddrV6; Calico fields accepted but not used: orchRefs, addresses, wireguard)']);
    // A list kind that is not ours is not read as a list.
    expect(problems('kind: FelixConfigurationList\nitems: []\n')[0]).to.match(/kind: 'FelixConfigurationList' is not one of/);
  });
});
