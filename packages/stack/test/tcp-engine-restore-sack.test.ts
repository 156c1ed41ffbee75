/**
 * A restore whose peer holds out-of-order data (issue 6: "a download hangs after takeover").
 *
 * The old host dies with a window in flight that the network thinned out: the client holds
 * out-of-order segments above its RCV.NXT and reports them in SACK blocks. The takeover host adopts
 * the client's ACK (SND.NXT rewound to it, SND.MAX still the old host's) and must resend
 * everything from there. Before the fix the very ACK that was adopted, with its SACK blocks, also
 * counted as a duplicate ACK of the old host's window and put the restored connection into SACK
 * loss recovery (RFC 6675 IsLost(SND.UNA) with 3 SACKed blocks above it). Its fast retransmission
 * found an empty queue (object-mapped: the application refills it after 'ready') and was dropped,
 * pipe counted the old host's unSACKed holes as still in flight (more than cwnd), and nothing was
 * in flight from this host, so no retransmission timer ran either: the connection sent nothing,
 * ever. Real-clock runs of 20 downloads across a crash hung in about 1 of 3 runs.
 *
 * The adoption is now an RTO of the old host's flight: go back to SND.UNA (RFC 6298 (5.4)) with
 * "recover" at SND.MAX (RFC 6582 §4), so duplicate ACKs of the old window cannot start a recovery.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { A, B, Pair, Recorder, makeNode, pattern } from './tcp-engine-harness.js';
import type { TcpConnectionHandle } from '../src/tcp/contract.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/**
 * A 1 MiB download from b to a. b is checkpointed (mapped or full) at 200 kB; then only one in
 * eight of its data segments arrives, b dies, and a fresh engine restores the checkpoint with
 * SND.MAX widened to the queue's end (as HaNode does). The application supplies the owed bytes
 * `supplyDelayMs` after 'ready' (as HaNode's asynchronous refill does). `cwnd` forces the
 * checkpoint's congestion window (small: the reported case had 20 downloads sharing the link).
 */
function takeoverWithHoles(opts: { mode: 'mapped' | 'full'; supplyDelayMs: number; sack?: boolean; cwnd?: number; clientRcvBuf?: number }) {
  const p = new Pair();
  const sack = opts.sack ?? true;
  const data = pattern(1 << 20, 61);
  const { client, sh } = p.connect({ sack }, { sack, receiveBufferSize: opts.clientRcvBuf });
  const st = { off: 0, h: sh as TcpConnectionHandle, supplyAt: Infinity };
  const pump = () => {
    if (p.now < st.supplyAt && st.h !== sh) return;
    while (st.off < data.length) {
      const n = st.h.send(data.subarray(st.off, st.off + 65536));
      if (n === 0) break;
      st.off += n;
    }
  };
  pump();
  p.run(() => {
    pump();
    return client.bytes >= 200_000;
  });
  // The replica's checkpoint is taken here (HaNode: one per response plus one per MiB of progress).
  const sec = p.b.tcp.captureTcp(sh, p.now, { sendData: opts.mode === 'full' });
  // The old host keeps sending; of its last data segments only one in eight arrives, and it dies
  // before it could repair the holes: the client is left holding out-of-order data.
  let k = 0;
  p.filter = (r, from) => (from === 'b' && r.payload.length > 0 && k++ % 8 !== 0 ? 'drop' : 'deliver');
  p.run(() => {
    pump();
    return k >= 30;
  }, 1000);
  p.b.tcp.crash();
  p.filter = (_r, from) => (from === 'a' ? 'drop' : 'deliver');
  p.run(() => false, 5); // what was in flight lands
  // The takeover host accepts the peer's ACK up to the end of the queue, as HaNode's
  // widenForTakeover does: the old host sent past the checkpoint's SND.MAX.
  sec.sndMax = (sec.sndUna + sec.sendLength) >>> 0;
  if (opts.cwnd) sec.cc.cwnd = opts.cwnd;
  const rcvNxtAtCrash = client.bytes;
  const cc = p.a.tcp.connections()[0] as unknown as { tcb: { ooo: { segs: unknown[] }; rcvNxt: number } };
  const oooAtCrash = cc.tcb.ooo.segs.length;
  p.filter = undefined;
  p.b = makeNode(p.clock, B);
  const streamStart = (sec.iss + 1) >>> 0;
  const rec = new Recorder();
  let ready = 0;
  (rec as unknown as { onReady: () => void }).onReady = () => {
    ready++;
    // The application owes the bytes from sendTailSeq on; it supplies them a little later.
    st.off = ((h2.info().sendTailSeq as number) - streamStart) >>> 0;
    st.supplyAt = p.now + opts.supplyDelayMs;
  };
  const h2 = p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
  st.h = h2;
  const tcb = (h2 as unknown as { tcb: { recover: number; sndUna: number; sndMax: number } }).tcb;
  const atReady = { recover: 0, sndUna: 0, sndMax: 0 };
  const onReady = (rec as unknown as { onReady: () => void }).onReady;
  (rec as unknown as { onReady: () => void }).onReady = () => {
    Object.assign(atReady, { recover: tcb.recover, sndUna: tcb.sndUna, sndMax: tcb.sndMax });
    onReady();
  };
  const t0 = p.now;
  p.run(() => {
    if (ready) pump();
    return client.bytes >= data.length;
  }, 30_000);
  return { p, client, data, ready, rcvNxtAtCrash, oooAtCrash, t0, sec, elapsed: p.now - t0, h2, atReady };
}

describe('restore while the peer holds out-of-order data (SACK blocks above the adopted ACK)', () => {
  it('object-mapped, owed bytes supplied after ready: no fast recovery from the old window, the download completes (RFC 6582 §4)', () => {
    const r = takeoverWithHoles({ mode: 'mapped', supplyDelayMs: 2, cwnd: 10 * 1448 });
    expect(r.ready).toBe(1);
    // The scenario did what it says: the client held out-of-order data at the takeover and
    // answered the restored host's solicitation with SACK blocks (3 blocks: 6 edges).
    expect(r.oooAtCrash).toBeGreaterThanOrEqual(3);
    expect(r.p.log.some((l) => l.from === 'a' && l.t >= r.t0 && l.r.options.sack.length >= 6)).toBe(true);
    expect(r.client.bytes).toBe(r.data.length);
    expect(sha(r.client.data())).toBe(sha(r.data));
    // No stall behind a retransmission timeout: well under one RTO of dead time.
    expect(r.elapsed).toBeLessThan(150);
  });

  it('full checkpoint (queue at hand at ready): no stall behind a retransmission timeout', () => {
    const r = takeoverWithHoles({ mode: 'full', supplyDelayMs: 0, cwnd: 10 * 1448 });
    expect(r.ready).toBe(1);
    expect(sha(r.client.data())).toBe(sha(r.data));
    expect(r.elapsed).toBeLessThan(150);
  });

  it('without SACK (go-back-N from the adopted ACK): the download completes', () => {
    const r = takeoverWithHoles({ mode: 'mapped', supplyDelayMs: 2, sack: false, cwnd: 10 * 1448 });
    expect(r.ready).toBe(1);
    expect(sha(r.client.data())).toBe(sha(r.data));
  });

  it("'recover' ends at the peer's window edge when the widened SND.MAX lies beyond it (no megabytes without fast recovery)", () => {
    // The client's receive window is 128 KiB: the old host cannot have sent past its right edge.
    const r = takeoverWithHoles({ mode: 'mapped', supplyDelayMs: 2, cwnd: 10 * 1448, clientRcvBuf: 128 * 1024 });
    expect(r.ready).toBe(1);
    const a = r.atReady;
    expect((a.sndMax - a.sndUna) >>> 0).toBeGreaterThan(512 * 1024); // widened to the queue's end
    const rec = (a.recover - a.sndUna) >>> 0;
    expect(rec).toBeGreaterThan(0);
    expect(rec).toBeLessThanOrEqual(128 * 1024);
    expect(sha(r.client.data())).toBe(sha(r.data));
  });
});
