/**
 * Checkpoint → crash → restore on a fresh stack with the same MAC/IP (seed 003; issue 5):
 * transfers in each direction finish with the same SHA-256, in full and object-mapped modes.
 */
import { describe, it, expect } from 'vitest';
import { runScenario } from './checkpoint-harness.js';

describe('checkpoint restore: ESTABLISHED transfers', () => {
  it('download, full mode', async () => {
    const r = await runScenario({ down: 1 << 20, up: 0, mode: 'full', clientEndsEarly: false, sendBufferSize: 128 << 10, when: (s) => s.clientGot > 300_000 });
    expect(r.stateAtCheckpoint).toBe('ESTABLISHED');
    expect(r.errors).toEqual([]);
    expect(r.readyAt).toBeGreaterThan(0);
    expect(r.downOk).toBe(true);
    expect(r.upOk).toBe(true);
    expect(r.cp.tcp.sendRanges.length).toBeGreaterThan(0);
  });
});
