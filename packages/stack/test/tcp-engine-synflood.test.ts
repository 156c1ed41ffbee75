/** Engine-level tests: bounded SYN queue and SYN cookies. */
import { describe, expect, it } from 'vitest';
import { ACK, B, Pair, Recorder, Scripted, SYN, flagsOf, rng } from './tcp-engine-harness.js';
import type { TcpConnectionHandle } from '../src/tcp/contract.js';

describe('SYN queue overflow → SYN cookies', () => {
  function setup() {
    const s = new Scripted();
    const accepted: TcpConnectionHandle[] = [];
    s.tcp.listen({ localAddress: 0, localPort: 80, backlog: 1, onConnection: (c) => { accepted.push(c); c.setEvents(new Recorder()); } });
    s.inject({ sport: 40000, dport: 80, seq: 1000, flags: SYN, options: { mss: 1460 } });
    s.out();
    return { s, accepted };
  }

  it('a SYN beyond the backlog gets a stateless cookie SYN,ACK; the cookie ACK completes the handshake', () => {
    const { s, accepted } = setup();
    s.inject({ sport: 40001, dport: 80, seq: 2000, flags: SYN, options: { mss: 1400, windowScale: 5, sackPermitted: true, tsVal: 555, tsEcr: 0 } });
    const [sa] = s.out();
    expect(flagsOf(sa)).toBe('SYN|ACK');
    expect(sa.ack).toBe(2001);
    expect(sa.options.windowScale).toBe(7);
    expect((sa.options.tsVal! & 0x1f)).toBe(0x10 | 5); // SACK bit + the peer's shift
    const st = s.tcp.stats() as any;
    expect(st.synCookiesSent).toBe(1);
    expect(st.connections.SYN_RECEIVED).toBe(1); // no state kept for the cookie
    s.inject({ sport: 40001, dport: 80, seq: 2001, ack: sa.seq + 1, flags: ACK, window: 100, options: { tsVal: 556, tsEcr: sa.options.tsVal } });
    expect(accepted.length).toBe(1);
    const h = accepted[0];
    expect(h.state).toBe('ESTABLISHED');
    expect(h.info()).toMatchObject({ sndMss: 1400, sndWscale: 5, rcvWscale: 7, sackOk: true, tsOk: true, sndWnd: 100 << 5 });
    expect((s.tcp.stats() as any).synCookiesValid).toBe(1);
    // It carries data both ways.
    h.send(new TextEncoder().encode('hi'));
    const out = s.out();
    expect(out[0].payload.length).toBe(2);
    expect(out[0].seq).toBe(sa.seq + 1);
  });

  it('an ACK with an invalid cookie is answered with RST and creates nothing', () => {
    const { s, accepted } = setup();
    s.inject({ sport: 40002, dport: 80, seq: 3000, flags: SYN });
    const [sa] = s.out();
    s.inject({ sport: 40002, dport: 80, seq: 3001, ack: sa.seq + 2, flags: ACK });
    const [rst] = s.out();
    expect(flagsOf(rst)).toBe('RST');
    expect(accepted.length).toBe(0);
    expect((s.tcp.stats() as any).drops.synCookieInvalid).toBe(1);
    // Wrong peer ISN (seq) with the right ack is invalid too.
    s.inject({ sport: 40002, dport: 80, seq: 3005, ack: sa.seq + 1, flags: ACK });
    expect(accepted.length).toBe(0);
  });

  it('a cookie expires after two 64 s periods', () => {
    const { s, accepted } = setup();
    s.inject({ sport: 40003, dport: 80, seq: 3000, flags: SYN });
    const [sa] = s.out();
    s.clock.advanceSync(130_000);
    s.inject({ sport: 40003, dport: 80, seq: 3001, ack: sa.seq + 1, flags: ACK });
    expect(accepted.length).toBe(0);
  });

  it('10,000 spoofed SYNs: the queue stays bounded and a legitimate client still connects', () => {
    const p = new Pair();
    p.logEnabled = false;
    const server = new Recorder();
    let sh: TcpConnectionHandle | null = null;
    p.b.tcp.listen({ localAddress: 0, localPort: 80, backlog: 64, onConnection: (c) => { sh = c; c.setEvents(server); } });
    // Replies to spoofed sources go nowhere.
    p.filter = (r, from) => (from === 'b' && r.dstPort < 49152 ? 'drop' : 'deliver');
    const r = rng(1);
    const buf = new Uint8Array(20);
    for (let i = 0; i < 10_000; i++) {
      const src = (0x0a000000 + ((r() * 0xffffff) | 0)) >>> 0;
      const sport = 1024 + ((r() * 40000) | 0);
      buf.fill(0);
      buf[0] = sport >> 8; buf[1] = sport & 255; buf[2] = 0; buf[3] = 80;
      const seq = (r() * 2 ** 32) >>> 0;
      buf[4] = seq >>> 24; buf[5] = seq >>> 16; buf[6] = seq >>> 8; buf[7] = seq;
      buf[12] = 0x50; buf[13] = SYN; buf[14] = 0xff; buf[15] = 0xff;
      p.b.tcp.receive({ src, dst: B, protocol: 6, ttl: 64, tos: 0, nonUnicast: false, meta: { csumValid: true } }, buf, buf, p.now);
      if (i % 500 === 0) p.step();
    }
    p.step();
    let st = p.b.tcp.stats() as any;
    expect(st.connections.SYN_RECEIVED).toBe(64);
    expect(st.synCookiesSent).toBe(10_000 - 64);
    const client = new Recorder();
    const ch = p.a.tcp.open({ remoteAddress: B, remotePort: 80 }, client);
    p.run(() => client.established > 0 && sh !== null, 5000);
    expect(ch.state).toBe('ESTABLISHED');
    ch.send(new TextEncoder().encode('still here'));
    p.run(() => server.bytes === 10, 1000);
    expect(server.text()).toBe('still here');
    st = p.b.tcp.stats() as any;
    expect(st.synCookiesValid).toBe(1);
    // The half-open entries expire after their SYN,ACK retries.
    p.run(() => (p.b.tcp.stats() as any).connections.SYN_RECEIVED === 0, 120_000);
    expect((p.b.tcp.stats() as any).connections.SYN_RECEIVED).toBe(0);
  });
});
