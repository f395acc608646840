// Integration test of the netlink-backed next-hop resolver (src/dataplane/resolver.ts) in a Lab
// namespace: the first snapshot comes from real rtnetlink dumps, and link/address/route changes
// made with `ip` inside the namespace reach it through the multicast monitor, which re-reads and
// calls onChange only when resolution changed. RFC 4271 §9.1.2 (unresolvable next hops),
// §9.1.2.1 (our own protocol-78 routes never resolve), §9.1.2.2 e (the route's metric as IGP cost).
// Needs root.
import { expect } from 'chai';
import { Lab, isRoot, nsExec, waitFor } from '../helpers/lab';
import { HostNextHopResolver } from '../../src/dataplane/resolver';
import { NEXTHOP_RTPROT } from '../../src/dataplane/fib/protocol';

describe('integration: host next-hop resolver (netns)', function () {
  this.timeout(30000);
  let lab: Lab;
  let ns: string;
  let resolver: HostNextHopResolver | null = null;
  let changes = 0;

  before(function () {
    if (!isRoot()) this.skip();
  });
  beforeEach(() => {
    lab = new Lab('nhr');
    ns = lab.netns('a');
    const b = lab.netns('b');
    lab.link(ns, ['10.141.0.1/24', 'fd41::1/64'], b, ['10.141.0.2/24', 'fd41::2/64'], ['up0', 'peer0']);
    changes = 0;
  });
  afterEach(async () => {
    resolver?.close();
    resolver = null;
    await lab.destroy();
  });

  async function open(): Promise<HostNextHopResolver> {
    resolver = await HostNextHopResolver.open({ netns: ns, debounceMs: 20, pollMs: 20, periodicMs: 0, onChange: () => { changes++; } });
    resolver.start();
    return resolver;
  }
  const v4 = (r: HostNextHopResolver, nh: string) => r.resolve(nh, 'ipv4-unicast');

  it('connected next hops resolve at cost 0; others only once a static route covers them; removing the address makes them unresolvable', async () => {
    const r = await open();
    expect(v4(r, '10.141.0.2')).to.deep.equal({ igpCost: 0 });
    expect(r.resolve('fd41::2', 'ipv6-unicast')).to.deep.equal({ igpCost: 0 });
    // Outside every connected subnet, and a fresh namespace has no default route.
    expect(v4(r, '10.142.5.1')).to.equal(null);

    nsExec(ns, 'ip', ['route', 'add', '10.142.0.0/16', 'via', '10.141.0.2', 'metric', '30']);
    await waitFor('static route seen', () => v4(r, '10.142.5.1') !== null, 5000, 20);
    expect(v4(r, '10.142.5.1')).to.deep.equal({ igpCost: 30 });
    expect(r.explain('10.142.5.1')).to.deep.equal({ igpCost: 30, via: 'route', prefix: '10.142.0.0/16' });
    expect(changes).to.be.greaterThan(0);

    nsExec(ns, 'ip', ['addr', 'del', '10.141.0.1/24', 'dev', 'up0']);
    // The kernel drops the connected route and the static route through it along with the address.
    await waitFor('address removal seen', () => v4(r, '10.141.0.2') === null, 5000, 20);
    expect(v4(r, '10.142.5.1')).to.equal(null);
    // IPv6 on the same link is untouched.
    expect(r.resolve('fd41::2', 'ipv6-unicast')).to.deep.equal({ igpCost: 0 });
  });

  it('our own routes (protocol 78) and other tables never resolve; protocol 78 never causes a change (RFC 4271 §9.1.2.1)', async () => {
    const r = await open();
    const before = r.counters.refreshes;
    nsExec(ns, 'ip', ['route', 'add', '10.143.0.0/16', 'via', '10.141.0.2', 'proto', String(NEXTHOP_RTPROT)]);
    nsExec(ns, 'ip', ['route', 'add', 'default', 'via', '10.141.0.2', 'proto', String(NEXTHOP_RTPROT)]);
    // Give the monitor time to see them: they are filtered before any re-read.
    await new Promise((res) => setTimeout(res, 200));
    expect(r.counters.refreshes).to.equal(before);
    expect(await r.refresh()).to.equal(false);
    expect(v4(r, '10.143.1.1')).to.equal(null);
    expect(changes).to.equal(0);
    // Another table is not the host's routing table for next hops: still nothing.
    nsExec(ns, 'ip', ['route', 'add', '10.144.0.0/16', 'via', '10.141.0.2', 'table', '100']);
    await r.refresh();
    expect(v4(r, '10.144.1.1')).to.equal(null);
    // A default route of another protocol resolves everything at its metric.
    nsExec(ns, 'ip', ['route', 'add', 'default', 'via', '10.141.0.2', 'metric', '500']);
    await waitFor('default route seen', () => v4(r, '10.143.1.1') !== null, 5000, 20);
    expect(v4(r, '203.0.113.9')).to.deep.equal({ igpCost: 500 });
    expect(v4(r, '10.144.1.1')).to.deep.equal({ igpCost: 500 });
    expect(changes).to.equal(1);
  });

  it('an interface going down takes its connected subnet with it; up again restores it', async () => {
    const r = await open();
    nsExec(ns, 'ip', ['link', 'set', 'up0', 'down']);
    await waitFor('link down seen', () => v4(r, '10.141.0.2') === null, 5000, 20);
    nsExec(ns, 'ip', ['link', 'set', 'up0', 'up']);
    await waitFor('link up seen', () => v4(r, '10.141.0.2') !== null, 5000, 20);
    expect(changes).to.be.at.least(2);
    r.close();
    resolver = null;
    // After close the last snapshot keeps answering; nothing follows the host any more.
    expect(v4(r, '10.141.0.2')).to.deep.equal({ igpCost: 0 });
  });
});
