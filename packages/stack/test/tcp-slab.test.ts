import { describe, expect, it } from 'vitest';
import { allocBytes, copyBytes, releaseFrame } from '../src/tcp/slab.js';

// releaseFrame: a link that copied a frame out in send() gives its memory back; the next
// allocation of the same length reuses it, zero-filled. Bounded, and never handed out twice.
describe('slab allocator frame recycling', () => {
  it('a released frame is reused by the next allocation of the same length, zero-filled', () => {
    const f = allocBytes(1514);
    f.fill(0xab);
    releaseFrame(f);
    const other = allocBytes(66); // another length does not take it
    expect(other.buffer === f.buffer && other.byteOffset === f.byteOffset).toBe(false);
    const g = allocBytes(1514);
    expect(g.buffer).toBe(f.buffer);
    expect(g.byteOffset).toBe(f.byteOffset);
    expect(g.every((b) => b === 0)).toBe(true);
    // Taken: the next one is fresh memory.
    const h = allocBytes(1514);
    expect(h.buffer === g.buffer && h.byteOffset === g.byteOffset).toBe(false);
  });

  it('a frame released twice in a row is handed out once', () => {
    const f = allocBytes(1000);
    releaseFrame(f);
    releaseFrame(f);
    const a = allocBytes(1000);
    const b = allocBytes(1000);
    expect(a.byteOffset === f.byteOffset && a.buffer === f.buffer).toBe(true);
    expect(b.byteOffset === f.byteOffset && b.buffer === f.buffer).toBe(false);
  });

  it('bounded: at most 64 frames of one length are kept; large frames are not kept', () => {
    const fs = Array.from({ length: 100 }, () => allocBytes(700));
    for (const f of fs) releaseFrame(f);
    const reused = new Set<Uint8Array>();
    for (let i = 0; i < 100; i++) {
      const a = allocBytes(700);
      const src = fs.find((f) => f.buffer === a.buffer && f.byteOffset === a.byteOffset);
      if (src) reused.add(src);
    }
    expect(reused.size).toBe(64);
    const big = allocBytes(4000);
    releaseFrame(big);
    const big2 = allocBytes(4000);
    expect(big2.buffer === big.buffer && big2.byteOffset === big.byteOffset).toBe(false);
    // copyBytes draws from the same allocator and copies exactly.
    const src = Uint8Array.from([1, 2, 3, 4, 5]);
    expect(Array.from(copyBytes(src, 1, 4))).toEqual([2, 3, 4]);
  });
});
