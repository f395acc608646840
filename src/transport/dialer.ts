// Outgoing BGP connections (RFC 4271 §8: the TCP connection the FSM's Connect state asks for).
// The socket is made with socket(), the TCP MD5 key (RFC 2385) and GTSM/TTL (RFC 5082) set and
// the source address bound BEFORE connect(), because a key set after the SYN is too late. The
// connect is non-blocking, watched with poll (src/sys/libc.ts connectAsync), bounded by a timeout
// (a wrong MD5 key means the peer drops our SYN silently), and can be cancelled. The connected fd
// is handed to net.Socket.

import * as net from 'net';
import { parseIP } from '../lib/ip';
import {
  AF_INET, AF_INET6, SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM, SyscallError, bind, close, connectAsync, sockaddr, socket,
} from '../sys/libc';
import { TransportError, enableGtsm, setTcpMd5, setTtl } from './sockopt';

export const BGP_PORT = 179;

export interface DialOptions {
  remoteAddress: string;
  /** Default 179. */
  remotePort?: number;
  /** Source address to bind (RFC 4271 says nothing; operators need it for multi-homed nodes). */
  localAddress?: string;
  /** RFC 2385 TCP MD5 key. */
  md5Password?: string;
  /** RFC 5082 GTSM: send with TTL 255 and require ≥ 256 - hops on what we receive. */
  ttlSecurityHops?: number;
  /** Outgoing TTL when GTSM is off (eBGP multihop); default: the system's. */
  ttl?: number;
  /** Give up after this long (ETIMEDOUT). Default 30 s. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Connects to a BGP peer; resolves with the connected socket. Rejects with TransportError whose
 * `code` is the errno name (ECONNREFUSED, ETIMEDOUT, EHOSTUNREACH, ECANCELED, EADDRNOTAVAIL, ...).
 */
export async function dial(o: DialOptions): Promise<net.Socket> {
  const peer = o.remoteAddress;
  const remote = parseIP(o.remoteAddress);
  if (!remote) throw new TransportError('connect', peer, 'EINVAL', `'${o.remoteAddress}' is not an IP address`);
  let local: Uint8Array | null = null;
  if (o.localAddress) {
    local = parseIP(o.localAddress);
    if (!local) throw new TransportError('connect', peer, 'EINVAL', `source '${o.localAddress}' is not an IP address`);
    if (local.length !== remote.length) throw new TransportError('connect', peer, 'EINVAL', `source ${o.localAddress} and peer are of different address families`);
  }
  const domain = remote.length === 4 ? AF_INET : AF_INET6;
  let fd: number;
  try {
    fd = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  } catch (e) {
    throw asTransportError('create socket', peer, e);
  }
  try {
    if (o.md5Password) setTcpMd5(fd, peer, o.md5Password);
    if (o.ttlSecurityHops) enableGtsm(fd, o.ttlSecurityHops, peer);
    else if (o.ttl) setTtl(fd, o.ttl, peer);
    if (local) {
      try {
        bind(fd, sockaddr(local, 0));
      } catch (e) {
        throw asTransportError(`bind source ${o.localAddress} for`, peer, e);
      }
    }
    try {
      await connectAsync(fd, sockaddr(remote, o.remotePort ?? BGP_PORT), { timeoutMs: o.timeoutMs ?? 30_000, signal: o.signal });
    } catch (e) {
      throw asTransportError('connect', `${peer} port ${o.remotePort ?? BGP_PORT}`, e);
    }
    return new net.Socket({ fd, readable: true, writable: true });
  } catch (e) {
    close(fd);
    throw e;
  }
}

function asTransportError(operation: string, peer: string, e: unknown): TransportError {
  if (e instanceof TransportError) return e;
  if (e instanceof SyscallError) return new TransportError(operation, peer, e.code, e.code === 'ETIMEDOUT' ? 'timed out' : e.message);
  return new TransportError(operation, peer, 'EIO', e instanceof Error ? e.message : String(e));
}
