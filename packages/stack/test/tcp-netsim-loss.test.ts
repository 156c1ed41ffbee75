/**
 * netsim: 64 MiB in each direction at once under random loss (1% and 5%, both directions, data
 * and ACKs alike), SHA-256 checked, fixed seeds. The duration must stay within a small factor of
 * what the loss rate allows (the Mathis bound, MSS/RTT · 1.22/√p) and progress must never stop
 * for longer than a few RTOs (RTO ≥ 200 ms; a few backoffs ≈ 3 s).
 */
import { describe, it, expect } from 'vitest';
import { pair, bidirectionalTransfer, allowedMs, summary, MiB } from './tcp-netsim-harness.js';

const BYTES = 64 * MiB;
const RTT = 10;

describe('netsim: 64 MiB both ways under loss', () => {
  for (const [loss, seed] of [
    [0.01, 201],
    [0.05, 202],
  ] as const) {
    it(`${loss * 100}% loss`, async () => {
      const p = pair({ delayMs: RTT / 2, loss, seed });
      const r = await bidirectionalTransfer(p, { bytes: BYTES, maxMs: 1_200_000 });
      const allowed = allowedMs(BYTES, RTT, loss);
      console.log(summary(`loss ${loss * 100}%`, r, allowed));
      expect(r.errors).toEqual([]);
      expect(r.ok).toBe(true);
      expect(r.up.hashOk).toBe(true);
      expect(r.down.hashOk).toBe(true);
      expect(r.duration).toBeLessThanOrEqual(3 * allowed);
      expect(Math.max(r.up.maxGap, r.down.maxGap)).toBeLessThanOrEqual(3000);
      const tcp = (p.a.stats() as { tcp: { retransSegs: number; retransmits: { rto: number; fast: number; sack: number } } }).tcp;
      console.log(`  retransmits ${JSON.stringify(tcp.retransmits)}`);
      expect(tcp.retransSegs).toBeGreaterThan(0);
      // SACK recovery repairs most losses; retransmission timeouts are the exception.
      expect(tcp.retransmits.sack + tcp.retransmits.fast).toBeGreaterThan(10 * tcp.retransmits.rto);
    });
  }

  it('per-socket options: NewReno without SACK, 16 MiB under 1% loss', async () => {
    const p = pair({ delayMs: RTT / 2, loss: 0.01, seed: 203 });
    const bytes = 16 * MiB;
    const r = await bidirectionalTransfer(p, { bytes, maxMs: 600_000, socketOptions: { congestionControl: 'newreno', sack: false } });
    const allowed = allowedMs(bytes, RTT, 0.01);
    console.log(summary('newreno, no SACK, loss 1%', r, allowed));
    expect(r.clientInfo).toMatchObject({ cc: 'newreno', sackOk: false });
    expect(r.serverInfo).toMatchObject({ cc: 'newreno', sackOk: false });
    expect(r.ok).toBe(true);
    expect(r.up.hashOk && r.down.hashOk).toBe(true);
    expect(r.duration).toBeLessThanOrEqual(3 * allowed);
    expect(Math.max(r.up.maxGap, r.down.maxGap)).toBeLessThanOrEqual(3000);
    const tcp = (p.a.stats() as { tcp: { retransmits: { rto: number; fast: number; sack: number } } }).tcp;
    expect(tcp.retransmits.sack).toBe(0);
    expect(tcp.retransmits.fast).toBeGreaterThan(0);
  });
});
