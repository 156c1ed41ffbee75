/**
 * SctpLayer: the SCTP transport (IP protocol 132) of one stack — demultiplexing, listeners, the
 * stateless INIT → INIT ACK(cookie) → COOKIE ECHO handshake on the passive side (RFC 9260 §5.1),
 * out-of-the-blue handling (§8.4), and the API entry points `createServer`, `connect`, `adopt`.
 *
 * Read this first:
 * - Associations are found by (local port, peer address, peer port) for *every* peer address of
 *   a multihomed peer (§6.4).
 * - A standby (seed 004 secondary that has not taken over yet) registers with `standby()`: it
 *   answers HEARTBEATs for the replicated association with the replicated tags, so the peer sees
 *   the alternate address as reachable; all other chunks to it are dropped and counted until
 *   `adopt()` turns it into a live association.
 */
import { randomBytes, randomInt } from 'node:crypto';
import {
  parseSctp,
  emitSctp,
  sctpPacketLength,
  SctpCause,
  SCTP_PROTOCOL,
  unknownParamAction,
  isWireError,
  parseIpv4Address,
  seqAdd,
  type SctpChunk,
  type SctpParam,
  type SctpInitChunk,
  type SctpRepr,
} from '@hastack/wire';
import { err } from '../errors.js';
import type { IpRx, TransportContext, TransportProtocol } from '../engine/types.js';
import { SctpAssoc, newCounters, newPath, type AssocHost } from './association.js';
import { SctpAssociation, SctpServer, type SctpServerOptions } from './api.js';
import { makeCookie, openCookie, MAX_COOKIE_ADDRS } from './cookie.js';
import { SCTP_DEFAULTS, rebaseState, type AssocState, type SctpProtocolOptions, type SctpSnapshot } from './types.js';

export interface SctpLayerOptions extends Partial<SctpProtocolOptions> {
  /** Source of 32-bit random numbers for tags and TSNs (default: crypto). Tests pass a seeded one. */
  random32?: () => number;
  /** Cookie signing secret (default: 32 random bytes). */
  cookieSecret?: Uint8Array;
}

export interface SctpConnectOptions {
  host: string;
  port: number;
  /** Our addresses to announce in INIT (multihoming). The first is used as source. */
  localAddresses?: string[];
  localPort?: number;
  /** Outbound streams to request (and inbound to accept). */
  streams?: number;
}

/** A standby record (seed 004): enough to answer HEARTBEATs for an association held elsewhere. */
export interface SctpStandbyRecord {
  localPort: number;
  remotePort: number;
  peerAddrs: number[];
  /** The peer's verification tag (we send it) and ours (the peer sends it). */
  peerTag: number;
  myTag: number;
}

interface Listener {
  server: SctpServer;
  onAssociation?: (a: SctpAssociation) => void;
}

const EPHEMERAL_LO = 49152;

export class SctpLayer implements TransportProtocol, AssocHost {
  readonly name = 'sctp';
  readonly protocol = SCTP_PROTOCOL;
  readonly opts: SctpProtocolOptions;
  readonly counters: Record<string, number> = {
    packetsIn: 0,
    packetsOut: 0,
    badChecksum: 0,
    malformed: 0,
    badVtag: 0,
    ootb: 0,
    unknownChunks: 0,
    initsIn: 0,
    initAcksOut: 0,
    badCookie: 0,
    staleCookie: 0,
    associationsAccepted: 0,
    associationsOpened: 0,
    associationsAdopted: 0,
    abortsOut: 0,
    retransmits: 0,
    t3Expiries: 0,
    t1Expiries: 0,
    sacksOut: 0,
    heartbeatsOut: 0,
    standbyHeartbeatAcks: 0,
    standbyDrops: 0,
    dropWindow: 0,
    dropRwnd: 0,
    invalidStream: 0,
    sackBeyondNext: 0,
    errorsIn: 0,
    noRoute: 0,
    ctrlDrops: 0,
    ootbQuiet: 0,
  };
  private readonly ctx: TransportContext;
  private readonly rnd: () => number;
  private readonly secrets: Uint8Array[];
  private readonly assocs = new Set<SctpAssoc>();
  private readonly byKey = new Map<string, SctpAssoc>();
  private readonly apiOf = new Map<SctpAssoc, SctpAssociation>();
  private readonly listeners = new Map<number, Listener>();
  private readonly standbys = new Map<string, SctpStandbyRecord>();
  private readonly quietPorts = new Map<number, number>();
  private nextEphemeral = EPHEMERAL_LO;
  private dead = false;

  constructor(ctx: TransportContext, opts: SctpLayerOptions = {}) {
    this.ctx = ctx;
    const { random32, cookieSecret, ...proto } = opts;
    this.opts = { ...SCTP_DEFAULTS, ...proto };
    this.rnd = random32 ?? (() => randomInt(0, 0x100000000));
    this.secrets = [cookieSecret ?? new Uint8Array(randomBytes(32))];
    this.nextEphemeral = EPHEMERAL_LO + (this.rnd() % 8192);
  }

  get ip() {
    return this.ctx.ip;
  }

  random32(): number {
    return this.rnd() >>> 0;
  }

  private nonZeroTag(): number {
    for (;;) {
      const t = this.random32();
      if (t !== 0) return t;
    }
  }

  // -------------------------------------------------------------------------------------------
  // Demultiplexing

  private key(lport: number, raddr: number, rport: number): string {
    return `${lport}|${raddr}|${rport}`;
  }

  registerAddr(a: SctpAssoc, addr: number): void {
    const k = this.key(a.s.localPort, addr, a.s.remotePort);
    const other = this.byKey.get(k);
    if (other && other !== a) return;
    this.byKey.set(k, a);
  }

  unregister(a: SctpAssoc): void {
    this.assocs.delete(a);
    for (const p of a.s.paths) {
      const k = this.key(a.s.localPort, p.addr, a.s.remotePort);
      if (this.byKey.get(k) === a) this.byKey.delete(k);
    }
    this.apiOf.delete(a);
  }

  private register(a: SctpAssoc): SctpAssociation {
    this.assocs.add(a);
    for (const p of a.s.paths) this.registerAddr(a, p.addr);
    const api = new SctpAssociation(a, { now: () => this.ctx.clock.now(), wake: () => this.ctx.wake() });
    this.apiOf.set(a, api);
    return api;
  }

  // -------------------------------------------------------------------------------------------
  // TransportProtocol

  receive(rx: IpRx, payload: Uint8Array, _ipPacket: Uint8Array, now: number): void {
    if (this.dead) return;
    const C = this.counters;
    C.packetsIn++;
    // §8.4 (1): non-unicast destinations are out of scope for SCTP.
    if (rx.nonUnicast) return void C.ootb++;
    const repr = parseSctp(payload, { verifyChecksum: !rx.meta?.csumValid });
    if (isWireError(repr)) {
      if (repr.reason === 'bad-checksum') C.badChecksum++;
      else C.malformed++;
      return;
    }
    if (repr.chunks.length === 0) return void C.malformed++;
    const a = this.byKey.get(this.key(repr.dstPort, rx.src, repr.srcPort));
    if (a) {
      a.receivePacket(repr, rx.src, rx.dst, now);
    } else {
      const sb = this.standbys.get(this.key(repr.dstPort, rx.src, repr.srcPort));
      if (sb) this.standbyReceive(sb, repr, rx, now);
      else this.outOfTheBlue(repr, rx, now);
    }
    this.ctx.wake();
  }

  poll(now: number): void {
    if (this.dead) return;
    for (const a of [...this.assocs]) a.poll(now);
  }

  pollAt(): number {
    let t = Infinity;
    for (const a of this.assocs) t = Math.min(t, a.pollAt());
    return t;
  }

  stats(): Record<string, unknown> {
    return { ...this.counters, associations: this.assocs.size, listeners: this.listeners.size, standbys: this.standbys.size };
  }

  crash(): void {
    this.dead = true;
    for (const a of [...this.assocs]) a.kill();
    this.listeners.clear();
    this.standbys.clear();
  }

  close(now: number): Promise<void> {
    for (const a of [...this.assocs]) a.shutdown(now);
    this.ctx.wake();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.assocs.size === 0) resolve();
        else this.ctx.clock.setTimer(this.ctx.clock.now() + 50, check);
      };
      check();
    });
  }

  // -------------------------------------------------------------------------------------------
  // Out of the blue (§8.4) and the passive handshake (§5.1)

  private sendPacket(repr: SctpRepr, src: number, dst: number): void {
    const ip = this.ctx.ip;
    const len = sctpPacketLength(repr);
    const buf = new Uint8Array(ip.headroom + len);
    emitSctp(repr, buf, ip.headroom);
    this.counters.packetsOut++;
    ip.sendIp(buf, len, { src, dst, protocol: SCTP_PROTOCOL });
  }

  private replyFromTo(rx: IpRx): { src: number; dst: number } {
    const src = this.ctx.ip.isLocalAddress(rx.dst) ? rx.dst : (this.ctx.ip.sourceFor(rx.src) ?? rx.dst);
    return { src, dst: rx.src };
  }

  private outOfTheBlue(repr: SctpRepr, rx: IpRx, now: number): void {
    const C = this.counters;
    const c0 = repr.chunks[0];
    if (this.quietPorts.has(repr.dstPort) && !this.listeners.has(repr.dstPort)) {
      // A standby for this port (seed 004): packets for an association it does not know yet
      // (e.g. the peer's first HEARTBEAT to A2 overtaking the standby record) must not be
      // answered with an ABORT, which would kill the peer's association. Silence is allowed
      // (§8.4: the receiver MAY discard).
      C.ootbQuiet++;
      return;
    }
    const { src, dst } = this.replyFromTo(rx);
    const reply = (chunk: SctpChunk, vtag: number): void => this.sendPacket({ srcPort: repr.dstPort, dstPort: repr.srcPort, verificationTag: vtag, chunks: [chunk] }, src, dst);
    switch (c0.kind) {
      case 'init': {
        C.initsIn++;
        // §8.5.1 A: an INIT must carry tag 0; §3.3.2: an Initiate Tag of 0 is discarded.
        if (repr.verificationTag !== 0 || c0.initiateTag === 0) return void C.badVtag++;
        const l = this.listeners.get(repr.dstPort);
        if (!l) {
          // §8.4 (3): ABORT with the INIT's Initiate Tag, T bit clear.
          C.abortsOut++;
          reply({ kind: 'abort', tBit: false, causes: [] }, c0.initiateTag);
          return;
        }
        if (c0.outboundStreams === 0 || c0.inboundStreams === 0) {
          C.abortsOut++;
          reply({ kind: 'abort', tBit: false, causes: [{ code: SctpCause.INVALID_MANDATORY_PARAM, info: new Uint8Array(0) }] }, c0.initiateTag);
          return;
        }
        this.answerInit(repr, c0, rx.src, rx.dst, this.nonZeroTag(), this.random32(), l.server, now);
        return;
      }
      case 'cookie-echo':
        this.cookieEcho(repr, c0.cookie, rx, now);
        return;
      case 'abort':
      case 'shutdown-complete':
      case 'cookie-ack':
        C.ootb++; // §8.4 (2), (6), (7): silently discard.
        return;
      case 'error':
        C.ootb++;
        return;
      case 'shutdown-ack':
        // §8.4 (5): SHUTDOWN COMPLETE with the T bit, the packet's own tag.
        C.ootb++;
        reply({ kind: 'shutdown-complete', tBit: true }, repr.verificationTag);
        return;
      default:
        // §8.4 (8): ABORT with the T bit, reflecting the packet's tag.
        C.ootb++;
        C.abortsOut++;
        reply({ kind: 'abort', tBit: true, causes: [] }, repr.verificationTag);
    }
  }

  /**
   * Send INIT ACK with a signed cookie (§5.1.3). `server` gives the announced addresses and
   * stream counts; unrecognized parameters with the report bit are echoed back (§3.2.1).
   */
  private answerInit(repr: SctpRepr, init: SctpInitChunk, src: number, dst: number, myTag: number, myInitialTsn: number, server: SctpServer | null, now: number, assocAddrs?: number[], streams?: number): void {
    const peerAddrs = [src];
    const unrecognized: SctpParam[] = [];
    let preservative = 0;
    for (const p of init.params) {
      if (p.kind === 'ipv4') {
        if (!peerAddrs.includes(p.addr) && peerAddrs.length < MAX_COOKIE_ADDRS) peerAddrs.push(p.addr);
      } else if (p.kind === 'cookie-preservative') {
        preservative = Math.min(p.increment, 60000);
      } else if (p.kind === 'unknown') {
        const act = unknownParamAction(p.type);
        if (act.report) {
          const whole = new Uint8Array(4 + p.value.length);
          whole[0] = p.type >> 8;
          whole[1] = p.type & 0xff;
          whole[2] = whole.length >> 8;
          whole[3] = whole.length & 0xff;
          whole.set(p.value, 4);
          unrecognized.push({ kind: 'unrecognized', param: whole });
        }
        if (act.stop) break;
      }
    }
    const local = assocAddrs ?? (server && server.addrs.length > 0 ? server.addrs : [dst]);
    const want = streams ?? (server && server.streams > 0 ? server.streams : this.opts.outboundStreams);
    const numOut = Math.min(want, init.inboundStreams);
    const numIn = Math.min(server && server.streams > 0 ? server.streams : this.opts.inboundStreams, init.outboundStreams);
    const cookie = makeCookie(this.secrets[0], {
      created: now,
      life: this.opts.cookieLife + preservative,
      myTag,
      peerTag: init.initiateTag,
      myInitialTsn,
      peerInitialTsn: init.initialTsn,
      peerRwnd: init.aRwnd,
      numOut,
      numIn,
      localPort: repr.dstPort,
      remotePort: repr.srcPort,
      peerAddrs,
      localAddrs: local,
    });
    const params: SctpParam[] = [];
    // Announce our addresses (§5.1.2): all of them when there is more than the one answering.
    if (local.length > 1 || local[0] !== dst) for (const a of local) params.push({ kind: 'ipv4', addr: a });
    params.push({ kind: 'cookie', cookie });
    params.push(...unrecognized);
    const ack: SctpChunk = { kind: 'init-ack', initiateTag: myTag, aRwnd: this.opts.receiveBuffer, outboundStreams: numOut, inboundStreams: numIn, initialTsn: myInitialTsn, params };
    this.counters.initAcksOut++;
    const from = this.ctx.ip.isLocalAddress(dst) ? dst : (this.ctx.ip.sourceFor(src) ?? dst);
    this.sendPacket({ srcPort: repr.dstPort, dstPort: repr.srcPort, verificationTag: init.initiateTag, chunks: [ack] }, from, src);
  }

  /** AssocHost: INIT for an existing association (§5.2.1 / §5.2.2). */
  sendInitAck(a: SctpAssoc, init: SctpInitChunk, src: number, dst: number, myTag: number, myInitialTsn: number, now: number): void {
    const repr: SctpRepr = { srcPort: a.s.remotePort, dstPort: a.s.localPort, verificationTag: 0, chunks: [init] };
    const l = this.listeners.get(a.s.localPort);
    this.answerInit(repr, init, src, dst, myTag, myInitialTsn, l?.server ?? null, now, a.s.localAddrs, a.s.numOut || this.opts.outboundStreams);
  }

  openCookie(cookie: Uint8Array): ReturnType<AssocHost['openCookie']> {
    const c = openCookie(this.secrets, cookie);
    if (!c) {
      this.counters.badCookie++;
      return null;
    }
    return c;
  }

  /** COOKIE ECHO without an association (§5.1.5): verify, check age, build the association. */
  private cookieEcho(repr: SctpRepr, cookieBytes: Uint8Array, rx: IpRx, now: number): void {
    const C = this.counters;
    const c = openCookie(this.secrets, cookieBytes);
    if (!c) return void C.badCookie++;
    // §5.1.5 step 3: the packet's tag must be the one in the cookie.
    if (repr.verificationTag !== c.myTag || c.localPort !== repr.dstPort || c.remotePort !== repr.srcPort) return void C.badVtag++;
    if (now > c.created + c.life) {
      // §5.1.5 step 4 / §3.3.10.3: stale cookie error with the staleness in microseconds.
      C.staleCookie++;
      const us = Math.min(0xffffffff, Math.round((now - c.created - c.life) * 1000));
      const info = new Uint8Array([us >>> 24, (us >>> 16) & 0xff, (us >>> 8) & 0xff, us & 0xff]);
      const { src, dst } = this.replyFromTo(rx);
      this.sendPacket({ srcPort: repr.dstPort, dstPort: repr.srcPort, verificationTag: c.peerTag, chunks: [{ kind: 'error', causes: [{ code: SctpCause.STALE_COOKIE, info }] }] }, src, dst);
      return;
    }
    const l = this.listeners.get(repr.dstPort);
    if (!l) return void C.ootb++;
    const state = this.freshState({
      localPort: c.localPort,
      remotePort: c.remotePort,
      localAddrs: c.localAddrs,
      myTag: c.myTag,
      peerTag: c.peerTag,
      myInitialTsn: c.myInitialTsn,
      numOut: c.numOut,
      numIn: c.numIn,
    });
    state.peerInitialTsn = c.peerInitialTsn;
    state.cumTsn = seqAdd(c.peerInitialTsn, -1);
    state.peerRwnd = c.peerRwnd;
    state.ssnOut = new Array(c.numOut).fill(0);
    state.ssnIn = new Array(c.numIn).fill(0);
    const a = new SctpAssoc(this, state);
    // The COOKIE ECHO's source is confirmed; other peer addresses are probed (§5.4).
    const srcIdx = c.peerAddrs.indexOf(rx.src);
    for (const addr of c.peerAddrs) state.paths.push(newPath(addr, addr === rx.src ? 'active' : 'unconfirmed', this.opts, this.ctx.ip.mtuFor(addr) || 1500, c.peerRwnd));
    if (srcIdx < 0) state.paths.unshift(newPath(rx.src, 'active', this.opts, this.ctx.ip.mtuFor(rx.src) || 1500, c.peerRwnd));
    state.primary = Math.max(0, state.paths.findIndex((p) => p.addr === rx.src));
    const api = this.register(a);
    C.associationsAccepted++;
    a.establish(now);
    a.queueControl({ kind: 'cookie-ack' }, rx.src);
    l.server.emit('association', api);
    l.onAssociation?.(api);
    // DATA may be bundled after the COOKIE ECHO (§5.1 D).
    if (repr.chunks.length > 1) a.receivePacket({ ...repr, chunks: repr.chunks.slice(1) }, rx.src, rx.dst, now);
    this.ctx.wake();
  }

  /** §5.2.4 case A: the peer restarted; replace the old association. */
  restart(old: SctpAssoc, repr: SctpRepr, src: number, dst: number, now: number): void {
    old.finish(err('ECONNRESET', 'peer restarted the association'));
    const c0 = repr.chunks[0];
    if (c0.kind !== 'cookie-echo') return;
    this.cookieEcho(repr, c0.cookie, { src, dst, protocol: SCTP_PROTOCOL, ttl: 64, tos: 0, nonUnicast: false }, now);
  }

  private freshState(o: { localPort: number; remotePort: number; localAddrs: number[]; myTag: number; peerTag: number; myInitialTsn: number; numOut: number; numIn: number }): AssocState {
    return {
      version: 1,
      state: 'COOKIE_WAIT',
      localPort: o.localPort,
      remotePort: o.remotePort,
      localAddrs: o.localAddrs,
      myTag: o.myTag,
      peerTag: o.peerTag,
      peerInitialTsn: 0,
      nextTsn: o.myInitialTsn,
      peerCumAck: seqAdd(o.myInitialTsn, -1),
      peerRwnd: 0,
      numOut: o.numOut,
      numIn: o.numIn,
      ssnOut: [],
      ssnIn: [],
      out: [],
      outBytes: 0,
      cumTsn: 0,
      rcvdAbove: [],
      held: [],
      heldBytes: 0,
      dupTsns: [],
      sackPending: 0,
      sackAt: Infinity,
      sackNow: false,
      paths: [],
      primary: 0,
      errors: 0,
      fastRecovery: false,
      recoverTsn: 0,
      t1At: Infinity,
      t1Count: 0,
      t1Rto: this.opts.rtoInitial,
      t2At: Infinity,
      t2Count: 0,
      t2Rto: this.opts.rtoInitial,
      initPacket: null,
      cookie: null,
      preservative: 0,
      shutdownRequested: false,
      cookieSecret: this.secrets[0],
      stats: newCounters(),
    };
  }

  // -------------------------------------------------------------------------------------------
  // API

  private parseAddr(s: string, what: string): number {
    const a = parseIpv4Address(s);
    if (isWireError(a)) throw err('ERR_INVALID_IP_ADDRESS', `invalid ${what}: ${JSON.stringify(s)}`);
    return a;
  }

  private checkPort(port: unknown): number {
    if (typeof port !== 'number' || !Number.isInteger(port) || port < 0 || port > 65535) throw err('ERR_SOCKET_BAD_PORT', `bad port ${String(port)}`);
    return port;
  }

  /** A server; `onAssociation` is called for each new association (also the 'association' event). */
  createServer(opts: SctpServerOptions = {}, onAssociation?: (a: SctpAssociation) => void): SctpServer {
    const srv = new SctpServer(
      (s) => {
        if (s.port === 0) s.port = this.ephemeralPort();
        this.checkPort(s.port);
        if (this.listeners.has(s.port)) throw err('EADDRINUSE', `SCTP port ${s.port} is in use`);
        this.listeners.set(s.port, { server: s, onAssociation });
      },
      (s) => {
        if (this.listeners.get(s.port)?.server === s) this.listeners.delete(s.port);
      },
    );
    srv.port = opts.port === undefined ? 0 : this.checkPort(opts.port);
    srv.addrs = (opts.addresses ?? []).map((a) => this.parseAddr(a, 'address'));
    srv.streams = opts.streams ?? 0;
    return srv;
  }

  private ephemeralPort(): number {
    for (let k = 0; k < 16384; k++) {
      const p = this.nextEphemeral;
      this.nextEphemeral = this.nextEphemeral >= 65535 ? EPHEMERAL_LO : this.nextEphemeral + 1;
      if (!this.listeners.has(p) && ![...this.assocs].some((a) => a.s.localPort === p)) return p;
    }
    throw err('EADDRINUSE', 'no free ephemeral SCTP port');
  }

  /** Active open: send INIT (§5.1 A). 'connect' or 'error' (ECONNREFUSED, ETIMEDOUT) follows. */
  connect(opts: SctpConnectOptions, onConnect?: () => void): SctpAssociation {
    if (this.dead) throw err('ERR_STACK_CLOSED', 'stack has crashed');
    const remote = this.parseAddr(opts.host, 'host');
    const port = this.checkPort(opts.port);
    if (port === 0) throw err('ERR_SOCKET_BAD_PORT', 'port 0');
    const locals = (opts.localAddresses ?? []).map((a) => this.parseAddr(a, 'local address'));
    if (locals.length === 0) {
      const s = this.ctx.ip.sourceFor(remote);
      if (s === null) throw err('ENETUNREACH', `no route to ${opts.host}`);
      locals.push(s);
    }
    const lport = opts.localPort ? this.checkPort(opts.localPort) : this.ephemeralPort();
    if (this.byKey.has(this.key(lport, remote, port))) throw err('EADDRINUSE', 'association exists');
    const streams = opts.streams ?? this.opts.outboundStreams;
    const tag = this.nonZeroTag();
    const state = this.freshState({ localPort: lport, remotePort: port, localAddrs: locals, myTag: tag, peerTag: 0, myInitialTsn: tag, numOut: streams, numIn: Math.max(streams, this.opts.inboundStreams) });
    state.paths.push(newPath(remote, 'active', this.opts, this.ctx.ip.mtuFor(remote) || 1500, 0));
    const a = new SctpAssoc(this, state);
    const api = this.register(a);
    const now = this.ctx.clock.now();
    state.t1Rto = this.opts.rtoInitial;
    state.t1At = now + state.t1Rto;
    a.queueControl(a.initChunk(), remote, 0);
    this.counters.associationsOpened++;
    if (onConnect) api.once('connect', onConnect);
    this.ctx.wake();
    return api;
  }

  /**
   * Continue an association from a snapshot (seed 004 secondary; checkpoint restore). Deadlines
   * are rebased onto this stack's clock; outstanding DATA is retransmitted at once, and a SACK
   * tells the peer where we are.
   */
  adopt(snap: SctpSnapshot): SctpAssociation {
    if (snap.kind !== 'sctp-association' || snap.version !== 1 || snap.state?.version !== 1) throw err('ERR_CHECKPOINT_INVALID', 'not an SCTP association snapshot');
    const state = structuredClone(snap.state);
    const now = this.ctx.clock.now();
    rebaseState(state, now - snap.takenAt);
    if (state.state === 'CLOSED') throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', 'association was closed');
    if (!this.secrets.some((s) => Buffer.compare(s, state.cookieSecret) === 0)) this.secrets.push(state.cookieSecret);
    this.standbys.delete(this.key(state.localPort, state.paths[0]?.addr ?? 0, state.remotePort));
    for (const p of state.paths) this.standbys.delete(this.key(state.localPort, p.addr, state.remotePort));
    const a = new SctpAssoc(this, state);
    a.setSnapshotSeq(snap.seq);
    // Anything that was in flight from the old host is retransmitted from here (its timers and
    // flight counts belonged to the other instance).
    for (const c of state.out) {
      if (c.sent && !c.gapAcked) c.retx = true;
    }
    for (const p of state.paths) {
      p.flight = 0;
      p.t3At = Infinity;
      p.rttActive = false;
      p.hbOutstanding = false;
      p.hbAt = now;
    }
    a.requestSack();
    const api = this.register(a);
    this.counters.associationsAdopted++;
    this.ctx.wake();
    return api;
  }

  /**
   * Out-of-the-blue packets to `port` are silently dropped instead of answered with ABORT while
   * at least one quiet request holds it (a seed 004 standby for a service on that port).
   */
  setQuietPort(port: number, quiet: boolean): void {
    const n = (this.quietPorts.get(port) ?? 0) + (quiet ? 1 : -1);
    if (n > 0) this.quietPorts.set(port, n);
    else this.quietPorts.delete(port);
  }

  /** Register a standby record: answer HEARTBEATs for it until adopted (seed 004). */
  standby(rec: SctpStandbyRecord): void {
    for (const addr of rec.peerAddrs) this.standbys.set(this.key(rec.localPort, addr, rec.remotePort), rec);
  }

  /** Forget a standby record. */
  unstandby(rec: SctpStandbyRecord): void {
    for (const addr of rec.peerAddrs) {
      const k = this.key(rec.localPort, addr, rec.remotePort);
      if (this.standbys.get(k) === rec) this.standbys.delete(k);
    }
  }

  private standbyReceive(rec: SctpStandbyRecord, repr: SctpRepr, rx: IpRx, now: number): void {
    void now;
    if (repr.verificationTag !== rec.myTag) return void this.counters.badVtag++;
    const acks: SctpChunk[] = [];
    for (const c of repr.chunks) if (c.kind === 'heartbeat') acks.push({ kind: 'heartbeat-ack', info: c.info });
    if (acks.length === 0) return void this.counters.standbyDrops++;
    this.counters.standbyHeartbeatAcks += acks.length;
    const { src, dst } = this.replyFromTo(rx);
    this.sendPacket({ srcPort: repr.dstPort, dstPort: repr.srcPort, verificationTag: rec.peerTag, chunks: acks }, src, dst);
  }

  /** The API object of an engine association (internal use by replication). */
  apiFor(a: SctpAssoc): SctpAssociation | undefined {
    return this.apiOf.get(a);
  }
}
