/**
 * SCTP association state as plain data (ARCHITECTURE §2.3): numbers, byte arrays and small plain
 * objects only, so `snapshot()` is a deep copy and `adopt()` is a constructor. Deadlines are
 * absolute times on the owning stack's clock (Infinity = not running); a snapshot records the time
 * it was taken and `rebaseState()` shifts every deadline onto another clock.
 */

/** RFC 9260 §4 association states (CLOSED is terminal here: the association is forgotten). */
export type SctpStateName =
  | 'COOKIE_WAIT'
  | 'COOKIE_ECHOED'
  | 'ESTABLISHED'
  | 'SHUTDOWN_PENDING'
  | 'SHUTDOWN_SENT'
  | 'SHUTDOWN_RECEIVED'
  | 'SHUTDOWN_ACK_SENT'
  | 'CLOSED';

/** RFC 9260 §8.2 / RFC 7829 destination states ('unconfirmed': §5.4, not yet used for data). */
export type SctpPathStateName = 'unconfirmed' | 'active' | 'pf' | 'inactive';

/** Protocol parameters (RFC 9260 §16 defaults unless noted). All times in ms. */
export interface SctpProtocolOptions {
  rtoInitial: number;
  rtoMin: number;
  rtoMax: number;
  /** Max.Burst: new packets one SACK may release (§7.2.4 / §6.1). */
  maxBurst: number;
  /** Valid.Cookie.Life. */
  cookieLife: number;
  /** Association.Max.Retrans (AMR). */
  assocMaxRetrans: number;
  /** Path.Max.Retrans (PMR). */
  pathMaxRetrans: number;
  /**
   * RFC 7829 Potentially Failed Max Retrans (PFMR): a path goes PF once its error count exceeds
   * this. 0 = PF at the first timeout (RFC 7829 recommendation). `Infinity` disables PF (plain
   * RFC 9260 behaviour).
   */
  pfMaxRetrans: number;
  /** Max.Init.Retransmits. */
  maxInitRetrans: number;
  /** HB.interval. */
  hbInterval: number;
  /** Delayed SACK timer (§6.2: at most 500 ms; 200 ms here). */
  sackDelay: number;
  /** SACK at least every this many packets carrying DATA (§6.2: 2). */
  sackFreq: number;
  /** Receive buffer (bytes): advertised a_rwnd, bound on held out-of-order/incomplete data. */
  receiveBuffer: number;
  /** Send buffer high-water mark (bytes): `send()` reports backpressure above it. */
  sendBuffer: number;
  /** Hard cap on queued + in-flight bytes: `send()` throws ENOBUFS beyond it. */
  sendBufferHardLimit: number;
  /** Largest user message accepted for sending and for reassembly (bytes). */
  maxMessageSize: number;
  /** Inbound streams we accept (MIS) and outbound streams we ask for (OS). */
  inboundStreams: number;
  outboundStreams: number;
}

export const SCTP_DEFAULTS: Readonly<SctpProtocolOptions> = Object.freeze({
  rtoInitial: 1000,
  rtoMin: 1000,
  rtoMax: 60000,
  maxBurst: 4,
  cookieLife: 60000,
  assocMaxRetrans: 10,
  pathMaxRetrans: 5,
  pfMaxRetrans: 0,
  maxInitRetrans: 8,
  hbInterval: 30000,
  sackDelay: 200,
  sackFreq: 2,
  receiveBuffer: 1 << 20,
  sendBuffer: 1 << 20,
  sendBufferHardLimit: 8 << 20,
  maxMessageSize: 1 << 20,
  inboundStreams: 64,
  outboundStreams: 64,
});

/** One destination transport address of the peer (RFC 9260 §6.4) with its RTO and CC state. */
export interface PathState {
  addr: number;
  state: SctpPathStateName;
  /** Consecutive errors (T3 / HEARTBEAT timeouts) since the last acknowledgement (§8.2). */
  errors: number;
  srtt: number;
  rttvar: number;
  rto: number;
  rttMeasured: boolean;
  /** Congestion control (§7.2). */
  cwnd: number;
  ssthresh: number;
  partialBytesAcked: number;
  /** Bytes outstanding on this path. */
  flight: number;
  /** T3-rtx deadline. */
  t3At: number;
  /** Next HEARTBEAT deadline. */
  hbAt: number;
  /** A HEARTBEAT is unanswered; its nonce and send time. */
  hbOutstanding: boolean;
  hbNonce: number;
  hbSentAt: number;
  /** RTT measurement in progress: TSN and send time (Karn: first transmissions only). */
  rttTsn: number;
  rttSentAt: number;
  rttActive: boolean;
  /** Last time DATA was sent on the path (heartbeats go to idle paths, §8.3). */
  lastSend: number;
}

/** A DATA chunk we sent or will send. TSN is assigned when the message is queued. */
export interface OutChunk {
  tsn: number;
  streamId: number;
  ssn: number;
  ppid: number;
  unordered: boolean;
  beginning: boolean;
  ending: boolean;
  data: Uint8Array;
  /** Transmitted at least once. */
  sent: boolean;
  /** Reported in a gap block of the latest SACK (still renegable, §6.2.1). */
  gapAcked: boolean;
  /** Marked for retransmission (T3 or fast retransmit). */
  retx: boolean;
  /** Fast-retransmitted already in this recovery (§7.2.4: only once). */
  fastRetx: boolean;
  missInd: number;
  txCount: number;
  sentAt: number;
  /** Index into `paths` of the last transmission. */
  path: number;
}

/** A DATA chunk received and not yet delivered. */
export interface HeldChunk {
  tsn: number;
  streamId: number;
  ssn: number;
  ppid: number;
  unordered: boolean;
  beginning: boolean;
  ending: boolean;
  data: Uint8Array;
}

/** The whole association: this is what a snapshot holds. */
export interface AssocState {
  version: 1;
  state: SctpStateName;
  localPort: number;
  remotePort: number;
  /** Our addresses as announced to the peer (first = the one we answer on by default). */
  localAddrs: number[];
  myTag: number;
  peerTag: number;
  peerInitialTsn: number;
  /** Next TSN we assign. */
  nextTsn: number;
  /** Highest TSN the peer acknowledged cumulatively. */
  peerCumAck: number;
  peerRwnd: number;
  numOut: number;
  numIn: number;
  ssnOut: number[];
  ssnIn: number[];
  out: OutChunk[];
  /** Bytes in `out` (queued + in flight). */
  outBytes: number;
  /** Cumulative TSN received in sequence. */
  cumTsn: number;
  /** TSNs received above cumTsn, ascending. */
  rcvdAbove: number[];
  held: HeldChunk[];
  heldBytes: number;
  dupTsns: number[];
  /** Packets with DATA since our last SACK; SACK deadline (Infinity = none pending). */
  sackPending: number;
  sackAt: number;
  sackNow: boolean;
  paths: PathState[];
  primary: number;
  /** Association error counter (§8.1). */
  errors: number;
  /** Fast recovery (§7.2.4). */
  fastRecovery: boolean;
  recoverTsn: number;
  /** T1-init / T2-shutdown: deadline, retransmission count, current timeout. */
  t1At: number;
  t1Count: number;
  t1Rto: number;
  t2At: number;
  t2Count: number;
  t2Rto: number;
  /** The INIT or COOKIE ECHO we retransmit on T1. */
  initPacket: Uint8Array | null;
  cookie: Uint8Array | null;
  /** Cookie preservative to request after a stale cookie (ms). */
  preservative: number;
  /** shutdown() was called: send SHUTDOWN once everything is acknowledged. */
  shutdownRequested: boolean;
  /** Secret for the state cookies of this endpoint (replicated so a secondary can verify them). */
  cookieSecret: Uint8Array;
  /** Counters of this association. */
  stats: AssocCounters;
}

export interface AssocCounters {
  dataChunksOut: number;
  dataChunksIn: number;
  retransmits: number;
  fastRetransmits: number;
  t3Expiries: number;
  sacksOut: number;
  sacksIn: number;
  dupTsnsIn: number;
  messagesOut: number;
  messagesIn: number;
  bytesOut: number;
  bytesIn: number;
}

/** A checkpoint of one association (`association.snapshot()`), input of `stack.sctp.adopt()`. */
export interface SctpSnapshot {
  kind: 'sctp-association';
  version: 1;
  /** The stack clock at capture; deadlines in `state` are rebased from here on adopt. */
  takenAt: number;
  /** Monotonic sequence number of snapshots of this association (newest wins). */
  seq: number;
  state: AssocState;
  /** Opaque application state captured atomically with the association (replication helper). */
  app?: unknown;
}

/** Per-path information returned by `association.paths()`. */
export interface SctpPathInfo {
  address: string;
  state: SctpPathStateName;
  primary: boolean;
  errors: number;
  srtt: number;
  rto: number;
  cwnd: number;
  ssthresh: number;
  flight: number;
}

/** Shift every deadline in `s` by `delta` ms (restore onto another clock). */
export function rebaseState(s: AssocState, delta: number): void {
  const sh = (t: number): number => (Number.isFinite(t) ? t + delta : t);
  s.sackAt = sh(s.sackAt);
  s.t1At = sh(s.t1At);
  s.t2At = sh(s.t2At);
  for (const p of s.paths) {
    p.t3At = sh(p.t3At);
    p.hbAt = sh(p.hbAt);
    p.hbSentAt = sh(p.hbSentAt);
    p.rttSentAt = sh(p.rttSentAt);
    p.lastSend = sh(p.lastSend);
  }
  for (const c of s.out) c.sentAt = sh(c.sentAt);
}
