// The one place nexthop reaches syscalls Node has no API for (AF_NETLINK sockets, TCP_MD5SIG,
// IP_MINTTL / IPV6_MINHOPCOUNT, IP_TTL on a socket made before connect), through koffi's FFI
// into libc. Everything here is a thin typed wrapper: no policy, no state beyond the loaded
// library. Failures become SyscallError with the errno name, so callers can report them.
// RFCs: RFC 2385 (TCP MD5 signature option: TCP_MD5SIG), RFC 5082 (GTSM: IP_MINTTL,
// IPV6_MINHOPCOUNT), RFC 3549 (Linux Netlink: AF_NETLINK sockets); the protocols themselves are
// implemented by the callers (src/transport, src/dataplane/netlink).
//
// koffi itself (its native addon, and the https / zlib / crypto modules its loader pulls in: ~6 MiB
// of RSS) is loaded on the first call that needs a syscall, not when this module is imported: a
// speaker whose peers need no socket option Node lacks never loads it (src/transport/dialer.ts).

import type * as KoffiTypes from 'koffi';

type Koffi = typeof KoffiTypes;
let koffiModule: Koffi | null = null;

/** koffi, loaded on first use. */
function ffi(): Koffi {
  if (koffiModule === null) koffiModule = require('koffi') as Koffi;
  return koffiModule;
}

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
  connect: KoffiTypes.KoffiFunction;
  setsockopt: (fd: number, level: number, name: number, value: Uint8Array, len: number) => number;
  getsockopt: (fd: number, level: number, name: number, value: Uint8Array, len: number[]) => number;
  send: (fd: number, buf: Uint8Array, len: number, flags: number) => number;
  recv: (fd: number, buf: Uint8Array, len: number, flags: number) => number;
  close: (fd: number) => number;
  getsockname: (fd: number, addr: Uint8Array, len: number[]) => number;
  setns: (fd: number, nstype: number) => number;
  ioctlNoArg: (fd: number, request: number) => number;
  recvmmsg: (fd: number, msgvec: unknown, vlen: number, flags: number, timeout: null) => number;
  poll: (fds: Uint8Array, nfds: number, timeoutMs: number) => number;
  fcntl: KoffiTypes.KoffiFunction;
}

let libc: Libc | null = null;

/** Loads libc once, on first use, so that code paths that never need a syscall never load it. */
export function lib(): Libc {
  if (libc) return libc;
  const l = ffi().load('libc.so.6');
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
    setns: l.func('int setns(int fd, int nstype)'),
    // ioctl is variadic; this binding is for requests that take no argument (e.g. SIOCGSKNS).
    ioctlNoArg: l.func('int ioctl(int fd, unsigned long request, ...)'),
    // msgvec is memory from koffi.alloc (struct mmsghdr[] pointing at iovecs in the same block).
    recvmmsg: l.func('int recvmmsg(int fd, void *msgvec, unsigned int vlen, int flags, void *timeout)'),
    poll: l.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)'),
    fcntl: l.func('int fcntl(int fd, int cmd, ...)'),
  };
  return libc;
}

/** Throws SyscallError when a libc call returned -1. */
export function check(syscall: string, rc: number): number {
  if (rc < 0) {
    const e = ffi().errno();
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
    const e = ffi().errno();
    if (e === 11) return -1;
    throw new SyscallError('recv', e, errnoName(e));
  }
  return n;
}

export const SO_ERROR = 4;
export const F_GETFL = 3;
export const F_SETFL = 4;
export const O_NONBLOCK = 0o4000;
export const POLLOUT = 0x004;
export const POLLERR = 0x008;
export const POLLHUP = 0x010;
const EINPROGRESS = 115;
const EINTR = 4;

/** Puts `fd` in non-blocking mode (fcntl F_SETFL O_NONBLOCK). */
export function setNonBlocking(fd: number): void {
  const flags = check('fcntl', lib().fcntl(fd, F_GETFL, 'int', 0));
  if ((flags & O_NONBLOCK) === 0) check('fcntl', lib().fcntl(fd, F_SETFL, 'int', flags | O_NONBLOCK));
}

/** poll() on one fd with timeout 0: the revents bits now set (0 when none). */
export function pollNow(fd: number, events: number): number {
  const pfd = Buffer.alloc(8); // struct pollfd { int fd; short events; short revents; }
  pfd.writeInt32LE(fd, 0);
  pfd.writeInt16LE(events, 4);
  const n = lib().poll(pfd, 1, 0);
  if (n < 0) {
    const e = ffi().errno();
    if (e === EINTR) return 0;
    throw new SyscallError('poll', e, errnoName(e));
  }
  return n === 0 ? 0 : pfd.readUInt16LE(6);
}

export interface ConnectOptions {
  /** Give up (ETIMEDOUT) after this long; default 30 s. A dropped SYN (wrong TCP MD5 key) never completes. */
  timeoutMs?: number;
  /** Poll interval while the handshake is in progress; default 10 ms, growing to 100 ms. */
  pollIntervalMs?: number;
  /** Abort (ECANCELED) when signalled. */
  signal?: AbortSignal;
}

/**
 * connect() without blocking the event loop and with a sound errno: the fd is made non-blocking,
 * connect() returns EINPROGRESS (its errno read on this thread, right after the call), and the
 * handshake is watched with poll(POLLOUT) at a short interval until it completes, fails (the
 * result read with getsockopt SO_ERROR) or the deadline passes. Resolves when connected; rejects
 * with SyscallError('connect', errno). The caller owns (and on failure closes) the fd.
 */
export async function connectAsync(fd: number, sockaddr: Uint8Array, opts: ConnectOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  setNonBlocking(fd);
  const rc = (lib().connect as unknown as (fd: number, a: Uint8Array, l: number) => number)(fd, sockaddr, sockaddr.length);
  if (rc === 0) return;
  const e = ffi().errno();
  if (e !== EINPROGRESS && e !== EINTR) throw new SyscallError('connect', e, errnoName(e));
  const deadline = Date.now() + timeoutMs;
  let interval = opts.pollIntervalMs ?? 10;
  const maxIterations = Math.ceil(timeoutMs / interval) + 2;
  for (let i = 0; i <= maxIterations; i++) {
    if (opts.signal?.aborted) throw new SyscallError('connect', 125, 'ECANCELED');
    const revents = pollNow(fd, POLLOUT);
    if (revents !== 0) {
      const err = getsockoptInt(fd, SOL_SOCKET, SO_ERROR);
      if (err !== 0) throw new SyscallError('connect', err, errnoName(err));
      if ((revents & POLLOUT) !== 0) return;
      throw new SyscallError('connect', 104, 'ECONNRESET');
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    await new Promise((r) => setTimeout(r, Math.min(interval, left)));
    if (opts.pollIntervalMs === undefined) interval = Math.min(100, interval * 2);
  }
  throw new SyscallError('connect', 110, 'ETIMEDOUT');
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

/**
 * setns(2) for the CALLING THREAD only (Node's main thread when called from JS). Used by
 * dataplane/netlink to open a socket inside a test namespace; see openNetlinkIn there.
 */
export function setns(fd: number, nstype: number): void {
  check('setns', lib().setns(fd, nstype));
}

/** ioctl(fd, request) for requests without an argument; returns the (non-negative) result. */
export function ioctlNoArg(fd: number, request: number): number {
  return check('ioctl', lib().ioctlNoArg(fd, request));
}

/**
 * recvmmsg(2) into memory allocated with koffi.alloc (see dataplane/netlink MultiReceiver): many
 * datagrams in one syscall. Returns how many were received, or -1 with EAGAIN when none waits.
 */
export function recvmmsg(fd: number, msgvec: unknown, vlen: number, flags: number): number {
  const n = lib().recvmmsg(fd, msgvec, vlen, flags, null);
  if (n < 0) {
    const e = ffi().errno();
    if (e === 11) return -1;
    throw new SyscallError('recvmmsg', e, errnoName(e));
  }
  return n;
}
