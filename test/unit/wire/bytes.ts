// Test helpers: hex text to bytes, and the 19-octet header around a hand-written body.
import { expect } from 'chai';
import { WireError } from '../../../src/wire';

/** Bytes from hex text; spaces, newlines and "|" separators are ignored. */
export function hex(text: string): Buffer {
  const clean = text.replace(/[\s|]/g, '');
  if (!/^([0-9a-fA-F]{2})*$/.test(clean)) throw new Error(`bad hex in test: ${text}`);
  return Buffer.from(clean, 'hex');
}

/** A whole message: 16 x 0xff marker, 2-octet length, type, then the body given in hex. */
export function message(type: number, body: string): Buffer {
  const b = hex(body);
  const out = Buffer.alloc(19 + b.length, 0xff);
  out.writeUInt16BE(out.length, 16);
  out[18] = type;
  b.copy(out, 19);
  return out;
}

/** Runs fn, expects a WireError, returns it. */
export function wireError(fn: () => unknown): WireError {
  try {
    fn();
  } catch (e) {
    expect(e).to.be.instanceOf(WireError);
    return e as WireError;
  }
  throw new Error('expected a WireError, nothing was thrown');
}
