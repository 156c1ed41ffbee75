/**
 * netsim: 64 MiB in each direction at once with reordering, and on a link combining loss,
 * duplication, reordering and delay. SHA-256 checked, fixed seeds. Spurious fast retransmits
 * count against the sender like losses, so the bound is Mathis' with p = the reorder rate.
 */
import { describe, it, expect } from 'vitest';
import { pair, bidirectionalTransfer, allowedMs, summary, MiB } from './tcp-netsim-harness.js';

const BYTES = 64 * MiB;

describe('netsim: 64 MiB both ways, reordering and a combined bad link', () => {
  it('reordering (2% of frames held back 5 ms)', async () => {
    const p = pair({ delayMs: 5, reorder: 0.02, seed: 301 });
    const r = await bidirectionalTransfer(p, { bytes: BYTES });
    const allowed = allowedMs(BYTES, 10, 0.02);
    console.log(summary('reorder 2%', r, allowed));
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.up.hashOk && r.down.hashOk).toBe(true);
    expect(r.duration).toBeLessThanOrEqual(3 * allowed);
    expect(Math.max(r.up.maxGap, r.down.maxGap)).toBeLessThanOrEqual(1000);
    const reordered = Object.values(p.net.stats()).reduce((n, s) => n + s.reordered, 0);
    expect(reordered).toBeGreaterThan(1000);
  });

  it('combined: 1% loss, 1% duplication, 1% reordering, 20 ms delay', async () => {
    const p = pair({ delayMs: 20, loss: 0.01, duplicate: 0.01, reorder: 0.01, seed: 302 });
    const r = await bidirectionalTransfer(p, { bytes: BYTES, maxMs: 1_200_000 });
    const allowed = allowedMs(BYTES, 40, 0.02);
    console.log(summary('combined', r, allowed));
    expect(r.errors).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.up.hashOk && r.down.hashOk).toBe(true);
    expect(r.duration).toBeLessThanOrEqual(3 * allowed);
    expect(Math.max(r.up.maxGap, r.down.maxGap)).toBeLessThanOrEqual(3000);
  });
});
