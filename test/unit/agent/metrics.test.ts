// Agent metrics: names and label sets in the exposition text, state codes and transitions,
// scrape-time snapshot collection (one snapshot per scrape, counters from cumulative totals,
// peers vanishing with the snapshot), removal of a peer's series, and process metrics.
import { expect } from 'chai';
import { Metrics, PeerMetricsSnapshot } from '../../../src/agent/metrics';

/** Value of one sample in exposition text, or undefined. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const got: Record<string, string> = {};
    for (const kv of (m[3] ?? '').matchAll(/([a-zA-Z_]+)="([^"]*)"/g)) got[kv[1]] = kv[2];
    if (Object.entries(labels).every(([k, v]) => got[k] === v) && Object.keys(got).length === Object.keys(labels).length) return Number(m[4]);
  }
  return undefined;
}

describe('agent/metrics', () => {
  it('exports the session state as the BGP4-MIB code and counts transitions', async () => {
    const m = new Metrics({ processMetrics: false, node: 'node-a', version: '0.1.0' });
    m.peerState('10.0.0.2', 'mesh', 'Idle', 1_000_000);
    m.peerState('10.0.0.2', 'mesh', 'Connect', 1_001_000);
    m.peerState('10.0.0.2', 'mesh', 'OpenSent', 1_002_000);
    m.peerState('10.0.0.2', 'mesh', 'OpenSent', 1_002_500);
    m.peerState('10.0.0.2', 'mesh', 'Established', 1_003_000);
    const text = await m.render();
    expect(sample(text, 'nexthop_bgp_session_state', { peer: '10.0.0.2', type: 'mesh' })).to.equal(6);
    expect(sample(text, 'nexthop_bgp_session_transitions_total', { peer: '10.0.0.2', type: 'mesh', from: 'OpenSent', to: 'Established' })).to.equal(1);
    expect(sample(text, 'nexthop_bgp_session_transitions_total', { peer: '10.0.0.2', type: 'mesh', from: 'Idle', to: 'Connect' })).to.equal(1);
    // A repeated state is not a transition.
    expect(sample(text, 'nexthop_bgp_session_transitions_total', { peer: '10.0.0.2', type: 'mesh', from: 'OpenSent', to: 'OpenSent' })).to.equal(undefined);
    expect(sample(text, 'nexthop_bgp_session_last_transition_timestamp_seconds', { peer: '10.0.0.2', type: 'mesh' })).to.equal(1003);
    expect(sample(text, 'nexthop_build_info', { version: '0.1.0', node: 'node-a' })).to.equal(1);
    expect(text).to.include('# TYPE nexthop_bgp_session_transitions_total counter');
  });

  it('counts UPDATEs, NOTIFICATIONs and rejected routes, and sets FIB, IPAM and datastore gauges', async () => {
    const m = new Metrics({ processMetrics: false });
    m.updateIn('10.0.0.2');
    m.updateIn('10.0.0.2', 4);
    m.updateOut('10.0.0.2', 2);
    m.notification('10.0.0.2', 'received', 4, 0);
    m.routeRejected('10.0.0.2', 'outside-pool', 3);
    m.fibRoutes('ipv4', 120);
    m.observeReconcile(0.004);
    m.observeReconcile(0.2);
    m.reconcileError('EEXIST');
    m.ipamBlocks('default-ipv4-ippool', { allocated: 12, capacity: 256, node: 1 });
    m.datastoreConnected('etcd', true);
    const text = await m.render();
    expect(sample(text, 'nexthop_bgp_updates_received_total', { peer: '10.0.0.2' })).to.equal(5);
    expect(sample(text, 'nexthop_bgp_updates_sent_total', { peer: '10.0.0.2' })).to.equal(2);
    expect(sample(text, 'nexthop_bgp_notifications_total', { peer: '10.0.0.2', direction: 'received', code: '4', subcode: '0' })).to.equal(1);
    expect(sample(text, 'nexthop_bgp_routes_rejected_total', { peer: '10.0.0.2', reason: 'outside-pool' })).to.equal(3);
    expect(sample(text, 'nexthop_fib_routes', { family: 'ipv4' })).to.equal(120);
    expect(sample(text, 'nexthop_fib_reconcile_duration_seconds_count')).to.equal(2);
    expect(sample(text, 'nexthop_fib_reconcile_duration_seconds_bucket', { le: '0.005' })).to.equal(1);
    expect(sample(text, 'nexthop_fib_reconcile_duration_seconds_bucket', { le: '0.25' })).to.equal(2);
    expect(sample(text, 'nexthop_fib_reconcile_errors_total', { reason: 'EEXIST' })).to.equal(1);
    expect(sample(text, 'nexthop_ipam_blocks_allocated', { pool: 'default-ipv4-ippool' })).to.equal(12);
    expect(sample(text, 'nexthop_ipam_blocks_capacity', { pool: 'default-ipv4-ippool' })).to.equal(256);
    expect(sample(text, 'nexthop_ipam_node_blocks', { pool: 'default-ipv4-ippool' })).to.equal(1);
    expect(sample(text, 'nexthop_datastore_connected', { kind: 'etcd' })).to.equal(1);
  });

  it('times a reconcile with startReconcile()', async () => {
    const m = new Metrics({ processMetrics: false });
    const end = m.startReconcile();
    await new Promise((r) => setTimeout(r, 15));
    const secs = end();
    expect(secs).to.be.greaterThan(0.01).and.lessThan(5);
    expect(sample(await m.render(), 'nexthop_fib_reconcile_duration_seconds_count')).to.equal(1);
  });

  it('reads per-peer numbers from the snapshot once per scrape', async () => {
    let calls = 0;
    let snap: PeerMetricsSnapshot[] = [
      { peer: '10.0.0.2', type: 'mesh', state: 'Established', families: { 'ipv4-unicast': { received: 10, accepted: 9, advertised: 1 } }, updates: { in: 7, out: 3 } },
      { peer: '10.1.0.1', type: 'node-specific', state: 'Active', families: { 'ipv4-unicast': { received: 0, accepted: 0, advertised: 0 } }, updates: { in: 0, out: 0 } },
    ];
    const m = new Metrics({ processMetrics: false, peerSnapshot: () => { calls++; return snap; } });
    let text = await m.render();
    expect(calls).to.equal(1);
    expect(sample(text, 'nexthop_bgp_prefixes_received', { peer: '10.0.0.2', family: 'ipv4-unicast' })).to.equal(10);
    expect(sample(text, 'nexthop_bgp_prefixes_accepted', { peer: '10.0.0.2', family: 'ipv4-unicast' })).to.equal(9);
    expect(sample(text, 'nexthop_bgp_prefixes_advertised', { peer: '10.0.0.2', family: 'ipv4-unicast' })).to.equal(1);
    expect(sample(text, 'nexthop_bgp_session_state', { peer: '10.1.0.1', type: 'node-specific' })).to.equal(3);
    expect(sample(text, 'nexthop_bgp_updates_received_total', { peer: '10.0.0.2' })).to.equal(7);

    // Totals grow: counters follow. The ToR session comes up: one transition.
    snap = [
      { ...snap[0], updates: { in: 12, out: 3 } },
      { ...snap[1], state: 'Established' },
    ];
    text = await m.render();
    expect(calls).to.equal(2);
    expect(sample(text, 'nexthop_bgp_updates_received_total', { peer: '10.0.0.2' })).to.equal(12);
    expect(sample(text, 'nexthop_bgp_session_transitions_total', { peer: '10.1.0.1', type: 'node-specific', from: 'Active', to: 'Established' })).to.equal(1);

    // The source restarted its totals (e.g. the speaker was rebuilt): the counter still only grows.
    snap = [{ ...snap[0], updates: { in: 2, out: 3 } }, snap[1]];
    text = await m.render();
    expect(sample(text, 'nexthop_bgp_updates_received_total', { peer: '10.0.0.2' })).to.equal(14);

    // A peer gone from the snapshot disappears from every per-peer metric.
    snap = [snap[0]];
    text = await m.render();
    expect(text).to.not.include('10.1.0.1');
  });

  it('removePeer forgets all series of that peer only', async () => {
    const m = new Metrics({ processMetrics: false });
    for (const p of ['10.0.0.2', '10.0.0.3']) {
      m.peerState(p, 'mesh', 'Active');
      m.peerState(p, 'mesh', 'Established');
      m.updateIn(p);
      m.notification(p, 'sent', 6, 2);
      m.routeRejected(p, 'outside-pool');
      m.peerPrefixes(p, 'ipv4-unicast', { received: 1, accepted: 1, advertised: 1 });
    }
    m.removePeer('10.0.0.2');
    const text = await m.render();
    expect(text).to.not.include('"10.0.0.2"');
    expect(sample(text, 'nexthop_bgp_session_state', { peer: '10.0.0.3', type: 'mesh' })).to.equal(6);
    expect(sample(text, 'nexthop_bgp_notifications_total', { peer: '10.0.0.3', direction: 'sent', code: '6', subcode: '2' })).to.equal(1);
  });

  it('moves the state series when a peer changes type', async () => {
    const m = new Metrics({ processMetrics: false });
    m.peerState('10.0.0.5', 'mesh', 'Established');
    m.peerState('10.0.0.5', 'rr-server', 'Established');
    const text = await m.render();
    expect(sample(text, 'nexthop_bgp_session_state', { peer: '10.0.0.5', type: 'mesh' })).to.equal(undefined);
    expect(sample(text, 'nexthop_bgp_session_state', { peer: '10.0.0.5', type: 'rr-server' })).to.equal(6);
  });

  it('adds nexthop_-prefixed process metrics on its own registry, not the global one', async () => {
    const a = new Metrics();
    const b = new Metrics();
    const text = await a.render();
    expect(text).to.match(/^nexthop_process_cpu_user_seconds_total \d/m);
    expect(text).to.match(/^nexthop_nodejs_eventloop_lag_seconds \d/m);
    expect(await b.render()).to.include('nexthop_process_resident_memory_bytes');
    const promClient = await import('prom-client');
    expect(await promClient.register.metrics()).to.not.include('nexthop_');
    expect(a.contentType).to.match(/^text\/plain/);
  });
});
