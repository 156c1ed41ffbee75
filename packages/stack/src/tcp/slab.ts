/**
 * A bump allocator for small byte arrays (outgoing frames, received chunks): views carved out
 * of 256 KiB slabs, never reused, so a slab is freed by the GC once its last view dies — the
 * same trade Node's Buffer pool makes. A `new Uint8Array(n)` per segment costs a malloc, zero
 * fill and external-memory bookkeeping each; a view on an existing slab costs almost nothing.
 */
const SLAB = 256 * 1024;
const MAX_POOLED = 16 * 1024;

let slab = new ArrayBuffer(SLAB);
let used = 0;

// TSO super-segments and GRO chunks (up to 64 KiB) come from 1 MiB slabs the same way: one
// allocation per ~16 frames instead of a malloc + zero fill + external-memory update per frame.
const BIG_SLAB = 1 << 20;
const MAX_BIG = 128 * 1024;
let bigSlab: ArrayBuffer | null = null;
let bigUsed = 0;

/** A zero-filled Uint8Array of `n` bytes (a view into a shared slab when small). */
export function allocBytes(n: number): Uint8Array {
  if (n > MAX_POOLED) {
    if (n > MAX_BIG) return new Uint8Array(n);
    if (bigSlab === null || bigUsed + n > BIG_SLAB) {
      bigSlab = new ArrayBuffer(BIG_SLAB);
      bigUsed = 0;
    }
    const b = new Uint8Array(bigSlab, bigUsed, n);
    bigUsed += (n + 7) & ~7;
    return b;
  }
  if (used + n > SLAB) {
    slab = new ArrayBuffer(SLAB);
    used = 0;
  }
  const v = new Uint8Array(slab, used, n);
  used += (n + 7) & ~7;
  return v;
}

/** A copy of `src[start..end)` in pooled memory. */
export function copyBytes(src: Uint8Array, start: number, end: number): Uint8Array {
  const v = allocBytes(end - start);
  v.set(src.subarray(start, end));
  return v;
}
