/** Engine-level tests: opening connections (RFC 9293 §3.5, §3.7.1, §3.10.7.2–3; RFC 7323; RFC 2018; RFC 6528). */
import { describe, expect, it } from 'vitest';
import { A, B, ACK, FIN, RST, SYN, Pair, Recorder, Scripted, flagsOf } from './tcp-engine-harness.js';
import { sipHash24 } from '../src/tcp/siphash.js';
import type { TcpConnectionHandle } from '../src/tcp/contract.js';

const SYN_OPTS = { mss: 1460, windowScale: 7, sackPermitted: true, tsVal: 100, tsEcr: 0 };

describe('passive open (RFC 9293 §3.10.7.2)', () => {
  it('LISTEN + SYN → SYN,ACK with MSS, WS, SACK-permitted, TS echo; ACK → ESTABLISHED + onConnection', () => {
    const s = new Scripted();
    let accepted: TcpConnectionHandle | null = null;
    const rec = new Recorder();
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (h) => { accepted = h; h.setEvents(rec); } });
    s.inject({ dport: 80, seq: 1000, flags: SYN, options: SYN_OPTS });
    const [sa] = s.out();
    expect(flagsOf(sa)).toBe('SYN|ACK');
    expect(sa.ack).toBe(1001);
    expect(sa.window).toBe(65535); // never scaled in a SYN (RFC 7323 §2.2)
    expect(sa.options.mss).toBe(1460);
    expect(sa.options.windowScale).toBe(7); // 4 MiB buffer needs shift 7
    expect(sa.options.sackPermitted).toBe(true);
    expect(sa.options.tsEcr).toBe(100);
    expect((s.tcp.stats() as any).connections.SYN_RECEIVED).toBe(1);
    expect(accepted).toBeNull();
    s.inject({ dport: 80, seq: 1001, ack: sa.seq + 1, flags: ACK, window: 1000, options: { tsVal: 101, tsEcr: sa.options.tsVal } });
    expect(accepted).not.toBeNull();
    const h = accepted! as TcpConnectionHandle;
    expect(h.state).toBe('ESTABLISHED');
    const info = h.info();
    expect(info.sndWnd).toBe(1000 << 7); // scaled after the handshake
    expect(info.sndWscale).toBe(7);
    expect(info.tsOk).toBe(true);
    expect(info.sackOk).toBe(true);
    expect(s.out()).toEqual([]); // nothing to say yet
    expect((s.tcp.stats() as any).passiveOpens).toBe(1);
  });

  it('RFC 7323 §2.2: a SYN without WS → no WS in the SYN,ACK and no scaling either way', () => {
    const s = new Scripted();
    let h: TcpConnectionHandle | null = null;
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (c) => { h = c; c.setEvents(new Recorder()); } });
    s.inject({ dport: 80, seq: 1000, flags: SYN, options: { mss: 1000 } });
    const [sa] = s.out();
    expect(sa.options.windowScale).toBeUndefined();
    expect(sa.options.sackPermitted).toBe(false);
    expect(sa.options.tsVal).toBeUndefined();
    s.inject({ dport: 80, seq: 1001, ack: sa.seq + 1, flags: ACK, window: 5000 });
    const info = h!.info();
    expect(info.sndWnd).toBe(5000);
    expect(info.rcvWscale).toBe(0);
    expect(info.sndMss).toBe(1000); // peer's MSS option
    h!.send(new Uint8Array(3000));
    const out = s.out();
    expect(out.map((r) => r.payload.length)).toEqual([1000, 1000, 1000]);
    expect(out[0].window).toBe(65535); // unscaled window field, capped
  });

  it('RFC 9293 §3.7.1: MSS is clamped to path MTU − 40 and a missing MSS option means 536', () => {
    const s = new Scripted();
    s.node.ip.mtu = 1280;
    let h: TcpConnectionHandle | null = null;
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (c) => { h = c; c.setEvents(new Recorder()); } });
    s.inject({ dport: 80, seq: 1, flags: SYN });
    const [sa] = s.out();
    expect(sa.options.mss).toBe(1240);
    s.inject({ dport: 80, seq: 2, ack: sa.seq + 1, flags: ACK });
    expect(h!.info().sndMss).toBe(536);
  });

  it('a retransmitted SYN in SYN_RECEIVED gets the same SYN,ACK again', () => {
    const s = new Scripted();
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (c) => c.setEvents(new Recorder()) });
    s.inject({ dport: 80, seq: 1000, flags: SYN, options: SYN_OPTS });
    const [sa] = s.out();
    s.inject({ dport: 80, seq: 1000, flags: SYN, options: SYN_OPTS });
    const [sa2] = s.out();
    expect(flagsOf(sa2)).toBe('SYN|ACK');
    expect(sa2.seq).toBe(sa.seq);
  });

  it('SYN,ACK retransmission backs off and the half-open connection is dropped after synAckRetries', () => {
    const s = new Scripted({ synAckRetries: 2 });
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (c) => c.setEvents(new Recorder()) });
    s.inject({ dport: 80, seq: 1000, flags: SYN });
    s.out();
    const times: number[] = [];
    for (let i = 0; i < 4; i++) {
      const out = s.advance(s.tcp.pollAt() - s.clock.now());
      if (out.length) times.push(s.clock.now());
    }
    expect(times).toEqual([1000, 3000]);
    expect((s.tcp.stats() as any).connections.SYN_RECEIVED).toBe(0);
    expect((s.tcp.stats() as any).attemptFails).toBe(1);
  });
});

describe('active open (RFC 9293 §3.10.7.3)', () => {
  it('SYN carries our options; SYN,ACK → ESTABLISHED, ACK with scaled window', () => {
    const s = new Scripted();
    const rec = new Recorder();
    const h = s.tcp.open({ remoteAddress: B, remotePort: 80 }, rec);
    expect(h.state).toBe('SYN_SENT');
    expect(h.localAddress).toBe(A);
    expect(h.localPort).toBeGreaterThanOrEqual(49152);
    const [syn] = s.out();
    expect(flagsOf(syn)).toBe('SYN');
    expect(syn.options).toMatchObject({ mss: 1460, windowScale: 7, sackPermitted: true, tsEcr: 0 });
    expect(syn.window).toBe(65535);
    s.inject({ sport: 80, dport: h.localPort, seq: 5000, ack: syn.seq + 1, flags: SYN | ACK, window: 29200, options: { mss: 1400, windowScale: 2, sackPermitted: true, tsVal: 7, tsEcr: syn.options.tsVal } });
    expect(rec.established).toBe(1);
    expect(h.state).toBe('ESTABLISHED');
    const [ack] = s.out();
    expect(flagsOf(ack)).toBe('ACK');
    expect(ack.seq).toBe(syn.seq + 1);
    expect(ack.ack).toBe(5001);
    expect(ack.window).toBe((4 << 20) >> 7);
    expect(ack.options.tsEcr).toBe(7);
    expect(h.info()).toMatchObject({ sndWnd: 29200, sndWscale: 2, sndMss: 1400 });
  });

  it('RST with an acceptable ACK in SYN_SENT → ECONNREFUSED; RST without ACK is ignored', () => {
    const s = new Scripted();
    const rec = new Recorder();
    const h = s.tcp.open({ remoteAddress: B, remotePort: 81 }, rec);
    const [syn] = s.out();
    s.inject({ sport: 81, dport: h.localPort, seq: 0, flags: RST });
    expect(h.state).toBe('SYN_SENT');
    s.inject({ sport: 81, dport: h.localPort, seq: 0, ack: syn.seq + 2, flags: RST | ACK });
    expect(h.state).toBe('SYN_SENT'); // unacceptable ACK (RFC 5961 §3)
    s.inject({ sport: 81, dport: h.localPort, seq: 0, ack: syn.seq + 1, flags: RST | ACK });
    expect(rec.closed).toBe(1);
    expect(rec.error?.code).toBe('ECONNREFUSED');
  });

  it('SYN_SENT + ACK for something we never sent → RST <SEQ=SEG.ACK>', () => {
    const s = new Scripted();
    const h = s.tcp.open({ remoteAddress: B, remotePort: 80 }, new Recorder());
    const [syn] = s.out();
    s.inject({ sport: 80, dport: h.localPort, seq: 9, ack: syn.seq + 100, flags: SYN | ACK });
    const [rst] = s.out();
    expect(flagsOf(rst)).toBe('RST');
    expect(rst.seq).toBe(syn.seq + 100);
    expect(h.state).toBe('SYN_SENT');
  });

  it('SYN retransmits with exponential backoff (1 s, 2 s, 4 s …) and gives up with ETIMEDOUT', () => {
    const s = new Scripted({ userTimeout: 10_000 });
    const rec = new Recorder();
    s.tcp.open({ remoteAddress: B, remotePort: 80 }, rec);
    const times: number[] = [];
    times.push(s.clock.now());
    s.out();
    while (rec.closed === 0 && s.clock.now() < 100_000) {
      const out = s.advance(s.tcp.pollAt() - s.clock.now());
      if (out.some((r) => r.flags & SYN)) times.push(s.clock.now());
    }
    expect(times).toEqual([0, 1000, 3000, 7000]);
    expect(rec.error?.code).toBe('ETIMEDOUT');
    expect(s.clock.now()).toBe(15000);
  });

  it('RFC 6528: ISN = 4 µs clock + keyed hash of the 4-tuple', () => {
    const s = new Scripted();
    const h1 = s.tcp.open({ remoteAddress: B, remotePort: 80, localPort: 5000 }, new Recorder());
    const [syn1] = s.out();
    h1.abort();
    s.clock.advanceSync(1000);
    const h2 = s.tcp.open({ remoteAddress: B, remotePort: 80, localPort: 5000 }, new Recorder());
    const [syn2] = s.out();
    expect((syn2.seq - syn1.seq) >>> 0).toBe(250_000);
    h2.abort();
    s.tcp.open({ remoteAddress: B, remotePort: 80, localPort: 5001 }, new Recorder());
    const [syn3] = s.out();
    expect(Math.abs(((syn3.seq - syn2.seq) | 0))).toBeGreaterThan(1000); // different tuple, unrelated ISN
    // A different key gives a different ISN for the same tuple and time.
    const s2 = new Scripted({ secretKey: new Uint8Array(16).fill(9) });
    s2.clock.advanceSync(1000);
    s2.tcp.open({ remoteAddress: B, remotePort: 80, localPort: 5000 }, new Recorder());
    expect(s2.out()[0].seq).not.toBe(syn2.seq);
  });

  it('SipHash-2-4 matches the reference vectors', () => {
    const key = Uint8Array.from({ length: 16 }, (_, i) => i);
    const out = new Uint32Array(2);
    sipHash24(key, new Uint8Array(0), 0, out);
    expect([out[0].toString(16), out[1].toString(16)]).toEqual(['726fdb47', 'dd0e0e31']);
    const m = Uint8Array.from({ length: 15 }, (_, i) => i);
    sipHash24(key, m, 15, out);
    expect(out[0].toString(16).padStart(8, '0') + out[1].toString(16).padStart(8, '0')).toBe('a129ca6149be45e5');
    const m8 = Uint8Array.from({ length: 8 }, (_, i) => i);
    sipHash24(key, m8, 8, out);
    expect(out[0].toString(16).padStart(8, '0') + out[1].toString(16).padStart(8, '0')).toBe('93f5f5799a932462');
  });

  it('segment to a port with no socket → RST (RFC 9293 §3.10.7.1), never an RST for an RST', () => {
    const s = new Scripted();
    s.inject({ dport: 99, seq: 1000, flags: SYN });
    let [r] = s.out();
    expect(flagsOf(r)).toBe('RST|ACK');
    expect([r.seq, r.ack]).toEqual([0, 1001]);
    s.inject({ dport: 99, seq: 1000, ack: 777, flags: ACK, payload: 'abc' });
    [r] = s.out();
    expect(flagsOf(r)).toBe('RST');
    expect(r.seq).toBe(777);
    s.inject({ dport: 99, seq: 1000, flags: RST });
    expect(s.out()).toEqual([]);
    expect((s.tcp.stats() as any).drops.noSocket).toBe(3);
    expect((s.tcp.stats() as any).outRsts).toBe(2);
  });

  it('malformed and bad-checksum segments are counted and dropped', () => {
    const s = new Scripted();
    const rx = { src: B, dst: A, protocol: 6, ttl: 64, tos: 0, nonUnicast: false };
    s.tcp.receive(rx, new Uint8Array(10), new Uint8Array(10), 0);
    const bad = new Uint8Array(20);
    bad[12] = 0x50;
    bad[2] = 0; bad[3] = 80; bad[1] = 1;
    s.tcp.receive(rx, bad, bad, 0);
    s.tcp.receive({ ...rx, meta: { csumValid: true } }, bad, bad, 0); // offloaded: accepted → no socket
    const st = s.tcp.stats() as any;
    expect(st.drops.malformed).toBe(1);
    expect(st.drops.badChecksum).toBe(1);
    expect(st.drops.noSocket).toBe(1);
    expect(st.inErrs).toBe(2);
  });
});

describe('simultaneous open (RFC 9293 §3.5 figure 8)', () => {
  it('two SYNs cross → both SYN_RECEIVED → both ESTABLISHED', () => {
    const p = new Pair();
    const ra = new Recorder();
    const rb = new Recorder();
    const ha = p.a.tcp.open({ remoteAddress: B, remotePort: 2000, localPort: 1000 }, ra);
    const hb = p.b.tcp.open({ remoteAddress: A, remotePort: 1000, localPort: 2000 }, rb);
    p.run(() => ra.established > 0 && rb.established > 0, 5000);
    expect(ha.state).toBe('ESTABLISHED');
    expect(hb.state).toBe('ESTABLISHED');
    const aFlags = p.segs('a').map(flagsOf);
    expect(aFlags.slice(0, 2)).toEqual(['SYN', 'SYN|ACK']);
    ha.send(new TextEncoder().encode('ping'));
    p.run(() => rb.bytes === 4, 1000);
    expect(rb.text()).toBe('ping');
  });

  it('scripted: SYN in SYN_SENT → SYN,ACK with our ISS; final ACK → ESTABLISHED', () => {
    const s = new Scripted();
    const rec = new Recorder();
    const h = s.tcp.open({ remoteAddress: B, remotePort: 80, localPort: 3000 }, rec);
    const [syn] = s.out();
    s.inject({ sport: 80, dport: 3000, seq: 5000, flags: SYN, options: SYN_OPTS });
    expect(h.state).toBe('SYN_RECEIVED');
    const [sa] = s.out();
    expect(flagsOf(sa)).toBe('SYN|ACK');
    expect([sa.seq, sa.ack]).toEqual([syn.seq, 5001]);
    s.inject({ sport: 80, dport: 3000, seq: 5001, ack: syn.seq + 1, flags: ACK, options: { tsVal: 101, tsEcr: sa.options.tsVal } });
    expect(h.state).toBe('ESTABLISHED');
    expect(rec.established).toBe(1);
  });
});

describe('listen', () => {
  it('EADDRINUSE for a second listener on the same port; close frees it', () => {
    const s = new Scripted();
    const l = s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: () => {} });
    expect(() => s.tcp.listen({ localAddress: A, localPort: 80, onConnection: () => {} })).toThrow(/EADDRINUSE/);
    l.close();
    s.tcp.listen({ localAddress: A, localPort: 80, onConnection: () => {} });
  });

  it('onConnection returning false refuses the connection with RST', () => {
    const s = new Scripted();
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: () => false });
    s.inject({ dport: 80, seq: 1, flags: SYN });
    const [sa] = s.out();
    s.inject({ dport: 80, seq: 2, ack: sa.seq + 1, flags: ACK });
    const [rst] = s.out();
    expect(flagsOf(rst)).toBe('RST');
    expect((s.tcp.stats() as any).connections.ESTABLISHED).toBe(0);
  });
});

void FIN;
