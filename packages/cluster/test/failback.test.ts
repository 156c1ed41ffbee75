import { describe, expect, it } from 'vitest';
import type { FailbackMode } from '@hastack/cluster';
import { Harness, MAC_A, VIP } from './harness.js';

const conn = (n: number) => ({ key: `tcp:${VIP}:80:198.18.1.${n}:40000`, ip: VIP, port: 80 });

/** A fails, B takes over and adopts A's connections, A comes back with a new boot id. */
function scenario(mode: FailbackMode) {
  const h = new Harness([
    { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'], failback: mode } },
    { nodeId: 'B', failover: { successors: ['A'] } },
  ]);
  h.startAll();
  h.advance(100);
  h.node('A').updateCheckpoint(conn(1), new Uint8Array([1]));
  h.node('A').updateCheckpoint(conn(2), new Uint8Array([2]));
  h.advance(1);
  h.crash('A');
  h.advance(100);
  const t = h.of('B', 'takeover').find((a) => a.reason === 'failure')!;
  expect(t.checkpoints).toHaveLength(2);
  // B's integration restores them and keeps replicating them as its own.
  for (const c of t.checkpoints) h.node('B').updateCheckpoint({ key: c.key, ip: c.ip, port: c.port }, c.bytes);
  // B also accepts a new connection of its own on the address.
  h.node('B').updateCheckpoint(conn(3), new Uint8Array([3]));
  h.advance(50);
  h.restart('A', 2);
  h.advance(100); // join window (3 intervals) elapses, A asks B for its address back
  return h;
}

describe('failback (seed 001 claim 5; seed 000 claims 10, 14)', () => {
  it('migrate: existing connections are checkpointed back and the returning node owns the address', () => {
    const h = scenario('migrate');
    const fb = h.of('B', 'failback');
    expect(fb).toHaveLength(1);
    expect(fb[0]).toMatchObject({ to: 'A', mode: 'migrate' });
    expect(fb[0].connections.sort()).toEqual([conn(1).key, conn(2).key, conn(3).key]);
    expect(h.holders(VIP)).toEqual(['B']); // nothing moves until B has handed the connections over
    // Meanwhile B keeps replicating to A (now alive, B's successor): a newer ordinary replica.
    h.node('B').updateCheckpoint(conn(1), new Uint8Array([99]), 7);
    h.advance(1);
    expect(h.node('A').core.replicaEntries('B').map((r) => [r.key, r.version, r.migrate])).toEqual([[conn(1).key, 7, false]]);
    // B's integration freezes and checkpoints each connection, then completes (explicit low
    // versions: the migrate checkpoint must still win over the ordinary replica).
    h.node('B').completeFailback(fb[0].requestId, {
      migrated: [conn(1).key, conn(2).key, conn(3).key].map((key, i) => ({ key, ip: VIP, port: 80, bytes: new Uint8Array([10 + i]), version: 1 })),
    });
    h.advance(5);
    const rel = h.of('B', 'release').find((r) => r.reason === 'failback')!;
    expect(rel).toMatchObject({ winner: 'A', mode: 'migrate', draining: [] });
    expect(rel.addresses[0]).toMatchObject({ ip: VIP, remaining: [] });
    const ta = h.node('A') && h.of('A', 'takeover').find((a) => a.reason === 'failback')!;
    expect(ta).toMatchObject({ from: 'B', failedNode: null, epoch: 3, missing: [], draining: null });
    expect(ta.checkpoints.map((c) => c.key).sort()).toEqual([conn(1).key, conn(2).key, conn(3).key]);
    expect(ta.checkpoints.every((c) => c.migrate)).toBe(true);
    expect(ta.checkpoints.find((c) => c.key === conn(1).key)!.bytes[0]).toBe(10);
    expect(h.holders(VIP)).toEqual(['A']);
    expect(h.node('B').core.holdersOf(VIP).map((x) => [x.node, x.epoch])).toEqual([['A', 3]]);
    expect(h.node('B').core.localConnections()).toHaveLength(0);
  });

  it('drain: new connections go to the returning node, existing ones stay on the successor until closed', () => {
    const h = scenario('drain');
    const fb = h.of('B', 'failback')[0];
    expect(fb.mode).toBe('drain');
    h.node('B').completeFailback(fb.requestId, { draining: fb.connections });
    h.advance(5);
    const ta = h.of('A', 'takeover').find((a) => a.reason === 'failback')!;
    expect(ta.checkpoints).toHaveLength(0);
    expect(ta.draining).toEqual({ holder: 'B', keys: fb.connections });
    const rel = h.of('B', 'release').find((r) => r.reason === 'failback')!;
    expect(rel.mode).toBe('drain');
    expect(rel.draining.sort()).toEqual([conn(1).key, conn(2).key, conn(3).key]);
    expect(h.holders(VIP)).toEqual(['A']);
    // As B's drained connections close, A hears of it; the last one completes the drain.
    for (const k of fb.connections) {
      expect(h.of('A', 'drained')).toHaveLength(0);
      h.node('B').connectionClosed(k);
      h.advance(1);
    }
    expect(h.of('A', 'drained')).toEqual([{ type: 'drained', holder: 'B' }]);
    // One 'drain-closed' per key, in order, before the final 'drained'.
    expect(h.of('A', 'drain-closed').map((x) => x.key)).toEqual(fb.connections);
  });

  it("drain: the grant carries the holder's MAC to forward to; a holder that dies ends the drain", () => {
    const h = scenario('drain');
    const fb = h.of('B', 'failback')[0];
    h.node('B').completeFailback(fb.requestId, { draining: fb.connections, drainMac: '02:00:00:00:00:0B' });
    h.advance(5);
    const ta = h.of('A', 'takeover').find((a) => a.reason === 'failback')!;
    expect(ta.draining).toEqual({ holder: 'B', keys: fb.connections, mac: '02:00:00:00:00:0b' });
    h.node('B').connectionClosed(fb.connections[0]);
    h.advance(1);
    expect(h.of('A', 'drain-closed')).toEqual([{ type: 'drain-closed', holder: 'B', key: fb.connections[0] }]);
    expect(h.of('A', 'drained')).toHaveLength(0);
    // B no longer holds the address, yet its kept connections still replicate, to A (which
    // accepts them although B's epoch for the address is superseded).
    h.node('B').updateCheckpoint({ key: fb.connections[1], ip: VIP, port: 80 }, new Uint8Array([42]));
    h.advance(1);
    expect(h.node('A').core.replicaEntries('B').map((r) => [r.key, r.bytes[0]])).toEqual([[fb.connections[1], 42]]);
    h.crash('B');
    h.advance(300);
    // B's death ends the drain; its replicas of what was still open come along for a restore.
    const d = h.of('A', 'drained');
    expect(d).toHaveLength(1);
    expect(d[0].holder).toBe('B');
    expect(d[0].orphaned!.map((r) => r.key)).toEqual([fb.connections[1]]);
    expect(h.node('A').core.replicaEntries('B')).toHaveLength(0);
  });

  it('none: the returning node stays a backup', () => {
    const h = scenario('none');
    expect(h.of('B', 'failback')).toHaveLength(0);
    h.advance(500);
    expect(h.holders(VIP)).toEqual(['B']);
    expect(h.node('A').core.lifecycle).toBe('active');
  });

  it('a returning node whose addresses nobody took claims them itself at a higher epoch', () => {
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: [], failback: 'migrate' } },
      { nodeId: 'B' },
    ]);
    h.startAll();
    h.advance(100);
    h.crash('A');
    h.advance(200);
    expect(h.holders(VIP)).toEqual([]);
    h.restart('A', 2);
    h.advance(100);
    expect(h.holders(VIP)).toEqual(['A']);
    expect(h.node('B').core.holdersOf(VIP).map((x) => x.node)).toEqual(['A']);
  });

  it('failback after a healed partition, on request', () => {
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'], failback: 'drain' } },
      { nodeId: 'B', failover: { successors: ['A'] } },
    ]);
    h.startAll();
    h.advance(100);
    h.bus.partition(['A'], ['B']);
    h.advance(200);
    h.bus.heal();
    h.advance(200);
    expect(h.holders(VIP)).toEqual(['B']);
    expect(h.node('A').requestFailback()).toBe(1);
    h.advance(1);
    const fb = h.of('B', 'failback')[0];
    h.node('B').completeFailback(fb.requestId, { draining: [] });
    h.advance(5);
    expect(h.holders(VIP)).toEqual(['A']);
  });
});

describe('home as last resort', () => {
  it('when the interim holder dies, the address goes back to its home node if nobody else can take it', () => {
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'], failback: 'none' } },
      { nodeId: 'B', failover: { successors: [] } },
    ]);
    h.startAll();
    h.advance(100);
    h.crash('A');
    h.advance(100);
    h.restart('A', 2);
    h.advance(100);
    expect(h.holders(VIP)).toEqual(['B']); // failback 'none': A stays a backup
    h.crash('B');
    h.advance(100);
    expect(h.holders(VIP)).toEqual(['A']);
    expect(h.of('A', 'takeover').find((t) => t.failedNode === 'B')).toMatchObject({ reason: 'failure', epoch: 3 });
  });
});
