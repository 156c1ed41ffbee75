/**
 * netsim: 64 MiB in each direction at once between two stacks, SHA-256 checked, on links
 * without loss: clean, with duplication, with a 50 ms one-way delay. Fixed seeds.
 * The duration must stay within a small factor of one window per RTT; progress must never
 * pause for more than a few RTTs.
 */
import { describe, it, expect } from 'vitest';
import { pair, bidirectionalTransfer, windowLimitedMs, summary, MiB } from './tcp-netsim-harness.js';

const BYTES = 64 * MiB;

describe('netsim: 64 MiB both ways, lossless links', () => {
  it('clean link (5 ms one-way delay)', async () => {
    const p = pair({ delayMs: 5, seed: 101 });
    const r = await bidirectionalTransfer(p, { bytes: BYTES });
    const allowed = windowLimitedMs(BYTES, 10);
    console.log(summary('clean', r, allowed));
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.up.hashOk).toBe(true);
    expect(r.down.hashOk).toBe(true);
    expect(r.duration).toBeLessThanOrEqual(3 * allowed);
    expect(Math.max(r.up.maxGap, r.down.maxGap)).toBeLessThanOrEqual(5 * 10);
    const tcp = (p.a.stats() as { tcp: { retransSegs: number } }).tcp;
    expect(tcp.retransSegs).toBe(0);
  });

  it('duplication (2% of frames twice)', async () => {
    const p = pair({ delayMs: 5, duplicate: 0.02, seed: 102 });
    const r = await bidirectionalTransfer(p, { bytes: BYTES });
    const allowed = windowLimitedMs(BYTES, 10);
    console.log(summary('duplicate 2%', r, allowed));
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.up.hashOk && r.down.hashOk).toBe(true);
    expect(r.duration).toBeLessThanOrEqual(3 * allowed);
    expect(Math.max(r.up.maxGap, r.down.maxGap)).toBeLessThanOrEqual(5 * 10);
    const dup = Object.values(p.net.stats()).reduce((n, s) => n + s.duplicated, 0);
    expect(dup).toBeGreaterThan(1000);
  });

  it('50 ms one-way delay (100 ms RTT)', async () => {
    const p = pair({ delayMs: 50, seed: 103 });
    const r = await bidirectionalTransfer(p, { bytes: BYTES });
    const allowed = windowLimitedMs(BYTES, 100);
    console.log(summary('delay 50 ms', r, allowed));
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.up.hashOk && r.down.hashOk).toBe(true);
    expect(r.duration).toBeLessThanOrEqual(3 * allowed);
    // It cannot be faster than the window allows either (the delay is real).
    expect(r.duration).toBeGreaterThanOrEqual((BYTES / (8 * MiB)) * 100);
    expect(Math.max(r.up.maxGap, r.down.maxGap)).toBeLessThanOrEqual(3 * 100);
    expect(r.clientInfo?.srtt as number).toBeGreaterThanOrEqual(100);
  });
});
