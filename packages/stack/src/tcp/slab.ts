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

// Frames given back by links that copy them out in send() (releaseFrame), by exact length, for
// the frame sizes a bulk transfer repeats (full segments, pure ACKs). Reusing warm memory saves
// the page faults of fresh slabs and the garbage; bounded per length.
// A recycled view keeps its slab alive, so the lists stay short (at most 256 frames in all,
// normally from the last few slabs).
const RECYCLE_MAX_LEN = 2048;
const RECYCLE_PER_LEN = 64;
const RECYCLE_TOTAL = 256;
const recycled: (Uint8Array[] | undefined)[] = [];
let recycledCount = 0;

/**
 * Give a frame's memory back for reuse by the next frame of the same length. Only the owner may
 * call it: a link, after it has copied the frame out in `send()` (the Link contract passes
 * ownership to the link; nobody else touches a sent frame).
 */
export function releaseFrame(frame: Uint8Array): void {
  const n = frame.length;
  if (n > RECYCLE_MAX_LEN || n === 0) return;
  let list = recycled[n];
  if (list === undefined) list = recycled[n] = [];
  // The same frame given back twice would be handed out twice: refuse the obvious repeat.
  if (list.length > 0 && list[list.length - 1] === frame) return;
  if (list.length < RECYCLE_PER_LEN && recycledCount < RECYCLE_TOTAL) {
    list.push(frame);
    recycledCount++;
  }
}

/** A zero-filled Uint8Array of `n` bytes (a view into a shared slab when small). */
export function allocBytes(n: number): Uint8Array {
  if (n <= RECYCLE_MAX_LEN) {
    const list = recycled[n];
    if (list !== undefined && list.length > 0) {
      recycledCount--;
      return list.pop()!.fill(0);
    }
  }
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
