/** Engine-level tests: RST handling (RFC 9293 §3.10.7.4 second), RFC 5961 challenge ACKs, PAWS. */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, RST, SYN, Recorder, Scripted, establish, flagsOf } from './tcp-engine-harness.js';

describe('RST acceptance (RFC 9293 §3.10.7.4 second, RFC 5961 §3)', () => {
  it('ESTABLISHED: RST with SEQ = RCV.NXT resets (ECONNRESET)', () => {
    const s = new Scripted();
    const { h, rec } = establish(s);
    s.inject({ dport: 80, seq: 1001, flags: RST });
    expect(h.state).toBe('CLOSED');
    expect(rec.error?.code).toBe('ECONNRESET');
    expect((s.tcp.stats() as any).estabResets).toBe(1);
    expect(s.out()).toEqual([]);
  });

  it('RFC 5961 §3.2: in-window RST not at RCV.NXT → challenge ACK, connection stays', () => {
    const s = new Scripted();
    const { h, una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1500, flags: RST });
    expect(h.state).toBe('ESTABLISHED');
    const [ca] = s.out();
    expect(flagsOf(ca)).toBe('ACK');
    expect([ca.seq, ca.ack]).toEqual([una, 1001]);
    expect((s.tcp.stats() as any).challengeAcks).toBe(1);
  });

  it('out-of-window RST is dropped silently', () => {
    const s = new Scripted();
    const { h } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001 + 0x40000000, flags: RST });
    expect(h.state).toBe('ESTABLISHED');
    expect(s.out()).toEqual([]);
    expect((s.tcp.stats() as any).drops.outOfWindow).toBe(1);
  });

  it('RFC 5961 §7: challenge ACKs are rate limited per second', () => {
    const s = new Scripted({ challengeAckLimit: 2 });
    establish(s, { ts: false });
    for (let i = 0; i < 5; i++) {
      s.inject({ dport: 80, seq: 1100 + i, flags: RST });
      s.out();
    }
    let st = s.tcp.stats() as any;
    expect(st.challengeAcks).toBe(2);
    expect(st.drops.challengeAckLimited).toBe(3);
    s.advance(1000);
    s.inject({ dport: 80, seq: 1200, flags: RST });
    expect(s.out().length).toBe(1);
    st = s.tcp.stats() as any;
    expect(st.challengeAcks).toBe(3);
  });

  it('SYN_RECEIVED (passive): RST at RCV.NXT returns to LISTEN silently', () => {
    const s = new Scripted();
    let n = 0;
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (c) => { n++; c.setEvents(new Recorder()); } });
    s.inject({ dport: 80, seq: 1000, flags: SYN });
    s.out();
    s.inject({ dport: 80, seq: 1001, flags: RST });
    expect((s.tcp.stats() as any).connections.SYN_RECEIVED).toBe(0);
    expect(s.out()).toEqual([]);
    // The listener still works.
    s.inject({ dport: 80, seq: 5000, flags: SYN });
    const [sa] = s.out();
    s.inject({ dport: 80, seq: 5001, ack: sa.seq + 1, flags: ACK });
    expect(n).toBe(1);
  });

  it('FIN_WAIT_1, CLOSE_WAIT, LAST_ACK: RST at RCV.NXT closes with ECONNRESET', () => {
    for (const path of ['FIN_WAIT_1', 'CLOSE_WAIT', 'LAST_ACK'] as const) {
      const s = new Scripted();
      const { h, rec } = establish(s, { ts: false });
      let rcv = 1001;
      if (path === 'FIN_WAIT_1') h.shutdown();
      else {
        s.inject({ dport: 80, seq: 1001, ack: (h.info().sndNxt as number), flags: FIN | ACK });
        rcv = 1002;
        if (path === 'LAST_ACK') h.shutdown();
      }
      s.out();
      expect(h.state).toBe(path);
      s.inject({ dport: 80, seq: rcv, flags: RST });
      expect(h.state).toBe('CLOSED');
      expect(rec.error?.code).toBe('ECONNRESET');
    }
  });

  it('TIME_WAIT: RST at RCV.NXT ends it early (RFC 9293), other RSTs do not', () => {
    const s = new Scripted({ timeWait: 60_000 });
    const h = s.tcp.open({ remoteAddress: 0xc6120002, remotePort: 80, localPort: 4000 }, new Recorder());
    const [syn] = s.out();
    s.inject({ sport: 80, dport: 4000, seq: 100, ack: syn.seq + 1, flags: SYN | ACK });
    h.shutdown();
    const fin = s.out().find((r) => r.flags & FIN)!;
    s.inject({ sport: 80, dport: 4000, seq: 101, ack: fin.seq + 1, flags: FIN | ACK });
    expect(h.state).toBe('TIME_WAIT');
    s.inject({ sport: 80, dport: 4000, seq: 5000, flags: RST });
    expect(h.state).toBe('TIME_WAIT');
    s.inject({ sport: 80, dport: 4000, seq: 102, flags: RST });
    expect(h.state).toBe('CLOSED');
  });
});

describe('RFC 5961 §4: SYN in a synchronized state', () => {
  it('ESTABLISHED + SYN (any sequence number) → challenge ACK, no reset', () => {
    const s = new Scripted();
    const { h, una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, flags: SYN });
    expect(h.state).toBe('ESTABLISHED');
    const [ca] = s.out();
    expect(flagsOf(ca)).toBe('ACK');
    expect([ca.seq, ca.ack]).toEqual([una, 1001]);
    expect((s.tcp.stats() as any).challengeAcks).toBe(1);
  });
});

describe('RFC 5961 §5: ACK range check against data injection', () => {
  it('ACK above SND.NXT → data dropped, ACK sent', () => {
    const s = new Scripted();
    const { rec, una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, ack: una + 5000, flags: ACK, payload: 'evil' });
    expect(rec.bytes).toBe(0);
    const [a] = s.out();
    expect([flagsOf(a), a.ack]).toEqual(['ACK', 1001]);
    expect((s.tcp.stats() as any).drops.ackTooNew).toBe(1);
  });

  it('ACK below SND.UNA − MAX.SND.WND → data dropped, challenge ACK', () => {
    const s = new Scripted();
    const { rec, una } = establish(s, { ts: false, window: 1000 });
    s.inject({ dport: 80, seq: 1001, ack: una - 100_000, flags: ACK, payload: 'evil' });
    expect(rec.bytes).toBe(0);
    expect(s.out().length).toBe(1);
    expect((s.tcp.stats() as any).drops.ackTooOld).toBe(1);
    // A valid ACK with the same data is accepted.
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: 'good' });
    expect(rec.text()).toBe('good');
  });

  it('segment without ACK bit is dropped (§3.10.7.4 fifth)', () => {
    const s = new Scripted();
    const { rec } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, flags: 0, payload: 'noack' });
    expect(rec.bytes).toBe(0);
  });
});

describe('sequence acceptability (RFC 9293 §3.10.7.4 first)', () => {
  it('a segment entirely before RCV.NXT is answered with an ACK and not delivered', () => {
    const s = new Scripted();
    const { rec, una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: 'abc' });
    s.out();
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: 'abc' });
    const [a] = s.out();
    expect(a.ack).toBe(1004);
    expect(rec.text()).toBe('abc');
  });

  it('a segment overlapping RCV.NXT is trimmed and only new bytes delivered', () => {
    const s = new Scripted();
    const { rec, una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: 'abc' });
    s.inject({ dport: 80, seq: 1002, ack: una, flags: ACK, payload: 'bcdef' });
    expect(rec.text()).toBe('abcdef');
  });
});

describe('PAWS (RFC 7323 §5)', () => {
  it('a segment with TSval older than TS.Recent is dropped and ACKed', () => {
    const s = new Scripted();
    const { rec, una, tsEcr } = establish(s);
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: 'new', options: { tsVal: 200, tsEcr } });
    expect(rec.text()).toBe('new');
    s.out();
    s.inject({ dport: 80, seq: 1004, ack: una, flags: ACK, payload: 'old', options: { tsVal: 150, tsEcr } });
    expect(rec.text()).toBe('new');
    const [a] = s.out();
    expect(flagsOf(a)).toBe('ACK');
    expect(a.ack).toBe(1004);
    expect(a.options.tsEcr).toBe(200); // TS.Recent unchanged
    expect((s.tcp.stats() as any).drops.paws).toBe(1);
    // TSval wraps modulo 2^32 correctly: 0x80000000 + 200 is "newer" than 200.
    s.inject({ dport: 80, seq: 1004, ack: una, flags: ACK, payload: 'ok', options: { tsVal: 201, tsEcr } });
    expect(rec.text()).toBe('newok');
  });

  it('TSval = clock + per-connection offset; TS.Recent is echoed (RFC 7323 §4.3)', () => {
    const s = new Scripted();
    const { h, una, tsEcr } = establish(s);
    s.advance(500);
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: 'x', options: { tsVal: 777, tsEcr } });
    const out = s.advance(40);
    expect(out.length).toBe(1);
    expect(out[0].options.tsEcr).toBe(777);
    expect((out[0].options.tsVal! - tsEcr) >>> 0).toBe(540);
    void h;
  });
});

void SYN;

describe('RST in the remaining states', () => {
  it('FIN_WAIT_2 and CLOSING: RST at RCV.NXT closes with ECONNRESET; off by one → challenge ACK', () => {
    for (const path of ['FIN_WAIT_2', 'CLOSING'] as const) {
      const s = new Scripted();
      const { h, rec } = establish(s, { ts: false });
      h.shutdown();
      const fin = s.out().find((r) => r.flags & FIN)!;
      let rcv = 1001;
      if (path === 'FIN_WAIT_2') s.inject({ dport: 80, seq: 1001, ack: fin.seq + 1, flags: ACK });
      else {
        s.inject({ dport: 80, seq: 1001, ack: fin.seq, flags: FIN | ACK }); // FIN crossing ours
        rcv = 1002;
      }
      s.out();
      expect(h.state).toBe(path);
      s.inject({ dport: 80, seq: rcv + 1, flags: RST });
      expect(h.state).toBe(path);
      expect(s.out().length).toBe(1);
      s.inject({ dport: 80, seq: rcv, flags: RST });
      expect(h.state).toBe('CLOSED');
      expect(rec.error?.code).toBe('ECONNRESET');
    }
  });
});
