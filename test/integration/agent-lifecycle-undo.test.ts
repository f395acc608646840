// `nexthop agent` on a start that cannot finish: a listen address that is not on the host is
// refused before anything changes (bind test first), and a start that fails after it began
// changing the host (here: the CNI directory cannot be written, after the VXLAN device, the
// forwarding sysctl and the nft table were made) undoes exactly what THIS start made - and keeps
// what a previous run left (its route of proto 78, its nft table, ip_forward=1: adopted state).
// Each case runs the real CLI in a fresh namespace and compares links, routes (all tables, both
// families), the nft ruleset, the sysctls and the files in the agent's directories with a
// snapshot taken before. RFC 1812 §2.2.8.1 (forwarding switch), RFC 7348 (VXLAN device).
import { expect } from 'chai';
import { spawnSync } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';

const MAIN = path.join(__dirname, '..', '..', 'src', 'cli', 'main.js');

const CLUSTER = `apiVersion: nexthop.io/v1
kind: IPPool
metadata: { name: pods }
spec: { cidr: 10.74.0.0/16, blockSize: 24, ipipMode: Never, vxlanMode: Always, natOutgoing: true }
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: node-a }
spec:
  bgp: { ipv4Address: 10.75.0.1/24 }
  podCIDRs: [10.74.1.0/24]
---
apiVersion: nexthop.io/v1
kind: Node
metadata: { name: node-b }
spec:
  bgp: { ipv4Address: 10.75.0.2/24 }
  podCIDRs: [10.74.2.0/24]
`;

function listTree(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string, depth: number): void => {
    if (depth > 6) return;
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      const size = e.isFile() ? ` (${fs.statSync(p).size} bytes)` : '';
      out.push(`${path.relative(dir, p)}${e.isDirectory() ? '/' : ''}${size}`);
      if (e.isDirectory()) walk(p, depth + 1);
    }
  };
  walk(dir, 0);
  return out.sort();
}

describe('integration: nexthop agent undoes an abandoned start (and only what it made)', function () {
  this.timeout(90_000);
  const lab = new Lab('agu');
  let ns = '';
  let dir = '';
  let clusterFile = '';

  before(async function () {
    if (!isRoot()) this.skip();
    if (!fs.existsSync(MAIN)) throw new Error(`${MAIN} not built`);
    ns = lab.netns('n');
    const peer = lab.netns('p');
    lab.link(ns, ['10.75.0.1/24'], peer, ['10.75.0.2/24'], ['eth0', 'eth0']);
    dir = lab.tempDir();
    clusterFile = path.join(dir, 'cluster.yaml');
    fs.writeFileSync(clusterFile, CLUSTER);
    // A regular file where a directory is expected: the CNI conflist cannot be written under it.
    fs.writeFileSync(path.join(dir, 'not-a-dir'), 'x');
    // The kernel adds eth0's IPv6 link-local address, and its local route, once duplicate address
    // detection is over (RFC 4862 §5.4): wait for it, or a snapshot could catch the host mid-way.
    await waitFor('eth0 link-local address out of DAD', () => {
      const addrs = nsExec(ns, 'ip', ['-6', 'addr', 'show', 'dev', 'eth0']);
      return /inet6 fe80::/.test(addrs) && !/tentative/.test(addrs)
        && /^local fe80::\S+ dev eth0 /m.test(nsExec(ns, 'ip', ['-6', 'route', 'show', 'table', 'local']));
    }, 10_000, 100);
  });
  after(() => lab.destroy());

  function snapshot(): Record<string, string | string[]> {
    const links = nsExec(ns, 'ip', ['-o', 'link', 'show']).split('\n').map((l) => l.replace(/^\d+: /, '').replace(/\\.*$/, '').trim()).filter((l) => l);
    return {
      links,
      routes4: nsExec(ns, 'ip', ['-4', 'route', 'show', 'table', 'all']),
      routes6: nsExec(ns, 'ip', ['-6', 'route', 'show', 'table', 'all']),
      nft: nsExec(ns, 'nft', ['list', 'ruleset']),
      ipForward: nsExec(ns, 'cat', ['/proc/sys/net/ipv4/ip_forward']).trim(),
      ipv6Forwarding: nsExec(ns, 'cat', ['/proc/sys/net/ipv6/conf/all/forwarding']).trim(),
      // The file datastore's own state (block claims, published VTEP) is not host state: the
      // next start reuses those claims.
      files: listTree(dir).filter((f) => !f.startsWith('cluster.yaml.state')),
    };
  }

  function runAgent(extra: string[]): { status: number; stderr: string } {
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, MAIN, 'agent', '--node', 'node-a', '--datastore', `file:${clusterFile}`,
      '--control-socket', path.join(dir, 'run', 'nexthop.sock'), '--metrics-address', 'none',
      '--subnet-env', path.join(dir, 'env', 'subnet.env'), '--state-dir', path.join(dir, 'state'), '--log-level', 'warn', ...extra],
    { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status ?? -1, stderr: r.stderr ?? '' };
  }

  it('a listen address not on this host: exit 1 naming address and errno, before the host changes', () => {
    const before = snapshot();
    const r = runAgent(['--listen-address', '10.75.9.9', '--cni-conf-dir', path.join(dir, 'cni')]);
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.contain('nexthop agent: node node-a: --listen-address: cannot listen for BGP on 10.75.9.9 port 179: EADDRNOTAVAIL');
    expect(snapshot()).to.deep.equal(before);
  });

  it('a failure after the VXLAN device, ip_forward and the nft table were made: exit 1, all of it undone', () => {
    const before = snapshot();
    expect(before.ipForward).to.equal('0');
    const r = runAgent(['--cni-conf-dir', path.join(dir, 'not-a-dir', 'cni')]);
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.match(/nexthop agent: node node-a: dataplane: .*not-a-dir.*; start abandoned, undid what it changed: /);
    expect(r.stderr).to.contain('removed device vxlan.nexthop')
      .and.to.contain('removed firewall table inet nexthop')
      .and.to.contain('put sysctl net.ipv4.ip_forward back to 0');
    expect(r.stderr).to.not.contain('NOT undone');
    if (process.env.NEXTHOP_TEST_DEBUG) process.stderr.write(r.stderr);
    expect(snapshot()).to.deep.equal(before);
  });

  it('keeps what a previous run left (its route, its nft table, ip_forward=1) and undoes only its own changes', () => {
    nsExec(ns, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    nsExec(ns, 'ip', ['route', 'add', '10.74.2.0/24', 'via', '10.75.0.2', 'dev', 'eth0', 'proto', '78']);
    nsExec(ns, 'nft', ['-f', '-'], { input: 'table inet nexthop {\n  chain forward {\n    type filter hook forward priority 0; policy accept;\n    ip saddr 10.74.0.0/16 accept\n  }\n}\n' });
    const before = snapshot();
    expect(before.routes4).to.contain('10.74.2.0/24 via 10.75.0.2 dev eth0 proto 78');
    const r = runAgent(['--cni-conf-dir', path.join(dir, 'not-a-dir', 'cni')]);
    expect(r.status).to.equal(1, r.stderr);
    expect(r.stderr).to.contain('start abandoned').and.to.contain('removed device vxlan.nexthop').and.to.contain('restored firewall table inet nexthop as it was');
    expect(r.stderr).to.not.match(/removed route|put sysctl|NOT undone/);
    expect(snapshot()).to.deep.equal(before);
  });
});
