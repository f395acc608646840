// Helper process for test/integration/transport-dial.test.ts: runs one dial() (src/transport/dialer.ts)
// with the options given as JSON in argv[2] (plus `abortAfterMs`: cancel through the signal after
// that long), inside whatever namespace it was started in, and prints one JSON line: the outcome
// (local address on success; the TransportError's code, operation, peer and message on failure)
// and whether koffi (the FFI, src/sys/libc.ts) was loaded by then. Not a test file itself.
import { dial, type DialOptions } from '../../src/transport/dialer';
import { TransportError } from '../../src/transport/sockopt';

async function main(): Promise<void> {
  const o = JSON.parse(process.argv[2]) as DialOptions & { abortAfterMs?: number };
  const ac = new AbortController();
  if (o.abortAfterMs !== undefined) setTimeout(() => ac.abort(), o.abortAfterMs);
  const t0 = Date.now();
  const koffiLoaded = (): boolean => Object.keys(require.cache).some((k) => k.includes(`${'/'}koffi${'/'}`));
  try {
    const s = await dial({ ...o, signal: ac.signal });
    process.stdout.write(`${JSON.stringify({ ok: true, local: s.localAddress, ms: Date.now() - t0, koffi: koffiLoaded() })}\n`);
    s.destroy();
  } catch (e) {
    const t = e instanceof TransportError ? e : null;
    process.stdout.write(`${JSON.stringify({ ok: false, typed: t !== null, code: t?.code, operation: t?.operation, peer: t?.peer, message: (e as Error).message, ms: Date.now() - t0, koffi: koffiLoaded() })}\n`);
  }
  process.exit(0);
}

void main();
