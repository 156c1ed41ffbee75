/**
 * The plain-data shape of a connection checkpoint (seed 003; ARCHITECTURE.md §5).
 *
 * Read this first:
 * - A checkpoint is a bundle of sections, one appended by each layer the connection crosses
 *   (seed 003 claims 3, 11): `meta` (who/when), `link`, `ip`, the transport (`tcp` or `udp`) and
 *   `app`. Related connections travel together in a `BundleCheckpoint` (claims 4–7, 15–18).
 * - Everything here is plain data: numbers, booleans, strings, `Uint8Array`s, arrays and plain
 *   objects. Capture is a projection of the TCB, restore is a constructor (principle 3).
 * - IPv4 addresses are uint32 numbers, MACs 6-byte `Uint8Array`s, sequence numbers uint32 and
 *   always compared modulo 2^32 (RFC 9293 §3.4).
 * - Times: `meta.takenAt` is wall/cluster-clock ms since the epoch; `meta.takenAtMono` is the
 *   engine's monotonic `now` at capture. Every deadline or age inside the checkpoint is stored
 *   RELATIVE to `takenAtMono` (deadline − takenAtMono, age = takenAtMono − event), so the
 *   restoring host rebases them on its own clock.
 * - The encoding, validation and signing live in `@hastack/checkpoint`; that package's
 *   `validateCheckpoint()` is the normative list of ranges and cross-field rules.
 */
import type { TcpStateName } from './tcp/contract.js';

/** Format version written in `meta.version` and in the encoded frame. */
export const CHECKPOINT_VERSION = 1;

/**
 * TCP states a connection can be checkpointed in: synchronized states where both ISNs are known
 * and the connection is still alive. LISTEN/SYN_* (nothing to resume), TIME_WAIT and CLOSED
 * are refused with ERR_CHECKPOINT_UNSUPPORTED_STATE.
 */
export const CHECKPOINTABLE_TCP_STATES = ['ESTABLISHED', 'CLOSE_WAIT', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSING', 'LAST_ACK'] as const;

export type CheckpointableTcpState = (typeof CHECKPOINTABLE_TCP_STATES)[number];

/** Whether `state` may be checkpointed (see CHECKPOINTABLE_TCP_STATES). */
export function isCheckpointableTcpState(state: TcpStateName | string): state is CheckpointableTcpState {
  return (CHECKPOINTABLE_TCP_STATES as readonly string[]).includes(state);
}

/** Who took the checkpoint and when (seed 003 claims 8, 19). */
export interface CheckpointMeta {
  /** CHECKPOINT_VERSION of the code that captured it. */
  version: number;
  /** Stable id of the capturing node (TransportContext.nodeId). 1..256 characters. */
  nodeId: string;
  /** Wall/cluster clock at capture, ms since the Unix epoch. */
  takenAt: number;
  /** The engine's monotonic `now` (ms) at capture: the base of every relative time inside. */
  takenAtMono: number;
}

/** Link layer section. */
export interface CheckpointLink {
  /** Our interface MAC (the restoring host takes it over with the IP address). */
  localMac: Uint8Array;
  /** Next hop's MAC when known (saves an ARP round trip on restore), else null. */
  peerMac: Uint8Array | null;
}

/** IPv4 section. */
export interface CheckpointIp {
  /** Our address (uint32). 0 only for a UDP socket bound to the wildcard address. */
  localAddress: number;
  /** Peer address (uint32). 0 only for an unconnected UDP socket. */
  remoteAddress: number;
  /** TTL we send with, 1..255. */
  ttl: number;
  /** TOS/DSCP byte we send with, 0..255. */
  tos: number;
}

/** A run of literal bytes at a sequence number (send data, or out-of-order received data). */
export interface TcpByteRange {
  /** Sequence number of `data[0]` (uint32). */
  seq: number;
  /** At least one byte. */
  data: Uint8Array;
}

/** Congestion control and RTT estimator state (RFC 5681, RFC 6582, RFC 6298, RFC 9438). */
export interface TcpCongestionState {
  algorithm: 'newreno' | 'cubic';
  /** Congestion window, bytes. */
  cwnd: number;
  /** Slow-start threshold, bytes (`Infinity` allowed: "arbitrarily high", RFC 5681 §3.1). */
  ssthresh: number;
  /** Smoothed RTT, ms; 0 before the first sample (RFC 6298 §2). */
  srtt: number;
  /** RTT variation, ms; 0 before the first sample. */
  rttvar: number;
  /** Current retransmission timeout, ms (> 0). */
  rto: number;
  /** NewReno `recover` (RFC 6582 §3.2), uint32, when the engine tracks it. */
  recover?: number;
  /** CUBIC state (RFC 9438 §4), units as in the engine's CubicState; may be present under NewReno too. */
  cubic?: {
    /** W_max, bytes: the window before the last reduction. */
    wMax: number;
    /** W_max before the previous reduction (fast convergence, RFC 9438 §4.7), bytes. */
    wLastMax?: number;
    /** K, SECONDS (RFC 9438 §4.2): time to grow back to W_max. */
    k: number;
    /** Start of the current congestion-avoidance epoch, ms relative to takenAtMono (≤ 0), or null if none. */
    epochStart: number | null;
    /** Reno-friendly estimate W_est (RFC 9438 §4.3), bytes. */
    wEst?: number;
    /** cwnd at the start of the epoch, bytes. */
    cwndEpoch?: number;
  };
}

/**
 * Timers a checkpointable TCB may have armed (names as in the engine's TcpTimers): retransmission
 * (RFC 6298), delayed ACK (RFC 9293 §3.8.6.3), persist / zero-window probe (§3.8.6.1), keepalive
 * (RFC 1122 §4.2.3.6). TIME_WAIT is not checkpointable, so its timer never appears.
 */
export type TcpTimerKind = 'rtx' | 'delack' | 'persist' | 'keepalive';

export const TCP_TIMER_KINDS: readonly TcpTimerKind[] = ['rtx', 'delack', 'persist', 'keepalive'];

/** Armed timers: deadline − takenAtMono in ms (negative = already overdue). Absent = not armed. */
export type TcpTimerDeadlines = Partial<Record<TcpTimerKind, number>>;

/** Per-socket options carried across a restore (names as in TcpConnectionOptions). */
export interface TcpCheckpointOptions {
  noDelay?: boolean;
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  keepAliveInterval?: number;
  keepAliveProbes?: number;
  userTimeout?: number;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  timeWait?: number;
  allowHalfOpen?: boolean;
}

/**
 * The TCP section: a projection of the TCB (RFC 9293 §3.3.1 names).
 *
 * Send data. The send queue runs from SND.UNA for `sendLength` bytes (unacknowledged + unsent,
 * FIN excluded). Its bytes are either literal (`sendRanges`) or object-mapped (`app.objects`,
 * seed 003 claim 22): every byte of [SND.UNA, SND.UNA + sendLength) is covered by at least one
 * of the two. A full checkpoint has one range starting at SND.UNA; an object-mapped one may have
 * none at all.
 *
 * FIN. `finSeq` is the sequence number our FIN occupies once CLOSE was called (FIN_WAIT_*,
 * CLOSING, LAST_ACK): SND.UNA + sendLength while unacknowledged, SND.UNA − 1 once acknowledged
 * (FIN_WAIT_2). `finSent`: the FIN was transmitted (then SND.MAX = finSeq + 1).
 * `finReceived`: the peer's FIN was received (it occupies RCV.NXT − 1).
 */
export interface TcpCheckpointSection {
  state: CheckpointableTcpState;
  localPort: number;
  remotePort: number;
  /** Initial send sequence number. */
  iss: number;
  /** Initial receive sequence number. */
  irs: number;
  sndUna: number;
  sndNxt: number;
  /** Highest sequence number sent + 1 (≥ SND.NXT; equals it unless SND.NXT was rewound by an RTO). */
  sndMax: number;
  /** Peer's receive window, bytes (already scaled). */
  sndWnd: number;
  sndWl1: number;
  sndWl2: number;
  rcvNxt: number;
  /** Our receive window in bytes (the real window, not the shifted header field). */
  rcvWnd: number;
  /** Shift applied to the peer's advertised window (RFC 7323 §2.3), 0..14; 0 if not negotiated. */
  sndWscale: number;
  /** Shift we apply to the window we advertise, 0..14; 0 if not negotiated. */
  rcvWscale: number;
  /** Largest segment we may send (peer's MSS option, clamped), 1..65535. */
  sndMss: number;
  /** MSS we advertised, 1..65535. */
  rcvMss: number;
  sackPermitted: boolean;
  /** RFC 7323 timestamps negotiated. */
  timestamps: boolean;
  /**
   * TSval = (timestamp clock ms + tsOffset) mod 2^32 (uint32). The restoring host re-derives its
   * offset for its own clock so that TSval continues above `tsLastSent`.
   */
  tsOffset: number;
  /** TS.Recent (RFC 7323 §4.3), uint32. */
  tsRecent: number;
  /** takenAtMono − time TS.Recent was recorded, ms (≥ 0); for the 24-day PAWS rule (§5.5). */
  tsRecentAge: number;
  /** Last TSval we sent (uint32): the restored host never sends a lower one (PAWS, §5). */
  tsLastSent: number;
  cc: TcpCongestionState;
  finSent: boolean;
  finReceived: boolean;
  finSeq: number | null;
  timers: TcpTimerDeadlines;
  options: TcpCheckpointOptions;
  /** Bytes queued from SND.UNA (unacknowledged + unsent), FIN excluded. */
  sendLength: number;
  /** Literal send bytes, sorted, non-overlapping, inside [SND.UNA, SND.UNA + sendLength). */
  sendRanges: TcpByteRange[];
  /** In-order bytes received but not yet read by the application (they end at RCV.NXT, before a FIN). */
  recvBuffer: Uint8Array;
  /** Out-of-order received bytes beyond RCV.NXT, sorted, non-overlapping (optional). */
  recvOutOfOrder?: TcpByteRange[];
}

/** A multicast group a UDP socket joined (RFC 1112; claims 7, 18). */
export interface UdpMembership {
  /** Group address, 224.0.0.0/4 (uint32). */
  group: number;
  /** Local interface address (uint32), 0 = default. */
  interfaceAddress: number;
}

export interface UdpCheckpointOptions {
  broadcast?: boolean;
  multicastTtl?: number;
  multicastLoopback?: boolean;
  /** uint32 interface address for outgoing multicast. */
  multicastInterface?: number;
  recvBufferSize?: number;
  sendBufferSize?: number;
  reuseAddr?: boolean;
}

/** UDP section. Addresses are in the `ip` section (local 0 = wildcard, remote 0 = unconnected). */
export interface UdpCheckpointSection {
  localPort: number;
  /** Connected peer port, or 0 when not connected. */
  remotePort: number;
  multicast: UdpMembership[];
  options: UdpCheckpointOptions;
}

/**
 * An application object bound to the TCP send sequence space (seed 003 claims 8, 22): byte
 * `offset` of object `id` is sent at sequence number `seq`, followed by the next `length − 1`
 * bytes of the object.
 */
export interface CheckpointObjectRef {
  /** Application identifier of the object (a file path, a content hash...), 1..1024 chars. */
  id: string;
  /** TCP send sequence number of object byte `offset` (uint32). */
  seq: number;
  /** Offset in the object of the byte at `seq` (safe non-negative integer). */
  offset: number;
  /** Number of mapped bytes, 1..2^31−1 (a larger object is mapped in pieces). */
  length: number;
}

/** Plain data an application keeps in its checkpoint (msgpack-able). */
export type CheckpointAppState =
  | null
  | undefined
  | boolean
  | number
  | string
  | Uint8Array
  | CheckpointAppState[]
  | { [key: string]: CheckpointAppState };

/** Application section (seed 003 claims 8, 12, 13). */
export interface CheckpointApp {
  /** Application-layer protocol ('http/1.1', 'rtsp', ...), 1..64 chars. */
  protocol: string;
  /** Object map; must be empty for UDP. Sorted by seq, non-overlapping. */
  objects: CheckpointObjectRef[];
  state?: CheckpointAppState;
}

export interface TcpCheckpoint {
  kind: 'tcp';
  meta: CheckpointMeta;
  link: CheckpointLink;
  ip: CheckpointIp;
  tcp: TcpCheckpointSection;
  app?: CheckpointApp;
}

export interface UdpCheckpoint {
  kind: 'udp';
  meta: CheckpointMeta;
  link: CheckpointLink;
  ip: CheckpointIp;
  udp: UdpCheckpointSection;
  app?: CheckpointApp;
}

/** One connection (a bundle member). */
export type ConnectionCheckpoint = TcpCheckpoint | UdpCheckpoint;

/**
 * Related connections checkpointed and restored together (seed 003 claims 4–7, 15–18): e.g. an
 * RTSP/FTP-style TCP control connection plus its UDP data flows, multicast ones included.
 * Members share the bundle's node id and version; `app` describes the whole session.
 */
export interface BundleCheckpoint {
  kind: 'bundle';
  meta: CheckpointMeta;
  members: ConnectionCheckpoint[];
  app?: CheckpointApp;
}

export type Checkpoint = TcpCheckpoint | UdpCheckpoint | BundleCheckpoint;

/** Where a send sequence number falls in an object map. */
export interface ObjectRangeHit {
  /** Index into the `objects` array. */
  index: number;
  object: CheckpointObjectRef;
  /** Offset inside the object of byte `seq`. */
  offset: number;
}

/**
 * Which object byte is sent at sequence number `seq`: the first ref with
 * ref.seq ≤ seq < ref.seq + ref.length (modulo 2^32, RFC 9293 §3.4), or null. On restore,
 * `seq` is the peer's ACK and the stack asks the object source for bytes from `offset`
 * (seed 003 claims 12, 13). O(objects).
 */
export function objectRangeForSeq(objects: readonly CheckpointObjectRef[], seq: number): ObjectRangeHit | null {
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i];
    // Unsigned distance from the object's first sequence number; wraps correctly.
    const d = (seq - o.seq) >>> 0;
    if (d < o.length) return { index: i, object: o, offset: o.offset + d };
  }
  return null;
}
