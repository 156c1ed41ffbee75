/**
 * Three latent stalls of the TCP engine found during the issue-6 takeover-hang hunt
 * (docs/tcp-internals.md, "Where each rule lives"):
 *
 * 1. RFC 6298 (5.1): the retransmission timer must run while data is outstanding. After SND.NXT
 *    is pulled back to SND.UNA (an RTO, a restore's adoption) with nothing at hand to send — an
 *    object-mapped restore whose owed bytes are not back in the queue — no timer ran at all:
 *    no retransmission, no user timeout, and the keepalive defers to that (missing) timer.
 * 2. RFC 9293 §3.8.6.1 / RFC 1122 §4.2.2.17: a persist timer that fires must send its probe. Inside
 *    SACK recovery the forced send was ignored: the timer re-armed and fired again and again
 *    sending nothing. While the retransmission timer runs it fires no later than the persist
 *    timer (every ACK restarts persist) and repairs the connection; without it (the issue-6
 *    adoption state) the persist timer was the only one left and the connection hung.
 * 3. A fast retransmission (RFC 5681 §3.2 step 4, RFC 6675 §5 (4.2)) whose bytes are not in the
 *    queue yet (object-mapped refill) was consumed and dropped; it now stays pending until the
 *    bytes are there.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { A, ACK, B, Pair, Recorder, Scripted, establish, makeNode, pattern } from './tcp-engine-harness.js';
import type { TcpConnectionHandle } from '../src/tcp/contract.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * A 300 kB download from b to a; b is checkpointed object-mapped (no send bytes) at 100 kB, dies,
 * and a fresh engine restores the checkpoint; the client's answer to the solicitation is adopted.
 * The application has supplied nothing yet when this returns.
 */
function mappedRestore() {
  const p = new Pair({}, {});
  const data = pattern(300_000, 17);
  const { client, sh } = p.connect({ sack: true }, { sack: true });
  let off = 0;
  const pump = (h: TcpConnectionHandle) => {
    while (off < data.length) {
      const n = h.send(data.subarray(off, off + 65536));
      if (n === 0) break;
      off += n;
    }
  };
  pump(sh);
  p.run(() => {
    pump(sh);
    return client.bytes >= 100_000;
  });
  const sec = p.b.tcp.captureTcp(sh, p.now, { sendData: false });
  // The takeover host accepts the peer's ACK up to the end of the queue, as HaNode's
  // widenForTakeover does: the old host may have sent past the checkpoint's SND.MAX.
  sec.sndMax = (sec.sndUna + sec.sendLength) >>> 0;
  p.b.tcp.crash();
  p.filter = (_r, from) => (from === 'a' ? 'drop' : 'deliver'); // no RST from the dead host's closed port
  p.run(() => false, 5); // what was in flight lands
  p.filter = undefined;
  p.b = makeNode(p.clock, B);
  const rec = new Recorder();
  let ready = 0;
  (rec as unknown as { onReady: () => void }).onReady = () => ready++;
  const h2 = p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
  p.run(() => ready > 0, 2000);
  expect(ready).toBe(1);
  const tcb = (h2 as unknown as { tcb: Record<string, any> }).tcb;
  const streamStart = (sec.iss + 1) >>> 0;
  /** The application supplies the owed bytes (all of them, from sendTailSeq on). */
  const supply = () => {
    let o = ((h2.info().sendTailSeq as number) - streamStart) >>> 0;
    while (o < data.length) {
      const n = h2.send(data.subarray(o, o + 65536));
      if (n === 0) break;
      o += n;
    }
  };
  return { p, client, data, h2, rec, tcb, supply };
}

describe('1. retransmission timer while data is outstanding and SND.NXT = SND.UNA (RFC 6298 (5.1))', () => {
  it('restored object-mapped connection, owed bytes not supplied, peer gone: the RTO runs and the user timeout ends it', () => {
    const r = mappedRestore();
    expect((r.tcb.sndMax - r.tcb.sndUna) >>> 0).toBeGreaterThan(0); // the old host's flight is outstanding
    expect(r.tcb.sndNxt).toBe(r.tcb.sndUna);
    // The peer goes silent (crashed too); the application never supplies the bytes.
    r.p.filter = () => 'drop';
    r.p.run(() => false, 1000);
    // Before the fix: no timer at all (pollAt() = Infinity), the connection waited forever.
    expect(Number.isFinite(r.tcb.timers.rtx)).toBe(true);
    expect(Number.isFinite(r.p.b.tcp.pollAt())).toBe(true);
    r.p.run(() => r.rec.closed > 0, 300_000); // userTimeout: 120 s (default)
    expect(r.rec.error?.code).toBe('ETIMEDOUT');
    expect(r.p.now).toBeLessThan(250_000);
  });

  it('the same with the peer alive and the bytes supplied after several RTOs: the download completes intact', () => {
    const r = mappedRestore();
    const cwnd = r.tcb.cwnd;
    r.p.run(() => false, 1500); // > 2 RTOs with nothing in the queue
    expect(Number.isFinite(r.tcb.timers.rtx)).toBe(true);
    expect(r.tcb.backoff).toBeGreaterThanOrEqual(2); // the expiries backed off (RFC 6298 (5.5))...
    expect(r.tcb.cwnd).toBe(cwnd); // ...but nothing was retransmittable: no congestion response
    r.supply();
    r.p.run(() => r.client.bytes >= r.data.length, 30_000);
    expect(sha(r.client.data())).toBe(sha(r.data));
  });

  it('after an RTO rewind, a lost retransmission is retransmitted again (the timer is restarted by the send)', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: false, mss: 1000 });
    h.send(new Uint8Array(5000));
    expect(s.out().length).toBe(5);
    const first = s.advance(s.tcp.pollAt() - s.clock.now()); // RTO: go back to SND.UNA
    expect(first.map((x) => x.seq)).toEqual([una]);
    // That retransmission is lost too: the next RTO must still come.
    const second = s.advance(s.tcp.pollAt() - s.clock.now());
    expect(second.map((x) => x.seq)).toEqual([una]);
    expect(s.clock.now()).toBe(600);
  });
});

describe('2. persist timer inside SACK recovery (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17)', () => {
  it('a persist expiry in SACK recovery sends a segment instead of re-arming for nothing', () => {
    const s = new Scripted({ tailLossProbe: false });
    const { h, una } = establish(s, { ts: false, sack: true, mss: 1000, listen: { congestionControl: 'newreno' } });
    const tcb = (h as unknown as { tcb: Record<string, any> }).tcb;
    h.send(new Uint8Array(30_000));
    expect(s.out().length).toBe(10);
    s.advance(50);
    // Duplicate ACKs SACKing segments 1, 3 and 11 (segments 10 and 11 are limited transmit,
    // RFC 3042): SACK recovery, segment 0 resent. The long hole 4..10 under the top block is not
    // lost by RFC 6675 IsLost and counts in pipe, which fills cwnd.
    const blocks = [una + 1000, una + 2000, una + 3000, una + 4000, una + 11_000, una + 12_000];
    for (let i = 1; i <= 3; i++) {
      s.inject({ dport: 80, seq: 1001, ack: una, flags: ACK, options: { sack: blocks.slice(0, 2 * i) } });
      s.out();
    }
    expect(tcb.inRecovery).toBe(true);
    s.advance(50);
    // Path MTU drops (RFC 1191, ICMP "fragmentation needed"): SND.NXT goes back to SND.UNA
    // inside the recovery.
    s.node.ip.mtu = 1000;
    const q = new Uint8Array(28);
    const dv = new DataView(q.buffer);
    q[0] = 0x45;
    q[9] = 6;
    dv.setUint32(12, A);
    dv.setUint32(16, B);
    dv.setUint16(20, 80);
    dv.setUint16(22, 40000);
    s.tcp.icmpError(3, 4, q, s.clock.now());
    // pipe (the hole 4..10 and the resent segment 0) fills cwnd: nothing goes out.
    expect(s.out().filter((x) => x.payload.length > 0)).toEqual([]);
    expect(tcb.sndNxt).toBe(tcb.sndUna);
    const persistAt = tcb.timers.persist;
    expect(persistAt).toBe(300);
    // In SACK recovery, the retransmission timer is the backstop: its expiry at 200 would
    // retransmit (RFC 6675 §5.1). Take it away, as the pre-38a037c restore adoption did (the
    // issue-6 hang: persist was the only timer left): the persist timer alone must move the
    // connection. Before the fix it fired every interval, sent nothing and re-armed, forever.
    tcb.timers.rtx = Infinity;
    const outs = s.advance(2000);
    const data = outs.filter((x) => x.payload.length > 0);
    expect(data.length).toBeGreaterThan(0);
    expect(data[0].seq).toBe((una + 2000) >>> 0); // the first lost hole (NextSeg rule 1)
    expect(Number.isFinite(tcb.timers.rtx)).toBe(true); // and that send restarted the RTO (5.1)
  });
});

describe('3. fast retransmission waits for its bytes (object-mapped refill)', () => {
  it('SACK recovery entered with the queue still empty: the retransmission of SND.UNA goes out when the bytes arrive', () => {
    const r = mappedRestore();
    const t = r.tcb;
    // The state the pre-38a037c adoption produced (and any fast retransmit decided before the
    // refill is back): in SACK recovery, retransmission of SND.UNA pending, queue empty, the
    // scoreboard holding the old host's out-of-order blocks so that pipe >= cwnd.
    const una = t.sndUna >>> 0;
    const mss = t.sndMss;
    t.sacked = [una + mss, una + 2 * mss, una + 3 * mss, una + 4 * mss, una + 5 * mss, una + 6 * mss, una + 7 * mss, una + 40 * mss].map((x: number) => x >>> 0);
    t.sndNxt = t.sndMax; // the old host's flight counts as sent
    t.inRecovery = true;
    t.recover = t.sndMax;
    t.highRxt = una;
    t.rtxOne = true;
    t.rtxCause = 'sack';
    t.cwnd = 2 * mss;
    (r.p.b.tcp as unknown as { _markDirty: (c: unknown) => void })._markDirty(r.h2);
    r.p.run(() => false, 5); // output runs: the bytes are not there
    const fast0 = (r.p.b.tcp.stats() as any).retransmits.sack as number;
    r.supply();
    const t0 = r.p.now;
    r.p.run(() => false, 2);
    expect((r.p.b.tcp.stats() as any).retransmits.sack).toBeGreaterThan(fast0);
    expect(r.p.log.some((l) => l.from === 'b' && l.t >= t0 && l.r.seq === una && l.r.payload.length > 0)).toBe(true);
    r.p.run(() => r.client.bytes >= r.data.length, 30_000);
    expect(sha(r.client.data())).toBe(sha(r.data));
  });
});
