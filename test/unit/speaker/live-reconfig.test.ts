// Live reconfiguration of the speaker without session resets, over loopback TCP with several
// Speakers in one process (127.77.1.160-199) and hand-driven BGP peers that record every UPDATE:
//  - a peer's role (mesh <-> rr-client) changes in place: RFC 4456 client status is local export
//    policy, so the peer moves to another update group and gets only the Adj-RIB-Out difference
//    (RFC 4271 §9.2), with no NOTIFICATION and no flap;
//  - setPools re-runs import over the Adj-RIBs-In (soft reconfiguration inbound, DESIGN.md pool rule);
//  - setClusterId re-sends reflected routes with the new CLUSTER_LIST (RFC 4456 §8);
//  - a password change needs a new TCP connection: the session ends with Cease / Other
//    Configuration Change without Hard Reset (RFC 8538 §4), so the peer keeps our routes as stale
//    (RFC 4724 §4.2) until the new session refreshes them; an AS change is a Hard Reset (§3);
//  - the peer event hooks report NOTIFICATIONs and import rejections.
import { expect } from 'chai';
import * as net from 'net';
import { Speaker } from '../../../src/speaker';
import type { PeerConfig, RouteChange, SpeakerConfig, SpeakerPeerEvent } from '../../../src/speaker';
import { codecContext, decodeMessage, encodeMessage, Framer } from '../../../src/wire';
import type { BgpMessage, Capability, OpenMessage, UpdateMessage } from '../../../src/wire/types';
import { endOfRibFamily } from '../../../src/wire/eor';
import { waitFor } from '../../helpers/lab';
import { speakerTestResources } from './resources';

const AS = 64512;
const addr = (n: number): string => `127.77.1.${n}`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function speaker(n: number, extra: Partial<SpeakerConfig> = {}): Speaker {
  return new Speaker({
    localAs: AS,
    routerId: `10.77.0.${n}`,
    listen: [{ address: addr(n), port: 0 }],
    nextHopIPv4: addr(n),
    pools: ['10.244.0.0/16'],
    connectRetryTime: 1,
    holdTime: 9,
    backoff: { initialMs: 100, maxMs: 500, stableMs: 60_000 },
    ...extra,
    gracefulRestart: { restartTime: 30, ...extra.gracefulRestart },
  });
}

function peer(self: number, other: number, port: number, extra: Partial<PeerConfig> = {}): PeerConfig {
  return {
    name: `node${other}`,
    address: addr(other),
    port,
    peerAs: AS,
    type: 'mesh',
    sourceAddress: addr(self),
    families: ['ipv4-unicast'],
    nodeAddresses: [addr(other)],
    ...extra,
  };
}

/** A hand-driven BGP peer on 127.77.1.n: answers the speaker's OPEN and records what it gets. */
interface RawPeer { port: number; got: BgpMessage[]; sock: () => net.Socket | undefined }

function rawPeer(n: number, servers: net.Server[], sockets: net.Socket[]): Promise<RawPeer> {
  const got: BgpMessage[] = [];
  let current: net.Socket | undefined;
  const server = net.createServer((sock) => {
    current = sock;
    sockets.push(sock);
    const framer = new Framer();
    sock.on('error', () => { /* reset by the speaker */ });
    sock.on('data', (d: Buffer) => {
      for (const f of framer.push(d)) {
        const m = decodeMessage(f, codecContext({ as4: true }));
        got.push(m);
        // Hold time 0: no KEEPALIVEs needed (RFC 4271 §4.2); graceful restart without the N bit.
        if (m.type === 'open') rawSend(sock, rawOpen(n), { type: 'keepalive' });
      }
    });
  });
  servers.push(server);
  return new Promise((resolve) => server.listen(0, addr(n), () => resolve({ port: (server.address() as net.AddressInfo).port, got, sock: () => current })));
}

function rawOpen(n: number): OpenMessage {
  const capabilities: Capability[] = [
    { code: 1, kind: 'multiprotocol', afi: 1, safi: 1 },
    { code: 65, kind: 'as4', asn: AS },
    { code: 64, kind: 'graceful-restart', restarting: false, notification: false, restartTime: 120, families: [{ afi: 1, safi: 1, forwardingPreserved: true }] },
  ];
  return { type: 'open', version: 4, myAs: AS, holdTime: 0, bgpId: `10.77.0.${n}`, capabilities };
}

function rawSend(sock: net.Socket, ...msgs: BgpMessage[]): void {
  for (const m of msgs) sock.write(encodeMessage(m, codecContext({ as4: true })));
}

/** The prefixes announced and withdrawn by the UPDATEs from index `from` on (End-of-RIB left out). */
function diff(got: BgpMessage[], from: number): { announced: string[]; withdrawn: string[]; updates: UpdateMessage[] } {
  const updates = got.slice(from).filter((m): m is UpdateMessage => m.type === 'update' && endOfRibFamily(m) === null);
  return {
    announced: updates.flatMap((u) => u.nlri.map((x) => x.prefix)).sort(),
    withdrawn: updates.flatMap((u) => u.withdrawn.map((x) => x.prefix)).sort(),
    updates,
  };
}

/** The change as plain data (the speaker hands out lazy views valid during the callback). */
const copyChange = (ch: RouteChange): RouteChange => ({
  family: ch.family, prefix: ch.prefix, withdrawn: ch.withdrawn, local: ch.local, peer: ch.peer, nextHops: ch.nextHops, best: ch.best,
});
const has = (s: Speaker, prefix: string): boolean => s.routes().some((r) => r.prefix === prefix);
const status = (s: Speaker, name: string) => s.peerStatus().find((p) => p.name === name)!;

describe('speaker: live role and policy changes without session resets', function () {
  this.timeout(30000);
  const { live, sockets, servers } = speakerTestResources();

  async function started(n: number, extra: Partial<SpeakerConfig> = {}): Promise<Speaker> {
    const s = speaker(n, extra);
    live.push(s);
    await s.start();
    return s;
  }

  /**
   * A reflector R (clusterId) with a client B, a non-client C (both Speakers) and a raw peer X.
   * B, C, R and X each announce their block.
   */
  async function reflectorSetup(base: number, xType: PeerConfig['type']) {
    const [r, b, c, x] = [base, base + 1, base + 2, base + 3];
    const R = await started(r, { clusterId: `10.77.0.${r}` });
    const B = await started(b);
    const C = await started(c);
    const X = await rawPeer(x, servers, sockets);
    R.addPeer(peer(r, b, B.port, { type: 'rr-client' }));
    B.addPeer(peer(b, r, R.port, { type: 'rr-server', nodeAddresses: undefined }));
    R.addPeer(peer(r, c, C.port, { type: 'mesh' }));
    C.addPeer(peer(c, r, R.port, { type: 'mesh', nodeAddresses: undefined, importRule: { kind: 'cluster' } }));
    R.addPeer(peer(r, x, X.port, { type: xType, nodeAddresses: xType === 'mesh' ? [addr(x)] : undefined }));
    R.originate(`10.244.${r}.0/24`);
    B.originate(`10.244.${b}.0/24`);
    C.originate(`10.244.${c}.0/24`);
    await waitFor('X Established', () => status(R, `node${x}`).state === 'Established' && X.sock());
    rawSend(X.sock()!, {
      type: 'update', withdrawn: [],
      attributes: { origin: 0, asPath: [], nextHop: addr(x), localPref: 100 },
      nlri: [{ prefix: `10.244.${x}.0/24` }],
    });
    await waitFor('R has every block', () => [r, b, c, x].every((n) => has(R, `10.244.${n}.0/24`)));
    return { R, B, C, X, r, b, c, x };
  }

  it('mesh -> rr-client on a live session: no flap, the peer gets only the difference (RFC 4456 §6)', async () => {
    const { R, C, X, r, b, c, x } = await reflectorSetup(160, 'mesh');
    // A non-client (mesh) gets our block and the client's (reflected), not the other non-client's.
    await waitFor('X has R\'s and B\'s blocks', () => diff(X.got, 0).announced.length >= 2);
    await sleep(300);
    expect(diff(X.got, 0).announced).to.deep.equal([`10.244.${r}.0/24`, `10.244.${b}.0/24`].sort());
    expect(has(C, `10.244.${x}.0/24`)).to.equal(false); // non-client to non-client: not reflected
    const before = status(R, `node${x}`);
    const mark = X.got.length;
    const events: SpeakerPeerEvent[] = [];
    R.onPeerEvent((ev) => events.push(ev));

    expect(R.updatePeer(peer(r, x, X.port, { type: 'rr-client', nodeAddresses: undefined }))).to.equal('in-place');
    await waitFor('C learns X\'s block, now reflected from a client', () => has(C, `10.244.${x}.0/24`));
    await waitFor('X gets the non-client\'s block', () => diff(X.got, mark).announced.includes(`10.244.${c}.0/24`));
    await sleep(300);
    const d = diff(X.got, mark);
    // The non-client's block is new to X. Its own block, reflected by the client group, is not
    // sent back to it (RFC 4456 §6; X would drop it by ORIGINATOR_ID, §8). Nothing withdrawn,
    // nothing it had re-sent.
    expect(d.announced).to.deep.equal([`10.244.${c}.0/24`]);
    expect(d.withdrawn).to.deep.equal([]);
    const reflected = d.updates.find((u) => u.nlri.some((n) => n.prefix === `10.244.${c}.0/24`))!;
    expect(reflected.attributes.clusterList).to.deep.equal([`10.77.0.${r}`]);
    expect(reflected.attributes.originatorId).to.equal(`10.77.0.${c}`);
    expect(X.got.slice(mark).filter((m) => m.type === 'notification' || m.type === 'open')).to.deep.equal([]);
    const after = status(R, `node${x}`);
    expect(after.type).to.equal('rr-client');
    expect(after.state).to.equal('Established');
    expect(after.since).to.equal(before.since);
    expect(after.flaps).to.equal(0);
    expect(events.filter((e) => e.kind !== 'route-rejected')).to.deep.equal([]);
  });

  it('rr-client -> mesh on a live session: reflected routes are withdrawn from that peer only', async () => {
    const { R, B, C, X, r, b, c, x } = await reflectorSetup(170, 'rr-client');
    // Not its own block back (RFC 4456 §6, §8).
    await waitFor('X has R\'s, B\'s and C\'s blocks', () => diff(X.got, 0).announced.length >= 3);
    expect(diff(X.got, 0).announced).to.not.include(`10.244.${x}.0/24`);
    await waitFor('C learns X\'s block through R', () => has(C, `10.244.${x}.0/24`));
    const before = status(R, `node${x}`);
    const mark = X.got.length;

    expect(R.updatePeer(peer(r, x, X.port, { type: 'mesh' }))).to.equal('in-place');
    await waitFor('C loses X\'s block (a non-client\'s route is not reflected to non-clients)', () => !has(C, `10.244.${x}.0/24`));
    await waitFor('X loses the non-client\'s block', () => diff(X.got, mark).withdrawn.includes(`10.244.${c}.0/24`));
    await sleep(300);
    const d = diff(X.got, mark);
    // The client group's Adj-RIB-Out held X's own block for all members, so the move withdraws it
    // from X too: a withdrawal of a route it never got from us, which it ignores.
    expect(d.withdrawn).to.deep.equal([`10.244.${c}.0/24`, `10.244.${x}.0/24`].sort());
    expect(d.announced).to.deep.equal([]);
    // B, a client, still has X's block (non-client to client is reflected).
    expect(has(B, `10.244.${x}.0/24`)).to.equal(true);
    const after = status(R, `node${x}`);
    expect(after.since).to.equal(before.since);
    expect(after.flaps).to.equal(0);
    expect(after.state).to.equal('Established');
    expect(has(R, `10.244.${x}.0/24`)).to.equal(true);
    expect(has(R, `10.244.${b}.0/24`)).to.equal(true);
  });

  it('setPools withdraws a prefix outside the new pools from the Loc-RIB, the change stream and the peers; no reset', async () => {
    const A = await started(180, { pools: ['10.244.0.0/16', '10.245.0.0/16'], clusterId: '10.77.0.180' });
    const B = await started(181, { pools: ['10.244.0.0/16', '10.245.0.0/16'] });
    const X = await rawPeer(182, servers, sockets);
    A.addPeer(peer(180, 181, B.port));
    B.addPeer(peer(181, 180, A.port));
    A.addPeer(peer(180, 182, X.port, { type: 'rr-client', nodeAddresses: undefined }));
    B.originate('10.244.181.0/24');
    B.originate('10.245.181.0/24');
    const changes: RouteChange[] = [];
    A.onLocRibChange((batch) => changes.push(...batch.changes.map(copyChange)));
    const events: SpeakerPeerEvent[] = [];
    A.onPeerEvent((ev) => events.push(ev));
    await waitFor('A learns both blocks', () => has(A, '10.244.181.0/24') && has(A, '10.245.181.0/24'));
    await waitFor('X gets both, reflected', () => diff(X.got, 0).announced.length === 2);
    const mark = X.got.length;
    const seen = changes.length;

    expect(() => A.setPools(['10.244.0.1/16'])).to.throw(/pools/);
    A.setPools(['10.244.0.0/16']);
    await waitFor('the 10.245 block leaves the Loc-RIB', () => !has(A, '10.245.181.0/24'));
    expect(has(A, '10.244.181.0/24')).to.equal(true);
    await waitFor('withdrawn toward X', () => diff(X.got, mark).withdrawn.length === 1);
    expect(diff(X.got, mark)).to.deep.include({ withdrawn: ['10.245.181.0/24'], announced: [] });
    const later = changes.slice(seen);
    expect(later.map((ch) => [ch.prefix, ch.withdrawn])).to.deep.equal([['10.245.181.0/24', true]]);
    expect(events).to.deep.include({ peer: 'node181', kind: 'route-rejected', reason: 'outside-pool', prefix: '10.245.181.0/24', family: 'ipv4-unicast' });
    expect(status(A, 'node181').rejected).to.deep.equal({ 'outside-pool': 1 });
    expect(status(A, 'node181').flaps).to.equal(0);

    // And back: the stored route is accepted again without asking the peer.
    A.setPools(['10.244.0.0/16', '10.245.0.0/16']);
    await waitFor('the 10.245 block is back', () => has(A, '10.245.181.0/24'));
    expect(status(A, 'node181').flaps).to.equal(0);
    expect(status(B, 'node180').flaps).to.equal(0);
  });

  it('setClusterId re-sends reflected routes with the new CLUSTER_LIST and nothing else (RFC 4456 §7-8)', async () => {
    const R = await started(185, { clusterId: '10.77.0.185' });
    const B = await started(186);
    const X = await rawPeer(187, servers, sockets);
    R.addPeer(peer(185, 186, B.port, { type: 'rr-client' }));
    B.addPeer(peer(186, 185, R.port, { type: 'rr-server', nodeAddresses: undefined }));
    R.addPeer(peer(185, 187, X.port, { type: 'rr-client', nodeAddresses: undefined }));
    R.originate('10.244.185.0/24');
    B.originate('10.244.186.0/24');
    await waitFor('X has both blocks', () => diff(X.got, 0).announced.length === 2);
    const first = diff(X.got, 0).updates.find((u) => u.nlri.some((n) => n.prefix === '10.244.186.0/24'))!;
    expect(first.attributes.clusterList).to.deep.equal(['10.77.0.185']);
    const mark = X.got.length;

    expect(() => R.setClusterId('not-an-id')).to.throw(/clusterId/);
    R.setClusterId('10.77.9.9');
    await waitFor('the reflected block again', () => diff(X.got, mark).announced.length >= 1);
    await sleep(300);
    const d = diff(X.got, mark);
    expect(d.announced).to.deep.equal(['10.244.186.0/24']); // our own block is unchanged: not re-sent
    expect(d.withdrawn).to.deep.equal([]);
    expect(d.updates[0].attributes.clusterList).to.deep.equal(['10.77.9.9']);
    expect(d.updates[0].attributes.originatorId).to.equal('10.77.0.186');
    // B's copy of its own block comes back with the new CLUSTER_LIST too; B drops it (§8).
    expect(status(R, 'node187').flaps).to.equal(0);
    expect(status(R, 'node186').flaps).to.equal(0);
    // Import uses the new id: a route carrying it in CLUSTER_LIST is a loop now.
    rawSend(X.sock()!, {
      type: 'update', withdrawn: [],
      attributes: { origin: 0, asPath: [], nextHop: addr(187), localPref: 100, originatorId: '10.77.0.50', clusterList: ['10.77.9.9'] },
      nlri: [{ prefix: '10.244.187.0/24' }],
    });
    await waitFor('rejected as a cluster loop', () => status(R, 'node187').rejected['cluster-loop'] === 1);
  });

  it('a password change resets with graceful restart: the peer keeps our routes as stale, then refreshed; hooks report the Cease', async () => {
    const A = await started(190);
    const B = await started(191);
    A.addPeer(peer(190, 191, B.port, { password: 'first-key' }));
    B.addPeer(peer(191, 190, A.port, { password: 'first-key' }));
    A.originate('10.244.190.0/24');
    await waitFor('B learns A\'s block over MD5', () => has(B, '10.244.190.0/24'));
    await waitFor('both Established', () => status(A, 'node191').state === 'Established' && status(B, 'node190').state === 'Established');
    const bChanges: RouteChange[] = [];
    B.onLocRibChange((batch) => bChanges.push(...batch.changes.map(copyChange)));
    const aEvents: SpeakerPeerEvent[] = [];
    const bEvents: SpeakerPeerEvent[] = [];
    A.onPeerEvent((ev) => aEvents.push(ev));
    B.onPeerEvent((ev) => bEvents.push(ev));

    expect(A.updatePeer(peer(190, 191, B.port, { password: 'second-key' }))).to.equal('graceful-reset');
    // RFC 8538 §4: Cease without Hard Reset; B keeps A's block as stale while the keys differ.
    await waitFor('B keeps A\'s block as stale', () => B.routes().find((x) => x.prefix === '10.244.190.0/24')?.best.stale === true);
    expect(aEvents).to.deep.include({ peer: 'node191', kind: 'notification-sent', code: 6, subcode: 6 });
    await waitFor('B heard the Cease', () => bEvents.some((e) => e.kind === 'notification-received'));
    expect(bEvents).to.deep.include({ peer: 'node190', kind: 'notification-received', code: 6, subcode: 6 });
    await sleep(1500); // A dials with the new key: the SYNs are dropped, nothing comes up
    expect(status(A, 'node191').state).to.not.equal('Established');
    expect(has(B, '10.244.190.0/24')).to.equal(true);

    expect(B.updatePeer(peer(191, 190, A.port, { password: 'second-key' }))).to.equal('graceful-reset');
    await waitFor('a new session with the new key', () => status(A, 'node191').state === 'Established' && status(B, 'node190').state === 'Established', 20000);
    await waitFor('A\'s block refreshed (End-of-RIB ends the stale period)', () => B.routes().find((x) => x.prefix === '10.244.190.0/24')?.best.stale === false);
    const mine = bChanges.filter((ch) => ch.prefix === '10.244.190.0/24');
    expect(mine.length).to.be.at.least(1); // marked stale, then fresh again
    expect(mine.filter((ch) => ch.withdrawn)).to.deep.equal([]);
    expect(status(A, 'node191').flaps).to.be.at.least(1);
  });

  it('an AS change is a Hard Reset: Cease/Hard Reset wrapping Other Configuration Change (RFC 8538 §3)', async () => {
    const A = await started(195);
    const B = await started(196);
    A.addPeer(peer(195, 196, B.port));
    B.addPeer(peer(196, 195, A.port));
    A.originate('10.244.195.0/24');
    await waitFor('B learns A\'s block', () => has(B, '10.244.195.0/24'));
    const aEvents: SpeakerPeerEvent[] = [];
    const bEvents: SpeakerPeerEvent[] = [];
    A.onPeerEvent((ev) => aEvents.push(ev));
    B.onPeerEvent((ev) => bEvents.push(ev));
    expect(A.updatePeer(peer(195, 196, B.port, { peerAs: 65196 }))).to.equal('hard-reset');
    await waitFor('B withdraws A\'s block at once', () => !has(B, '10.244.195.0/24'));
    await waitFor('the hooks fired', () => aEvents.length > 0 && bEvents.length > 0);
    expect(aEvents[0]).to.deep.equal({ peer: 'node196', kind: 'notification-sent', code: 6, subcode: 9, hardResetOf: { code: 6, subcode: 6 } });
    expect(bEvents[0]).to.deep.equal({ peer: 'node195', kind: 'notification-received', code: 6, subcode: 9, hardResetOf: { code: 6, subcode: 6 } });
    expect(A.updatePeer(peer(195, 196, B.port, { peerAs: 65196 }))).to.equal('none');
  });

  it('new communities on our block go out as one UPDATE; back-to-back updates end in the last; a lowered max-prefix applies at once (RFC 4486 §4)', async () => {
    const A = await started(164);
    const X = await rawPeer(165, servers, sockets);
    const xCfg = peer(164, 165, X.port);
    A.addPeer(xCfg);
    expect(() => A.originate('10.244.164.0/24', { communities: [-1] })).to.throw(/communities/);
    A.originate('10.244.164.0/24', { communities: [(64512 * 65536) + 1] });
    await waitFor('X has our block', () => diff(X.got, 0).announced.length === 1);
    rawSend(X.sock()!, {
      type: 'update', withdrawn: [],
      attributes: { origin: 0, asPath: [], nextHop: addr(165), localPref: 100 },
      nlri: [{ prefix: '10.244.165.0/24' }, { prefix: '10.244.166.0/24' }],
    });
    await waitFor('A has X\'s blocks', () => has(A, '10.244.165.0/24') && has(A, '10.244.166.0/24'));
    let mark = X.got.length;
    A.originate('10.244.164.0/24', { communities: [(64512 * 65536) + 2] });
    await waitFor('the new communities', () => diff(X.got, mark).updates.length === 1);
    await sleep(200);
    expect(diff(X.got, mark).updates.map((u) => [u.nlri.map((n) => n.prefix), u.withdrawn, u.attributes.communities]))
      .to.deep.equal([[['10.244.164.0/24'], [], [(64512 * 65536) + 2]]]);

    // Queued one after the other: each is judged against the one before it, the last one wins.
    mark = X.got.length;
    expect(A.updatePeer({ ...xCfg, type: 'rr-client', nodeAddresses: undefined })).to.equal('in-place');
    expect(A.updatePeer(xCfg)).to.equal('in-place');
    expect(A.updatePeer(xCfg)).to.equal('none');
    await sleep(300);
    expect(status(A, 'node165')).to.deep.include({ type: 'mesh', flaps: 0, state: 'Established' });
    expect(diff(X.got, mark).updates).to.deep.equal([]); // no net change, nothing sent

    const events: SpeakerPeerEvent[] = [];
    A.onPeerEvent((ev) => events.push(ev));
    expect(A.updatePeer({ ...xCfg, maxPrefix: { limit: 1, action: 'teardown' } })).to.equal('in-place');
    const cease = await waitFor('Cease / Maximum Number of Prefixes Reached', () => X.got.find((m) => m.type === 'notification'));
    expect(cease).to.deep.include({ code: 6, subcode: 1 });
    expect(events).to.deep.include({ peer: 'node165', kind: 'notification-sent', code: 6, subcode: 1 });
  });
});
