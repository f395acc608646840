// RFC 4271 §8 FSM of one peer, driven with a fake clock: state transitions, timers, OPEN errors,
// collisions (§6.8), backoff (§8.1.1 DampPeerOscillations), passive peers, down reasons and the
// RFC 4724 / RFC 8538 graceful decision.
import { expect } from 'chai';
import { Harness, config, grCap, peerOpen } from './harness';
import { SessionConfigError } from '../../../src/session/fsm';
import type { SessionState } from '../../../src/session/types';
import type { BgpMessage } from '../../../src/wire/types';

function states(h: Harness): SessionState[] {
  return h.actions('state').map((a) => a.to);
}

describe('session/fsm: PeerFsm', () => {
  describe('state transitions', () => {
    it('walks Idle → Connect → OpenSent → OpenConfirm → Established on an outgoing connection', () => {
      const h = new Harness();
      expect(h.fsm.state).to.equal('Idle');
      h.feed({ type: 'start' });
      expect(h.fsm.state).to.equal('Connect');
      const dial = h.actions('connect')[0];
      expect(dial.timeoutMs).to.equal(5000);
      expect(h.fsm.timerArmed('connect-retry')).to.equal(true);

      h.feed({ type: 'tcp-connected', conn: dial.conn });
      expect(h.fsm.state).to.equal('OpenSent');
      expect(h.fsm.timerArmed('connect-retry')).to.equal(false);
      const open = h.sent(dial.conn)[0];
      expect(open.type).to.equal('open');
      expect(h.timers.get(`hold:${dial.conn}`)).to.equal(h.now + 240_000); // RFC 4271 §8.2.2 large value

      h.msg(dial.conn, peerOpen());
      expect(h.fsm.state).to.equal('OpenConfirm');
      expect(h.sent(dial.conn).map((m) => m.type)).to.deep.equal(['open', 'keepalive']);
      const neg = h.actions('negotiated')[0].session;
      expect(neg.holdTime).to.equal(90);
      expect(neg.keepaliveTime).to.equal(30);

      h.msg(dial.conn, { type: 'keepalive' });
      expect(h.fsm.state).to.equal('Established');
      expect(h.actions('established')).to.have.length(1);
      expect(h.fsm.session?.peerId).to.equal('10.0.0.2');
      expect(h.fsm.establishedConnection).to.equal(dial.conn);
      expect(states(h)).to.deep.equal(['Connect', 'OpenSent', 'OpenConfirm', 'Established']);
    });

    it('accepts an incoming connection in Active/Connect and proceeds on it', () => {
      const h = new Harness();
      h.feed({ type: 'start' });
      const dial = h.actions('connect')[0];
      const inc = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: inc });
      expect(h.fsm.state).to.equal('OpenSent');
      expect(h.sent(inc)[0].type).to.equal('open');
      h.msg(inc, peerOpen());
      h.msg(inc, { type: 'keepalive' });
      expect(h.fsm.state).to.equal('Established');
      // The pending dial is abandoned once a session is up.
      expect(h.actions('close').map((a) => a.conn)).to.include(dial.conn);
    });

    it('refuses incoming connections while Idle (not started)', () => {
      const h = new Harness();
      const inc = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: inc });
      expect(h.actions('close').map((a) => a.conn)).to.deep.equal([inc]);
      expect(h.fsm.state).to.equal('Idle');
    });

    it('delivers UPDATE and ROUTE-REFRESH in Established', () => {
      const h = new Harness();
      const c = h.establish();
      h.msg(c, { type: 'update', withdrawn: [], attributes: {}, nlri: [] });
      h.msg(c, { type: 'route-refresh', afi: 1, safi: 1, subtype: 0 });
      expect(h.actions('deliver').map((a) => a.message.type)).to.deep.equal(['update', 'route-refresh']);
    });

    it('ignores ROUTE-REFRESH when we did not advertise the capability (RFC 2918 §4)', () => {
      const h = new Harness(config({ routeRefresh: false }));
      const c = h.establish();
      h.msg(c, { type: 'route-refresh', afi: 1, safi: 1, subtype: 0 });
      expect(h.actions('deliver')).to.have.length(0);
      expect(h.fsm.state).to.equal('Established');
    });

    it('OpenConfirm: sends KEEPALIVEs, and without one from the peer the hold timer expires', () => {
      const h = new Harness(config({ holdTime: 9 }));
      h.feed({ type: 'start' });
      const c = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn: c });
      h.msg(c, peerOpen({ holdTime: 9 }));
      expect(h.fsm.state).to.equal('OpenConfirm');
      h.advance(8999);
      expect(h.sent(c).filter((m) => m.type === 'keepalive')).to.have.length(3); // on OPEN, at 3 s, at 6 s
      h.advance(1);
      expect(h.notifications().map((n) => [n.code, n.subcode])).to.deep.equal([[4, 0]]);
      expect(h.fsm.state).to.equal('Idle');
      expect(h.actions('down')).to.have.length(0);
    });

    it('a connection lost in OpenSent goes to Idle with the reason recorded', () => {
      const h = new Harness();
      h.feed({ type: 'start' });
      const c = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn: c });
      h.feed({ type: 'tcp-failed', conn: c, reason: 'ECONNRESET' });
      expect(h.fsm.state).to.equal('Idle');
      expect(h.fsm.status().lastError).to.equal('connection lost in OpenSent: ECONNRESET');
      expect(h.fsm.timerArmed('idle-hold')).to.equal(true);
      expect(states(h)).to.deep.equal(['Connect', 'OpenSent', 'Idle']);
    });

    it('a NOTIFICATION in OpenSent (e.g. the peer refuses our OPEN) is recorded and backs off', () => {
      const h = new Harness();
      h.feed({ type: 'start' });
      const c = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn: c });
      h.msg(c, { type: 'notification', code: 2, subcode: 2, data: new Uint8Array(0) });
      expect(h.fsm.status().lastError).to.equal('received NOTIFICATION OPEN Message Error/Bad Peer AS');
      expect(h.fsm.state).to.equal('Idle');
      expect(h.notifications()).to.have.length(0);
    });

    it('rejects a configuration it cannot run with, naming the fields', () => {
      expect(() => new Harness(config({ holdTime: 2 }))).to.throw(SessionConfigError, /holdTime 2/);
      expect(() => new Harness(config({ localId: '0.0.0.0' }))).to.throw(SessionConfigError, /localId/);
      expect(() => new Harness(config({ families: ['ipv4-multicastish'] }))).to.throw(SessionConfigError, /not an address family/);
    });
  });

  describe('timers', () => {
    it('hold timer expiry sends NOTIFICATION Hold Timer Expired and reports the session down', () => {
      const h = new Harness();
      const c = h.establish();
      const mark = h.log.length;
      h.advance(89_999);
      expect(h.fsm.state).to.equal('Established');
      h.advance(1);
      const n = h.notifications(mark);
      expect(n).to.have.length(1);
      expect([n[0].code, n[0].subcode]).to.deep.equal([4, 0]);
      expect(h.actions('close', mark).map((a) => a.conn)).to.include(c);
      const down = h.actions('down', mark);
      expect(down).to.have.length(1);
      expect(down[0].reason.kind).to.equal('hold-timer-expired');
      expect(down[0].reason.text).to.equal('hold timer expired');
      expect(down[0].reason.graceful).to.equal(false);
      expect(h.fsm.status().lastError).to.equal('hold timer expired');
      expect(h.fsm.state).to.equal('Idle');
    });

    it('received KEEPALIVEs and UPDATEs keep the hold timer from expiring', () => {
      const h = new Harness();
      const c = h.establish();
      for (let i = 0; i < 10; i++) {
        h.advance(60_000);
        h.msg(c, i % 2 ? { type: 'keepalive' } : { type: 'update', withdrawn: [], attributes: {}, nlri: [] });
      }
      expect(h.fsm.state).to.equal('Established');
      expect(h.notifications()).to.have.length(0);
      h.advance(90_000);
      expect(h.fsm.state).to.equal('Idle');
      expect(h.notifications()[0].code).to.equal(4);
    });

    it('sends KEEPALIVE every hold/3 seconds (RFC 4271 §4.4)', () => {
      const h = new Harness();
      const c = h.establish();
      const start = h.now;
      const mark = h.log.length;
      for (let i = 0; i < 6; i++) {
        h.advance(20_000);
        h.msg(c, { type: 'keepalive' }); // the peer keeps us alive
      }
      const times = h.log.slice(mark)
        .filter((l) => l.action.type === 'send' && l.action.message.type === 'keepalive')
        .map((l) => l.at - start);
      // The first keepalive timer was armed on OPEN (OpenConfirm), at `start`.
      expect(times).to.deep.equal([30_000, 60_000, 90_000, 120_000]);
    });

    it('applies RFC 4271 §10 jitter to the keepalive interval', () => {
      const h = new Harness(config({ jitter: () => 0.8 }));
      const c = h.establish();
      expect(h.timers.get(`keepalive:${c}`)! - h.now).to.equal(24_000);
    });

    it('hold time 0 negotiates no keepalives and no hold timer', () => {
      const h = new Harness();
      const c = h.establish(peerOpen({ holdTime: 0 }));
      expect(h.fsm.session?.holdTime).to.equal(0);
      expect(h.fsm.timerArmed('hold', c)).to.equal(false);
      expect(h.fsm.timerArmed('keepalive', c)).to.equal(false);
      h.advance(3_600_000);
      expect(h.fsm.state).to.equal('Established');
    });

    it('uses the smaller hold time of the two (RFC 4271 §4.2)', () => {
      const h = new Harness(config({ holdTime: 30 }));
      const c = h.establish(peerOpen({ holdTime: 240 }));
      expect(h.fsm.session?.holdTime).to.equal(30);
      expect(h.timers.get(`keepalive:${c}`)! - h.now).to.equal(10_000);
    });

    it('times out in OpenSent when no OPEN arrives', () => {
      const h = new Harness();
      h.feed({ type: 'start' });
      h.feed({ type: 'tcp-connected', conn: h.actions('connect')[0].conn });
      h.advance(240_000);
      expect(h.notifications()[0].code).to.equal(4);
      expect(h.fsm.state).to.equal('Idle');
      expect(h.actions('down')).to.have.length(0); // never Established
    });

    it('ignores a timer event for a timer that was stopped, and re-arms one that fires early', () => {
      const h = new Harness();
      const c = h.establish();
      h.feed({ type: 'timer', timer: 'connect-retry', conn: 0 }); // stopped long ago
      expect(h.fsm.state).to.equal('Established');
      const mark = h.log.length;
      h.feed({ type: 'timer', timer: 'keepalive', conn: c }); // 30 s early
      expect(h.sent(c, mark)).to.have.length(0);
      expect(h.actions('start-timer', mark)[0]).to.include({ timer: 'keepalive', ms: 30_000 });
    });
  });

  describe('OPEN errors (RFC 4271 §6.2)', () => {
    function openError(open: ReturnType<typeof peerOpen>, cfg = config()) {
      const h = new Harness(cfg);
      h.feed({ type: 'start' });
      const conn = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn });
      h.msg(conn, open);
      const n = h.notifications();
      expect(n, 'one NOTIFICATION').to.have.length(1);
      expect(h.actions('close').map((a) => a.conn)).to.include(conn);
      expect(h.fsm.state).to.equal('Idle');
      return { n: n[0], h };
    }

    it('unsupported version → Unsupported Version Number with our version in the data', () => {
      const { n, h } = openError(peerOpen({ version: 5 }));
      expect([n.code, n.subcode]).to.deep.equal([2, 1]);
      expect([...n.data]).to.deep.equal([0, 4]);
      expect(h.fsm.status().lastError).to.match(/^sent NOTIFICATION OPEN Message Error\/Unsupported Version Number \(peer speaks BGP version 5/);
    });

    it('wrong peer AS → Bad Peer AS', () => {
      const { n, h } = openError(peerOpen({ as4: 65009 }));
      expect([n.code, n.subcode]).to.deep.equal([2, 2]);
      expect(h.fsm.status().lastError).to.contain('peer AS 65009, configured 65002');
    });

    it('4-octet peer AS: AS_TRANS in My AS + capability is accepted (RFC 6793 §4.1)', () => {
      const h = new Harness(config({ peerAs: 4200000001 }));
      h.establish(peerOpen({ as4: 4200000001 }));
      expect(h.fsm.state).to.equal('Established');
      expect(h.fsm.session?.peerAs).to.equal(4200000001);
      expect(h.fsm.session?.as4).to.equal(true);
    });

    it('4-octet configured peer AS without the capability → Bad Peer AS', () => {
      const { n } = openError(peerOpen({ as4: null, myAs: 23456 }), config({ peerAs: 4200000001 }));
      expect([n.code, n.subcode]).to.deep.equal([2, 2]);
    });

    it('My AS disagreeing with the 4-octet capability → Bad Peer AS', () => {
      const { n } = openError(peerOpen({ as4: 4200000001, myAs: 65002 }), config({ peerAs: 4200000001 }));
      expect([n.code, n.subcode]).to.deep.equal([2, 2]);
    });

    it('a 2-octet peer without the 4-octet capability is accepted by its My AS', () => {
      const h = new Harness();
      h.establish(peerOpen({ as4: null, myAs: 65002 }));
      expect(h.fsm.state).to.equal('Established');
      expect(h.fsm.session?.as4).to.equal(false);
      expect(h.fsm.session?.txContext.as4).to.equal(false);
    });

    for (const hold of [1, 2]) {
      it(`hold time ${hold} → Unacceptable Hold Time`, () => {
        const { n } = openError(peerOpen({ holdTime: hold }));
        expect([n.code, n.subcode]).to.deep.equal([2, 6]);
      });
    }

    it('BGP identifier 0.0.0.0 → Bad BGP Identifier', () => {
      const { n } = openError(peerOpen({ bgpId: '0.0.0.0' }));
      expect([n.code, n.subcode]).to.deep.equal([2, 3]);
    });

    it('iBGP peer with our own identifier → Bad BGP Identifier (RFC 6286 §2.2)', () => {
      const { n } = openError(peerOpen({ as4: 65001, bgpId: '10.0.0.1' }), config({ peerAs: 65001 }));
      expect([n.code, n.subcode]).to.deep.equal([2, 3]);
    });

    it('eBGP peer with our own identifier is accepted (RFC 6286 §2.2)', () => {
      const h = new Harness();
      h.establish(peerOpen({ bgpId: '10.0.0.1' }));
      expect(h.fsm.state).to.equal('Established');
    });

    it('a required capability missing → Unsupported Capability listing it (RFC 5492 §5)', () => {
      const { n } = openError(peerOpen(), config({ requiredCapabilities: [64] }));
      expect([n.code, n.subcode]).to.deep.equal([2, 7]);
      expect([...n.data]).to.deep.equal([64, 0]);
    });
  });

  describe('errors after OPEN', () => {
    it('unexpected messages are FSM errors with the RFC 6608 subcode of the state', () => {
      const cases: [string, (h: Harness, c: number) => void, number][] = [
        ['UPDATE in OpenSent', (h, c) => h.msg(c, { type: 'update', withdrawn: [], attributes: {}, nlri: [] }), 1],
        ['KEEPALIVE in OpenSent', (h, c) => h.msg(c, { type: 'keepalive' }), 1],
        ['UPDATE in OpenConfirm', (h, c) => { h.msg(c, peerOpen()); h.msg(c, { type: 'update', withdrawn: [], attributes: {}, nlri: [] }); }, 2],
        ['OPEN in Established', (h, c) => { h.msg(c, peerOpen()); h.msg(c, { type: 'keepalive' }); h.msg(c, peerOpen()); }, 3],
      ];
      for (const [name, run, subcode] of cases) {
        const h = new Harness();
        h.feed({ type: 'start' });
        const c = h.actions('connect')[0].conn;
        h.feed({ type: 'tcp-connected', conn: c });
        run(h, c);
        const n = h.notifications();
        expect(n.map((x) => [x.code, x.subcode]), name).to.deep.equal([[5, subcode]]);
        expect(h.fsm.state, name).to.equal('Idle');
      }
    });

    it('a decode error sends the codec\'s NOTIFICATION and names the field', () => {
      const h = new Harness();
      const c = h.establish();
      h.feed({
        type: 'decode-error', conn: c,
        error: { code: 3, subcode: 11, data: Uint8Array.of(1, 2), action: 'session-reset', field: 'attribute AS_PATH', message: 'segment overruns' },
      });
      const n = h.notifications();
      expect([n[0].code, n[0].subcode, [...n[0].data]]).to.deep.equal([3, 11, [1, 2]]);
      const down = h.actions('down')[0].reason;
      expect(down.kind).to.equal('notification-sent');
      expect(down.text).to.equal('sent NOTIFICATION UPDATE Message Error/Malformed AS_PATH (attribute AS_PATH: segment overruns)');
    });

    it('a received NOTIFICATION with a shutdown communication is the down reason', () => {
      const h = new Harness();
      const c = h.establish();
      h.msg(c, { type: 'notification', code: 6, subcode: 2, data: new Uint8Array(0), shutdownCommunication: 'maintenance' });
      const down = h.actions('down')[0].reason;
      expect(down.text).to.equal("received NOTIFICATION Cease/Administrative Shutdown: 'maintenance'");
      expect(h.fsm.status().lastError).to.equal(down.text);
      expect(h.notifications()).to.have.length(0); // never answer a NOTIFICATION with one
      expect(h.fsm.state).to.equal('Idle');
    });

    it('a lost TCP connection in Established is reported as such', () => {
      const h = new Harness();
      const c = h.establish();
      h.feed({ type: 'tcp-failed', conn: c, reason: 'ECONNRESET' });
      const down = h.actions('down')[0].reason;
      expect(down).to.deep.include({ kind: 'tcp-failure', text: 'connection lost: ECONNRESET', graceful: false });
      expect(h.fsm.status().flaps).to.equal(1);
    });
  });

  describe('stop (ManualStop)', () => {
    it('sends Cease/Administrative Shutdown with the RFC 9003 communication and goes Idle for good', () => {
      const h = new Harness();
      const c = h.establish();
      h.feed({ type: 'stop', communication: 'maintenance' });
      const n = h.notifications()[0];
      expect([n.code, n.subcode, n.shutdownCommunication]).to.deep.equal([6, 2, 'maintenance']);
      expect([...n.data]).to.deep.equal([11, ...Buffer.from('maintenance')]);
      expect(h.actions('down')[0].reason.kind).to.equal('stopped');
      expect(h.fsm.state).to.equal('Idle');
      expect(h.timers.size).to.equal(0);
      h.advance(3_600_000);
      expect(h.actions('connect')).to.have.length(1);
      expect(h.actions('close').map((a) => a.conn)).to.include(c);
    });

    it('wraps the Cease in a Hard Reset when asked and the N bit was negotiated (RFC 8538 §3)', () => {
      const h = new Harness(config({ gracefulRestart: { restartTime: 120, restarting: false, notification: true, forwardingPreserved: [] } }));
      h.establish(peerOpen({ extraCaps: [grCap(true)] }));
      h.feed({ type: 'stop', hardReset: true, communication: 'bye' });
      const n = h.notifications()[0];
      expect([n.code, n.subcode]).to.deep.equal([6, 9]);
      expect([...n.data.subarray(0, 3)]).to.deep.equal([6, 2, 3]);
      const down = h.actions('down')[0].reason;
      expect(down.graceful).to.equal(false);
      expect(down.text).to.equal("stopped: sent NOTIFICATION Cease/Hard Reset: 'bye'");
    });

    it('sends the data it is given: Cease/Maximum Number of Prefixes Reached with AFI, SAFI, upper bound (RFC 4486 §4)', () => {
      const h = new Harness();
      h.establish();
      h.feed({ type: 'stop', subcode: 1, data: Uint8Array.of(0, 1, 1, 0, 0, 0, 100) });
      const n = h.notifications()[0];
      expect([n.code, n.subcode, [...n.data]]).to.deep.equal([6, 1, [0, 1, 1, 0, 0, 0, 100]]);
    });

    it('closes a pending dial without a NOTIFICATION', () => {
      const h = new Harness();
      h.feed({ type: 'start' });
      const dial = h.actions('connect')[0].conn;
      h.feed({ type: 'stop' });
      expect(h.notifications()).to.have.length(0);
      expect(h.actions('close').map((a) => a.conn)).to.deep.equal([dial]);
      // A late completion of that dial is closed again.
      h.feed({ type: 'tcp-connected', conn: dial });
      expect(h.actions('close')).to.have.length(2);
      expect(h.fsm.state).to.equal('Idle');
    });
  });

  describe('graceful restart capability updates (RFC 4724 §3)', () => {
    it('OPENs sent after updateGracefulRestart carry the new R bit; the session in negotiation keeps the OPEN it sent', () => {
      const gr = { restartTime: 120, restarting: true, notification: true, forwardingPreserved: ['ipv4-unicast'] };
      const h = new Harness(config({ gracefulRestart: gr }));
      const grOf = (m: BgpMessage) => (m.type === 'open' ? m.capabilities.find((c) => c.kind === 'graceful-restart') : undefined) as { restarting: boolean; families: unknown[] } | undefined;
      h.feed({ type: 'start' });
      const d1 = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn: d1 });
      expect(grOf(h.sent(d1)[0])!.restarting).to.equal(true);
      h.fsm.updateGracefulRestart({ ...gr, restarting: false });
      expect(h.fsm.config.gracefulRestart!.restarting).to.equal(false);
      h.msg(d1, peerOpen({ extraCaps: [grCap(true)] }));
      h.msg(d1, { type: 'keepalive' });
      // Negotiated against the OPEN actually sent on that connection.
      expect(h.actions('established')[0].session.localOpen.capabilities.some((c) => c.kind === 'graceful-restart' && c.restarting)).to.equal(true);
      const mark = h.log.length;
      h.feed({ type: 'tcp-failed', conn: d1, reason: 'reset' });
      for (let i = 0; i < 600 && h.actions('connect', mark).length === 0; i++) h.advance(1000);
      const d2 = h.actions('connect', mark)[0].conn;
      h.feed({ type: 'tcp-connected', conn: d2 });
      const open2 = grOf(h.sent(d2)[0])!;
      expect(open2.restarting).to.equal(false);
      expect(open2.families).to.deep.equal([{ afi: 1, safi: 1, forwardingPreserved: true }]);
      expect(() => h.fsm.updateGracefulRestart({ ...gr, restartTime: 5000 })).to.throw(/restartTime/);
    });
  });

  describe('DelayOpen (RFC 4271 §8.1.1)', () => {
    it('holds our OPEN back; the peer\'s OPEN makes us send OPEN + KEEPALIVE and go to OpenConfirm', () => {
      const h = new Harness(config({ delayOpenTime: 5 }));
      h.feed({ type: 'start' });
      const c = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn: c });
      expect(h.fsm.state).to.equal('Connect');
      expect(h.sent(c)).to.have.length(0);
      expect(h.fsm.timerArmed('delay-open', c)).to.equal(true);
      h.advance(2000);
      h.msg(c, peerOpen());
      expect(h.sent(c).map((m) => m.type)).to.deep.equal(['open', 'keepalive']);
      expect(h.fsm.state).to.equal('OpenConfirm');
      expect(h.fsm.timerArmed('delay-open', c)).to.equal(false);
      h.msg(c, { type: 'keepalive' });
      expect(h.fsm.state).to.equal('Established');
    });

    it('sends our OPEN when the DelayOpenTimer expires (incoming connection: Active → OpenSent)', () => {
      const h = new Harness(config({ delayOpenTime: 5, passive: true }));
      h.feed({ type: 'start' });
      const c = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: c });
      expect(h.fsm.state).to.equal('Active');
      h.advance(4999);
      expect(h.sent(c)).to.have.length(0);
      h.advance(1);
      expect(h.sent(c).map((m) => m.type)).to.deep.equal(['open']);
      expect(h.fsm.state).to.equal('OpenSent');
    });

    it('drops the connection without a NOTIFICATION on any other message before the OPEN', () => {
      const h = new Harness(config({ delayOpenTime: 5 }));
      h.feed({ type: 'start' });
      const c = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn: c });
      h.msg(c, { type: 'keepalive' });
      expect(h.notifications()).to.have.length(0);
      expect(h.actions('close').map((a) => a.conn)).to.deep.equal([c]);
      expect(h.fsm.status().lastError).to.equal('unexpected KEEPALIVE before the OPEN (DelayOpen)');
      expect(h.fsm.state).to.equal('Idle');
    });
  });

  describe('passive peers', () => {
    it('never dials, waits in Active, and establishes on an incoming connection', () => {
      const h = new Harness(config({ passive: true }));
      h.feed({ type: 'start' });
      expect(h.fsm.state).to.equal('Active');
      h.advance(3_600_000);
      expect(h.actions('connect')).to.have.length(0);
      const inc = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: inc });
      h.msg(inc, peerOpen());
      h.msg(inc, { type: 'keepalive' });
      expect(h.fsm.state).to.equal('Established');
      // After a failure it still never dials.
      h.feed({ type: 'tcp-failed', conn: inc, reason: 'EOF' });
      h.advance(3_600_000);
      expect(h.actions('connect')).to.have.length(0);
      expect(h.fsm.state).to.equal('Active');
    });
  });

  describe('backoff', () => {
    it('a refused dial is retried after ConnectRetryTime, then doubling, waiting in Active', () => {
      const h = new Harness(config({ backoff: { maxMs: 20_000 } }));
      h.feed({ type: 'start' });
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) {
        const dial = h.actions('connect').at(-1)!;
        h.feed({ type: 'tcp-failed', conn: dial.conn, reason: 'ECONNREFUSED' });
        expect(h.fsm.state).to.equal('Active');
        expect(h.fsm.status().lastError).to.equal('connect failed: ECONNREFUSED');
        const wait = h.timers.get('connect-retry:0')! - h.now;
        waits.push(wait);
        const before = h.actions('connect').length;
        h.advance(wait - 1);
        expect(h.actions('connect').length).to.equal(before);
        h.advance(1);
        expect(h.actions('connect').length).to.equal(before + 1);
        expect(h.fsm.state).to.equal('Connect');
      }
      expect(waits).to.deep.equal([5000, 10000, 20000, 20000, 20000]);
      // A successful connection resets the count.
      h.feed({ type: 'tcp-connected', conn: h.actions('connect').at(-1)!.conn });
      expect(h.fsm.status().failures.dial).to.equal(0);
    });

    it('a dial that never completes (wrong MD5 key, dropped SYN) times out and backs off', () => {
      const h = new Harness();
      h.feed({ type: 'start' });
      const first = h.actions('connect')[0].conn;
      h.advance(5000);
      expect(h.actions('close').map((a) => a.conn)).to.deep.equal([first]);
      expect(h.fsm.status().lastError).to.equal('connect timed out after 5000 ms');
      expect(h.fsm.state).to.equal('Active');
      h.advance(5000);
      expect(h.actions('connect')).to.have.length(2);
      h.advance(5000); // second timeout
      h.advance(9999);
      expect(h.actions('connect')).to.have.length(2);
      h.advance(1);
      expect(h.actions('connect')).to.have.length(3);
    });

    it('session failures grow the IdleHoldTimer exponentially up to the cap, refusing connections meanwhile', () => {
      const h = new Harness(config({ backoff: { initialMs: 1000, maxMs: 8000, stableMs: 60_000 } }));
      h.feed({ type: 'start' });
      const idleHolds: number[] = [];
      for (let i = 0; i < 6; i++) {
        const dial = h.actions('connect').at(-1)!;
        h.feed({ type: 'tcp-connected', conn: dial.conn });
        h.msg(dial.conn, peerOpen({ as4: 65099 })); // Bad Peer AS every time
        expect(h.fsm.state).to.equal('Idle');
        const t = h.actions('start-timer').filter((a) => a.timer === 'idle-hold').at(-1)!;
        idleHolds.push(t.ms);
        // An incoming connection during the idle hold is refused.
        const inc = h.fsm.newConnectionId();
        h.feed({ type: 'tcp-incoming', conn: inc });
        expect(h.actions('close').at(-1)!.conn).to.equal(inc);
        h.advance(t.ms - 1);
        expect(h.fsm.state).to.equal('Idle');
        h.advance(1);
        expect(h.fsm.state).to.equal('Connect');
      }
      expect(idleHolds).to.deep.equal([1000, 2000, 4000, 8000, 8000, 8000]);
    });

    it('after a lost connection, the peer may reconnect during the idle hold (we do not dial)', () => {
      const h = new Harness(config({ backoff: { initialMs: 5000, maxMs: 60_000, stableMs: 60_000 } }));
      const c = h.establish();
      h.feed({ type: 'tcp-failed', conn: c, reason: 'closed by peer' });
      expect(h.fsm.state).to.equal('Idle');
      expect(h.fsm.timerArmed('idle-hold')).to.equal(true);
      h.advance(1000);
      const inc = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: inc });
      expect(h.fsm.state).to.equal('OpenSent');
      expect(h.fsm.timerArmed('idle-hold')).to.equal(false);
      h.msg(inc, peerOpen());
      h.msg(inc, { type: 'keepalive' });
      expect(h.fsm.state).to.equal('Established');
      expect(h.actions('connect')).to.have.length(1); // only the first dial
      // It failed again before being stable: the next idle hold is longer.
      h.feed({ type: 'tcp-failed', conn: inc, reason: 'closed by peer' });
      expect(h.timers.get('idle-hold:0')! - h.now).to.equal(10_000);
    });

    it('resets the backoff after a session stayed Established for the stable period', () => {
      const h = new Harness(config({ backoff: { initialMs: 1000, maxMs: 64_000, stableMs: 60_000 } }));
      const flap = (upFor: number) => {
        const dial = h.actions('connect').at(-1)!;
        h.feed({ type: 'tcp-connected', conn: dial.conn });
        h.msg(dial.conn, peerOpen({ holdTime: 0 }));
        h.msg(dial.conn, { type: 'keepalive' });
        h.advance(upFor);
        h.msg(dial.conn, { type: 'notification', code: 6, subcode: 4, data: new Uint8Array(0) });
        const ms = h.actions('start-timer').filter((a) => a.timer === 'idle-hold').at(-1)!.ms;
        h.advance(ms);
        return ms;
      };
      h.feed({ type: 'start' });
      expect([flap(1000), flap(1000), flap(1000)]).to.deep.equal([1000, 2000, 4000]);
      expect(flap(60_000)).to.equal(1000); // stable → reset
      expect(flap(1000)).to.equal(2000);
    });
  });

  describe('connection collisions (RFC 4271 §6.8)', () => {
    function collide(localId: string, peerId: string, order: 'out-first' | 'in-first', localAs = 65001, peerAs = 65002) {
      const h = new Harness(config({ localId, localAs, peerAs }));
      h.feed({ type: 'start' });
      const out = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn: out });
      const inc = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: inc });
      const open = peerOpen({ bgpId: peerId, as4: peerAs });
      const [first, second] = order === 'out-first' ? [out, inc] : [inc, out];
      h.msg(first, open);
      expect(h.fsm.state).to.equal('OpenConfirm');
      h.msg(second, open);
      return { h, out, inc };
    }

    for (const order of ['out-first', 'in-first'] as const) {
      it(`local identifier higher: our outgoing connection survives (${order})`, () => {
        const { h, out, inc } = collide('10.0.0.9', '10.0.0.2', order);
        const n = h.sent(inc).filter((m) => m.type === 'notification');
        expect(n.map((m) => m.type === 'notification' && [m.code, m.subcode])).to.deep.equal([[6, 7]]);
        expect(h.actions('close').map((a) => a.conn)).to.deep.equal([inc]);
        h.msg(out, { type: 'keepalive' });
        expect(h.fsm.state).to.equal('Established');
        expect(h.fsm.establishedConnection).to.equal(out);
      });

      it(`local identifier lower: the peer's connection survives (${order})`, () => {
        const { h, out, inc } = collide('10.0.0.1', '10.0.0.2', order);
        const n = h.sent(out).filter((m) => m.type === 'notification');
        expect(n.map((m) => m.type === 'notification' && [m.code, m.subcode])).to.deep.equal([[6, 7]]);
        expect(h.actions('close').map((a) => a.conn)).to.deep.equal([out]);
        h.msg(inc, { type: 'keepalive' });
        expect(h.fsm.establishedConnection).to.equal(inc);
      });
    }

    it('equal identifiers (eBGP): the larger AS keeps its connection (RFC 6286 §2.3)', () => {
      const a = collide('10.0.0.5', '10.0.0.5', 'out-first', 65001, 65002);
      expect(a.h.actions('close').map((x) => x.conn)).to.deep.equal([a.out]);
      const b = collide('10.0.0.5', '10.0.0.5', 'out-first', 65003, 65002);
      expect(b.h.actions('close').map((x) => x.conn)).to.deep.equal([b.inc]);
    });

    it('a peer closing our connection with Cease/Collision is not a failure', () => {
      const h = new Harness();
      h.feed({ type: 'start' });
      const out = h.actions('connect')[0].conn;
      h.feed({ type: 'tcp-connected', conn: out });
      const inc = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: inc });
      h.msg(out, { type: 'notification', code: 6, subcode: 7, data: new Uint8Array(0) });
      expect(h.fsm.state).to.equal('OpenSent');
      expect(h.fsm.status().lastError).to.equal(null);
      h.msg(inc, peerOpen());
      h.msg(inc, { type: 'keepalive' });
      expect(h.fsm.state).to.equal('Established');
    });

    it('an Established session wins over a new incoming connection', () => {
      const h = new Harness();
      const est = h.establish();
      const inc = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: inc });
      expect(h.sent(inc)[0].type).to.equal('open');
      h.msg(inc, peerOpen());
      const n = h.sent(inc).filter((m) => m.type === 'notification');
      expect(n.map((m) => m.type === 'notification' && [m.code, m.subcode])).to.deep.equal([[6, 7]]);
      expect(h.fsm.establishedConnection).to.equal(est);
      expect(h.actions('down')).to.have.length(0);
    });

    it('a new OPEN from a Graceful Restart peer while Established ends the old session gracefully (RFC 4724 §4.2)', () => {
      const h = new Harness(config({ gracefulRestart: { restartTime: 120, restarting: false, notification: false, forwardingPreserved: [] } }));
      const old = h.establish(peerOpen({ extraCaps: [grCap(false)] }));
      const inc = h.fsm.newConnectionId();
      h.feed({ type: 'tcp-incoming', conn: inc });
      h.msg(inc, peerOpen({ extraCaps: [grCap(false)] }));
      const down = h.actions('down');
      expect(down).to.have.length(1);
      expect(down[0].conn).to.equal(old);
      expect(down[0].reason).to.deep.include({ kind: 'peer-restarted', graceful: true });
      expect(h.fsm.state).to.equal('OpenConfirm');
      h.msg(inc, { type: 'keepalive' });
      expect(h.fsm.establishedConnection).to.equal(inc);
    });
  });

  describe('graceful decision (RFC 4724 §4.2, RFC 8538 §4)', () => {
    const gr = (notification: boolean) => config({ gracefulRestart: { restartTime: 120, restarting: false, notification, forwardingPreserved: ['ipv4-unicast'] } });
    const cases: [string, boolean, boolean, (h: Harness, c: number) => void, boolean][] = [
      ['TCP failure, GR', true, false, (h, c) => h.feed({ type: 'tcp-failed', conn: c, reason: 'EOF' }), true],
      ['TCP failure, no GR', false, false, (h, c) => h.feed({ type: 'tcp-failed', conn: c, reason: 'EOF' }), false],
      ['NOTIFICATION received, GR without N', true, false, (h, c) => h.msg(c, { type: 'notification', code: 6, subcode: 4, data: new Uint8Array(0) }), false],
      ['NOTIFICATION received, GR with N', true, true, (h, c) => h.msg(c, { type: 'notification', code: 6, subcode: 4, data: new Uint8Array(0) }), true],
      ['Hard Reset received, GR with N', true, true, (h, c) => h.msg(c, { type: 'notification', code: 6, subcode: 9, data: Uint8Array.of(6, 4) }), false],
      ['hold timer expired, GR with N', true, true, (h) => h.advance(90_000), true],
      ['hold timer expired, GR without N', true, false, (h) => h.advance(90_000), false],
      ['stop, GR with N, no hard reset', true, true, (h) => h.feed({ type: 'stop' }), true],
    ];
    for (const [name, withGr, n, end, graceful] of cases) {
      it(`${name} → ${graceful ? 'keep routes stale' : 'withdraw'}`, () => {
        const h = new Harness(withGr ? gr(n) : config());
        const c = h.establish(peerOpen({ extraCaps: withGr ? [grCap(n)] : [] }));
        end(h, c);
        const down = h.actions('down');
        expect(down).to.have.length(1);
        expect(down[0].reason.graceful).to.equal(graceful);
      });
    }

    it('describes a received Hard Reset with the reason inside', () => {
      const h = new Harness(gr(true));
      const c = h.establish(peerOpen({ extraCaps: [grCap(true)] }));
      h.msg(c, { type: 'notification', code: 6, subcode: 9, data: Uint8Array.of(6, 2, 3, 0x61, 0x62, 0x63) });
      expect(h.fsm.status().lastError).to.equal("received NOTIFICATION Cease/Hard Reset (Cease/Administrative Shutdown: 'abc')");
    });
  });
});
