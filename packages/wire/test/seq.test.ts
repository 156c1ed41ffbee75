import { describe, expect, it } from 'vitest';
import { inWindow, seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin, seqSub } from '../src/seq.js';
import { randInt, rng } from './helpers.js';

const MAX = 0xffffffff;

describe('sequence arithmetic (RFC 9293 §3.4)', () => {
  it('seqAdd wraps modulo 2^32 and stays unsigned', () => {
    expect(seqAdd(MAX, 1)).toBe(0);
    expect(seqAdd(MAX - 9, 20)).toBe(10);
    expect(seqAdd(5, -10)).toBe(MAX - 4);
    expect(seqAdd(0x7fffffff, 1)).toBe(0x80000000);
  });

  it('seqSub is the signed distance across the wrap point', () => {
    expect(seqSub(10, MAX - 9)).toBe(20);
    expect(seqSub(MAX - 9, 10)).toBe(-20);
    expect(seqSub(7, 7)).toBe(0);
    expect(seqSub(0x80000000, 0)).toBe(-0x80000000);
  });

  it('comparisons around the wrap point', () => {
    const a = MAX - 5;
    const b = 4; // 10 after a
    expect(seqLt(a, b)).toBe(true);
    expect(seqLe(a, b)).toBe(true);
    expect(seqGt(a, b)).toBe(false);
    expect(seqGe(a, b)).toBe(false);
    expect(seqGt(b, a)).toBe(true);
    expect(seqLe(a, a)).toBe(true);
    expect(seqGe(a, a)).toBe(true);
    expect(seqLt(a, a)).toBe(false);
    expect(seqGt(a, a)).toBe(false);
    // raw < would say the opposite
    expect(a < b).toBe(false);
  });

  it('seqMax / seqMin pick by modular order and return unsigned', () => {
    expect(seqMax(MAX, 3)).toBe(3);
    expect(seqMin(MAX, 3)).toBe(MAX);
    expect(seqMax(100, 200)).toBe(200);
    expect(seqMin(100, 200)).toBe(100);
  });

  it('inWindow: start <= x < start + len modulo 2^32', () => {
    const s = MAX - 99;
    expect(inWindow(s, s, 200)).toBe(true);
    expect(inWindow(MAX, s, 200)).toBe(true);
    expect(inWindow(0, s, 200)).toBe(true);
    expect(inWindow(99, s, 200)).toBe(true);
    expect(inWindow(100, s, 200)).toBe(false); // s + 200 == 100: excluded
    expect(inWindow(s - 1, s, 200)).toBe(false);
    expect(inWindow(s, s, 0)).toBe(false); // empty window
  });

  it('agrees with BigInt modular arithmetic on random pairs (seeded)', () => {
    const r = rng(9293);
    for (let i = 0; i < 5000; i++) {
      const a = randInt(r, 2 ** 32);
      const d = randInt(r, 2 ** 31) * (r() < 0.5 ? -1 : 1);
      const b = seqAdd(a, d);
      expect(seqSub(b, a)).toBe(d === -(2 ** 31) ? d : d);
      expect(seqLt(a, b)).toBe(d > 0);
      expect(seqGt(a, b)).toBe(d < 0);
      expect(Number((BigInt(a) + BigInt(d) + 2n ** 32n) % 2n ** 32n)).toBe(b);
    }
  });
});
