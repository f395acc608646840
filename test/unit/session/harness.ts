// Test driver for the pure FSM: a fake clock and a timer table that turns start/stop-timer actions
// back into timer events when the clock is advanced. Records every action with the time it was
// produced. No sockets.
import { PeerFsm } from '../../../src/session/fsm';
import type { FsmAction, FsmEvent, SessionConfig, TimerName } from '../../../src/session/types';
import type { BgpMessage, Capability, NotificationMessage, OpenMessage } from '../../../src/wire/types';

export interface Logged { at: number; action: FsmAction }

export function config(over: Partial<SessionConfig> = {}): SessionConfig {
  return {
    peerAddress: '192.0.2.2',
    localAs: 65001,
    localId: '10.0.0.1',
    peerAs: 65002,
    holdTime: 90,
    connectRetryTime: 5,
    jitter: () => 1,
    ...over,
  };
}

export function peerOpen(over: Partial<OpenMessage> & { as4?: number | null; extraCaps?: Capability[] } = {}): OpenMessage {
  const as4 = over.as4 === undefined ? 65002 : over.as4;
  const caps: Capability[] = [{ code: 1, kind: 'multiprotocol', afi: 1, safi: 1 }, { code: 2, kind: 'route-refresh' }];
  if (as4 !== null) caps.push({ code: 65, kind: 'as4', asn: as4 });
  caps.push(...(over.extraCaps ?? []));
  return {
    type: 'open',
    version: over.version ?? 4,
    myAs: over.myAs ?? (as4 !== null && as4 > 0xffff ? 23456 : as4 ?? 65002),
    holdTime: over.holdTime ?? 90,
    bgpId: over.bgpId ?? '10.0.0.2',
    capabilities: over.capabilities ?? caps,
  };
}

export const grCap = (notification: boolean): Capability => ({
  code: 64, kind: 'graceful-restart', restarting: false, notification, restartTime: 120,
  families: [{ afi: 1, safi: 1, forwardingPreserved: true }],
});

export class Harness {
  now = 1_000_000;
  readonly fsm: PeerFsm;
  readonly log: Logged[] = [];
  /** Armed timers: key "timer:conn" → due time. */
  readonly timers = new Map<string, number>();

  constructor(cfg: SessionConfig = config()) {
    this.fsm = new PeerFsm(cfg);
  }

  feed(ev: FsmEvent): FsmAction[] {
    const actions = this.fsm.handle(ev, this.now);
    for (const a of actions) {
      this.log.push({ at: this.now, action: a });
      if (a.type === 'start-timer') this.timers.set(`${a.timer}:${a.conn}`, this.now + a.ms);
      if (a.type === 'stop-timer') this.timers.delete(`${a.timer}:${a.conn}`);
    }
    return actions;
  }

  /** Moves the clock forward by `ms`, firing timers in due order (bounded). */
  advance(ms: number): void {
    const target = this.now + ms;
    for (let i = 0; i < 100_000; i++) {
      let nextKey: string | null = null;
      let nextDue = Infinity;
      for (const [k, due] of this.timers) if (due <= target && due < nextDue) { nextKey = k; nextDue = due; }
      if (nextKey === null) break;
      this.timers.delete(nextKey);
      this.now = nextDue;
      const [timer, conn] = nextKey.split(':');
      this.feed({ type: 'timer', timer: timer as TimerName, conn: Number(conn) });
    }
    this.now = target;
  }

  msg(conn: number, message: BgpMessage): FsmAction[] {
    return this.feed({ type: 'message', conn, message });
  }

  /** Actions of a type since index `from` of the log. */
  actions<T extends FsmAction['type']>(type: T, from = 0): Extract<FsmAction, { type: T }>[] {
    return this.log.slice(from).map((l) => l.action).filter((a): a is Extract<FsmAction, { type: T }> => a.type === type);
  }

  sent(conn?: number, from = 0): BgpMessage[] {
    return this.actions('send', from).filter((a) => conn === undefined || a.conn === conn).map((a) => a.message);
  }

  notifications(from = 0): NotificationMessage[] {
    return this.sent(undefined, from).filter((m): m is NotificationMessage => m.type === 'notification');
  }

  /** Start, dial completes, OPEN/KEEPALIVE exchange: returns the Established connection id. */
  establish(open: OpenMessage = peerOpen()): number {
    this.feed({ type: 'start' });
    const dial = this.actions('connect').at(-1)!;
    this.feed({ type: 'tcp-connected', conn: dial.conn });
    this.msg(dial.conn, open);
    this.msg(dial.conn, { type: 'keepalive' });
    return dial.conn;
  }
}
