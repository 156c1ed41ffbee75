/**
 * HaNode end to end on a MemoryNetwork with a VirtualClock: two cluster nodes (A home of the
 * virtual IP, B its successor) each run a hastack Stack, a ClusterNode over hastack UDP multicast,
 * the HA HTTP server and an HaNode; a client stack downloads generated objects from the virtual IP
 * and every body is checked against the generator's SHA-256.
 */
import { describe, expect, it } from 'vitest';
import { Stack } from '@hastack/stack';
import { encodeMessage, widenForTakeover, type TakeoverAction } from '@hastack/cluster';
import { createHttpFileServer, generateRange } from '../../../examples/ha-http-server/src/index.js';
import { FailoverLab, KEY, VIP, downloadResult, type Download, type ScenarioDeps } from '../../../examples/failover-demo/src/scenario.js';

const deps = { createHttpFileServer, generateRange } as unknown as ScenarioDeps;
const MiB = 1024 * 1024;

async function up(lab: FailoverLab): Promise<void> {
  expect(await lab.until(() => lab.hasVip('A'), 5000)).toBe(true);
}

/** Run until every download is done; return their results. */
async function finish(lab: FailoverLab, dls: Download[], maxMs = 120_000) {
  await lab.until(() => dls.every((d) => d.done), maxMs);
  return dls.map(downloadResult);
}

describe('HaNode: takeover after a crash', () => {
  it('full checkpoints (payload bytes carried literally): the download completes intact', async () => {
    const lab = await FailoverLab.create(deps, { seed: 21, mode: 'full', wallMs: 40_000 });
    try {
      await up(lab);
      let crashedAt = -1;
      const d = lab.download(1.5 * MiB, 21, (_n, total) => {
        if (crashedAt < 0 && total >= 0.6 * MiB) {
          crashedAt = lab.clock.now();
          lab.crash('A');
        }
      });
      const [r] = await finish(lab, [d]);
      expect(crashedAt).toBeGreaterThan(0);
      expect(r.error).toBeNull();
      expect(r.ok).toBe(true);
      const b = lab.node('B').ha.stats;
      expect(b.restored).toBe(1);
      expect(b.resumed).toBe(1);
      expect(b.restoreErrors).toBe(0);
      expect(lab.hasVip('B')).toBe(true);
    } finally {
      lab.close();
    }
  });

  it('20 concurrent downloads all complete intact across a crash', async () => {
    const lab = await FailoverLab.create(deps, { seed: 22 });
    try {
      await up(lab);
      const dls: Download[] = [];
      let total = 0;
      let crashAt = -1;
      const servedByB = new Set<number>();
      for (let i = 0; i < 20; i++) {
        dls.push(
          lab.download(1 * MiB + i * 4099, 100 + i, (n) => {
            total += n;
            // Bytes well after the crash (past the failure detection) can only come from B.
            if (crashAt >= 0 && lab.clock.now() > crashAt + 100) servedByB.add(i);
            if (total >= 8 * MiB && crashAt < 0) {
              crashAt = lab.clock.now();
              lab.crash('A');
            }
          }),
        );
      }
      const rs = await finish(lab, dls);
      expect(crashAt).toBeGreaterThan(0);
      for (const r of rs) {
        expect(r.error).toBeNull();
        expect(r.ok).toBe(true);
      }
      const b = lab.node('B').ha.stats;
      expect(b.restoreErrors).toBe(0);
      expect(servedByB.size).toBeGreaterThanOrEqual(10);
      // Every download that continued after the crash was restored and resumed on B (a replica of
      // a connection that had just finished on A may be restored and then refused by the client).
      expect(b.resumed).toBeGreaterThanOrEqual(servedByB.size);
      expect(b.restored).toBeGreaterThanOrEqual(b.resumed);
    } finally {
      lab.close();
    }
  });

  it('replicas of closed connections are dropped', async () => {
    const lab = await FailoverLab.create(deps, { seed: 23 });
    try {
      await up(lab);
      const rs = await finish(lab, [lab.download(256 * 1024, 1), lab.download(300 * 1024, 2)]);
      expect(rs.every((r) => r.ok)).toBe(true);
      await lab.runFor(50);
      expect(lab.node('A').ha.stats.checkpoints).toBeGreaterThan(0);
      expect(lab.node('B').cluster.core.replicaEntries('A')).toHaveLength(0);
    } finally {
      lab.close();
    }
  });
});

describe('HaNode: graceful handoff', () => {
  it('leave(): final synchronous checkpoint, successor takes over at once, no loss', async () => {
    const lab = await FailoverLab.create(deps, { seed: 31 });
    try {
      await up(lab);
      const b = lab.node('B');
      const takeovers: TakeoverAction[] = [];
      b.cluster.on('takeover', (a: TakeoverAction) => takeovers.push(a));
      let left: Promise<{ acked: boolean }> | null = null;
      let leftAt = -1;
      const d = lab.download(6 * MiB, 31, (_n, total) => {
        if (!left && total >= 3 * MiB) {
          leftAt = lab.clock.now();
          left = lab.node('A').ha.leave('maintenance');
        }
      });
      const [r] = await finish(lab, [d]);
      expect(r.ok).toBe(true);
      expect(await left!).toEqual({ acked: true });
      expect(takeovers).toHaveLength(1);
      expect(takeovers[0]).toMatchObject({ reason: 'impending-failure', failedNode: 'A', missing: [] });
      expect(takeovers[0].checkpoints.some((c) => c.final)).toBe(true);
      // No failure detection wait: the marker hands over at once (well under the 200 ms of missed beats).
      expect(b.cluster.core.stats.takeovers).toBe(1);
      expect(b.ha.stats.resumed).toBe(1);
      expect(leftAt).toBeGreaterThan(0);
      expect(lab.hasVip('B')).toBe(true);
    } finally {
      lab.close();
    }
  });
});

describe('HaNode: failback', () => {
  it("'migrate': the returning node gets the address and the live connection back by checkpoint", async () => {
    const lab = await FailoverLab.create(deps, {
      seed: 41,
      nodes: [
        { id: 'A', host: 1, home: true, successors: ['B'], failback: 'migrate' },
        { id: 'B', host: 2, successors: ['A'], failback: 'none' },
      ],
    });
    try {
      await up(lab);
      let phase = 0;
      const d = lab.download(12 * MiB, 41, (_n, total) => {
        if (phase === 0 && total >= 2 * MiB) {
          phase = 1;
          lab.crash('A');
        }
      });
      // B takes over and serves the download for a while.
      expect(await lab.until(() => lab.node('B').ha.stats.resumed === 1, 5000)).toBe(true);
      expect(await lab.until(() => d.bodyBytes >= 4 * MiB, 5000)).toBe(true);
      // A comes back (new boot id): it asks for its address back; B migrates the connection.
      const a2 = await lab.restart('A');
      const [r] = await finish(lab, [d]);
      expect(r.error).toBeNull();
      expect(r.ok).toBe(true);
      expect(lab.node('B').ha.stats.migratedOut).toBe(1);
      expect(a2.ha.stats.restored).toBe(1);
      expect(a2.ha.stats.resumed).toBe(1);
      expect(lab.hasVip('A')).toBe(true);
      expect(lab.hasVip('B')).toBe(false);
      // New connections go to A.
      const [r2] = await finish(lab, [lab.download(100 * 1024, 5)]);
      expect(r2.ok).toBe(true);
      expect(a2.ha.stats.accepted).toBeGreaterThanOrEqual(1);
    } finally {
      lab.close();
    }
  });
});

describe('HaNode: safety', () => {
  it('a partition that heals: exactly one owner afterwards, the download survives on the winner', async () => {
    const lab = await FailoverLab.create(deps, { seed: 51 });
    try {
      await up(lab);
      const a = lab.node('A');
      let cut = false;
      const d = lab.download(8 * MiB, 51, (_n, total) => {
        if (!cut && total >= 2 * MiB) {
          cut = true;
          a.link.cut = true; // A's cable is pulled: A keeps running, believes B dead
        }
      });
      expect(await lab.until(() => lab.hasVip('B') && lab.node('B').ha.stats.resumed === 1, 5000)).toBe(true);
      expect(lab.hasVip('A')).toBe(true); // split brain while partitioned
      expect(await lab.until(() => d.bodyBytes >= 5 * MiB, 5000)).toBe(true);
      a.link.cut = false; // heal
      expect(await lab.until(() => !lab.hasVip('A'), 5000)).toBe(true);
      const [r] = await finish(lab, [d]);
      expect(r.error).toBeNull();
      expect(r.ok).toBe(true);
      expect([lab.hasVip('A'), lab.hasVip('B')]).toEqual([false, true]);
      for (const n of [a, lab.node('B')]) expect(n.cluster.core.holdersOf(VIP).map((h) => h.node)).toEqual(['B']);
    } finally {
      lab.close();
    }
  });

  it('forged and replayed cluster messages are dropped: no takeover, the download is untouched', async () => {
    const lab = await FailoverLab.create(deps, { seed: 61 });
    try {
      await up(lab);
      // A rogue host on the segment, in the multicast group: it records real cluster traffic,
      // replays it, and sends CLAIM/IMPENDING_FAILURE signed with a wrong key.
      const rogue = new Stack({ link: lab.net.createPort({ mac: '02:00:00:00:00:66' }), address: '198.18.0.66/24', clock: lab.clock });
      const sock = rogue.createSocket('udp4');
      const seen: Uint8Array[] = [];
      sock.on('message', (m: Uint8Array) => seen.length < 50 && seen.push(Uint8Array.from(m)));
      sock.bind(7777, '0.0.0.0', () => sock.addMembership('239.255.77.77', '198.18.0.66'));
      const wrong = new Uint8Array(32).fill(9);
      const entries = [{ ip: VIP, mac: '02:00:00:00:00:66', ports: [{ from: 1, to: 65535 }], epoch: 99, home: 'A' }];
      let sent = 0;
      const attack = (): void => {
        const forged = [
          encodeMessage(wrong, { nodeId: 'B', bootId: 1, counter: 1000 + sent, epoch: 99 }, { type: 'claim', failed: 'A', reason: 'failure', entries }),
          encodeMessage(wrong, { nodeId: 'A', bootId: 1, counter: 1000 + sent, epoch: 1 }, { type: 'impending-failure', reason: 'forged', final: [] }),
          ...seen.slice(0, 10),
        ];
        for (const f of forged) sock.send(f, 7777, '239.255.77.77');
        sent++;
      };
      let attacked = 0;
      const d = lab.download(6 * MiB, 61, (_n, total) => {
        if (total >= (attacked + 1) * MiB && attacked < 4) {
          attacked++;
          attack();
        }
      });
      const [r] = await finish(lab, [d]);
      expect(r.ok).toBe(true);
      expect(attacked).toBe(4);
      const sb = lab.node('B').cluster.core.stats;
      const sa = lab.node('A').cluster.core.stats;
      expect(sb.dropped.forged + sa.dropped.forged).toBeGreaterThanOrEqual(8);
      expect(sb.dropped.replayed + sa.dropped.replayed).toBeGreaterThan(0);
      expect(sb.takeovers).toBe(0);
      expect(lab.node('B').ha.stats.restored).toBe(0);
      expect([lab.hasVip('A'), lab.hasVip('B')]).toEqual([true, false]);
      rogue.crash();
    } finally {
      lab.close();
    }
  });
});

describe('widenForTakeover', () => {
  it('extends the send queue within the mapped object only, never past a FIN', () => {
    const cp = {
      tcp: { state: 'ESTABLISHED', finSeq: null, finSent: false, sndUna: 1000, sndMax: 1500, sendLength: 600 },
      app: { objects: [{ id: 'x', seq: 1100, offset: 0, length: 10_000 }] },
    } as never as Parameters<typeof widenForTakeover>[0];
    expect(widenForTakeover(cp, 2000)).toBe(1900); // up to SND.MAX + 2000
    expect(cp.tcp.sendLength).toBe(2500);
    expect(cp.tcp.sndMax).toBe(3500);
    // Capped at the object's end.
    expect(widenForTakeover(cp, 1e9)).toBe(100 + 10_000 - 2500);
    expect(cp.tcp.sendLength).toBe(10_100);
    const fin = { tcp: { ...cp.tcp, finSeq: 11_100 }, app: cp.app } as never as Parameters<typeof widenForTakeover>[0];
    expect(widenForTakeover(fin, 1e9)).toBe(0);
  });

  it('moves SND.MAX to the queue end when the queue already ends at the object end', () => {
    // The whole rest of the response is queued (mapped) but only 500 bytes were sent: the old host
    // may have sent more before it died, and the peer's ACK for those bytes must be adopted.
    const cp = {
      tcp: { state: 'ESTABLISHED', finSeq: null, finSent: false, sndUna: 1000, sndMax: 1500, sendLength: 9000 },
      app: { objects: [{ id: 'x', seq: -1000 >>> 0, offset: 0, length: 11_000 }] },
    } as never as Parameters<typeof widenForTakeover>[0];
    expect(widenForTakeover(cp, 2000)).toBe(0);
    expect(cp.tcp.sendLength).toBe(9000);
    expect(cp.tcp.sndMax).toBe(3500); // SND.MAX + 2000
    expect(widenForTakeover(cp, 1e9)).toBe(0);
    expect(cp.tcp.sndMax).toBe(10_000); // the queue's end
  });
});
