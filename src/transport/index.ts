// Transport for BGP sessions: the listener (RFC 4271 §8 passive TCP establishment), the dialer,
// TCP MD5 (RFC 2385) and GTSM (RFC 5082) socket options, and PeerConnection, which drives one
// peer's pure FSM (src/session) with real sockets and timers through the owner's serial queue.
export { BGP_PORT, dial } from './dialer';
export type { DialOptions } from './dialer';
export { BgpListener } from './listener';
export type { ListenerOptions, ListenerPeer } from './listener';
export { PeerConnection, serialQueue } from './peer';
export type { Enqueue, PeerConnectionOptions, PeerConnectionStatus, PeerEvent, PeerTransportOptions, SessionEndpoints, StopNotification } from './peer';
export {
  TransportError, enableGtsm, fdOf, gtsmMinTtl, normalizeAddress, readTtlOptions, setMinTtl, setTcpMd5, setTtl, tcpMd5sig,
} from './sockopt';
