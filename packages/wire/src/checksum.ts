/**
 * The internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Read this first:
 * - `checksumPartial()` returns an *unfolded* sum (a plain JS number, exact below 2^53, so no
 *   folding is needed inside the loop). Short ranges are summed as 16-bit words from bytes;
 *   longer ones as 32-bit words through a cached DataView (about 2x faster at 1500 bytes). Partial sums add: pass one as
 *   `initial` to the next call, or add them with `+`. Chaining is only correct when every piece
 *   except the last has an even length (RFC 1071 §2(B) byte-swapping is not applied).
 * - `foldSum()` folds carries into a 16-bit ones'-complement sum; `foldChecksum()` folds and
 *   complements: that is the value written on the wire.
 * - `checksum()` over a region *including* a correct checksum field returns 0: that is how
 *   every verifier in this package checks (RFC 1071 §1 step (3)).
 * - Odd lengths are padded with a zero byte (RFC 1071 §4.1); odd start offsets need no special
 *   care because words are assembled from bytes relative to `start`.
 * - Ranges of WASM_MIN bytes or more go to a WebAssembly SIMD kernel (checksum-wasm.ts) when the
 *   runtime has one: it returns a different *unfolded* number than the JS loop, but the same
 *   folded sum (both are congruent modulo 0xffff and non-zero unless every byte is 0). Callers
 *   only ever fold, add or chain partial sums, which that preserves.
 */
import { WASM_PIECE, loadChecksumKernel } from './checksum-wasm.js';

/** How an emitter fills a transport checksum field. */
export type ChecksumMode =
  /** Compute the full checksum in software. */
  | 'full'
  /** Write 0 (UDP: "no checksum", RFC 768). */
  | 'none'
  /**
   * Write the folded pseudo-header sum, uncomplemented, for a link that completes the checksum
   * (TX checksum offload, virtio-net NEEDS_CSUM / Linux CHECKSUM_PARTIAL).
   */
  | 'partial';

/** Below this many bytes plain byte loads beat DataView reads (measured: see docs/api/wire.md). */
const SMALL = 64;
/** Bytes summed between folds on huge inputs (adds < 2^50), so the accumulator stays exact (< 2^53). */
const CHUNK = 1 << 20;

// One DataView over the ArrayBuffer seen last: frames usually come from a few pooled buffers, so
// this avoids an allocation per call. It keeps that one ArrayBuffer reachable, nothing more.
let lastBuffer: ArrayBufferLike | null = null;
let lastView: DataView | null = null;

/**
 * From this many bytes the WebAssembly kernel (copy into its memory + SIMD sum) beats the JS loop
 * (measured on Node 20: see docs/performance-notes.md).
 */
const WASM_MIN = 256;

const kernel = loadChecksumKernel();
const kmem: Uint8Array | null = kernel !== null ? kernel.mem : null;
const ksum: ((n: number) => number) | null = kernel !== null ? kernel.sum : null;

/** Which implementation sums long ranges: 'wasm-simd' or 'js' (no WebAssembly SIMD here). */
export const checksumImplementation: 'wasm-simd' | 'js' = kernel !== null ? 'wasm-simd' : 'js';

/** Unfolded ones'-complement sum of the 16-bit big-endian words of `buf[start..end)`, plus `initial`. */
export function checksumPartial(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  // Only the view's own bytes are read: past its end the DataView loop would read the rest of the
  // ArrayBuffer (a neighbour in a Buffer pool) and the kernel an earlier call's leftovers.
  if (end > buf.length) end = buf.length;
  if (start < 0) start = 0;
  const n = end - start;
  if (n >= WASM_MIN && kmem !== null) {
    let sum = initial;
    let s = start;
    while (s < end) {
      const e = end - s > WASM_PIECE ? s + WASM_PIECE : end;
      // (No subarray object when the whole view is summed, as when verifying a received segment.)
      kmem.set(s === 0 && e === buf.length ? buf : buf.subarray(s, e), 0);
      const r = ksum!(e - s);
      // The kernel summed little-endian words: swap the folded sum back (RFC 1071 §2(B)).
      sum += ((r & 0xff) << 8) | (r >>> 8);
      s = e;
    }
    return sum;
  }
  return checksumPartialJs(buf, start, end, initial);
}

/** `checksumPartial` by the JavaScript loop only (the fallback; exported for tests and benchmarks). */
export function checksumPartialJs(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  if (end > buf.length) end = buf.length;
  if (start < 0) start = 0;
  let sum = initial;
  const n = end - start;
  if (n <= 0) return sum;
  if (n < SMALL) {
    let i = start;
    const even = end - (n & 1);
    for (; i < even; i += 2) sum += (buf[i] << 8) | buf[i + 1];
    // RFC 1071 §4.1: an odd trailing byte is padded with zero on the right.
    if (i < end) sum += buf[i] << 8;
    return sum;
  }
  const ab = buf.buffer;
  if (ab !== lastBuffer) {
    lastBuffer = ab;
    lastView = new DataView(ab);
  }
  const v = lastView!;
  const base = buf.byteOffset;
  let i = base + start;
  const stop = base + end;
  // Sum 32-bit big-endian words: a 32-bit word w = hi*2^16 + lo is congruent to hi + lo modulo
  // 2^16 - 1, so folding the total gives the same ones'-complement sum (RFC 1071 §2(C)).
  while (stop - i >= 16) {
    const e16 = Math.min(i + (((stop - i) >> 4) << 4), i + CHUNK);
    for (; i < e16; i += 16) sum += v.getUint32(i) + v.getUint32(i + 4) + v.getUint32(i + 8) + v.getUint32(i + 12);
    if (sum > 2 ** 51) sum = foldSum(sum);
  }
  for (; stop - i >= 4; i += 4) sum += v.getUint32(i);
  if (stop - i >= 2) {
    sum += v.getUint16(i);
    i += 2;
  }
  if (i < stop) sum += v.getUint8(i) << 8;
  return sum;
}

/** Fold an unfolded sum (any non-negative integer < 2^53) into a 16-bit ones'-complement sum. */
export function foldSum(sum: number): number {
  while (sum > 0xffffffff) sum = (sum % 0x10000) + Math.floor(sum / 0x10000);
  sum = (sum & 0xffff) + (sum >>> 16);
  sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** Fold and complement: the 16-bit value to store in a checksum field. */
export function foldChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/**
 * Internet checksum of `buf[start..end)` with `initial` (e.g. a pseudo-header sum) added.
 * Returns the field value to write; over a region that includes a valid checksum it returns 0.
 */
export function checksum(buf: Uint8Array, start = 0, end = buf.length, initial = 0): number {
  return foldChecksum(checksumPartial(buf, start, end, initial));
}

/**
 * Unfolded sum of the IPv4 pseudo-header (RFC 768, RFC 9293 §3.1): source, destination, zero,
 * protocol, transport length. Pass it as `initial` to `checksum()`.
 */
export function pseudoHeaderSum(src: number, dst: number, proto: number, len: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + (proto & 0xff) + len;
}

/**
 * RFC 1624 eqn. 3 incremental update: the new checksum after one 16-bit word of the covered data
 * changed from `oldWord` to `newWord`. HC' = ~(~HC + ~m + m').
 */
export function updateChecksum16(oldCsum: number, oldWord: number, newWord: number): number {
  const sum = (~oldCsum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~foldSum(sum) & 0xffff;
}

/**
 * RFC 1624 incremental update for a 32-bit value (an IPv4 address rewrite, a sequence number):
 * both halves updated at once.
 */
export function updateChecksum32(oldCsum: number, oldValue: number, newValue: number): number {
  const sum =
    (~oldCsum & 0xffff) +
    (~(oldValue >>> 16) & 0xffff) +
    (~oldValue & 0xffff) +
    (newValue >>> 16) +
    (newValue & 0xffff);
  return ~foldSum(sum) & 0xffff;
}
