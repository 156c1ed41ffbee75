import { describe, expect, it } from 'vitest';
import {
  decodeBody,
  encodeMessage,
  parseEnvelope,
  ReplayWindow,
  verifyMac,
  type ClusterMessage,
} from '@hastack/cluster';
import { Harness, KEY, MAC_A, VIP } from './harness.js';

const hdr = { nodeId: 'node-1', bootId: 1_700_000_000_000 * 1024 + 5, counter: 42, epoch: 7 };

const samples: ClusterMessage[] = [
  {
    type: 'announce',
    reply: true,
    info: {
      nodeId: 'node-1',
      bootId: 3,
      version: 4,
      state: 'active',
      failover: { successors: ['b', 'c'], rules: [{ ports: [{ from: 443, to: 443 }], successors: ['c'] }], failback: 'drain' },
      home: [{ ip: VIP, mac: MAC_A, ports: [{ from: 80, to: 80 }] }],
      held: [{ ip: VIP, mac: MAC_A, ports: [{ from: 80, to: 80 }], epoch: 3, home: 'node-1' }],
      portRanges: [{ from: 80, to: 80 }],
      applications: [{ name: 'http', protocol: 'tcp', ports: [{ from: 80, to: 80 }] }],
      arpPolicy: 'shared-mac',
      protocols: ['tcp', 'udp'],
      macs: [MAC_A],
    },
  },
  { type: 'solicit', target: null },
  { type: 'solicit', target: 'b' },
  { type: 'heartbeat', infoVersion: 9 },
  { type: 'impending-failure', reason: 'shutdown', final: [{ key: 'k1', version: 3 }] },
  { type: 'claim', failed: 'a', reason: 'failure', entries: [{ ip: VIP, mac: MAC_A, ports: [{ from: 0, to: 65535 }], epoch: 2, home: 'a' }] },
  { type: 'release', reason: 'conflict', winner: 'b', entries: [{ ip: VIP, mac: MAC_A, ports: [{ from: 1, to: 2 }], epoch: 2, home: 'a' }] },
  { type: 'checkpoint', to: ['b'], key: 'tcp:1', ip: VIP, port: 80, version: 5, final: true, migrate: false, bytes: new Uint8Array([1, 2, 3]) },
  { type: 'checkpoint-drop', key: 'tcp:1' },
  { type: 'checkpoint-ack', to: 'a', key: 'tcp:1', version: 5 },
  { type: 'request-connection', to: null, key: 'tcp:1', requestId: 8 },
  { type: 'connection-reply', to: 'c', requestId: 8, key: 'tcp:1', bytes: new Uint8Array([9]) },
  { type: 'connection-reply', to: 'c', requestId: 8, key: 'tcp:1', bytes: null },
  { type: 'failback-request', to: 'b', requestId: 1, mode: 'migrate', entries: [] },
  { type: 'failback-grant', to: 'a', requestId: 1, mode: 'drain', entries: [], migrated: ['x'], draining: ['y'] },
  { type: 'fragment', id: 3, index: 1, count: 2, bytes: new Uint8Array(10) },
];

describe('message codec', () => {
  it('round-trips every message type with its header', () => {
    for (const m of samples) {
      const bytes = encodeMessage(KEY, hdr, m);
      const env = parseEnvelope(bytes);
      if (typeof env === 'string') throw new Error(env);
      expect(env).toMatchObject({ version: 1, nodeId: 'node-1', bootId: hdr.bootId, counter: 42, epoch: 7 });
      expect(verifyMac(KEY, bytes, env)).toBe(true);
      const back = decodeBody(bytes, env);
      expect(back).not.toBe('malformed');
      const norm = (x: unknown) => JSON.parse(JSON.stringify(x, (_k, v) => (v instanceof Uint8Array ? [...v] : v)));
      expect(norm(back)).toEqual(norm(m));
    }
  });

  it('rejects truncated, extended and garbage input without throwing', () => {
    const good = encodeMessage(KEY, hdr, { type: 'heartbeat', infoVersion: 1 });
    expect(parseEnvelope(good.subarray(0, good.length - 1))).toBe('malformed');
    expect(parseEnvelope(new Uint8Array([...good, 0]))).toBe('malformed');
    expect(parseEnvelope(new Uint8Array(3))).toBe('malformed');
    const badMagic = Uint8Array.from(good);
    badMagic[0] = 0;
    expect(parseEnvelope(badMagic)).toBe('malformed');
    for (let i = 0; i < 500; i++) {
      const junk = Uint8Array.from({ length: (i * 37) % 200 }, (_, j) => (i * 131 + j * 7) & 255);
      expect(() => parseEnvelope(junk)).not.toThrow();
    }
  });

  it('a wrong key or a flipped bit fails the MAC', () => {
    const good = encodeMessage(KEY, hdr, { type: 'heartbeat', infoVersion: 1 });
    const env = parseEnvelope(good) as Exclude<ReturnType<typeof parseEnvelope>, string>;
    expect(verifyMac(new Uint8Array(32).fill(8), good, env)).toBe(false);
    for (const pos of [3, 10, env.bodyOff, good.length - 1]) {
      const t = Uint8Array.from(good);
      t[pos] ^= 1;
      const e2 = parseEnvelope(t);
      if (typeof e2 === 'string') continue;
      expect(verifyMac(KEY, t, e2)).toBe(false);
    }
  });

  it('a body that fails field validation is malformed', () => {
    const bad = encodeMessage(KEY, hdr, { type: 'checkpoint', to: ['b'], key: 'k', ip: '300.1.1.1', port: 80, version: 1, final: false, migrate: false, bytes: new Uint8Array(1) });
    const env = parseEnvelope(bad) as Exclude<ReturnType<typeof parseEnvelope>, string>;
    expect(decodeBody(bad, env)).toBe('malformed');
    const bad2 = encodeMessage(KEY, hdr, { type: 'claim', failed: null, reason: 'nope' as 'boot', entries: [] });
    expect(decodeBody(bad2, parseEnvelope(bad2) as Exclude<ReturnType<typeof parseEnvelope>, string>)).toBe('malformed');
  });

  it('replay window: accepts new and reordered counters once, refuses old ones and older boots', () => {
    const w = new ReplayWindow();
    expect(w.check(5, 10)).toBe('ok');
    expect(w.check(5, 10)).toBe('replayed');
    expect(w.check(5, 12)).toBe('ok');
    expect(w.check(5, 11)).toBe('ok'); // reordered, inside the window
    expect(w.check(5, 11)).toBe('replayed');
    expect(w.check(5, 100)).toBe('ok');
    expect(w.check(5, 60)).toBe('replayed'); // below the 32-wide window
    expect(w.check(4, 1000)).toBe('replayed'); // older boot
    expect(w.check(6, 1)).toBe('ok'); // new boot restarts the counter
  });
});

describe('receivers drop and count bad messages', () => {
  function pair() {
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'] } },
      { nodeId: 'B' },
    ]);
    h.startAll();
    h.advance(100);
    return h;
  }

  it('forged: a message under another key is dropped and counted, and cannot steal an address', () => {
    const h = pair();
    const evil = encodeMessage(new Uint8Array(32).fill(1), { nodeId: 'M', bootId: 1, counter: 1, epoch: 99 }, {
      type: 'claim',
      failed: 'A',
      reason: 'failure',
      entries: [{ ip: VIP, mac: MAC_A, ports: [{ from: 0, to: 65535 }], epoch: 99, home: 'A' }],
    });
    h.bus.inject('M', evil);
    h.advance(1);
    expect(h.node('A').core.stats.dropped.forged).toBe(1);
    expect(h.node('B').core.stats.dropped.forged).toBe(1);
    expect(h.holders(VIP)).toEqual(['A']);
    expect(h.of('A', 'release')).toHaveLength(0);
    expect(h.node('A').core.peerViews().map((p) => p.nodeId)).toEqual(['B']);
  });

  it('replayed: re-sending a captured message is dropped and counted', () => {
    const h = pair();
    const captured = h.bus.log.filter((l) => l.from === 'A').slice(-3);
    const before = h.node('B').core.stats.dropped.replayed;
    for (const c of captured) h.bus.inject('A', c.bytes);
    h.advance(1);
    expect(h.node('B').core.stats.dropped.replayed - before).toBe(3);
  });

  it('replayed: messages of an old boot are refused after a restart', () => {
    const h = pair();
    const old = h.bus.log.filter((l) => l.from === 'A').slice(-2);
    h.crash('A');
    h.restart('A', 2);
    h.advance(10);
    const before = h.node('B').core.stats.dropped.replayed;
    for (const c of old) h.bus.inject('A', c.bytes);
    h.advance(1);
    expect(h.node('B').core.stats.dropped.replayed - before).toBe(2);
  });

  it('stale: a claim at an epoch below the current one is dropped, counted and changes nothing', () => {
    const h = pair();
    // A holds VIP at epoch 1; an authenticated claim by B at epoch 0 is stale.
    // B's identity (it has the key) with a counter far ahead, so it passes the replay check.
    const msg = encodeMessage(KEY, { nodeId: 'B', bootId: 1, counter: 1_000_000, epoch: 0 }, {
      type: 'claim',
      failed: 'A',
      reason: 'failure',
      entries: [{ ip: VIP, mac: MAC_A, ports: [{ from: 0, to: 65535 }], epoch: 0, home: 'A' }],
    });
    h.bus.inject('B', msg);
    h.advance(1);
    expect(h.node('A').core.stats.dropped.stale).toBe(1);
    expect(h.holders(VIP)).toEqual(['A']);
    expect(h.of('A', 'release')).toHaveLength(0);
  });

  it('stale: a checkpoint from a deposed owner is not stored', () => {
    const h = pair();
    // B holds nothing; a checkpoint "from C" for VIP at epoch 0 while A holds it at 1 is stale.
    const msg = encodeMessage(KEY, { nodeId: 'C', bootId: 1, counter: 1, epoch: 0 }, {
      type: 'checkpoint', to: ['B'], key: 'k', ip: VIP, port: 80, version: 1, final: false, migrate: false, bytes: new Uint8Array(4),
    });
    h.bus.inject('C', msg);
    h.advance(1);
    expect(h.node('B').core.stats.dropped.stale).toBe(1);
    expect(h.node('B').core.replicaEntries()).toHaveLength(0);
  });

  it('malformed: garbage, truncation and bad bodies are dropped and counted', () => {
    const h = pair();
    h.bus.inject('X', new Uint8Array([1, 2, 3]));
    const good = encodeMessage(KEY, { nodeId: 'A', bootId: 1, counter: 10_000, epoch: 1 }, { type: 'heartbeat', infoVersion: 1 });
    h.bus.inject('X', good.subarray(0, 40));
    const badBody = encodeMessage(KEY, { nodeId: 'A', bootId: 1, counter: 10_001, epoch: 1 }, { type: 'checkpoint-ack', to: '', key: 'k', version: 1 });
    h.bus.inject('A', badBody);
    h.advance(1);
    expect(h.node('B').core.stats.dropped.malformed).toBe(3);
    expect(h.node('B').core.peerStatus('A')).toBe('alive');
  });

  it('a wrong protocol version is counted separately', () => {
    const h = pair();
    const m = encodeMessage(KEY, { nodeId: 'A', bootId: 1, counter: 20_000, epoch: 1 }, { type: 'heartbeat', infoVersion: 1 });
    m[2] = 2;
    h.bus.inject('A', m);
    h.advance(1);
    expect(h.node('B').core.stats.dropped.version).toBe(1);
  });
});

describe('message-layer fragmentation', () => {
  it('a checkpoint bigger than a datagram arrives whole; every datagram fits', () => {
    const h = new Harness(
      [
        { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'] } },
        { nodeId: 'B' },
      ],
      { maxDatagram: 1400 },
    );
    h.startAll();
    h.advance(100);
    const big = Uint8Array.from({ length: 100_000 }, (_, i) => (i * 7) & 255);
    h.node('A').updateCheckpoint({ key: 'big', ip: VIP, port: 80 }, big);
    h.advance(1);
    expect(Math.max(...h.bus.log.map((l) => l.bytes.length))).toBeLessThanOrEqual(1400);
    const r = h.node('B').core.replicaEntries('A');
    expect(r).toHaveLength(1);
    expect(Buffer.from(r[0].bytes).equals(Buffer.from(big))).toBe(true);
    expect(h.node('A').core.stats.fragmentsSent).toBeGreaterThan(70);
    expect(h.node('B').core.stats.messagesReassembled).toBe(1);
  });

  it('an inner message lifted out of its fragments is refused', () => {
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'] } },
      { nodeId: 'B' },
    ]);
    h.startAll();
    h.advance(100);
    h.node('A').updateCheckpoint({ key: 'big', ip: VIP, port: 80 }, new Uint8Array(5000));
    h.advance(1);
    // Rebuild the inner message from the fragments an eavesdropper saw, and send it alone.
    const frags = h.bus.log.filter((l) => l.from === 'A').map((l) => {
      const env = parseEnvelope(l.bytes);
      if (typeof env === 'string') throw new Error(env);
      return decodeBody(l.bytes, env);
    }).filter((m): m is Extract<ClusterMessage, { type: 'fragment' }> => m !== 'malformed' && m.type === 'fragment');
    const inner = Buffer.concat(frags.map((f) => f.bytes));
    const before = h.node('B').core.stats.dropped.malformed;
    h.bus.inject('A', inner);
    h.advance(1);
    expect(h.node('B').core.stats.dropped.malformed - before).toBe(1);
  });
});

describe('fuzz', () => {
  it('mutated and random datagrams never throw and are all counted as dropped', () => {
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'] } },
      { nodeId: 'B' },
    ]);
    h.startAll();
    h.node('A').updateCheckpoint({ key: 'k', ip: VIP, port: 80 }, new Uint8Array(3000));
    h.advance(100);
    const corpus = h.bus.log.map((l) => l.bytes);
    let seed = 12345;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const b = h.node('B').core;
    const dropsBefore = Object.values(b.stats.dropped).reduce((x, y) => x + y, 0);
    const N = 3000;
    for (let i = 0; i < N; i++) {
      let m: Uint8Array;
      if (i % 3 === 0) m = Uint8Array.from({ length: rnd(300) }, () => rnd(256));
      else {
        m = Uint8Array.from(corpus[rnd(corpus.length)]);
        const flips = 1 + rnd(4);
        for (let f = 0; f < flips && m.length > 0; f++) m[rnd(m.length)] ^= 1 << rnd(8);
        if (i % 7 === 0) m = m.subarray(0, rnd(m.length + 1));
      }
      expect(() => b.receive(m, h.clock.now())).not.toThrow();
    }
    const dropsAfter = Object.values(b.stats.dropped).reduce((x, y) => x + y, 0);
    expect(dropsAfter - dropsBefore).toBe(N);
    expect(h.holders(VIP)).toEqual(['A']);
  });
});

describe('reordering', () => {
  it('an older ANNOUNCE delivered after a newer one does not roll the view back', () => {
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'] } },
      { nodeId: 'B' },
    ]);
    h.startAll();
    h.advance(10); // A still joining: its announces hold nothing
    const early = h.bus.log.filter((l) => l.from === 'A').map((l) => l.bytes)[0];
    h.advance(100); // A claimed and announced its address
    expect(h.node('B').core.holdersOf(VIP).map((x) => x.node)).toEqual(['A']);
    // A's first announce (joining, holding nothing), delivered late: signed with the key and a
    // counter B has not seen, as a reordered datagram would be.
    const env = parseEnvelope(early) as Exclude<ReturnType<typeof parseEnvelope>, string>;
    const msg = decodeBody(early, env) as ClusterMessage;
    const top = Math.max(...h.bus.log.filter((l) => l.from === 'A').map((l) => (parseEnvelope(l.bytes) as { counter: number }).counter));
    const resent = encodeMessage(KEY, { nodeId: 'A', bootId: 1, counter: top + 1, epoch: 0 }, msg);
    const before = h.node('B').core.stats.dropped.stale;
    h.bus.inject('A', resent);
    h.advance(1);
    expect(h.node('B').core.stats.dropped.stale - before).toBe(1);
    expect(h.node('B').core.holdersOf(VIP).map((x) => x.node)).toEqual(['A']);
  });
});
