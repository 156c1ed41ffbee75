import { describe, expect, it } from 'vitest';
import { checksum, checksumImplementation, checksumPartial, checksumPartialJs, foldSum } from '../src/checksum.js';
import { WASM_PIECE, checksumModuleBytes, loadChecksumKernel } from '../src/checksum-wasm.js';
import { randBytes, randInt, refChecksum, rng } from './helpers.js';

// The WebAssembly SIMD kernel must give the same folded sums as the JS loop for every length,
// start offset (odd ones included), initial sum and content; Node 20 has WebAssembly SIMD, so on
// this runtime the fast path must really be the one in use.
describe('internet checksum, WebAssembly SIMD kernel', () => {
  it('is the implementation in use on Node 20 (WebAssembly SIMD available)', () => {
    expect(checksumImplementation).toBe('wasm-simd');
    const k = loadChecksumKernel();
    expect(k).not.toBeNull();
    expect(WebAssembly.validate(checksumModuleBytes())).toBe(true);
  });

  it('kernel: RFC 1071 §3 example words, and the folded sum of 0xff bytes is 0xffff, not 0', () => {
    const k = loadChecksumKernel()!;
    k.mem.set([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7], 0);
    const r = k.sum(8);
    // little-endian words summed: the result is byte-swapped.
    expect(((r & 0xff) << 8) | (r >>> 8)).toBe(0xddf2);
    k.mem.fill(0xff, 0, 4096);
    expect(k.sum(4096)).toBe(0xffff);
    k.mem.fill(0, 0, 4096);
    expect(k.sum(4096)).toBe(0);
    // The padding store zeroes the byte after an odd length even if memory held garbage there.
    k.mem.fill(0xab, 0, 64);
    expect(k.sum(33)).toBe(foldSwap(refChecksum(k.mem.slice(0, 33))));
  });

  it('fuzz: 4000 random ranges (lengths 0..70000, odd starts, odd ends, random initial sums) fold like the JS loop and the reference', () => {
    const r = rng(0xc5c5);
    const big = randBytes(r, 200_000);
    for (let iter = 0; iter < 4000; iter++) {
      const len = iter % 10 === 0 ? randInt(r, 70_000) : iter % 3 === 0 ? 250 + randInt(r, 20) : randInt(r, 3000);
      const start = randInt(r, big.length - len);
      const initial = randInt(r, 4) === 0 ? 0 : randInt(r, 0x7fffffff);
      const w = checksumPartial(big, start, start + len, initial);
      const j = checksumPartialJs(big, start, start + len, initial);
      expect(foldSum(w)).toBe(foldSum(j));
      if (len < 5000) expect(foldSum(w)).toBe(refChecksum(big.subarray(start, start + len), initial) ^ 0xffff);
    }
  });

  it('edge contents: all zero, all 0xff, a sum that is a multiple of 0xffff, lengths around the piece size', () => {
    for (const len of [255, 256, 257, 1500, 1501, WASM_PIECE - 1, WASM_PIECE, WASM_PIECE + 1, 3 * WASM_PIECE + 7]) {
      for (const fill of [0x00, 0xff, 0x5a]) {
        const b = new Uint8Array(len + 3).fill(fill);
        expect(foldSum(checksumPartial(b, 1, len + 1))).toBe(foldSum(checksumPartialJs(b, 1, len + 1)));
        // The whole view (the path without a subarray).
        const whole = b.subarray(1, len + 1);
        expect(foldSum(checksumPartial(whole))).toBe(foldSum(checksumPartialJs(whole)));
        expect(checksum(b, 1, len + 1, 17)).toBe(checksum(b.slice(1, len + 1), 0, len, 17));
      }
    }
    // Words 0x8000, 0x7fff repeated: every pair sums to exactly 0xffff, so the total is a non-zero
    // multiple of 0xffff; the fold must be 0xffff (not 0) on both paths.
    const m = new Uint8Array(512);
    for (let i = 0; i < 512; i += 4) { m[i] = 0x80; m[i + 1] = 0x00; m[i + 2] = 0x7f; m[i + 3] = 0xff; }
    expect(foldSum(checksumPartial(m))).toBe(0xffff);
    expect(foldSum(checksumPartialJs(m))).toBe(0xffff);
    expect(foldSum(checksumPartial(new Uint8Array(1024)))).toBe(0);
  });

  it('chaining even-length pieces gives the sum of the whole, as the contract says', () => {
    const r = rng(77);
    const b = randBytes(r, 9001);
    const whole = foldSum(checksumPartial(b));
    const chained = foldSum(checksumPartial(b, 4000, 9001, checksumPartial(b, 300, 4000, checksumPartial(b, 0, 300))));
    expect(chained).toBe(whole);
    expect(foldSum(checksumPartial(b, 0, 4000) + checksumPartial(b, 4000, 9001))).toBe(whole);
  });
});

function foldSwap(ref: number): number {
  // refChecksum returns the complemented checksum; undo it, then the kernel's byte order.
  const s = ref ^ 0xffff;
  return ((s & 0xff) << 8) | (s >>> 8);
}
