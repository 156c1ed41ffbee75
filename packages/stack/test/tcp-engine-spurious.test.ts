/**
 * Engine-level tests: spurious retransmission detection with timestamps (RFC 3522 Eifel
 * detection) and the RFC 4015 response (restore cwnd/ssthresh/CUBIC state, leave recovery, no
 * go-back-N after a spurious RTO), plus the adaptive DupThresh after a spurious fast retransmit.
 * Scripted peer, virtual clock.
 */
import { describe, expect, it } from 'vitest';
import { ACK, Scripted, establish } from './tcp-engine-harness.js';

const stats = (s: Scripted) => s.tcp.stats() as any;

/** Established TS+SACK connection (payload 1000 per segment) with a grown window. */
function setup() {
  const s = new Scripted({ tailLossProbe: false });
  const e = establish(s, { ts: true, sack: true, mss: 1012, window: 65535 });
  const u = (n: number) => (e.una + n) >>> 0;
  // Grow cwnd out of the initial window: 10 segments, all ACKed after 20 ms.
  e.h.send(new Uint8Array(10_000));
  const first = s.out();
  expect(first.length).toBe(10);
  s.advance(20);
  s.inject({ dport: 80, seq: 1001, ack: u(10_000), flags: ACK, options: { tsVal: 200, tsEcr: first[9].options.tsVal } });
  s.out();
  return { s, ...e, u };
}

describe('RFC 3522 / RFC 4015: spurious RTO', () => {
  it('a late ACK of the original after an RTO undoes the cwnd reduction and sends new data, not go-back-N', () => {
    const { s, h, u } = setup();
    h.send(new Uint8Array(40_000));
    const flight = s.out();
    expect(flight.length).toBeGreaterThan(4);
    const cwnd0 = h.info().cwnd as number;
    const ssthresh0 = h.info().ssthresh as number;
    const sndMax = h.info().sndMax as number;
    // No ACK comes back in time: the RTO retransmits SND.UNA and collapses cwnd to 1 SMSS.
    const rtx = s.advance(h.info().rto as number);
    expect((rtx[0].seq - u(0)) >>> 0).toBe(10_000);
    const rtoSegs = stats(s).retransmits.rto;
    expect(rtoSegs).toBeGreaterThanOrEqual(1);
    expect(h.info().cwnd).toBeLessThan(cwnd0);
    // The original was not lost, only its ACK was late: it echoes the original's TSval.
    s.inject({ dport: 80, seq: 1001, ack: u(11_000), flags: ACK, options: { tsVal: 300, tsEcr: flight[0].options.tsVal } });
    expect(stats(s).spuriousRetransmits).toEqual({ rto: 1, fast: 0 });
    expect(h.info().cwnd).toBeGreaterThanOrEqual(cwnd0);
    expect(h.info().ssthresh).toBe(ssthresh0);
    expect(h.info().sndNxt).toBe(sndMax); // RFC 4015 §3.2 (4): SND.NXT ← SND.MAX
    const after = s.out();
    // Nothing below SND.MAX is sent again (go-back-N would resend 11 000, 12 000, ...).
    expect(after.length).toBeGreaterThan(0);
    for (const r of after) expect(((r.seq - sndMax) | 0) >= 0).toBe(true);
    expect(stats(s).retransmits.rto).toBe(rtoSegs);
  });

  it('an ACK echoing the retransmission itself is a genuine loss: nothing is undone', () => {
    const { s, h, u } = setup();
    h.send(new Uint8Array(40_000));
    const flight = s.out();
    const cwnd0 = h.info().cwnd as number;
    const sndMax = h.info().sndMax as number;
    const rtx = s.advance(h.info().rto as number);
    expect(rtx[0].options.tsVal).toBeGreaterThan(flight[0].options.tsVal!);
    s.inject({ dport: 80, seq: 1001, ack: u(11_000), flags: ACK, options: { tsVal: 300, tsEcr: rtx[0].options.tsVal } });
    expect(stats(s).spuriousRetransmits).toEqual({ rto: 0, fast: 0 });
    expect(h.info().cwnd).toBeLessThan(cwnd0);
    // Go-back-N continues with the next unacknowledged segments.
    const next = s.out();
    expect(next.length).toBeGreaterThan(0);
    expect((next[0].seq - sndMax) | 0).toBeLessThan(0);
    expect(stats(s).retransmits.rto).toBeGreaterThan(1);
  });
});

describe('RFC 3522 / RFC 4015: spurious fast retransmit (reordering)', () => {
  it('a reordered segment that triggered a fast retransmit is detected, state restored, DupThresh raised', () => {
    const { s, h, u } = setup();
    h.send(new Uint8Array(12_000));
    const flight = s.out();
    expect(flight.length).toBeGreaterThanOrEqual(8);
    const base = (flight[0].seq - u(0)) >>> 0;
    const b = (n: number) => u(base + n);
    const info0 = h.info();
    const cwnd0 = info0.cwnd as number;
    const ssthresh0 = info0.ssthresh as number;
    s.advance(10);
    // Segment 0 is held back in the network; 1..4 overtake it: SACKed duplicate ACKs. TS.Recent
    // at the receiver is still the last in-order segment's TSval.
    const oldEcr = flight[0].options.tsVal!;
    for (let k = 2; k <= 5; k++) s.inject({ dport: 80, seq: 1001, ack: b(0), flags: ACK, options: { tsVal: 300, tsEcr: oldEcr, sack: [b(1000), b(k * 1000)] } });
    const rtx = s.out();
    expect(rtx.some((r) => r.seq === b(0))).toBe(true);
    const rtxTs = rtx.find((r) => r.seq === b(0))!.options.tsVal!;
    expect(rtxTs).toBeGreaterThan(oldEcr);
    expect(h.info().inRecovery).toBe(true);
    expect(h.info().cwnd).toBeLessThan(cwnd0);
    // The original arrives: the cumulative ACK echoes its (older) TSval, not the retransmission's.
    s.advance(5);
    s.inject({ dport: 80, seq: 1001, ack: b(5000), flags: ACK, options: { tsVal: 301, tsEcr: oldEcr } });
    expect(stats(s).spuriousRetransmits).toEqual({ rto: 0, fast: 1 });
    const info1 = h.info();
    expect(info1.inRecovery).toBe(false);
    expect(info1.cwnd).toBeGreaterThanOrEqual(cwnd0);
    expect(info1.ssthresh).toBe(ssthresh0);
    // Four segments (5 with the held one) overtook: DupThresh rises above 3.
    expect(info1.reordering).toBeGreaterThanOrEqual(5);
    s.out();

    // The same reordering again no longer causes a fast retransmit.
    const una2 = h.info().sndUna as number;
    const fast0 = stats(s).retransmits.sack + stats(s).retransmits.fast;
    const c = (n: number) => (una2 + n) >>> 0;
    for (let k = 2; k <= 4; k++) s.inject({ dport: 80, seq: 1001, ack: c(0), flags: ACK, options: { tsVal: 302, tsEcr: oldEcr, sack: [c(1000), c(k * 1000)] } });
    const out2 = s.out();
    expect(out2.some((r) => r.seq === c(0))).toBe(false);
    expect(stats(s).retransmits.sack + stats(s).retransmits.fast).toBe(fast0);
    expect(h.info().inRecovery).toBe(false);
  });

  it('a real loss (the ACK echoes the retransmission) keeps the reduction and DupThresh', () => {
    const { s, h, u } = setup();
    h.send(new Uint8Array(12_000));
    const flight = s.out();
    const base = (flight[0].seq - u(0)) >>> 0;
    const b = (n: number) => u(base + n);
    const cwnd0 = h.info().cwnd as number;
    s.advance(10);
    const oldEcr = flight[0].options.tsVal!;
    for (let k = 2; k <= 5; k++) s.inject({ dport: 80, seq: 1001, ack: b(0), flags: ACK, options: { tsVal: 300, tsEcr: oldEcr, sack: [b(1000), b(k * 1000)] } });
    const rtx = s.out().find((r) => r.seq === b(0))!;
    s.advance(10);
    s.inject({ dport: 80, seq: 1001, ack: b(5000), flags: ACK, options: { tsVal: 301, tsEcr: rtx.options.tsVal } });
    expect(stats(s).spuriousRetransmits).toEqual({ rto: 0, fast: 0 });
    expect(h.info().cwnd).toBeLessThan(cwnd0);
    expect(h.info().reordering).toBe(3);
  });
});
