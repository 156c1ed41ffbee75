/** Engine-level tests: sequence wrap-around, ICMP errors, idle restart, TIME_WAIT reuse, CUBIC, buffers. */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { A, ACK, B, KEY, Pair, Recorder, Scripted, SYN, establish, flagsOf, makeNode, pattern } from './tcp-engine-harness.js';
import { hashTuple } from '../src/tcp/siphash.js';
import { SendBuffer, Reassembly } from '../src/tcp/buffers.js';
import { DeadlineHeap } from '../src/tcp/heap.js';
import { VirtualClock } from '../src/clock.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('sequence numbers wrap around 2^32 (RFC 9293 §3.4)', () => {
  it('receive side: data crossing 2^32 is delivered in order', () => {
    const s = new Scripted();
    let rec: Recorder | null = null;
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (c) => { rec = new Recorder(); c.setEvents(rec); } });
    const isn = 0xffffff00;
    s.inject({ dport: 80, seq: isn, flags: SYN });
    const [sa] = s.out();
    s.inject({ dport: 80, seq: isn + 1, ack: sa.seq + 1, flags: ACK });
    const data = pattern(1000, 5);
    s.inject({ dport: 80, seq: (isn + 1 + 500) >>> 0, ack: sa.seq + 1, flags: ACK, payload: data.subarray(500) }); // after the wrap, out of order
    s.inject({ dport: 80, seq: isn + 1, ack: sa.seq + 1, flags: ACK, payload: data.subarray(0, 500) });
    expect(sha(rec!.data())).toBe(sha(data));
    const out = s.out();
    expect(out[out.length - 1].ack).toBe((isn + 1 + 1000) >>> 0);
  });

  it('send side: an ISS just below 2^32 transfers intact both ways', () => {
    // Choose the clock so that ISN = M + F lands 3000 below 2^32 for this tuple.
    const clock = new VirtualClock(0);
    const lp = 50000;
    const f = hashTuple(KEY, A, lp, B, 80);
    const m = (0x100000000 - 3000 - f + 0x100000000) % 0x100000000;
    const p = new Pair();
    p.clock = clock;
    clock.advanceSync((m + 0.5) / 250);
    p.a = makeNode(clock, A);
    p.b = makeNode(clock, B);
    const client = new Recorder();
    const server = new Recorder();
    let sh: import('../src/tcp/contract.js').TcpConnectionHandle | null = null;
    p.b.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (h) => { sh = h; h.setEvents(server); } });
    const ch = p.a.tcp.open({ remoteAddress: B, remotePort: 80, localPort: lp }, client);
    p.run(() => client.established > 0 && sh !== null, 1000);
    expect((0x100000000 - (ch.info().iss as number))).toBe(3000);
    const up = pattern(200_000, 6);
    const down = pattern(150_000, 7);
    ch.send(up);
    sh!.send(down);
    p.run(() => server.bytes === up.length && client.bytes === down.length, 10_000);
    expect(sha(server.data())).toBe(sha(up));
    expect(sha(client.data())).toBe(sha(down));
  });
});

describe('ICMP errors (RFC 1122 §4.2.3.9, RFC 1191)', () => {
  function quote(src: number, dst: number, sport: number, dport: number): Uint8Array {
    const q = new Uint8Array(28);
    q[0] = 0x45; q[9] = 6;
    q[12] = src >>> 24; q[13] = (src >>> 16) & 255; q[14] = (src >>> 8) & 255; q[15] = src & 255;
    q[16] = dst >>> 24; q[17] = (dst >>> 16) & 255; q[18] = (dst >>> 8) & 255; q[19] = dst & 255;
    q[20] = sport >> 8; q[21] = sport & 255; q[22] = dport >> 8; q[23] = dport & 255;
    return q;
  }
  it('port unreachable for a SYN_SENT connection → ECONNREFUSED', () => {
    const s = new Scripted();
    const rec = new Recorder();
    const h = s.tcp.open({ remoteAddress: B, remotePort: 80 }, rec);
    s.out();
    s.tcp.icmpError(3, 3, quote(A, B, h.localPort, 80), 0);
    expect(rec.error?.code).toBe('ECONNREFUSED');
  });
  it('fragmentation needed lowers the MSS to the new path MTU − 40', () => {
    const s = new Scripted();
    const { h } = establish(s, { ts: false });
    expect(h.info().sndMss).toBe(1460);
    s.node.ip.mtu = 1400;
    s.tcp.icmpError(3, 4, quote(A, B, 80, 40000), 0);
    expect(h.info().sndMss).toBe(1360);
    h.send(new Uint8Array(3000));
    expect(s.out().map((r) => r.payload.length)).toEqual([1360, 1360]);
  });
});

describe('RFC 5681 §4.1 restart after idle', () => {
  it('after an idle period longer than the RTO, cwnd restarts from the initial window', () => {
    const p = new Pair();
    p.logEnabled = false;
    const { ch, server } = p.connect();
    ch.send(pattern(2 << 20));
    p.run(() => server.bytes === 2 << 20, 10_000);
    expect(ch.info().cwnd as number).toBeGreaterThan(100_000);
    p.run(() => false, 5000);
    ch.send(pattern(1 << 20));
    p.a.tcp.poll(p.now);
    expect(ch.info().cwnd).toBe(10 * 1460);
  });
});

describe('TIME_WAIT reuse (RFC 9293 §3.10.7.4, RFC 6191)', () => {
  it('a new SYN with a higher sequence number opens a new connection on the same 4-tuple', () => {
    const s = new Scripted();
    const accepted: Recorder[] = [];
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (c) => { const r = new Recorder(); accepted.push(r); c.setEvents(r); c.shutdown(); } });
    s.inject({ dport: 80, seq: 1000, flags: SYN });
    const [sa] = s.out();
    s.inject({ dport: 80, seq: 1001, ack: sa.seq + 1, flags: ACK });
    const fin = s.out().find((r) => r.flags & 0x01)!;
    s.inject({ dport: 80, seq: 1001, ack: fin.seq + 1, flags: ACK | 0x01 });
    expect((s.tcp.stats() as any).connections.TIME_WAIT).toBe(1);
    s.out();
    s.inject({ dport: 80, seq: 900_000, flags: SYN });
    const [sa2] = s.out();
    expect(flagsOf(sa2)).toBe('SYN|ACK');
    expect(sa2.ack).toBe(900_001);
    s.inject({ dport: 80, seq: 900_001, ack: sa2.seq + 1, flags: ACK });
    expect(accepted.length).toBe(2);
  });
});

describe('CUBIC (RFC 9438)', () => {
  it('after a loss: ssthresh = 0.7·cwnd, and the window grows back toward W_max', () => {
    const s = new Scripted();
    const { h, una } = establish(s, { ts: false, sack: false, mss: 1000 });
    expect(h.info().cc).toBe('cubic');
    h.send(new Uint8Array(1_000_000));
    s.out();
    let acked = 0;
    // Grow the window with clean ACKs, 1 RTT = 10 ms each round.
    for (let round = 0; round < 3; round++) {
      s.advance(10);
      const flight = ((h.info().sndNxt as number) - una - acked) >>> 0;
      acked += flight;
      s.inject({ dport: 80, seq: 1001, ack: (una + acked) >>> 0, flags: ACK });
      s.out();
    }
    const before = h.info().cwnd as number;
    for (let i = 0; i < 4; i++) s.inject({ dport: 80, seq: 1001, ack: (una + acked) >>> 0, flags: ACK }); // 3 dupacks (+1)
    s.out();
    expect(h.info().ssthresh).toBe(Math.floor(before * 0.7));
    const ss = h.info().ssthresh as number;
    acked = ((h.info().sndNxt as number) - una) >>> 0;
    s.inject({ dport: 80, seq: 1001, ack: (una + acked) >>> 0, flags: ACK });
    s.out();
    expect(h.info().inRecovery).toBe(false);
    // RFC 6582 §3.2 step 6: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), nothing in flight.
    expect(h.info().cwnd).toBe(2000);
    // Congestion avoidance: grows, concave toward W_max = `before`.
    let prev = 2000;
    for (let round = 0; round < 60; round++) {
      s.advance(10);
      const sndNxt = h.info().sndNxt as number;
      acked = (sndNxt - una) >>> 0;
      s.inject({ dport: 80, seq: 1001, ack: sndNxt, flags: ACK });
      s.out();
      const cw = h.info().cwnd as number;
      expect(cw).toBeGreaterThanOrEqual(prev);
      prev = cw;
      if (acked > 990_000) break;
    }
    expect(prev).toBeGreaterThan(ss);
  });
});

describe('buffers and heap', () => {
  it('SendBuffer: append up to the limit, consume, copyOut across blocks', () => {
    const b = new SendBuffer(40_000);
    const d = pattern(50_000, 9);
    expect(b.append(d)).toBe(40_000);
    expect(b.available).toBe(0);
    b.consume(10_000);
    expect(b.append(d.subarray(40_000))).toBe(10_000);
    const out = new Uint8Array(40_000);
    b.copyOut(0, 40_000, out, 0);
    expect(sha(out)).toBe(sha(d.subarray(10_000, 50_000)));
    const mid = new Uint8Array(20_000);
    b.copyOut(12_345, 20_000, mid, 0);
    expect(sha(mid)).toBe(sha(d.subarray(22_345, 42_345)));
    b.consume(40_000);
    expect(b.length).toBe(0);
  });

  it('Reassembly: overlapping inserts keep each byte once; takeAt trims', () => {
    const r = new Reassembly();
    const base = 0xfffffff0;
    const d = pattern(100, 2);
    r.insert(base, (base + 10) >>> 0, d.subarray(10, 30));
    r.insert(base, (base + 20) >>> 0, d.subarray(20, 50));
    r.insert(base, (base + 5) >>> 0, d.subarray(5, 60));
    expect(r.bytes).toBe(55);
    const blocks: number[] = [];
    r.sackBlocks(base, 4, blocks);
    expect(blocks).toEqual([(base + 5) >>> 0, (base + 60) >>> 0]);
    expect(r.takeAt(base)).toBeNull();
    const got = r.takeAt((base + 7) >>> 0)!;
    expect(Array.from(got)).toEqual(Array.from(d.subarray(7, 10)));
  });

  it('DeadlineHeap pops in deadline order', () => {
    const h = new DeadlineHeap<number>();
    const xs = pattern(500, 4);
    xs.forEach((x, i) => h.push(x, i));
    let prev = -1;
    for (let i = 0; i < 500; i++) {
      const at = h.peekAt();
      expect(at).toBeGreaterThanOrEqual(prev);
      prev = at;
      h.pop();
    }
    expect(h.peekAt()).toBe(Infinity);
  });
});
