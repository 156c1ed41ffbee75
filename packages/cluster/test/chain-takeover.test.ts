/**
 * Two takeovers in a row (A → B → C, object-mapped checkpoints): the connection B restored and
 * resumed is checkpointed again by B, and C restores that checkpoint after B crashes too.
 */
import { describe, expect, it } from 'vitest';
import { createHttpFileServer, generateRange } from '../../../examples/ha-http-server/src/index.js';
import { FailoverLab, type ScenarioDeps } from '../../../examples/failover-demo/src/scenario.js';

const deps = { createHttpFileServer, generateRange } as unknown as ScenarioDeps;
const MiB = 1024 * 1024;

describe('HaNode: a restored connection is checkpointed again and survives a second takeover', () => {
  for (const seed of [31, 32, 33]) {
    it(`seed ${seed}: A → B → C, download intact, no refused re-checkpoint`, async () => {
      const lab = await FailoverLab.create(deps, {
        seed,
        wallMs: 40_000,
        nodes: [
          { id: 'A', host: 1, home: true, successors: ['B', 'C'], failback: 'none' },
          { id: 'B', host: 2, successors: ['C', 'A'], failback: 'none' },
          { id: 'C', host: 3, successors: ['B', 'A'], failback: 'none' },
        ],
      });
      try {
        expect(await lab.until(() => lab.hasVip('A'), 5000)).toBe(true);
        const warnings: unknown[] = [];
        for (const id of ['B', 'C']) lab.node(id).ha.on('warning', (e: unknown) => warnings.push(e));
        let phase = 0;
        const d = lab.download(3 * MiB, seed, (_n, total) => {
          if (phase === 0 && total >= 0.8 * MiB) {
            phase = 1;
            lab.crash('A');
          } else if (phase === 1 && total >= 2 * MiB) {
            phase = 2;
            lab.crash('B');
          }
        });
        await lab.until(() => d.done, 60_000);
        const b = lab.node('B').ha.stats;
        const c = lab.node('C').ha.stats;
        expect(phase).toBe(2);
        expect(b.resumed).toBe(1);
        expect(b.checkpointErrors).toBe(0);
        expect(warnings).toEqual([]);
        expect(c.restored).toBe(1);
        expect(c.resumed).toBe(1);
        expect(c.restoreErrors).toBe(0);
        expect(d.res.error).toBeNull();
        expect(d.res.ok).toBe(true);
      } finally {
        lab.close();
      }
    });
  }
});
