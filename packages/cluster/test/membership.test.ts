import { describe, expect, it } from 'vitest';
import { Harness, MAC_A, MAC_B, VIP, VIP2 } from './harness.js';

const three = () =>
  new Harness([
    { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B', 'C'], failback: 'none' }, applications: [{ name: 'http', protocol: 'tcp', ports: [{ from: 80, to: 80 }] }] },
    { nodeId: 'B', home: [{ ip: VIP2, mac: MAC_B }], failover: { successors: ['C', 'A'] } },
    { nodeId: 'C', failover: { successors: ['A', 'B'] } },
  ]);

describe('ownership announce and solicit (seed 001 claims 2-4)', () => {
  it('every node learns every other node\'s ownership information at boot', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    for (const id of ['A', 'B', 'C']) {
      const c = h.node(id).core;
      expect(c.lifecycle).toBe('active');
      expect(c.peerViews().map((p) => p.nodeId).sort()).toEqual(['A', 'B', 'C'].filter((x) => x !== id));
    }
    const infoA = h.node('C').core.peerViews().find((p) => p.nodeId === 'A')!.info!;
    expect(infoA.failover.successors).toEqual(['B', 'C']);
    expect(infoA.held).toEqual([{ ip: VIP, mac: MAC_A, ports: [{ from: 0, to: 65535 }], epoch: 1, home: 'A' }]);
    expect(infoA.applications[0].name).toBe('http');
    expect(infoA.arpPolicy).toBe('gratuitous-arp');
    expect(infoA.macs).toEqual([MAC_A]);
    expect(h.holders(VIP)).toEqual(['A']);
    // A's boot claim is a takeover action with reason 'boot'.
    const t = h.of('A', 'takeover');
    expect(t).toHaveLength(1);
    expect(t[0]).toMatchObject({ reason: 'boot', failedNode: null, epoch: 1 });
  });

  it('a node started later solicits and learns the others before claiming', () => {
    const h = three();
    h.node('A').start();
    h.node('B').start();
    h.advance(200);
    h.node('C').start();
    h.advance(1); // one delivery step: C's SOLICIT answered
    const view = h.node('C').core.peerViews();
    expect(view.map((p) => p.nodeId).sort()).toEqual(['A', 'B']);
    expect(view.every((p) => p.info !== null)).toBe(true);
    expect(h.node('A').core.stats.rxByType.solicit).toBeGreaterThanOrEqual(1);
  });

  it('a change of applications is announced to everyone', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    h.node('B').setApplications([{ name: 'ftp', protocol: 'tcp', ports: [{ from: 21, to: 21 }] }]);
    h.advance(1);
    for (const id of ['A', 'C']) {
      const info = h.node(id).core.peerViews().find((p) => p.nodeId === 'B')!.info!;
      expect(info.applications.map((a) => a.name)).toEqual(['ftp']);
    }
  });

  it('a change of ownership is announced and heartbeats carry the version', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    const before = h.node('B').core.stats.rxByType.announce ?? 0;
    h.crash('C');
    h.advance(200);
    // A takes nothing from C (C holds nothing), so only peer views change; announce counts stay sane.
    expect(h.node('B').core.stats.rxByType.announce ?? 0).toBeGreaterThanOrEqual(before);
    expect(h.node('A').core.peerStatus('C')).toBe('dead');
  });
});

describe('failure detection', () => {
  it('declares a silent peer dead after 3 missed beats at a 20 ms interval', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    const t0 = h.clock.now();
    h.crash('A');
    let suspectAt = -1;
    let deadAt = -1;
    for (let i = 0; i < 200 && deadAt < 0; i++) {
      h.advance(1);
      const s = h.node('B').core.peerStatus('A');
      if (s === 'suspect' && suspectAt < 0) suspectAt = h.clock.now();
      if (s === 'dead') deadAt = h.clock.now();
    }
    expect(suspectAt - t0).toBeGreaterThan(0);
    expect(deadAt - t0).toBeGreaterThanOrEqual(40); // never before the threshold after the last beat
    expect(deadAt - t0).toBeLessThanOrEqual(60 + 1);
    expect(h.of('B', 'peer').some((a) => a.node === 'A' && a.status === 'dead' && a.reason === 'failure')).toBe(true);
  });

  it('does not declare healthy peers dead over a long run', () => {
    const h = three();
    h.startAll();
    h.advance(5000);
    for (const id of ['A', 'B', 'C']) {
      for (const p of h.node(id).core.peerViews()) expect(p.status).toBe('alive');
      expect(h.node(id).core.stats.peersDeclaredDead).toBe(0);
    }
  });
});

describe('takeover by the designated successor', () => {
  it('the first live successor claims at epoch+1 and emits the takeover action', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    h.crash('A');
    h.advance(100);
    const tb = h.of('B', 'takeover').filter((t) => t.reason === 'failure');
    expect(tb).toHaveLength(1);
    expect(tb[0]).toMatchObject({ failedNode: 'A', epoch: 2, arpPolicy: 'gratuitous-arp', partial: false });
    expect(tb[0].addresses).toEqual([{ ip: VIP, mac: MAC_A, ports: [{ from: 0, to: 65535 }], epoch: 2, home: 'A' }]);
    expect(tb[0].portRanges).toEqual([{ from: 0, to: 65535 }]);
    expect(h.of('C', 'takeover').filter((t) => t.reason === 'failure')).toHaveLength(0);
    expect(h.holders(VIP)).toEqual(['B']);
    // C's table agrees.
    expect(h.node('C').core.holdersOf(VIP).map((x) => [x.node, x.epoch])).toEqual([['B', 2]]);
  });

  it('skips a dead first successor', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    h.crash('B');
    h.advance(100);
    h.crash('A');
    h.advance(100);
    // B's own address went to C (B's first successor); A's address goes to C (B is dead).
    expect(h.holders(VIP)).toEqual(['C']);
    expect(h.holders(VIP2)).toEqual(['C']);
    expect(h.node('C').core.holdersOf(VIP)[0].epoch).toBe(2);
  });

  it('impending failure hands over at once, without waiting for missed beats', async () => {
    const h = three();
    h.startAll();
    h.advance(100);
    const t0 = h.clock.now();
    void h.node('A').leave('maintenance');
    h.advance(1);
    const tb = h.of('B', 'takeover').filter((t) => t.reason === 'impending-failure');
    expect(tb).toHaveLength(1);
    expect(h.clock.now() - t0).toBeLessThan(20);
    expect(h.node('B').core.peerStatus('A')).toBe('left');
    expect(h.holders(VIP)).toContain('B');
  });

  it('port-range policy: different successors take different ranges of one address', () => {
    const h = new Harness([
      {
        nodeId: 'A',
        home: [{ ip: VIP, mac: MAC_A }],
        arpPolicy: 'shared-mac',
        failover: { successors: ['B'], rules: [{ ports: [{ from: 443, to: 443 }], successors: ['C', 'B'] }], failback: 'none' },
      },
      { nodeId: 'B' },
      { nodeId: 'C' },
    ]);
    h.startAll();
    h.advance(100);
    h.crash('A');
    h.advance(100);
    const tb = h.of('B', 'takeover').find((t) => t.reason === 'failure')!;
    const tc = h.of('C', 'takeover').find((t) => t.reason === 'failure')!;
    expect(tc.portRanges).toEqual([{ from: 443, to: 443 }]);
    expect(tb.portRanges).toEqual([{ from: 0, to: 442 }, { from: 444, to: 65535 }]);
    expect(tb.partial && tc.partial).toBe(true);
    expect(tb.arpPolicy).toBe('shared-mac');
    expect(h.holders(VIP, 443)).toEqual(['C']);
    expect(h.holders(VIP, 80)).toEqual(['B']);
    // No conflict: disjoint slices of the same address at the same epoch.
    expect(h.of('B', 'release')).toHaveLength(0);
    expect(h.of('C', 'release')).toHaveLength(0);
  });

  it('a quick restart (new boot id) counts as a failure of the old incarnation', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    h.crash('A');
    h.advance(10); // well before missed-beat detection
    h.restart('A', 2);
    h.advance(5);
    expect(h.of('B', 'peer').some((a) => a.node === 'A' && a.reason === 'reboot')).toBe(true);
    expect(h.of('B', 'takeover').filter((t) => t.reason === 'reboot')).toHaveLength(1);
    h.advance(200);
    // A's failback policy is 'none': B keeps the address, the new A stays a backup.
    expect(h.holders(VIP)).toEqual(['B']);
  });
});

describe('partition and heal (split brain)', () => {
  it('after a heal exactly one node holds each address and the loser releases', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    h.bus.partition(['A'], ['B', 'C']);
    h.advance(200);
    // Both sides act: B takes VIP from "dead" A; A (successor list of B starts with C) stays.
    expect(h.node('B').core.ownershipInfo().held.map((x) => x.ip)).toContain(VIP);
    expect(h.node('A').core.ownershipInfo().held.map((x) => x.ip)).toContain(VIP);
    h.bus.heal();
    h.advance(200);
    expect(h.holders(VIP)).toEqual(['B']);
    const rel = h.of('A', 'release');
    expect(rel).toHaveLength(1);
    expect(rel[0]).toMatchObject({ reason: 'superseded', winner: 'B' });
    expect(rel[0].addresses[0]).toMatchObject({ ip: VIP, epoch: 2, remaining: [] });
    for (const id of ['A', 'B', 'C']) {
      expect(h.node(id).core.holdersOf(VIP).map((x) => x.node)).toEqual(['B']);
    }
    expect(h.node('B').core.stats.dropped.stale).toBeGreaterThan(0); // A's epoch-1 announce
  });

  it('two successors claiming at the same epoch: the lower node id keeps it', () => {
    // A fails while B and C cannot hear each other: each thinks the other is dead too.
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['C', 'B'], failback: 'none' } },
      { nodeId: 'B' },
      { nodeId: 'C' },
    ]);
    h.startAll();
    h.advance(100);
    h.bus.partition(['A'], ['B'], ['C']);
    h.advance(200);
    expect(h.node('B').core.ownershipInfo().held[0]).toMatchObject({ ip: VIP, epoch: 2 });
    expect(h.node('C').core.ownershipInfo().held[0]).toMatchObject({ ip: VIP, epoch: 2 });
    h.crash('A');
    h.bus.heal();
    h.advance(200);
    expect(h.holders(VIP)).toEqual(['B']);
    expect(h.of('C', 'release')[0]).toMatchObject({ reason: 'conflict', winner: 'B' });
    expect(h.node('B').core.stats.conflicts + h.node('C').core.stats.conflicts).toBeGreaterThan(0);
  });
});

describe('local stalls', () => {
  it('a node that was itself paused does not declare its peers dead; real silence still counts', async () => {
    const { ClusterCore } = await import('@hastack/cluster');
    const { KEY } = await import('./harness.js');
    const mk = (id: string) => new ClusterCore({ nodeId: id, bootId: 1, key: KEY, heartbeatIntervalMs: 20, missedBeats: 3 });
    const a = mk('A');
    const b = mk('B');
    const pump = (t: number) => {
      for (const m of a.takeOutbound()) b.receive(m, t);
      for (const m of b.takeOutbound()) a.receive(m, t);
    };
    a.start(0);
    b.start(0);
    let t = 0;
    for (; t <= 200; t += 5) {
      a.poll(t);
      b.poll(t);
      pump(t);
    }
    expect(b.peerStatus('A')).toBe('alive');
    // B's process stalls for 500 ms; A keeps running (its datagrams queue up unread).
    const queued: Uint8Array[] = [];
    for (; t <= 700; t += 5) {
      a.poll(t);
      queued.push(...a.takeOutbound());
    }
    b.poll(t); // first thing after the stall: the timer fires before the socket is read
    expect(b.peerStatus('A')).toBe('alive');
    expect(b.stats.localStalls).toBe(1);
    for (const m of queued) b.receive(m, t);
    expect(b.peerStatus('A')).toBe('alive');
    // Now A really goes silent: B declares it dead after the usual threshold.
    const t0 = t;
    for (; t <= t0 + 100 && b.peerStatus('A') !== 'dead'; t += 1) b.poll(t);
    expect(b.peerStatus('A')).toBe('dead');
    expect(t - t0).toBeLessThanOrEqual(61);
  });
});

describe('robustness', () => {
  it('cascade: when the successor that took over dies too, the next one takes the address', () => {
    const h = three();
    h.startAll();
    h.advance(100);
    h.crash('A');
    h.advance(100);
    expect(h.holders(VIP)).toEqual(['B']);
    h.crash('B');
    h.advance(100);
    expect(h.holders(VIP)).toEqual(['C']);
    expect(h.holders(VIP2)).toEqual(['C']);
    expect(h.node('C').core.holdersOf(VIP)[0].epoch).toBe(3);
    const t = h.of('C', 'takeover').filter((a) => a.reason === 'failure');
    expect(t.map((a) => a.failedNode)).toEqual(['B']);
  });

  it('5% seeded datagram loss at 20 ms x 4: no false deaths, and a real crash is still taken over', () => {
    const h = new Harness(
      [
        { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B', 'C'], failback: 'none' } },
        { nodeId: 'B' },
        { nodeId: 'C' },
      ],
      { missedBeats: 4 },
      { loss: 0.05, seed: 7 },
    );
    h.startAll();
    h.advance(5000);
    for (const id of ['A', 'B', 'C']) expect(h.node(id).core.stats.peersDeclaredDead).toBe(0);
    expect(h.holders(VIP)).toEqual(['A']);
    h.crash('A');
    h.advance(300);
    expect(h.holders(VIP)).toEqual(['B']);
    expect(h.node('C').core.holdersOf(VIP).map((x) => x.node)).toEqual(['B']);
  });
});
