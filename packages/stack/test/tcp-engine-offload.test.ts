/** Engine-level tests: checksum offload, TSO super-segments, GRO-sized input, and 10,000 connections. */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { checksum, pseudoHeaderSum } from '@hastack/wire';
import { A, ACK, B, Pair, Recorder, Scripted, establish, pattern, rng } from './tcp-engine-harness.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const OFF = { rxChecksum: true, txChecksum: true, tso: true, gro: true, maxFrame: 65536 + 14 };

describe('checksum offload', () => {
  it('txChecksum: the field holds the pseudo-header sum and tx says where to complete it', () => {
    const s = new Scripted();
    s.node.ip.offloads = { ...OFF, tso: false };
    const { h } = establish(s, { ts: false });
    s.node.ip.sent = [];
    h.send(new TextEncoder().encode('offloaded'));
    s.tcp.poll(s.clock.now());
    const [x] = s.node.ip.sent;
    expect(x.tx.tx).toEqual({ csumStart: 0, csumOffset: 16 });
    // Completing it as the link would: checksum over the segment (field = partial sum) is valid.
    const seg = x.seg.slice();
    const c = checksum(seg, 0, seg.length, 0);
    seg[16] = c >> 8;
    seg[17] = c & 255;
    expect(checksum(seg, 0, seg.length, pseudoHeaderSum(A, B, 6, seg.length))).toBe(0);
  });

  it('rx meta.csumValid skips verification (a corrupted checksum field is accepted)', () => {
    const s = new Scripted();
    const { rec, una } = establish(s, { ts: false });
    const buf = new Uint8Array(25);
    buf[0] = 40000 >> 8; buf[1] = 40000 & 255; buf[3] = 80;
    buf[4] = 0; buf[5] = 0; buf[6] = 0x03; buf[7] = 0xe9; // seq 1001
    buf[8] = una >>> 24; buf[9] = (una >>> 16) & 255; buf[10] = (una >>> 8) & 255; buf[11] = una & 255;
    buf[12] = 0x50; buf[13] = ACK; buf[14] = 0xff; buf[15] = 0xff;
    buf.set(new TextEncoder().encode('hello'), 20);
    s.tcp.receive({ src: B, dst: A, protocol: 6, ttl: 64, tos: 0, nonUnicast: false, meta: { csumValid: true } }, buf, buf, 0);
    expect(rec.text()).toBe('hello');
  });
});

describe('TSO / GRO', () => {
  it('TSO: new data leaves as super-segments of whole MSS pieces with gsoSize', () => {
    const s = new Scripted();
    s.node.ip.offloads = OFF;
    const { h } = establish(s, { ts: false, window: 65535, ws: 4 });
    s.node.ip.sent = [];
    h.send(new Uint8Array(100_000));
    s.tcp.poll(s.clock.now());
    const sent = s.node.ip.sent;
    expect(sent.length).toBe(1);
    expect(sent[0].tx.tx?.gsoSize).toBe(1460);
    expect(sent[0].tx.tx?.hdrLen).toBe(20);
    expect(sent[0].seg.length - 20).toBe(10 * 1460); // the initial window, in one frame
    expect((s.tcp.stats() as any).outSegs).toBeGreaterThanOrEqual(11);
  });

  it('GRO: a received segment larger than the MSS is accepted whole', () => {
    const s = new Scripted();
    const { rec, una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: new Uint8Array(30_000).fill(7) });
    expect(rec.bytes).toBe(30_000);
    const [a] = s.out();
    expect(a.ack).toBe(31_001);
  });

  it('2 MiB over TSO/GRO links with 1% loss arrives intact', () => {
    const p = new Pair();
    p.a.ip.offloads = OFF;
    p.b.ip.offloads = OFF;
    p.logEnabled = false;
    const r = rng(3);
    p.filter = () => (r() < 0.01 ? 'drop' : 'deliver');
    const client = new Recorder();
    const server = new Recorder();
    p.b.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (h) => h.setEvents(server) });
    const ch = p.a.tcp.open({ remoteAddress: B, remotePort: 80 }, client);
    const data = pattern(2 << 20, 8);
    let off = 0;
    const ok = p.run(() => {
      while (client.established && off < data.length) {
        const n = ch.send(data.subarray(off, off + 65536));
        if (n === 0) break;
        off += n;
      }
      return server.bytes === data.length;
    }, 120_000);
    expect(ok).toBe(true);
    expect(sha(server.data())).toBe(sha(data));
  });
});

describe('scale', () => {
  it('10,000 concurrent connections: established, counted, and idle polling is cheap', () => {
    const p = new Pair();
    p.logEnabled = false;
    let accepted = 0;
    p.b.tcp.listen({ localAddress: 0, localPort: 80, backlog: 20_000, onConnection: (h) => { accepted++; h.setEvents(new Recorder()); } });
    const recs: Recorder[] = [];
    for (let i = 0; i < 10_000; i++) {
      const r = new Recorder();
      p.a.tcp.open({ remoteAddress: B, remotePort: 80 }, r);
      recs.push(r);
    }
    p.run(() => accepted === 10_000, 10_000);
    expect(accepted).toBe(10_000);
    expect(recs.every((r) => r.established === 1)).toBe(true);
    expect((p.a.tcp.stats() as any).currEstab).toBe(10_000);
    expect((p.b.tcp.stats() as any).connections.ESTABLISHED).toBe(10_000);
    p.run(() => false, 1000); // let delayed ACKs and timers settle
    expect(p.a.tcp.pollAt()).toBe(Infinity);
    const t0 = performance.now();
    for (let i = 0; i < 10_000; i++) {
      p.a.tcp.poll(p.now);
      p.a.tcp.pollAt();
    }
    expect(performance.now() - t0).toBeLessThan(200); // O(1) per idle poll, not O(connections)
  });
});
