/**
 * Failback 'drain' end to end (seed 001 claim 5; seed 000 claims 10, 14), in memory on a
 * VirtualClock: A (home of the virtual IP) crashes mid-download, B takes over and serves it; A
 * returns with failback 'drain' and takes the address back by gratuitous ARP. The download B
 * serves stays on B to its end — A forwards its client's segments to B's MAC (direct server
 * return), B keeps the address ARP-silent and replies straight to the client — while a new
 * connection goes to A. Then B removes the address.
 */
import { describe, expect, it } from 'vitest';
import type { TakeoverAction } from '@hastack/cluster';
import { createHttpFileServer, generateRange } from '../../../examples/ha-http-server/src/index.js';
import { FailoverLab, VIP, downloadResult, type Download, type ScenarioDeps } from '../../../examples/failover-demo/src/scenario.js';

const deps = { createHttpFileServer, generateRange } as unknown as ScenarioDeps;
const MiB = 1024 * 1024;

async function finish(lab: FailoverLab, dls: Download[], maxMs = 120_000) {
  await lab.until(() => dls.every((d) => d.done), maxMs);
  return dls.map(downloadResult);
}

/**
 * A (home, failback `failback`) and B: a `size` download from the virtual IP; A crashes once 2 MiB
 * have arrived, B resumes the download, and 4 MiB have arrived. The caller restarts A.
 */
async function crashedOverToB(failback: 'drain' | 'migrate', seed: number, size: number) {
  const lab = await FailoverLab.create(deps, {
    seed,
    nodes: [
      { id: 'A', host: 1, home: true, successors: ['B'], failback },
      { id: 'B', host: 2, successors: ['A'], failback: 'none' },
    ],
  });
  try {
    expect(await lab.until(() => lab.hasVip('A'), 5000)).toBe(true);
    let crashed = false;
    const d1 = lab.download(size, seed, (_n, total) => {
      if (!crashed && total >= 2 * MiB) {
        crashed = true;
        lab.crash('A');
      }
    });
    const b = lab.node('B');
    expect(await lab.until(() => b.ha.stats.resumed === 1, 5000)).toBe(true);
    expect(await lab.until(() => d1.bodyBytes >= 4 * MiB, 5000)).toBe(true);
    return { lab, d1, b };
  } catch (e) {
    lab.close();
    throw e;
  }
}

describe("HaNode: failback 'drain'", () => {
  it('the old download finishes on the successor through forwarding, a new one goes to the returning node, then the address leaves B', async () => {
    const { lab, d1, b } = await crashedOverToB('drain', 61, 16 * MiB);
    try {
      const bAccepted = b.ha.stats.accepted;
      const drainedOnB: string[] = [];
      b.ha.on('drained', (ip: string, removed: boolean) => removed && drainedOnB.push(ip));

      // A returns: it asks B for the address back, B keeps the download (drain).
      const a2 = await lab.restart('A');
      const takeovers: TakeoverAction[] = [];
      a2.cluster.on('takeover', (t: TakeoverAction) => takeovers.push(t));
      expect(await lab.until(() => takeovers.some((t) => t.reason === 'failback'), 5000)).toBe(true);
      const fb = takeovers.find((t) => t.reason === 'failback')!;
      expect(fb.checkpoints).toHaveLength(0);
      expect(fb.draining).toMatchObject({ holder: 'B', mac: b.mac });
      expect(fb.draining!.keys).toHaveLength(1);
      expect(a2.ha.drain.forwarding).toBe(1);
      expect(b.ha.drain.keeping).toBe(1);
      expect(lab.hasVip('A')).toBe(true);
      expect(lab.hasVip('B')).toBe(true); // still configured on B, ARP-silent, until drained
      const atFailback = d1.bodyBytes;
      expect(d1.done).toBe(false);

      // A new connection goes to A, while the old download still runs on B.
      const [r2] = await finish(lab, [lab.download(512 * 1024, 62)]);
      expect(r2.error).toBeNull();
      expect(r2.ok).toBe(true);
      expect(a2.ha.stats.accepted).toBe(1);
      expect(b.ha.stats.accepted).toBe(bAccepted);

      // The old download completes intact, served by B to the end.
      const [r1] = await finish(lab, [d1]);
      expect(r1.error).toBeNull();
      expect(r1.ok).toBe(true); // SHA-256 against the generator
      expect(d1.bodyBytes - atFailback).toBeGreaterThan(4 * MiB);
      expect(b.ha.stats.migratedOut).toBe(0);
      expect(a2.ha.stats.restored).toBe(0);
      // The client's segments of it reached B through A, and nobody reset anything.
      expect(a2.ha.drain.stats.forwarded).toBeGreaterThan(100);
      expect(a2.ha.drain.stats.forwardFailed).toBe(0);
      expect(a2.stack.stats().tcp.outRsts).toBe(0);
      expect(b.stack.stats().tcp.outRsts).toBe(0);
      expect(lab.client.stats().tcp.estabResets).toBe(0);
      // B never answered ARP for the VIP after giving it back, nor accepted anything new on it.
      expect(b.ha.drain.stats.kept).toBe(1);

      // B reports the close: A forgets the entry, B removes the address.
      expect(await lab.until(() => !lab.hasVip('B') && a2.ha.drain.forwarding === 0, 5000)).toBe(true);
      expect(drainedOnB).toEqual([VIP]);
      expect(b.ha.drain.stats.addressesRemoved).toBe(1);
      expect(a2.ha.drain.stats.closed).toBe(1);
      expect(a2.ha.drain.stats.expired).toBe(0);
      expect(b.ha.drain.keeping).toBe(0);
      // Everything keeps working on A alone.
      const [r3] = await finish(lab, [lab.download(256 * 1024, 63)]);
      expect(r3.ok).toBe(true);
      expect(a2.ha.stats.accepted).toBe(2);
    } finally {
      lab.close();
    }
  });

  it('the holder dies while draining: the returning node restores the download from its replica, intact', async () => {
    const { lab, d1, b } = await crashedOverToB('drain', 64, 24 * MiB);
    try {
      const a2 = await lab.restart('A');
      const drained: { orphaned?: unknown[] }[] = [];
      a2.cluster.on('drained', (x: { orphaned?: unknown[] }) => drained.push(x));
      expect(await lab.until(() => a2.ha.drain.forwarding === 1, 5000)).toBe(true);
      // B keeps serving (through A's forwarding) and keeps replicating the connection to A.
      const atFailback = d1.bodyBytes;
      expect(await lab.until(() => d1.bodyBytes >= atFailback + 3 * MiB, 5000)).toBe(true);
      expect(a2.cluster.core.replicaEntries('B').map((r) => r.key)).toEqual(a2.ha.drain.forwardKeys());
      lab.crash('B');
      const [r1] = await finish(lab, [d1]);
      expect(r1.error).toBeNull();
      expect(r1.ok).toBe(true); // SHA-256 against the generator
      expect(drained).toHaveLength(1);
      expect(drained[0].orphaned).toHaveLength(1);
      expect(a2.ha.drain.forwarding).toBe(0);
      expect(a2.ha.stats.restored).toBe(1);
      expect(a2.ha.stats.resumed).toBe(1);
      expect(a2.ha.drain.stats.holderGone).toBe(1);
    } finally {
      lab.close();
    }
  });

  it("the 'migrate' twin, for comparison: the download moves back to A by checkpoint, B gives the address up at once, nothing is forwarded", async () => {
    const { lab, d1, b } = await crashedOverToB('migrate', 61, 16 * MiB);
    try {
      const a2 = await lab.restart('A');
      expect(await lab.until(() => a2.ha.stats.resumed === 1, 5000)).toBe(true);
      expect(lab.hasVip('B')).toBe(false); // given up with the connection
      expect(d1.done).toBe(false);
      const [r1] = await finish(lab, [d1]);
      expect(r1.ok).toBe(true);
      expect(b.ha.stats.migratedOut).toBe(1);
      expect(a2.ha.stats.restored).toBe(1);
      expect(a2.ha.drain.stats.forwardEntries).toBe(0);
      expect(b.ha.drain.stats.kept).toBe(0);
    } finally {
      lab.close();
    }
  });
});
