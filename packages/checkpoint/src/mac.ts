/**
 * HMAC-SHA256 (RFC 2104, FIPS 180-4) for checkpoint frames, without Node's per-call Hmac object.
 *
 * Read this first:
 * - HMAC(K, m) = H((K0 ⊕ opad) ‖ H((K0 ⊕ ipad) ‖ m)), K0 = K zero-padded to the 64-byte block
 *   (or H(K) padded, for keys longer than the block) — RFC 2104 §2. The two padded keys are
 *   computed once per key (`macKey()`, a cache of the last 4 keys).
 * - Each H is one `crypto.hash()` call (Node ≥ 20.12) with a *latin1 string* result: on Node 20
 *   that one-shot path costs ~0.5 µs for a 300-byte input, while `createHmac().update().digest()`
 *   costs ~2.6 µs and `crypto.hash(..., 'buffer')` ~1.9 µs (object and Buffer creation, not
 *   hashing: SHA-256 itself runs at ~2 cycles/byte with SHA-NI). Measured in docs/checkpoint.md.
 * - The inner hash needs (K0 ⊕ ipad) immediately before the message: the encoder reserves the
 *   first 64 bytes of its output buffer for it (`MAC_PREFIX`); the decoder copies a small frame
 *   after the pad in a scratch buffer, and uses `createHmac` for large frames (where the copy
 *   would cost more than the per-call overhead it saves).
 * - Tags are compared in constant time (no early exit: OR of the XORs of all 32 bytes).
 * - Without `crypto.hash` (Node < 20.12) everything falls back to `createHmac`; same results.
 */
import * as crypto from 'node:crypto';

/** Bytes reserved before a frame for the inner pad (the SHA-256 block size). */
export const MAC_PREFIX = 64;
const TAG = 32;

type HashFn = (algorithm: string, data: Uint8Array, outputEncoding: 'latin1') => string;
const oneShot: HashFn | null = typeof (crypto as { hash?: unknown }).hash === 'function' ? ((crypto as unknown as { hash: HashFn }).hash) : null;

/** A key prepared for HMAC-SHA256: the padded inner and outer blocks. */
export interface MacKey {
  readonly key: Uint8Array;
  /** K0 ⊕ ipad (64 bytes). */
  readonly ipad: Buffer;
  /** K0 ⊕ opad, then room for the 32-byte inner digest (96 bytes). */
  readonly outer: Buffer;
}

/** Prepared keys, most recent first (a cluster uses one key, two while rotating). */
const cache: MacKey[] = [];
const CACHE_MAX = 4;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

// The key object of the last call, a 32-bit view of its bytes (null if not 4-byte aligned), and
// the prepared key it matched: the usual caller passes the same key object every time, and
// comparing it word by word through the view reads its current bytes (a refilled buffer is
// still noticed) at a quarter of the byte loop's cost.
let lastRef: Uint8Array | null = null;
let lastWords: Uint32Array | null = null;
let lastMk: MacKey | null = null;
let lastMkWords: Uint32Array | null = null;

function sameAsLast(key: Uint8Array, mk: MacKey, w: Uint32Array, c: Uint32Array): boolean {
  const k = mk.key;
  if (key.length !== k.length || w.length !== c.length) return false;
  for (let i = 0; i < w.length; i++) if (w[i] !== c[i]) return false;
  for (let i = w.length * 4; i < k.length; i++) if (key[i] !== k[i]) return false;
  return true;
}

/** The prepared form of `key` (a small cache: the padded blocks are computed once per key). */
export function macKey(key: Uint8Array): MacKey {
  if (key === lastRef && lastWords !== null && sameAsLast(key, lastMk as MacKey, lastWords, lastMkWords as Uint32Array)) return lastMk as MacKey;
  const mk = lookupKey(key);
  lastRef = key;
  lastMk = mk;
  lastWords = key.byteOffset % 4 === 0 ? new Uint32Array(key.buffer, key.byteOffset, key.length >>> 2) : null;
  lastMkWords = new Uint32Array(mk.key.buffer, mk.key.byteOffset, mk.key.length >>> 2);
  return mk;
}

function lookupKey(key: Uint8Array): MacKey {
  // Compare contents, not identity: a caller may reuse (and refill) its key buffer.
  for (let i = 0; i < cache.length; i++) if (sameBytes(cache[i].key, key)) return cache[i];
  const k0 = Buffer.alloc(64);
  if (key.length > 64) k0.set(crypto.createHash('sha256').update(key).digest(), 0);
  else k0.set(key, 0);
  const ipad = Buffer.allocUnsafe(64);
  const outer = Buffer.allocUnsafe(64 + TAG);
  for (let i = 0; i < 64; i++) {
    ipad[i] = k0[i] ^ 0x36;
    outer[i] = k0[i] ^ 0x5c;
  }
  const mk: MacKey = { key: Uint8Array.from(key), ipad, outer };
  cache.unshift(mk);
  if (cache.length > CACHE_MAX) cache.length = CACHE_MAX;
  return mk;
}

/** Largest frame verified through the scratch copy; larger ones go through createHmac. */
const SCRATCH_MAX = 4096;
// Room for the pad, a frame and its tag (a whole frame is copied in, see macFrame).
const scratch = Buffer.allocUnsafe(MAC_PREFIX + SCRATCH_MAX + TAG);

/**
 * Views `buf[0, len)` of one working buffer, by length: frames of one application come in a few
 * sizes, and creating a Buffer view costs more than the lookup. One cache per buffer (the
 * decoder's scratch, the encoder's output buffer), so alternating encode and decode never thrash.
 */
class PrefixViews {
  private buf: Buffer | null = null;
  private readonly views = new Map<number, Buffer>();

  get(buf: Buffer, len: number): Buffer {
    if (buf !== this.buf) {
      this.buf = buf;
      this.views.clear();
    }
    let v = this.views.get(len);
    if (v === undefined) {
      if (this.views.size >= 256) this.views.clear();
      v = buf.subarray(0, len);
      this.views.set(len, v);
    }
    return v;
  }
}

const scratchViews = new PrefixViews();
const outViews = new PrefixViews();

/**
 * HMAC of `buf[at + MAC_PREFIX, at + MAC_PREFIX + n)`, where `buf[at, at + MAC_PREFIX)` is free:
 * the inner pad is written there. The buffer must be private to the caller (the pad is derived
 * from the key). Returns the tag as a 32-character latin1 string.
 */
export function macPrefixed(k: MacKey, buf: Buffer, at: number, n: number): string {
  if (oneShot === null) return crypto.createHmac('sha256', k.key).update(buf.subarray(at + MAC_PREFIX, at + MAC_PREFIX + n)).digest('binary');
  return hmacPadded(k, buf, at, n, buf === scratch ? scratchViews : outViews);
}

function hmacPadded(k: MacKey, buf: Buffer, at: number, n: number, views: PrefixViews): string {
  buf.set(k.ipad, at);
  // Cached views only of small buffers (a cache entry keeps its buffer alive until the next call).
  const input = at === 0 && buf.length <= 65536 ? views.get(buf, MAC_PREFIX + n) : buf.subarray(at, at + MAC_PREFIX + n);
  const inner = (oneShot as HashFn)('sha256', input, 'latin1');
  putTag(k.outer, 64, inner);
  return (oneShot as HashFn)('sha256', k.outer, 'latin1');
}

/** HMAC of `data` (any length), as a 32-character latin1 string. */
export function mac(k: MacKey, data: Uint8Array): string {
  if (oneShot === null || data.length > SCRATCH_MAX) return crypto.createHmac('sha256', k.key).update(data).digest('binary');
  scratch.set(data, MAC_PREFIX);
  return hmacPadded(k, scratch, 0, data.length, scratchViews);
}

/**
 * HMAC of `frame[0, n)` where the frame's tag follows at n (a received frame): copies the whole
 * frame behind the pad (no view of the signed part needed), or uses createHmac for a large one.
 */
export function macFrame(k: MacKey, frame: Uint8Array, n: number): string {
  if (oneShot === null || n > SCRATCH_MAX) return crypto.createHmac('sha256', k.key).update(frame.subarray(0, n)).digest('binary');
  scratch.set(frame.length <= SCRATCH_MAX + TAG ? frame : frame.subarray(0, n), MAC_PREFIX);
  return hmacPadded(k, scratch, 0, n, scratchViews);
}

/** Write a latin1 tag string as bytes at `buf[at..at+32)` (a JS loop beats Buffer#write's call here). */
export function putTag(buf: Uint8Array, at: number, tag: string): void {
  for (let i = 0; i < TAG; i++) buf[at + i] = tag.charCodeAt(i);
}

/** Constant-time comparison of a computed tag (latin1 string) with 32 received bytes. */
export function tagEquals(tag: string, bytes: Uint8Array, at: number): boolean {
  let diff = tag.length ^ TAG;
  for (let i = 0; i < TAG; i++) diff |= tag.charCodeAt(i) ^ bytes[at + i];
  return diff === 0;
}
