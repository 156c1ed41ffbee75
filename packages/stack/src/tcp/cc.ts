/**
 * Congestion control on the plain-data TCB: RFC 5681 slow start / congestion avoidance with
 * RFC 3465 byte counting (L = 2·SMSS), RFC 6582 NewReno window reductions, and RFC 9438 CUBIC.
 * Loss *recovery* (fast retransmit, partial ACKs, SACK pipe) lives in engine.ts; this file only
 * decides cwnd and ssthresh.
 */
import type { CubicState, Tcb } from './tcb.js';

/** RFC 9438 §4.6 multiplicative decrease factor. */
const BETA_CUBIC = 0.7;
/** RFC 9438 §4.2 constant C (segments / s^3). */
const C_CUBIC = 0.4;
/** RFC 9438 §4.3 additive increase of the Reno-friendly estimate. */
const ALPHA_CUBIC = (3 * (1 - BETA_CUBIC)) / (1 + BETA_CUBIC);

/** RFC 6928 initial window: min(10·MSS, max(2·MSS, 14600)). */
export function initialWindow(mss: number): number {
  return Math.min(10 * mss, Math.max(2 * mss, 14600));
}

/** Reset congestion state for a new connection. */
export function ccInit(t: Tcb): void {
  t.cwnd = initialWindow(t.sndMss);
  t.ssthresh = 0x7fffffff;
  t.bytesAcked = 0;
  t.cubic.wMax = 0;
  t.cubic.wLastMax = 0;
  t.cubic.epochStart = -1;
  t.cubic.k = 0;
  t.cubic.wEst = 0;
  t.cubic.cwndEpoch = 0;
}

/** New data acknowledged outside loss recovery: grow cwnd. */
export function ccOnAck(t: Tcb, acked: number, now: number): void {
  const mss = t.sndMss;
  if (t.cwnd < t.ssthresh) {
    // RFC 5681 §3.1 slow start, RFC 3465 byte counting with L = 2·SMSS.
    t.cwnd += Math.min(acked, 2 * mss);
    return;
  }
  if (t.cc === 'cubic') {
    cubicAck(t, acked, now);
    return;
  }
  // RFC 5681 §3.1 congestion avoidance: one SMSS per cwnd of acknowledged bytes.
  t.bytesAcked += acked;
  if (t.bytesAcked >= t.cwnd) {
    t.bytesAcked -= t.cwnd;
    t.cwnd += mss;
  }
}

function cubicAck(t: Tcb, acked: number, now: number): void {
  const mss = t.sndMss;
  const c = t.cubic;
  if (c.epochStart < 0) {
    // RFC 9438 §4.2: a new congestion-avoidance epoch.
    c.epochStart = now;
    c.cwndEpoch = t.cwnd;
    if (c.wMax < t.cwnd) {
      c.wMax = t.cwnd;
      c.k = 0;
    } else {
      c.k = Math.cbrt((c.wMax - t.cwnd) / mss / C_CUBIC);
    }
    c.wEst = t.cwnd;
  }
  const rtt = t.srtt > 0 ? t.srtt : 100;
  const tsec = (now - c.epochStart + rtt) / 1000;
  let target = C_CUBIC * Math.pow(tsec - c.k, 3) * mss + c.wMax;
  // §4.2: target is clamped to [cwnd, 1.5·cwnd].
  if (target < t.cwnd) target = t.cwnd;
  if (target > 1.5 * t.cwnd) target = 1.5 * t.cwnd;
  // §4.3 Reno-friendly region.
  c.wEst += (ALPHA_CUBIC * acked * mss) / t.cwnd;
  let next = t.cwnd + ((target - t.cwnd) * acked) / t.cwnd;
  if (c.wEst > next) next = c.wEst;
  t.cwnd = Math.floor(next);
}

/**
 * A congestion event detected by duplicate ACKs/SACK (RFC 5681 §3.2 step 2, RFC 9438 §4.6):
 * set ssthresh (and CUBIC's W_max). The caller sets cwnd for recovery.
 */
export function ccOnCongestion(t: Tcb, flight: number): void {
  const mss = t.sndMss;
  if (t.cc === 'cubic') {
    const c = t.cubic;
    // §4.7 fast convergence.
    if (t.cwnd < c.wLastMax) {
      c.wLastMax = t.cwnd;
      c.wMax = (t.cwnd * (1 + BETA_CUBIC)) / 2;
    } else {
      c.wLastMax = t.cwnd;
      c.wMax = t.cwnd;
    }
    c.epochStart = -1;
    t.ssthresh = Math.max(Math.floor(t.cwnd * BETA_CUBIC), 2 * mss);
  } else {
    // RFC 5681 eq. (4): ssthresh = max(FlightSize / 2, 2·SMSS).
    t.ssthresh = Math.max(Math.floor(flight / 2), 2 * mss);
  }
  t.bytesAcked = 0;
}

/** Retransmission timeout (RFC 5681 §3.1 eq. (4) and "loss window", RFC 9438 §4.8). */
export function ccOnRto(t: Tcb, flight: number): void {
  if (t.backoff === 0) ccOnCongestion(t, flight);
  t.cwnd = t.sndMss;
  t.bytesAcked = 0;
  t.cubic.epochStart = -1;
}

/** RFC 5681 §4.1: after an idle period longer than the RTO, restart from the initial window. */
export function ccRestartAfterIdle(t: Tcb): void {
  const rw = Math.min(initialWindow(t.sndMss), t.cwnd);
  t.cwnd = rw;
  t.cubic.epochStart = -1;
}

/** Copy CUBIC's state from `src` into `dst` in place (RFC 4015 undo: save and restore it). */
export function copyCubicState(dst: CubicState, src: CubicState): void {
  dst.wMax = src.wMax;
  dst.wLastMax = src.wLastMax;
  dst.epochStart = src.epochStart;
  dst.k = src.k;
  dst.wEst = src.wEst;
  dst.cwndEpoch = src.cwndEpoch;
}
