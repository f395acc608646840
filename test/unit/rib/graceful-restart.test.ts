// Graceful restart (RFC 4724): receiving side plans (§4.2) and selection deferral (§4.1).
import { expect } from 'chai';
import { GracefulRestartReceiver, SelectionDeferral, type GracefulRestartCapability } from '../../../src/rib/graceful-restart';

function cap(families: [number, boolean][], restartTime = 120, restarting = false, notification = false): GracefulRestartCapability {
  return { code: 64, kind: 'graceful-restart', restarting, notification, restartTime, families: families.map(([afi, f]) => ({ afi, safi: 1, forwardingPreserved: f })) };
}
const BOTH = ['ipv4-unicast', 'ipv6-unicast'];

describe('rib/graceful-restart', () => {
  it('§4.2: session loss retains the capability families as stale, deletes the others, arms the restart timer', () => {
    const gr = new GracefulRestartReceiver('p', 300_000);
    gr.sessionUp(0, cap([[1, true]], 120), BOTH);
    const plan = gr.sessionDown(1000, BOTH);
    expect(plan).to.deep.equal({ purge: ['ipv6-unicast'], markStale: ['ipv4-unicast'], deadline: 121_000 });
    expect(gr.expire(120_999)).to.deep.equal([]);
    expect(gr.expire(121_000)).to.deep.equal(['ipv4-unicast']);
    expect(gr.deadline).to.equal(null);
  });

  it('§4.2: without the capability (or restart time 0) everything is deleted at once', () => {
    const gr = new GracefulRestartReceiver('p');
    gr.sessionUp(0, null, BOTH);
    expect(gr.sessionDown(0, BOTH)).to.deep.equal({ purge: BOTH, markStale: [], deadline: null });
    gr.sessionUp(0, cap([[1, true]], 0), BOTH);
    expect(gr.sessionDown(0, BOTH).markStale).to.deep.equal([]);
  });

  it('§4.2: on return, families without the F bit or missing are purged; End-of-RIB purges the rest', () => {
    const gr = new GracefulRestartReceiver('p', 300_000);
    gr.sessionUp(0, cap([[1, true], [2, true]]), BOTH);
    gr.sessionDown(10, BOTH);
    const up = gr.sessionUp(20, cap([[1, true], [2, false]]), BOTH);
    expect(up.purge).to.deep.equal(['ipv6-unicast']);
    expect(up.deadline).to.equal(300_020); // the stale-path upper bound
    expect(gr.endOfRib('ipv6-unicast')).to.deep.equal([]);
    expect(gr.endOfRib('ipv4-unicast')).to.deep.equal(['ipv4-unicast']);
    expect(gr.deadline).to.equal(null);
  });

  it('§4.2: the stale-path timer bounds a peer that never sends End-of-RIB', () => {
    const gr = new GracefulRestartReceiver('p', 60_000);
    gr.sessionUp(0, cap([[1, true]]), BOTH);
    gr.sessionDown(0, BOTH);
    gr.sessionUp(5000, cap([[1, true]]), BOTH);
    expect(gr.expire(64_999)).to.deep.equal([]);
    expect(gr.expire(65_000)).to.deep.equal(['ipv4-unicast']);
  });

  it('RFC 8538 §4: a NOTIFICATION ends graceful restart unless both sides set N and it is no Hard Reset', () => {
    const gr = new GracefulRestartReceiver('p');
    gr.sessionUp(0, cap([[1, true]], 120, false, true), BOTH);
    expect(gr.sessionDown(0, BOTH, { notification: true }).markStale).to.deep.equal([]);
    gr.sessionUp(0, cap([[1, true]], 120, false, true), BOTH);
    expect(gr.sessionDown(0, BOTH, { notification: true, localNotificationSupport: true }).markStale).to.deep.equal(['ipv4-unicast']);
    gr.sessionUp(0, cap([[1, true]], 120, false, true), BOTH);
    expect(gr.sessionDown(0, BOTH, { notification: true, localNotificationSupport: true, hardReset: true }).markStale).to.deep.equal([]);
  });

  it('§4.1: selection waits for End-of-RIB from GR peers, not for restarting or non-GR peers', () => {
    const d = new SelectionDeferral(0, BOTH, ['a', 'b', 'c', 'd'], 120_000);
    expect(d.isDeferred('ipv4-unicast', 1)).to.equal(true); // nobody up yet
    d.peerUp('a', cap([[1, true], [2, true]]), BOTH);
    d.peerUp('b', cap([[1, true]], 120, true), BOTH); // also restarting: not waited for
    d.peerUp('c', null, BOTH); // no GR: not waited for
    d.peerGone('d'); // connection refused: not coming
    expect(d.waitingOn('ipv4-unicast')).to.deep.equal(['a']);
    expect(d.isDeferred('ipv4-unicast', 2)).to.equal(true);
    d.endOfRib('a', 'ipv4-unicast');
    expect(d.isDeferred('ipv4-unicast', 3)).to.equal(false);
    expect(d.isDeferred('ipv6-unicast', 3)).to.equal(true);
    expect(d.finished(3)).to.equal(false);
    // A peer that is slow: the timer releases the family.
    expect(d.isDeferred('ipv6-unicast', 120_000)).to.equal(false);
    expect(d.finished(120_000)).to.equal(true);
  });

  it('§4.1: a peer that never comes up holds selection only until the deferral timer', () => {
    const d = new SelectionDeferral(1000, ['ipv4-unicast'], ['ghost'], 30_000);
    expect(d.isDeferred('ipv4-unicast', 30_999)).to.equal(true);
    expect(d.isDeferred('ipv4-unicast', 31_000)).to.equal(false);
    // Released families stay released.
    d.peerUp('ghost', cap([[1, true]]), ['ipv4-unicast']);
    expect(d.isDeferred('ipv4-unicast', 31_001)).to.equal(false);
  });
});
