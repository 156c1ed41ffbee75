/** Engine-level tests: closing (RFC 9293 §3.6, §3.10.4, §3.10.7.4 eighth) with timings. */
import { describe, expect, it } from 'vitest';
import { ACK, FIN, Pair, Recorder, Scripted, flagsOf, pattern } from './tcp-engine-harness.js';
import type { TcpConnectionHandle } from '../src/tcp/contract.js';

const enc = (s: string) => new TextEncoder().encode(s);

function states(p: Pair) {
  return { a: (p.a.tcp.stats() as any).connections, b: (p.b.tcp.stats() as any).connections };
}

describe('close paths', () => {
  it('active close: FIN_WAIT_1 → FIN_WAIT_2 → TIME_WAIT → CLOSED after timeWait; peer CLOSE_WAIT → LAST_ACK → CLOSED', () => {
    const p = new Pair({ timeWait: 2000 }, { timeWait: 2000 });
    const { client, server, ch, sh } = p.connect();
    ch.shutdown();
    expect(ch.state).toBe('FIN_WAIT_1');
    p.run(() => server.fin > 0, 1000);
    expect(sh.state).toBe('CLOSE_WAIT');
    p.run(() => ch.state === 'FIN_WAIT_2', 1000);
    expect(client.closed).toBe(0);
    sh.shutdown();
    expect(sh.state).toBe('LAST_ACK');
    p.run(() => server.closed > 0, 1000);
    expect(sh.state).toBe('CLOSED');
    expect(server.error).toBeUndefined();
    expect(ch.state).toBe('TIME_WAIT');
    expect(client.closed).toBe(1); // onClosed at TIME_WAIT: the application is done
    const twAt = p.now;
    expect(states(p).a.TIME_WAIT).toBe(1);
    p.run(() => states(p).a.TIME_WAIT === 0, 10_000);
    expect(p.now - twAt).toBeGreaterThanOrEqual(1998);
    expect(p.now - twAt).toBeLessThanOrEqual(2002);
    expect(states(p).a.CLOSED).toBe(0);
    expect(p.a.tcp.connections().length).toBe(0);
  });

  it('simultaneous close: both FIN_WAIT_1 → CLOSING → TIME_WAIT', () => {
    const p = new Pair({ timeWait: 500 }, { timeWait: 500 });
    const { client, server, ch, sh } = p.connect();
    const seen = new Set<string>();
    ch.shutdown();
    sh.shutdown();
    p.run(() => {
      seen.add('a:' + ch.state);
      seen.add('b:' + sh.state);
      return client.closed > 0 && server.closed > 0;
    }, 1000);
    expect(seen.has('a:CLOSING')).toBe(true);
    expect(seen.has('b:CLOSING')).toBe(true);
    expect(ch.state).toBe('TIME_WAIT');
    expect(sh.state).toBe('TIME_WAIT');
    expect(client.fin).toBe(1);
    expect(server.fin).toBe(1);
    p.run(() => false, 1000);
    expect(p.a.tcp.connections().length + p.b.tcp.connections().length).toBe(0);
  });

  it('half-close: after our FIN the peer can still send (FIN_WAIT_2 receives data)', () => {
    const p = new Pair();
    const { client, server, ch, sh } = p.connect();
    ch.send(enc('request'));
    ch.shutdown();
    p.run(() => server.fin > 0, 1000);
    expect(server.text()).toBe('request');
    const body = pattern(300_000, 3);
    let off = 0;
    p.run(() => {
      while (off < body.length) {
        const n = sh.send(body.subarray(off));
        if (n === 0) break;
        off += n;
      }
      return client.bytes === body.length;
    }, 10_000);
    expect(ch.state).toBe('FIN_WAIT_2');
    expect(Buffer.from(client.data()).equals(Buffer.from(body))).toBe(true);
    sh.shutdown();
    p.run(() => client.fin > 0 && server.closed > 0, 1000);
    expect(ch.state).toBe('TIME_WAIT');
  });

  it('FIN is sent only after all queued data (FIN piggybacks on the last segment)', () => {
    const p = new Pair();
    const { server, ch } = p.connect();
    ch.send(pattern(5000));
    ch.shutdown();
    p.run(() => server.fin > 0, 1000);
    const a = p.segs('a').filter((r) => r.payload.length > 0 || r.flags & FIN);
    const last = a[a.length - 1];
    expect(last.flags & FIN).toBeTruthy();
    expect(last.payload.length).toBeGreaterThan(0);
    expect(server.bytes).toBe(5000);
  });

  it('TIME_WAIT: a retransmitted FIN is ACKed again and restarts 2·MSL (RFC 9293 §3.10.7.4)', () => {
    const s = new Scripted({ timeWait: 1000 });
    const rec = new Recorder();
    const h = s.tcp.open({ remoteAddress: 0xc6120002, remotePort: 80, localPort: 4000 }, rec);
    const [syn] = s.out();
    s.inject({ sport: 80, dport: 4000, seq: 100, ack: syn.seq + 1, flags: 0x12 });
    s.out();
    h.shutdown();
    const [fin] = s.out();
    expect(flagsOf(fin)).toBe('FIN|ACK');
    s.inject({ sport: 80, dport: 4000, seq: 101, ack: fin.seq + 1, flags: FIN | ACK });
    expect(h.state).toBe('TIME_WAIT');
    const [ack] = s.out();
    expect([flagsOf(ack), ack.ack]).toEqual(['ACK', 102]);
    s.advance(600);
    s.inject({ sport: 80, dport: 4000, seq: 101, ack: fin.seq + 1, flags: FIN | ACK });
    const [ack2] = s.out();
    expect([flagsOf(ack2), ack2.ack]).toEqual(['ACK', 102]);
    s.advance(900);
    expect(h.state).toBe('TIME_WAIT'); // restarted at t=600 → ends at 1600
    s.advance(200);
    expect(h.state).toBe('CLOSED');
  });

  it('LAST_ACK: our FIN is retransmitted on RTO until ACKed', () => {
    const s = new Scripted();
    let h: TcpConnectionHandle | null = null;
    const rec = new Recorder();
    s.tcp.listen({ localAddress: 0, localPort: 80, onConnection: (c) => { h = c; c.setEvents(rec); } });
    s.inject({ dport: 80, seq: 1, flags: 0x02 });
    const [sa] = s.out();
    s.inject({ dport: 80, seq: 2, ack: sa.seq + 1, flags: ACK });
    s.inject({ dport: 80, seq: 2, ack: sa.seq + 1, flags: FIN | ACK });
    expect(rec.fin).toBe(1);
    expect(h!.state).toBe('CLOSE_WAIT');
    h!.shutdown();
    const out = s.out();
    expect(out.map(flagsOf)).toEqual(['FIN|ACK']);
    expect(h!.info().rto).toBe(200); // handshake RTT ≈ 0 → minimum RTO
    const rtx = s.advance(200);
    expect(rtx.map(flagsOf)).toEqual(['FIN|ACK']);
    expect(rtx[0].seq).toBe(out[0].seq);
    s.inject({ dport: 80, seq: 3, ack: out[0].seq + 1, flags: ACK });
    expect(h!.state).toBe('CLOSED');
    expect(rec.closed).toBe(1);
    expect(rec.error).toBeUndefined();
  });

  it('abort sends RST and does not call onClosed', () => {
    const p = new Pair();
    const { client, server, ch, sh } = p.connect();
    ch.abort();
    p.run(() => server.closed > 0, 1000);
    expect(client.closed).toBe(0);
    expect(server.error?.code).toBe('ECONNRESET');
    expect(sh.state).toBe('CLOSED');
    expect(() => ch.send(enc('x'))).toThrow(/EPIPE/);
  });

  it('send after shutdown throws EPIPE', () => {
    const p = new Pair();
    const { ch } = p.connect();
    ch.shutdown();
    expect(() => ch.send(enc('x'))).toThrow(/EPIPE/);
  });
});

describe('layer close (stack.close())', () => {
  it('close() sends FINs and resolves once they are acknowledged', async () => {
    const p = new Pair();
    const { client, server, ch } = p.connect();
    ch.send(enc('bye'));
    let done = false;
    const r = p.a.tcp.close(p.now);
    expect(r).toBeInstanceOf(Promise);
    void (r as Promise<void>).then(() => (done = true));
    p.run(() => ch.state === 'FIN_WAIT_2', 1000);
    p.a.tcp.poll(p.now);
    await Promise.resolve();
    await Promise.resolve();
    expect(done).toBe(true);
    expect(server.text()).toBe('bye');
    expect(server.fin).toBe(1);
    expect(client.error).toBeUndefined();
  });

  it('close() gives up after closeTimeout: stragglers get RST and ECONNABORTED', async () => {
    const p = new Pair({ closeTimeout: 500 });
    const { client, ch } = p.connect();
    p.filter = (_r, from) => (from === 'b' ? 'drop' : 'deliver');
    let done = false;
    void (p.a.tcp.close(p.now) as Promise<void>).then(() => (done = true));
    const t0 = p.now;
    p.run(() => client.closed > 0, 5000);
    await Promise.resolve();
    expect(done).toBe(true);
    expect(client.error?.code).toBe('ECONNABORTED');
    expect(p.now - t0).toBe(500);
    expect(ch.state).toBe('CLOSED');
  });
});
