/**
 * The failover demo's rare real-clock hang, made deterministic: B's first gratuitous ARP after
 * the takeover is lost. The client then kept sending to the crashed node's MAC, the restored
 * connection's solicitation was never answered, it timed out after readyTimeout (restored 1,
 * resumed 0, restoreErrors 0) and the client waited forever (its RST from the restore's sequence
 * space is outside the client's window). manageAddresses now repeats the announcement.
 */
import { describe, expect, it } from 'vitest';
import { createHttpFileServer, generateRange } from '../../../examples/ha-http-server/src/index.js';
import { FailoverLab, type ScenarioDeps } from '../../../examples/failover-demo/src/scenario.js';

const deps = { createHttpFileServer, generateRange } as unknown as ScenarioDeps;
const MiB = 1024 * 1024;

describe('takeover with a lost gratuitous ARP', () => {
  it('the repeated announcement reaches the client: the download resumes and completes intact', async () => {
    const lab = await FailoverLab.create(deps, { seed: 5, wallMs: 40_000 });
    try {
      expect(await lab.until(() => lab.hasVip('A'), 5000)).toBe(true);
      const b = lab.node('B');
      // Lose B's first ARP frame after the crash (the takeover's announcement).
      const link = b.link as unknown as { send: (f: Uint8Array, m?: unknown) => boolean };
      const send = link.send.bind(link);
      let loseArp = 0;
      let lost = 0;
      link.send = (f: Uint8Array, m?: unknown) => {
        if (loseArp > 0 && f[12] === 0x08 && f[13] === 0x06) {
          loseArp--;
          lost++;
          return true;
        }
        return send(f, m);
      };
      const errors: string[] = [];
      b.ha.on('connection-error', (_k: string, e: { code?: string }) => errors.push(e.code ?? 'error'));
      let crashed = false;
      const d = lab.download(3 * MiB, 5, (_n, total) => {
        if (!crashed && total >= 1 * MiB) {
          crashed = true;
          loseArp = 1;
          lab.crash('A');
        }
      });
      await lab.until(() => d.done, 30_000);
      expect(lost).toBe(1);
      expect(errors).toEqual([]);
      expect(b.ha.stats).toMatchObject({ restored: 1, resumed: 1, restoreErrors: 0 });
      expect(d.done).toBe(true);
      expect(d.res.error).toBeNull();
      expect(d.res.ok).toBe(true);
    } finally {
      lab.close();
    }
  });
});
