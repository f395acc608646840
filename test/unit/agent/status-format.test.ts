// Status formatting: durations and times, table fitting, and the exact text of the peer table,
// the status screen, the routes view and explain answers for realistic snapshots.
import { expect } from 'chai';
import {
  formatDuration, formatSince, formatTimestamp, renderTable, formatPeerTable, formatStatus, formatRoutes,
  formatExplain, compareAddresses, comparePrefixes, peerCondition, wrapText, formatPeerDetail, lastErrorIsCurrent,
} from '../../../src/agent/status-format';
import { NOW, PEERS, STATUS, ROUTES, EXPLAIN_REMOTE, EXPLAIN_OUTSIDE } from './status-fixtures';
import type { AgentStatus } from '../../../src/agent/status-types';

describe('agent/status-format pieces', () => {
  it('formats durations at every scale', () => {
    expect(formatDuration(0)).to.equal('0s');
    expect(formatDuration(59_999)).to.equal('59s');
    expect(formatDuration(302_000)).to.equal('5m02s');
    expect(formatDuration(2 * 3600_000 + 13 * 60_000)).to.equal('2h13m');
    expect(formatDuration(3 * 86_400_000 + 4 * 3600_000)).to.equal('3d04h');
    expect(formatDuration(-5000)).to.equal('0s');
  });

  it('shows the time of day within a day, the date beyond', () => {
    expect(formatTimestamp(NOW)).to.equal('2026-11-21 12:00:00');
    expect(formatSince(NOW - 90_000, NOW)).to.equal('1m30s (11:58:30)');
    expect(formatSince(NOW - 25 * 3600_000, NOW)).to.equal('1d01h (2026-11-20 11:00:00)');
  });

  it('orders addresses and prefixes numerically, IPv4 first', () => {
    expect(['10.0.0.10', 'fd00::1', '10.0.0.9', '9.1.1.1'].sort(compareAddresses)).to.deep.equal(['9.1.1.1', '10.0.0.9', '10.0.0.10', 'fd00::1']);
    expect(['10.244.10.0/24', 'fd00:10::/64', '10.244.0.0/16', '10.244.9.0/24'].sort(comparePrefixes))
      .to.deep.equal(['10.244.0.0/16', '10.244.9.0/24', '10.244.10.0/24', 'fd00:10::/64']);
  });

  it('fits columns to their widest cell and shrinks chosen columns to a width', () => {
    const t = renderTable(['A', 'NUMBER', 'TEXT'], [['x', '1', 'short'], ['yyyy', '200', 'a rather long piece of text']], { alignRight: [1] });
    expect(t).to.equal([
      'A     NUMBER  TEXT',
      'x          1  short',
      'yyyy     200  a rather long piece of text',
    ].join('\n'));
    const narrow = renderTable(['A', 'NUMBER', 'TEXT'], [['yyyy', '200', 'a rather long piece of text']], { maxWidth: 30 });
    expect(narrow.split('\n').every((l) => l.length <= 30)).to.equal(true);
    expect(narrow).to.equal('A     NUMBER  TEXT\nyyyy  200     a rather long p…');
  });

  it('wraps a paragraph at spaces', () => {
    expect(wrapText('aaa bbb ccc ddd', 7)).to.equal('aaa bbb\nccc ddd');
    expect(wrapText('averyveryverylongword x', 5)).to.equal('averyveryverylongword\nx');
  });

  it('condenses the session condition BIRD-style', () => {
    expect(PEERS.map(peerCondition)).to.deep.equal(['up', 'up', 'restart']);
    expect(peerCondition({ ...PEERS[2], gracefulRestart: undefined })).to.equal('start');
    expect(peerCondition({ ...PEERS[2], state: 'Idle', gracefulRestart: undefined })).to.equal('idle');
  });
});

describe('agent/status-format peer table and status', () => {
  it('renders the peer table, reflectors first, with prefixes, GR and last error', () => {
    expect(formatPeerTable(PEERS, NOW)).to.equal([
      'PEER ADDRESS        ASN  PEER TYPE        STATE    SINCE                        INFO                                                                 PREFIXES IN  OUT  LAST ERROR',
      '10.0.1.10 (rr-1)  64512  route reflector  up       2h13m (09:46:56)             Established                                                                41/41    1  -',
      '10.0.2.10 (rr-2)  64512  route reflector  restart  42s (11:59:18)               Active: Connection refused; peer restarting, routes kept 1m18s more          0/0    0  5m02s ago: Hold timer expired (sent NOTIFICATION 4/0)',
      '10.0.1.1          65001  node-specific    up       1d02h (2026-11-20 09:55:00)  Established                                                                  1/3    1  -',
    ].join('\n'));
  });

  it('fits a terminal width by cutting INFO and LAST ERROR', () => {
    const t = formatPeerTable(PEERS, NOW, { maxWidth: 140 });
    for (const l of t.split('\n')) expect(l.length).to.be.at.most(140);
    expect(t.split('\n')[2]).to.equal('10.0.2.10 (rr-2)  64512  route reflector  restart  42s (11:59:18)               Active: Connection …          0/0    0  5m02s ago: Hold tim…');
    // Narrower still: cut down to the headers' width.
    const n = formatPeerTable(PEERS, NOW, { maxWidth: 120 });
    for (const l of n.split('\n')) expect(l.length).to.be.at.most(120);
    expect(n.split('\n')[0]).to.match(/ {2}INFO {8}PREFIXES IN/);
  });

  it('LAST ERROR: hides an error older than the Established session, ages a newer one, always shows it while down', () => {
    const up = { ...PEERS[1], lastError: 'connect failed: ECONNREFUSED', lastErrorAt: PEERS[1].since - 30_000 };
    expect(lastErrorIsCurrent(up)).to.equal(false);
    const stale = formatPeerTable([up], NOW).split('\n')[1];
    expect(stale).to.match(/Established +41\/41 +1 {2}-$/);
    expect(stale).to.not.contain('ECONNREFUSED');
    // Time unknown on an Established session: taken as older than the session.
    expect(formatPeerTable([{ ...up, lastErrorAt: undefined }], NOW)).to.not.contain('ECONNREFUSED');
    // The detail view still shows it, labelled with its age and as older than the session.
    expect(formatPeerDetail(up, NOW)).to.match(/\nlast error +2h13m ago: connect failed: ECONNREFUSED \(before the session was established 2h13m ago\)\n/);
    // An error after the session came up (e.g. an UPDATE treated as withdraw) is current.
    const fresh = { ...up, lastError: 'UPDATE 10.9.0.0/16: malformed AS_PATH, treated as withdraw', lastErrorAt: NOW - 65_000 };
    expect(lastErrorIsCurrent(fresh)).to.equal(true);
    expect(formatPeerTable([fresh], NOW)).to.contain('1m05s ago: UPDATE 10.9.0.0/16: malformed AS_PATH');
    // A session that is down shows its error, however old.
    const down = { ...up, state: 'Active' as const, since: NOW - 10_000, info: 'Active: connect failed: ECONNREFUSED', lastErrorAt: NOW - 3 * 60_000 };
    expect(formatPeerTable([down], NOW)).to.contain('3m00s ago: connect failed: ECONNREFUSED');
    expect(formatPeerTable([{ ...down, lastErrorAt: undefined }], NOW).split('\n')[1]).to.match(/ {2}connect failed: ECONNREFUSED$/);
  });

  it('shows a non-standard port and the empty case', () => {
    const t = formatPeerTable([{ ...PEERS[0], address: 'fd00::1', port: 1790 }], NOW);
    expect(t.split('\n')[1]).to.match(/^\[fd00::1\]:1790 {2}65001 {2}node-specific/);
    expect(formatPeerTable([], NOW)).to.equal('No BGP peers configured.');
  });

  it('renders one peer in detail', () => {
    const p = { ...PEERS[2], families: { 'ipv4-unicast': { received: 0, accepted: 0, advertised: 0 } }, updates: { in: 12, out: 9 },
      source: ['BGPPeer/peer-with-route-reflectors'], gracefulRestart: { peerCapable: true, restarting: true, staleUntil: NOW + 78_000, staleFamilies: ['ipv4-unicast' as const] } };
    expect(formatPeerDetail(p, NOW)).to.equal([
      'session           node/rr-2/v4',
      'peer              10.0.2.10 (rr-2), AS 64512',
      'type              route reflector (from BGPPeer/peer-with-route-reflectors)',
      'state             Active since 42s (11:59:18)',
      'info              Active: Connection refused',
      'last error        5m02s ago: Hold timer expired (sent NOTIFICATION 4/0)',
      'prefixes          0 received, 0 accepted, 0 advertised',
      '  ipv4-unicast    0 received, 0 accepted, 0 advertised',
      'messages          700 in, 702 out (UPDATE 12 in, 9 out)',
      'capabilities      (none negotiated)',
      'graceful restart  peer capable, peer restarting: routes kept as stale for 1m18s more (until 2026-11-21 12:01:18) [ipv4-unicast]',
    ].join('\n'));
    expect(formatPeerDetail({ ...PEERS[0], desired: false }, NOW)).to.include('capabilities  4-octet AS, route refresh, graceful restart\nnote          no longer configured; being removed');
  });

  it('renders the status screen with readiness, datastore and per-family tables', () => {
    const v6: AgentStatus = {
      ...STATUS,
      ready: false,
      notReady: ['session node/rr-2/v4: 10.0.2.10 is Active: Connection refused'],
      datastore: { ...STATUS.datastore, connected: false, lastError: 'connect ECONNREFUSED 10.0.0.5:2379' },
      peers: [PEERS[1], { ...PEERS[1], name: 'node/rr-1/v6', address: 'fd00:1::10', prefixes: { received: 2, accepted: 2, advertised: 1 } }],
    };
    expect(formatStatus(v6)).to.equal([
      'nexthop agent 0.1.0 on node node-a is running (up 1d02h, AS 64512, router id 10.0.1.21).',
      'Not ready: session node/rr-2/v4: 10.0.2.10 is Active: Connection refused.',
      'Datastore: etcd https://10.0.0.5:2379, NOT connected (last error: connect ECONNREFUSED 10.0.0.5:2379).',
      'Blocks: 10.244.3.0/24.',
      '',
      '2 BGP peers, 2 established.',
      '',
      'IPv4 BGP status',
      'PEER ADDRESS        ASN  PEER TYPE        STATE  SINCE             INFO         PREFIXES IN  OUT  LAST ERROR',
      '10.0.1.10 (rr-1)  64512  route reflector  up     2h13m (09:46:56)  Established        41/41    1  -',
      '',
      'IPv6 BGP status',
      'PEER ADDRESS         ASN  PEER TYPE        STATE  SINCE             INFO         PREFIXES IN  OUT  LAST ERROR',
      'fd00:1::10 (rr-1)  64512  route reflector  up     2h13m (09:46:56)  Established          2/2    1  -',
    ].join('\n'));
    expect(formatStatus(STATUS).split('\n').slice(0, 2)).to.deep.equal([
      'nexthop agent 0.1.0 on node node-a is running (up 1d02h, AS 64512, router id 10.0.1.21).',
      'Ready.',
    ]);
  });
});

describe('agent/status-format routes', () => {
  it('puts RIB and FIB side by side, sorted by prefix, with a summary and notes', () => {
    expect(formatRoutes({ node: 'node-a', routes: ROUTES, now: NOW })).to.equal([
      'PREFIX         FROM PEER      NEXT HOP   AS PATH      REASON              |  KERNEL VIA  DEV    ENCAP        PROTO    FIB',
      '0.0.0.0/0      peer/10.0.1.1  10.0.1.1   65001 65000  only path           |  -           -      -            nexthop  skipped',
      '10.244.3.0/24  local          10.0.1.21  (empty)      locally originated  |  blackhole   -      -            nexthop  in sync',
      '10.244.5.0/24  node/rr-1/v4   10.0.1.22  (empty)      only path           |  10.0.1.22   eth0   direct       nexthop  MISSING',
      '10.244.7.0/24  node/rr-1/v4   10.0.2.33  (empty)      only path           |  10.0.2.33   tunl0  ipip,onlink  nexthop  in sync',
      '10.244.9.0/24  -              -          -            no longer in RIB    |  10.0.1.29   eth0   direct       nexthop  EXTRA',
      '',
      '5 prefixes: 2 in sync, 1 missing, 1 extra, 1 skipped.',
      'Notes:',
      '  0.0.0.0/0: outside every IP pool: not installed (import policy)',
    ].join('\n'));
  });

  it('shows ECMP, stale paths, VXLAN and routes not in the FIB', () => {
    const t = formatRoutes([
      {
        prefix: '10.244.8.0/24', family: 'ipv4-unicast',
        best: { peer: 'node/node-g/v4', nextHop: '10.0.3.7', asPath: '', reason: 'lowest router id', multipath: ['node/node-h/v4'], stale: true },
        fib: { nexthops: ['10.0.3.7', '10.0.3.8'], dev: 'vxlan.nexthop', onlink: true, tunnel: 'vxlan', protocol: 'nexthop', state: 'in-sync' },
      },
      { prefix: 'fd00:244:3::/64', family: 'ipv6-unicast', best: { peer: 'node/node-c/v6', nextHop: 'fd00::3', asPath: '', reason: 'only path', multipath: [] } },
    ]);
    expect(t).to.equal([
      'PREFIX           FROM PEER       NEXT HOP          AS PATH  REASON                                     |  KERNEL VIA         DEV            ENCAP              PROTO    FIB',
      '10.244.8.0/24    node/node-g/v4  10.0.3.7 +1 ecmp  (empty)  lowest router id (stale, peer restarting)  |  10.0.3.7,10.0.3.8  vxlan.nexthop  vxlan,onlink,ecmp  nexthop  in sync',
      'fd00:244:3::/64  node/node-c/v6  fd00::3           (empty)  only path                                  |  -                  -              -                  -        not in FIB',
      '',
      '2 prefixes: 1 in sync, 1 not in FIB.',
    ].join('\n'));
    expect(formatRoutes([])).to.equal('No routes.');
  });
});

describe('agent/status-format explain', () => {
  it('explains a tunnelled route to another node', () => {
    expect(formatExplain(EXPLAIN_REMOTE)).to.equal([
      '10.244.7.17 is in pool default-ipv4-ippool (10.244.0.0/16; IPIP CrossSubnet,',
      'VXLAN Never, NAT outgoing), block 10.244.7.0/24, owned by node node-f',
      '(10.0.2.33). The best path to 10.244.7.0/24 comes from node/rr-1/v4 with next',
      'hop 10.0.2.33 (empty AS path), chosen because: only path. The kernel routes',
      '10.244.7.0/24 via 10.0.2.33 dev tunl0 onlink (IPIP tunnel), protocol nexthop, as',
      'the RIB wants. Why tunnelled: 10.0.2.33 is not on a directly connected subnet',
      '(eth0 is 10.0.1.0/24) and ipipMode is CrossSubnet.',
      '',
      '  address       10.244.7.17',
      '  pool          default-ipv4-ippool 10.244.0.0/16 (IPIP CrossSubnet, VXLAN Never, NAT outgoing)',
      '  block         10.244.7.0/24',
      '  owner         node-f 10.0.2.33',
      '  best path     node/rr-1/v4 next hop 10.0.2.33',
      '  as path       (empty)',
      '  reason        only path',
      '  fib           10.244.7.0/24 via 10.0.2.33 dev tunl0 onlink (IPIP tunnel), protocol nexthop [in sync]',
      '  ip route get  via 10.0.2.33 dev tunl0 src 10.244.3.1',
      '  decision      10.0.2.33 is not on a directly connected subnet (eth0 is 10.0.1.0/24) and ipipMode is CrossSubnet',
    ].join('\n'));
  });

  it('explains a missing kernel route and lists problems', () => {
    const t = formatExplain({
      address: '10.244.5.9', pool: EXPLAIN_REMOTE.pool, block: '10.244.5.0/24',
      owner: { node: 'node-b', address: '10.0.1.22', local: false }, route: ROUTES[2],
      decision: "10.0.1.22 is on eth0's subnet 10.0.1.0/24",
      problems: ['the FIB reconciler failed to add 10.244.5.0/24: EPERM (Operation not permitted)'],
    });
    expect(t).to.include('The kernel should\nroute 10.244.5.0/24 via 10.0.1.22 dev eth0, protocol nexthop, but it is MISSING\nfrom the kernel.');
    expect(t).to.include("Why this way: 10.0.1.22 is on eth0's subnet 10.0.1.0/24.");
    expect(t.endsWith('Problems:\n  - the FIB reconciler failed to add 10.244.5.0/24: EPERM (Operation not permitted)')).to.equal(true);
  });

  it('explains the node\'s own block and an address outside every pool', () => {
    const own = formatExplain({
      address: '10.244.3.4', pool: EXPLAIN_REMOTE.pool, block: '10.244.3.0/24',
      owner: { node: 'node-a', address: '10.0.1.21', local: true }, route: ROUTES[1], problems: [],
    });
    const flat = (t: string): string => t.replace(/\s+/g, ' ');
    expect(flat(own)).to.include('block 10.244.3.0/24, which this node owns. No pod on this node has this address now, so the blackhole route for the block drops traffic to it (it is never sent back out).');
    const pod = formatExplain({
      address: '10.244.3.4', pool: EXPLAIN_REMOTE.pool, block: '10.244.3.0/24',
      owner: { node: 'node-a', address: '10.0.1.21', local: true }, route: ROUTES[1], kernel: { dev: 'cali12ab', src: '10.0.1.21' }, problems: [],
    });
    expect(flat(pod)).to.include('Traffic to it is delivered on this node: the kernel sends it to cali12ab, the pod\'s interface.');
    const self = formatExplain({
      address: '10.244.3.1', pool: EXPLAIN_REMOTE.pool, block: '10.244.3.0/24',
      owner: { node: 'node-a', address: '10.0.1.21', local: true }, route: ROUTES[1], kernel: { dev: 'lo', src: '10.244.3.1', table: '(local)' }, problems: [],
    });
    expect(flat(self)).to.include('It is an address of this node itself (on lo), so traffic to it is delivered here.');
    expect(own).to.include('  owner      this node\n');
    expect(own).to.include('  fib        10.244.3.0/24 blackhole, protocol nexthop [in sync]');
    expect(formatExplain(EXPLAIN_OUTSIDE)).to.equal([
      '192.168.7.7 is in no IP pool, so nexthop does not route it: traffic to it',
      "follows the host's other routes.",
      '',
      '  address  192.168.7.7',
    ].join('\n'));
  });

  it('explains an address outside every pool that a BGP route covers (a ToR prefix)', () => {
    const t = formatExplain({ address: '198.51.100.7', route: { ...ROUTES[2], prefix: '198.51.100.0/24' }, problems: [] });
    const flat = t.replace(/\s+/g, ' ');
    expect(flat).to.include('198.51.100.7 is in no IP pool; it is routed by the BGP route 198.51.100.0/24 below.');
    expect(flat).to.not.include('does not route it');
  });

  it('explains an address in a pool that no block covers', () => {
    const t = formatExplain({ address: '10.244.99.4', pool: EXPLAIN_REMOTE.pool, problems: ['no node announces a block containing 10.244.99.4'] });
    expect(t).to.include('in no block any node has announced. No BGP route\ncovers it, so nexthop does not route it: traffic to it follows the host\'s other\nroutes.');
    const k = formatExplain({ address: '10.244.99.4', pool: EXPLAIN_REMOTE.pool, kernel: { dev: 'eth0', via: '10.0.1.1' }, problems: [] });
    expect(k).to.include("the host's other\nroutes (the kernel: via 10.0.1.1 dev eth0).");
  });
});
