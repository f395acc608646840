// `nexthop apply/get/delete/ipam` as processes against a real etcd started by the test.
import { expect } from 'chai';
import * as fs from 'fs';
import * as path from 'path';
import { Lab } from '../helpers/lab';
import { EtcdServer, freePort } from '../helpers/etcd';

const CLI = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');
const lab = new Lab('cli');

function cli(args: string[], env: NodeJS.ProcessEnv = {}, input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // Started through the lab: killed by pid when the suite ends, whatever happens.
    const p = lab.spawn(null, process.execPath, [CLI, ...args], { env: { ...process.env, NEXTHOP_DATASTORE: '', ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (c) => { stdout += c; });
    p.stderr!.on('data', (c) => { stderr += c; });
    p.stdin!.end(input ?? '');
    const t = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`nexthop ${args.join(' ')} timed out`)); }, 60000);
    p.on('exit', (code) => { clearTimeout(t); resolve({ code: code ?? -1, stdout, stderr }); });
  });
}

const RESOURCES = `apiVersion: projectcalico.org/v3
kind: BGPConfiguration
metadata: {name: default}
spec: {asNumber: 65010, nodeToNodeMeshEnabled: true}
---
apiVersion: nexthop.io/v1
kind: IPPool
metadata: {name: pods}
spec: {cidr: 10.60.0.0/16, vxlanMode: CrossSubnet, natOutgoing: true}
---
apiVersion: nexthop.io/v1
kind: Node
metadata: {name: worker-1, labels: {rack: a}}
spec: {bgp: {ipv4Address: 192.168.10.1/24}}
---
apiVersion: nexthop.io/v1
kind: Node
metadata: {name: worker-2}
spec: {bgp: {ipv4Address: 192.168.10.2/24}, podCIDRs: [10.60.200.0/24]}
---
apiVersion: nexthop.io/v1
kind: BGPPeer
metadata: {name: tor-a}
spec: {peerIP: 192.168.10.254, asNumber: 65100, nodeSelector: "rack == 'a'", password: pw}
`;

describe('integration: cluster CLI against etcd', function () {
  this.timeout(120000);
  let etcd: EtcdServer;
  let dir: string;
  let ds: string;
  before(async () => {
    etcd = await EtcdServer.start(lab);
    dir = lab.tempDir();
    ds = `etcd:${etcd.url}?prefix=/clitest${process.pid}/`;
  });
  after(async () => { await lab.destroy(); });

  it('applies, lists, shows IPAM and deletes', async () => {
    fs.writeFileSync(path.join(dir, 'r.yaml'), RESOURCES);
    let r = await cli(['apply', '-f', path.join(dir, 'r.yaml'), '--datastore', ds]);
    expect(r.code, r.stderr).to.equal(0);
    expect(r.stdout.trim().split('\n')).to.deep.equal(['BGPConfiguration/default created', 'IPPool/pods created', 'Node/worker-1 created',
      'Node/worker-2 created', 'BGPPeer/tor-a created']);
    // The environment variable works as --datastore.
    r = await cli(['get', 'BGPPeers'], { NEXTHOP_DATASTORE: ds });
    expect(r.stdout).to.match(/^NAME\s+PEERIP\s+NODE\s+ASN\ntor-a\s+192.168.10.254\s+rack == 'a'\s+65100\n$/);
    for (const id of ['worker-1', 'worker-2']) {
      r = await cli(['ipam', 'claim', '--node', id, '--datastore', ds]);
      expect(r.code, r.stderr).to.equal(0);
    }
    r = await cli(['get', 'no', '--datastore', ds]);
    expect(r.stdout).to.match(/worker-1\s+192.168.10.1\/24\s+10.60.0.0\/24\s+no/);
    expect(r.stdout).to.match(/worker-2\s+192.168.10.2\/24\s+10.60.200.0\/24\s+no/);
    r = await cli(['ipam', 'show', '--datastore', ds]);
    expect(r.stdout).to.match(/pods\s+10.60.0.0\/16\s+\/24\s+2\s+256\s+enabled/);
    expect(r.stdout).to.match(/10.60.200.0\/24\s+pods\s+worker-2\s+yes\s+no/);
    // -o yaml output applies again unchanged.
    r = await cli(['get', 'ippool', 'pods', '-o', 'yaml', '--datastore', ds]);
    expect(r.stdout).to.include('cidr: 10.60.0.0/16');
    const again = await cli(['apply', '-f', '-', '--datastore', ds], {}, r.stdout);
    expect(again.stdout.trim()).to.equal('IPPool/pods unchanged');
    r = await cli(['get', 'bgpconfig', '-o', 'json', '--datastore', ds]);
    expect(JSON.parse(r.stdout).items[0].spec).to.deep.equal({ asNumber: 65010, nodeToNodeMeshEnabled: true });
    r = await cli(['delete', 'Node', 'worker-1', '--datastore', ds]);
    expect(r.stdout.trim()).to.equal('Node/worker-1 deleted; released blocks 10.60.0.0/24');
    r = await cli(['ipam', 'show', '-o', 'json', '--datastore', ds]);
    expect((JSON.parse(r.stdout) as { blocks: { node: string }[] }).blocks.map((b) => b.node)).to.deep.equal(['worker-2']);
  });

  it('applies nothing when any document is bad, and names it', async () => {
    const good = 'apiVersion: nexthop.io/v1\nkind: Node\nmetadata: {name: fresh}\nspec: {bgp: {ipv4Address: 192.168.10.9/24}}\n';
    const bad = '---\napiVersion: nexthop.io/v1\nkind: BGPPeer\nmetadata: {name: broken}\nspec: {peerIP: 192.168.10.253, asNumber: 65100, node: fresh, nodeSelector: all()}\n';
    fs.writeFileSync(path.join(dir, 'bad.yaml'), good + bad);
    let r = await cli(['apply', '-f', path.join(dir, 'bad.yaml'), '--datastore', ds]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.include(`${path.join(dir, 'bad.yaml')}: document 2 (BGPPeer/broken): spec.nodeSelector: node and nodeSelector cannot both be set`);
    r = await cli(['get', 'node', 'fresh', '--datastore', ds]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/Node fresh not found/);
    // A pin outside every pool is caught against the stored pools.
    fs.writeFileSync(path.join(dir, 'pin.yaml'), good.replace('}}\n', '}, podCIDRs: [10.61.0.0/24]}\n'));
    r = await cli(['apply', '-f', path.join(dir, 'pin.yaml'), '--datastore', ds]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(/document 1 \(Node\/fresh\): spec.podCIDRs\[0\]: block 10.61.0.0\/24 lies outside every IPPool/);
  });

  it('answers bad usage with a usage line (exit 2) and an unreachable etcd with an error (exit 1)', async () => {
    let r = await cli(['get', 'nodes', '--colour', 'red', '--datastore', ds]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/unknown option '--colour'\nusage: nexthop get KIND/);
    r = await cli(['get', 'widgets', '--datastore', ds]);
    expect(r.code).to.equal(2);
    r = await cli(['get', 'nodes', '--datastore', 'consul:x']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/unknown backend 'consul'/);
    r = await cli(['get', 'nodes']);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.match(/no datastore/);
    r = await cli(['delete', 'node', '--datastore', ds]);
    expect(r.code).to.equal(2);
    const port = await freePort();
    const t0 = Date.now();
    r = await cli(['get', 'nodes', '--datastore', `etcd:http://127.0.0.1:${port}`]);
    expect(r.code).to.equal(1);
    expect(r.stderr).to.match(new RegExp(`etcd http://127.0.0.1:${port} unreachable`));
    expect(Date.now() - t0).to.be.lessThan(20000);
  });
});
