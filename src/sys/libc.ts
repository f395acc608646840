// The one place nexthop reaches syscalls Node has no API for (AF_NETLINK sockets, TCP_MD5SIG,
// IP_MINTTL / IPV6_MINHOPCOUNT, IP_TTL on a socket made before connect), through koffi's FFI
// into libc. Everything here is a thin typed wrapper: no policy, no state beyond the loaded
// library. Failures become SyscallError with the errno name, so callers can report them.

import koffi from 'koffi';

export class SyscallError extends Error {
  constructor(
    readonly syscall: string,
    readonly errno: number,
    readonly code: string,
  ) {
    super(`${syscall}: ${code} (errno ${errno})`);
    this.name = 'SyscallError';
  }
}

const ERRNO_NAMES: Record<number, string> = {
  1: 'EPERM', 2: 'ENOENT', 3: 'ESRCH', 4: 'EINTR', 9: 'EBADF', 11: 'EAGAIN', 12: 'ENOMEM',
  13: 'EACCES', 16: 'EBUSY', 17: 'EEXIST', 19: 'ENODEV', 22: 'EINVAL', 24: 'EMFILE',
  34: 'ERANGE', 61: 'ENODATA', 71: 'EPROTO', 92: 'ENOPROTOOPT', 93: 'EPROTONOSUPPORT',
  95: 'EOPNOTSUPP', 97: 'EAFNOSUPPORT', 98: 'EADDRINUSE', 99: 'EADDRNOTAVAIL',
  101: 'ENETUNREACH', 103: 'ECONNABORTED', 104: 'ECONNRESET', 105: 'ENOBUFS', 110: 'ETIMEDOUT',
  111: 'ECONNREFUSED', 113: 'EHOSTUNREACH', 114: 'EALREADY', 115: 'EINPROGRESS',
};

export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Uint8Array, len: number) => number;
  connect: koffi.KoffiFunction;
  setsockopt: (fd: number, level: number, name: number, value: Uint8Array, len: number) => number;
  getsockopt: (fd: number, level: number, name: number, value: Uint8Array, len: number[]) => number;
  send: (fd: number, buf: Uint8Array, len: number, flags: number) => number;
  recv: (fd: number, buf: Uint8Array, len: number, flags: number) => number;
  close: (fd: number) => number;
  getsockname: (fd: number, addr: Uint8Array, len: number[]) => number;
}

let libc: Libc | null = null;

/** Loads libc once, on first use, so that code paths that never need a syscall never load it. */
export function lib(): Libc {
  if (libc) return libc;
  const l = koffi.load('libc.so.6');
  libc = {
    socket: l.func('int socket(int domain, int type, int protocol)'),
    bind: l.func('int bind(int fd, const uint8_t *addr, uint32_t len)'),
    connect: l.func('int connect(int fd, const uint8_t *addr, uint32_t len)'),
    setsockopt: l.func('int setsockopt(int fd, int level, int name, const uint8_t *value, uint32_t len)'),
    getsockopt: l.func('int getsockopt(int fd, int level, int name, _Out_ uint8_t *value, _Inout_ uint32_t *len)'),
    send: l.func('long send(int fd, const uint8_t *buf, size_t len, int flags)'),
    recv: l.func('long recv(int fd, _Out_ uint8_t *buf, size_t len, int flags)'),
    close: l.func('int close(int fd)'),
    getsockname: l.func('int getsockname(int fd, _Out_ uint8_t *addr, _Inout_ uint32_t *len)'),
  };
  return libc;
}

/** Throws SyscallError when a libc call returned -1. */
export function check(syscall: string, rc: number): number {
  if (rc < 0) {
    const e = koffi.errno();
    throw new SyscallError(syscall, e, errnoName(e));
  }
  return rc;
}

export const AF_INET = 2;
export const AF_INET6 = 10;
export const AF_NETLINK = 16;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_RAW = 3;
export const SOCK_NONBLOCK = 0o4000;
export const SOCK_CLOEXEC = 0o2000000;
export const SOL_SOCKET = 1;
export const IPPROTO_IP = 0;
export const IPPROTO_TCP = 6;
export const IPPROTO_IPV6 = 41;
export const MSG_DONTWAIT = 0x40;

export function socket(domain: number, type: number, protocol: number): number {
  return check('socket', lib().socket(domain, type, protocol));
}

export function setsockopt(fd: number, level: number, name: number, value: Uint8Array): void {
  check('setsockopt', lib().setsockopt(fd, level, name, value, value.length));
}

export function setsockoptInt(fd: number, level: number, name: number, value: number): void {
  const b = Buffer.alloc(4);
  b.writeInt32LE(value, 0);
  setsockopt(fd, level, name, b);
}

export function getsockoptInt(fd: number, level: number, name: number): number {
  const b = Buffer.alloc(4);
  const len = [4];
  check('getsockopt', lib().getsockopt(fd, level, name, b, len));
  return b.readInt32LE(0);
}

export function bind(fd: number, sockaddr: Uint8Array): void {
  check('bind', lib().bind(fd, sockaddr, sockaddr.length));
}

export function close(fd: number): void {
  lib().close(fd);
}

export function send(fd: number, buf: Uint8Array, flags = 0): number {
  return check('send', lib().send(fd, buf, buf.length, flags));
}

/** recv into `buf`; returns bytes read, or -1 with EAGAIN when nothing is waiting (non-blocking). */
export function recv(fd: number, buf: Uint8Array, flags = 0): number {
  const n = lib().recv(fd, buf, buf.length, flags);
  if (n < 0) {
    const e = koffi.errno();
    if (e === 11) return -1;
    throw new SyscallError('recv', e, errnoName(e));
  }
  return n;
}

/**
 * connect() in a worker thread (koffi async), so a blocking connect - one that waits on a TCP
 * MD5 handshake, say - never blocks the event loop. Resolves with 0 or rejects with the errno.
 */
export function connectAsync(fd: number, sockaddr: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    lib().connect.async(fd, sockaddr, sockaddr.length, (err: unknown, rc: number) => {
      if (err) return reject(err);
      if (rc < 0) {
        const e = koffi.errno();
        return reject(new SyscallError('connect', e, errnoName(e)));
      }
      resolve();
    });
  });
}

/** struct sockaddr_in / sockaddr_in6 for an address given as 4 or 16 bytes. */
export function sockaddr(addr: Uint8Array, port: number, scopeId = 0): Uint8Array {
  if (addr.length === 4) {
    const b = Buffer.alloc(16);
    b.writeUInt16LE(AF_INET, 0);
    b.writeUInt16BE(port, 2);
    b.set(addr, 4);
    return b;
  }
  const b = Buffer.alloc(28);
  b.writeUInt16LE(AF_INET6, 0);
  b.writeUInt16BE(port, 2);
  b.set(addr, 8);
  b.writeUInt32LE(scopeId, 24);
  return b;
}
