// Socket options Node has no API for, on BGP sockets: TCP MD5 signatures (RFC 2385; Linux
// TCP_MD5SIG with struct tcp_md5sig), and the Generalized TTL Security Mechanism (RFC 5082:
// send with TTL / hop limit 255 and drop segments that arrive with less than 256 - hops).
// Thin wrappers over src/sys/libc.ts; errors are TransportError naming the option and peer.

import * as net from 'net';
import { parseIP, formatIP } from '../lib/ip';
import {
  AF_INET, AF_INET6, IPPROTO_IP, IPPROTO_IPV6, IPPROTO_TCP, SyscallError, getsockoptInt, setsockopt, setsockoptInt,
} from '../sys/libc';

export const TCP_MD5SIG = 14;
export const TCP_MD5SIG_MAXKEYLEN = 80;
export const IP_TTL = 2;
export const IP_MINTTL = 21;
export const IPV6_UNICAST_HOPS = 16;
export const IPV6_MINHOPCOUNT = 73;
export const SO_DOMAIN = 39;
const SOL_SOCKET = 1;
/** sizeof(struct tcp_md5sig): sockaddr_storage(128) + flags, prefixlen, keylen(u16), ifindex, key[80]. */
const TCP_MD5SIG_SIZE = 216;

/** A socket-level failure with what an operator needs to fix it. */
export class TransportError extends Error {
  constructor(
    /** What we were doing: "set TCP MD5 key", "connect", "listen", ... */
    readonly operation: string,
    /** The peer (or listen address) concerned. */
    readonly peer: string,
    /** errno name when a syscall failed, else a short code. */
    readonly code: string,
    message: string,
  ) {
    super(`${operation} ${peer}: ${message}`);
    this.name = 'TransportError';
  }
}

function wrap<T>(operation: string, peer: string, f: () => T): T {
  try {
    return f();
  } catch (e) {
    if (e instanceof SyscallError) throw new TransportError(operation, peer, e.code, e.message);
    throw e;
  }
}

/** Strips the IPv4-mapped prefix Node reports on dual-stack sockets: "::ffff:10.0.0.1" → "10.0.0.1". */
export function normalizeAddress(address: string): string {
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  const text = m ? m[1] : address;
  const b = parseIP(text);
  return b ? formatIP(b) : text;
}

/** The address family of an fd (SO_DOMAIN): AF_INET or AF_INET6. */
export function socketDomain(fd: number): number {
  return getsockoptInt(fd, SOL_SOCKET, SO_DOMAIN);
}

/**
 * struct tcp_md5sig for `peer` with `key` (empty key deletes). On an AF_INET6 socket an IPv4 peer
 * is given as an IPv4-mapped address (the kernel then keys it as IPv4).
 */
export function tcpMd5sig(peer: string, key: string, socketFamily: number): Buffer {
  const addr = parseIP(peer);
  if (!addr) throw new TransportError('set TCP MD5 key', peer, 'EINVAL', 'not an IP address');
  const keyBytes = Buffer.from(key, 'utf8');
  if (keyBytes.length > TCP_MD5SIG_MAXKEYLEN) {
    throw new TransportError('set TCP MD5 key', peer, 'EINVAL', `key is ${keyBytes.length} octets, the kernel takes at most ${TCP_MD5SIG_MAXKEYLEN}`);
  }
  const b = Buffer.alloc(TCP_MD5SIG_SIZE);
  if (addr.length === 4 && socketFamily === AF_INET) {
    b.writeUInt16LE(AF_INET, 0); // sockaddr_in: family, port 0, address
    b.set(addr, 4);
  } else {
    b.writeUInt16LE(AF_INET6, 0); // sockaddr_in6: family, port, flowinfo, address at 8
    if (addr.length === 4) {
      b.writeUInt16BE(0xffff, 18);
      b.set(addr, 20);
    } else {
      b.set(addr, 8);
    }
  }
  b.writeUInt16LE(keyBytes.length, 130);
  keyBytes.copy(b, 136);
  return b;
}

/** RFC 2385: signs (and requires signatures on) segments to/from `peer` with `key`; '' removes it. */
export function setTcpMd5(fd: number, peer: string, key: string): void {
  wrap(key === '' ? 'remove TCP MD5 key' : 'set TCP MD5 key', peer, () => {
    setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, tcpMd5sig(peer, key, socketDomain(fd)));
  });
}

/** Minimum TTL RFC 5082 §3 requires for a peer `hops` away: 256 - hops (255 when directly connected). */
export function gtsmMinTtl(hops: number): number {
  if (!Number.isInteger(hops) || hops < 1 || hops > 255) throw new RangeError(`TTL security hops ${hops} is not 1..255`);
  return 256 - hops;
}

/** Outgoing TTL / hop limit for the socket. */
export function setTtl(fd: number, ttl: number, peer: string): void {
  wrap('set TTL', peer, () => {
    if (socketDomain(fd) === AF_INET6) {
      setsockoptInt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl);
      setsockoptInt(fd, IPPROTO_IP, IP_TTL, ttl); // for IPv4-mapped peers on a dual-stack socket
    } else {
      setsockoptInt(fd, IPPROTO_IP, IP_TTL, ttl);
    }
  });
}

/** Segments arriving with a smaller TTL / hop limit are dropped by the kernel. */
export function setMinTtl(fd: number, minTtl: number, peer: string): void {
  wrap('set minimum TTL', peer, () => {
    if (socketDomain(fd) === AF_INET6) {
      setsockoptInt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT, minTtl);
      setsockoptInt(fd, IPPROTO_IP, IP_MINTTL, minTtl);
    } else {
      setsockoptInt(fd, IPPROTO_IP, IP_MINTTL, minTtl);
    }
  });
}

/** RFC 5082 §3: send with 255, accept only ≥ 256 - hops. */
export function enableGtsm(fd: number, hops: number, peer: string): void {
  setTtl(fd, 255, peer);
  setMinTtl(fd, gtsmMinTtl(hops), peer);
}

/** Reads back TTL and minimum TTL (IPv4 or IPv6 options by socket family). */
export function readTtlOptions(fd: number): { ttl: number; minTtl: number } {
  if (socketDomain(fd) === AF_INET6) {
    return { ttl: getsockoptInt(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS), minTtl: getsockoptInt(fd, IPPROTO_IPV6, IPV6_MINHOPCOUNT) };
  }
  return { ttl: getsockoptInt(fd, IPPROTO_IP, IP_TTL), minTtl: getsockoptInt(fd, IPPROTO_IP, IP_MINTTL) };
}

/** The fd under a connected net.Socket or listening net.Server (Linux, libuv TCP handle). */
export function fdOf(s: net.Socket | net.Server): number {
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new TransportError('get socket fd', '-', 'EBADF', 'socket has no file descriptor (closed or not yet open)');
  return fd;
}
