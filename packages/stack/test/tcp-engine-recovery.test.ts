/** Engine-level tests: RFC 6298 RTO, RFC 5681/6582 NewReno, RFC 6675 SACK recovery, bulk transfers under loss. */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { ACK, Pair, Scripted, establish, pattern, rng } from './tcp-engine-harness.js';
import type { TcpRepr } from '@hastack/wire';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const NR = { listen: { congestionControl: 'newreno' as const } };

describe('RFC 6298 retransmission timer', () => {
  it('RTO doubles on each expiry (5.5) and Karn: no RTT sample from a retransmitted segment', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: false, mss: 1000, ...NR });
    expect(h.info().rto).toBe(200);
    const srtt0 = h.info().srtt as number;
    h.send(new Uint8Array(1000));
    const first = s.out();
    expect(first.length).toBe(1);
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const out = s.advance(s.tcp.pollAt() - s.clock.now());
      expect(out.map((r) => r.seq)).toEqual([una]);
      times.push(s.clock.now());
    }
    expect(times).toEqual([200, 600, 1400, 3000]);
    expect((s.tcp.stats() as any).retransmits.rto).toBe(4);
    s.advance(100);
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK });
    expect(h.info().srtt).toBe(srtt0); // Karn: ambiguous sample ignored
    expect(h.info().rto).toBe(200); // backoff cleared on new ACK
    // A clean sample after that does update SRTT (2.3).
    h.send(new Uint8Array(1000));
    s.out();
    s.advance(50);
    s.inject({ dport: 80, seq: 1001, ack: una + 2000, flags: ACK });
    expect(h.info().srtt).toBeCloseTo(0.875 * srtt0 + 0.125 * 50, 6);
  });

  it('RTT is measured from timestamp echoes (RFC 7323 §4), also across retransmissions', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una, tsEcr } = establish(s, { ts: true, mss: 1012 });
    const srtt0 = h.info().srtt as number;
    h.send(new Uint8Array(1000));
    const [seg] = s.out();
    s.advance(80);
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK, options: { tsVal: 300, tsEcr: seg.options.tsVal } });
    expect(h.info().srtt).toBeCloseTo(0.875 * srtt0 + 0.125 * 80, 6);
    void tsEcr;
  });

  it('user timeout: retransmissions give up with ETIMEDOUT and an RST', () => {
    const s = new Scripted({ userTimeout: 5000, tailLossProbe: false });
    const { h, rec } = establish(s, { ts: false });
    h.send(new Uint8Array(10));
    s.out();
    const all = s.advance(20_000);
    expect(rec.error?.code).toBe('ETIMEDOUT');
    expect(all[all.length - 1].flags & 0x04).toBeTruthy();
    expect(h.state).toBe('CLOSED');
  });
});

describe('RFC 5681 / RFC 6582 NewReno', () => {
  it('fast retransmit after exactly 3 duplicate ACKs; cwnd = ssthresh + 3·SMSS', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: false, mss: 1000, ...NR });
    h.send(new Uint8Array(20_000));
    const burst = s.out();
    expect(burst.length).toBe(10); // RFC 6928 initial window, 10·SMSS
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK });
    const more = s.out(); // slow start: cwnd grew by one SMSS → one new segment
    expect(more.length).toBe(2);
    for (let i = 0; i < 2; i++) {
      // RFC 3042 limited transmit: each of the first two dupacks releases one new segment.
      s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK });
      expect(s.out().map((r) => (r.seq - una) >>> 0)).toEqual([12_000 + i * 1000]);
    }
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK });
    const rtx = s.out();
    expect(rtx[0].seq).toBe(una + 1000);
    expect(rtx[0].payload.length).toBe(1000);
    const info = h.info();
    expect(info.inRecovery).toBe(true);
    expect(info.ssthresh).toBe(6500); // FlightSize 13 000 / 2
    expect((s.tcp.stats() as any).retransmits.fast).toBe(1);
  });

  it('partial ACK retransmits the next hole at once; full ACK ends recovery (RFC 6582 §3.2)', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: false, mss: 1000, ...NR });
    h.send(new Uint8Array(10_000));
    s.out();
    for (let i = 0; i < 4; i++) s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK }); // 1 new + 3 dup
    const r1 = s.out();
    expect(r1[0].seq).toBe(una + 1000);
    // The retransmission fills the first hole; the receiver still misses [4000, 5000).
    s.inject({ dport: 80, seq: 1001, ack: una + 4000, flags: ACK });
    const r2 = s.out();
    expect(r2[0].seq).toBe(una + 4000);
    expect(s.clock.now()).toBe(0); // no RTO was needed
    expect(h.info().inRecovery).toBe(true);
    s.inject({ dport: 80, seq: 1001, ack: una + 10_000, flags: ACK });
    expect(h.info().inRecovery).toBe(false);
    expect((s.tcp.stats() as any).retransmits.fast).toBe(2);
    expect((s.tcp.stats() as any).retransmits.rto).toBe(0);
  });
});

describe('after an RTO', () => {
  it('pure ACKs carry SND.MAX, not the rewound SND.NXT (else the peer finds them unacceptable)', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: false, mss: 1000, ...NR });
    h.send(new Uint8Array(3000));
    s.out();
    const rtx = s.advance(200);
    expect(rtx.map((r) => (r.seq - una) >>> 0)).toEqual([0]);
    expect(h.info().sndNxt).toBe((una + 1000) >>> 0);
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: 'x' });
    const [a] = s.advance(40);
    expect(a.payload.length).toBe(0);
    expect((a.seq - una) >>> 0).toBe(3000);
  });

  it('with SACK, only the un-SACKed bytes are retransmitted (RFC 6675 §5.1)', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: true, mss: 1000, ...NR });
    const u = (n: number) => (una + n) >>> 0;
    h.send(new Uint8Array(5000));
    s.out();
    // One dupack SACKing [2000, 4000): not enough for fast retransmit with 5 segments out.
    s.inject({ dport: 80, seq: 1001, ack: u(0), flags: ACK, options: { sack: [u(2000), u(4000)] } });
    s.out();
    const sent: number[] = [];
    // RTO, then ACK the first retransmission so cwnd opens: the next ones skip [2000, 4000).
    for (const r of s.advance(200)) sent.push((r.seq - una) >>> 0);
    s.inject({ dport: 80, seq: 1001, ack: u(1000), flags: ACK, options: { sack: [u(2000), u(4000)] } });
    for (const r of s.out()) sent.push((r.seq - una) >>> 0);
    s.inject({ dport: 80, seq: 1001, ack: u(4000), flags: ACK });
    for (const r of s.out()) sent.push((r.seq - una) >>> 0);
    expect(sent).toEqual([0, 1000, 4000]);
    s.inject({ dport: 80, seq: 1001, ack: u(5000), flags: ACK });
    expect(h.info().inRecovery).toBe(false);
  });
});

describe('RFC 8985 tail loss probe', () => {
  it('an unacknowledged tail is probed after 2·SRTT by retransmitting the last segment', () => {
    const s = new Scripted();
    const { h, una, tsEcr } = establish(s, { ts: true, sack: true, mss: 1012 });
    // An RTT sample of 20 ms: SRTT ≈ 3 ms after one sample from ~0.5.
    h.send(new Uint8Array(1000));
    const [d] = s.out();
    s.advance(20);
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK, options: { tsVal: 200, tsEcr: d.options.tsVal } });
    const srtt = h.info().srtt as number;
    h.send(new Uint8Array(3000));
    const burst = s.out();
    expect(burst.length).toBe(3);
    const t0 = s.clock.now();
    const probe = s.advance(s.tcp.pollAt() - t0);
    expect(s.clock.now() - t0).toBeCloseTo(Math.max(2 * srtt, 10), 6);
    expect(probe.map((r) => (r.seq - una) >>> 0)).toEqual([3000]); // the last segment
    expect((s.tcp.stats() as any).retransmits.tlp).toBe(1);
    // The probe's SACK reveals the real hole → fast recovery repairs it (no RTO).
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK, options: { tsVal: 201, tsEcr: probe[0].options.tsVal, sack: [una + 2000, una + 4000] } });
    const rep = s.out();
    expect(rep.map((r) => (r.seq - una) >>> 0)).toContain(1000);
    expect((s.tcp.stats() as any).retransmits.rto).toBe(0);
    void tsEcr;
  });
});

describe('RFC 5827 early retransmit', () => {
  it('with 3 segments outstanding and nothing queued, 2 duplicate ACKs trigger the retransmission', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: false, mss: 1000, ...NR });
    h.send(new Uint8Array(4000));
    expect(s.out().length).toBe(4);
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK }); // new
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK }); // dup 1
    expect(s.out()).toEqual([]);
    s.inject({ dport: 80, seq: 1001, ack: una + 1000, flags: ACK }); // dup 2 = oseg − 1
    expect(s.out().map((r) => (r.seq - una) >>> 0)).toEqual([1000]);
  });
});

describe('RFC 6675 SACK loss recovery', () => {
  it('retransmits only the holes', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: true, mss: 1000, ...NR });
    h.send(new Uint8Array(10_000));
    const sent: TcpRepr[] = [...s.out()];
    const u = (n: number) => (una + n) >>> 0;
    // Lost: [1000, 2000) and [4000, 5000).
    const sacks = [
      [u(2000), u(3000)],
      [u(2000), u(4000)],
      [u(5000), u(6000), u(2000), u(4000)],
      [u(5000), u(7000), u(2000), u(4000)],
      [u(5000), u(8000), u(2000), u(4000)],
      [u(5000), u(9000), u(2000), u(4000)],
      [u(5000), u(10000), u(2000), u(4000)],
    ];
    for (const sack of sacks) {
      s.inject({ dport: 80, seq: 1001, ack: u(1000), flags: ACK, options: { sack } });
      sent.push(...s.out());
    }
    let max = una;
    const rtx: number[] = [];
    for (const r of sent) {
      if (r.payload.length === 0) continue;
      if (((r.seq - max) | 0) < 0) rtx.push((r.seq - una) >>> 0);
      else max = (r.seq + r.payload.length) >>> 0;
    }
    expect(rtx).toEqual([1000, 4000]);
    expect((s.tcp.stats() as any).retransmits.sack).toBe(2);
    s.inject({ dport: 80, seq: 1001, ack: u(10000), flags: ACK });
    expect(h.info().inRecovery).toBe(false);
  });

  it('receiver: out-of-order data → immediate ACK with SACK blocks, most recent first (RFC 2018 §4)', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { una } = establish(s, { ts: true });
    const ts = { tsVal: 200, tsEcr: 0 };
    s.inject({ dport: 80, seq: 1101, ack: una, flags: ACK, payload: new Uint8Array(100), options: ts });
    let [a] = s.out();
    expect(a.ack).toBe(1001);
    expect(a.options.sack).toEqual([1101, 1201]);
    s.inject({ dport: 80, seq: 1301, ack: una, flags: ACK, payload: new Uint8Array(100), options: ts });
    [a] = s.out();
    expect(a.options.sack).toEqual([1301, 1401, 1101, 1201]);
    s.inject({ dport: 80, seq: 1201, ack: una, flags: ACK, payload: new Uint8Array(100), options: ts });
    [a] = s.out();
    expect(a.options.sack).toEqual([1101, 1401]);
    // Filling the gap: one immediate ACK for everything, no SACK left.
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: new Uint8Array(100), options: ts });
    [a] = s.out();
    expect(a.ack).toBe(1401);
    expect(a.options.sack).toEqual([]);
  });
});

function bulk(p: Pair, bytesAtoB: number, bytesBtoA: number, maxMs = 600_000) {
  const { client, server, ch, sh } = p.connect();
  const d1 = pattern(bytesAtoB, 11);
  const d2 = pattern(bytesBtoA, 12);
  let o1 = 0;
  let o2 = 0;
  const pump = () => {
    while (o1 < d1.length) {
      const n = ch.send(d1.subarray(o1, o1 + 65536));
      if (n === 0) break;
      o1 += n;
    }
    while (o2 < d2.length) {
      const n = sh.send(d2.subarray(o2, o2 + 65536));
      if (n === 0) break;
      o2 += n;
    }
  };
  pump();
  const ok = p.run(() => {
    pump();
    return server.bytes >= d1.length && client.bytes >= d2.length;
  }, maxMs);
  return { ok, d1, d2, client, server, ch, sh };
}

describe('bulk transfers (SHA-256), engine only', () => {
  it('4 MiB A→B + 1 MiB B→A with 1% loss and reordering (SACK, CUBIC, timestamps)', () => {
    const p = new Pair();
    p.logEnabled = false;
    p.delay = 5;
    const r = rng(42);
    p.filter = () => {
      const x = r();
      if (x < 0.01) return 'drop';
      if (x < 0.03) return { delay: 3 };
      return 'deliver';
    };
    const { ok, d1, d2, client, server } = bulk(p, 4 << 20, 1 << 20);
    expect(ok).toBe(true);
    expect(sha(server.data())).toBe(sha(d1));
    expect(sha(client.data())).toBe(sha(d2));
    const st = p.a.tcp.stats() as any;
    expect(st.retransmits.sack).toBeGreaterThan(0);
    expect(p.now).toBeLessThan(20_000);
  });

  it('2 MiB with 3% loss, NewReno without SACK or timestamps', () => {
    const opts = { congestionControl: 'newreno' as const, sack: false, timestamps: false };
    const p = new Pair(opts, opts);
    p.logEnabled = false;
    p.delay = 2;
    const r = rng(9);
    p.filter = () => (r() < 0.03 ? 'drop' : 'deliver');
    const { ok, d1, server } = bulk(p, 2 << 20, 0);
    expect(ok).toBe(true);
    expect(sha(server.data())).toBe(sha(d1));
    const st = p.a.tcp.stats() as any;
    expect(st.retransmits.fast).toBeGreaterThan(0);
    expect(st.retransmits.sack).toBe(0);
  });

  it('deterministic: the same seed gives the same segment count', () => {
    const run = () => {
      const p = new Pair();
      p.logEnabled = false;
      const r = rng(5);
      p.filter = () => (r() < 0.02 ? 'drop' : 'deliver');
      bulk(p, 256 << 10, 0);
      return [(p.a.tcp.stats() as any).outSegs, p.now];
    };
    expect(run()).toEqual(run());
  });
});
