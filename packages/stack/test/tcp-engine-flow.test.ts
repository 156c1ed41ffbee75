/** Engine-level tests: delayed ACK, Nagle, zero window/persist, silly-window avoidance, receive pause, keepalive. */
import { describe, expect, it } from 'vitest';
import { A, ACK, B, Pair, Recorder, Scripted, establish, flagsOf } from './tcp-engine-harness.js';

describe('delayed ACK (RFC 9293 §3.8.6.3, RFC 1122 §4.2.3.2)', () => {
  it('a lone segment is ACKed after the delayed-ACK timeout (40 ms), not before', () => {
    const s = new Scripted();
    const { una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: new Uint8Array(100) });
    expect(s.out()).toEqual([]);
    expect(s.advance(39)).toEqual([]);
    const [a] = s.advance(1);
    expect(s.clock.now()).toBe(40);
    expect([flagsOf(a), a.ack]).toEqual(['ACK', 1101]);
  });

  it('at least every second full-sized segment is ACKed by the end of its input batch; long batches every 16', () => {
    const s = new Scripted();
    const { una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: new Uint8Array(1460) });
    expect(s.out()).toEqual([]);
    s.inject({ dport: 80, seq: 2461, ack: una, flags: ACK, payload: new Uint8Array(1460) });
    const [a] = s.out();
    expect(a.ack).toBe(3921);
    // Four segments in one batch → one ACK for all four, at the batch's end (not one per two).
    for (let i = 0; i < 4; i++) s.inject({ dport: 80, seq: 3921 + i * 1460, ack: una, flags: ACK, payload: new Uint8Array(1460) });
    expect(s.out().map((r) => r.ack)).toEqual([3921 + 4 * 1460]);
    // 40 segments in one batch → an ACK at once after every 16, and one at the end.
    const base = 3921 + 4 * 1460;
    for (let i = 0; i < 40; i++) s.inject({ dport: 80, seq: base + i * 1460, ack: una, flags: ACK, payload: new Uint8Array(1460) });
    expect(s.out().map((r) => r.ack)).toEqual([base + 16 * 1460, base + 32 * 1460, base + 40 * 1460]);
    // A single full segment after that waits for the delayed-ACK timer.
    s.inject({ dport: 80, seq: base + 40 * 1460, ack: una, flags: ACK, payload: new Uint8Array(1460) });
    expect(s.out()).toEqual([]);
  });

  it('a delayed ACK rides on outgoing data instead', () => {
    const s = new Scripted();
    const { h, una } = establish(s, { ts: false });
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: 'q' });
    h.send(new TextEncoder().encode('answer'));
    const out = s.out();
    expect(out.length).toBe(1);
    expect(out[0].ack).toBe(1002);
    expect(s.advance(100)).toEqual([]);
  });
});

describe('Nagle (RFC 1122 §4.2.3.4) and setNoDelay', () => {
  it('holds a small segment while data is unacknowledged; sends it on the ACK', () => {
    const s = new Scripted();
    const { h, una } = establish(s, { ts: false });
    h.send(new Uint8Array(100));
    expect(s.out().map((r) => r.payload.length)).toEqual([100]);
    h.send(new Uint8Array(100));
    h.send(new Uint8Array(50));
    expect(s.out()).toEqual([]);
    s.inject({ dport: 80, seq: 1001, ack: una + 100, flags: ACK });
    expect(s.out().map((r) => r.payload.length)).toEqual([150]);
  });

  it('full-sized segments are not held; only the tail waits', () => {
    const s = new Scripted();
    const { h } = establish(s, { ts: false });
    h.send(new Uint8Array(100));
    s.out();
    h.send(new Uint8Array(3000));
    expect(s.out().map((r) => r.payload.length)).toEqual([1460, 1460]);
  });

  it('noDelay sends small segments at once', () => {
    const s = new Scripted();
    const { h } = establish(s, { ts: false });
    h.setNoDelay(true);
    h.send(new Uint8Array(100));
    h.send(new Uint8Array(100));
    expect(s.out().map((r) => r.payload.length)).toEqual([200]);
    h.send(new Uint8Array(10));
    expect(s.out().map((r) => r.payload.length)).toEqual([10]);
  });
});

describe('zero window and persist (RFC 9293 §3.8.6.1)', () => {
  it('zero window → probes with backoff → window opens → transfer resumes', () => {
    const s = new Scripted();
    const { h, una } = establish(s, { ts: false, window: 0, ws: null });
    h.send(new Uint8Array(1000));
    expect(s.out()).toEqual([]);
    const probes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const out = s.advance(s.tcp.pollAt() - s.clock.now());
      expect(out.length).toBe(1);
      expect(out[0].seq).toBe((una - 1) >>> 0); // SND.UNA − 1: forces an ACK with the window
      expect(out[0].payload.length).toBe(0);
      probes.push(s.clock.now());
    }
    expect(probes).toEqual([200, 600, 1400]);
    expect(h.state).toBe('ESTABLISHED'); // a zero window never times the connection out
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, window: 0 });
    expect(s.out()).toEqual([]);
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, window: 8000 });
    const out = s.out();
    expect(out.map((r) => [r.seq, r.payload.length])).toEqual([[una, 1000]]);
    expect((s.tcp.stats() as any).retransmits.rto).toBe(0);
  });

  it('a long zero window does not abort the connection (RFC 1122 §4.2.2.17)', () => {
    const s = new Scripted({ userTimeout: 5000 });
    const { h, una } = establish(s, { ts: false, window: 0, ws: null });
    h.send(new Uint8Array(1000));
    // The peer answers every probe with a zero window, for a minute.
    let probes = 0;
    while (s.clock.now() < 60_000 && h.state === 'ESTABLISHED') {
      const out = s.advance(s.tcp.pollAt() - s.clock.now());
      for (const r of out) if (r.seq === ((una - 1) >>> 0)) probes++;
      s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, window: 0 });
    }
    expect(h.state).toBe('ESTABLISHED');
    expect(probes).toBeGreaterThan(3);
    // A peer that stops answering the probes is given up on after the user timeout.
    s.advance(200_000);
    expect(h.state).toBe('CLOSED');
  });
});

describe('silly window syndrome avoidance (RFC 9293 §3.8.6.2)', () => {
  it('sender: no tiny segment into a small window until the override timer', () => {
    const s = new Scripted();
    const { h, una } = establish(s, { ts: false, ws: null });
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, window: 100 });
    h.send(new Uint8Array(1000));
    expect(s.out()).toEqual([]);
    const out = s.advance(200);
    expect(out.map((r) => r.payload.length)).toEqual([100]);
    expect(s.clock.now()).toBe(200);
  });

  it('receiver: the window is not reopened by less than min(RCV.BUFF/2, MSS)', () => {
    const s = new Scripted();
    const { una } = establish(s, { ts: false, ws: null, listen: { receiveBufferSize: 10_000 } });
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: new Uint8Array(100) });
    let [a] = s.advance(40);
    expect(a.window).toBe(9900);
    s.inject({ dport: 80, seq: 1101, ack: una, flags: ACK, payload: new Uint8Array(1400) });
    [a] = s.advance(40);
    expect(a.window).toBe(10_000);
  });

  it('paused reader: the window shrinks to zero, then one update reopens it on resume', () => {
    const s = new Scripted();
    const { h, rec, una } = establish(s, { ts: false, ws: null, listen: { receiveBufferSize: 4000 } });
    h.setReceivePaused(true);
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, payload: new Uint8Array(3000) });
    let out = s.advance(40);
    expect(out[0].window).toBe(1000);
    s.inject({ dport: 80, seq: 4001, ack: una, flags: ACK, payload: new Uint8Array(1000) });
    out = s.advance(40);
    expect(out[0].window).toBe(0);
    s.inject({ dport: 80, seq: 5001, ack: una, flags: ACK, payload: new Uint8Array(10) });
    out = s.out();
    expect(out[0].ack).toBe(5001); // beyond the window: dropped, re-ACKed
    expect(rec.bytes).toBe(0);
    h.setReceivePaused(false);
    expect(rec.bytes).toBe(4000);
    out = s.out();
    expect(out.length).toBe(1);
    expect(out[0].window).toBe(4000);
  });

  it('FIN received while paused is delivered after the held data', () => {
    const s = new Scripted();
    const { h, rec, una } = establish(s, { ts: false });
    h.setReceivePaused(true);
    s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK | 0x01, payload: 'bye' });
    expect(rec.fin).toBe(0);
    h.setReceivePaused(false);
    expect(rec.text()).toBe('bye');
    expect(rec.fin).toBe(1);
  });
});

describe('keepalive (RFC 1122 §4.2.3.6)', () => {
  const ka = { keepAlive: true, keepAliveInitialDelay: 1000, keepAliveInterval: 100, keepAliveProbes: 3 };

  it('a live peer answers the probes and the connection stays', () => {
    const p = new Pair();
    const { sh } = p.connect(ka);
    p.run(() => false, 10_000);
    expect(sh.state).toBe('ESTABLISHED');
    const probes = p.segs('b').filter((r) => r.payload.length === 0 && r.flags === ACK);
    expect(probes.length).toBeGreaterThanOrEqual(9);
  });

  it('a dead peer is detected: ETIMEDOUT after idle + probes × interval', () => {
    const p = new Pair();
    const { server, sh } = p.connect(ka);
    const t0 = p.now;
    p.filter = (_r, from) => (from === 'a' ? 'drop' : 'deliver');
    p.run(() => server.closed > 0, 10_000);
    expect(server.error?.code).toBe('ETIMEDOUT');
    expect(sh.state).toBe('CLOSED');
    expect(p.now - t0).toBeGreaterThanOrEqual(1300 - 2);
    expect(p.now - t0).toBeLessThanOrEqual(1300 + 2);
  });

  it('setKeepAlive(true, delay) on an open connection arms it', () => {
    const p = new Pair();
    const { ch, client } = p.connect();
    ch.setKeepAlive(true, 500);
    p.filter = (_r, from) => (from === 'b' ? 'drop' : 'deliver');
    p.run(() => client.closed > 0, 2_000_000);
    expect(client.error?.code).toBe('ETIMEDOUT');
  });
});

void A;
void B;
void Recorder;

describe('zero window with data in flight', () => {
  it('a peer that answers with a zero window is not timed out while it keeps answering', () => {
    const s = new Scripted({ userTimeout: 5000, tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, ws: null });
    h.send(new Uint8Array(2000));
    s.out();
    // The peer shrinks its window to zero without taking the data (a "dastardly" receiver).
    for (let t = 0; t < 20_000; t += 500) {
      s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, window: 0 });
      s.advance(500);
    }
    expect(h.state).toBe('ESTABLISHED');
    // Silence then ends it (at the first RTO after userTimeout of silence; RTOs are backed off).
    s.advance(120_000);
    expect(h.state).toBe('CLOSED');
  });
});
