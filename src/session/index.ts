// The session layer's public face: the pure RFC 4271 §8 FSM of one peer (PeerFsm), OPEN
// building/validation/negotiation (RFC 4271 §4.2, §6.2; RFC 5492), and NOTIFICATION naming
// (RFC 4271 §4.5, RFC 4486, RFC 8538, RFC 9003). No I/O here; see src/transport for the driver.
export * from './types';
export * from './notification';
export {
  AS_TRANS, BGP_VERSION, DEFAULT_HOLD_TIME, OpenError, advertisedFamilies, bgpIdValue, buildOpen, configProblems,
  localFamilies, negotiate, outgoingWinsCollision, peerAsOf,
} from './negotiate';
export { DEFAULT_BACKOFF, PeerFsm, SessionConfigError } from './fsm';
export type { SessionStatus } from './fsm';
