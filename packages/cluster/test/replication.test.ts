import { describe, expect, it } from 'vitest';
import type { ReplicationOptions } from '@hastack/cluster';
import { Harness, MAC_A, VIP } from './harness.js';

function cluster(replication: ReplicationOptions, extra: { replicas?: number } = {}) {
  const h = new Harness(
    [
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B', 'C'], failback: 'none' } },
      { nodeId: 'B' },
      { nodeId: 'C' },
    ],
    { replication: { ...replication, replicas: extra.replicas ?? replication.replicas } },
  );
  h.startAll();
  h.advance(100);
  return h;
}
const conn = (n: number) => ({ key: `tcp:${VIP}:80:198.18.1.${n}:40000`, ip: VIP, port: 80 });
const bytes = (n: number, len = 16) => new Uint8Array(len).fill(n);

describe('replication policies (seed 004 claims 13-16)', () => {
  it('every-update: each update reaches the first successor only', () => {
    const h = cluster({ policy: 'every-update' });
    for (let v = 1; v <= 5; v++) h.node('A').updateCheckpoint(conn(1), bytes(v));
    h.advance(1);
    const r = h.node('B').core.replicaEntries('A');
    expect(r).toHaveLength(1);
    expect(r[0]).toMatchObject({ key: conn(1).key, version: 5, ip: VIP, port: 80, epoch: 1 });
    expect(r[0].bytes[0]).toBe(5);
    expect(h.node('B').core.stats.checkpointsStored).toBe(5);
    expect(h.node('C').core.replicaEntries()).toHaveLength(0);
    expect(h.node('C').core.stats.notForMe).toBe(5);
  });

  it('replicas: 2 sends to the first two successors', () => {
    const h = cluster({ policy: 'every-update' }, { replicas: 2 });
    h.node('A').updateCheckpoint(conn(1), bytes(1));
    h.advance(1);
    expect(h.node('B').core.replicaEntries()).toHaveLength(1);
    expect(h.node('C').core.replicaEntries()).toHaveLength(1);
  });

  it('schedule: updates are coalesced and flushed every interval', () => {
    const h = cluster({ policy: 'schedule', intervalMs: 50 });
    const sources: number[] = [];
    for (let v = 1; v <= 10; v++) h.node('A').updateCheckpoint(conn(1), () => (sources.push(v), bytes(v)));
    h.advance(1);
    expect(h.node('B').core.replicaEntries()).toHaveLength(0);
    h.advance(60);
    const r = h.node('B').core.replicaEntries('A');
    expect(r).toHaveLength(1);
    expect(r[0].version).toBe(10);
    expect(sources).toEqual([10]); // the source is only called when the policy sends
    expect(h.node('A').core.stats.checkpointsSent).toBe(1);
    h.advance(200); // nothing dirty: nothing more sent
    expect(h.node('A').core.stats.checkpointsSent).toBe(1);
  });

  it('events: only checkpointEvent sends', () => {
    const h = cluster({ policy: 'events' });
    h.node('A').updateCheckpoint(conn(1), bytes(1));
    h.node('A').updateCheckpoint(conn(1), bytes(2));
    h.advance(500);
    expect(h.node('B').core.replicaEntries()).toHaveLength(0);
    h.node('A').checkpointEvent(conn(1).key, 'response-complete');
    h.advance(1);
    expect(h.node('B').core.replicaEntries('A')[0].version).toBe(2);
    expect(h.node('A').core.stats.checkpointEvents['response-complete']).toBe(1);
  });

  it('impending-failure-only: nothing until leave(), then one final checkpoint per connection', async () => {
    const h = cluster({ policy: 'impending-failure-only' });
    for (let i = 1; i <= 3; i++) for (let v = 1; v <= 4; v++) h.node('A').updateCheckpoint(conn(i), bytes(v));
    h.advance(500);
    expect(h.node('B').core.replicaEntries()).toHaveLength(0);
    const done = h.node('A').leave();
    h.advance(5);
    await expect(done).resolves.toEqual({ acked: true });
    const tb = h.of('B', 'takeover').find((t) => t.reason === 'impending-failure')!;
    expect(tb.checkpoints.map((c) => c.key).sort()).toEqual([conn(1).key, conn(2).key, conn(3).key]);
    expect(tb.checkpoints.every((c) => c.final && c.version === 4)).toBe(true);
    expect(tb.missing).toEqual([]);
  });

  it('impending failure reports final checkpoints that never arrived', () => {
    const h = cluster({ policy: 'impending-failure-only' });
    h.node('A').updateCheckpoint(conn(1), bytes(1));
    h.node('A').updateCheckpoint(conn(2), bytes(1));
    // Lose the next A datagrams except IMPENDING_FAILURE: block B, then let the marker through.
    h.bus.partition(['A', 'C'], ['B']);
    void h.node('A').leave();
    const marker = h.bus.log[h.bus.log.length - 1];
    h.bus.heal();
    h.bus.inject('A', marker.bytes);
    h.advance(1);
    const tb = h.of('B', 'takeover').find((t) => t.reason === 'impending-failure')!;
    expect(tb.missing.sort()).toEqual([conn(1).key, conn(2).key]);
  });

  it('closed connections are dropped from replicas', () => {
    const h = cluster({ policy: 'every-update' });
    h.node('A').updateCheckpoint(conn(1), bytes(1));
    h.node('A').updateCheckpoint(conn(2), bytes(1));
    h.advance(1);
    h.node('A').connectionClosed(conn(1).key);
    h.advance(1);
    expect(h.node('B').core.replicaEntries().map((r) => r.key)).toEqual([conn(2).key]);
    expect(h.node('B').core.stats.checkpointsDropped).toBe(1);
  });

  it('the replica store is bounded: the least recently updated entries are evicted', () => {
    const h = new Harness(
      [
        { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'] } },
        { nodeId: 'B', replication: { maxEntries: 3 } },
      ],
      {},
    );
    h.startAll();
    h.advance(100);
    for (let i = 1; i <= 5; i++) h.node('A').updateCheckpoint(conn(i), bytes(i));
    h.node('A').updateCheckpoint(conn(2), bytes(9)); // refresh 2
    h.advance(1);
    expect(h.node('B').core.replicaEntries().map((r) => r.key)).toEqual([conn(4).key, conn(5).key, conn(2).key]);
    expect(h.node('B').core.stats.checkpointsEvicted).toBe(3);
  });

  it('takeover hands the failed node\'s replicas to the integration layer', () => {
    const h = cluster({ policy: 'every-update' });
    h.node('A').updateCheckpoint(conn(1), bytes(1));
    h.node('A').updateCheckpoint(conn(2), bytes(2));
    h.advance(1);
    h.crash('A');
    h.advance(100);
    const tb = h.of('B', 'takeover').find((t) => t.reason === 'failure')!;
    expect(tb.checkpoints.map((c) => [c.key, c.bytes[0]])).toEqual([
      [conn(1).key, 1],
      [conn(2).key, 2],
    ]);
    expect(h.node('B').core.replicaEntries()).toHaveLength(0);
  });
});

describe('ackAfterReplica: whenReplicated', () => {
  it('resolves on CHECKPOINT_ACK from the replica', async () => {
    const h = cluster({ policy: 'every-update' });
    const v = h.node('A').updateCheckpoint(conn(1), bytes(1));
    let done = false;
    const p = h.node('A').whenReplicated(conn(1).key, v).then(() => (done = true));
    await Promise.resolve();
    expect(done).toBe(false);
    h.advance(1);
    await p;
    expect(done).toBe(true);
    expect(h.node('A').core.stats.acksReceived).toBe(1);
  });

  it('pushes the checkpoint out at once even under the schedule policy', async () => {
    const h = cluster({ policy: 'schedule', intervalMs: 1000 });
    const v = h.node('A').updateCheckpoint(conn(1), bytes(1));
    const p = h.node('A').whenReplicated(conn(1).key, v);
    h.advance(2);
    await expect(p).resolves.toBeUndefined();
    expect(h.node('B').core.replicaEntries()).toHaveLength(1);
  });

  it('retransmits when a checkpoint is lost', async () => {
    const h = cluster({ policy: 'every-update', ackRetransmitMs: 10, ackTimeoutMs: 200 });
    h.bus.partition(['A', 'C'], ['B']);
    const v = h.node('A').updateCheckpoint(conn(1), bytes(1));
    const p = h.node('A').whenReplicated(conn(1).key, v);
    h.advance(5);
    h.bus.heal();
    h.advance(20);
    await expect(p).resolves.toBeUndefined();
    expect(h.node('A').core.stats.checkpointsSent).toBeGreaterThan(1);
  });

  it('rejects with ETIMEDOUT when the replica never acknowledges', async () => {
    const h = cluster({ policy: 'every-update', ackTimeoutMs: 30 });
    h.bus.partition(['A'], ['B', 'C']);
    const v = h.node('A').updateCheckpoint(conn(1), bytes(1));
    const p = h.node('A').whenReplicated(conn(1).key, v);
    const caught = p.catch((e: { code: string }) => e.code);
    h.advance(31);
    expect(await caught).toBe('ETIMEDOUT');
    expect(h.node('A').core.stats.replicationTimeouts).toBe(1);
  });

  it('resolves at once when no successor is alive to wait for', async () => {
    const h = cluster({ policy: 'every-update' });
    h.crash('B');
    h.crash('C');
    h.advance(100);
    const v = h.node('A').updateCheckpoint(conn(1), bytes(1));
    await expect(h.node('A').whenReplicated(conn(1).key, v)).resolves.toBeUndefined();
  });
});

describe('a third node asks the holder for a connection (seed 001 claim 10)', () => {
  it('REQUEST_CONNECTION reaches the holder as an action; its reply resolves the request', async () => {
    const h = cluster({ policy: 'events' });
    h.node('A').updateCheckpoint(conn(1), new Uint8Array([1]));
    h.node('A').on('connection-request', (a: { requestId: number; from: string; key: string }) => {
      h.node('A').replyConnection(a.from, a.requestId, a.key, new Uint8Array([42, 43]));
    });
    const p = h.node('C').requestConnection(conn(1).key);
    h.advance(2);
    const got = await p;
    expect([...got!]).toEqual([42, 43]);
    expect(h.of('A', 'connection-request')).toMatchObject([{ from: 'C', key: conn(1).key }]);
    // B does not hold it and stays silent.
    expect(h.of('B', 'connection-request')).toHaveLength(0);
  });

  it('resolves null when nobody holds the connection', async () => {
    const h = cluster({ policy: 'events' });
    const p = h.node('C').requestConnection('tcp:nobody', null, 50);
    h.advance(60);
    expect(await p).toBeNull();
  });
});
