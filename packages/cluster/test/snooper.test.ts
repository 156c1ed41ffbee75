import { describe, expect, it } from 'vitest';
import { checksum, pseudoHeaderSum } from '@hastack/wire';
import { ConnectionSnooper, ipFromString } from '@hastack/cluster';
import { Harness, MAC_A, VIP } from './harness.js';
import { CLIENT, frame, handshake, key, text } from './frames.js';

describe('ConnectionSnooper (seed 000)', () => {
  it('learns ISNs and options from the handshake', () => {
    const sn = new ConnectionSnooper();
    sn.watch(VIP, [{ from: 80, to: 80 }]);
    handshake(sn);
    const st = sn.get(key())!;
    expect(st.state).toBe('established');
    expect(st.client).toMatchObject({ ip: CLIENT, port: 40000, isn: 1000, nxt: 1001, ack: 5001, mss: 1460, wscale: 7, sackPermitted: true, timestamps: true, tsval: 101, tsecr: 200 });
    expect(st.server).toMatchObject({ ip: VIP, port: 80, isn: 5000, nxt: 5001, ack: 1001, mss: 1400, wscale: 8, sackPermitted: true, timestamps: true, tsval: 200, tsecr: 100 });
    expect(st.client.window).toBe(502 * 128); // scaled after the handshake (RFC 7323 §2.2)
    expect(st.replay).toMatchObject({ valid: true, clientSeq: 1001, serverSeq: 5001 });
    expect(st.replay.bytes.length).toBe(0);
  });

  it('tracks data both ways, the client request since the last acknowledged one, and what to suppress', () => {
    const sn = new ConnectionSnooper();
    sn.watch(VIP);
    handshake(sn);
    const req1 = 'GET /a HTTP/1.1\r\nHost: x\r\n\r\n';
    sn.receiveFrame(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'PA', data: req1 }), 1);
    let st = sn.get(key())!;
    expect(text(st.replay.bytes)).toBe(req1);
    // Retransmission of the same request: not stored twice.
    sn.receiveFrame(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'PA', data: req1 }), 2);
    expect(sn.stats.retransmissions).toBe(1);
    const c2 = 1001 + req1.length;
    sn.receiveFrame(frame({ from: 's', seq: 5001, ack: c2, flags: 'PA', data: new Uint8Array(100) }), 3);
    sn.receiveFrame(frame({ from: 'c', seq: c2, ack: 5061, flags: 'A' }), 4);
    st = sn.get(key())!;
    expect(st.server.nxt).toBe(5101);
    expect(st.client.ack).toBe(5061);
    expect(st.suppress).toBe(60); // the client has 60 response bytes: a replay must not resend them
    expect(text(st.replay.bytes)).toBe(req1);
    sn.receiveFrame(frame({ from: 'c', seq: c2, ack: 5101, flags: 'A' }), 5);
    // Second request after the first response was fully acknowledged: the base moves.
    const req2 = 'GET /b HTTP/1.1\r\n\r\n';
    sn.receiveFrame(frame({ from: 'c', seq: c2, ack: 5101, flags: 'PA', data: req2.slice(0, 5) }), 6);
    // A retransmission that overlaps old bytes and carries new ones: only the new part is added.
    sn.receiveFrame(frame({ from: 'c', seq: c2, ack: 5101, flags: 'PA', data: req2 }), 7);
    st = sn.get(key())!;
    expect(text(st.replay.bytes)).toBe(req2);
    expect(st.replay).toMatchObject({ valid: true, clientSeq: c2, serverSeq: 5101 });
    expect(st.suppress).toBe(0);
    expect(st.client.nxt).toBe(c2 + req2.length);
    expect(st.lastSeen).toBe(7);
  });

  it('a missed client segment makes the replay invalid instead of wrong', () => {
    const sn = new ConnectionSnooper();
    sn.watch(VIP);
    handshake(sn);
    sn.receiveFrame(frame({ from: 'c', seq: 1011, ack: 5001, flags: 'PA', data: 'later bytes' }), 1);
    const st = sn.get(key())!;
    expect(st.replay.valid).toBe(false);
    expect(sn.stats.gaps).toBe(1);
    // The server acknowledging bytes we never saw also invalidates.
    const sn2 = new ConnectionSnooper();
    sn2.watch(VIP);
    handshake(sn2);
    sn2.receiveFrame(frame({ from: 's', seq: 5001, ack: 1050, flags: 'A' }), 1);
    expect(sn2.get(key())!.replay.valid).toBe(false);
  });

  it('memory is bounded per connection and in total; evictions are counted', () => {
    const sn = new ConnectionSnooper({ maxBytesPerConnection: 64, maxTotalBytes: 100, maxConnections: 3 });
    sn.watch(VIP);
    handshake(sn, 40001, 0);
    sn.receiveFrame(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'PA', data: new Uint8Array(80), cport: 40001 }), 1);
    expect(sn.get(key(40001))!.replay.valid).toBe(false);
    expect(sn.stats.overflows).toBe(1);
    expect(sn.stats.bytesStored).toBe(0);
    // Total bound: two connections of 60 bytes each do not fit in 100: the older is evicted.
    handshake(sn, 40002, 2);
    sn.receiveFrame(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'PA', data: new Uint8Array(60), cport: 40002 }), 3);
    handshake(sn, 40003, 4);
    sn.receiveFrame(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'PA', data: new Uint8Array(60), cport: 40003 }), 5);
    expect(sn.stats.bytesStored).toBeLessThanOrEqual(100);
    expect(sn.get(key(40003))!.replay.bytes.length).toBe(60);
    expect(sn.stats.evictedConnections).toBeGreaterThanOrEqual(1);
    // Connection count bound.
    for (let p = 41000; p < 41010; p++) handshake(sn, p, 10);
    expect(sn.size).toBe(3);
  });

  it('FIN exchange and RST end tracking; bad checksums and unwatched traffic are counted', () => {
    const sn = new ConnectionSnooper();
    sn.watch(VIP, [{ from: 80, to: 80 }]);
    handshake(sn);
    sn.receiveFrame(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'FA' }), 1);
    expect(sn.get(key())!.state).toBe('closing');
    sn.receiveFrame(frame({ from: 's', seq: 5001, ack: 1002, flags: 'FA' }), 2);
    sn.receiveFrame(frame({ from: 'c', seq: 1002, ack: 5002, flags: 'A' }), 3);
    expect(sn.get(key())).toBeUndefined();
    expect(sn.stats.connectionsClosed).toBe(1);
    handshake(sn, 40005);
    sn.receiveFrame(frame({ from: 'c', seq: 1001, flags: 'R', cport: 40005 }), 4);
    expect(sn.size).toBe(0);
    expect(sn.stats.resets).toBe(1);
    const bad = frame({ from: 'c', seq: 1, flags: 'S' });
    bad[bad.length - 1] ^= 0xff;
    bad[14 + 20 + 16] ^= 1;
    sn.receiveFrame(bad, 5);
    expect(sn.stats.badChecksum).toBe(1);
    const other = frame({ from: 'c', seq: 1, flags: 'S' });
    other[14 + 20 + 3] = 81; // destination port 81: not watched
    other[14 + 20 + 16] = 0;
    other[14 + 20 + 17] = 0;
    new DataView(other.buffer).setUint16(14 + 20 + 16, checksum(other, 34, other.length, pseudoHeaderSum(ipFromString(CLIENT), ipFromString(VIP), 6, other.length - 34)));
    sn.receiveFrame(other, 6);
    expect(sn.stats.unwatched).toBe(1);
    expect(sn.size).toBe(0);
    for (const junk of [new Uint8Array(5), new Uint8Array(40), frame({ from: 'c', seq: 1, flags: 'S' }).subarray(0, 40)]) {
      expect(() => sn.receiveFrame(junk, 7)).not.toThrow();
    }
  });

  it('picks up a connection mid-stream and becomes replayable at the next request boundary', () => {
    const sn = new ConnectionSnooper();
    sn.watch(VIP);
    sn.receiveFrame(frame({ from: 's', seq: 9000, ack: 3000, flags: 'PA', data: new Uint8Array(10) }), 0);
    sn.receiveFrame(frame({ from: 'c', seq: 3000, ack: 9010, flags: 'A' }), 1);
    let st = sn.get(key())!;
    expect(st.replay.valid).toBe(false);
    expect(st.client.isn).toBeNull();
    sn.receiveFrame(frame({ from: 'c', seq: 3000, ack: 9010, flags: 'PA', data: 'GET /' }), 2);
    st = sn.get(key())!;
    expect(st.replay).toMatchObject({ valid: true, clientSeq: 3000, serverSeq: 9010 });
    expect(text(st.replay.bytes)).toBe('GET /');
    expect(sn.stats.midstreamPickups).toBe(1);
  });

  it('output queue: states matching a slice are queued (bounded) and taken', () => {
    const sn = new ConnectionSnooper({ maxQueue: 2 });
    sn.watch(VIP);
    for (const p of [40001, 40002, 40003]) handshake(sn, p);
    expect(sn.enqueue({ ip: VIP, ports: [{ from: 80, to: 80 }] })).toBe(2);
    expect(sn.stats.queueDrops).toBe(1);
    expect(sn.enqueue({ ip: '198.18.0.99' })).toBe(0);
    const out = sn.takeOutput();
    expect(out.map((s) => s.key)).toEqual([key(40001), key(40002)]);
    expect(sn.takeOutput()).toEqual([]);
  });
});

describe('snooped states reach the takeover host (seed 001 claim 8)', () => {
  it('a third node\'s snooper sends its states to whoever claims the failed node\'s address', () => {
    const snC = new ConnectionSnooper(); // no watch(): the cluster points it at A's address
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'], failback: 'none' } },
      { nodeId: 'B' },
      { nodeId: 'C', snooper: snC },
    ]);
    h.startAll();
    h.advance(100);
    handshake(snC);
    snC.receiveFrame(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'PA', data: 'GET / HTTP/1.1\r\n\r\n' }), h.clock.now());
    h.crash('A');
    h.advance(100);
    const s = h.of('B', 'snooped');
    expect(s).toHaveLength(1);
    expect(s[0]).toMatchObject({ from: 'C', failedNode: 'A' });
    expect(s[0].states.map((x) => x.key)).toEqual([key()]);
    expect(text(s[0].states[0].replay.bytes)).toBe('GET / HTTP/1.1\r\n\r\n');
    expect(s[0].states[0].server.isn).toBe(5000);
  });

  it('a snooper on the successor itself puts its states into the takeover action', () => {
    const snB = new ConnectionSnooper();
    snB.watch(VIP);
    const h = new Harness([
      { nodeId: 'A', home: [{ ip: VIP, mac: MAC_A }], failover: { successors: ['B'], failback: 'none' } },
      { nodeId: 'B', snooper: snB },
    ]);
    h.startAll();
    h.advance(100);
    handshake(snB);
    h.crash('A');
    h.advance(100);
    const t = h.of('B', 'takeover').find((a) => a.reason === 'failure')!;
    expect(t.snooped.map((x) => x.key)).toEqual([key()]);
    expect(t.checkpoints).toEqual([]);
  });
});

describe('snooper fuzz', () => {
  it('random and mutated frames never throw and memory stays bounded', () => {
    const sn = new ConnectionSnooper({ maxTotalBytes: 4096, maxConnections: 16, verifyChecksums: false });
    sn.watch(VIP);
    const frames: Uint8Array[] = [];
    const cap = { receiveFrame: (f: Uint8Array) => frames.push(Uint8Array.from(f)) } as unknown as ConnectionSnooper;
    handshake(cap);
    frames.push(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'PA', data: 'GET / HTTP/1.1\r\n\r\n' }));
    frames.push(frame({ from: 's', seq: 5001, ack: 1020, flags: 'PA', data: new Uint8Array(300) }));
    let seed = 99;
    const rnd = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    for (let i = 0; i < 20000; i++) {
      let f: Uint8Array;
      if (i % 4 === 0) f = Uint8Array.from({ length: rnd(200) }, () => rnd(256));
      else {
        f = Uint8Array.from(frames[rnd(frames.length)]);
        for (let k = 0, n = 1 + rnd(3); k < n; k++) f[14 + rnd(f.length - 14)] ^= 1 << rnd(8);
      }
      expect(() => sn.receiveFrame(f, i)).not.toThrow();
      if (i % 1000 === 0) for (const s of sn.states()) expect(s.replay.bytes.length).toBeLessThanOrEqual(4096);
    }
    expect(sn.size).toBeLessThanOrEqual(16);
    expect(sn.stats.bytesStored).toBeLessThanOrEqual(4096);
    expect(sn.stats.bytesStored).toBeGreaterThanOrEqual(0);
  });
});
