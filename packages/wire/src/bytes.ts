/**
 * Big-endian field access on plain Uint8Arrays with explicit byte operations: no DataView, no
 * allocation. Callers are responsible for bounds (views check lengths once in `check()`).
 */

/** Read an unsigned 16-bit big-endian value at `off`. */
export function readU16(buf: Uint8Array, off: number): number {
  return (buf[off] << 8) | buf[off + 1];
}

/** Read an unsigned 32-bit big-endian value at `off` (result is `>>> 0`). */
export function readU32(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** Write `v & 0xffff` big-endian at `off`. */
export function writeU16(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 8) & 0xff;
  buf[off + 1] = v & 0xff;
}

/** Write `v >>> 0` big-endian at `off`. */
export function writeU32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = (v >>> 24) & 0xff;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** Throw a RangeError unless `buf[off .. off+len)` lies inside `buf` (emit-side misuse only). */
export function ensureRoom(buf: Uint8Array, off: number, len: number, what: string): void {
  if (!Number.isInteger(off) || off < 0 || off + len > buf.length) {
    throw new RangeError(`${what}: need ${len} bytes at offset ${off}, buffer has ${buf.length}`);
  }
}

/** Copy `src` to `dst[off..]` unless it already is exactly there (same memory): zero-copy emit. */
export function copyInto(dst: Uint8Array, off: number, src: Uint8Array): void {
  if (src.length === 0) return;
  if (src.buffer === dst.buffer && src.byteOffset === dst.byteOffset + off) return;
  dst.set(src, off);
}
