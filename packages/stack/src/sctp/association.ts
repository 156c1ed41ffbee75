/**
 * One SCTP association (RFC 9260), sans-IO.
 *
 * Read this first:
 * - All state lives in `this.s` (an `AssocState`, plain data): `snapshot()` is a deep copy and a
 *   restore is `new SctpAssoc(host, state)`. Timers are deadlines in that state; `pollAt()` is the
 *   earliest one and `poll(now)` runs due timers, then emits.
 * - Input: `receivePacket()` for every packet the layer demultiplexed to us (verification tags are
 *   checked here, §8.5). Output happens only in `poll()`: control chunks first, then a SACK
 *   (bundled with DATA to the same destination when possible), then retransmissions, then new DATA
 *   within cwnd and the peer's window (§6.1).
 * - TSNs are assigned when a message is queued (`send()`), so a snapshot pins down which TSN each
 *   queued byte will carry; the replication gate (`gate`) then holds back any DATA or SACK the
 *   last replicated snapshot does not cover (seed 004: a secondary must never contradict what the
 *   peer has seen).
 * - Paths: per destination RTO (§6.3), cwnd/ssthresh (§7.2), error counter; PF state (RFC 7829)
 *   when errors exceed PFMR, inactive beyond PMR (§8.2), association aborted beyond AMR (§8.1).
 */
import {
  SctpCause,
  seqAdd,
  seqGe,
  seqGt,
  seqLe,
  seqLt,
  seqSub,
  unknownChunkAction,
  unknownParamAction,
  emitSctpChunk,
  emitSctpHeader,
  sctpChunkLength,
  sctpFillChecksum,
  sctpPad4,
  SCTP_HEADER_LEN,
  SCTP_PROTOCOL,
  type SctpChunk,
  type SctpRepr,
  type SctpSackChunk,
  type SctpDataChunk,
  type SctpInitChunk,
} from '@hastack/wire';
import { err, type HastackError } from '../errors.js';
import type { IpLayer } from '../engine/types.js';
import type { AssocState, OutChunk, PathState, SctpPathStateName, SctpProtocolOptions, SctpSnapshot, HeldChunk } from './types.js';

/** Callbacks to the owner (the API object). */
export interface AssocEvents {
  onConnect(): void;
  onMessage(data: Uint8Array, info: { stream: number; ppid: number; unordered: boolean }): void;
  onPathChange(addr: number, state: SctpPathStateName, primary: boolean): void;
  onShutdown(): void;
  onClosed(error?: HastackError): void;
  onDrain(): void;
}

/** What the replication helper may see and control. */
export interface AssocHooks {
  /** Called in `poll()` after timers and before any output (take a snapshot here). */
  beforeEmit?(now: number): void;
}

/** The replication gate: output must stay within the last replicated snapshot. */
export interface ReplicationGate {
  cumTsn: number;
  rcvdAbove: number[];
  /** DATA with TSN before this may be sent. */
  nextTsn: number;
}

/** Services of the owning SctpLayer. */
export interface AssocHost {
  readonly ip: IpLayer;
  readonly opts: SctpProtocolOptions;
  random32(): number;
  counters: Record<string, number>;
  unregister(a: SctpAssoc): void;
  /** Register an extra peer address for demultiplexing. */
  registerAddr(a: SctpAssoc, addr: number): void;
  /** Handle a COOKIE ECHO that restarts the association (§5.2.4 case A). */
  restart?(a: SctpAssoc, repr: SctpRepr, src: number, dst: number, now: number): void;
  /** Build an INIT ACK answering `init` for this association (§5.2.1, §5.2.2). */
  sendInitAck(a: SctpAssoc, init: SctpInitChunk, src: number, dst: number, myTag: number, myInitialTsn: number, now: number): void;
  /** Check a COOKIE ECHO for an existing association: the decoded cookie or null (bad/stale, handled). */
  openCookie(cookie: Uint8Array): { myTag: number; peerTag: number; peerInitialTsn: number; created: number; life: number } | null;
}

const MAX_DUPS = 16;
/** Control chunks queued between two output passes (a HEARTBEAT flood cannot grow memory). */
const MAX_CTRL = 256;
/** Largest TSN distance above cumTsn we hold (bounds rcvdAbove and `held`). */
const MAX_TSN_WINDOW = 65536;
const IP_HEADER = 20;
/** Bytes of DATA chunk header. */
const DATA_HDR = 16;

interface CtrlItem {
  chunk: SctpChunk;
  dst: number;
  /** Send with the peer's tag and the T bit semantics handled by the caller: explicit tag. */
  vtag?: number;
}

export function newPath(addr: number, state: SctpPathStateName, o: SctpProtocolOptions, mtu: number, peerRwnd: number): PathState {
  return {
    addr,
    state,
    errors: 0,
    srtt: 0,
    rttvar: 0,
    rto: o.rtoInitial,
    rttMeasured: false,
    // §7.2.1: initial cwnd = min(4*MTU, max(2*MTU, 4380)).
    cwnd: Math.min(4 * mtu, Math.max(2 * mtu, 4380)),
    ssthresh: peerRwnd || 0x7fffffff,
    partialBytesAcked: 0,
    flight: 0,
    t3At: Infinity,
    hbAt: Infinity,
    hbOutstanding: false,
    hbNonce: 0,
    hbSentAt: 0,
    rttTsn: 0,
    rttSentAt: 0,
    rttActive: false,
    lastSend: 0,
  };
}

export function newCounters(): AssocState['stats'] {
  return { dataChunksOut: 0, dataChunksIn: 0, retransmits: 0, fastRetransmits: 0, t3Expiries: 0, sacksOut: 0, sacksIn: 0, dupTsnsIn: 0, messagesOut: 0, messagesIn: 0, bytesOut: 0, bytesIn: 0 };
}

export class SctpAssoc {
  s: AssocState;
  events: AssocEvents | null = null;
  hooks: AssocHooks | null = null;
  gate: ReplicationGate | null = null;
  /** Output frozen (replication: impending failure handover). */
  frozen = false;
  /** Nothing leaves at all (replication: until the standby holds the association's record). */
  holdOutput = false;
  closed = false;
  /** Bumped on every state change (replication "after every update"). */
  version = 0;
  private ctrl: CtrlItem[] = [];
  private needOutput = true;
  private fastRetxPending = false;
  private lastDataSrc = -1;
  private aboveHighWater = false;
  private snapSeq = 0;
  /** Some chunk may be marked gap-acked (so a SACK without gap blocks must look for reneging). */
  private maybeGapAcked = true;
  /** Bytes newly acknowledged since the last output pass (ack clocking for Max.Burst). */
  private ackedSinceEmit = 0;
  /** Our address the last packet from the peer was sent to. */
  private lastLocal = 0;

  constructor(
    readonly host: AssocHost,
    state: AssocState,
  ) {
    this.s = state;
  }

  // -------------------------------------------------------------------------------------------
  // Accessors

  get state(): AssocState['state'] {
    return this.s.state;
  }
  /** Bytes queued or in flight. */
  get bufferedAmount(): number {
    return this.s.outBytes;
  }

  private mtu(addr: number): number {
    return this.host.ip.mtuFor(addr) || 1500;
  }

  /** Largest user data per DATA chunk towards the primary. */
  fragmentSize(): number {
    const p = this.s.paths[this.s.primary];
    return (this.mtu(p ? p.addr : 0) - IP_HEADER - SCTP_HEADER_LEN - DATA_HDR) & ~3;
  }

  touch(): void {
    this.version++;
    this.needOutput = true;
  }

  // -------------------------------------------------------------------------------------------
  // User commands (RFC 9260 §11.1)

  /**
   * SEND: fragment `data` into DATA chunks (§6.9) with TSNs and an SSN assigned now. Returns
   * whether the send buffer is still below its high-water mark (false: wait for 'drain').
   */
  send(data: Uint8Array, stream: number, ppid: number, unordered: boolean): boolean {
    const s = this.s;
    if (this.closed || s.state === 'CLOSED') throw err('ERR_SOCKET_CLOSED', 'association is closed');
    if (s.shutdownRequested || s.state === 'SHUTDOWN_PENDING' || s.state === 'SHUTDOWN_SENT' || s.state === 'SHUTDOWN_RECEIVED' || s.state === 'SHUTDOWN_ACK_SENT') {
      throw err('EPIPE', 'association is shutting down');
    }
    if (!Number.isInteger(stream) || stream < 0 || (s.numOut > 0 && stream >= s.numOut) || stream > 0xffff) {
      throw err('ERR_INVALID_ARG_VALUE', `stream ${stream} is not open (outbound streams: ${s.numOut})`, { info: { stream } });
    }
    if (data.length === 0) throw err('ERR_INVALID_ARG_VALUE', 'SCTP cannot send an empty message (§6.2: no user data)');
    const o = this.host.opts;
    if (data.length > o.maxMessageSize) throw err('EMSGSIZE', `message of ${data.length} bytes > maxMessageSize ${o.maxMessageSize}`);
    if (s.outBytes + data.length > o.sendBufferHardLimit) throw err('ENOBUFS', 'send buffer full');
    while (s.ssnOut.length <= stream) s.ssnOut.push(0);
    const ssn = unordered ? 0 : s.ssnOut[stream];
    if (!unordered) s.ssnOut[stream] = (ssn + 1) & 0xffff;
    const frag = Math.max(64, this.fragmentSize());
    for (let off = 0; off < data.length; off += frag) {
      const end = Math.min(data.length, off + frag);
      const c: OutChunk = {
        tsn: s.nextTsn,
        streamId: stream,
        ssn,
        ppid: ppid >>> 0,
        unordered,
        beginning: off === 0,
        ending: end === data.length,
        data: data.slice(off, end),
        sent: false,
        gapAcked: false,
        retx: false,
        fastRetx: false,
        missInd: 0,
        txCount: 0,
        sentAt: 0,
        path: -1,
      };
      s.nextTsn = seqAdd(s.nextTsn, 1);
      s.out.push(c);
    }
    s.outBytes += data.length;
    s.stats.messagesOut++;
    this.touch();
    const below = s.outBytes < o.sendBuffer;
    if (!below) this.aboveHighWater = true;
    return below;
  }

  /** SHUTDOWN (§9.2): stop accepting sends; SHUTDOWN goes out once everything is acknowledged. */
  shutdown(now: number): void {
    const s = this.s;
    if (this.closed) return;
    if (s.state === 'COOKIE_WAIT' || s.state === 'COOKIE_ECHOED') {
      // Nothing established yet: like ABORT without notifying the peer beyond an ABORT.
      this.abort(now);
      return;
    }
    if (s.state !== 'ESTABLISHED') return;
    s.shutdownRequested = true;
    s.state = 'SHUTDOWN_PENDING';
    this.touch();
    this.checkShutdownProgress(now);
  }

  /** ABORT (§9.1): send ABORT with a user-abort cause, drop everything. */
  abort(_now: number, reason = 'user abort'): void {
    if (this.closed) return;
    const s = this.s;
    if (s.state !== 'COOKIE_WAIT') {
      const info = new TextEncoder().encode(reason);
      this.sendNow([{ kind: 'abort', tBit: false, causes: [{ code: SctpCause.USER_ABORT, info }] }], this.currentPath(), s.peerTag);
    } else if (s.peerTag !== 0) {
      this.sendNow([{ kind: 'abort', tBit: false, causes: [] }], this.currentPath(), s.peerTag);
    }
    this.finish(undefined);
  }

  /** A plain-data deep copy of the association (seed 004 / checkpoint). */
  snapshot(now: number, app?: unknown): SctpSnapshot {
    const snap: SctpSnapshot = { kind: 'sctp-association', version: 1, takenAt: now, seq: ++this.snapSeq, state: structuredClone(this.s) };
    if (app !== undefined) snap.app = app;
    return snap;
  }

  /** Continue the snapshot sequence after adoption. */
  setSnapshotSeq(seq: number): void {
    this.snapSeq = seq;
  }

  // -------------------------------------------------------------------------------------------
  // Input

  /** Process one packet for this association (`src`, `dst`: its IP addresses). */
  receivePacket(repr: SctpRepr, src: number, dst: number, now: number): void {
    if (this.closed) return;
    const s = this.s;
    const c0 = repr.chunks[0];
    if (!c0) return;
    const C = this.host.counters;
    if (this.frozen) {
      // Handing over (seed 004): only heartbeats are answered; the secondary owns the rest.
      for (const c of repr.chunks) if (c.kind === 'heartbeat' && repr.verificationTag === s.myTag) this.queueControl({ kind: 'heartbeat-ack', info: c.info.slice() }, src);
      return;
    }
    this.lastLocal = dst;
    // §8.5 / §8.5.1: verification tag rules per first chunk.
    if (c0.kind === 'init') {
      if (repr.verificationTag !== 0) return void C.badVtag++;
      this.onInit(c0, src, dst, now);
      return;
    }
    if (c0.kind === 'abort' || c0.kind === 'shutdown-complete') {
      const ok = c0.tBit ? repr.verificationTag === s.peerTag : repr.verificationTag === s.myTag;
      if (!ok) return void C.badVtag++;
    } else if (c0.kind === 'cookie-echo') {
      this.onCookieEchoExisting(repr, c0.cookie, src, dst, now);
      return;
    } else if (repr.verificationTag !== s.myTag) {
      // §8.5.1 E: a SHUTDOWN ACK we cannot match is answered as out of the blue by the layer.
      return void C.badVtag++;
    }
    let dataPackets = false;
    let pathIdx = this.pathIndex(src);
    for (const c of repr.chunks) {
      if (this.closed) return;
      switch (c.kind) {
        case 'data':
          if (s.state === 'COOKIE_WAIT' || s.state === 'COOKIE_ECHOED') break;
          dataPackets = true;
          if (!this.onData(c, now)) return;
          break;
        case 'sack':
          this.onSack(c, now);
          break;
        case 'init-ack':
          this.onInitAck(c, src, now);
          break;
        case 'cookie-ack':
          this.onCookieAck(now);
          break;
        case 'heartbeat':
          this.pushCtrl({ chunk: { kind: 'heartbeat-ack', info: c.info.slice() }, dst: src });
          this.needOutput = true;
          break;
        case 'heartbeat-ack':
          this.onHeartbeatAck(c.info, src, now);
          break;
        case 'abort':
          this.finish(err(s.state === 'COOKIE_WAIT' || s.state === 'COOKIE_ECHOED' ? 'ECONNREFUSED' : 'ECONNRESET', 'association aborted by the peer', { info: { causes: c.causes.map((x) => x.code) } }));
          return;
        case 'shutdown':
          this.onShutdown(c.cumTsnAck, now);
          break;
        case 'shutdown-ack':
          this.onShutdownAck(src);
          break;
        case 'shutdown-complete':
          if (s.state === 'SHUTDOWN_ACK_SENT') this.finish(undefined);
          return;
        case 'error':
          this.onError(c.causes, now);
          break;
        case 'init':
        case 'cookie-echo':
          // Only valid alone (§6.10); the parser already rejected bundles.
          break;
        case 'unknown': {
          // §3.2: the upper two bits of the type decide.
          const act = unknownChunkAction(c.type);
          C.unknownChunks++;
          if (act.report) {
            const whole = new Uint8Array(4 + c.value.length);
            whole[0] = c.type;
            whole[1] = c.flags;
            whole[2] = (whole.length >> 8) & 0xff;
            whole[3] = whole.length & 0xff;
            whole.set(c.value, 4);
            this.pushCtrl({ chunk: { kind: 'error', causes: [{ code: SctpCause.UNRECOGNIZED_CHUNK, info: whole }] }, dst: src });
            this.needOutput = true;
          }
          if (act.stop) {
            pathIdx = -1;
            if (dataPackets) this.noteDataPacket(now, this.pathIndex(src));
            return;
          }
          break;
        }
      }
    }
    if (dataPackets) this.noteDataPacket(now, pathIdx);
    this.version++;
  }

  private noteDataPacket(now: number, pathIdx: number): void {
    const s = this.s;
    this.lastDataSrc = pathIdx;
    s.sackPending++;
    // §6.2: SACK at least every second packet with DATA (sent right away, so a burst of packets
    // processed in one batch is still acknowledged every second packet), and within sackDelay.
    if (s.sackPending >= this.host.opts.sackFreq) {
      if (s.state === 'ESTABLISHED' && !this.frozen && !this.holdOutput) this.sendSackNow();
      else s.sackNow = true;
    } else if (s.sackAt === Infinity) s.sackAt = now + this.host.opts.sackDelay;
    // §6.7: SACK immediately while there are gaps.
    if (s.rcvdAbove.length > 0) s.sackNow = true;
    // In SHUTDOWN_SENT every DATA packet is answered by SACK + SHUTDOWN (§9.2).
    if (s.state === 'SHUTDOWN_SENT') {
      s.sackNow = true;
      this.pushCtrl({ chunk: { kind: 'shutdown', cumTsnAck: this.reportedCum() }, dst: this.currentPath().addr });
    }
    this.needOutput = true;
  }

  pathIndex(addr: number): number {
    const ps = this.s.paths;
    for (let i = 0; i < ps.length; i++) if (ps[i].addr === addr) return i;
    return -1;
  }

  private onInit(init: SctpInitChunk, src: number, dst: number, now: number): void {
    const s = this.s;
    if (init.initiateTag === 0) return;
    if (s.state === 'COOKIE_WAIT' || s.state === 'COOKIE_ECHOED') {
      // §5.2.1: INIT collision: answer with our existing tag and TSN.
      this.host.sendInitAck(this, init, src, dst, s.myTag, s.nextTsn, now);
    } else if (s.state === 'SHUTDOWN_ACK_SENT') {
      // §9.2: a SHUTDOWN ACK goes back instead.
      this.pushCtrl({ chunk: { kind: 'shutdown-ack' }, dst: src });
      this.needOutput = true;
    } else {
      // §5.2.2: unexpected INIT: INIT ACK with new tags; the COOKIE ECHO then restarts us.
      this.host.sendInitAck(this, init, src, dst, this.host.random32() || 1, this.host.random32(), now);
    }
  }

  private onCookieEchoExisting(repr: SctpRepr, cookie: Uint8Array, src: number, dst: number, now: number): void {
    const s = this.s;
    const c = this.host.openCookie(cookie);
    if (!c) return;
    if (repr.verificationTag !== c.myTag) return void this.host.counters.badVtag++;
    // §5.2.4 table.
    if (c.myTag === s.myTag && c.peerTag === s.peerTag) {
      // Case D: duplicate COOKIE ECHO.
      if (s.state === 'COOKIE_ECHOED' || s.state === 'COOKIE_WAIT') this.establish(now);
    } else if (c.myTag === s.myTag) {
      // Case B: INIT collision; adopt the peer's tag.
      s.peerTag = c.peerTag;
      s.peerInitialTsn = c.peerInitialTsn;
      s.cumTsn = seqAdd(c.peerInitialTsn, -1);
      if (s.state === 'COOKIE_ECHOED' || s.state === 'COOKIE_WAIT') this.establish(now);
    } else if (c.peerTag !== s.peerTag) {
      // Case A: the peer restarted.
      if (this.host.restart) this.host.restart(this, repr, src, dst, now);
      return;
    } else {
      return; // Case C: discard.
    }
    this.pushCtrl({ chunk: { kind: 'cookie-ack' }, dst: src });
    this.needOutput = true;
    // DATA bundled after the COOKIE ECHO.
    if (repr.chunks.length > 1) this.receivePacket({ ...repr, verificationTag: s.myTag, chunks: repr.chunks.slice(1) }, src, dst, now);
  }

  private onInitAck(c: SctpInitChunk, src: number, now: number): void {
    const s = this.s;
    if (s.state !== 'COOKIE_WAIT') return; // §5.2.3: discard elsewhere
    if (c.initiateTag === 0 || c.outboundStreams === 0 || c.inboundStreams === 0) {
      this.sendNow([{ kind: 'abort', tBit: false, causes: [{ code: SctpCause.INVALID_MANDATORY_PARAM, info: new Uint8Array(0) }] }], this.currentPath(), c.initiateTag);
      this.finish(err('ECONNREFUSED', 'invalid INIT ACK'));
      return;
    }
    let cookie: Uint8Array | null = null;
    const addrs: number[] = [];
    const unrecognized: Uint8Array[] = [];
    for (const p of c.params) {
      if (p.kind === 'cookie') cookie = p.cookie.slice();
      else if (p.kind === 'ipv4' && addrs.length < 16) addrs.push(p.addr);
      else if (p.kind === 'unknown') {
        // §3.2.1: the upper two bits decide; reported ones go back in an ERROR bundled with the
        // COOKIE ECHO (§3.3.3, Unrecognized Parameter).
        const act = unknownParamAction(p.type);
        if (act.report) {
          const tlv = new Uint8Array(sctpPad4(4 + p.value.length));
          tlv[0] = p.type >> 8;
          tlv[1] = p.type & 0xff;
          tlv[2] = (4 + p.value.length) >> 8;
          tlv[3] = (4 + p.value.length) & 0xff;
          tlv.set(p.value, 4);
          unrecognized.push(tlv);
        }
        if (act.stop) break;
      }
    }
    if (!cookie) {
      const info = new Uint8Array([0, 0, 0, 1, 0, 7]);
      this.sendNow([{ kind: 'abort', tBit: false, causes: [{ code: SctpCause.MISSING_PARAM, info }] }], this.currentPath(), c.initiateTag);
      this.finish(err('ECONNREFUSED', 'INIT ACK without a state cookie'));
      return;
    }
    s.peerTag = c.initiateTag;
    s.peerInitialTsn = c.initialTsn;
    s.cumTsn = seqAdd(c.initialTsn, -1);
    s.peerRwnd = c.aRwnd;
    s.numOut = Math.min(s.numOut, c.inboundStreams);
    s.numIn = Math.min(s.numIn, c.outboundStreams);
    s.ssnOut = new Array(s.numOut).fill(0);
    s.ssnIn = new Array(s.numIn).fill(0);
    // Peer addresses: the INIT ACK's source plus its IPv4 address parameters (§5.1.2).
    if (this.pathIndex(src) < 0) this.addPath(src, 'active');
    for (const a of addrs) if (this.pathIndex(a) < 0) this.addPath(a, 'unconfirmed');
    for (const p of s.paths) p.ssthresh = c.aRwnd || p.ssthresh;
    s.cookie = cookie;
    s.state = 'COOKIE_ECHOED';
    s.t1Count = 0;
    s.t1Rto = this.s.paths[s.primary].rto;
    s.t1At = now + s.t1Rto;
    s.initPacket = null;
    this.pushCtrl({ chunk: { kind: 'cookie-echo', cookie }, dst: s.paths[s.primary].addr });
    if (unrecognized.length > 0) {
      let n = 0;
      for (const u of unrecognized) n += u.length;
      const info = new Uint8Array(n);
      let o = 0;
      for (const u of unrecognized) {
        info.set(u, o);
        o += u.length;
      }
      this.pushCtrl({ chunk: { kind: 'error', causes: [{ code: SctpCause.UNRECOGNIZED_PARAMS, info }] }, dst: s.paths[s.primary].addr });
    }
    s.paths[s.primary].rttSentAt = now;
    this.touch();
  }

  addPath(addr: number, state: SctpPathStateName): void {
    this.s.paths.push(newPath(addr, state, this.host.opts, this.mtu(addr), this.s.peerRwnd));
    this.host.registerAddr(this, addr);
  }

  private onCookieAck(now: number): void {
    const s = this.s;
    if (s.state !== 'COOKIE_ECHOED') return;
    const p = s.paths[s.primary];
    // RTT sample from the COOKIE ECHO unless it was retransmitted (Karn).
    if (s.t1Count === 0) this.rttSample(p, now - p.rttSentAt);
    this.establish(now);
  }

  /** Enter ESTABLISHED (both sides) and start heartbeats (§5.4 path confirmation, §8.3). */
  establish(now: number): void {
    const s = this.s;
    s.state = 'ESTABLISHED';
    s.t1At = Infinity;
    s.t1Count = 0;
    s.cookie = null;
    s.initPacket = null;
    for (const p of s.paths) {
      p.hbAt = p.state === 'unconfirmed' ? now : now + p.rto + this.host.opts.hbInterval;
      p.lastSend = now;
    }
    this.touch();
    this.events?.onConnect();
  }

  private onError(causes: { code: number; info: Uint8Array }[], now: number): void {
    const s = this.s;
    for (const c of causes) {
      this.host.counters.errorsIn++;
      if (c.code === SctpCause.STALE_COOKIE && s.state === 'COOKIE_ECHOED') {
        // §5.2.6: start over with a new INIT asking for a longer cookie life.
        s.t1Count++;
        if (s.t1Count > this.host.opts.maxInitRetrans) {
          this.finish(err('ETIMEDOUT', 'handshake failed: stale cookies'));
          return;
        }
        const staleUs = c.info.length >= 4 ? ((c.info[0] << 24) | (c.info[1] << 16) | (c.info[2] << 8) | c.info[3]) >>> 0 : 0;
        s.preservative = Math.min(60000, Math.ceil(staleUs / 1000) + 1000);
        s.state = 'COOKIE_WAIT';
        s.peerTag = 0;
        s.initPacket = null;
        this.pushCtrl({ chunk: this.initChunk(), dst: s.paths[s.primary].addr, vtag: 0 });
        s.t1At = now + s.t1Rto;
        this.touch();
      }
    }
  }

  /** Our INIT (used by connect and after a stale cookie). */
  initChunk(): SctpChunk {
    const s = this.s;
    const params: SctpInitChunk['params'] = [];
    if (s.localAddrs.length > 1) for (const a of s.localAddrs) params.push({ kind: 'ipv4', addr: a });
    params.push({ kind: 'supported-address-types', types: [5] });
    if (s.preservative > 0) params.push({ kind: 'cookie-preservative', increment: s.preservative });
    return {
      kind: 'init',
      initiateTag: s.myTag,
      aRwnd: this.host.opts.receiveBuffer,
      outboundStreams: s.numOut,
      inboundStreams: s.numIn,
      initialTsn: s.nextTsn,
      params,
    };
  }

  // --- DATA (§6.2)

  /** Returns false when the association was aborted. */
  private onData(c: SctpDataChunk, now: number): boolean {
    const s = this.s;
    const C = this.host.counters;
    const tsn = c.tsn;
    s.stats.dataChunksIn++;
    if (c.data.length === 0) {
      // §6.2: a DATA chunk without user data aborts the association.
      const info = new Uint8Array(4);
      info[0] = tsn >>> 24;
      info[1] = (tsn >>> 16) & 0xff;
      info[2] = (tsn >>> 8) & 0xff;
      info[3] = tsn & 0xff;
      this.sendNow([{ kind: 'abort', tBit: false, causes: [{ code: SctpCause.NO_USER_DATA, info }] }], this.currentPath(), s.peerTag);
      this.finish(err('ERR_SCTP_PROTOCOL', 'peer sent a DATA chunk without user data'));
      return false;
    }
    if (seqLe(tsn, s.cumTsn) || this.isAbove(tsn)) {
      s.stats.dupTsnsIn++;
      if (s.dupTsns.length < MAX_DUPS) s.dupTsns.push(tsn);
      s.sackNow = true;
      return true;
    }
    if (seqSub(tsn, s.cumTsn) > MAX_TSN_WINDOW) {
      C.dropWindow++;
      return true;
    }
    const inStream = c.streamId < s.numIn;
    if (inStream && s.heldBytes + c.data.length > this.host.opts.receiveBuffer && tsn !== seqAdd(s.cumTsn, 1)) {
      // §6.2: no room: drop; the peer retransmits.
      C.dropRwnd++;
      return true;
    }
    // Mark the TSN received.
    if (tsn === seqAdd(s.cumTsn, 1)) {
      s.cumTsn = tsn;
      let k = 0;
      while (k < s.rcvdAbove.length && s.rcvdAbove[k] === seqAdd(s.cumTsn, 1)) s.cumTsn = s.rcvdAbove[k++];
      if (k > 0) s.rcvdAbove.splice(0, k);
    } else {
      let i = s.rcvdAbove.length;
      while (i > 0 && seqGt(s.rcvdAbove[i - 1], tsn)) i--;
      s.rcvdAbove.splice(i, 0, tsn);
    }
    if (!inStream) {
      // §6.5: invalid stream: report, acknowledge the TSN, discard the data.
      const info = new Uint8Array(4);
      info[0] = c.streamId >> 8;
      info[1] = c.streamId & 0xff;
      this.pushCtrl({ chunk: { kind: 'error', causes: [{ code: SctpCause.INVALID_STREAM, info }] }, dst: this.currentPath().addr });
      C.invalidStream++;
      return true;
    }
    const h: HeldChunk = {
      tsn,
      streamId: c.streamId,
      ssn: c.ssn,
      ppid: c.ppid,
      unordered: c.unordered,
      beginning: c.beginning,
      ending: c.ending,
      data: c.data.slice(),
    };
    let i = s.held.length;
    while (i > 0 && seqGt(s.held[i - 1].tsn, tsn)) i--;
    s.held.splice(i, 0, h);
    s.heldBytes += h.data.length;
    s.stats.bytesIn += h.data.length;
    return this.deliver(now);
  }

  private isAbove(tsn: number): boolean {
    const a = this.s.rcvdAbove;
    let lo = 0;
    let hi = a.length;
    while (lo < hi) {
      const m = (lo + hi) >>> 1;
      if (seqLt(a[m], tsn)) lo = m + 1;
      else hi = m;
    }
    return lo < a.length && a[lo] === tsn;
  }

  /** Deliver every complete message that ordering allows (§6.6), in one pass over `held`. */
  private deliver(now: number): boolean {
    const s = this.s;
    const held = s.held;
    let i = 0;
    let removed = false;
    const keep: HeldChunk[] = [];
    while (i < held.length) {
      const h = held[i];
      if (!h.beginning) {
        keep.push(h);
        i++;
        continue;
      }
      let j = i;
      let total = h.data.length;
      while (!held[j].ending && j + 1 < held.length && held[j + 1].tsn === seqAdd(held[j].tsn, 1) && held[j + 1].streamId === h.streamId && !held[j + 1].beginning) {
        j++;
        total += held[j].data.length;
      }
      if (total > this.host.opts.maxMessageSize) {
        // A partial message beyond our reassembly bound: out of resource (§3.3.10.4).
        this.sendNow([{ kind: 'abort', tBit: false, causes: [{ code: SctpCause.OUT_OF_RESOURCE, info: new Uint8Array(0) }] }], this.currentPath(), s.peerTag);
        this.finish(err('EMSGSIZE', `incoming message exceeds maxMessageSize ${this.host.opts.maxMessageSize}`));
        return false;
      }
      const complete = held[j].ending;
      const inOrder = h.unordered || h.ssn === s.ssnIn[h.streamId];
      if (!complete || !inOrder) {
        for (let k = i; k <= j; k++) keep.push(held[k]);
        i = j + 1;
        continue;
      }
      let msg: Uint8Array;
      if (i === j) msg = h.data;
      else {
        msg = new Uint8Array(total);
        let o = 0;
        for (let k = i; k <= j; k++) {
          msg.set(held[k].data, o);
          o += held[k].data.length;
        }
      }
      if (!h.unordered) s.ssnIn[h.streamId] = (h.ssn + 1) & 0xffff;
      s.heldBytes -= total;
      s.stats.messagesIn++;
      removed = true;
      i = j + 1;
      this.events?.onMessage(msg, { stream: h.streamId, ppid: h.ppid, unordered: h.unordered });
      if (this.closed) return false;
      // An ordered delivery may unblock an earlier-held later SSN of the same stream: rescan.
      if (!h.unordered) {
        for (let k = i; k < held.length; k++) keep.push(held[k]);
        s.held = keep;
        return this.deliver(now);
      }
    }
    if (removed) s.held = keep;
    return true;
  }

  /** The cum TSN we may report (replication gate). */
  private reportedCum(): number {
    return this.gate ? this.gate.cumTsn : this.s.cumTsn;
  }

  /** Build and send a SACK at once (to the source of the latest DATA). */
  private sendSackNow(): void {
    const s = this.s;
    const sack = this.buildSack();
    s.sackNow = false;
    s.sackPending = 0;
    s.sackAt = Infinity;
    s.stats.sacksOut++;
    this.host.counters.sacksOut++;
    const p = this.lastDataSrc >= 0 && s.paths[this.lastDataSrc] ? s.paths[this.lastDataSrc] : this.currentPath();
    this.sendNow([sack], p, s.peerTag);
  }

  private buildSack(): SctpSackChunk {
    const s = this.s;
    const cum = this.reportedCum();
    const above = this.gate ? this.gate.rcvdAbove : s.rcvdAbove;
    const gaps: Array<[number, number]> = [];
    for (let k = 0; k < above.length && gaps.length < 64; ) {
      const start = above[k];
      let end = start;
      k++;
      while (k < above.length && above[k] === seqAdd(end, 1)) end = above[k++];
      const o1 = seqSub(start, cum);
      const o2 = seqSub(end, cum);
      if (o1 < 1 || o2 > 0xffff) continue;
      gaps.push([o1, o2]);
    }
    const rwnd = Math.max(0, this.host.opts.receiveBuffer - s.heldBytes);
    const dupTsns = s.dupTsns;
    s.dupTsns = [];
    return { kind: 'sack', cumTsnAck: cum, aRwnd: rwnd, gaps, dupTsns };
  }

  // --- SACK (§6.2.1, §7.2)

  private onSack(c: SctpSackChunk, now: number): void {
    const s = this.s;
    s.stats.sacksIn++;
    const cum = c.cumTsnAck;
    if (seqLt(cum, s.peerCumAck)) return; // §6.2.1 D.i: out-of-date SACK
    if (seqGe(cum, s.nextTsn)) {
      this.host.counters.sackBeyondNext++;
      return;
    }
    this.processAck(cum, c.gaps, c.aRwnd, now);
  }

  private processAck(cum: number, gaps: Array<[number, number]>, aRwnd: number, now: number): void {
    const s = this.s;
    const o = this.host.opts;
    const cumAdvanced = seqGt(cum, s.peerCumAck);
    const ackedPerPath = new Array<number>(s.paths.length).fill(0);
    const flightBefore = s.paths.map((p) => p.flight);
    const earliestAcked = new Array<boolean>(s.paths.length).fill(false);
    let highestNewlyAcked = -1 >>> 0;
    let haveNewlyAcked = false;
    // Cumulative part.
    let n = 0;
    let freed = 0;
    while (n < s.out.length && s.out[n].sent && seqLe(s.out[n].tsn, cum)) {
      const ch = s.out[n];
      const p = s.paths[ch.path];
      if (p) {
        if (!ch.gapAcked) {
          ackedPerPath[ch.path] += ch.data.length;
          if (!ch.retx) p.flight -= ch.data.length;
          haveNewlyAcked = true;
          highestNewlyAcked = ch.tsn;
        }
        earliestAcked[ch.path] = true;
        if (p.rttActive && p.rttTsn === ch.tsn && ch.txCount === 1) {
          p.rttActive = false;
          this.rttSample(p, now - p.rttSentAt);
        }
        // §8.2: an acknowledged TSN clears the error counter of the destination it was last sent to.
        this.pathAcked(ch.path);
      }
      freed += ch.data.length;
      n++;
    }
    if (n > 0) s.out.splice(0, n);
    s.outBytes -= freed;
    if (cumAdvanced) s.peerCumAck = cum;
    // Gap blocks (skipped when there are none now and none were reported before).
    let highestGapAcked = -1;
    const walkGaps = gaps.length > 0 || this.maybeGapAcked;
    this.maybeGapAcked = gaps.length > 0;
    for (let k = 0; walkGaps && k < s.out.length; k++) {
      const ch = s.out[k];
      if (!ch.sent) break;
      const off = seqSub(ch.tsn, cum);
      let inGap = false;
      for (const [a, b] of gaps) if (off >= a && off <= b) inGap = true;
      const p = s.paths[ch.path];
      if (inGap) {
        highestGapAcked = ch.tsn;
        if (!ch.gapAcked) {
          ch.gapAcked = true;
          if (!ch.retx) p.flight -= ch.data.length;
          ch.retx = false;
          ackedPerPath[ch.path] += ch.data.length;
          haveNewlyAcked = true;
          highestNewlyAcked = ch.tsn;
          if (p.rttActive && p.rttTsn === ch.tsn && ch.txCount === 1) {
            p.rttActive = false;
            this.rttSample(p, now - p.rttSentAt);
          }
          this.pathAcked(ch.path);
        }
      } else if (ch.gapAcked) {
        // The peer reneged (§6.2.1): outstanding again.
        ch.gapAcked = false;
        p.flight += ch.data.length;
      }
    }
    // §7.2.4: miss indications for TSNs below the highest newly acknowledged TSN.
    let newFastRetx = false;
    if (highestGapAcked !== -1 && haveNewlyAcked) {
      for (const ch of s.out) {
        if (!ch.sent || seqGe(ch.tsn, highestNewlyAcked)) break;
        if (ch.gapAcked || ch.retx || ch.fastRetx) continue;
        if (++ch.missInd >= 3) {
          ch.missInd = 0;
          ch.retx = true;
          ch.fastRetx = true;
          s.paths[ch.path].flight -= ch.data.length;
          if (!s.fastRecovery) {
            // Enter fast recovery once per window (§7.2.4 step 2).
            const p = s.paths[ch.path];
            const mtu = this.mtu(p.addr);
            p.ssthresh = Math.max(p.cwnd >> 1, 4 * mtu);
            p.cwnd = p.ssthresh;
            p.partialBytesAcked = 0;
            s.fastRecovery = true;
            s.recoverTsn = seqAdd(s.nextTsn, -1);
            for (let k = s.out.length - 1; k >= 0; k--) if (s.out[k].sent) { s.recoverTsn = s.out[k].tsn; break; }
          }
          s.stats.fastRetransmits++;
          newFastRetx = true;
        }
      }
    }
    if (newFastRetx) this.fastRetxPending = true;
    for (const b of ackedPerPath) this.ackedSinceEmit += b;
    if (s.fastRecovery && seqGe(cum, s.recoverTsn)) s.fastRecovery = false;
    // Congestion window growth per destination (§7.2.1, §7.2.2).
    for (let i = 0; i < s.paths.length; i++) {
      const p = s.paths[i];
      const acked = ackedPerPath[i];
      if (acked === 0 || s.fastRecovery) continue;
      const mtu = this.mtu(p.addr);
      const utilized = flightBefore[i] + mtu > p.cwnd;
      if (p.cwnd <= p.ssthresh) {
        if (cumAdvanced && utilized) p.cwnd += Math.min(acked, mtu);
      } else {
        p.partialBytesAcked += acked;
        if (p.partialBytesAcked >= p.cwnd && utilized) {
          p.partialBytesAcked -= p.cwnd;
          p.cwnd += mtu;
        }
      }
      if (p.flight <= 0) p.partialBytesAcked = 0;
    }
    // Peer window (§6.2.1 D.iv): a_rwnd minus what is still outstanding.
    let outstanding = 0;
    for (const p of s.paths) {
      if (p.flight < 0) p.flight = 0;
      outstanding += p.flight;
    }
    s.peerRwnd = Math.max(0, aRwnd - outstanding);
    // T3-rtx (§6.3.2 R2/R3).
    for (let i = 0; i < s.paths.length; i++) {
      const p = s.paths[i];
      if (p.flight === 0) p.t3At = Infinity;
      else if (earliestAcked[i] || (cumAdvanced && p.t3At !== Infinity)) p.t3At = now + p.rto;
    }
    if (freed > 0 || haveNewlyAcked) this.touch();
    if (this.aboveHighWater && s.outBytes < o.sendBuffer) {
      this.aboveHighWater = false;
      this.events?.onDrain();
    }
    this.checkShutdownProgress(now);
  }

  private pathAcked(i: number): void {
    const s = this.s;
    const p = s.paths[i];
    p.errors = 0;
    s.errors = 0;
    if (p.state !== 'active') this.setPathState(i, 'active');
  }

  private setPathState(i: number, st: SctpPathStateName): void {
    const p = this.s.paths[i];
    if (p.state === st) return;
    p.state = st;
    this.version++;
    this.events?.onPathChange(p.addr, st, i === this.s.primary);
  }

  /** RFC 9260 §6.3.1 RTO calculation. */
  private rttSample(p: PathState, r: number): void {
    const o = this.host.opts;
    if (!(r >= 0)) return;
    if (!p.rttMeasured) {
      p.srtt = r;
      p.rttvar = r / 2;
      p.rttMeasured = true;
    } else {
      p.rttvar = 0.75 * p.rttvar + 0.25 * Math.abs(p.srtt - r);
      p.srtt = 0.875 * p.srtt + 0.125 * r;
    }
    p.rto = Math.min(o.rtoMax, Math.max(o.rtoMin, p.srtt + 4 * p.rttvar));
  }

  private onHeartbeatAck(info: Uint8Array, src: number, now: number): void {
    // Our heartbeat info: nonce(4) addr(4) sentAt(f64 8).
    if (info.length !== 16) return;
    const nonce = ((info[0] << 24) | (info[1] << 16) | (info[2] << 8) | info[3]) >>> 0;
    const addr = ((info[4] << 24) | (info[5] << 16) | (info[6] << 8) | info[7]) >>> 0;
    const i = this.pathIndex(addr);
    if (i < 0) return;
    const p = this.s.paths[i];
    // §8.3 / §5.4: only a matching nonce confirms a path.
    if (!p.hbOutstanding || p.hbNonce !== nonce) return;
    void src;
    p.hbOutstanding = false;
    this.rttSample(p, now - p.hbSentAt);
    p.errors = 0;
    this.s.errors = 0;
    this.setPathState(i, 'active');
    p.hbAt = now + p.rto + this.host.opts.hbInterval;
    this.needOutput = true;
  }

  // --- Shutdown (§9.2)

  private onShutdown(cumTsnAck: number, now: number): void {
    const s = this.s;
    if (s.state === 'COOKIE_WAIT' || s.state === 'COOKIE_ECHOED') return;
    if (seqGe(cumTsnAck, s.peerCumAck) && seqLt(cumTsnAck, s.nextTsn)) this.processAck(cumTsnAck, [], s.peerRwnd + this.totalFlight(), now);
    if (s.state === 'ESTABLISHED' || s.state === 'SHUTDOWN_PENDING') {
      s.state = 'SHUTDOWN_RECEIVED';
      this.touch();
      this.events?.onShutdown();
      this.checkShutdownProgress(now);
    } else if (s.state === 'SHUTDOWN_SENT') {
      // Simultaneous shutdown: answer with SHUTDOWN ACK.
      s.state = 'SHUTDOWN_ACK_SENT';
      this.pushCtrl({ chunk: { kind: 'shutdown-ack' }, dst: this.currentPath().addr });
      this.startT2(now);
    }
  }

  private onShutdownAck(src: number): void {
    const s = this.s;
    if (s.state === 'SHUTDOWN_SENT' || s.state === 'SHUTDOWN_ACK_SENT') {
      this.sendNow([{ kind: 'shutdown-complete', tBit: false }], this.paths(src), s.peerTag);
      this.finish(undefined);
    }
  }

  private paths(addr: number): PathState {
    const i = this.pathIndex(addr);
    return i >= 0 ? this.s.paths[i] : this.currentPath();
  }

  private totalFlight(): number {
    let f = 0;
    for (const p of this.s.paths) f += p.flight;
    return f;
  }

  private checkShutdownProgress(now: number): void {
    const s = this.s;
    if (s.out.length > 0) return;
    if (s.state === 'SHUTDOWN_PENDING') {
      s.state = 'SHUTDOWN_SENT';
      this.pushCtrl({ chunk: { kind: 'shutdown', cumTsnAck: this.reportedCum() }, dst: this.currentPath().addr });
      this.startT2(now);
    } else if (s.state === 'SHUTDOWN_RECEIVED') {
      s.state = 'SHUTDOWN_ACK_SENT';
      this.pushCtrl({ chunk: { kind: 'shutdown-ack' }, dst: this.currentPath().addr });
      this.startT2(now);
    }
  }

  private startT2(now: number): void {
    const s = this.s;
    s.t2Count = 0;
    s.t2Rto = this.currentPath().rto;
    s.t2At = now + s.t2Rto;
    this.touch();
  }

  // -------------------------------------------------------------------------------------------
  // Timers

  pollAt(): number {
    if (this.closed) return Infinity;
    // While output is held (replication), pending output is not a reason to poll again.
    if (!this.holdOutput && (this.needOutput || this.ctrl.length > 0 || this.s.sackNow)) return 0;
    const s = this.s;
    let t = Math.min(s.t1At, s.t2At, s.sackAt);
    for (const p of s.paths) t = Math.min(t, p.t3At, p.hbAt);
    return t;
  }

  poll(now: number): void {
    if (this.closed) return;
    this.runTimers(now);
    if (this.closed) return;
    this.hooks?.beforeEmit?.(now);
    if (this.closed) return;
    this.emit(now);
  }

  private runTimers(now: number): void {
    const s = this.s;
    const o = this.host.opts;
    if (s.t1At <= now) {
      // T1-init / T1-cookie (§5.1 C, §6.3.3 for the doubling).
      s.t1Count++;
      if (s.t1Count > o.maxInitRetrans) {
        this.finish(err('ETIMEDOUT', `no answer to ${s.state === 'COOKIE_WAIT' ? 'INIT' : 'COOKIE ECHO'} after ${s.t1Count - 1} retransmissions`));
        return;
      }
      s.t1Rto = Math.min(o.rtoMax, s.t1Rto * 2);
      s.t1At = now + s.t1Rto;
      this.host.counters.t1Expiries++;
      const dst = s.paths[s.primary].addr;
      if (s.state === 'COOKIE_WAIT') this.pushCtrl({ chunk: this.initChunk(), dst, vtag: 0 });
      else if (s.state === 'COOKIE_ECHOED' && s.cookie) this.pushCtrl({ chunk: { kind: 'cookie-echo', cookie: s.cookie }, dst });
      this.version++;
    }
    if (s.t2At <= now) {
      // T2-shutdown (§9.2): retransmit, counting towards AMR.
      s.t2Count++;
      s.errors++;
      if (s.errors > o.assocMaxRetrans) {
        this.sendNow([{ kind: 'abort', tBit: false, causes: [] }], this.currentPath(), s.peerTag);
        this.finish(err('ETIMEDOUT', 'shutdown not acknowledged'));
        return;
      }
      s.t2Rto = Math.min(o.rtoMax, s.t2Rto * 2);
      s.t2At = now + s.t2Rto;
      const dst = this.currentPath().addr;
      if (s.state === 'SHUTDOWN_SENT') this.pushCtrl({ chunk: { kind: 'shutdown', cumTsnAck: this.reportedCum() }, dst });
      else if (s.state === 'SHUTDOWN_ACK_SENT') this.pushCtrl({ chunk: { kind: 'shutdown-ack' }, dst });
      this.version++;
    }
    if (s.sackAt <= now) {
      s.sackAt = Infinity;
      s.sackNow = true;
    }
    for (let i = 0; i < s.paths.length && !this.closed; i++) {
      const p = s.paths[i];
      if (p.t3At <= now) this.t3Expired(i, now);
      if (this.closed) return;
      if (p.hbAt <= now) this.heartbeatDue(i, now);
    }
  }

  /** §6.3.3: T3-rtx expiry. */
  private t3Expired(i: number, now: number): void {
    const s = this.s;
    const p = s.paths[i];
    const o = this.host.opts;
    const mtu = this.mtu(p.addr);
    p.t3At = Infinity;
    s.stats.t3Expiries++;
    this.host.counters.t3Expiries++;
    // E1 (§7.2.3): ssthresh = max(cwnd/2, 4*MTU), cwnd = 1 MTU.
    p.ssthresh = Math.max(p.cwnd >> 1, 4 * mtu);
    p.cwnd = mtu;
    p.partialBytesAcked = 0;
    // E2: back off the RTO.
    p.rto = Math.min(o.rtoMax, p.rto * 2);
    p.rttActive = false;
    // E3: everything outstanding on this destination is to be retransmitted.
    for (const ch of s.out) {
      if (!ch.sent) break;
      if (ch.path === i && !ch.gapAcked && !ch.retx) {
        ch.retx = true;
        p.flight -= ch.data.length;
      }
    }
    if (p.flight < 0) p.flight = 0;
    this.pathError(i, now);
    this.touch();
  }

  /** §8.2 / RFC 7829 §3: one more error on path i. */
  private pathError(i: number, now: number): void {
    const s = this.s;
    const o = this.host.opts;
    const p = s.paths[i];
    p.errors++;
    s.errors++;
    if (s.errors > o.assocMaxRetrans) {
      // §8.1: the peer is unreachable.
      this.sendNow([{ kind: 'abort', tBit: false, causes: [] }], this.currentPath(), s.peerTag);
      this.finish(err('ETIMEDOUT', 'association error count exceeded Association.Max.Retrans'));
      return;
    }
    if (p.errors > o.pathMaxRetrans) {
      if (p.state !== 'inactive' && p.state !== 'unconfirmed') this.setPathState(i, 'inactive');
    } else if (p.errors > o.pfMaxRetrans && p.state === 'active') {
      this.setPathState(i, 'pf');
      // RFC 7829 §3: probe a PF destination every RTO.
      p.hbAt = Math.min(p.hbAt, now + p.rto);
    }
  }

  private heartbeatDue(i: number, now: number): void {
    const s = this.s;
    const o = this.host.opts;
    const p = s.paths[i];
    if (s.state === 'COOKIE_WAIT' || s.state === 'COOKIE_ECHOED') {
      p.hbAt = Infinity;
      return;
    }
    if (p.hbOutstanding) {
      // §8.3: an unanswered HEARTBEAT counts as an error for the destination.
      p.hbOutstanding = false;
      if (p.state === 'unconfirmed') {
        p.errors++;
        if (p.errors > o.pathMaxRetrans) {
          p.hbAt = now + o.hbInterval;
          return;
        }
      } else {
        this.pathError(i, now);
        if (this.closed) return;
      }
    }
    // Active paths carrying data need no probing (§8.3 "idle" destinations).
    if (p.state === 'active' && p.flight > 0 && now - p.lastSend < o.hbInterval) {
      p.hbAt = p.lastSend + p.rto + o.hbInterval;
      return;
    }
    const nonce = this.host.random32();
    const info = new Uint8Array(16);
    info[0] = nonce >>> 24;
    info[1] = (nonce >>> 16) & 0xff;
    info[2] = (nonce >>> 8) & 0xff;
    info[3] = nonce & 0xff;
    info[4] = p.addr >>> 24;
    info[5] = (p.addr >>> 16) & 0xff;
    info[6] = (p.addr >>> 8) & 0xff;
    info[7] = p.addr & 0xff;
    new DataView(info.buffer).setFloat64(8, now);
    p.hbOutstanding = true;
    p.hbNonce = nonce;
    p.hbSentAt = now;
    this.pushCtrl({ chunk: { kind: 'heartbeat', info }, dst: p.addr });
    this.host.counters.heartbeatsOut++;
    // PF and unconfirmed destinations are probed every RTO (RFC 7829 §3, §5.4); others at RTO + HB.interval.
    p.hbAt = now + (p.state === 'active' ? p.rto + o.hbInterval : p.rto);
    this.version++;
  }

  // -------------------------------------------------------------------------------------------
  // Output

  /** The destination for new data (§6.4, RFC 7829 §3). */
  currentPath(): PathState {
    const s = this.s;
    return s.paths[this.dataPathIndex()] ?? s.paths[0];
  }

  private dataPathIndex(): number {
    const s = this.s;
    const ps = s.paths;
    if (ps.length === 0) return 0;
    if (ps[s.primary]?.state === 'active') return s.primary;
    for (let k = 1; k <= ps.length; k++) {
      const i = (s.primary + k) % ps.length;
      if (ps[i].state === 'active') return i;
    }
    // No active destination: RFC 7829 §3 step 5: the PF (else inactive) one with fewest errors.
    let best = -1;
    for (let i = 0; i < ps.length; i++) {
      if (ps[i].state === 'unconfirmed') continue;
      if (best < 0 || ps[i].errors < ps[best].errors || (ps[i].errors === ps[best].errors && ps[i].state === 'pf' && ps[best].state !== 'pf')) best = i;
    }
    return best < 0 ? s.primary : best;
  }

  /** Retransmissions go to an active destination other than the last one (§6.4.1). */
  private retxPathIndex(last: number): number {
    const ps = this.s.paths;
    const cur = this.dataPathIndex();
    if (cur !== last) return cur;
    for (let i = 0; i < ps.length; i++) if (i !== last && ps[i].state === 'active') return i;
    return cur;
  }

  private scratch = new Uint8Array(0);

  /** Write chunks into one packet towards `p` and hand it to IP. */
  private sendNow(chunks: SctpChunk[], p: PathState | undefined, vtag: number): void {
    if (!p) return;
    const ip = this.host.ip;
    let len = SCTP_HEADER_LEN;
    for (const c of chunks) len += sctpPad4(sctpChunkLength(c));
    const buf = new Uint8Array(ip.headroom + len);
    const off = ip.headroom;
    emitSctpHeader(this.s.localPort, this.s.remotePort, vtag, buf, off);
    let i = off + SCTP_HEADER_LEN;
    for (const c of chunks) i += emitSctpChunk(c, buf, i);
    this.transmit(buf, len, p.addr);
  }

  private transmit(buf: Uint8Array, len: number, dst: number): void {
    const ip = this.host.ip;
    const off = ip.headroom;
    sctpFillChecksum(buf, off, len);
    const src = this.sourceFor(dst);
    if (src === null) {
      this.host.counters.noRoute++;
      return;
    }
    this.host.counters.packetsOut++;
    ip.sendIp(buf, len, { src, dst, protocol: SCTP_PROTOCOL });
  }

  /**
   * Our source address towards `dst`: the local address the peer last reached us on (replies go
   * back the way they came, §6.4), else the first of our announced addresses that is local here.
   */
  private sourceFor(dst: number): number | null {
    const ip = this.host.ip;
    if (this.lastLocal !== 0 && ip.isLocalAddress(this.lastLocal)) return this.lastLocal;
    for (const a of this.s.localAddrs) if (ip.isLocalAddress(a)) return a;
    return ip.sourceFor(dst);
  }

  private emit(now: number): void {
    const s = this.s;
    this.needOutput = false;
    if (this.holdOutput) return;
    if (this.frozen) {
      // Handover in progress: answer heartbeats only.
      this.ctrl = this.ctrl.filter((c) => c.chunk.kind === 'heartbeat-ack');
    }
    // 1. Control chunks: consecutive ones to the same destination with the same tag share a
    //    packet (§6.10), except INIT and SHUTDOWN COMPLETE, which travel alone.
    if (this.ctrl.length > 0) {
      const items = this.ctrl;
      this.ctrl = [];
      let batch: SctpChunk[] = [];
      let bDst = 0;
      let bTag = 0;
      let bLen = 0;
      const flush = (): void => {
        if (batch.length === 0) return;
        const pi = this.pathIndex(bDst);
        const p = pi >= 0 ? s.paths[pi] : ({ addr: bDst } as PathState);
        this.sendNow(batch, p, bTag);
        if (pi >= 0 && (batch[0].kind === 'cookie-echo' || batch[0].kind === 'init')) s.paths[pi].rttSentAt = now;
        batch = [];
        bLen = 0;
      };
      for (const it of items) {
        const vtag = it.vtag ?? s.peerTag;
        const len = sctpPad4(sctpChunkLength(it.chunk));
        const alone = it.chunk.kind === 'init' || it.chunk.kind === 'shutdown-complete';
        if (batch.length > 0 && (alone || it.dst !== bDst || vtag !== bTag || bLen + len > this.mtu(it.dst) - IP_HEADER - SCTP_HEADER_LEN)) flush();
        batch.push(it.chunk);
        bDst = it.dst;
        bTag = vtag;
        bLen += len;
        if (alone) flush();
      }
      flush();
    }
    if (this.frozen || s.state === 'COOKIE_WAIT' || s.state === 'COOKIE_ECHOED') return;
    // 2. DATA (retransmissions first), with a SACK bundled in the first packet when due.
    const wantSack = s.sackNow;
    let sackChunk: SctpSackChunk | null = null;
    if (wantSack) {
      sackChunk = this.buildSack();
      s.sackNow = false;
      s.sackPending = 0;
      s.sackAt = Infinity;
    }
    const sackDst = this.lastDataSrc >= 0 && s.paths[this.lastDataSrc] ? this.lastDataSrc : this.dataPathIndex();
    let packets = 0;
    const o = this.host.opts;
    // §6.1 / RFC 4960 §6.1 Max.Burst: limit a pass to Max.Burst packets only when the window has
    // much more room than what is in flight (after idle, or a SACK acknowledging a lot); otherwise
    // the window is the limit (bounded work per call: 256 packets).
    // Packets acknowledged since the last pass may be replaced one for one (ack clocking), plus
    // Max.Burst more.
    const cp = s.paths[this.dataPathIndex()];
    const cmtu = cp ? this.mtu(cp.addr) : 1500;
    const burstLimited = !!cp && cp.flight + o.maxBurst * cmtu < cp.cwnd;
    const clocked = Math.ceil(this.ackedSinceEmit / (cmtu - IP_HEADER - SCTP_HEADER_LEN - DATA_HDR));
    this.ackedSinceEmit = 0;
    const maxPackets = (burstLimited ? Math.min(256, o.maxBurst + clocked) : 256) + (this.fastRetxPending ? 1 : 0);
    const allowed = (c: OutChunk): boolean => !this.gate || seqLt(c.tsn, this.gate.nextTsn);
    const canData = s.state === 'ESTABLISHED' || s.state === 'SHUTDOWN_PENDING' || s.state === 'SHUTDOWN_RECEIVED';
    // Two monotonic scan pointers keep a pass linear in the queue: `fu` is the first never-sent
    // chunk (sent chunks form a prefix of `out`), `ri` walks the sent prefix for retransmissions.
    let fu = 0;
    while (fu < s.out.length && s.out[fu].sent) fu++;
    let ri = 0;
    while (canData && packets < maxPackets) {
      // Pick the first chunk needing transmission: retransmissions have priority (§6.1 C).
      let first = -1;
      while (ri < fu && !s.out[ri].retx) ri++;
      if (ri < fu && allowed(s.out[ri])) first = ri;
      const isRetx = first >= 0;
      if (!isRetx) {
        while (fu < s.out.length && s.out[fu].sent) fu++;
        if (fu < s.out.length && allowed(s.out[fu])) first = fu;
      }
      if (first < 0) break;
      const pi = isRetx ? this.retxPathIndex(s.out[first].path) : this.dataPathIndex();
      const p = s.paths[pi];
      const mtu = this.mtu(p.addr);
      const room = mtu - IP_HEADER - SCTP_HEADER_LEN;
      // Congestion and flow control (§6.1 A, B; §7.2.4 step 3 lets one fast retransmit packet through).
      const fastPass = isRetx && this.fastRetxPending;
      if (!fastPass && p.flight >= p.cwnd) break;
      const totalFlight = this.totalFlight();
      if (!isRetx && s.peerRwnd <= 0 && totalFlight > 0) break;
      const chunks: SctpChunk[] = [];
      let used = 0;
      if (sackChunk && sackDst === pi) {
        chunks.push(sackChunk);
        used += sctpPad4(sctpChunkLength(sackChunk));
        sackChunk = null;
      }
      let sentBytes = 0;
      for (let k = first; k < s.out.length; k++) {
        const c = s.out[k];
        if (isRetx ? !c.retx : c.sent) continue;
        if (!allowed(c)) break;
        const clen = sctpPad4(DATA_HDR + c.data.length);
        if (used + clen > room && chunks.length > 0) break;
        if (!isRetx && !fastPass && p.flight + sentBytes >= p.cwnd) break;
        if (!isRetx && sentBytes > 0 && sentBytes + c.data.length > s.peerRwnd) break;
        chunks.push({ kind: 'data', unordered: c.unordered, beginning: c.beginning, ending: c.ending, immediate: false, tsn: c.tsn, streamId: c.streamId, ssn: c.ssn, ppid: c.ppid, data: c.data });
        used += clen;
        sentBytes += c.data.length;
        if (isRetx) {
          c.retx = false;
          s.stats.retransmits++;
          this.host.counters.retransmits++;
        } else {
          c.sent = true;
          if (!p.rttActive) {
            p.rttActive = true;
            p.rttTsn = c.tsn;
            p.rttSentAt = now;
          }
        }
        c.txCount++;
        c.sentAt = now;
        c.path = pi;
        c.missInd = 0;
        p.flight += c.data.length;
        s.peerRwnd = Math.max(0, s.peerRwnd - c.data.length);
        s.stats.dataChunksOut++;
      }
      if (chunks.length === 0 || sentBytes === 0) break;
      this.sendNow(chunks, p, s.peerTag);
      if (fastPass) this.fastRetxPending = false;
      p.lastSend = now;
      if (p.t3At === Infinity) p.t3At = now + p.rto;
      packets++;
      s.stats.bytesOut += sentBytes;
      this.version++;
    }
    if (this.fastRetxPending && packets > 0) this.fastRetxPending = false;
    if (sackChunk) {
      s.stats.sacksOut++;
      this.host.counters.sacksOut++;
      this.sendNow([sackChunk], s.paths[sackDst], s.peerTag);
    } else if (wantSack) {
      s.stats.sacksOut++;
      this.host.counters.sacksOut++;
    }
  }

  // -------------------------------------------------------------------------------------------

  /** Leave the association (CLOSED): stop everything, notify once. */
  finish(error: HastackError | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.s.state = 'CLOSED';
    this.host.unregister(this);
    this.events?.onClosed(error);
  }

  /** Drop without a word (stack.crash()). */
  kill(): void {
    if (this.closed) return;
    this.closed = true;
    this.s.state = 'CLOSED';
    this.host.unregister(this);
  }

  /** Replication: lift the gate to what a replica has acknowledged; SACK what is now covered. */
  setGate(g: ReplicationGate | null): void {
    const before = this.gate;
    this.gate = g;
    if (!g || !before || g.cumTsn !== before.cumTsn || g.rcvdAbove.length !== before.rcvdAbove.length) {
      if (this.s.cumTsn !== seqAdd(this.s.peerInitialTsn, -1) || this.s.rcvdAbove.length > 0) this.s.sackNow = true;
    }
    this.needOutput = true;
  }

  /** Ask for an output pass without marking the state changed. */
  kick(): void {
    this.needOutput = true;
  }

  /** Queue a control chunk to `dst` (used by the layer for INIT ACK answers etc.). */
  queueControl(chunk: SctpChunk, dst: number, vtag?: number): void {
    this.pushCtrl(vtag === undefined ? { chunk, dst } : { chunk, dst, vtag });
  }

  /** Bounded control queue: beyond MAX_CTRL pending chunks new ones are dropped (counted). */
  private pushCtrl(it: CtrlItem): void {
    if (this.ctrl.length >= MAX_CTRL) {
      this.host.counters.ctrlDrops = (this.host.counters.ctrlDrops ?? 0) + 1;
      return;
    }
    this.ctrl.push(it);
    this.needOutput = true;
  }

  /** Request an immediate SACK (after adoption: tell the peer where we are). */
  requestSack(): void {
    this.s.sackNow = true;
    this.needOutput = true;
  }
}

