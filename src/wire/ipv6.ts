// Fast IPv6 address text <-> bytes for the codec's hot paths (MP_REACH_NLRI next hops and IPv6
// NLRI, RFC 4760 / RFC 2545). Same results as src/lib/ip.ts (RFC 4291 §2.2 text in, RFC 5952 §4
// canonical text out) without regular expressions or intermediate arrays.

/**
 * Text of one 16-bit group without leading zeros, "0" .. "ffff": 65,536 strings (~2.5 MiB of
 * heap, and building them at load time grows V8's young generation), so made on the first IPv6
 * address formatted, not when the codec is loaded — an IPv4-only speaker never needs them.
 */
let HEX: readonly string[] | null = null;

function hexGroups(): readonly string[] {
  if (HEX === null) HEX = Array.from({ length: 65536 }, (_, i) => i.toString(16));
  return HEX;
}

function hexVal(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/**
 * Parses IPv6 text (RFC 4291 §2.2 forms 1-3, including a dotted IPv4 tail) into out[at, at+16).
 * Returns false, leaving `out` partly written, when the text is not an address.
 */
export function parseIpv6Into(text: string, out: Uint8Array, at: number): boolean {
  const n = text.length;
  if (n < 2 || n > 45) return false;
  let groups = 0; // groups written so far
  let gap = -1; // group index where "::" stands
  let i = 0;
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false;
    gap = 0;
    i = 2;
    if (i === n) { out.fill(0, at, at + 16); return true; }
  }
  for (;;) {
    // One group, or a dotted IPv4 tail.
    let v = 0;
    let digits = 0;
    const start = i;
    while (i < n) {
      const h = hexVal(text.charCodeAt(i));
      if (h < 0) break;
      v = v * 16 + h;
      digits++;
      i++;
    }
    if (i < n && text.charCodeAt(i) === 46) {
      // IPv4 tail (RFC 4291 §2.2 form 3): must be last and fit in two groups.
      if (groups > 6) return false;
      let octet = 0;
      let od = 0;
      let octets = 0;
      for (let j = start; j <= n; j++) {
        const c = j < n ? text.charCodeAt(j) : 46;
        if (c >= 48 && c <= 57) {
          if (od > 0 && octet === 0) return false;
          octet = octet * 10 + c - 48;
          if (++od > 3 || octet > 255) return false;
        } else if (c === 46) {
          if (od === 0 || octets === 4) return false;
          out[at + groups * 2 + octets] = octet;
          octets++;
          octet = 0;
          od = 0;
        } else {
          return false;
        }
      }
      if (octets !== 4) return false;
      groups += 2;
      break;
    }
    if (digits === 0 || digits > 4 || groups === 8) return false;
    out[at + groups * 2] = v >> 8;
    out[at + groups * 2 + 1] = v & 0xff;
    groups++;
    if (i === n) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < n && text.charCodeAt(i) === 58) {
      if (gap >= 0) return false;
      gap = groups;
      i++;
      if (i === n) break;
    } else if (i === n) {
      return false;
    }
  }
  if (gap < 0) return groups === 8;
  if (groups > 7) return false;
  // Move the groups after the gap to the end, zero the gap.
  const tail = groups - gap;
  for (let k = tail - 1; k >= 0; k--) {
    out[at + (8 - tail + k) * 2] = out[at + (gap + k) * 2];
    out[at + (8 - tail + k) * 2 + 1] = out[at + (gap + k) * 2 + 1];
  }
  out.fill(0, at + gap * 2, at + (8 - tail) * 2);
  return true;
}

/** RFC 5952 §4 canonical text of b[p, p+16): lower case, no leading zeros, longest zero run as "::". */
export function formatIpv6At(b: Uint8Array, p: number): string {
  let bestStart = -1;
  let bestLen = 1; // RFC 5952 §4.2.2: a single zero group is not shortened
  let runStart = -1;
  for (let i = 0; i < 8; i++) {
    if (b[p + 2 * i] === 0 && b[p + 2 * i + 1] === 0) {
      if (runStart < 0) runStart = i;
      if (i - runStart + 1 > bestLen) { bestStart = runStart; bestLen = i - runStart + 1; }
    } else {
      runStart = -1;
    }
  }
  const hex = hexGroups();
  let s = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      s += i === 0 ? '::' : ':';
      i += bestLen - 1;
      continue;
    }
    s += hex[(b[p + 2 * i] << 8) | b[p + 2 * i + 1]];
    if (i < 7) s += ':';
  }
  return s;
}
