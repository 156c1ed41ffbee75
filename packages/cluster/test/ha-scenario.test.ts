/**
 * End to end over a MemoryNetwork with a VirtualClock: a client downloads from the virtual IP
 * served by node A's HA HTTP server; A crashes mid-transfer (stack.crash(): silent); B detects it,
 * claims the address, restores the replicated checkpoint, resumes the response; the download
 * completes with the right SHA-256 (computed from the generator, not the network).
 */
import { describe, expect, it } from 'vitest';
import { createHttpFileServer, generateRange } from '../../../examples/ha-http-server/src/index.js';
import { runFailover, type ScenarioDeps } from '../../../examples/failover-demo/src/scenario.js';

const deps = { createHttpFileServer, generateRange } as unknown as ScenarioDeps;

describe('HaNode takeover mid-download (memory, virtual clock)', () => {
  it('object-mapped checkpoints: the download completes intact across a crash of the primary', async () => {
    const r = await runFailover(deps, { size: 8 * 1024 * 1024, seed: 7 });
    expect(r.crashed).toBe(true);
    expect(r.takeover).toMatchObject({ restored: 1, resumed: 1, restoreErrors: 0 });
    // Default cluster timing (50 ms × 4 missed beats): detection ≈ 200 ms, then restore + resume.
    expect(r.takeover.detectedMs).toBeGreaterThanOrEqual(150);
    expect(r.takeover.detectedMs).toBeLessThanOrEqual(260);
    expect(r.stallMs).not.toBeNull();
    expect(r.stallMs!).toBeLessThan(400);
    expect(r.downloads[0].error).toBeNull();
    expect(r.ok).toBe(true);
  });
});
