/**
 * The TCP protocol engine (sans-IO): demultiplexing, the RFC 9293 state machine, output,
 * timers. Read this first:
 *
 * - Input: `receive()` validates a segment (length, checksum unless offloaded, options) and
 *   dispatches by RFC 9293 §3.10.7: CLOSED (no socket: RST, §3.10.7.1), LISTEN (§3.10.7.2, with
 *   the bounded SYN queue and SYN cookies), SYN-SENT (§3.10.7.3), everything else (§3.10.7.4,
 *   "first" … "eighth" steps, each marked below). It changes state and marks the connection
 *   dirty; the only segments sent from inside `receive()` are RSTs to segments without a
 *   connection and the every-second-segment ACK of RFC 9293 §3.8.6.3 (to keep ACK clocking).
 * - Output: `poll(now)` runs due timers (a deadline heap with lazy invalidation: never a scan
 *   of all connections) and then `output()` for each dirty connection. `output()` decides every
 *   segment: SYN/SYN-ACK, retransmissions (RTO go-back-N, NewReno fast retransmit, RFC 6675
 *   SACK NextSeg), new data (cwnd, peer window, Nagle, sender SWS), FIN, and pure ACKs.
 * - State: each connection's `Tcb` (tcb.ts) is plain data; `TcpConn` holds the Tcb plus the
 *   non-data parts (event sink, heap/dirty bookkeeping) and implements the API handle.
 * - Events into the API (onData, onFin, onEstablished, onClosed) are called synchronously; a
 *   handler may call back into the handle (send, shutdown, abort): after every callback the
 *   code re-checks `c.removed`.
 */
import {
  TcpPacket,
  TcpFlags,
  TCP_HEADER_LEN,
  emptyTcpOptions,
  clearTcpOptions,
  parseTcpOptionsInto,
  tcpOptionsLength,
  emitTcpOptions,
  seqLt,
  seqLe,
  seqGt,
  seqGe,
  seqMax,
  type TcpOptionsRepr,
} from '@hastack/wire';
import { err, type HastackError } from '../errors.js';
import type { IpRx, TransportContext, TransportProtocol } from '../engine/types.js';
import type {
  CongestionControl,
  TcpConnectionEvents,
  TcpConnectionHandle,
  TcpConnectionOptions,
  TcpEngineApi,
  TcpListenOptions,
  TcpListenerHandle,
  TcpOpenOptions,
  TcpStateName,
} from './contract.js';
import { Tcb, isSynchronized } from './tcb.js';
import { DeadlineHeap } from './heap.js';
import { allocBytes, copyBytes } from './slab.js';
import { hashTuple } from './siphash.js';
import { ccInit, ccOnAck, ccOnCongestion, ccOnRto, ccRestartAfterIdle, copyCubicState, initialWindow } from './cc.js';
import { isCheckpointableTcpState, type CheckpointableTcpState, type TcpCheckpointSection, type TcpTimerDeadlines } from '../checkpoint-types.js';

const { FIN, SYN, RST, PSH, ACK } = TcpFlags;

/**
 * RFC 9293 §3.8.6.3 / RFC 5681 §4.2: ACK at least every second full-sized segment. Within one
 * input batch the ACK is sent at the batch's end (segments of a batch arrived together); a batch
 * longer than this many full segments gets an ACK at once every this many.
 */
const ACK_STRETCH_SEGMENTS = 16;

const TCP_PROTO = 6;
/** PAWS: a TS.Recent older than 24 days is invalid (RFC 7323 §5.5). */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;
/** MSS values a SYN cookie can encode (3 bits). */
const COOKIE_MSS = [536, 1200, 1300, 1400, 1440, 1452, 1460, 8960];
/** SYN cookie time counter granularity (ms). */
const COOKIE_PERIOD = 64_000;
/** Upper bound of the adaptive DupThresh `tcb.reordering`, in segments (Linux tcp_max_reordering). */
const MAX_REORDERING = 300;

/** Layer-wide options; the TcpConnectionOptions fields are defaults for every connection. */
export interface TcpOptions extends TcpConnectionOptions {
  /** 16-byte key for ISNs, timestamp offsets and SYN cookies. Default: random per TcpLayer. */
  secretKey?: Uint8Array;
  /** RFC 6298 (2.4) lower bound of the RTO (ms). Default 200 (Linux); RFC 6298 says 1000. */
  minRto?: number;
  /** Upper bound of the RTO (ms). Default 60 000. */
  maxRto?: number;
  /** RTO before the first RTT sample (ms). Default 1000 (RFC 6298 (2.1)). */
  initialRto?: number;
  /** Delayed-ACK timeout (ms). Default 40. */
  delayedAckTimeout?: number;
  /** SYN-ACK retransmissions before a half-open connection is dropped. Default 5. */
  synAckRetries?: number;
  /** Answer SYNs with cookies when a listener's SYN queue is full. Default true. */
  synCookies?: boolean;
  /** RFC 5961 §7 challenge-ACK limit (per second, whole layer). Default 1000. */
  challengeAckLimit?: number;
  /** Ephemeral port range (inclusive). Default [49152, 65535]. */
  ephemeralPorts?: [number, number];
  /** RFC 8985 tail loss probes. Default true. */
  tailLossProbe?: boolean;
  /** How long close() (stack.close()) waits for FINs to be acknowledged before RST (ms). Default 3000. */
  closeTimeout?: number;
}

interface Listener {
  localAddress: number;
  localPort: number;
  opts: TcpListenOptions;
  backlog: number;
  /** Connections in SYN_RECEIVED for this listener. */
  synQueue: number;
  closed: boolean;
}

/** The parsed fields of the segment being processed (one reused object). */
interface Seg {
  src: number;
  dst: number;
  sport: number;
  dport: number;
  seq: number;
  ack: number;
  flags: number;
  wnd: number;
  buf: Uint8Array;
  dataOff: number;
  dataLen: number;
  /** The link gave us the frame (RxMeta.owned): payload may be kept as a view, not copied. */
  owned: boolean;
}

type Drops = Record<
  | 'badChecksum'
  | 'noSocket'
  | 'outOfWindow'
  | 'paws'
  | 'malformed'
  | 'synQueueFull'
  | 'acceptQueueFull'
  | 'nonUnicast'
  | 'ackTooNew'
  | 'ackTooOld'
  | 'listenNoSyn'
  | 'challengeAckLimited'
  | 'synCookieInvalid'
  | 'refused',
  number
>;

function newStats() {
  return {
    activeOpens: 0,
    passiveOpens: 0,
    attemptFails: 0,
    estabResets: 0,
    inSegs: 0,
    outSegs: 0,
    retransSegs: 0,
    inErrs: 0,
    outRsts: 0,
    challengeAcks: 0,
    synCookiesSent: 0,
    synCookiesValid: 0,
    retransmits: { rto: 0, fast: 0, sack: 0, tlp: 0 },
    /** Retransmission episodes found spurious (RFC 3522) and undone (RFC 4015), by cause. */
    spuriousRetransmits: { rto: 0, fast: 0 },
    drops: {
      badChecksum: 0,
      noSocket: 0,
      outOfWindow: 0,
      paws: 0,
      malformed: 0,
      synQueueFull: 0,
      acceptQueueFull: 0,
      nonUnicast: 0,
      ackTooNew: 0,
      ackTooOld: 0,
      listenNoSyn: 0,
      challengeAckLimited: 0,
      synCookieInvalid: 0,
      refused: 0,
    } as Drops,
  };
}

export type TcpStats = ReturnType<typeof newStats>;

const ALL_STATES: TcpStateName[] = ['CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RECEIVED', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'CLOSE_WAIT', 'CLOSING', 'LAST_ACK', 'TIME_WAIT'];

/** A connection: the plain-data TCB plus the engine's bookkeeping; also the API handle. */
export class TcpConn implements TcpConnectionHandle {
  events: TcpConnectionEvents | null = null;
  listener: Listener | null = null;
  /** Deadline of this connection's valid heap entry (lazy invalidation). */
  heapAt = Infinity;
  dirty = false;
  removed = false;
  /** onClosed was delivered (TIME_WAIT or CLOSED). */
  notified = false;
  /** Created from a valid SYN cookie (not counted in the SYN queue). */
  fromCookie = false;
  /**
   * Restored from a checkpoint and not yet resumed: sends no data, solicits the peer's ACK and
   * adopts it (ARCHITECTURE §5). Not part of the TCB: an unready connection is never captured.
   */
  unready = false;
  /**
   * Object-mapped restore: bytes the application (or the refill) still owes that the peer has
   * already acknowledged (the old host had sent them). `send()` drops that many bytes first, so
   * the supplier keeps writing in sequence from `sendTailSeq` as it was at 'ready'.
   */
  fillSkip = 0;

  constructor(
    readonly layer: TcpLayer,
    readonly tcb: Tcb,
  ) {}

  get state(): TcpStateName {
    return this.tcb.state;
  }
  get localAddress(): number {
    return this.tcb.localAddress;
  }
  get localPort(): number {
    return this.tcb.localPort;
  }
  get remoteAddress(): number {
    return this.tcb.remoteAddress;
  }
  get remotePort(): number {
    return this.tcb.remotePort;
  }
  get bytesInFlightOrQueued(): number {
    return this.tcb.sendBuf.length;
  }
  setEvents(events: TcpConnectionEvents): void {
    this.events = events;
  }
  send(data: Uint8Array): number {
    return this.layer._send(this, data);
  }
  sendBufferAvailable(): number {
    return this.tcb.finQueued ? 0 : this.tcb.sendBuf.available;
  }
  setReceivePaused(paused: boolean): void {
    this.layer._setPaused(this, paused);
  }
  shutdown(): void {
    this.layer._shutdown(this);
  }
  abort(): void {
    this.layer._abort(this, undefined, false);
  }
  setNoDelay(noDelay: boolean): void {
    this.tcb.noDelay = noDelay;
    if (noDelay) this.layer._markDirty(this);
  }
  setKeepAlive(enable: boolean, initialDelayMs?: number): void {
    this.layer._setKeepAlive(this, enable, initialDelayMs);
  }
  info(): Record<string, unknown> {
    const t = this.tcb;
    return {
      state: t.state,
      iss: t.iss,
      irs: t.irs,
      sndUna: t.sndUna,
      sndNxt: t.sndNxt,
      sndMax: t.sndMax,
      sndWnd: t.sndWnd,
      rcvNxt: t.rcvNxt,
      rcvWnd: Math.max(0, (t.rcvAdvEdge - t.rcvNxt) | 0),
      sndMss: t.sndMss,
      rcvMss: t.rcvMss,
      sndWscale: t.sndWscale,
      rcvWscale: t.rcvWscale,
      wsOk: t.wsOk,
      tsOk: t.tsOk,
      sackOk: t.sackOk,
      srtt: t.srtt,
      rttvar: t.rttvar,
      rto: t.rto,
      cwnd: t.cwnd,
      ssthresh: t.ssthresh,
      cc: t.cc,
      inRecovery: t.inRecovery,
      /** DupThresh in segments (3, raised after spurious fast retransmits). */
      reordering: t.reordering,
      sendQueued: t.sendBuf.length,
      heldBytes: t.heldBytes,
      oooBytes: t.ooo.bytes,
      unready: this.unready,
      /** Sequence number the next byte given to send() will get. */
      sendTailSeq: (t.bufSeq + t.sendBuf.length - this.fillSkip) >>> 0,
      fillRemaining: t.fillRemaining + this.fillSkip,
      timers: { ...t.timers },
    };
  }
}

/** The TCP layer: one per stack. */
export class TcpLayer implements TransportProtocol, TcpEngineApi {
  readonly name = 'tcp';
  readonly protocol = TCP_PROTO;

  private readonly key: Uint8Array;
  private readonly minRto: number;
  private readonly maxRto: number;
  private readonly initialRto: number;
  private readonly delAck: number;
  private readonly synAckRetries: number;
  private readonly synCookies: boolean;
  private readonly chalLimit: number;
  private readonly ephLo: number;
  private readonly ephHi: number;
  private readonly tlpEnabled: boolean;
  private nextEph: number;

  /** Demux: local (addr·2^16 + port) → remote (addr·2^16 + port) → connection. */
  private readonly conns = new Map<number, Map<number, TcpConn>>();
  /** Listeners by port, then address (0 = wildcard). */
  private readonly listeners = new Map<number, Map<number, Listener>>();
  private readonly heap = new DeadlineHeap<TcpConn>();
  private dirty: TcpConn[] = [];
  private readonly st = newStats();
  private readonly stateCounts: Record<string, number> = {};
  private chalWindow = -Infinity;
  private chalCount = 0;
  private now = 0;

  // Reused per-segment scratch (no per-packet garbage).
  private readonly rxView = new TcpPacket(new Uint8Array(0));
  private readonly txView = new TcpPacket(new Uint8Array(0));
  private readonly rxOpts: TcpOptionsRepr = emptyTcpOptions();
  private readonly txOpts: TcpOptionsRepr = emptyTcpOptions();
  private readonly seg: Seg = { src: 0, dst: 0, sport: 0, dport: 0, seq: 0, ack: 0, flags: 0, wnd: 0, buf: new Uint8Array(0), dataOff: 0, dataLen: 0, owned: false };

  constructor(
    readonly ctx: TransportContext,
    readonly options: TcpOptions = {},
  ) {
    const o = options;
    if (o.secretKey) {
      if (o.secretKey.length !== 16) throw err('EINVAL', 'secretKey must be 16 bytes');
      this.key = o.secretKey.slice();
    } else {
      this.key = new Uint8Array(16);
      globalThis.crypto.getRandomValues(this.key);
    }
    this.minRto = o.minRto ?? 200;
    this.maxRto = o.maxRto ?? 60_000;
    this.initialRto = o.initialRto ?? 1000;
    this.delAck = o.delayedAckTimeout ?? 40;
    this.synAckRetries = o.synAckRetries ?? 5;
    this.synCookies = o.synCookies ?? true;
    this.chalLimit = o.challengeAckLimit ?? 1000;
    this.tlpEnabled = o.tailLossProbe ?? true;
    [this.ephLo, this.ephHi] = o.ephemeralPorts ?? [49152, 65535];
    this.nextEph = this.ephLo + (hashTuple(this.key, 0, 0, 0, 0, 1) % (this.ephHi - this.ephLo + 1));
    for (const s of ALL_STATES) this.stateCounts[s] = 0;
  }

  // ------------------------------------------------------------------------------------------
  // Public engine API (contract.ts)
  // ------------------------------------------------------------------------------------------

  listen(opts: TcpListenOptions): TcpListenerHandle {
    const addr = opts.localAddress >>> 0;
    const port = opts.localPort;
    if (!Number.isInteger(port) || port <= 0 || port > 65535) throw err('ERR_SOCKET_BAD_PORT', `bad port ${port}`);
    if (addr !== 0 && !this.ctx.ip.isLocalAddress(addr)) throw err('EADDRNOTAVAIL', 'address not local', { syscall: 'listen' });
    let byAddr = this.listeners.get(port);
    if (byAddr) {
      // A wildcard listener conflicts with any other on the port, and vice versa.
      if (byAddr.has(addr) || byAddr.has(0) || (addr === 0 && byAddr.size > 0)) throw err('EADDRINUSE', `port ${port} in use`, { syscall: 'listen', info: { port } });
    } else {
      byAddr = new Map();
      this.listeners.set(port, byAddr);
    }
    const l: Listener = { localAddress: addr, localPort: port, opts, backlog: Math.max(1, opts.backlog ?? 511), synQueue: 0, closed: false };
    byAddr.set(addr, l);
    const layer = this;
    return {
      localAddress: addr,
      localPort: port,
      close(): void {
        layer.closeListener(l);
      },
    };
  }

  open(opts: TcpOpenOptions, events: TcpConnectionEvents): TcpConnectionHandle {
    const now = this.ctx.clock.now();
    this.now = now;
    const ra = opts.remoteAddress >>> 0;
    const rp = opts.remotePort;
    if (!Number.isInteger(rp) || rp <= 0 || rp > 65535) throw err('ERR_SOCKET_BAD_PORT', `bad port ${rp}`);
    let la = (opts.localAddress ?? 0) >>> 0;
    if (la === 0) {
      const s = this.ctx.ip.sourceFor(ra);
      if (s === null) throw err('ENETUNREACH', 'no route to host', { syscall: 'connect' });
      la = s >>> 0;
    } else if (!this.ctx.ip.isLocalAddress(la)) throw err('EADDRNOTAVAIL', 'address not local', { syscall: 'connect' });
    let lp = opts.localPort ?? 0;
    if (lp) {
      if (this.lookup(la, lp, ra, rp)) throw err('EADDRINUSE', `4-tuple in use`, { syscall: 'connect' });
    } else lp = this.allocPort(la, ra, rp);
    const t = this.newTcb(opts, la, lp, ra, rp, now);
    t.state = 'SYN_SENT';
    const c = new TcpConn(this, t);
    c.events = events;
    this.insert(c);
    this.countState(undefined, 'SYN_SENT');
    this.st.activeOpens++;
    this.markDirty(c);
    return c;
  }

  // ------------------------------------------------------------------------------------------
  // TransportProtocol
  // ------------------------------------------------------------------------------------------

  receive(rx: IpRx, payload: Uint8Array, _ipPacket: Uint8Array, now: number): void {
    this.now = now;
    const st = this.st;
    st.inSegs++;
    const v = this.rxView.reset(payload, 0, payload.length);
    if (v.check()) {
      st.inErrs++;
      st.drops.malformed++;
      return;
    }
    if (rx.nonUnicast) {
      // RFC 9293 §3.9.2.1 / RFC 1122 §4.2.3.10: TCP is unicast only.
      st.drops.nonUnicast++;
      return;
    }
    if (!rx.meta?.csumValid && !v.verifyChecksum(rx.src, rx.dst)) {
      st.inErrs++;
      st.drops.badChecksum++;
      return;
    }
    const hl = v.headerLength;
    if (parseTcpOptionsInto(payload, TCP_HEADER_LEN, hl, this.rxOpts) !== null) {
      st.inErrs++;
      st.drops.malformed++;
      return;
    }
    const s = this.seg;
    s.src = rx.src >>> 0;
    s.dst = rx.dst >>> 0;
    s.sport = v.srcPort;
    s.dport = v.dstPort;
    s.seq = v.seq;
    s.ack = v.ack;
    s.flags = v.flags;
    s.wnd = v.window;
    s.buf = payload;
    s.dataOff = hl;
    s.dataLen = payload.length - hl;
    s.owned = rx.meta?.owned === true;
    if (s.sport === 0 || s.dport === 0) {
      st.drops.malformed++;
      return;
    }
    const c = this.lookup(s.dst, s.dport, s.src, s.sport);
    if (c) {
      this.segmentArrives(c, s, now);
      return;
    }
    const l = this.findListener(s.dst, s.dport);
    if (l) this.listenInput(l, s, now);
    else this.closedInput(s);
  }

  icmpError(type: number, code: number, quoted: Uint8Array, now: number): void {
    this.now = now;
    if (quoted.length < 20) return;
    const ihl = (quoted[0] & 0x0f) * 4;
    if (quoted.length < ihl + 8 || quoted[9] !== TCP_PROTO) return;
    const src = ((quoted[12] << 24) | (quoted[13] << 16) | (quoted[14] << 8) | quoted[15]) >>> 0;
    const dst = ((quoted[16] << 24) | (quoted[17] << 16) | (quoted[18] << 8) | quoted[19]) >>> 0;
    const sport = (quoted[ihl] << 8) | quoted[ihl + 1];
    const dport = (quoted[ihl + 2] << 8) | quoted[ihl + 3];
    const c = this.lookup(src, sport, dst, dport);
    if (!c) return;
    const t = c.tcb;
    if (type === 3 && code === 4) {
      // Fragmentation needed (RFC 1191): clamp the MSS to the (updated) path MTU.
      const mss = this.ctx.ip.mtuFor(t.remoteAddress) - 40;
      if (mss >= 88 && mss < t.sndMss) {
        t.sndMss = mss;
        if (seqLt(t.sndUna, t.sndNxt)) {
          t.sndNxt = t.sndUna;
          this.markDirty(c);
        }
      }
      return;
    }
    if (type === 3 && (code === 2 || code === 3) && t.state === 'SYN_SENT') {
      // RFC 1122 §4.2.3.9: protocol/port unreachable is a hard error for a connecting socket.
      this.st.attemptFails++;
      this.finish(c, err('ECONNREFUSED', 'connection refused (ICMP)', { syscall: 'connect' }));
    }
  }

  poll(now: number): void {
    this.now = now;
    const heap = this.heap;
    while (heap.peekAt() <= now) {
      const at = heap.peekAt();
      const c = heap.pop()!;
      if (c.removed || c.heapAt !== at) continue;
      c.heapAt = Infinity;
      this.runTimers(c, now);
      if (!c.removed) this.schedule(c);
    }
    const d = this.dirty;
    for (let i = 0; i < d.length; i++) {
      const c = d[i];
      c.dirty = false;
      if (!c.removed) {
        this.output(c, now);
        if (!c.removed) this.schedule(c);
      }
    }
    d.length = 0;
    if (this.closing) this.checkClosing(now);
  }

  pollAt(): number {
    if (this.dirty.length > 0) return this.now;
    if (this.closing && this.closing.deadline < this.heap.peekAt()) return this.closing.deadline;
    // Skip stale tops so the runtime isn't woken for nothing.
    const heap = this.heap;
    while (heap.size > 0) {
      const c = heap.peekItem()!;
      if (c.removed || c.heapAt !== heap.peekAt()) heap.pop();
      else break;
    }
    return heap.peekAt();
  }

  stats(): Record<string, unknown> {
    const s = this.st;
    return {
      ...s,
      retransmits: { ...s.retransmits },
      spuriousRetransmits: { ...s.spuriousRetransmits },
      drops: { ...s.drops },
      currEstab: this.stateCounts.ESTABLISHED + this.stateCounts.CLOSE_WAIT,
      connections: { ...this.stateCounts },
    };
  }

  crash(): void {
    for (const m of this.conns.values()) for (const c of m.values()) c.removed = true;
    this.conns.clear();
    this.listeners.clear();
    this.heap.clear();
    this.dirty.length = 0;
    for (const s of ALL_STATES) this.stateCounts[s] = 0;
    // A pending graceful close() ends too (nothing more will happen).
    const cl = this.closing;
    this.closing = null;
    cl?.resolve();
  }

  /**
   * Graceful close of everything (stack.close()): listeners stop, every connection sends its FIN
   * after its queued data. Resolves once each connection's FIN is acknowledged (FIN_WAIT_2,
   * TIME_WAIT or CLOSED), or after `closeTimeout` ms, when the stragglers are aborted with RST
   * and ECONNABORTED.
   */
  close(now: number): Promise<void> | void {
    this.now = now;
    for (const byAddr of [...this.listeners.values()]) for (const l of [...byAddr.values()]) this.closeListener(l);
    for (const c of this.connections()) {
      const st = c.tcb.state;
      if (st === 'ESTABLISHED' || st === 'CLOSE_WAIT' || st === 'SYN_RECEIVED' || st === 'SYN_SENT') this._shutdown(c);
    }
    if (this.closeDone()) return;
    return new Promise<void>((resolve) => {
      this.closing = { deadline: now + (this.options.closeTimeout ?? 3000), resolve };
      this.ctx.wake();
    });
  }

  private closing: { deadline: number; resolve: () => void } | null = null;

  private closeDone(): boolean {
    for (const m of this.conns.values())
      for (const c of m.values()) {
        const st = c.tcb.state;
        if (st !== 'TIME_WAIT' && st !== 'FIN_WAIT_2' && !c.unready) return false;
      }
    return true;
  }

  private checkClosing(now: number): void {
    const cl = this.closing;
    if (!cl) return;
    if (!this.closeDone()) {
      if (now < cl.deadline) return;
      for (const c of this.connections()) {
        const st = c.tcb.state;
        if (st !== 'TIME_WAIT' && st !== 'FIN_WAIT_2') this._abort(c, err('ECONNABORTED', 'stack closed before the connection finished', { syscall: 'close' }), true);
      }
    }
    this.closing = null;
    cl.resolve();
  }

  /** Placeholders kept from the skeleton; the Node API (tcp/api.ts) provides these. */
  createServer(..._args: unknown[]): never {
    throw err('ENOTSUP', 'use the TCP API (tcp/api.ts)');
  }
  connect(..._args: unknown[]): never {
    throw err('ENOTSUP', 'use the TCP API (tcp/api.ts)');
  }

  /** All live connections (tests, checkpoint capture). */
  connections(): TcpConn[] {
    const out: TcpConn[] = [];
    for (const m of this.conns.values()) for (const c of m.values()) out.push(c);
    return out;
  }

  // ------------------------------------------------------------------------------------------
  // Checkpoint capture / restore (ARCHITECTURE §5, seed 003)
  // ------------------------------------------------------------------------------------------

  /**
   * Capture a connection's TCP section: a projection of the TCB. Times become relative to `now`.
   * `sendData: false` leaves the send bytes out (object-mapped checkpoints supply them later).
   * Throws ERR_CHECKPOINT_UNSUPPORTED_STATE outside the synchronized, live states.
   */
  captureTcp(handle: TcpConnectionHandle, now: number, opts: { sendData?: boolean } = {}): TcpCheckpointSection {
    const c = handle as TcpConn;
    const t = c.tcb;
    if (c.removed || c.unready || !isCheckpointableTcpState(t.state)) {
      throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', `cannot checkpoint a TCP connection in ${c.unready ? 'unready' : t.state}`);
    }
    const dataEnd = (t.bufSeq + t.sendBuf.length) >>> 0;
    const finAcked = t.finQueued && t.sendBuf.length === 0 && seqGt(t.sndUna, t.bufSeq);
    const timers: TcpTimerDeadlines = {};
    for (const k of ['rtx', 'delack', 'persist', 'keepalive'] as const) if (t.timers[k] !== Infinity) timers[k] = t.timers[k] - now;
    const recv = new Uint8Array(t.heldBytes);
    let o = 0;
    for (const ch of t.held) {
      recv.set(ch, o);
      o += ch.length;
    }
    const cub = t.cubic;
    return {
      state: t.state as CheckpointableTcpState,
      localPort: t.localPort,
      remotePort: t.remotePort,
      iss: t.iss,
      irs: t.irs,
      sndUna: t.sndUna,
      sndNxt: t.sndNxt,
      sndMax: t.sndMax,
      sndWnd: t.sndWnd,
      sndWl1: t.sndWl1,
      sndWl2: t.sndWl2,
      rcvNxt: t.rcvNxt,
      rcvWnd: Math.max(0, (t.rcvAdvEdge - t.rcvNxt) | 0),
      sndWscale: t.sndWscale,
      rcvWscale: t.rcvWscale,
      sndMss: t.sndMss,
      rcvMss: t.rcvMss,
      sackPermitted: t.sackOk,
      timestamps: t.tsOk,
      tsOffset: t.tsOffset,
      tsRecent: t.tsRecent,
      tsRecentAge: Math.max(0, now - t.tsRecentAge),
      tsLastSent: this.tsNow(t, now),
      cc: {
        algorithm: t.cc,
        cwnd: t.cwnd,
        ssthresh: t.ssthresh >= 0x7fffffff ? Infinity : t.ssthresh,
        srtt: t.srtt,
        rttvar: t.rttvar,
        rto: t.rto,
        recover: t.recover,
        cubic: { wMax: cub.wMax, wLastMax: cub.wLastMax, k: cub.k, epochStart: cub.epochStart < 0 ? null : Math.min(0, cub.epochStart - now), wEst: cub.wEst, cwndEpoch: cub.cwndEpoch },
      },
      finSent: t.finQueued && seqGt(t.sndMax, dataEnd),
      finReceived: t.finReceived,
      finSeq: t.finQueued ? (finAcked ? ((t.sndUna - 1) >>> 0) : dataEnd) : null,
      timers,
      options: {
        noDelay: t.noDelay,
        keepAlive: t.keepAlive,
        keepAliveInitialDelay: t.keepAliveIdle,
        keepAliveInterval: t.keepAliveInterval,
        keepAliveProbes: t.keepAliveProbes,
        userTimeout: t.userTimeout,
        sendBufferSize: t.sendBuf.limit,
        receiveBufferSize: t.rcvBufSize,
        timeWait: t.timeWait,
      },
      sendLength: t.sendBuf.length + t.fillRemaining,
      sendRanges: opts.sendData === false || t.sendBuf.length === 0 ? [] : [{ seq: t.bufSeq, data: t.sendBuf.toBytes() }],
      recvBuffer: recv,
      recvOutOfOrder: t.ooo.segs.map((x) => ({ seq: x.seq, data: x.data })),
    };
  }

  /**
   * Restore a captured connection as an *unready* connection: registered under its 4-tuple,
   * sending no data, soliciting the peer's ACK (an ACK with SEG.SEQ = SND.UNA − 1). A segment
   * whose ACK lies in [SND.UNA, SND.MAX] of the checkpoint is adopted: SND.UNA moves there,
   * SND.NXT is rewound to it, `onReady` fires and the segment is processed normally. An ACK
   * outside that range aborts with ERR_CHECKPOINT_STALE after one RST with SEQ = that ACK; silence for `userTimeout`
   * ends with ETIMEDOUT.
   *
   * `sendBytes` are the send-queue bytes from SND.UNA (default: `sendRanges` when they start at
   * SND.UNA and are contiguous). When shorter than `sendLength`, the application supplies the
   * rest through send() after 'ready', starting at `info().sendTailSeq` (object-mapped mode).
   */
  restoreTcp(
    sec: TcpCheckpointSection,
    opts: { localAddress: number; remoteAddress: number; events: TcpConnectionEvents; now: number; sendBytes?: Uint8Array },
  ): TcpConnectionHandle {
    const now = opts.now;
    this.now = now;
    const la = opts.localAddress >>> 0;
    const ra = opts.remoteAddress >>> 0;
    if (!isCheckpointableTcpState(sec.state)) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', `cannot restore a TCP connection in ${sec.state}`);
    if (this.lookup(la, sec.localPort, ra, sec.remotePort)) throw err('EADDRINUSE', '4-tuple in use', { syscall: 'restore' });
    const so = sec.options;
    const t = this.newTcb(so, la, sec.localPort, ra, sec.remotePort, now, true);
    t.cc = sec.cc.algorithm;
    t.state = sec.state;
    t.iss = sec.iss;
    t.irs = sec.irs;
    t.sndUna = sec.sndUna;
    t.sndNxt = sec.sndUna;
    t.sndMax = sec.sndMax;
    t.sndWnd = sec.sndWnd;
    t.maxSndWnd = sec.sndWnd;
    t.sndWl1 = sec.sndWl1;
    t.sndWl2 = sec.sndWl2;
    t.rcvNxt = sec.rcvNxt;
    t.rcvAdvEdge = (sec.rcvNxt + sec.rcvWnd) >>> 0;
    t.lastAckSent = sec.rcvNxt;
    t.sndWscale = sec.sndWscale;
    t.rcvWscale = sec.rcvWscale;
    t.wsOk = sec.sndWscale !== 0 || sec.rcvWscale !== 0;
    t.sndMss = sec.sndMss;
    t.rcvMss = sec.rcvMss;
    t.sackOk = sec.sackPermitted;
    t.tsOk = sec.timestamps;
    t.tsRecent = sec.tsRecent;
    t.tsRecentAge = now - sec.tsRecentAge;
    // RFC 7323 §5: TSval continues above everything the old host sent.
    t.tsOffset = (sec.tsLastSent + 1 - Math.floor(now)) >>> 0;
    const cc = sec.cc;
    t.cwnd = cc.cwnd;
    t.ssthresh = Number.isFinite(cc.ssthresh) ? cc.ssthresh : 0x7fffffff;
    t.srtt = cc.srtt;
    t.rttvar = cc.rttvar;
    t.rto = cc.rto;
    t.recover = cc.recover ?? sec.sndUna;
    if (cc.cubic) {
      const k = cc.cubic;
      // Filled in place: the TCB's own CUBIC object (no second one per restored connection).
      const q = t.cubic;
      q.wMax = k.wMax;
      q.wLastMax = k.wLastMax ?? k.wMax;
      q.k = k.k;
      q.epochStart = k.epochStart === null ? -1 : now + k.epochStart;
      q.wEst = k.wEst ?? t.cwnd;
      q.cwndEpoch = k.cwndEpoch ?? t.cwnd;
    }
    t.finReceived = sec.finReceived;
    t.finQueued = sec.finSeq !== null;
    // Send queue: literal bytes from SND.UNA (SYN/FIN excluded), the rest owed by the app.
    let bytes = opts.sendBytes;
    if (!bytes) {
      bytes = NO_BYTES;
      const r = sec.sendRanges;
      if (r.length > 0 && r[0].seq === sec.sndUna) {
        let n = 0;
        let next = sec.sndUna;
        for (const x of r) {
          if (x.seq !== next) break;
          n += x.data.length;
          next = (next + x.data.length) >>> 0;
        }
        bytes = new Uint8Array(n);
        let o = 0;
        for (const x of r) {
          if (o >= n) break;
          bytes.set(x.data, o);
          o += x.data.length;
        }
      }
    }
    const finAcked = sec.finSeq !== null && seqLt(sec.finSeq, sec.sndUna);
    t.bufSeq = finAcked ? ((sec.sndUna - 1) >>> 0) : sec.sndUna;
    t.sendBuf.limit = Math.max(t.sendBuf.limit, sec.sendLength);
    if (bytes.length > 0) t.sendBuf.append(bytes.subarray(0, sec.sendLength));
    t.fillRemaining = Math.max(0, sec.sendLength - Math.min(bytes.length, sec.sendLength));
    if (sec.recvBuffer.length > 0) {
      t.held.push(sec.recvBuffer.slice());
      t.heldBytes = sec.recvBuffer.length;
    }
    // A FIN behind unread bytes was not seen by the old application yet: deliver it after them.
    t.finToDeliver = sec.finReceived && t.held.length > 0;
    const ooo = sec.recvOutOfOrder;
    if (ooo) for (let i = 0; i < ooo.length; i++) t.ooo.insert(t.rcvNxt, ooo[i].seq, ooo[i].data);
    const c = new TcpConn(this, t);
    c.events = opts.events;
    c.unready = true;
    this.insert(c);
    this.countState(undefined, t.state);
    // Solicit now; repeat with backoff until the peer answers or userTimeout passes.
    t.rtxStart = now;
    t.ackNow = true;
    t.timers.rtx = now + Math.max(this.minRto, t.rto);
    this.markDirty(c);
    this.schedule(c);
    return c;
  }

  /** Remove a connection sending nothing and notifying no one (a restore that is rolled back). */
  _forget(c: TcpConn): void {
    c.notified = true;
    this.finish(c, undefined);
  }

  /** An unready connection's segment: adopt its ACK (true: continue processing) or abort. */
  private unreadyInput(c: TcpConn, s: Seg, now: number): boolean {
    const t = c.tcb;
    if (s.flags & RST) {
      if (inWin(s.seq, t.rcvNxt, Math.max(1, (t.rcvAdvEdge - t.rcvNxt) | 0))) this.finish(c, err('ECONNRESET', 'connection reset by peer', { syscall: 'restore' }));
      return false;
    }
    if (!(s.flags & ACK) || s.flags & SYN) return false;
    if (!(seqGe(s.ack, t.sndUna) && seqLe(s.ack, t.sndMax))) {
      // The peer's state is not the checkpoint's. Tell the peer with one RST whose SEQ is the
      // segment's ACK field — the peer's RCV.NXT, which it accepts (RFC 9293 §3.10.7.4,
      // RFC 5961 §3) — so it fails fast instead of waiting on a connection nobody holds; the
      // checkpoint's own (stale) numbers would be garbage to it. Then abort locally.
      this.sendRst(t.localAddress, t.localPort, t.remoteAddress, t.remotePort, s.ack, 0, RST);
      this.finish(c, err('ERR_CHECKPOINT_STALE', `peer ACK ${s.ack} outside the checkpoint's [${t.sndUna}, ${t.sndMax}]`, { syscall: 'restore' }));
      return false;
    }
    // Adopt: everything before the ACK is delivered; everything after it is resent.
    const literalEnd = (t.bufSeq + t.sendBuf.length) >>> 0;
    const dataEnd = (literalEnd + t.fillRemaining) >>> 0;
    const dataAck = seqGt(s.ack, dataEnd) ? dataEnd : s.ack; // a FIN ack is handled below
    if (seqGt(dataAck, t.bufSeq)) {
      const d = (dataAck - t.bufSeq) >>> 0;
      const lit = Math.min(d, t.sendBuf.length);
      t.sendBuf.consume(lit);
      t.fillRemaining -= d - lit; // acked bytes the application no longer has to supply
      t.bufSeq = dataAck;
    }
    t.sndUna = s.ack;
    t.sndNxt = s.ack;
    // What the old host sent past the ACK has an unknown fate, and this host has none of it in
    // flight: treat it as after a retransmission timeout, going back to SND.UNA (RFC 6298 (5.4)),
    // with "recover" at the end of the old host's flight so that duplicate ACKs of that old
    // window (the peer's SACK blocks for out-of-order data the old host sent) cannot start a fast
    // recovery (RFC 6582 §4, RFC 6675 §5 (4) "RecoveryPoint"). Otherwise the ACK adopted here,
    // with 3 SACK blocks, started SACK recovery at once: pipe counted the old host's holes as in
    // flight, and with nothing of ours outstanding no retransmission timer ran — the connection
    // stalled for good. The old host's flight ends at SND.MAX, or earlier at the peer's right
    // window edge (which never moves left, RFC 9293 §3.8.6.2.2): a takeover may have widened
    // SND.MAX by megabytes, and that much without fast recovery would be costly.
    const edge = (s.ack + (s.wnd << t.sndWscale)) >>> 0;
    let rp = seqLt(edge, t.sndMax) ? edge : t.sndMax;
    if (t.sackOk) {
      // With SACK the peer says what it holds of the old flight: the blocks of this very ACK
      // (the first one is the most recently received, RFC 2018 §4). Resending below their
      // highest right edge may bring duplicate ACKs for data it already has; above it, a
      // duplicate ACK reports a loss of this host's own flight. So "recover" ends there (at the
      // ACK when it carries no block). Behind a window edge megabytes away, a loss in the restart's
      // slow start (a bottleneck's queue overflowing) waited for an RTO instead of being repaired
      // by SACK recovery (RFC 6675 §5). Without SACK nothing tells what the peer holds: the
      // window edge stays the bound.
      const o = this.rxOpts.sack;
      let hi = s.ack;
      for (let i = 0; i + 1 < o.length; i += 2) {
        const r = o[i + 1];
        if (seqLt(o[i], r) && seqGt(r, hi) && seqLe(r, rp)) hi = r;
      }
      rp = hi;
    }
    t.recover = rp;
    t.inRecovery = false;
    t.rtoRecovery = false;
    t.sacked.length = 0;
    t.dupAcks = 0;
    // Restart window. The checkpoint's cwnd was measured by another host, on its path, before a
    // silence of at least the failure detection: nothing validates it now (RFC 7661 §1: a cwnd
    // not used for a while no longer reflects the network; RFC 6298 treats a timeout as "the
    // network state is unknown"). RFC 5681 §4.1's restart after idle (cwnd = min(cwnd, RW = IW))
    // is the rule for this, but its own test (SND.MAX = SND.UNA and no send for an RTO) never
    // holds here: SND.MAX is the old host's, possibly widened by megabytes. Applied as is, the
    // old cwnd let the first flight after an object-mapped refill be the whole of it (~1.9 MB in
    // one burst in the failover demo): a bottleneck queue overflowed, fast recovery could not
    // start ('recover' above), and the connection waited a whole RTO. So: cwnd restarts at the
    // initial window (RFC 6928), and ssthresh keeps the memory of the old operating point as
    // RFC 2861 §3 / RFC 7661 §4.4 (and Linux's tcp_cwnd_restart) do — max(ssthresh, 3/4·cwnd) —
    // so slow start climbs back to it in a few RTTs and stops there. CUBIC keeps W_max and
    // starts a new epoch when congestion avoidance begins.
    const iw = initialWindow(t.sndMss);
    if (t.cwnd > iw) {
      t.ssthresh = Math.max(t.ssthresh, Math.floor((t.cwnd * 3) / 4));
      t.cwnd = iw;
    }
    t.bytesAcked = 0;
    t.cubic.epochStart = -1;
    t.backoff = 0;
    t.rtxStart = -1;
    t.timers.rtx = Infinity;
    t.ackNow = false;
    c.unready = false;
    this.recomputeRto(t);
    this.armKeepalive(t);
    t.lastRecvTime = now;
    c.events?.onReady?.();
    if (c.removed) return false;
    // Held received bytes go to the new owner now.
    if (t.held.length > 0 && !t.paused) {
      t.paused = true;
      this._setPaused(c, false);
      if (c.removed) return false;
    }
    this.markDirty(c);
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // Handle entry points (called through TcpConn)
  // ------------------------------------------------------------------------------------------

  _send(c: TcpConn, data: Uint8Array): number {
    const t = c.tcb;
    if ((t.fillRemaining > 0 || c.fillSkip > 0) && !c.removed) {
      // Object-mapped restore: the application supplies the bytes the checkpoint left out,
      // minus those the peer acknowledged meanwhile (dropped here).
      let skip = 0;
      if (c.fillSkip > 0) {
        skip = Math.min(c.fillSkip, data.length);
        c.fillSkip -= skip;
        if (skip === data.length || t.fillRemaining === 0) return skip;
        data = data.subarray(skip);
      }
      const k = t.sendBuf.append(data.length > t.fillRemaining ? data.subarray(0, t.fillRemaining) : data);
      t.fillRemaining -= k;
      if (k > 0) this.markDirty(c);
      return skip + k;
    }
    if (c.removed || t.finQueued || !(t.state === 'SYN_SENT' || t.state === 'SYN_RECEIVED' || t.state === 'ESTABLISHED' || t.state === 'CLOSE_WAIT')) {
      throw err('EPIPE', 'connection is closed for sending', { syscall: 'write' });
    }
    const n = t.sendBuf.append(data);
    if (n < data.length) t.wantSendSpace = true;
    if (n > 0) this.markDirty(c);
    return n;
  }

  _shutdown(c: TcpConn): void {
    const t = c.tcb;
    if (c.removed || t.finQueued) return;
    switch (t.state) {
      case 'SYN_SENT':
      case 'SYN_RECEIVED':
        // RFC 9293 §3.10.4: CLOSE before the handshake completes is queued until ESTABLISHED
        // (the FIN follows any queued data then).
        t.finQueued = true;
        return;
      case 'ESTABLISHED':
        t.finQueued = true;
        this.setState(c, 'FIN_WAIT_1');
        break;
      case 'CLOSE_WAIT':
        t.finQueued = true;
        this.setState(c, 'LAST_ACK');
        break;
      default:
        return;
    }
    this.markDirty(c);
  }

  /** ABORT (RFC 9293 §3.10.5): RST when synchronized, then delete. */
  _abort(c: TcpConn, error: HastackError | undefined, notify: boolean): void {
    if (c.removed) return;
    const t = c.tcb;
    if ((isSynchronized(t.state) && t.state !== 'TIME_WAIT') || t.state === 'SYN_RECEIVED') {
      // An unready (restored) connection does not know the peer's RCV.NXT: SND.MAX may be
      // widened past anything the peer saw (an RST there would be dropped), while the
      // checkpoint's SND.UNA is at or below it (in window; an inexact one draws a challenge
      // ACK, RFC 5961 §3, which the then unknown 4-tuple answers with an exact RST).
      this.sendRst(t.localAddress, t.localPort, t.remoteAddress, t.remotePort, c.unready ? t.sndUna : t.sndMax, 0, RST);
    }
    if (!notify) c.notified = true;
    dropHeld(t); // ABORT discards unread data (RFC 9293 §3.10.5)
    this.finish(c, error);
    // Called from the API outside a service run: the RST must be flushed out of the link.
    this.ctx.wake();
  }

  _setPaused(c: TcpConn, paused: boolean): void {
    const t = c.tcb;
    if (t.paused === paused) return;
    t.paused = paused;
    if (paused) return;
    // Deliver what was held, in order, until the application pauses again. This also runs for a
    // connection that already reached CLOSED (both FINs exchanged while the reader was paused):
    // like Linux, bytes we acknowledged and the peer's FIN stay readable. Memory stays bounded:
    // `held` never exceeds the receive buffer and nothing is added after CLOSED.
    const wasRemoved = c.removed;
    while (t.held.length > 0 && !t.paused && c.removed === wasRemoved) {
      const chunk = t.held.shift()!;
      t.heldBytes -= chunk.length;
      c.events?.onData(chunk);
    }
    if (c.removed !== wasRemoved) return;
    if (t.held.length === 0 && t.finToDeliver && !t.paused) {
      t.finToDeliver = false;
      c.events?.onFin();
      if (c.removed) return;
    }
    // RFC 9293 §3.8.6.2.2: announce the reopened window only when it grew enough — and only
    // while the peer may still send (not after its FIN, e.g. not from TIME_WAIT).
    if (!t.finReceived && this.windowUpdateDue(t)) {
      t.ackNow = true;
      this.markDirty(c);
    }
  }

  _setKeepAlive(c: TcpConn, enable: boolean, initialDelayMs?: number): void {
    const t = c.tcb;
    t.keepAlive = enable;
    if (initialDelayMs !== undefined && initialDelayMs > 0) t.keepAliveIdle = initialDelayMs;
    t.keepAliveSent = 0;
    // Like Linux's TCP_KEEPIDLE: the first probe is due `idle` after the last segment received
    // (at once when that is past).
    if (enable && !c.removed && !c.unready && (t.state === 'ESTABLISHED' || t.state === 'CLOSE_WAIT' || t.state === 'FIN_WAIT_2')) t.timers.keepalive = t.lastRecvTime + t.keepAliveIdle;
    else t.timers.keepalive = Infinity;
    this.schedule(c);
    // The deadline may be earlier than the runtime's armed timer: have it re-read pollAt().
    this.ctx.wake();
  }

  _markDirty(c: TcpConn): void {
    this.markDirty(c);
  }

  // ------------------------------------------------------------------------------------------
  // Connection table
  // ------------------------------------------------------------------------------------------

  private lookup(la: number, lp: number, ra: number, rp: number): TcpConn | undefined {
    const m = this.conns.get(la * 65536 + lp);
    return m?.get(ra * 65536 + rp);
  }

  private insert(c: TcpConn): void {
    const t = c.tcb;
    const k = t.localAddress * 65536 + t.localPort;
    let m = this.conns.get(k);
    if (!m) {
      m = new Map();
      this.conns.set(k, m);
    }
    m.set(t.remoteAddress * 65536 + t.remotePort, c);
  }

  private remove(c: TcpConn): void {
    const t = c.tcb;
    const k = t.localAddress * 65536 + t.localPort;
    const m = this.conns.get(k);
    if (m && m.get(t.remoteAddress * 65536 + t.remotePort) === c) {
      m.delete(t.remoteAddress * 65536 + t.remotePort);
      if (m.size === 0) this.conns.delete(k);
    }
  }

  private findListener(addr: number, port: number): Listener | undefined {
    const m = this.listeners.get(port);
    if (!m) return undefined;
    return m.get(addr) ?? m.get(0);
  }

  private closeListener(l: Listener): void {
    if (l.closed) return;
    l.closed = true;
    const m = this.listeners.get(l.localPort);
    if (m && m.get(l.localAddress) === l) {
      m.delete(l.localAddress);
      if (m.size === 0) this.listeners.delete(l.localPort);
    }
    // Half-open connections of this listener go away with it (they have no owner yet).
    const lk = this.conns.get(l.localAddress * 65536 + l.localPort);
    const victims: TcpConn[] = [];
    if (l.localAddress !== 0 && lk) for (const c of lk.values()) if (c.listener === l && c.tcb.state === 'SYN_RECEIVED') victims.push(c);
    if (l.localAddress === 0) for (const m2 of this.conns.values()) for (const c of m2.values()) if (c.listener === l && c.tcb.state === 'SYN_RECEIVED') victims.push(c);
    for (const c of victims) this._abort(c, undefined, false);
  }

  private allocPort(la: number, ra: number, rp: number): number {
    const span = this.ephHi - this.ephLo + 1;
    for (let i = 0; i < span; i++) {
      const p = this.nextEph;
      this.nextEph = p >= this.ephHi ? this.ephLo : p + 1;
      if (this.listeners.has(p)) continue;
      if (!this.lookup(la, p, ra, rp)) return p;
    }
    throw err('EADDRNOTAVAIL', 'no free ephemeral port', { syscall: 'connect' });
  }

  private countState(from: TcpStateName | undefined, to: TcpStateName | undefined): void {
    if (from) this.stateCounts[from]--;
    if (to) this.stateCounts[to]++;
  }

  private setState(c: TcpConn, s: TcpStateName): void {
    const t = c.tcb;
    if (t.state === s) return;
    this.countState(t.state, s);
    t.state = s;
  }

  private markDirty(c: TcpConn): void {
    if (c.dirty || c.removed) return;
    c.dirty = true;
    this.dirty.push(c);
    this.ctx.wake();
  }

  /** Push a heap entry when the connection's earliest deadline moved earlier. */
  private schedule(c: TcpConn): void {
    if (c.removed) return;
    const T = c.tcb.timers;
    const at = Math.min(T.rtx, T.delack, T.persist, T.keepalive, T.timewait, T.tlp);
    if (at < c.heapAt) {
      c.heapAt = at;
      this.heap.push(at, c);
    }
  }

  /** Connection is done: notify (once), forget. */
  private finish(c: TcpConn, error: HastackError | undefined): void {
    if (c.removed) return;
    const t = c.tcb;
    if (t.state === 'SYN_RECEIVED' && c.listener && !c.fromCookie) c.listener.synQueue--;
    this.countState(t.state, undefined);
    t.state = 'CLOSED';
    c.removed = true;
    this.remove(c);
    const T = t.timers;
    T.rtx = T.delack = T.persist = T.keepalive = T.timewait = T.tlp = Infinity;
    // Held bytes outlive a clean close (the reader may still resume, see _setPaused); after a
    // reset or a timeout the owner is destroyed and nobody will read them.
    if (error) dropHeld(t);
    if (!c.notified) {
      c.notified = true;
      c.events?.onClosed(error);
    }
  }

  private enterTimeWait(c: TcpConn, now: number): void {
    const t = c.tcb;
    this.setState(c, 'TIME_WAIT');
    const T = t.timers;
    T.rtx = T.persist = T.keepalive = T.delack = T.tlp = Infinity;
    T.timewait = now + t.timeWait;
    this.schedule(c);
    if (!c.notified) {
      c.notified = true;
      c.events?.onClosed(undefined);
    }
  }

  // ------------------------------------------------------------------------------------------
  // TCB creation, ISNs, options
  // ------------------------------------------------------------------------------------------

  /**
   * A fresh TCB for a new connection. `restoring`: the caller (restoreTcp) overwrites the
   * sequence space and the timestamp offset, so the two SipHash computations (ISN, TS offset)
   * are skipped (restoring 10,000 connections is a bulk operation, see bench/checkpoint-restore.mjs).
   */
  private newTcb(o: TcpConnectionOptions, la: number, lp: number, ra: number, rp: number, now: number, restoring = false): Tcb {
    const d = this.options;
    const t = new Tcb(o.sendBufferSize ?? d.sendBufferSize ?? 4 << 20);
    t.localAddress = la;
    t.localPort = lp;
    t.remoteAddress = ra;
    t.remotePort = rp;
    t.rcvBufSize = Math.max(1, o.receiveBufferSize ?? d.receiveBufferSize ?? 4 << 20);
    t.noDelay = o.noDelay ?? d.noDelay ?? false;
    t.cc = (o.congestionControl ?? d.congestionControl ?? 'cubic') as CongestionControl;
    t.tsOk = o.timestamps ?? d.timestamps ?? true; // "offered" until negotiated
    t.sackOk = o.sack ?? d.sack ?? true;
    t.wsOk = o.windowScale ?? d.windowScale ?? true;
    t.keepAlive = o.keepAlive ?? d.keepAlive ?? false;
    t.keepAliveIdle = o.keepAliveInitialDelay ?? d.keepAliveInitialDelay ?? 7_200_000;
    t.keepAliveInterval = o.keepAliveInterval ?? d.keepAliveInterval ?? 75_000;
    t.keepAliveProbes = o.keepAliveProbes ?? d.keepAliveProbes ?? 9;
    t.userTimeout = o.userTimeout ?? d.userTimeout ?? 120_000;
    t.synTimeout = o.userTimeout ?? d.userTimeout ?? 75_000;
    t.timeWait = o.timeWait ?? d.timeWait ?? 60_000;
    const pathMss = this.ctx.ip.mtuFor(ra) - 40;
    t.rcvMss = Math.max(88, Math.min(o.mss ?? d.mss ?? pathMss, pathMss, 65495));
    t.sndMss = Math.min(536, t.rcvMss);
    // RFC 7323 §2.3: the smallest shift that lets the window cover the receive buffer.
    let ws = 0;
    while (ws < 14 && 65535 * (1 << ws) < t.rcvBufSize) ws++; // 1 << ws: no Math.pow per step
    t.rcvWscale = t.wsOk ? ws : 0;
    t.rto = this.initialRto;
    if (!restoring) {
      t.tsOffset = hashTuple(this.key, la, lp, ra, rp, 0x7473); // RFC 7323 §5.4 per-connection offset
      t.iss = this.isn(la, lp, ra, rp, now);
      t.sndUna = t.sndNxt = t.sndMax = t.iss;
      t.bufSeq = (t.iss + 1) >>> 0;
      t.recover = t.iss;
    }
    t.lastRecvTime = now;
    t.lastSendTime = now;
    return t;
  }

  /** RFC 6528: ISN = M + F(4-tuple, secret), M a 4 µs clock. */
  private isn(la: number, lp: number, ra: number, rp: number, now: number): number {
    const m = Math.floor(now * 250);
    return (m + hashTuple(this.key, la, lp, ra, rp)) >>> 0;
  }

  private tsNow(t: Tcb, now: number): number {
    return (Math.floor(now) + t.tsOffset) >>> 0;
  }

  /** Apply the peer's SYN options (RFC 7323 §2.2/§3.2, RFC 2018 §2, RFC 9293 §3.7.1). */
  private negotiate(t: Tcb, o: TcpOptionsRepr, now: number): void {
    const pathMss = this.ctx.ip.mtuFor(t.remoteAddress) - 40;
    t.sndMss = Math.max(88, Math.min(o.mss ?? 536, pathMss, t.rcvMss));
    if (t.wsOk && o.windowScale !== undefined) {
      t.sndWscale = Math.min(o.windowScale, 14);
    } else {
      t.wsOk = false;
      t.sndWscale = 0;
      t.rcvWscale = 0;
    }
    t.sackOk = t.sackOk && o.sackPermitted;
    if (t.tsOk && o.tsVal !== undefined) {
      t.tsRecent = o.tsVal;
      t.tsRecentAge = now;
    } else t.tsOk = false;
  }

  // ------------------------------------------------------------------------------------------
  // RFC 9293 §3.10.7.1 — no connection: RST
  // ------------------------------------------------------------------------------------------

  private closedInput(s: Seg): void {
    this.st.drops.noSocket++;
    if (s.flags & RST) return; // never answer an RST
    if (s.flags & ACK) this.sendRst(s.dst, s.dport, s.src, s.sport, s.ack, 0, RST);
    else this.sendRst(s.dst, s.dport, s.src, s.sport, 0, (s.seq + segLen(s)) >>> 0, RST | ACK);
  }

  // ------------------------------------------------------------------------------------------
  // RFC 9293 §3.10.7.2 — LISTEN
  // ------------------------------------------------------------------------------------------

  private listenInput(l: Listener, s: Seg, now: number): void {
    if (s.flags & RST) return; // first: ignore an RST
    if (s.flags & ACK) {
      // second: an ACK to a listener is either a SYN-cookie handshake completion or bogus.
      if (!(s.flags & SYN) && this.synCookies && this.cookieAck(l, s, now)) return;
      this.st.drops.noSocket++;
      this.sendRst(s.dst, s.dport, s.src, s.sport, s.ack, 0, RST);
      return;
    }
    if (!(s.flags & SYN)) {
      this.st.drops.listenNoSyn++;
      return;
    }
    // third: SYN. The bounded half-open queue; when full, a stateless SYN cookie.
    if (l.synQueue >= l.backlog) {
      if (this.synCookies) this.sendCookieSynAck(l, s, now);
      else this.st.drops.synQueueFull++;
      return;
    }
    const t = this.newTcb(l.opts, s.dst, s.dport, s.src, s.sport, now);
    t.passive = true;
    t.irs = s.seq;
    t.rcvNxt = (s.seq + 1) >>> 0;
    this.negotiate(t, this.rxOpts, now);
    t.sndWnd = s.wnd; // RFC 7323 §2.2: the window of a SYN is never scaled
    t.maxSndWnd = t.sndWnd;
    t.sndWl1 = s.seq;
    t.sndWl2 = t.iss;
    t.state = 'SYN_RECEIVED';
    const c = new TcpConn(this, t);
    c.listener = l;
    l.synQueue++;
    this.insert(c);
    this.countState(undefined, 'SYN_RECEIVED');
    this.st.passiveOpens++;
    // Data on a SYN is not queued (allowed by §3.10.7.2); the peer retransmits it.
    this.markDirty(c);
  }

  /** SYN cookie: ISN = t(5 bits) | MSS index (3) | MAC(4-tuple, peer ISN, t) (24). */
  private cookieIsn(la: number, lp: number, ra: number, rp: number, irs: number, count: number, mssIdx: number): number {
    const h = hashTuple(this.key, la, lp, ra, rp, irs, (count << 3) | mssIdx) & 0xffffff;
    return (((count & 31) << 27) | (mssIdx << 24) | h) >>> 0;
  }

  private sendCookieSynAck(l: Listener, s: Seg, now: number): void {
    const o = this.rxOpts;
    const peerMss = Math.min(o.mss ?? 536, this.ctx.ip.mtuFor(s.src) - 40);
    let idx = 0;
    for (let i = COOKIE_MSS.length - 1; i >= 0; i--)
      if (COOKIE_MSS[i] <= peerMss) {
        idx = i;
        break;
      }
    const count = Math.floor(now / COOKIE_PERIOD);
    const iss = this.cookieIsn(s.dst, s.dport, s.src, s.sport, s.seq, count, idx);
    // Build a throwaway TCB only to reuse the option/window code; it is never stored.
    const t = this.newTcb(l.opts, s.dst, s.dport, s.src, s.sport, now);
    t.iss = iss;
    t.irs = s.seq;
    t.rcvNxt = (s.seq + 1) >>> 0;
    this.negotiate(t, o, now);
    this.st.synCookiesSent++;
    // The timestamp-echo trick: the low 5 bits of our TSval carry SACK-ok and the window shift
    // (15 = none), so the cookie ACK's TSecr gives them back.
    let tsVal = 0;
    if (t.tsOk) tsVal = ((this.tsNow(t, now) & ~0x1f) | ((t.sackOk ? 1 : 0) << 4) | (t.wsOk ? t.sndWscale : 15)) >>> 0;
    this.emitSyn(t, SYN | ACK, iss, now, tsVal);
  }

  private cookieAck(l: Listener, s: Seg, now: number): boolean {
    const cookie = (s.ack - 1) >>> 0;
    const irs = (s.seq - 1) >>> 0;
    const cur = Math.floor(now / COOKIE_PERIOD);
    const cc = cookie >>> 27;
    let count = -1;
    if ((cur & 31) === cc) count = cur;
    else if (((cur - 1) & 31) === cc) count = cur - 1;
    const idx = (cookie >>> 24) & 7;
    if (count < 0 || this.cookieIsn(s.dst, s.dport, s.src, s.sport, irs, count, idx) !== cookie) {
      this.st.drops.synCookieInvalid++;
      return false;
    }
    if (l.closed) return false;
    this.st.synCookiesValid++;
    const t = this.newTcb(l.opts, s.dst, s.dport, s.src, s.sport, now);
    t.passive = true;
    t.iss = cookie;
    t.sndUna = cookie;
    t.sndNxt = t.sndMax = (cookie + 1) >>> 0;
    t.bufSeq = (cookie + 1) >>> 0;
    t.recover = cookie;
    t.irs = irs;
    t.rcvNxt = s.seq;
    t.sndMss = Math.min(COOKIE_MSS[idx], this.ctx.ip.mtuFor(s.src) - 40);
    const o = this.rxOpts;
    if (t.tsOk && o.tsVal !== undefined && o.tsEcr !== undefined) {
      const bits = o.tsEcr & 0x1f;
      t.sackOk = t.sackOk && (bits & 0x10) !== 0;
      const ws = bits & 0x0f;
      if (ws === 15 || !t.wsOk) {
        t.wsOk = false;
        t.rcvWscale = 0;
        t.sndWscale = 0;
      } else {
        // The peer's shift came back in TSecr; ours is recomputed from the same buffer size.
        t.sndWscale = ws;
      }
      t.tsRecent = o.tsVal;
      t.tsRecentAge = now;
    } else {
      t.tsOk = false;
      t.sackOk = false;
      t.wsOk = false;
      t.rcvWscale = 0;
      t.sndWscale = 0;
    }
    t.rcvAdvEdge = (t.rcvNxt + Math.min(t.rcvBufSize, 65535 << t.rcvWscale)) >>> 0;
    t.state = 'SYN_RECEIVED';
    const c = new TcpConn(this, t);
    c.listener = l;
    c.fromCookie = true;
    this.insert(c);
    this.countState(undefined, 'SYN_RECEIVED');
    this.st.passiveOpens++;
    // Continue as if the SYN-ACK had been sent from SYN_RECEIVED (§3.10.7.4).
    this.segmentArrives(c, s, now);
    return true;
  }

  // ------------------------------------------------------------------------------------------
  // RFC 9293 §3.10.7.3 — SYN-SENT
  // ------------------------------------------------------------------------------------------

  private synSentInput(c: TcpConn, s: Seg, now: number): void {
    const t = c.tcb;
    const f = s.flags;
    // first: check the ACK bit
    if (f & ACK) {
      if (seqLe(s.ack, t.iss) || seqGt(s.ack, t.sndMax)) {
        if (!(f & RST)) this.sendRst(t.localAddress, t.localPort, t.remoteAddress, t.remotePort, s.ack, 0, RST);
        return;
      }
    }
    // second: RST — acceptable only with an acceptable ACK (RFC 5961 §3 / RFC 9293 §3.10.7.3).
    if (f & RST) {
      if (f & ACK) {
        this.st.attemptFails++;
        this.finish(c, err('ECONNREFUSED', 'connection refused', { syscall: 'connect', info: { port: t.remotePort } }));
      }
      return;
    }
    // fourth: SYN
    if (!(f & SYN)) return;
    t.irs = s.seq;
    t.rcvNxt = (s.seq + 1) >>> 0;
    t.rcvAdvEdge = (t.rcvNxt + Math.min(65535, t.rcvBufSize)) >>> 0; // what our SYN offered
    this.negotiate(t, this.rxOpts, now);
    t.sndWnd = s.wnd; // unscaled in a SYN (RFC 7323 §2.2)
    t.maxSndWnd = t.sndWnd;
    t.sndWl1 = s.seq;
    t.sndWl2 = s.ack;
    t.lastRecvTime = now;
    if (f & ACK) {
      this.ackedSyn(t, s, now);
      t.sndUna = s.ack;
      this.setState(c, t.finQueued ? 'FIN_WAIT_1' : 'ESTABLISHED');
      ccInit(t);
      t.timers.rtx = Infinity;
      t.ackNow = true;
      this.armKeepalive(t);
      this.markDirty(c);
      c.events?.onEstablished();
      return;
    }
    // Simultaneous open (RFC 9293 §3.5 figure 8): SYN-RECEIVED, send SYN,ACK with our ISS.
    this.setState(c, 'SYN_RECEIVED');
    t.sndNxt = t.iss;
    t.timers.rtx = Infinity;
    t.synRetries = 0;
    this.markDirty(c);
  }

  /** RTT sample from the handshake (RFC 6298 (2.2); Karn: only if the SYN wasn't retransmitted). */
  private ackedSyn(t: Tcb, s: Seg, now: number): void {
    if (t.tsOk && this.rxOpts.tsEcr) this.rttSample(t, (this.tsNow(t, now) - this.rxOpts.tsEcr) | 0);
    else if (t.synRetries === 0) this.rttSample(t, now - t.rttTime);
    void s;
  }

  // ------------------------------------------------------------------------------------------
  // RFC 9293 §3.10.7.4 — all other states
  // ------------------------------------------------------------------------------------------

  private segmentArrives(c: TcpConn, s: Seg, now: number): void {
    const t = c.tcb;
    if (t.state === 'SYN_SENT') {
      this.synSentInput(c, s, now);
      return;
    }
    if (c.unready && !this.unreadyInput(c, s, now)) return;
    const f = s.flags;
    const o = this.rxOpts;
    const hasTs = t.tsOk && o.tsVal !== undefined;
    const len = segLen(s);

    // RFC 7323 §5.3 R1: PAWS, before the acceptability test.
    if (hasTs && !(f & RST) && seqLt(o.tsVal!, t.tsRecent)) {
      if (now - t.tsRecentAge > PAWS_IDLE_MS) {
        t.tsRecent = o.tsVal!;
        t.tsRecentAge = now;
      } else {
        this.st.drops.paws++;
        t.ackNow = true;
        this.markDirty(c);
        return;
      }
    }

    // TIME_WAIT: a new SYN with a higher sequence number (or newer timestamp) may reopen the
    // connection (RFC 9293 §3.10.7.4 / RFC 6191).
    if (t.state === 'TIME_WAIT' && (f & (SYN | ACK | RST)) === SYN && (seqGt(s.seq, t.rcvNxt) || (hasTs && seqGt(o.tsVal!, t.tsRecent)))) {
      const l = this.findListener(s.dst, s.dport);
      if (l) {
        this.finish(c, undefined);
        this.listenInput(l, s, now);
        return;
      }
    }

    // SYN_RECEIVED and a retransmitted SYN: answer with the SYN,ACK again.
    if (t.state === 'SYN_RECEIVED' && (f & (SYN | ACK | RST)) === SYN && s.seq === t.irs) {
      if (t.sndNxt !== t.iss) {
        t.sndNxt = t.iss;
        this.markDirty(c);
      }
      return;
    }

    // first: sequence number acceptability (§3.10.7.4 table).
    const rcvWnd = Math.max(0, (t.rcvAdvEdge - t.rcvNxt) | 0);
    let ok: boolean;
    if (len === 0) ok = rcvWnd === 0 ? s.seq === t.rcvNxt : inWin(s.seq, t.rcvNxt, rcvWnd);
    else ok = rcvWnd === 0 ? false : inWin(s.seq, t.rcvNxt, rcvWnd) || inWin((s.seq + len - 1) >>> 0, t.rcvNxt, rcvWnd);
    if (!ok) {
      // A zero window still takes valid ACKs, URGs and RSTs (§3.10.7.4 first, note).
      if (rcvWnd === 0 && s.seq === t.rcvNxt && !(f & SYN) && f & ACK) {
        s.dataLen = 0;
        s.flags &= ~FIN;
        t.ackNow = true;
        this.markDirty(c);
      } else {
        this.st.drops.outOfWindow++;
        if (!(f & RST)) {
          t.ackNow = true;
          // A retransmitted FIN in TIME_WAIT restarts the 2·MSL timer (§3.10.7.4 eighth).
          if (t.state === 'TIME_WAIT' && f & FIN) {
            t.timers.timewait = now + t.timeWait;
            this.schedule(c);
          }
          this.markDirty(c);
        }
        return;
      }
    }

    // second: RST (RFC 5961 §3.2: only an exact RCV.NXT match resets; else challenge ACK).
    if (f & RST) {
      if (s.seq !== t.rcvNxt) {
        this.challengeAck(c, now);
        return;
      }
      switch (t.state) {
        case 'SYN_RECEIVED':
          if (t.passive) {
            // Return to LISTEN: the half-open connection just goes away.
            c.notified = true;
            this.finish(c, undefined);
          } else {
            this.st.attemptFails++;
            this.finish(c, err('ECONNREFUSED', 'connection refused', { syscall: 'connect' }));
          }
          return;
        case 'TIME_WAIT':
          this.finish(c, undefined);
          return;
        default:
          if (t.state === 'ESTABLISHED' || t.state === 'CLOSE_WAIT') this.st.estabResets++;
          this.finish(c, err('ECONNRESET', 'connection reset by peer', { syscall: 'read' }));
          return;
      }
    }

    // fourth: SYN in a synchronized state → challenge ACK (RFC 5961 §4.2, RFC 9293 §3.10.7.4).
    if (f & SYN) {
      this.challengeAck(c, now);
      return;
    }

    // fifth: the ACK field.
    if (!(f & ACK)) return;
    // RFC 5961 §5.2: SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT, else drop (and ACK).
    if (seqGt(s.ack, t.sndMax)) {
      this.st.drops.ackTooNew++;
      t.ackNow = true;
      this.markDirty(c);
      return;
    }
    if (seqLt(s.ack, (t.sndUna - Math.max(t.maxSndWnd, 1)) >>> 0)) {
      this.st.drops.ackTooOld++;
      this.challengeAck(c, now);
      return;
    }

    // RFC 7323 §4.3: update TS.Recent when the segment covers Last.ACK.sent.
    if (hasTs && seqGe(o.tsVal!, t.tsRecent) && seqLe(s.seq, t.lastAckSent)) {
      t.tsRecent = o.tsVal!;
      t.tsRecentAge = now;
    }
    t.lastRecvTime = now;
    t.keepAliveSent = 0;

    if (t.state === 'SYN_RECEIVED') {
      if (!(seqLt(t.sndUna, s.ack) && seqLe(s.ack, t.sndMax))) {
        this.sendRst(t.localAddress, t.localPort, t.remoteAddress, t.remotePort, s.ack, 0, RST);
        return;
      }
      if (!this.synReceivedToEstablished(c, s, now)) return;
    }

    if (t.state === 'TIME_WAIT') {
      // Only a retransmitted FIN matters here (handled above / below).
      if (f & FIN) {
        t.ackNow = true;
        t.timers.timewait = now + t.timeWait;
        this.schedule(c);
        this.markDirty(c);
      }
      return;
    }

    this.processAck(c, s, now);
    if (c.removed) return;

    // sixth: URG — not supported as a separate channel; urgent data is delivered in line.
    // seventh: segment text.
    if (s.dataLen > 0 || f & FIN) this.processData(c, s, now);
    if (c.removed) return;
    // Wake the writer once a useful amount is free (not per freed segment: no ping-pong).
    if (t.wantSendSpace && t.sendBuf.available >= Math.max(1, Math.min(t.sendBuf.limit >>> 2, 65536)) && !t.finQueued) {
      t.wantSendSpace = false;
      c.events?.onSendSpace();
    }
  }

  /** §3.10.7.4 fifth, SYN-RECEIVED: the handshake completes. False when the connection went away. */
  private synReceivedToEstablished(c: TcpConn, s: Seg, now: number): boolean {
    const t = c.tcb;
    const wasPassive = t.passive;
    if (c.listener && !c.fromCookie) c.listener.synQueue--;
    const finQueued = t.finQueued;
    this.setState(c, finQueued ? 'FIN_WAIT_1' : 'ESTABLISHED');
    if (!c.fromCookie) this.ackedSyn(t, s, now);
    t.sndWnd = s.wnd << t.sndWscale;
    t.maxSndWnd = Math.max(t.maxSndWnd, t.sndWnd);
    t.sndWl1 = s.seq;
    t.sndWl2 = s.ack;
    t.sndUna = s.ack;
    if (seqLt(t.sndNxt, t.sndUna)) t.sndNxt = t.sndUna;
    ccInit(t);
    t.timers.rtx = Infinity;
    t.synRetries = 0;
    this.armKeepalive(t);
    if (wasPassive && c.listener) {
      const l = c.listener;
      c.listener = null;
      if (l.closed) {
        this._abort(c, undefined, false);
        return false;
      }
      let accepted: boolean | void;
      try {
        accepted = l.opts.onConnection(c);
      } catch {
        accepted = false;
      }
      if (c.removed) return false;
      if (accepted === false || !c.events) {
        this.st.drops.refused++;
        this._abort(c, undefined, false);
        return false;
      }
    } else {
      c.events?.onEstablished();
      if (c.removed) return false;
    }
    this.markDirty(c);
    return true;
  }

  /** §3.10.7.4 fifth, ESTABLISHED and later: acknowledgments, window, loss recovery. */
  private processAck(c: TcpConn, s: Seg, now: number): void {
    const t = c.tcb;
    const o = this.rxOpts;
    const wnd = s.wnd << t.sndWscale;
    let sackNew = false;
    if (t.sackOk && o.sack.length > 0) sackNew = this.updateScoreboard(t, o.sack);

    if (seqGt(s.ack, t.sndUna)) {
      const acked = (s.ack - t.sndUna) >>> 0;
      // RFC 3522 §3.2 Eifel detection: the first acceptable ACK after a retransmission decides.
      // If it echoes a TSecr older than RetransmitTS (the TSval of the first retransmission), it
      // was triggered by the original transmission: the retransmission was spurious.
      let spurious = false;
      let fack = 0;
      if (t.undoTsVal >= 0) {
        if (t.tsOk && o.tsEcr !== undefined && o.tsEcr !== 0 && seqLt(o.tsEcr, t.undoTsVal)) {
          spurious = true;
          // Forward-most byte known received: how far data overtook the "lost" segment.
          fack = s.ack;
          const sb = t.sacked;
          if (sb.length > 0 && seqGt(sb[sb.length - 1], fack)) fack = sb[sb.length - 1];
          fack = Math.ceil(((fack - t.sndUna) >>> 0) / t.sndMss);
        } else {
          // A genuine loss: after a real RTO a raised DupThresh may have delayed its detection.
          if (t.undoRto) t.reordering = 3;
          t.undoTsVal = -1;
        }
      }
      // RTT (RFC 7323 §4 with timestamps; else RFC 6298 with Karn's rule).
      if (t.tsOk && o.tsEcr) this.rttSample(t, (this.tsNow(t, now) - o.tsEcr) | 0);
      else if (t.rttSeq >= 0 && seqGe(s.ack, t.rttSeq)) {
        this.rttSample(t, now - t.rttTime);
        t.rttSeq = -1;
      }
      t.sndUna = s.ack;
      if (seqLt(t.sndNxt, t.sndUna)) t.sndNxt = t.sndUna;
      if (seqGt(s.ack, t.bufSeq)) {
        const d = (s.ack - t.bufSeq) >>> 0;
        let n = Math.min(d, t.sendBuf.length);
        t.sendBuf.consume(n);
        // Object-mapped restore still being refilled: the peer may acknowledge bytes the old
        // host sent that are not back in the queue yet. The queue starts at the ACK; send()
        // drops those bytes when the supplier gets to them (fillSkip).
        if (d > n && t.fillRemaining > 0) {
          const f = Math.min(d - n, t.fillRemaining);
          t.fillRemaining -= f;
          c.fillSkip += f;
          n += f;
        }
        t.bufSeq = (t.bufSeq + n) >>> 0;
      }
      this.pruneScoreboard(t);
      if (t.backoff > 0) {
        t.backoff = 0;
        this.recomputeRto(t);
      }
      t.rtxStart = -1;
      t.tlpOut = false;
      t.timers.tlp = Infinity; // re-armed by output() if data is still outstanding
      // RFC 6298 (5.2)/(5.3): stop the timer when all is acked, else restart it.
      t.timers.rtx = t.sndUna === t.sndMax ? Infinity : now + t.rto;
      if (spurious) this.undoSpurious(t, fack);
      if (t.rtoRecovery) {
        // After an RTO the window restarts from one segment in slow start (RFC 5681 §3.1).
        ccOnAck(t, acked, now);
        if (seqGe(s.ack, t.recover)) {
          t.inRecovery = false;
          t.rtoRecovery = false;
          t.dupAcks = 0;
        }
      } else if (t.inRecovery) {
        if (seqGe(s.ack, t.recover)) {
          // RFC 6582 §3.2 step 6 / RFC 6675 §5: full acknowledgment ends recovery.
          t.inRecovery = false;
          t.dupAcks = 0;
          const flight = (t.sndMax - t.sndUna) >>> 0;
          t.cwnd = t.sackOk ? t.ssthresh : Math.min(t.ssthresh, Math.max(flight, t.sndMss) + t.sndMss);
        } else if (!t.sackOk) {
          // RFC 6582 §3.2 step 5: partial ACK — retransmit the next hole, deflate cwnd.
          t.rtxOne = true;
          t.rtxCause = 'fast';
          t.cwnd = Math.max(t.cwnd - acked + (acked >= t.sndMss ? t.sndMss : 0), t.sndMss);
        }
      } else {
        t.dupAcks = 0;
        ccOnAck(t, acked, now);
      }
      this.markDirty(c);
    } else if (s.ack === t.sndUna && s.dataLen === 0 && !(s.flags & (SYN | FIN)) && seqGt(t.sndMax, t.sndUna) && (wnd === t.sndWnd || sackNew)) {
      // RFC 5681 §2 duplicate ACK.
      t.dupAcks++;
      if (!t.inRecovery) {
        // RFC 5827 early retransmit: with fewer than 4 segments outstanding and nothing new to
        // send, DupThresh drops to (outstanding segments − 1).
        // DupThresh is 3 unless reordering was observed (t.reordering, see undoSpurious).
        let thresh = t.reordering;
        const oseg = Math.ceil(((t.sndMax - t.sndUna) >>> 0) / t.sndMss);
        if (oseg < 4 && this.unsent(t) <= 0) thresh = Math.min(thresh, Math.max(1, oseg - 1));
        else if (t.dupAcks < thresh) this.markDirty(c); // limited transmit (RFC 3042), see output()
        // With SACK, the SACKed segment count stands in for duplicate ACKs (RFC 5827 §3.2).
        const sackedSegs = t.sackOk ? Math.ceil(this.sackedBytes(t) / t.sndMss) : 0;
        if ((t.dupAcks >= thresh || sackedSegs >= thresh || (t.sackOk && this.isLost(t, t.sndUna))) && seqGe(t.sndUna, t.recover)) {
          // RFC 5681 §3.2 / RFC 6582 §3.2 step 2 / RFC 6675 §5 (4): enter recovery.
          const flight = (t.sndMax - t.sndUna) >>> 0;
          this.undoSave(t, now, false);
          ccOnCongestion(t, flight);
          t.recover = t.sndMax;
          t.inRecovery = true;
          t.rtxOne = true;
          t.rtxCause = t.sackOk ? 'sack' : 'fast';
          t.highRxt = t.sndUna;
          t.cwnd = t.sackOk ? t.ssthresh : t.ssthresh + 3 * t.sndMss;
          t.rttSeq = -1;
          this.markDirty(c);
        }
      } else {
        // RFC 6582 §3.2 step 4: inflate; with SACK the pipe estimate opens the window instead.
        if (!t.sackOk) t.cwnd += t.sndMss;
        this.markDirty(c);
      }
    }

    // Window update (§3.10.7.4 fifth: SND.WL1 < SEG.SEQ or (= and SND.WL2 ≤ SEG.ACK)).
    if (seqLt(t.sndWl1, s.seq) || (t.sndWl1 === s.seq && seqLe(t.sndWl2, s.ack))) {
      const opened = wnd > t.sndWnd;
      t.sndWnd = wnd;
      t.sndWl1 = s.seq;
      t.sndWl2 = s.ack;
      if (wnd > t.maxSndWnd) t.maxSndWnd = wnd;
      if (wnd > 0) {
        t.persistBackoff = 0;
        t.timers.persist = Infinity;
      }
      if (opened) this.markDirty(c);
    }

    // Our FIN acknowledged?
    const finAcked = t.finQueued && t.sendBuf.length === 0 && seqGt(t.sndUna, t.bufSeq);
    if (finAcked) {
      switch (t.state) {
        case 'FIN_WAIT_1':
          this.setState(c, 'FIN_WAIT_2');
          t.timers.rtx = Infinity;
          break;
        case 'CLOSING':
          this.enterTimeWait(c, now);
          break;
        case 'LAST_ACK':
          this.finish(c, undefined);
          return;
      }
    }
  }

  /** §3.10.7.4 seventh (text) and eighth (FIN). */
  private processData(c: TcpConn, s: Seg, now: number): void {
    const t = c.tcb;
    let seq = s.seq;
    let off = s.dataOff;
    let n = s.dataLen;
    let fin = (s.flags & FIN) !== 0;
    const canTake = t.state === 'ESTABLISHED' || t.state === 'FIN_WAIT_1' || t.state === 'FIN_WAIT_2';
    // Trim to the window: the part before RCV.NXT was already received.
    const before = (t.rcvNxt - seq) | 0;
    if (before > 0) {
      const k = Math.min(before, n);
      off += k;
      n -= k;
      seq = (seq + k) >>> 0;
      if (before > s.dataLen && fin) fin = false; // a FIN we already have (dup)
    }
    const edge = t.rcvAdvEdge;
    const room = (edge - seq) | 0;
    if (n > room) {
      n = Math.max(0, room);
      fin = false;
    }
    if (n > 0 && canTake && !t.finReceived) {
      if (seq === t.rcvNxt) {
        const hadOoo = !t.ooo.empty;
        // Principle 7: a frame the link handed over is kept as a view; otherwise copied once.
        this.deliver(c, s.owned ? s.buf.subarray(off, off + n) : copyBytes(s.buf, off, off + n));
        if (c.removed) return;
        t.rcvNxt = (t.rcvNxt + n) >>> 0;
        if (hadOoo) {
          for (let d = t.ooo.takeAt(t.rcvNxt); d; d = t.ooo.takeAt(t.rcvNxt)) {
            this.deliver(c, d);
            if (c.removed) return;
            t.rcvNxt = (t.rcvNxt + d.length) >>> 0;
          }
          // RFC 5681 §4.2: ACK at once when a segment fills (part of) a gap.
          t.ackNow = true;
        } else {
          // RFC 9293 §3.8.6.3: ACK at least every second full-sized segment, else delay.
          t.unackedBytes += n;
          const full = t.rcvMss - (t.tsOk ? 12 : 0);
          if (t.unackedBytes >= ACK_STRETCH_SEGMENTS * full) {
            // A long burst inside one batch still gets ACKs as it goes (ACK clocking).
            this.xmit(c, t.sndMax, 0, ACK, now, null);
          } else if (t.unackedBytes >= 2 * full) {
            // Two full-sized segments are owed an ACK: it leaves at the end of this input batch,
            // before anything else is read, like Linux's ACK of a GRO super-packet. One ACK per
            // batch instead of one per two segments halves the receive path's frame writes.
            t.ackNow = true;
            this.markDirty(c);
          } else if (t.timers.delack === Infinity) {
            t.timers.delack = now + this.delAck;
            this.schedule(c);
          }
        }
      } else if (seqGt(seq, t.rcvNxt)) {
        // Out of order: keep it (inside the window) and send a duplicate ACK at once (RFC 5681 §4.2).
        t.ooo.insert(t.rcvNxt, seq, s.buf.subarray(off, off + n));
        if (fin) {
          t.rcvFinSeq = (seq + n) >>> 0;
          fin = false;
        }
        // One duplicate ACK per out-of-order segment, even inside a batch, so the sender
        // sees DupThresh duplicates (RFC 5681 §3.2).
        this.xmit(c, t.sndMax, 0, ACK, now, null);
      }
      this.markDirty(c);
    } else if (n > 0) {
      t.ackNow = true;
      this.markDirty(c);
    }
    if (fin && n === 0 && !t.finReceived && seqGt(seq, t.rcvNxt) && canTake) {
      // A bare FIN beyond a gap: remember it until the gap fills.
      t.rcvFinSeq = seq;
      fin = false;
      t.ackNow = true;
      this.markDirty(c);
    }
    if (!t.finReceived && ((fin && ((seq + n) >>> 0) === t.rcvNxt) || (t.rcvFinSeq >= 0 && t.rcvFinSeq === t.rcvNxt))) this.processFin(c, now);
    else if (fin && t.finReceived) {
      t.ackNow = true;
      this.markDirty(c);
    }
  }

  private deliver(c: TcpConn, chunk: Uint8Array): void {
    const t = c.tcb;
    if (t.paused || t.held.length > 0) {
      t.held.push(chunk);
      t.heldBytes += chunk.length;
    } else c.events?.onData(chunk);
  }

  /** §3.10.7.4 eighth: the FIN bit. */
  private processFin(c: TcpConn, now: number): void {
    const t = c.tcb;
    t.rcvNxt = (t.rcvNxt + 1) >>> 0;
    t.finReceived = true;
    t.rcvFinSeq = -1;
    t.ackNow = true;
    this.markDirty(c);
    const finAcked = t.finQueued && t.sendBuf.length === 0 && seqGt(t.sndUna, t.bufSeq);
    switch (t.state) {
      case 'SYN_RECEIVED':
      case 'ESTABLISHED':
        this.setState(c, 'CLOSE_WAIT');
        break;
      case 'FIN_WAIT_1':
        if (finAcked) this.enterTimeWait(c, now);
        else this.setState(c, 'CLOSING');
        break;
      case 'FIN_WAIT_2':
        this.enterTimeWait(c, now);
        break;
      default:
        break;
    }
    if (t.paused || t.held.length > 0) t.finToDeliver = true;
    else if (!c.removed) c.events?.onFin();
  }

  /** RFC 5961 §7: challenge ACKs, rate limited per second across the layer. */
  private challengeAck(c: TcpConn, now: number): void {
    if (now - this.chalWindow >= 1000) {
      this.chalWindow = now;
      this.chalCount = 0;
    }
    if (this.chalCount >= this.chalLimit) {
      this.st.drops.challengeAckLimited++;
      return;
    }
    this.chalCount++;
    this.st.challengeAcks++;
    c.tcb.ackNow = true;
    this.markDirty(c);
  }

  // ------------------------------------------------------------------------------------------
  // RTT / RTO (RFC 6298)
  // ------------------------------------------------------------------------------------------

  private rttSample(t: Tcb, r: number): void {
    if (!(r >= 0) || r > 3_600_000) return;
    if (r === 0) r = 0.5;
    if (t.srtt === 0) {
      // (2.2) first measurement
      t.srtt = r;
      t.rttvar = r / 2;
    } else {
      // (2.3) β = 1/4, α = 1/8
      t.rttvar = 0.75 * t.rttvar + 0.25 * Math.abs(t.srtt - r);
      t.srtt = 0.875 * t.srtt + 0.125 * r;
    }
    this.recomputeRto(t);
  }

  private recomputeRto(t: Tcb): void {
    if (t.srtt === 0) {
      t.rto = this.initialRto;
      return;
    }
    // (2.3) RTO = SRTT + max(G, 4·RTTVAR), (2.4) lower bound, (2.5) upper bound; G = 1 ms.
    t.rto = Math.min(this.maxRto, Math.max(this.minRto, t.srtt + Math.max(1, 4 * t.rttvar)));
  }

  // ------------------------------------------------------------------------------------------
  // SACK scoreboard (RFC 6675)
  // ------------------------------------------------------------------------------------------

  /** Merge SACK blocks into the scoreboard; true when something new was SACKed. */
  private updateScoreboard(t: Tcb, blocks: number[]): boolean {
    let changed = false;
    for (let i = 0; i + 1 < blocks.length; i += 2) {
      let l = blocks[i];
      const r = blocks[i + 1];
      // Ignore blocks that are invalid or fall outside (SND.UNA, SND.MAX] (RFC 2018 §8, D-SACK).
      if (!seqLt(l, r) || seqLe(r, t.sndUna) || seqGt(r, t.sndMax)) continue;
      if (seqLt(l, t.sndUna)) l = t.sndUna;
      if (this.sbInsert(t.sacked, l, r)) changed = true;
    }
    return changed;
  }

  private sbInsert(sb: number[], l: number, r: number): boolean {
    // Find overlap/adjacency range and merge.
    let i = 0;
    while (i < sb.length && seqLt(sb[i + 1], l)) i += 2;
    let j = i;
    let nl = l;
    let nr = r;
    while (j < sb.length && seqLe(sb[j], r)) {
      nl = seqLt(sb[j], nl) ? sb[j] : nl;
      nr = seqGt(sb[j + 1], nr) ? sb[j + 1] : nr;
      j += 2;
    }
    if (j - i === 2 && sb[i] === nl && sb[i + 1] === nr) return false;
    sb.splice(i, j - i, nl, nr);
    return true;
  }

  private pruneScoreboard(t: Tcb): void {
    const sb = t.sacked;
    let k = 0;
    while (k < sb.length && seqLe(sb[k + 1], t.sndUna)) k += 2;
    if (k > 0) sb.splice(0, k);
    if (sb.length > 0 && seqLt(sb[0], t.sndUna)) sb[0] = t.sndUna;
  }

  /**
   * RFC 6675 IsLost: the lowest sequence number below which every un-SACKed byte is lost
   * (DupThresh = 3 discontiguous SACKed blocks above, or more than 2·SMSS SACKed bytes above).
   */
  private lostEdge(t: Tcb): number {
    if (t.rtoRecovery) return t.recover;
    const sb = t.sacked;
    let bytes = 0;
    let blocks = 0;
    for (let i = sb.length - 2; i >= 0; i -= 2) {
      bytes += (sb[i + 1] - sb[i]) >>> 0;
      blocks++;
      if (blocks >= t.reordering || bytes > (t.reordering - 1) * t.sndMss) return sb[i];
    }
    return t.sndUna;
  }

  private isLost(t: Tcb, seq: number): boolean {
    return seqLt(seq, this.lostEdge(t));
  }

  /** RFC 6675 SetPipe: bytes believed in flight. */
  private pipe(t: Tcb, lostEdge: number): number {
    const sb = t.sacked;
    let pipe = 0;
    let a = t.sndUna;
    for (let i = 0; i <= sb.length; i += 2) {
      const b = i < sb.length ? sb[i] : t.sndNxt;
      if (seqLt(a, b)) {
        // Hole [a, b): bytes at/after lostEdge are in flight; lost bytes only if retransmitted.
        const lostEnd = seqLt(lostEdge, b) ? (seqGt(lostEdge, a) ? lostEdge : a) : b;
        pipe += (b - lostEnd) >>> 0;
        const rx = seqLt(t.highRxt, lostEnd) ? t.highRxt : lostEnd;
        if (seqGt(rx, a)) pipe += (rx - a) >>> 0;
      }
      if (i < sb.length) a = sb[i + 1];
    }
    return pipe;
  }

  // ------------------------------------------------------------------------------------------
  // Timers
  // ------------------------------------------------------------------------------------------

  private runTimers(c: TcpConn, now: number): void {
    const t = c.tcb;
    const T = t.timers;
    if (T.timewait <= now) {
      this.finish(c, undefined);
      return;
    }
    if (T.rtx <= now) {
      T.rtx = Infinity;
      T.tlp = Infinity;
      this.onRto(c, now);
      if (c.removed) return;
    }
    if (T.tlp <= now) {
      T.tlp = Infinity;
      this.onTlp(c, now);
    }
    if (T.delack <= now) {
      T.delack = Infinity;
      t.ackNow = true;
    }
    if (T.persist <= now) {
      T.persist = Infinity;
      this.onPersist(c, now);
    }
    if (T.keepalive <= now) {
      T.keepalive = Infinity;
      this.onKeepalive(c, now);
      if (c.removed) return;
    }
    this.output(c, now);
  }

  private onRto(c: TcpConn, now: number): void {
    const t = c.tcb;
    if (t.state === 'SYN_SENT' || t.state === 'SYN_RECEIVED') {
      if (t.rtxStart < 0) t.rtxStart = now - t.rto;
      const limitHit = t.passive ? t.synRetries >= this.synAckRetries : now - t.rtxStart >= t.synTimeout;
      if (limitHit) {
        this.st.attemptFails++;
        if (t.passive) {
          c.notified = true;
          this.finish(c, undefined);
        } else this.finish(c, err('ETIMEDOUT', 'connection timed out', { syscall: 'connect' }));
        return;
      }
      t.synRetries++;
      t.backoff++;
      t.rto = Math.min(t.rto * 2, this.maxRto);
      t.sndNxt = t.iss; // resend SYN / SYN,ACK
      this.st.retransmits.rto++;
      this.st.retransSegs++;
      return;
    }
    if (c.unready) {
      if (now - t.rtxStart >= t.userTimeout) {
        this._abort(c, err('ETIMEDOUT', 'restored connection: the peer never answered', { syscall: 'restore' }), true);
        return;
      }
      t.ackNow = true; // solicit again, backing off
      t.backoff++;
      t.rto = Math.min(t.rto * 2, this.maxRto);
      t.timers.rtx = now + t.rto;
      return;
    }
    if (t.sndUna === t.sndMax) return;
    if (t.rtxStart < 0) t.rtxStart = now - t.rto;
    // A peer that keeps answering with a zero window is alive (RFC 1122 §4.2.2.17): only its
    // silence counts toward the user timeout then.
    const stalled = t.sndWnd === 0 ? now - t.lastRecvTime : now - t.rtxStart;
    if (stalled >= t.userTimeout) {
      // RFC 9293 §3.8.3 R2 / RFC 5482: give up.
      this._abort(c, err('ETIMEDOUT', 'connection timed out', { syscall: 'write' }), true);
      return;
    }
    if (t.sndNxt === t.sndUna && this.unsent(t) <= 0 && (t.fillRemaining > 0 || c.fillSkip > 0)) {
      // Nothing at hand to retransmit: the bytes at SND.UNA are not back in the queue yet
      // (object-mapped refill). This expiry only watches the user timeout (RFC 9293 §3.8.3 R2)
      // and backs off (RFC 6298 (5.5)); no congestion response for a loss not yet retransmittable
      // (RFC 5681 §3.1 applies when the segment is retransmitted). output() re-arms the timer.
      t.backoff++;
      t.rto = Math.min(t.rto * 2, this.maxRto);
      return;
    }
    const flight = (t.sndMax - t.sndUna) >>> 0;
    this.undoSave(t, now, true);
    ccOnRto(t, flight);
    t.backoff++;
    t.rto = Math.min(t.rto * 2, this.maxRto); // (5.5) back off
    t.rtxOne = false;
    t.dupAcks = 0;
    t.recover = t.sndMax; // RFC 6582 §4: no fast retransmit for ACKs of the old window
    t.rttSeq = -1; // Karn (retransmitted segments are counted by cause in xmit)
    if (t.sackOk && t.sacked.length > 0) {
      // RFC 6675 §5.1: keep the scoreboard and retransmit only what was not SACKed, every
      // un-SACKed byte now counting as lost (a reneging receiver is caught by the next RTO,
      // which finds an empty scoreboard... or SND.UNA inside a SACKed block, see below).
      if (this.sackedAt(t, t.sndUna)) t.sacked.length = 0;
    }
    if (t.sackOk && t.sacked.length > 0) {
      t.inRecovery = true;
      t.rtoRecovery = true;
      t.highRxt = t.sndUna;
    } else {
      t.inRecovery = false;
      t.rtoRecovery = false;
      t.sacked.length = 0; // receivers may renege (RFC 2018 §8): go back to SND.UNA
      t.sndNxt = t.sndUna; // (5.4) retransmit the earliest unacknowledged segment
    }
  }

  /**
   * Before the first congestion response of a loss episode (fast retransmit or RTO), remember
   * what to restore should the retransmission prove spurious: RetransmitTS (RFC 3522 §3.2; the
   * retransmission goes out at this `now`, and a later send only makes the test stricter),
   * cwnd, ssthresh and CUBIC's state (RFC 4015 §3.1 saves ssthresh as pipe_prev; like Linux we
   * restore the exact pre-reduction window). Needs timestamps (RFC 7323); without them nothing
   * is undone (no RFC 5682 F-RTO here).
   */
  private undoSave(t: Tcb, now: number, rto: boolean): void {
    if (!t.tsOk) return;
    if (t.undoTsVal < 0) {
      t.undoTsVal = this.tsNow(t, now);
      t.undoCwnd = t.cwnd;
      t.undoSsthresh = t.ssthresh;
      copyCubicState(t.undoCubic ?? (t.undoCubic = { wMax: 0, wLastMax: 0, epochStart: -1, k: 0, wEst: 0, cwndEpoch: 0 }), t.cubic);
      t.undoRto = false;
    }
    if (rto) t.undoRto = true;
  }

  /**
   * RFC 4015 §3.2 Eifel response to a spurious retransmission (called with SND.UNA already
   * advanced by the detecting ACK): restore cwnd, ssthresh and CUBIC state, leave loss recovery,
   * and after a spurious RTO resume with new data from SND.MAX instead of going back N
   * (§3.2 step (4): SND.NXT ← SND.MAX). A spurious fast retransmit means data was reordered by
   * `overtook` segments: DupThresh rises to exceed that (bounded), as Linux's tp->reordering.
   */
  private undoSpurious(t: Tcb, overtook: number): void {
    const rto = t.undoRto;
    t.undoTsVal = -1;
    t.undoRto = false;
    if (t.undoCwnd > t.cwnd) t.cwnd = t.undoCwnd;
    if (t.undoSsthresh > t.ssthresh) t.ssthresh = t.undoSsthresh;
    // undoSave ran first (it set undoTsVal, which is how we got here), so undoCubic exists.
    if (t.undoCubic !== null) copyCubicState(t.cubic, t.undoCubic);
    t.inRecovery = false;
    t.rtoRecovery = false;
    t.rtxOne = false;
    t.dupAcks = 0;
    t.bytesAcked = 0;
    if (seqLt(t.sndNxt, t.sndMax)) t.sndNxt = t.sndMax;
    if (rto) this.st.spuriousRetransmits.rto++;
    else {
      this.st.spuriousRetransmits.fast++;
      t.reordering = Math.min(MAX_REORDERING, Math.max(t.reordering + 1, overtook));
    }
  }

  /** Bytes in the SACK scoreboard. */
  private sackedBytes(t: Tcb): number {
    const sb = t.sacked;
    let n = 0;
    for (let i = 0; i < sb.length; i += 2) n += (sb[i + 1] - sb[i]) >>> 0;
    return n;
  }

  /** Whether `seq` lies inside a SACKed block. */
  private sackedAt(t: Tcb, seq: number): boolean {
    const sb = t.sacked;
    for (let i = 0; i < sb.length; i += 2) if (seqGe(seq, sb[i]) && seqLt(seq, sb[i + 1])) return true;
    return false;
  }

  /**
   * RFC 8985 §7 tail loss probe: when the tail of a flight goes unacknowledged for ~2·SRTT, send
   * one new segment (if the window allows) or retransmit the last one, so a lost tail is repaired
   * by SACK/fast recovery instead of waiting for the (≥ 200 ms) RTO.
   */
  private onTlp(c: TcpConn, now: number): void {
    const t = c.tcb;
    // Not while SND.NXT is behind SND.MAX: that is loss recovery after an RTO rewind (or a
    // restore's adoption of the peer's ACK, whose SND.MAX may lie megabytes ahead), where the
    // probe's "last segment" would be far beyond anything sent in order (RFC 8985 §7.2: a TLP is
    // scheduled only when the connection is not in loss recovery).
    if (c.unready || t.sndUna === t.sndMax || t.inRecovery || t.tlpOut || t.sndNxt !== t.sndMax || !isSynchronized(t.state)) return;
    t.tlpOut = true;
    const emss = this.effMss(t);
    const dataEnd = (t.bufSeq + t.sendBuf.length) >>> 0;
    const unsent = this.unsent(t);
    const usable = (t.sndUna + t.sndWnd - t.sndNxt) | 0;
    if (unsent > 0 && t.fillRemaining === 0 && usable >= Math.min(unsent, emss) && t.sndNxt === t.sndMax) {
      const len = Math.min(unsent, emss);
      const fin = t.finQueued && ((t.sndNxt + len) >>> 0) === dataEnd;
      this.xmit(c, t.sndNxt, len, ACK | (fin ? FIN : 0), now, null);
      t.sndNxt = (t.sndNxt + len + (fin ? 1 : 0)) >>> 0;
    } else {
      const finSent = t.finQueued && seqGt(t.sndMax, dataEnd);
      const top = finSent ? dataEnd : t.sndMax;
      const len = Math.max(0, Math.min(emss, (top - t.sndUna) | 0));
      const seq = (top - len) >>> 0;
      if (len === 0 && !finSent) return;
      this.xmit(c, seq, len, ACK | (finSent ? FIN : 0), now, 'tlp');
    }
    t.timers.rtx = now + t.rto; // §7.3: the RTO restarts after the probe
  }

  /** Zero-window probe (RFC 9293 §3.8.6.1) or SWS override (§3.8.6.2.1). */
  private onPersist(c: TcpConn, now: number): void {
    const t = c.tcb;
    const unsent = this.unsent(t);
    if (unsent <= 0) return;
    if (t.lastProbeAt >= 0 && t.lastRecvTime < t.lastProbeAt && now - t.lastRecvTime >= t.userTimeout) {
      // Probes unanswered for the user timeout: the peer is gone (a live peer answers them).
      this._abort(c, err('ETIMEDOUT', 'connection timed out (zero-window probes unanswered)', { syscall: 'write' }), true);
      return;
    }
    if (t.sndWnd === 0) {
      // Probe with an out-of-window ACK (SND.UNA − 1) that forces the peer to report its window.
      this.xmit(c, (t.sndUna - 1) >>> 0, 0, ACK, now, null);
      t.lastProbeAt = now;
      t.persistBackoff++;
      t.timers.persist = now + this.persistInterval(t);
    } else {
      this.forceSend = true;
    }
  }

  private persistInterval(t: Tcb): number {
    return Math.min(this.maxRto, Math.max(this.minRto, t.rto) * 2 ** Math.min(t.persistBackoff, 16));
  }

  private onKeepalive(c: TcpConn, now: number): void {
    const t = c.tcb;
    if (!t.keepAlive || !(t.state === 'ESTABLISHED' || t.state === 'CLOSE_WAIT' || t.state === 'FIN_WAIT_2')) return;
    if (t.keepAliveSent === 0 && now < t.lastRecvTime + t.keepAliveIdle) {
      t.timers.keepalive = t.lastRecvTime + t.keepAliveIdle;
      return;
    }
    if (t.keepAliveSent > 0 && now < t.lastRecvTime + t.keepAliveIdle) {
      t.keepAliveSent = 0;
      t.timers.keepalive = t.lastRecvTime + t.keepAliveIdle;
      return;
    }
    if (t.sndUna !== t.sndMax) {
      // Data outstanding: the retransmission timer watches the peer.
      t.timers.keepalive = now + t.keepAliveIdle;
      return;
    }
    if (t.keepAliveSent >= t.keepAliveProbes) {
      this._abort(c, err('ETIMEDOUT', 'keepalive: peer not responding', { syscall: 'read' }), true);
      return;
    }
    // RFC 1122 §4.2.3.6: a probe is an ACK with SEG.SEQ = SND.NXT − 1, no data.
    this.xmit(c, (t.sndMax - 1) >>> 0, 0, ACK, now, null);
    t.keepAliveSent++;
    t.timers.keepalive = now + t.keepAliveInterval;
  }

  private armKeepalive(t: Tcb): void {
    t.timers.keepalive = t.keepAlive ? t.lastRecvTime + t.keepAliveIdle : Infinity;
  }

  // ------------------------------------------------------------------------------------------
  // Output
  // ------------------------------------------------------------------------------------------

  private forceSend = false;

  private unsent(t: Tcb): number {
    return ((t.bufSeq + t.sendBuf.length - t.sndNxt) | 0);
  }

  private output(c: TcpConn, now: number): void {
    const t = c.tcb;
    const force = this.forceSend;
    this.forceSend = false;
    switch (t.state) {
      case 'CLOSED':
      case 'LISTEN':
        return;
      case 'SYN_SENT':
      case 'SYN_RECEIVED':
        if (t.sndNxt === t.iss) {
          const flags = t.state === 'SYN_SENT' ? SYN : SYN | ACK;
          if (t.synRetries === 0) t.rttTime = now;
          let tsVal = 0;
          if (t.tsOk) tsVal = this.tsNow(t, now);
          this.emitSyn(t, flags, t.iss, now, tsVal);
          t.sndNxt = (t.iss + 1) >>> 0;
          if (seqGt(t.sndNxt, t.sndMax)) t.sndMax = t.sndNxt;
          t.timers.rtx = now + t.rto;
        } else if (t.ackNow && t.state === 'SYN_RECEIVED') {
          this.xmit(c, t.sndMax, 0, ACK, now, null);
        }
        return;
      case 'TIME_WAIT':
        if (t.ackNow) this.xmit(c, t.sndMax, 0, ACK, now, null);
        return;
      default:
        break;
    }
    if (c.unready) {
      // Unready (restored): only the solicitation, an ACK with an out-of-window sequence
      // number the peer must answer with its current ACK (RFC 9293 §3.10.7.4 first).
      if (t.ackNow) this.xmit(c, (t.sndUna - 1) >>> 0, 0, ACK, now, null);
      return;
    }
    const mss = t.sndMss;
    const dataEnd = (t.bufSeq + t.sendBuf.length) >>> 0;
    let sentAny = false;
    const off = this.ctx.ip.offloads;
    // Largest TSO payload: the frame limit minus headroom and a header with options.
    const tsoMax = off.tso && off.txChecksum ? Math.min(off.maxFrame - this.ctx.ip.headroom - 60, 65535 - 20 - 60) : 0;

    // RFC 5681 §4.1: restart from the initial window after an idle period of one RTO.
    if (t.sndMax === t.sndUna && this.unsent(t) > 0 && now - t.lastSendTime > t.rto) ccRestartAfterIdle(t);

    // Fast retransmit / partial-ACK retransmission of the segment at SND.UNA.
    if (t.rtxOne) {
      t.rtxOne = false;
      const avail = (dataEnd - t.sndUna) | 0;
      if (avail > 0) {
        const len = Math.min(this.effMss(t), avail);
        const fin = t.finQueued && t.fillRemaining === 0 && ((t.sndUna + len) >>> 0) === dataEnd && seqGt(t.sndMax, dataEnd);
        this.xmit(c, t.sndUna, len, ACK | (fin ? FIN : 0), now, t.rtxCause as 'fast' | 'sack');
        if (seqGt((t.sndUna + len) >>> 0, t.highRxt)) t.highRxt = (t.sndUna + len) >>> 0;
        sentAny = true;
      } else if (t.finQueued && t.sndUna === dataEnd && seqGt(t.sndMax, dataEnd)) {
        this.xmit(c, dataEnd, 0, ACK | FIN, now, t.rtxCause as 'fast' | 'sack');
        sentAny = true;
      } else if (t.inRecovery && (t.fillRemaining > 0 || c.fillSkip > 0)) {
        // The bytes at SND.UNA are not in the queue yet (object-mapped refill still running):
        // the retransmission RFC 5681 §3.2 step 4 / RFC 6675 §5 (4.2) calls for stays pending
        // until send() brings them (an RTO that can retransmit clears it). Dropping it left
        // only NextSeg, which may be blocked by pipe >= cwnd, to repair SND.UNA.
        t.rtxOne = true;
      }
    }

    if (t.inRecovery && t.sackOk) {
      // RFC 6675 §5 (C): while cwnd − pipe ≥ 1 SMSS, send NextSeg().
      const lost = this.lostEdge(t);
      let pipe = this.pipe(t, lost);
      // A persist expiry (`force`) sends one segment even when pipe leaves no room: RFC 9293
      // §3.8.6.1 / RFC 1122 §4.2.2.17, the probe must go out (ignoring it here re-armed the
      // persist timer for nothing, again and again, for as long as the recovery lasted).
      for (let guard = 0; guard < 1024 && (t.cwnd - pipe >= mss || (force && !sentAny)); guard++) {
        const emss = this.effMss(t);
        const hole = this.nextLostHole(t, lost);
        if (hole >= 0) {
          const start = hole >>> 0;
          const end = this.holeEnd(t, start, lost);
          const len = Math.min(emss, (end - start) >>> 0, (dataEnd - start) | 0);
          if (len <= 0) {
            if (start === dataEnd && t.finQueued && seqGt(t.sndMax, dataEnd)) {
              // The lost "byte" is our FIN.
              this.xmit(c, dataEnd, 0, ACK | FIN, now, 'sack');
              t.highRxt = (dataEnd + 1) >>> 0;
              sentAny = true;
            }
            break;
          }
          this.xmit(c, start, len, ACK, now, 'sack');
          t.highRxt = (start + len) >>> 0;
          pipe += len;
          sentAny = true;
          continue;
        }
        const unsent = this.unsent(t);
        const usable = (t.sndUna + t.sndWnd - t.sndNxt) | 0;
        const len = Math.min(emss, unsent, usable);
        if (len <= 0) break;
        const fin = t.finQueued && t.fillRemaining === 0 && ((t.sndNxt + len) >>> 0) === dataEnd;
        this.xmit(c, t.sndNxt, len, ACK | (fin ? FIN : 0), now, null);
        t.sndNxt = (t.sndNxt + len + (fin ? 1 : 0)) >>> 0;
        pipe += len;
        sentAny = true;
      }
    } else {
      // New data (and go-back-N after an RTO): cwnd, peer window, Nagle, sender SWS.
      for (;;) {
        const unsent = (dataEnd - t.sndNxt) | 0;
        if (unsent <= 0) break;
        const flight = (t.sndNxt - t.sndUna) >>> 0;
        const emss = this.effMss(t);
        // RFC 3042 limited transmit: the first two duplicate ACKs each release one new segment.
        // With a raised DupThresh (t.reordering) every duplicate ACK below it releases one.
        const cwnd = !t.inRecovery && t.dupAcks > 0 && t.dupAcks < t.reordering ? t.cwnd + t.dupAcks * mss : t.cwnd;
        const usable = Math.min((t.sndUna + t.sndWnd - t.sndNxt) | 0, cwnd - flight);
        let len = Math.min(emss, unsent, usable);
        if (tsoMax > emss && len === emss && !force && Math.min(unsent, usable) > emss) {
          // TSO: one super-segment of whole MSS-sized segments (plus the final short tail when
          // it ends the queued data); the link cuts it into `gsoSize` pieces.
          let big = Math.min(unsent, usable, tsoMax);
          if (big < unsent || big === tsoMax) big -= big % emss;
          const fin = t.finQueued && t.fillRemaining === 0 && ((t.sndNxt + big) >>> 0) === dataEnd;
          const rexmit = seqLt(t.sndNxt, t.sndMax);
          this.xmit(c, t.sndNxt, big, ACK | (fin ? FIN : 0), now, rexmit ? 'rto' : null, emss);
          t.sndNxt = (t.sndNxt + big + (fin ? 1 : 0)) >>> 0;
          sentAny = true;
          continue;
        }
        if (len <= 0) {
          if (force && flight === 0 && t.sndWnd > 0) len = Math.min(unsent, t.sndWnd, emss);
          else break;
        } else if (len < emss && !force) {
          // RFC 9293 §3.8.6.2.1 (sender SWS) with RFC 1122 §4.2.3.4 (Nagle): a short segment
          // goes only if it carries all queued data and nothing is unacknowledged (or Nagle
          // is off), or it is at least half the largest window the peer offered.
          const all = len === unsent;
          const rexmit = seqLt(t.sndNxt, t.sndMax);
          if (!(rexmit || (all && (t.noDelay || flight === 0 || t.finQueued)) || len >= t.maxSndWnd / 2)) break;
        }
        const fin = t.finQueued && t.fillRemaining === 0 && ((t.sndNxt + len) >>> 0) === dataEnd;
        const rexmit = seqLt(t.sndNxt, t.sndMax);
        this.xmit(c, t.sndNxt, len, ACK | (fin ? FIN : 0), now, rexmit ? 'rto' : null);
        t.sndNxt = (t.sndNxt + len + (fin ? 1 : 0)) >>> 0;
        sentAny = true;
        if (force) break;
      }
    }
    // A FIN with no data left to carry it.
    if (t.finQueued && t.fillRemaining === 0 && t.sndNxt === dataEnd && this.unsent(t) === 0) {
      const rexmit = seqLt(t.sndNxt, t.sndMax);
      this.xmit(c, dataEnd, 0, ACK | FIN, now, rexmit ? 'rto' : null);
      t.sndNxt = (dataEnd + 1) >>> 0;
      sentAny = true;
    }
    if (!sentAny && t.ackNow) this.xmit(c, t.sndMax, 0, ACK, now, null);

    // Timers: retransmission while anything is outstanding (RFC 6298 (5.1)); persist when the
    // peer's window keeps queued data back and nothing is in flight.
    const T = t.timers;
    // RFC 6298 (5.1): the timer runs while data is outstanding. With SND.NXT pulled back to
    // SND.UNA (RTO, restore adoption) and the bytes to resend not in the queue yet (object-mapped
    // refill) nothing was sent and no timer ran: no retransmission, no user timeout, and the
    // keepalive defers to this timer — a connection stuck for good if the bytes never came.
    // (Queued bytes held back by a zero window are the persist timer's, below.)
    if (T.rtx === Infinity && t.sndUna !== t.sndMax && t.sndNxt === t.sndUna && this.unsent(t) <= 0) T.rtx = now + t.rto;
    if (t.sndUna !== t.sndMax && seqGt(t.sndNxt, t.sndUna)) {
      if (T.rtx === Infinity) T.rtx = now + t.rto;
      // RFC 8985 §7.2: (re)arm the probe timeout, PTO = 2·SRTT (+ a delayed-ACK allowance when
      // a single segment is in flight), only when it would fire before the RTO.
      if (T.tlp === Infinity && !t.tlpOut && !t.inRecovery && t.sndNxt === t.sndMax && t.backoff === 0 && t.srtt > 0 && this.tlpEnabled) {
        let pto = Math.max(2 * t.srtt, 10);
        if (((t.sndMax - t.sndUna) >>> 0) <= t.sndMss) pto += 200;
        if (now + pto < T.rtx) T.tlp = now + pto;
      }
    }
    // (After an RTO rewind SND.MAX may be ahead: what counts is that nothing goes out now.)
    if (this.unsent(t) > 0 && t.sndNxt === t.sndUna) {
      if (T.persist === Infinity) T.persist = now + this.persistInterval(t);
    } else if (t.sndWnd > 0) {
      T.persist = Infinity;
    }
  }

  /** First lost, not yet retransmitted byte (RFC 6675 NextSeg rule 1), or −1. */
  private nextLostHole(t: Tcb, lostEdge: number): number {
    const sb = t.sacked;
    let a = seqMax(t.sndUna, t.highRxt);
    for (let i = 0; i <= sb.length; i += 2) {
      const b = i < sb.length ? sb[i] : t.sndNxt;
      if (i < sb.length && seqGe(a, sb[i]) && seqLt(a, sb[i + 1])) {
        a = sb[i + 1];
        continue;
      }
      if (seqLt(a, b) && seqLt(a, lostEdge)) return a;
      if (i < sb.length && seqLt(a, sb[i + 1])) a = sb[i + 1];
    }
    return -1;
  }

  private holeEnd(t: Tcb, start: number, lostEdge: number): number {
    const sb = t.sacked;
    for (let i = 0; i < sb.length; i += 2) if (seqGt(sb[i], start)) return seqLt(sb[i], lostEdge) ? sb[i] : lostEdge;
    return lostEdge;
  }

  /** Send MSS minus the options every data segment carries (RFC 9293 §3.7.1). */
  private effMss(t: Tcb): number {
    let m = t.sndMss - (t.tsOk ? 12 : 0);
    if (t.sackOk && !t.ooo.empty) m -= 4 + 8 * Math.min(t.tsOk ? 3 : 4, t.ooo.segs.length);
    return Math.max(8, m);
  }

  /** Window to advertise (bytes), with receiver SWS avoidance; updates RCV.NXT + RCV.WND. */
  private advertise(t: Tcb): number {
    const avail = Math.max(0, t.rcvBufSize - t.heldBytes);
    const cur = Math.max(0, (t.rcvAdvEdge - t.rcvNxt) | 0);
    let w = cur;
    // RFC 9293 §3.8.6.2.2: move the right edge only by min(buffer/2, MSS) or more.
    if (avail > cur && avail - cur >= Math.min(t.rcvBufSize / 2, t.rcvMss)) w = avail;
    const max = 65535 * 2 ** t.rcvWscale;
    if (w > max) w = max;
    const unit = 2 ** t.rcvWscale;
    let field = w === cur ? Math.ceil(w / unit) : Math.floor(w / unit);
    if (field > 65535) field = 65535;
    const edge = (t.rcvNxt + field * unit) >>> 0;
    if (seqGt(edge, t.rcvAdvEdge)) t.rcvAdvEdge = edge;
    return field;
  }

  private windowUpdateDue(t: Tcb): boolean {
    const avail = Math.max(0, t.rcvBufSize - t.heldBytes);
    const cur = Math.max(0, (t.rcvAdvEdge - t.rcvNxt) | 0);
    return avail > cur && avail - cur >= Math.min(t.rcvBufSize / 2, t.rcvMss);
  }

  /** Send a SYN or SYN,ACK with our options. */
  private emitSyn(t: Tcb, flags: number, seq: number, now: number, tsVal: number): void {
    const o = this.txOpts;
    clearTcpOptions(o);
    o.mss = t.rcvMss;
    if (t.wsOk) o.windowScale = t.rcvWscale;
    if (t.sackOk) o.sackPermitted = true;
    if (t.tsOk) {
      o.tsVal = tsVal;
      o.tsEcr = flags & ACK ? t.tsRecent : 0;
    }
    // RFC 7323 §2.2: the window in a SYN is not scaled.
    const wnd = Math.min(65535, t.rcvBufSize);
    if (flags & ACK) {
      t.rcvAdvEdge = (t.rcvNxt + wnd) >>> 0;
      t.lastAckSent = t.rcvNxt;
    }
    this.emit(t.localAddress, t.localPort, t.remoteAddress, t.remotePort, seq, flags & ACK ? t.rcvNxt : 0, flags, wnd, o, null, 0, 0);
    void now;
  }

  /**
   * Send one segment of a synchronized connection: ACK + optional data/FIN. Pure ACKs and RSTs
   * use SND.MAX, not SND.NXT: after an RTO rewinds SND.NXT, a pure ACK with the rewound (old)
   * sequence number would itself be unacceptable to the peer (§3.10.7.4 first) and its ACK
   * field ignored — with both sides retransmitting, neither would ever learn of the other's
   * progress.
   */
  private xmit(c: TcpConn, seq: number, len: number, flags: number, now: number, rtxCause: 'rto' | 'fast' | 'sack' | 'tlp' | null, gsoSize = 0): void {
    const t = c.tcb;
    const o = this.txOpts;
    clearTcpOptions(o);
    if (t.tsOk) {
      o.tsVal = this.tsNow(t, now);
      o.tsEcr = t.tsRecent;
    }
    if (t.sackOk && !t.ooo.empty) t.ooo.sackBlocks(t.rcvNxt, t.tsOk ? 3 : 4, o.sack);
    const wnd = this.advertise(t);
    if (len > 0 && ((seq + len) >>> 0) === ((t.bufSeq + t.sendBuf.length) >>> 0)) flags |= PSH;
    const bufOff = (seq - t.bufSeq) >>> 0;
    this.emit(t.localAddress, t.localPort, t.remoteAddress, t.remotePort, seq, t.rcvNxt, flags, wnd, o, len > 0 ? t : null, bufOff, len, len > gsoSize ? gsoSize : 0);
    // Every segment carries the current ACK: the delayed ACK is satisfied.
    t.lastAckSent = t.rcvNxt;
    t.ackNow = false;
    t.unackedBytes = 0;
    t.timers.delack = Infinity;
    const seqLen = len + (flags & FIN ? 1 : 0);
    if (seqLen > 0) {
      const end = (seq + seqLen) >>> 0;
      if (rtxCause !== null || seqLt(seq, t.sndMax)) {
        const n = gsoSize > 0 ? Math.ceil(len / gsoSize) : 1;
        this.st.retransSegs += n;
        this.st.retransmits[rtxCause ?? 'rto'] += n;
        // Karn: an RTT measured across a retransmission is ambiguous.
        if (t.rttSeq >= 0 && seqLe(seq, t.rttSeq)) t.rttSeq = -1;
      } else if (t.rttSeq < 0 && !t.tsOk) {
        t.rttSeq = end;
        t.rttTime = now;
      }
      if (seqGt(end, t.sndMax)) t.sndMax = end;
      t.lastSendTime = now;
      if (t.timers.rtx === Infinity) t.timers.rtx = now + t.rto;
    }
  }

  private sendRst(la: number, lp: number, ra: number, rp: number, seq: number, ack: number, flags: number): void {
    this.st.outRsts++;
    clearTcpOptions(this.txOpts);
    this.emit(la, lp, ra, rp, seq, ack, flags, 0, this.txOpts, null, 0, 0);
  }

  /** Build one segment in place behind the IP layer's headroom and hand it down. */
  private emit(
    la: number,
    lp: number,
    ra: number,
    rp: number,
    seq: number,
    ack: number,
    flags: number,
    wnd: number,
    o: TcpOptionsRepr,
    dataFrom: Tcb | null,
    bufOff: number,
    len: number,
    gsoSize = 0,
  ): void {
    const ip = this.ctx.ip;
    const hr = ip.headroom;
    const hl = TCP_HEADER_LEN + tcpOptionsLength(o);
    const total = hl + len;
    const buf = allocBytes(hr + total);
    const v = this.txView.reset(buf, hr, total);
    v.srcPort = lp;
    v.dstPort = rp;
    v.seq = seq;
    v.ack = flags & ACK ? ack : 0;
    buf[hr + 12] = (hl >>> 2) << 4;
    v.flags = flags;
    v.window = wnd;
    emitTcpOptions(o, buf, hr + TCP_HEADER_LEN);
    if (len > 0 && dataFrom) dataFrom.sendBuf.copyOut(bufOff, len, buf, hr + hl);
    let tx: import('../link.js').TxMeta | undefined;
    if (ip.offloads.txChecksum) {
      v.fillPartialChecksum(la, ra);
      tx = gsoSize > 0 ? { csumStart: 0, csumOffset: 16, gsoSize, hdrLen: hl } : { csumStart: 0, csumOffset: 16 };
    } else v.fillChecksum(la, ra);
    this.st.outSegs += gsoSize > 0 ? Math.ceil(len / gsoSize) : 1;
    ip.sendIp(buf, total, tx ? { src: la, dst: ra, protocol: TCP_PROTO, tx } : { src: la, dst: ra, protocol: TCP_PROTO });
  }
}

/** Sequence space a segment occupies: data + SYN + FIN. */
function segLen(s: Seg): number {
  return s.dataLen + (s.flags & SYN ? 1 : 0) + (s.flags & FIN ? 1 : 0);
}

/** start ≤ x < start + len (mod 2^32). */
function inWin(x: number, start: number, len: number): boolean {
  return ((x - start) >>> 0) < len;
}

const NO_BYTES = new Uint8Array(0);

/** Forget received bytes the application will never read. */
function dropHeld(t: Tcb): void {
  t.held.length = 0;
  t.heldBytes = 0;
  t.finToDeliver = false;
}
