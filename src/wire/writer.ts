// A growable big-endian byte writer for the encoders (network byte order, RFC 4271 §4). Pure:
// one Writer per encode call, nothing shared.

export class Writer {
  private buf: Buffer;
  pos = 0;

  constructor(initial = 256) {
    this.buf = Buffer.allocUnsafe(initial);
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < need) size *= 2;
    const next = Buffer.allocUnsafe(size);
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  u16(v: number): void {
    this.ensure(2);
    this.buf[this.pos] = v >>> 8;
    this.buf[this.pos + 1] = v & 0xff;
    this.pos += 2;
  }

  u32(v: number): void {
    this.ensure(4);
    const b = this.buf;
    const p = this.pos;
    b[p] = v >>> 24;
    b[p + 1] = (v >>> 16) & 0xff;
    b[p + 2] = (v >>> 8) & 0xff;
    b[p + 3] = v & 0xff;
    this.pos = p + 4;
  }

  bytes(src: Uint8Array): void {
    this.ensure(src.length);
    this.buf.set(src, this.pos);
    this.pos += src.length;
  }

  /** Overwrites a 1-octet field written earlier. */
  patch8(at: number, v: number): void {
    this.buf[at] = v;
  }

  /** Overwrites a 2-octet field written earlier (lengths known only after the body). */
  patch16(at: number, v: number): void {
    this.buf[at] = v >>> 8;
    this.buf[at + 1] = v & 0xff;
  }

  /** Moves bytes [from, pos) forward by `by` bytes (to widen a length field after the fact). */
  shift(from: number, by: number): void {
    this.ensure(by);
    this.buf.copyWithin(from + by, from, this.pos);
    this.pos += by;
  }

  /** Direct access for hot loops; valid until the next write that may grow the buffer. */
  raw(): Buffer {
    return this.buf;
  }

  /**
   * The bytes written. A view of the writer's buffer when little of it is unused (the Writer is
   * not used after this), else a right-sized copy so long-lived messages do not pin slack.
   */
  finish(): Buffer {
    if (this.pos * 2 >= this.buf.length) return this.buf.subarray(0, this.pos);
    return Buffer.from(this.buf.subarray(0, this.pos));
  }
}
