// planUndo (src/agent/start-undo.ts): an abandoned start reverts exactly the differences between
// the snapshot before it touched the host and the one after, never what was there before.
import { expect } from 'chai';
import * as path from 'path';
import { planUndo, describeUndo, HostSnapshot } from '../../../src/agent/start-undo';
import type { KernelRoute } from '../../../src/dataplane/fib/route';

function route(prefix: string): KernelRoute {
  return {
    key: `254|${prefix}|0`, prefix, family: 2, protocol: 78, rtType: 1, table: 254, metric: 0, tos: 0, scope: 0,
    nexthops: [], source: undefined, mtu: undefined, dst: new Uint8Array(4), dstLen: 24,
  };
}

function snap(p: Partial<HostSnapshot> = {}): HostSnapshot {
  return { devices: [], routes: {}, sysctls: {}, files: {}, dirs: {}, firewall: { backend: 'nft', table: null }, ...p };
}

describe('agent start undo: planUndo', () => {
  it('nothing changed: nothing to do', () => {
    const s = snap({ devices: ['vxlan.nexthop'], routes: { a: route('10.1.0.0/24') }, sysctls: { 'net/ipv4/ip_forward': '1' }, files: { '/x': 'y' }, dirs: { '/d': true } });
    expect(planUndo(s, snap({ ...s }))).to.deep.equal([]);
  });

  it('reverts what this start made: table, route, device, sysctl, files, then directories deepest first', () => {
    const before = snap({
      sysctls: { 'net/ipv4/ip_forward': '0', 'net/ipv6/conf/all/forwarding': '0' },
      files: { '/s/state/host-state.json': null, '/etc/cni/net.d/10-nexthop.conflist': 'old' },
      dirs: { '/s': false, '/s/state': false, '/etc/cni/net.d': true },
    });
    const after = snap({
      devices: ['vxlan.nexthop'],
      routes: { r: route('10.2.0.0/24') },
      firewall: { backend: 'nft', table: 'table inet nexthop {}' },
      sysctls: { 'net/ipv4/ip_forward': '1', 'net/ipv6/conf/all/forwarding': '0' },
      files: { '/s/state/host-state.json': '{}', '/etc/cni/net.d/10-nexthop.conflist': 'new' },
      dirs: { '/s': true, '/s/state': true, '/etc/cni/net.d': true },
    });
    const plan = planUndo(before, after);
    expect(plan).to.deep.equal([
      { kind: 'firewall-remove', backend: 'nft' },
      { kind: 'route', key: 'r', prefix: '10.2.0.0/24' },
      { kind: 'device', name: 'vxlan.nexthop' },
      { kind: 'sysctl', key: 'net/ipv4/ip_forward', value: '0' },
      { kind: 'file', path: '/s/state/host-state.json', content: null },
      { kind: 'file', path: '/etc/cni/net.d/10-nexthop.conflist', content: 'old' },
      { kind: 'dir', path: path.join('/s', 'state') },
      { kind: 'dir', path: '/s' },
    ]);
    expect(plan.map(describeUndo)).to.include('put sysctl net.ipv4.ip_forward back to 0').and.include('removed device vxlan.nexthop');
  });

  it('keeps a previous run\'s device, routes and table (adopted); restores a table it rewrote', () => {
    const before = snap({ devices: ['vxlan.nexthop'], routes: { old: route('10.3.0.0/24') }, firewall: { backend: 'nft', table: 'table inet nexthop { A }' } });
    const after = snap({ devices: ['vxlan.nexthop'], routes: { old: route('10.3.0.0/24') }, firewall: { backend: 'nft', table: 'table inet nexthop { B }' } });
    expect(planUndo(before, after)).to.deep.equal([{ kind: 'firewall-restore', table: 'table inet nexthop { A }' }]);
  });

  it('a route or device gone during the start is not re-created; an unreadable sysctl is left alone', () => {
    const before = snap({ devices: ['vxlan.nexthop'], routes: { old: route('10.3.0.0/24') }, sysctls: { k: null, j: '0' } });
    const after = snap({ sysctls: { k: '1', j: null } });
    expect(planUndo(before, after)).to.deep.equal([]);
  });

  it('iptables: removes our chains only when this start created them', () => {
    expect(planUndo(snap({ firewall: { backend: 'iptables', present: false } }), snap({ firewall: { backend: 'iptables', present: true } })))
      .to.deep.equal([{ kind: 'firewall-remove', backend: 'iptables' }]);
    expect(planUndo(snap({ firewall: { backend: 'iptables', present: true } }), snap({ firewall: { backend: 'iptables', present: true } }))).to.deep.equal([]);
    expect(planUndo(snap({ firewall: { backend: 'none' } }), snap({ firewall: { backend: 'none' } }))).to.deep.equal([]);
  });
});
