/**
 * A restored connection's first flight (RFC 5681 §4.1 restart window, applied at adoption).
 *
 * A takeover host restores an object-mapped checkpoint whose congestion window is the old host's
 * (measured on another path, before the failure-detection silence). After the peer's ACK is
 * adopted and the application refills the queue, the engine used to send the whole of that
 * window at once: at a bottleneck with a bounded queue most of the burst was lost, fast recovery
 * could not start ('recover' sits at the end of the old host's flight, RFC 6582 §4), and the
 * connection waited a whole retransmission timeout. The adoption now restarts cwnd at the
 * initial window and keeps max(ssthresh, 3/4·cwnd) as ssthresh (RFC 2861 §3, RFC 7661 §4.4).
 *
 * The "before" runs reinstate the checkpoint's cwnd/ssthresh in the 'ready' callback (which fires
 * after the adoption), which is exactly what the engine did before the fix.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { A, B, Pair, Recorder, makeNode, pattern } from './tcp-engine-harness.js';
import type { TcpConnectionHandle } from '../src/tcp/contract.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** Bottleneck b -> a: 25 kB/ms (200 Mbit/s), drop-tail queue of 100 kB; 5 ms each way (RTT 10 ms). */
const RATE = 25_000;
const QUEUE = 100_000;
const ONE_WAY = 5;
const RTT = 2 * ONE_WAY;
const OLD_CWND = 1_500_000; // the old host's cwnd (its own path had ~6x this one's BDP + queue)

interface Run {
  /** Farthest start of a data segment beyond the highest byte sent before it (bytes). */
  maxJump: number;
  ready: number;
  sha: string;
  want: string;
  /** Payload bytes b put on the wire within one one-way delay of its first data segment after the refill (no ACK can clock more out before that). */
  firstFlight: number;
  /** Data segments the bottleneck dropped after the restore. */
  lost: number;
  /** Retransmission timeouts of the restored connection (after it became ready). */
  rto: number;
  /** Segments resent by SACK recovery (RFC 6675) on the restored engine. */
  sackRtx: number;
  /** Longest time the client's in-order byte count did not move, after the refill. */
  stall: number;
  /** Refill to the last byte at the client. */
  elapsed: number;
  cwndAtReady: number;
  ssthreshAtReady: number;
}

function takeover(opts: { oldBehaviour: boolean; size?: number }): Run {
  const p = new Pair();
  p.delay = ONE_WAY;
  const size = opts.size ?? 4 << 20;
  const data = pattern(size, 23);
  let linkFree = 0;
  let lost = 0;
  let counting = false;
  // A FIFO drop-tail queue in front of a serialising link, for b's segments only.
  const bottleneck = (_r: unknown, from: 'a' | 'b', seg: Uint8Array) => {
    if (from !== 'b') return 'deliver' as const;
    const now = p.now;
    const start = Math.max(now, linkFree);
    if ((start - now) * RATE + seg.length > QUEUE) {
      if (counting) lost++;
      return 'drop' as const;
    }
    linkFree = start + seg.length / RATE;
    return { delay: linkFree - now };
  };
  p.filter = bottleneck;
  const { client, sh } = p.connect({ sack: true }, { sack: true, receiveBufferSize: 8 << 20 });
  const st = { off: 0, h: sh as TcpConnectionHandle, supplyAt: Infinity };
  const pump = () => {
    if (st.h !== sh && p.now < st.supplyAt) return;
    while (st.off < data.length) {
      const n = st.h.send(data.subarray(st.off, st.off + 65536));
      if (n === 0) break;
      st.off += n;
    }
  };
  pump();
  p.run(() => {
    pump();
    return client.bytes >= 512 * 1024;
  }, 10_000);
  // The replica's object-mapped checkpoint; the old host dies right after it.
  const sec = p.b.tcp.captureTcp(sh, p.now, { sendData: false });
  p.b.tcp.crash();
  p.filter = (r, from, seg) => (from === 'a' ? 'drop' : bottleneck(r, from, seg));
  p.run(() => false, 50); // what was in flight lands; the failure detection takes a while
  // As HaNode's widenForTakeover: the peer's ACK is acceptable up to the queue's end.
  sec.sndMax = (sec.sndUna + sec.sendLength) >>> 0;
  // The old host's window, measured on its own (faster) path.
  sec.cc.cwnd = OLD_CWND;
  const cpSsthresh = sec.cc.ssthresh;
  p.filter = bottleneck;
  p.b = makeNode(p.clock, B);
  // Count the restored connection's retransmission timeouts (the stats count retransmitted
  // segments by cause, and after the adoption everything up to SND.MAX counts as one).
  let rto = 0;
  const eng = p.b.tcp as unknown as { onRto: (...a: unknown[]) => void };
  const onRto = eng.onRto.bind(eng);
  eng.onRto = (...a: unknown[]) => {
    if (ready) rto++;
    onRto(...a);
  };
  const streamStart = (sec.iss + 1) >>> 0;
  const rec = new Recorder();
  let ready = 0;
  const at = { cwnd: 0, ssthresh: 0 };
  let tcb: { cwnd: number; ssthresh: number } | undefined;
  (rec as unknown as { onReady: () => void }).onReady = () => {
    ready++;
    at.cwnd = tcb!.cwnd;
    at.ssthresh = tcb!.ssthresh;
    if (opts.oldBehaviour) {
      tcb!.cwnd = OLD_CWND;
      tcb!.ssthresh = Number.isFinite(cpSsthresh) ? cpSsthresh : 0x7fffffff;
    }

    st.off = ((h2.info().sendTailSeq as number) - streamStart) >>> 0;
    st.supplyAt = p.now; // (the harness runs the pump right after the step that delivered the ACK)
  };
  const h2 = p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
  tcb = (h2 as unknown as { tcb: { cwnd: number; ssthresh: number } }).tcb;
  st.h = h2;
  counting = true;
  const logFrom = p.log.length;
  let lastBytes = client.bytes;
  let lastMove = -1;
  let stall = 0;
  p.run(() => {
    if (ready) pump();
    if (p.now >= st.supplyAt) {
      if (lastMove < 0) lastMove = st.supplyAt;
      if (client.bytes !== lastBytes) {
        stall = Math.max(stall, p.now - lastMove);
        lastBytes = client.bytes;
        lastMove = p.now;
      }
    }
    return client.bytes >= data.length;
  }, 20_000);
  let t1 = -1;
  let firstFlight = 0;
  for (let i = logFrom; i < p.log.length; i++) {
    const l = p.log[i];
    if (l.from !== 'b' || l.r.payload.length === 0) continue;
    if (t1 < 0) t1 = l.t;
    if (l.t < t1 + ONE_WAY) firstFlight += l.r.payload.length; // nothing ACK-clocked yet
  }
  // The farthest any data segment of b started beyond the highest byte b had sent before it
  // (SACK recovery skips ranges the client holds: small jumps; a tail loss probe at a widened
  // SND.MAX would start megabytes ahead).
  let hi = -1;
  let maxJump = 0;
  for (let i = logFrom; i < p.log.length; i++) {
    const l = p.log[i];
    if (l.from !== 'b' || l.r.payload.length === 0) continue;
    if (hi < 0) hi = l.r.seq;
    maxJump = Math.max(maxJump, (l.r.seq - hi) | 0);
    const end = (l.r.seq + l.r.payload.length) >>> 0;
    if (((end - hi) | 0) > 0) hi = end;
  }
  const stats = p.b.tcp.stats() as { retransmits: { sack: number } };
  return {
    maxJump,
    ready,
    sha: sha(client.data()),
    want: sha(data),
    firstFlight,
    lost,
    rto,
    sackRtx: stats.retransmits.sack,
    stall,
    elapsed: p.now - st.supplyAt,
    cwndAtReady: at.cwnd,
    ssthreshAtReady: at.ssthresh,
  };
}

describe("a restored connection's first flight after takeover (restart window)", () => {
  it('before: the checkpoint cwnd goes out as one burst, the bottleneck drops most of it, the connection waits an RTO', () => {
    const r = takeover({ oldBehaviour: true });
    // Its RTO rewinds SND.NXT far below the widened SND.MAX: no tail loss probe may go out at
    // SND.MAX then (RFC 8985 §7.2, not in loss recovery) — it used to start 1.87 MB ahead.
    expect(r.maxJump).toBeLessThan(64 * 1024);
    expect(r.ready).toBe(1);
    expect(r.sha).toBe(r.want);
    // The burst: far more than the path holds (BDP 250 kB + 100 kB queue) in a single RTT.
    expect(r.firstFlight).toBeGreaterThan(1_000_000);
    expect(r.lost).toBeGreaterThan(300);
    // Fast recovery could not repair it: a retransmission timeout, and a stall as long.
    expect(r.rto).toBeGreaterThan(0);
    expect(r.stall).toBeGreaterThanOrEqual(150);
    expect(r.firstFlight).toBeGreaterThan(1_000_000);
  });

  it('after: cwnd restarts at the initial window (RFC 5681 §4.1, RFC 6928), ssthresh keeps 3/4 of the old cwnd; no RTO, no stall, faster', () => {
    const before = takeover({ oldBehaviour: true });
    const r = takeover({ oldBehaviour: false });
    expect(r.maxJump).toBeLessThan(64 * 1024); // only SACKed ranges skipped
    expect(r.ready).toBe(1);
    expect(r.sha).toBe(r.want);
    expect(r.cwndAtReady).toBe(14_600); // IW = min(10·SMSS, max(2·SMSS, 14600)), SMSS 1460
    expect(r.ssthreshAtReady).toBeGreaterThanOrEqual(Math.floor((OLD_CWND * 3) / 4));
    // IW, plus one segment of limited transmit (RFC 3042): the adopted ACK carried new SACK
    // blocks, which counts as a duplicate ACK (RFC 6675 §2).
    expect(r.firstFlight).toBeLessThanOrEqual(14_600 + 1460);
    expect(r.rto).toBe(0);
    // Slow start overshoots this path too (ssthresh 1.1 MB > 350 kB of BDP + queue), and SACK
    // recovery repairs it: 'recover' ends at the peer's highest SACK block, not megabytes away.
    expect(r.sackRtx).toBeGreaterThan(0);
    expect(r.lost).toBeLessThan(before.lost / 10);
    expect(r.stall).toBeLessThan(50);
    // ~4 MiB at 25 kB/ms is ~140 ms of wire time plus slow start; the old behaviour took an RTO more.
    expect(r.elapsed).toBeLessThan(before.elapsed);
    expect(r.elapsed).toBeLessThan(before.elapsed - 50);
  });

  it('a checkpoint cwnd already below the initial window is kept (the restart never raises cwnd)', () => {
    const p = new Pair();
    const { client, sh } = p.connect({ sack: true }, { sack: true });
    const data = pattern(200_000, 5);
    sh.send(data.subarray(0, 65536));
    p.run(() => client.bytes >= 65536, 5000);
    const sec = p.b.tcp.captureTcp(sh, p.now, { sendData: true });
    sec.cc.cwnd = 2 * 1448;
    const ss = sec.cc.ssthresh;
    p.b.tcp.crash();
    p.b = makeNode(p.clock, B);
    const rec = new Recorder();
    let got: { cwnd: number; ssthresh: number } | null = null;
    const h2 = p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
    const tcb = (h2 as unknown as { tcb: { cwnd: number; ssthresh: number } }).tcb;
    (rec as unknown as { onReady: () => void }).onReady = () => {
      got = { cwnd: tcb.cwnd, ssthresh: tcb.ssthresh };
    };
    p.run(() => got !== null, 2000);
    expect(got).not.toBeNull();
    expect(got!.cwnd).toBe(2 * 1448);
    expect(got!.ssthresh).toBe(Number.isFinite(ss) ? ss : 0x7fffffff);
  });
});
