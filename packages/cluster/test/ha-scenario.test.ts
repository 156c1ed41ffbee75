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
    const r = await runFailover(deps, { size: 8 * 1024 * 1024, seed: 7, log: (l) => console.log(l) });
    console.log(JSON.stringify({ ...r, downloads: r.downloads.map((d) => ({ ...d })) }, null, 1));
    expect(r.crashed).toBe(true);
    expect(r.downloads[0].error).toBeNull();
    expect(r.ok).toBe(true);
  });
});
