// `nexthop agent` refuses a configuration that cannot work BEFORE it touches the host: unknown
// node, invalid resource file, a Node without an address, an address no interface holds, IPIP
// asked on a kernel without ipip. Each case runs the real CLI in a fresh namespace and checks
// the exit status, that the message names the problem, and that nothing changed: ip_forward
// still 0, no tunnel device, no CNI file, no control socket, no route.
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec } from '../helpers/lab';
import { ipipSupported } from '../../src/agent/agent';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

const BASE = `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.79.0.0/16, IPIPMODE }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: node-a }
spec: { bgp: { ipv4Address: 10.76.0.1/24 } }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: node-noaddr }
spec: {}
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: node-elsewhere }
spec: { bgp: { ipv4Address: 10.76.9.9/24 } }
`;

describe('integration: nexthop agent refuses a bad configuration before touching the host', function () {
  this.timeout(60_000);
  const lab = new Lab('agc');
  let ns = '';
  let dir = '';

  before(function () {
    if (!isRoot()) this.skip();
    ns = lab.netns('n');
    const peer = lab.netns('p');
    lab.link(ns, ['10.76.0.1/24'], peer, ['10.76.0.2/24'], ['eth0', 'eth0']);
    dir = lab.tempDir();
  });
  after(() => lab.destroy());

  function runAgent(yaml: string, node: string, extra: string[] = []): { status: number; stderr: string } {
    const file = path.join(dir, `cluster-${Math.random().toString(36).slice(2)}.yaml`);
    fs.writeFileSync(file, yaml);
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, MAIN, 'agent', '--node', node, '--datastore', `file:${file}`,
      '--control-socket', path.join(dir, 'run', 'nexthop.sock'), '--metrics-address', 'none',
      '--cni-conf-dir', path.join(dir, 'cni'), '--subnet-env', path.join(dir, 'subnet.env'), '--state-dir', path.join(dir, 'state'), ...extra],
    { encoding: 'utf8', timeout: 20_000 });
    return { status: r.status ?? -1, stderr: r.stderr ?? '' };
  }

  function hostUntouched(): void {
    expect(nsExec(ns, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim()).to.equal('0');
    const links = nsExec(ns, 'ip', ['-o', 'link', 'show']);
    expect(links).to.not.match(/tunl0|vxlan\.nexthop/);
    expect(nsExec(ns, 'ip', ['route', 'show', 'proto', '78']).trim()).to.equal('');
    expect(fs.existsSync(path.join(dir, 'cni'))).to.equal(false);
    expect(fs.existsSync(path.join(dir, 'subnet.env'))).to.equal(false);
    expect(fs.existsSync(path.join(dir, 'run', 'nexthop.sock'))).to.equal(false);
  }

  it('unknown node: exit 1 naming the node and the known ones', () => {
    const r = runAgent(BASE.replace('IPIPMODE', 'ipipMode: Never'), 'node-x');
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.match(/no Node resource named node-x .*nodes: node-a, node-elsewhere, node-noaddr/);
    hostUntouched();
  });

  it('invalid resource file: exit 1 naming the document and field', () => {
    const r = runAgent(BASE.replace('IPIPMODE', 'ipipMode: Sometimes'), 'node-a');
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.contain('ipipMode').and.to.contain('Sometimes');
    hostUntouched();
  });

  it('a Node without an address: exit 1 naming spec.bgp.ipv4Address', () => {
    const r = runAgent(BASE.replace('IPIPMODE', 'ipipMode: Never'), 'node-noaddr');
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.contain('node node-noaddr: spec.bgp.ipv4Address');
    hostUntouched();
  });

  it('a node address no interface of this host holds: exit 1', () => {
    const r = runAgent(BASE.replace('IPIPMODE', 'ipipMode: Never'), 'node-elsewhere');
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.contain('no interface of this host holds 10.76.9.9');
    hostUntouched();
  });

  it('an --uplink that does not exist: exit 1', () => {
    const r = runAgent(BASE.replace('IPIPMODE', 'ipipMode: Never'), 'node-a', ['--uplink', 'nosuch0']);
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.contain('no interface nosuch0 is up');
    hostUntouched();
  });

  it('IPIP asked on a kernel without ipip: exit 1 naming the module', function () {
    if (ipipSupported()) this.skip(); // this kernel can do IPIP: nothing to refuse
    const r = runAgent(BASE.replace('IPIPMODE', 'ipipMode: Always'), 'node-a');
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.contain("cannot create ipip devices: load the 'ipip' module");
    hostUntouched();
  });

  it('bad flags: exit 2 with the usage line', () => {
    for (const args of [['agent'], ['agent', '--node', 'a', '--datastore', 'nope:x'], ['agent', '--node', 'a', '--datastore', 'file:/x', '--listen-port', '70000'], ['agent', '--bogus']]) {
      const r = spawnSync(process.execPath, [MAIN, ...args], { encoding: 'utf8', timeout: 10_000, env: { ...process.env, NEXTHOP_DATASTORE: '' } });
      expect(r.status, `${args.join(' ')}: ${r.stderr}`).to.equal(2);
      expect(r.stderr).to.contain('usage: nexthop agent');
    }
    hostUntouched();
  });
});
