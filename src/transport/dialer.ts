// Outgoing BGP connections (RFC 4271 §8: the TCP connection the FSM's Connect state asks for).
// Two ways, the same contract (resolves with the connected socket; rejects with TransportError
// naming the peer, `code` the errno name; bounded by a timeout; cancellable):
//  - a plain peer (no TCP MD5, no GTSM, no TTL): Node's own net.connect, bound to the source
//    address when one is given. No FFI: koffi is never loaded for it (src/sys/libc.ts).
//  - a peer with TCP MD5 (RFC 2385), GTSM (RFC 5082) or a fixed TTL: the socket is made with
//    socket(), the key and TTL options set and the source address bound BEFORE connect(),
//    because a key set after the SYN is too late and Node has no API for them. The connect is
//    non-blocking, watched with poll (src/sys/libc.ts connectAsync), and the connected fd is
//    handed to net.Socket.
// A wrong MD5 key means the peer drops our SYN silently: the timeout ends the dial.

import * as net from 'net';
import { formatIP, parseIP } from '../lib/ip';
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
  const port = o.remotePort ?? BGP_PORT;
  const timeoutMs = o.timeoutMs ?? 30_000;
  if (o.signal?.aborted) throw cancelled(peer, port);
  if (!o.md5Password && !o.ttlSecurityHops && !o.ttl) return dialPlain(o, formatIP(remote), local ? formatIP(local) : undefined, port, timeoutMs);
  return dialWithOptions(o, remote, local, port, timeoutMs);
}

/** A peer without socket options Node lacks: net.connect (event-driven, no FFI). */
function dialPlain(o: DialOptions, remote: string, local: string | undefined, port: number, timeoutMs: number): Promise<net.Socket> {
  const peer = o.remoteAddress;
  return new Promise<net.Socket>((resolve, reject) => {
    // An address literal: no name lookup, the connect starts at once.
    const s = net.connect({ host: remote, port, localAddress: local });
    let settled = false;
    const finish = (err: TransportError | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      s.removeListener('connect', onConnect);
      s.removeListener('error', onError);
      if (err === null) return resolve(s);
      s.on('error', () => { /* a late error of the socket we drop */ });
      s.destroy();
      reject(err);
    };
    const onConnect = (): void => finish(null);
    const onError = (e: NodeJS.ErrnoException): void => finish(fromNodeError(e, peer, port, o.localAddress));
    const onAbort = (): void => finish(cancelled(peer, port));
    const timer = setTimeout(() => finish(new TransportError('connect', `${peer} port ${port}`, 'ETIMEDOUT', 'timed out')), timeoutMs);
    s.once('connect', onConnect);
    s.once('error', onError);
    o.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** The error of a dial cancelled through its signal (as src/sys/libc.ts connectAsync reports it). */
function cancelled(peer: string, port: number): TransportError {
  return new TransportError('connect', `${peer} port ${port}`, 'ECANCELED', 'connect: ECANCELED (errno 125)');
}

/** A Node socket error as the TransportError the FFI path gives for the same failure. */
function fromNodeError(e: NodeJS.ErrnoException, peer: string, port: number, localAddress: string | undefined): TransportError {
  const code = e.code ?? 'EIO';
  const errno = typeof e.errno === 'number' ? Math.abs(e.errno) : null;
  const text = `${e.syscall ?? 'connect'}: ${code}${errno !== null ? ` (errno ${errno})` : ''}`;
  if (e.syscall === 'bind') return new TransportError(`bind source ${localAddress} for`, peer, code, text);
  return new TransportError('connect', `${peer} port ${port}`, code, code === 'ETIMEDOUT' ? 'timed out' : text);
}

/** TCP MD5 / GTSM / TTL: the options go on the socket before connect(), through src/sys/libc.ts. */
async function dialWithOptions(o: DialOptions, remote: Uint8Array, local: Uint8Array | null, port: number, timeoutMs: number): Promise<net.Socket> {
  const peer = o.remoteAddress;
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
      await connectAsync(fd, sockaddr(remote, port), { timeoutMs, signal: o.signal });
    } catch (e) {
      throw asTransportError('connect', `${peer} port ${port}`, e);
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
