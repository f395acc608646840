// Turns a TCP byte stream, chunked any way at all, into whole BGP messages (RFC 4271 §4.1: the
// header's Length field delimits messages). Header checks happen as soon as a header is
// complete (RFC 4271 §6.1: Connection Not Synchronized, Bad Message Length, Bad Message Type).
// The maximum is 4096 until RFC 8654 Extended Messages are negotiated, then 65535 (OPEN and
// KEEPALIVE stay within 4096). Holds only the bytes of the unfinished message; after an error
// every further push throws the same error (the stream cannot be resynchronised).
import type { WireError } from './errors';
import { HEADER_LENGTH, MAX_EXTENDED_MESSAGE_LENGTH, MAX_MESSAGE_LENGTH, checkHeader } from './header';

export class Framer {
  private maxLength: number;
  /** Bytes of an unfinished message, [0, pendingLength) valid. */
  private pending: Buffer = Buffer.alloc(0);
  private pendingLength = 0;
  private failed: WireError | null = null;

  constructor(maxLength: number = MAX_MESSAGE_LENGTH) {
    this.maxLength = Framer.checkMax(maxLength);
  }

  private static checkMax(n: number): number {
    if (!Number.isInteger(n) || n < MAX_MESSAGE_LENGTH || n > MAX_EXTENDED_MESSAGE_LENGTH) {
      throw new RangeError(`maximum message length ${n} is not in ${MAX_MESSAGE_LENGTH}..${MAX_EXTENDED_MESSAGE_LENGTH}`);
    }
    return n;
  }

  /** 4096, or 65535 once RFC 8654 is negotiated. */
  setMaxLength(n: number): void {
    this.maxLength = Framer.checkMax(n);
  }

  /** Octets held for a message not yet complete. */
  get buffered(): number {
    return this.pendingLength;
  }

  /**
   * Appends a chunk and returns every message it completes, in order (each a Buffer of exactly
   * one message, header included; it may share memory with `chunk`). Throws WireError on a bad
   * header.
   */
  push(chunk: Uint8Array): Buffer[] {
    if (this.failed) throw this.failed;
    const out: Buffer[] = [];
    try {
      const src: Uint8Array = chunk;
      let p = 0;
      if (this.pendingLength > 0) {
        // Complete the pending message first, copying only as much as it needs.
        p = this.fillPending(chunk, out);
        if (this.pendingLength > 0) return out; // still incomplete: the whole chunk was taken
      }
      const end = src.length;
      while (end - p >= HEADER_LENGTH) {
        const length = checkHeader(src, p, this.maxLength);
        if (end - p < length) break;
        out.push(Buffer.from(src.buffer, src.byteOffset + p, length));
        p += length;
      }
      if (p < end) this.keep(src, p, end);
      return out;
    } catch (e) {
      this.failed = e as WireError;
      this.pendingLength = 0;
      throw e;
    }
  }

  /** Adds from `chunk` to the pending bytes until one message is complete; returns bytes used. */
  private fillPending(chunk: Uint8Array, out: Buffer[]): number {
    let used = 0;
    if (this.pendingLength < HEADER_LENGTH) {
      const take = Math.min(HEADER_LENGTH - this.pendingLength, chunk.length);
      this.append(chunk, 0, take);
      used = take;
      if (this.pendingLength < HEADER_LENGTH) return used;
    }
    const length = checkHeader(this.pending, 0, this.maxLength);
    const take = Math.min(length - this.pendingLength, chunk.length - used);
    this.append(chunk, used, used + take);
    used += take;
    if (this.pendingLength === length) {
      out.push(Buffer.from(this.pending.subarray(0, length))); // a copy: `pending` is reused
      this.pendingLength = 0;
    }
    return used;
  }

  private append(src: Uint8Array, start: number, end: number): void {
    const need = this.pendingLength + (end - start);
    if (need > this.pending.length) {
      const next = Buffer.allocUnsafe(Math.max(need, HEADER_LENGTH, this.pending.length * 2));
      this.pending.copy(next, 0, 0, this.pendingLength);
      this.pending = next;
    }
    this.pending.set(src.subarray(start, end), this.pendingLength);
    this.pendingLength = need;
  }

  private keep(src: Uint8Array, start: number, end: number): void {
    this.pendingLength = 0;
    this.append(src, start, end);
  }
}
