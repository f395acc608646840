// One full V8 garbage collection on demand: after the speaker's JIT warm-up (src/speaker/warmup.ts)
// returns its heap at once, and for benchmarks that measure retained memory. No RFC.
import * as v8 from 'v8';
import * as vm from 'vm';

let gcFunction: (() => void) | null = null;

/**
 * One full garbage collection now. Node exposes V8's gc() only with --expose-gc; the flag set at
 * run time applies to contexts created afterwards, so gc() is taken from a fresh vm context (once).
 */
export function collectGarbage(): void {
  if (gcFunction === null) {
    const exposed = (globalThis as { gc?: () => void }).gc;
    if (exposed) gcFunction = exposed;
    else {
      v8.setFlagsFromString('--expose-gc');
      gcFunction = vm.runInNewContext('gc') as () => void;
    }
  }
  gcFunction();
}
