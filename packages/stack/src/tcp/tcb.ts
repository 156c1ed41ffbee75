/**
 * The transmission control block (RFC 9293 §3.3.1) as plain data: numbers, booleans, strings,
 * Uint8Arrays and small plain objects/arrays — no closures, no timer handles. A checkpoint is a
 * projection of it; a restore constructs one. Timers are absolute deadlines (ms) or Infinity.
 * Sequence-number fields are unsigned 32-bit numbers; compare them only with @hastack/wire's seq*.
 */
import type { CongestionControl, TcpStateName } from './contract.js';
import { Reassembly, SendBuffer } from './buffers.js';

/** Every timer of a connection (absolute deadlines, Infinity = not armed). */
export interface TcpTimers {
  /** Retransmission (RFC 6298), also SYN / SYN-ACK retransmission. */
  rtx: number;
  /** Delayed ACK (RFC 9293 §3.8.6.3). */
  delack: number;
  /** Zero-window probe / SWS override (RFC 9293 §3.8.6.1). */
  persist: number;
  /** Keepalive (RFC 1122 §4.2.3.6). */
  keepalive: number;
  /** TIME_WAIT 2·MSL (RFC 9293 §3.10.7.4). */
  timewait: number;
  /** Tail loss probe (RFC 8985 §7). */
  tlp: number;
}

/** CUBIC state (RFC 9438 §4), in bytes and milliseconds. */
export interface CubicState {
  /** W_max: window before the last reduction. */
  wMax: number;
  /** W_last_max for fast convergence (§4.7). */
  wLastMax: number;
  /** Start of the current congestion-avoidance epoch (ms), -1 = not started. */
  epochStart: number;
  /** K (seconds). */
  k: number;
  /** Reno-friendly estimate W_est (§4.3), bytes. */
  wEst: number;
  /** cwnd at the start of the epoch. */
  cwndEpoch: number;
}

export class Tcb {
  state: TcpStateName = 'CLOSED';
  localAddress = 0;
  localPort = 0;
  remoteAddress = 0;
  remotePort = 0;
  /** True when created by a passive open (SYN_RECEIVED returns to LISTEN on RST). */
  passive = false;

  // --- send sequence space (RFC 9293 §3.3.1) ---
  iss = 0;
  sndUna = 0;
  sndNxt = 0;
  /** Highest sequence number sent + 1 (SND.NXT before an RTO rewind). */
  sndMax = 0;
  /** Peer's window in bytes (already scaled). */
  sndWnd = 0;
  sndWl1 = 0;
  sndWl2 = 0;
  /** Largest window the peer ever offered (RFC 5961 §5 range check, SWS Fs·max). */
  maxSndWnd = 0;
  /** Sequence number of send-buffer byte 0 (ISS+1 until the buffer moves). */
  bufSeq = 0;
  /** The application closed its side: a FIN follows the buffered data. */
  finQueued = false;

  // --- receive sequence space ---
  irs = 0;
  rcvNxt = 0;
  /** RCV.NXT + RCV.WND as last advertised: never moves left (RFC 9293 §3.8.6.2.2). */
  rcvAdvEdge = 0;
  /** The peer's FIN was received (consumed one sequence number). */
  finReceived = false;
  /** An out-of-order FIN waits at this sequence number. */
  rcvFinSeq = -1;
  /** onFin still to be delivered (after held data, when paused). */
  finToDeliver = false;

  // --- options (RFC 7323, RFC 2018, RFC 9293 §3.7.1) ---
  /** Effective send MSS: peer MSS clamped to path MTU − 40 (options not subtracted). */
  sndMss = 536;
  /** MSS we advertise. */
  rcvMss = 1460;
  sndWscale = 0;
  rcvWscale = 0;
  wsOk = false;
  tsOk = false;
  sackOk = false;
  /** TSval = floor(now) + tsOffset (mod 2^32). */
  tsOffset = 0;
  tsRecent = 0;
  /** When TS.Recent was set (ms) — PAWS ignores a TS.Recent older than 24 days (RFC 7323 §5.5). */
  tsRecentAge = 0;
  /** RCV.NXT in the last ACK we sent (Last.ACK.sent, RFC 7323 §4.3). */
  lastAckSent = 0;

  // --- RTO (RFC 6298) ---
  srtt = 0;
  rttvar = 0;
  rto = 1000;
  /** Consecutive RTO expiries (backoff exponent). */
  backoff = 0;
  /** Time the current run of retransmissions began (user timeout), -1 = none. */
  rtxStart = -1;
  /** Karn timing without timestamps: sequence that ends the timed segment, -1 = none. */
  rttSeq = -1;
  rttTime = 0;

  // --- congestion control (RFC 5681, RFC 6582, RFC 6675, RFC 9438) ---
  cc: CongestionControl = 'cubic';
  cwnd = 0;
  ssthresh = 0x7fffffff;
  /** Bytes acked in congestion avoidance since the last cwnd increase (RFC 5681 §3.1). */
  bytesAcked = 0;
  dupAcks = 0;
  inRecovery = false;
  /** Recovery after an RTO with SACK: every un-SACKed byte below `recover` counts as lost. */
  rtoRecovery = false;
  /** RFC 6582 "recover" / RFC 6675 RecoveryPoint. */
  recover = 0;
  /** Retransmit the segment at SND.UNA at the next output (fast retransmit, partial ack). */
  rtxOne = false;
  /** Cause of the pending rtxOne: 'fast' or 'sack'. */
  rtxCause = 'fast';
  /** RFC 6675 scoreboard: SACKed ranges above SND.UNA, flat sorted [l0, r0, l1, r1, ...]. */
  sacked: number[] = [];
  /** RFC 6675 HighRxt: highest retransmitted sequence + 1 during recovery. */
  highRxt = 0;
  cubic: CubicState = { wMax: 0, wLastMax: 0, epochStart: -1, k: 0, wEst: 0, cwndEpoch: 0 };
  /** Last time we sent a data segment (RFC 5681 §4.1 restart after idle). */
  lastSendTime = 0;
  /**
   * RFC 5681 DupThresh, adapted to observed reordering (segments): raised after a spurious fast
   * retransmit (like Linux's tp->reordering), bounded, back to 3 after a genuine RTO.
   */
  reordering = 3;

  // --- spurious retransmission detection (RFC 3522 Eifel detection, RFC 4015 response) ---
  /** RetransmitTS (RFC 3522 §3.2): TSval of the first retransmission of the episode, -1 = none. */
  undoTsVal = -1;
  /** An RTO happened during the episode (counted as a spurious RTO when undone). */
  undoRto = false;
  /** cwnd / ssthresh / CUBIC state saved before the first reduction of the episode. */
  undoCwnd = 0;
  undoSsthresh = 0;
  /** Created on the first save (most connections never need it: one object and its boxed numbers less per TCB). */
  undoCubic: CubicState | null = null;

  // --- receive side ---
  rcvBufSize = 4 << 20;
  /** Delivery paused by the application; held bytes wait in `held`. */
  paused = false;
  held: Uint8Array[] = [];
  heldBytes = 0;
  ooo = new Reassembly();
  /** In-order bytes received since our last ACK (delayed ACK: ACK every 2 full segments). */
  unackedBytes = 0;
  /** Send an ACK at the next output. */
  ackNow = false;

  // --- send side ---
  sendBuf: SendBuffer;
  /** The application is waiting for onSendSpace. */
  wantSendSpace = false;
  noDelay = false;

  // --- keepalive / timeouts ---
  keepAlive = false;
  keepAliveIdle = 7_200_000;
  keepAliveInterval = 75_000;
  keepAliveProbes = 9;
  keepAliveSent = 0;
  /** Last time a segment arrived from the peer. */
  lastRecvTime = 0;
  userTimeout = 120_000;
  synTimeout = 75_000;
  timeWait = 60_000;
  /** Persist backoff exponent. */
  persistBackoff = 0;
  /** When the last zero-window probe was sent (ms). */
  lastProbeAt = -1;
  /** SYN / SYN-ACK retransmissions so far. */
  synRetries = 0;

  /**
   * Restored from an object-mapped checkpoint: bytes the application still has to supply (via
   * send(), even in FIN states) before the queued FIN may go out.
   */
  fillRemaining = 0;

  timers: TcpTimers = { rtx: Infinity, delack: Infinity, persist: Infinity, keepalive: Infinity, timewait: Infinity, tlp: Infinity };
  /** A tail loss probe is outstanding (at most one per tail, RFC 8985 §7.3). */
  tlpOut = false;

  constructor(sendBufferSize = 4 << 20) {
    this.sendBuf = new SendBuffer(sendBufferSize);
  }
}

/** States in which the connection is synchronized (RFC 9293 §3.5). */
export function isSynchronized(s: TcpStateName): boolean {
  return s !== 'CLOSED' && s !== 'LISTEN' && s !== 'SYN_SENT' && s !== 'SYN_RECEIVED';
}
