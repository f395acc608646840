// Property tests for the FSM: any sequence of events (including ones that make no sense for the
// state, for unknown connections, or stale timers) is handled without throwing, and the
// machine's invariants hold after each step (RFC 4271 §8: one session per peer; §6.8: at most one
// connection past OpenSent; every 'down' follows an 'established'; Idle after a stop leaves no
// timer running).
import { expect } from 'chai';
import fc from 'fast-check';
import { Harness, config, peerOpen } from './harness';
import type { FsmEvent } from '../../../src/session/types';
import type { BgpMessage } from '../../../src/wire/types';

const messages: BgpMessage[] = [
  peerOpen(),
  peerOpen({ bgpId: '10.0.0.200' }),
  peerOpen({ as4: 65009 }),
  peerOpen({ holdTime: 0 }),
  { type: 'keepalive' },
  { type: 'update', withdrawn: [], attributes: {}, nlri: [{ prefix: '10.1.0.0/24' }] },
  { type: 'route-refresh', afi: 1, safi: 1, subtype: 0 },
  { type: 'notification', code: 6, subcode: 7, data: new Uint8Array(0) },
  { type: 'notification', code: 6, subcode: 2, data: new Uint8Array(0) },
];

type Step =
  | { kind: 'event'; make: (h: Harness, conns: number[]) => FsmEvent | null }
  /** The happy path on one connection: TCP up, OPEN, KEEPALIVE (so runs reach Established often). */
  | { kind: 'handshake'; conn: number }
  | { kind: 'advance'; ms: number };

const conn = fc.nat(7);
const step: fc.Arbitrary<Step> = fc.oneof(
  fc.constant<Step>({ kind: 'event', make: () => ({ type: 'start' }) }),
  fc.constant<Step>({ kind: 'event', make: () => ({ type: 'stop' }) }),
  conn.map<Step>((i) => ({ kind: 'event', make: (_h, cs) => (cs.length ? { type: 'tcp-connected', conn: cs[i % cs.length] } : null) })),
  fc.constant<Step>({ kind: 'event', make: (h, cs) => { const id = h.fsm.newConnectionId(); cs.push(id); return { type: 'tcp-incoming', conn: id }; } }),
  conn.map<Step>((i) => ({ kind: 'event', make: (_h, cs) => (cs.length ? { type: 'tcp-failed', conn: cs[i % cs.length], reason: 'ECONNRESET' } : null) })),
  fc.tuple(conn, fc.nat(messages.length - 1)).map<Step>(([i, m]) => ({
    kind: 'event', make: (_h, cs) => (cs.length ? { type: 'message', conn: cs[i % cs.length], message: messages[m] } : null),
  })),
  conn.map<Step>((i) => ({
    kind: 'event',
    make: (_h, cs) => (cs.length ? { type: 'decode-error', conn: cs[i % cs.length], error: { code: 1, subcode: 1, data: new Uint8Array(0), action: 'session-reset', field: 'header', message: 'x' } } : null),
  })),
  fc.tuple(fc.constantFrom('hold', 'keepalive', 'connect-retry', 'idle-hold', 'delay-open' as const), conn).map<Step>(([timer, i]) => ({
    kind: 'event', make: (_h, cs) => ({ type: 'timer', timer, conn: timer === 'connect-retry' || timer === 'idle-hold' ? 0 : cs[i % Math.max(1, cs.length)] ?? 1 }),
  })),
  fc.integer({ min: 1, max: 300_000 }).map<Step>((ms) => ({ kind: 'advance', ms })),
  conn.map<Step>((i) => ({ kind: 'handshake', conn: i })),
);

describe('session/fsm properties', () => {
  for (const delayOpenTime of [0, 3]) {
    it(`never throws and keeps its invariants under arbitrary event sequences (delayOpen ${delayOpenTime})`, () => {
      let reachedEstablished = 0;
      let wentDown = 0;
      fc.assert(
        fc.property(fc.array(step, { maxLength: 60 }), fc.boolean(), (steps, passive) => {
          const h = new Harness(config({ passive, delayOpenTime, backoff: { initialMs: 1000, maxMs: 8000, stableMs: 20_000 } }));
          const conns: number[] = [];
          for (const s of steps) {
            if (s.kind === 'advance') h.advance(s.ms);
            else if (s.kind === 'handshake') {
              h.feed({ type: 'start' });
              const dials = h.actions('connect').map((x) => x.conn);
              const c = s.conn % 2 === 0 && dials.length > 0 ? dials[dials.length - 1] : conns[s.conn % Math.max(1, conns.length)];
              if (c !== undefined) {
                if (dials.includes(c)) h.feed({ type: 'tcp-connected', conn: c });
                h.msg(c, peerOpen());
                h.msg(c, { type: 'keepalive' });
              }
            } else {
              const ev = s.make(h, conns);
              if (ev) h.feed(ev);
            }
            for (const a of h.actions('connect')) if (!conns.includes(a.conn)) conns.push(a.conn);
            const st = h.fsm.status();
            // One Established session at most, and its session is known.
            expect(h.fsm.state === 'Established').to.equal(st.session !== null);
            // Every down follows an established on the same connection.
            const ups = h.actions('established').map((a) => a.conn);
            for (const d of h.actions('down')) expect(ups).to.include(d.conn);
            expect(h.actions('down').length).to.be.at.most(ups.length);
            if (passive) expect(h.actions('connect')).to.have.length(0);
          }
          if (h.actions('established').length > 0) reachedEstablished++;
          if (h.actions('down').length > 0) wentDown++;
          // A stop ends everything: Idle, no timers left, nothing more happens.
          h.feed({ type: 'stop' });
          expect(h.fsm.state).to.equal('Idle');
          expect([...h.timers.keys()]).to.deep.equal([]);
          const n = h.log.length;
          h.advance(3_600_000);
          expect(h.log.length).to.equal(n);
        }),
        { numRuns: 300 },
      );
      // The sequences must exercise the interesting part, not just Idle/Connect.
      expect(reachedEstablished, 'runs that reached Established').to.be.greaterThan(10);
      expect(wentDown, 'runs where an Established session ended').to.be.greaterThan(3);
    });
  }
});
