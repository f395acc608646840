// rtnetlink sockets: AF_NETLINK/NETLINK_ROUTE through koffi (src/sys/libc.ts). A request socket
// sends MANY requests per send() (batches of e.g. 200 RTM_NEWROUTE), checks the acks and maps
// each NLMSG_ERROR to the request that failed by sequence number; dumps read across as many recv
// buffers as the kernel needs until NLMSG_DONE. A monitor socket joins multicast groups
// (RTNLGRP_IPV4_ROUTE, IPV6_ROUTE, LINK) to notice changes made by others.
// Framing per RFC 3549 §2.2 (nlmsghdr, NLM_F_REQUEST/ACK/DUMP, NLMSG_ERROR, NLMSG_DONE).
//
// Acks: by default only the LAST request of each batch carries NLM_F_ACK. The kernel handles the
// messages of one send() in order and always answers a failed request with an NLMSG_ERROR (its
// errno, our sequence number) whether or not NLM_F_ACK was set (netlink_rcv_skb), so once the last
// request's ack is read, every request before it without an error reply is known to have
// succeeded. That saves one recv() per request; `ackEach: true` acks every request instead.
// executeEncoded lets the caller write each request straight into the socket's reused send buffer
// (consecutive sequence numbers per batch, so a reply maps back to its request by arithmetic);
// execute() is built on it.
// The monitor reads with recvmmsg (up to 128 notifications per syscall): a burst of 100,000 route
// changes is 100,000 datagrams. NetlinkMonitor.ignorePortId attaches a classic BPF filter that
// drops, in the kernel, notifications caused by our own request socket (they carry its port id in
// nlmsg_pid), so our own bulk writes neither cost reads nor overrun the monitor's buffer.
//
// Why non-blocking sockets read synchronously, and a timer for the monitor (no worker threads):
// for NETLINK_ROUTE the kernel runs each request inside our send() (rtnetlink_rcv is called from
// netlink_unicast_kernel in the sender's context), so by the time send() returns every ack of the
// batch is already queued on our socket; and a dump's next chunk is produced inside our recv().
// Reading with MSG_DONTWAIT therefore never waits on the request path. A blocking recv in koffi's
// async worker would tie up one of libuv's four pool threads for good (the monitor waits
// forever), so the monitor instead polls its non-blocking socket on a timer (default every 20 ms:
// one syscall returning EAGAIN when idle; worst-case notice latency is the interval). Long batches
// yield to the event loop every few milliseconds so BGP timers keep running.
//
// Namespaces: production code opens sockets in the namespace the process runs in (the agent is
// started with `ip netns exec NS nexthop agent`). Tests and benchmarks use openNetlinkIn(NAME):
// setns() on the main thread, socket(), setns() back - all synchronous, so no JS runs in between
// and libuv's pool threads (setns is per thread) never leave the original namespace. The switch
// back is verified by comparing namespace inodes and the process aborts if it failed; the new
// socket's own namespace is verified with SIOCGSKNS. openNetlinkIn refuses a target that is the
// caller's namespace or init's (PID 1) namespace, so it can never hand out a root-namespace socket.

import * as fs from 'fs';
import koffi from 'koffi';
import * as libc from '../../sys/libc';
import * as C from './constants';
import { NetlinkMessage, decodeAck, encodeMessage, parseMessages, writeHeader, align4 } from './codec';

/** A failed rtnetlink request: the errno, the kernel's reason, and what the request was for. */
export class NetlinkError extends Error {
  constructor(
    /** Positive errno. */
    readonly errno: number,
    /** Errno name, e.g. "EEXIST". */
    readonly code: string,
    /** What the request was, e.g. "RTM_NEWROUTE 10.1.2.0/24 table 254". */
    readonly request: string,
    /** The kernel's extended-ack text, when it gave one. */
    readonly reason?: string,
  ) {
    super(`${request}: ${code} (errno ${errno})${reason ? `: ${reason}` : ''}`);
    this.name = 'NetlinkError';
  }
}

/** One request of a batch. `context` comes back with its failure (e.g. the route it was for). */
export interface NetlinkRequest<T = unknown> {
  type: number;
  /** NLM_F_* flags; NLM_F_REQUEST and NLM_F_ACK are always added. */
  flags: number;
  payload: Uint8Array;
  context: T;
  /** Text for errors, e.g. "RTM_NEWROUTE 10.1.2.0/24"; computed only when the request fails. */
  describe?: (context: T) => string;
}

export interface RequestFailure<T> {
  request: NetlinkRequest<T>;
  error: NetlinkError;
}

export interface BatchResult<T> {
  /** Requests sent (all of them unless a send() itself failed). */
  sent: number;
  /** Requests that the kernel rejected (or whose ack was lost), each with its error. */
  failures: RequestFailure<T>[];
}

/**
 * A batch of requests that executeEncoded writes straight into the socket's send buffer, by
 * index 0..count-1 (see FibReconciler.write for the 100,000-route case).
 */
export interface RequestEncoder {
  /** Number of requests. */
  count: number;
  /** Upper bound of any one request's payload, in bytes (sizes the send buffer). */
  maxPayload: number;
  /** nlmsg_type of request i. */
  type(i: number): number;
  /** NLM_F_* flags of request i; NLM_F_REQUEST (and NLM_F_ACK where needed) are added. */
  flags(i: number): number;
  /** Writes request i's payload at buf[off...] (maxPayload bytes of room) and returns its length. */
  encode(i: number, buf: Buffer, off: number): number;
  /** What request i was, for its error (called only for failures), e.g. "add route 10.1.0.0/24 ...". */
  describe(i: number): string;
}

export interface EncodedFailure {
  /** Index of the failed request in the RequestEncoder. */
  index: number;
  error: NetlinkError;
}

export interface EncodedBatchResult {
  /** Requests sent. */
  sent: number;
  /** Requests the kernel rejected (or whose outcome is unknown), in no particular order. */
  failures: EncodedFailure[];
}

export interface SocketOptions {
  /** Receive buffer in bytes (SO_RCVBUFFORCE as root, else SO_RCVBUF). Default 8 MiB. */
  rcvbuf?: number;
  /** Send buffer in bytes. Default 4 MiB. */
  sndbuf?: number;
  /** Multicast groups (RTNLGRP_*) to join: makes this a monitor socket. */
  groups?: number[];
}

export const RTM_NAMES: Record<number, string> = {
  [C.RTM_NEWLINK]: 'RTM_NEWLINK', [C.RTM_DELLINK]: 'RTM_DELLINK', [C.RTM_GETLINK]: 'RTM_GETLINK', [C.RTM_SETLINK]: 'RTM_SETLINK',
  [C.RTM_NEWADDR]: 'RTM_NEWADDR', [C.RTM_DELADDR]: 'RTM_DELADDR', [C.RTM_GETADDR]: 'RTM_GETADDR',
  [C.RTM_NEWROUTE]: 'RTM_NEWROUTE', [C.RTM_DELROUTE]: 'RTM_DELROUTE', [C.RTM_GETROUTE]: 'RTM_GETROUTE',
  [C.RTM_NEWNEIGH]: 'RTM_NEWNEIGH', [C.RTM_DELNEIGH]: 'RTM_DELNEIGH', [C.RTM_GETNEIGH]: 'RTM_GETNEIGH',
};

const RECV_BUFFER = 1 << 20;
/** How long to wait for acks that are not queued yet (should never happen for NETLINK_ROUTE). */
const ACK_WAIT_MS = 2000;
/** Yield to the event loop after this much continuous work inside one execute(). */
const YIELD_AFTER_MS = 8;

function sockaddrNl(groups: number): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16LE(C.AF_NETLINK, 0);
  b.writeUInt32LE(0, 4); // nl_pid 0: the kernel assigns our port id
  b.writeUInt32LE(groups >>> 0, 8);
  return b;
}

function setBuffer(fd: number, force: number, plain: number, bytes: number): void {
  try {
    libc.setsockoptInt(fd, libc.SOL_SOCKET, force, bytes);
  } catch {
    libc.setsockoptInt(fd, libc.SOL_SOCKET, plain, bytes); // not CAP_NET_ADMIN: capped by rmem_max
  }
}

/** Creates and configures the raw socket in the CURRENT thread's namespace. */
function createSocketFd(opts: SocketOptions): number {
  const fd = libc.socket(C.AF_NETLINK, libc.SOCK_RAW | libc.SOCK_NONBLOCK | libc.SOCK_CLOEXEC, C.NETLINK_ROUTE);
  try {
    setBuffer(fd, C.SO_RCVBUFFORCE, C.SO_RCVBUF, opts.rcvbuf ?? 8 << 20);
    setBuffer(fd, C.SO_SNDBUFFORCE, C.SO_SNDBUF, opts.sndbuf ?? 4 << 20);
    if (opts.groups && opts.groups.length > 0) {
      libc.bind(fd, sockaddrNl(0));
      for (const g of opts.groups) libc.setsockoptInt(fd, C.SOL_NETLINK, C.NETLINK_ADD_MEMBERSHIP, g);
    } else {
      libc.bind(fd, sockaddrNl(0));
      // Extended acks carry the kernel's reason text; capped acks do not echo whole requests back.
      libc.setsockoptInt(fd, C.SOL_NETLINK, C.NETLINK_EXT_ACK, 1);
      libc.setsockoptInt(fd, C.SOL_NETLINK, C.NETLINK_CAP_ACK, 1);
      // Strict checking lets dump requests filter (by table, protocol) in the kernel.
      try { libc.setsockoptInt(fd, C.SOL_NETLINK, C.NETLINK_GET_STRICT_CHK, 1); } catch { /* kernel < 4.20 */ }
    }
    return fd;
  } catch (e) {
    libc.close(fd);
    throw e;
  }
}

function nsInode(path: string): { dev: number; ino: number } {
  const st = fs.statSync(path);
  return { dev: st.dev, ino: st.ino };
}

/** Namespace inode of the socket `fd`, via SIOCGSKNS. */
function socketNetnsInode(fd: number): { dev: number; ino: number } {
  const nsfd = libc.ioctlNoArg(fd, C.SIOCGSKNS);
  try {
    const st = fs.fstatSync(nsfd);
    return { dev: st.dev, ino: st.ino };
  } finally {
    fs.closeSync(nsfd);
  }
}

const SO_ATTACH_FILTER = 26;
const MMSGHDR_SIZE = 64; // struct mmsghdr on LP64: struct msghdr (56) + unsigned msg_len + padding
const IOVEC_SIZE = 16;
const MSG_TRUNC = 0x20;

/**
 * A block of native memory (koffi.alloc) laid out as struct mmsghdr[slots], struct iovec[slots]
 * and the data slots they point at, for recvmmsg(2). Built once per socket, reused per call.
 */
class MultiReceiver {
  private readonly mem: unknown;
  private readonly view: Buffer;
  private readonly dataOff: number;

  constructor(private readonly slots = 128, private readonly slotSize = 32768) {
    const iovOff = slots * MMSGHDR_SIZE;
    this.dataOff = iovOff + slots * IOVEC_SIZE;
    const total = this.dataOff + slots * slotSize;
    this.mem = koffi.alloc('uint8_t', total);
    this.view = Buffer.from(koffi.view(this.mem as koffi.IKoffiCType, total) as ArrayBuffer);
    const base = BigInt(koffi.address(this.mem as koffi.IKoffiCType) as bigint);
    this.view.fill(0, 0, this.dataOff);
    for (let i = 0; i < slots; i++) {
      const iov = iovOff + i * IOVEC_SIZE;
      this.view.writeBigUInt64LE(base + BigInt(this.dataOff + i * slotSize), iov); // iov_base
      this.view.writeBigUInt64LE(BigInt(slotSize), iov + 8); // iov_len
      const h = i * MMSGHDR_SIZE;
      this.view.writeBigUInt64LE(base + BigInt(iov), h + 16); // msg_hdr.msg_iov
      this.view.writeBigUInt64LE(1n, h + 24); // msg_hdr.msg_iovlen
    }
  }

  receive(fd: number): { messages: NetlinkMessage[]; truncated: boolean } | null {
    const n = libc.recvmmsg(fd, this.mem, this.slots, libc.MSG_DONTWAIT);
    if (n <= 0) return null;
    const messages: NetlinkMessage[] = [];
    let truncated = false;
    for (let i = 0; i < n; i++) {
      const h = i * MMSGHDR_SIZE;
      const len = this.view.readUInt32LE(h + 56);
      if (this.view.readInt32LE(h + 48) & MSG_TRUNC) { truncated = true; continue; }
      const start = this.dataOff + i * this.slotSize;
      // Copy out: the slot is overwritten by the next call.
      for (const m of parseMessages(Buffer.from(this.view.subarray(start, start + len)), len)) messages.push(m);
    }
    return { messages, truncated };
  }

  free(): void {
    koffi.free(this.mem as koffi.IKoffiCType);
  }
}

/** A NETLINK_ROUTE socket. Not safe for concurrent execute()/dump() calls: callers serialize. */
export class NetlinkSocket {
  private seq = Math.floor(Math.random() * 0x7fffffff);
  private readonly rbuf = Buffer.allocUnsafe(RECV_BUFFER);
  /** executeEncoded's send buffer, reused across batches (grown when a batch needs more). */
  private sbuf = Buffer.alloc(0);
  private multi: MultiReceiver | null = null;
  private closed = false;

  private constructor(
    readonly fd: number,
    /** The namespace the socket lives in, for messages; null = the process's own. */
    readonly netns: string | null,
  ) {}

  /** A socket in the namespace this process runs in (production: the node's namespace). */
  static open(opts: SocketOptions = {}): NetlinkSocket {
    return new NetlinkSocket(createSocketFd(opts), null);
  }

  /** @internal used by openNetlinkIn. */
  static adopt(fd: number, netns: string): NetlinkSocket {
    return new NetlinkSocket(fd, netns);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    libc.close(this.fd);
    this.multi?.free();
    this.multi = null;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private port: number | null = null;

  /**
   * Our netlink port id (nl_pid, assigned by the kernel at bind). Notifications caused by a
   * request from this socket carry it in nlmsg_pid (and the request's nlmsg_seq), so a monitor
   * can tell our own writes' echoes from changes made by others.
   */
  get portId(): number {
    if (this.port === null) {
      const sa = Buffer.alloc(12);
      libc.check('getsockname', libc.lib().getsockname(this.fd, sa, [12]));
      this.port = sa.readUInt32LE(4);
    }
    return this.port;
  }

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  /**
   * Non-blocking read of whatever is queued; [] when nothing is. Throws SyscallError (ENOBUFS
   * when the kernel had to drop messages for us).
   */
  recvAvailable(): NetlinkMessage[] {
    const n = libc.recv(this.fd, this.rbuf, libc.MSG_DONTWAIT);
    if (n <= 0) return [];
    // Copy: the receive buffer is reused by the next call.
    return parseMessages(Buffer.from(this.rbuf.subarray(0, n)), n);
  }

  /**
   * Non-blocking read of up to 128 queued datagrams in one recvmmsg(); null when none is queued.
   * `truncated` is set when a datagram did not fit its 32 KiB slot (the reader must resync).
   */
  recvMany(): { messages: NetlinkMessage[]; truncated: boolean } | null {
    if (!this.multi) this.multi = new MultiReceiver();
    return this.multi.receive(this.fd);
  }

  /**
   * Sends `requests` in batches of `batchSize` per send(), each with NLM_F_REQUEST and its own
   * sequence number (NLM_F_ACK on the last of a batch, or on each with `ackEach`), and settles
   * every one. Returns the failures, each with its request's context; never throws for a
   * rejected request (only for a broken socket). Built on executeEncoded.
   */
  async execute<T>(requests: NetlinkRequest<T>[], opts: { batchSize?: number; ackEach?: boolean } = {}): Promise<BatchResult<T>> {
    let maxPayload = 0;
    for (const r of requests) if (r.payload.length > maxPayload) maxPayload = r.payload.length;
    const res = await this.executeEncoded({
      count: requests.length,
      maxPayload,
      type: (i) => requests[i].type,
      flags: (i) => requests[i].flags,
      encode: (i, buf, off) => {
        const p = requests[i].payload;
        buf.set(p, off);
        return p.length;
      },
      describe: (i) => {
        const r = requests[i];
        return r.describe ? r.describe(r.context) : RTM_NAMES[r.type] ?? `type ${r.type}`;
      },
    }, opts);
    return { sent: res.sent, failures: res.failures.map((f) => ({ request: requests[f.index], error: f.error })) };
  }

  /**
   * Like execute(), but each request is written by `enc.encode` straight into this socket's
   * reused send buffer: no buffer, request object or map entry per request (the FIB reconciler
   * writes 100,000 routes this way). Requests of one batch get consecutive sequence numbers, so
   * an NLMSG_ERROR maps back to its request by arithmetic. Only the last request of a batch
   * carries NLM_F_ACK unless `ackEach`: the kernel answers every failed request anyway, in order
   * (see the header). Failures name the request by index, in no particular order.
   */
  async executeEncoded(enc: RequestEncoder, opts: { batchSize?: number; ackEach?: boolean } = {}): Promise<EncodedBatchResult> {
    const batchSize = Math.max(1, Math.floor(opts.batchSize ?? 200));
    const ackEach = opts.ackEach === true;
    const failures: EncodedFailure[] = [];
    const count = enc.count;
    if (count <= 0) return { sent: 0, failures };
    if (!Number.isInteger(enc.maxPayload) || enc.maxPayload < 0) throw new RangeError(`maxPayload ${enc.maxPayload} is not a byte count`);
    const slot = C.NLMSG_HDRLEN + align4(enc.maxPayload);
    const need = Math.min(batchSize, count) * slot;
    if (this.sbuf.length < need) this.sbuf = Buffer.allocUnsafe(need);
    const buf = this.sbuf;
    let sent = 0;
    let lastYield = Date.now();
    for (let start = 0; start < count; start += batchSize) {
      const end = Math.min(count, start + batchSize);
      // Consecutive sequence numbers within the batch: never wrap inside it.
      if (this.seq > 0xfffffff0 - (end - start)) this.seq = 0;
      const firstSeq = this.seq + 1;
      let off = 0;
      for (let i = start; i < end; i++) {
        const seq = this.nextSeq();
        const plen = enc.encode(i, buf, off + C.NLMSG_HDRLEN);
        if (!(plen >= 0 && plen <= enc.maxPayload)) throw new RangeError(`request ${i} (${enc.describe(i)}): payload of ${plen} bytes exceeds maxPayload ${enc.maxPayload}`);
        const len = C.NLMSG_HDRLEN + plen;
        const ack = ackEach || i === end - 1 ? C.NLM_F_ACK : 0;
        writeHeader(buf, off, len, enc.type(i), enc.flags(i) | C.NLM_F_REQUEST | ack, seq);
        const next = off + align4(len);
        for (let j = off + len; j < next; j++) buf[j] = 0; // RFC 3549 §2.2 padding
        off = next;
      }
      await this.sendAndSettle(buf.subarray(0, off), start, end - start, firstSeq, ackEach, enc, failures);
      sent += end - start;
      if (Date.now() - lastYield > YIELD_AFTER_MS) {
        await new Promise((r) => setImmediate(r));
        lastYield = Date.now();
      }
    }
    return { sent, failures };
  }

  /** Sends one encoded batch (requests start..start+n-1, seqs firstSeq...) and reads its replies. */
  private async sendAndSettle(
    bytes: Buffer, start: number, n: number, firstSeq: number, ackEach: boolean, enc: RequestEncoder, failures: EncodedFailure[],
  ): Promise<void> {
    const fail = (i: number, errno: number, code: string, reason: string | undefined): void => {
      failures.push({ index: start + i, error: new NetlinkError(errno, code, enc.describe(start + i), reason) });
    };
    try {
      libc.send(this.fd, bytes);
    } catch (e) {
      const err = e as libc.SyscallError;
      for (let i = 0; i < n; i++) fail(i, err.errno ?? 0, err.code ?? 'EIO', 'send() failed');
      return;
    }
    const answered = new Uint8Array(n);
    let unanswered = n;
    let lastAcked = false;
    const deadline = Date.now() + ACK_WAIT_MS;
    while (ackEach ? unanswered > 0 : !lastAcked) {
      let msgs: NetlinkMessage[];
      try {
        msgs = this.recvAvailable();
      } catch (e) {
        // ENOBUFS: acks were dropped; the outcome of the rest is unknown - report them all.
        const err = e as libc.SyscallError;
        for (let i = 0; i < n; i++) if (!answered[i]) fail(i, err.errno ?? 0, err.code ?? 'EIO', 'ack lost; state unknown');
        return;
      }
      if (msgs.length === 0) {
        if (Date.now() > deadline) {
          for (let i = 0; i < n; i++) if (!answered[i]) fail(i, 110, 'ETIMEDOUT', 'no ack from the kernel');
          return;
        }
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      for (const m of msgs) {
        if (m.type !== C.NLMSG_ERROR) continue;
        const ack = decodeAck(m.payload, m.flags);
        const i = (ack.requestSeq - firstSeq) >>> 0;
        if (i >= n || answered[i]) continue; // a stale ack of an earlier, abandoned batch
        answered[i] = 1;
        unanswered--;
        if (i === n - 1) lastAcked = true;
        if (ack.errno !== 0) fail(i, ack.errno, libc.errnoName(ack.errno), ack.message);
      }
    }
  }

  /** One request; throws NetlinkError when the kernel rejects it. */
  async request(type: number, flags: number, payload: Uint8Array, what?: string): Promise<void> {
    const res = await this.execute([{ type, flags, payload, context: null, describe: what ? () => what : undefined }]);
    if (res.failures.length > 0) throw res.failures[0].error;
  }

  /**
   * A dump (NLM_F_DUMP): every message until NLMSG_DONE, across as many recv buffers as it takes.
   * A dump the kernel marks interrupted (NLM_F_DUMP_INTR: the table changed under it) is retried,
   * up to 5 times, then returned as it is with `interrupted` set.
   */
  async dump(type: number, payload: Uint8Array): Promise<NetlinkMessage[] & { interrupted?: boolean }> {
    for (let attempt = 0; ; attempt++) {
      const { messages, interrupted } = await this.dumpOnce(type, payload);
      if (!interrupted || attempt >= 4) {
        const out = messages as NetlinkMessage[] & { interrupted?: boolean };
        if (interrupted) out.interrupted = true;
        return out;
      }
    }
  }

  private async dumpOnce(type: number, payload: Uint8Array): Promise<{ messages: NetlinkMessage[]; interrupted: boolean }> {
    const seq = this.nextSeq();
    libc.send(this.fd, encodeMessage(type, C.NLM_F_REQUEST | C.NLM_F_DUMP, seq, payload));
    const out: NetlinkMessage[] = [];
    let interrupted = false;
    let deadline = Date.now() + ACK_WAIT_MS;
    let lastYield = Date.now();
    for (;;) {
      const msgs = this.recvAvailable();
      if (msgs.length === 0) {
        if (Date.now() > deadline) throw new NetlinkError(110, 'ETIMEDOUT', `${RTM_NAMES[type] ?? type} dump`, 'no NLMSG_DONE from the kernel');
        await new Promise((r) => setTimeout(r, 1));
        continue;
      }
      deadline = Date.now() + ACK_WAIT_MS;
      for (const m of msgs) {
        if (m.seq !== seq) continue;
        if (m.flags & C.NLM_F_DUMP_INTR) interrupted = true;
        if (m.type === C.NLMSG_DONE) return { messages: out, interrupted };
        if (m.type === C.NLMSG_ERROR) {
          const ack = decodeAck(m.payload, m.flags);
          throw new NetlinkError(ack.errno, libc.errnoName(ack.errno), `${RTM_NAMES[type] ?? type} dump`, ack.message);
        }
        out.push(m);
      }
      if (Date.now() - lastYield > YIELD_AFTER_MS) {
        await new Promise((r) => setImmediate(r));
        lastYield = Date.now();
      }
    }
  }
}

export interface MonitorHandlers {
  /** Called with every batch of notifications, in kernel order. */
  onMessages: (msgs: NetlinkMessage[]) => void;
  /** The kernel dropped notifications (ENOBUFS): the listener must resynchronise with a dump. */
  onOverrun: () => void;
}

/**
 * Listens to rtnetlink multicast groups. Polls its non-blocking socket every `intervalMs` (see
 * the header for why); drain() reads everything queued right now, synchronously.
 */
export class NetlinkMonitor {
  private timer: NodeJS.Timeout | null = null;
  private filterMem: unknown = null;

  constructor(
    readonly socket: NetlinkSocket,
    private readonly handlers: MonitorHandlers,
    private readonly intervalMs = 20,
  ) {}

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      try {
        this.drain();
      } catch {
        // A socket error or an undecodable datagram: what was lost is unknown, so resync.
        this.handlers.onOverrun();
      }
    }, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Drops, inside the kernel, every notification whose nlmsg_pid is `portId` - the echoes of the
   * writes made through our own request socket - with a classic BPF socket filter
   * (SO_ATTACH_FILTER), so a burst of our own 100,000 route writes neither costs 100,000 reads
   * nor overruns the monitor's buffer. Returns false (and filters nothing) when the kernel refuses.
   */
  ignorePortId(portId: number): boolean {
    if (portId === 0) return false; // pid 0 is the kernel's own changes: never drop those
    // BPF_ABS loads are big-endian: nlmsg_pid (host order, offset 12) reads as the swapped value.
    const swapped = Buffer.alloc(4);
    swapped.writeUInt32LE(portId >>> 0, 0);
    const k = swapped.readUInt32BE(0);
    const prog: [number, number, number, number][] = [
      [0x20, 0, 0, 12], // ld  [12]           (BPF_LD | BPF_W | BPF_ABS)
      [0x15, 0, 1, k], //  jeq #pid, drop, accept (BPF_JMP | BPF_JEQ | BPF_K)
      [0x06, 0, 0, 0], //  drop: ret #0        (BPF_RET | BPF_K)
      [0x06, 0, 0, 0xffffffff], // accept: ret #-1
    ];
    if (!this.filterMem) this.filterMem = koffi.alloc('uint8_t', prog.length * 8);
    const insns = Buffer.from(koffi.view(this.filterMem as koffi.IKoffiCType, prog.length * 8) as ArrayBuffer);
    prog.forEach(([code, jt, jf, kk], i) => {
      insns.writeUInt16LE(code, i * 8);
      insns[i * 8 + 2] = jt;
      insns[i * 8 + 3] = jf;
      insns.writeUInt32LE(kk >>> 0, i * 8 + 4);
    });
    const fprog = Buffer.alloc(16); // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    fprog.writeUInt16LE(prog.length, 0);
    fprog.writeBigUInt64LE(BigInt(koffi.address(this.filterMem as koffi.IKoffiCType) as bigint), 8);
    try {
      libc.setsockopt(this.socket.fd, libc.SOL_SOCKET, SO_ATTACH_FILTER, fprog);
      return true;
    } catch {
      return false;
    }
  }

  /** Reads and delivers every queued notification (bounded: at most 10,000 recvmmsg calls). */
  drain(): void {
    if (this.socket.isClosed) return;
    for (let i = 0; i < 10000; i++) {
      let got: ReturnType<NetlinkSocket['recvMany']>;
      try {
        got = this.socket.recvMany();
      } catch (e) {
        if ((e as libc.SyscallError).code === 'ENOBUFS') {
          this.handlers.onOverrun();
          continue;
        }
        throw e;
      }
      if (!got) return;
      if (got.messages.length > 0) this.handlers.onMessages(got.messages);
      if (got.truncated) this.handlers.onOverrun();
    }
  }

  close(): void {
    this.stop();
    this.socket.close();
    // The kernel copied the filter at attach time; the native block can go.
    if (this.filterMem) koffi.free(this.filterMem as koffi.IKoffiCType);
    this.filterMem = null;
  }
}

/** The route/link groups the FIB reconciler listens to. */
export const ROUTE_MONITOR_GROUPS = [C.RTNLGRP_IPV4_ROUTE, C.RTNLGRP_IPV6_ROUTE, C.RTNLGRP_LINK];

/** Thrown when a socket cannot be opened in the namespace asked for; nothing was changed. */
export class NetnsError extends Error {
  constructor(readonly netns: string, reason: string) {
    super(`cannot open a netlink socket in namespace "${netns}": ${reason}`);
    this.name = 'NetnsError';
  }
}

/**
 * Opens a NETLINK_ROUTE socket inside the named namespace (/run/netns/NAME, as `ip netns add`
 * makes them) without moving the process: setns on the main thread, socket(), setns back, all in
 * one synchronous block. Aborts the process if it cannot return to its original namespace (it
 * must never go on running elsewhere). Refuses the caller's own and init's namespace, so a test or
 * benchmark can never be handed a socket that programs the root namespace.
 */
export function openNetlinkIn(netns: string, opts: SocketOptions = {}): NetlinkSocket {
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(netns) || netns === '.' || netns === '..') throw new NetnsError(netns, 'not a valid namespace name');
  const path = fs.existsSync(`/run/netns/${netns}`) ? `/run/netns/${netns}` : `/var/run/netns/${netns}`;
  let target: number;
  try {
    target = fs.openSync(path, 'r');
  } catch (e) {
    throw new NetnsError(netns, `${path}: ${(e as NodeJS.ErrnoException).code ?? e}`);
  }
  let original = -1;
  try {
    original = fs.openSync('/proc/thread-self/ns/net', 'r');
    const here = nsInode('/proc/thread-self/ns/net');
    const tst = fs.fstatSync(target);
    if (tst.ino === here.ino && tst.dev === here.dev) throw new NetnsError(netns, 'it is the namespace this process already runs in');
    let init: { dev: number; ino: number } | null = null;
    try { init = nsInode('/proc/1/ns/net'); } catch { /* no access to PID 1: cannot be init's then */ }
    if (init && tst.ino === init.ino && tst.dev === init.dev) throw new NetnsError(netns, "it is the initial (root) namespace");

    let fd = -1;
    libc.setns(target, C.CLONE_NEWNET);
    try {
      fd = createSocketFd(opts);
    } finally {
      let back = false;
      try {
        libc.setns(original, C.CLONE_NEWNET);
        const now = nsInode('/proc/thread-self/ns/net');
        back = now.ino === here.ino && now.dev === here.dev;
      } catch { /* handled below */ }
      if (!back) {
        process.stderr.write(`FATAL: could not return the main thread to its network namespace after opening a socket in "${netns}"; aborting\n`);
        process.abort();
      }
    }
    const sockNs = socketNetnsInode(fd);
    if (sockNs.ino !== tst.ino || sockNs.dev !== tst.dev) {
      libc.close(fd);
      throw new NetnsError(netns, 'the socket was not created in the target namespace');
    }
    return NetlinkSocket.adopt(fd, netns);
  } finally {
    fs.closeSync(target);
    if (original >= 0) fs.closeSync(original);
  }
}
