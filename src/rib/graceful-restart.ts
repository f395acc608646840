// Graceful restart, the pure parts (RFC 4724). Receiving side (§4.2): what to do with a peer's
// routes when its session drops, when it comes back, on End-of-RIB and when timers expire — the
// tracker returns plans and deadlines; the speaker owns the timers and applies the plans to the
// peer's Adj-RIB-In. Restarting side (§4.1): selection deferral — after WE restart, hold best-path
// selection until every peer we can expect has sent End-of-RIB, or the deferral timer expires.
import type { Capability, Family } from '../wire/types';
import { familyName } from './family';

/** The graceful restart capability a peer sent in its OPEN (RFC 4724 §3). */
export type GracefulRestartCapability = Extract<Capability, { kind: 'graceful-restart' }>;

/** What to do with a peer's routes now, and when to look again. */
export interface RestartPlan {
  /** Delete these families' routes now (Adj-RIB-In clear or purgeStale). */
  purge: Family[];
  /** Mark these families' routes stale (AdjRibIn.markStale: earlier stale ones are deleted). */
  markStale: Family[];
  /** When to call expire() next (ms on the speaker's clock), or null for no timer. */
  deadline: number | null;
}

/** Families in a capability with their Forwarding State bit. */
function capFamilies(cap: GracefulRestartCapability | null): Map<Family, boolean> {
  const m = new Map<Family, boolean>();
  if (cap) for (const f of cap.families) m.set(familyName(f.afi, f.safi), f.forwardingPreserved);
  return m;
}

/**
 * RFC 4724 §4.2, receiving speaker, for one peer. States per family: fresh, or stale awaiting
 * the restart (restart-time deadline) and then End-of-RIB (stale-path deadline).
 */
export class GracefulRestartReceiver {
  /** The capability the peer sent in the session now up (or last up). */
  private cap: GracefulRestartCapability | null = null;
  /** Families holding stale routes. */
  private readonly staleFamilies = new Set<Family>();
  private restartDeadline: number | null = null;
  private staleDeadline: number | null = null;

  /**
   * @param stalePathTimeMs upper bound on keeping stale routes after the session is back
   *   (RFC 4724 §4.2 "an implementation MAY support a (configurable) timer"), e.g. 360 s.
   */
  constructor(readonly peerId: string, private readonly stalePathTimeMs = 360_000) {}

  /** The session is established; `cap` is the peer's graceful restart capability, if any. */
  sessionUp(now: number, cap: GracefulRestartCapability | null, families: readonly Family[]): RestartPlan {
    this.cap = cap;
    this.restartDeadline = null;
    const purge: Family[] = [];
    if (this.staleFamilies.size > 0) {
      // RFC 4724 §4.2: if the capability is not received again, or a family is not in it, or its
      // Forwarding State bit is clear, the stale routes of that family are removed at once.
      const fams = capFamilies(cap);
      for (const f of [...this.staleFamilies]) {
        if (fams.get(f) !== true || !families.includes(f)) {
          purge.push(f);
          this.staleFamilies.delete(f);
        }
      }
    }
    this.staleDeadline = this.staleFamilies.size > 0 ? now + this.stalePathTimeMs : null;
    return { purge, markStale: [], deadline: this.staleDeadline };
  }

  /**
   * The session went down. Families the peer listed in its capability are retained as stale
   * until it returns (within its Restart Time) and sends End-of-RIB; all others are deleted.
   * `notificationReceived` / `notificationSent`: RFC 8538 §4 — a NOTIFICATION ends graceful
   * restart unless both sides negotiated the N bit and it is not a Hard Reset (pass hardReset).
   */
  sessionDown(now: number, families: readonly Family[], opts: { notification?: boolean; hardReset?: boolean; localNotificationSupport?: boolean } = {}): RestartPlan {
    const cap = this.cap;
    const grFamilies = capFamilies(cap);
    let graceful = cap !== null;
    if (graceful && opts.notification) {
      // RFC 8538 §4: with a NOTIFICATION, routes are retained only when both sides set the N bit
      // and the NOTIFICATION is not a Hard Reset.
      graceful = cap!.notification && opts.localNotificationSupport === true && !opts.hardReset;
    }
    const purge: Family[] = [];
    const markStale: Family[] = [];
    for (const f of families) {
      if (graceful && grFamilies.has(f) && cap!.restartTime > 0) {
        markStale.push(f);
        this.staleFamilies.add(f);
      } else {
        purge.push(f);
        this.staleFamilies.delete(f);
      }
    }
    this.staleDeadline = null;
    // RFC 4724 §4.2: if the session is not back within the Restart Time the peer advertised,
    // the stale routes are deleted.
    this.restartDeadline = markStale.length > 0 ? now + cap!.restartTime * 1000 : null;
    this.cap = null;
    return { purge, markStale, deadline: this.restartDeadline };
  }

  /** RFC 4724 §4.2: End-of-RIB from the peer; returns the families whose stale routes go now. */
  endOfRib(family: Family): Family[] {
    if (!this.staleFamilies.delete(family)) return [];
    if (this.staleFamilies.size === 0) this.staleDeadline = null;
    return [family];
  }

  /** Timers: returns the families whose stale routes must be purged at `now`. */
  expire(now: number): Family[] {
    const due = (this.restartDeadline !== null && now >= this.restartDeadline) || (this.staleDeadline !== null && now >= this.staleDeadline);
    if (!due) return [];
    const out = [...this.staleFamilies];
    this.staleFamilies.clear();
    this.restartDeadline = null;
    this.staleDeadline = null;
    return out;
  }

  /** The next time expire() has work, or null. */
  get deadline(): number | null {
    if (this.restartDeadline !== null && this.staleDeadline !== null) return Math.min(this.restartDeadline, this.staleDeadline);
    return this.restartDeadline ?? this.staleDeadline;
  }

  get stale(): ReadonlySet<Family> {
    return this.staleFamilies;
  }
}

/** A peer's state as far as selection deferral cares. */
interface DeferralPeer {
  /** Still expected: its End-of-RIB per family is awaited. */
  waitingFor: Set<Family>;
}

/**
 * RFC 4724 §4.1, restarting speaker: defer route selection for a family until End-of-RIB has
 * come from every peer we wait for, or the Selection_Deferral_Timer expires. We wait for peers
 * that are established and advertised graceful restart without the Restart State bit (§4.1:
 * "excluding the ones with the Restart State bit set ... and the ones that do not advertise the
 * graceful restart capability"), so speakers restarting together do not wait on each other.
 * Configured peers that have not come up are waited for only until they are known not to be
 * coming (peerGone) or the timer runs out.
 */
export class SelectionDeferral {
  private readonly peers = new Map<string, DeferralPeer>();
  private readonly notYetUp = new Set<string>();
  private readonly done = new Set<Family>();
  readonly deadline: number;

  /**
   * @param expectedPeers configured peers we may hear from after our restart
   * @param deferralMs the Selection_Deferral_Timer (e.g. 360 s; RFC 4724 §4.1)
   */
  constructor(now: number, readonly families: readonly Family[], expectedPeers: readonly string[], deferralMs: number) {
    this.deadline = now + deferralMs;
    for (const p of expectedPeers) this.notYetUp.add(p);
  }

  /**
   * A peer configured after the deferral began (RFC 4724 §4.1 counts every peer we have): wait
   * for it like the ones configured at the start — until it comes up and sends End-of-RIB, is
   * known not to be coming (peerGone), or the timer runs out. Nothing changes for a family
   * already released.
   */
  expect(peerId: string): void {
    if (this.peers.has(peerId)) return;
    this.notYetUp.add(peerId);
  }

  /** A session came up: `cap` is what the peer sent (null: no graceful restart capability). */
  peerUp(peerId: string, cap: GracefulRestartCapability | null, families: readonly Family[]): void {
    this.notYetUp.delete(peerId);
    if (!cap || cap.restarting) {
      this.peers.delete(peerId);
      return;
    }
    this.peers.set(peerId, { waitingFor: new Set(families.filter((f) => this.families.includes(f))) });
  }

  /** The peer will not deliver (session failed, connection refused, peer removed). */
  peerGone(peerId: string): void {
    this.notYetUp.delete(peerId);
    this.peers.delete(peerId);
  }

  endOfRib(peerId: string, family: Family): void {
    this.peers.get(peerId)?.waitingFor.delete(family);
  }

  /** True while selection for `family` must wait. Once released, a family stays released. */
  isDeferred(family: Family, now: number): boolean {
    if (this.done.has(family) || !this.families.includes(family)) return false;
    if (now >= this.deadline) {
      this.done.add(family);
      return false;
    }
    if (this.notYetUp.size > 0) return true;
    for (const p of this.peers.values()) if (p.waitingFor.has(family)) return true;
    this.done.add(family);
    return false;
  }

  /** True once every family is released. */
  finished(now: number): boolean {
    return this.families.every((f) => !this.isDeferred(f, now));
  }

  /** Who we are still waiting for, for status output. */
  waitingOn(family: Family): string[] {
    const out = [...this.notYetUp];
    for (const [id, p] of this.peers) if (p.waitingFor.has(family)) out.push(id);
    return out;
  }
}
