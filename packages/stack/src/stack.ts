/**
 * Stack: the runtime — the one object that owns the engine, the link and the single timer.
 *
 * Read this first:
 * - Input: the link delivers a batch; each frame goes to `engine.receive(frame, meta, now)`;
 *   on `batchEnd` (or after every `batchSize` frames of a huge batch) the engine is polled, so
 *   transports emit their output in one burst, then `link.flush()`, then the one timer is armed
 *   at `engine.pollAt()` — re-armed only when that deadline changes.
 * - `wake()` (from transports and API calls) coalesces into one deferred service run
 *   (`clock.defer`): many writes in one tick cost one poll.
 * - `crash()` is a power cut: nothing more is sent, the link is detached, the timer cancelled.
 *   `close()` is graceful: transports close (TCP sends its FINs), then the link is detached.
 */
import { RealClock, type Clock, type TimerHandle } from './clock.js';
import { err, type HastackError } from './errors.js';
import type { Link, LinkHandler, RxMeta, TxMeta } from './link.js';
import { Engine, type IcmpRateLimit } from './engine/engine.js';
import type { ArpOptions } from './engine/arp.js';
import type { ReassemblyOptions } from './engine/reassembly.js';
import type { IpRx, TransportContext, TransportProtocol } from './engine/types.js';
import { UdpLayer, type UdpLayerOptions } from './udp/layer.js';
import { UdpSocket, type MessageListener, type UdpSocketOptions } from './udp/socket.js';
import { TcpLayer, type TcpOptions } from './tcp/index.js';
import { createServer as tcpCreateServer, connect as tcpConnect } from './tcp/api.js';
import { SctpLayer, type SctpLayerOptions } from './sctp/index.js';
import { formatIp, formatMac, parseCidr, parseIp, parseMac } from './util/addr.js';
import { randomMac } from './util/random.js';
import { checksum, pseudoHeaderSum } from '@hastack/wire';

export interface StackOptions {
  /** The network attachment (MemoryNetwork port, TapLink, a wrapper...). */
  link: Link;
  /** One address or several, in CIDR form: '198.18.0.1/24'. */
  address: string | string[];
  /** Our MAC ('02:00:..' or bytes). Default: the link's, else a random locally administered one. */
  mac?: string | Uint8Array;
  /** Default gateway for destinations off every configured subnet. */
  gateway?: string;
  /** Clock (default RealClock). Use a VirtualClock in tests — shared with the MemoryNetwork. */
  clock?: Clock;
  /** Stable node identity (checkpoints, cluster). Default derived from the MAC. */
  nodeId?: string;
  /** Options for the TCP layer. */
  tcp?: TcpOptions;
  /** Frames processed before the engine is polled within one huge link batch (default 256). */
  batchSize?: number;
  /** Seed for the engine's own randomness (IP ids, IGMP delays, ephemeral ports). */
  seed?: number;
  /** ARP timing and bounds. */
  arp?: ArpOptions;
  /** IPv4 reassembly bounds and timeout. */
  reassembly?: ReassemblyOptions;
  /** ICMP error rate limit. */
  icmpRateLimit?: IcmpRateLimit;
  /** UDP receive queue bounds. */
  udp?: UdpLayerOptions;
  /** SCTP protocol parameters (RTO, PF, buffers...). */
  sctp?: SctpLayerOptions;
  /** Default TTL (64). */
  ttl?: number;
}

export interface PingOptions {
  /** Reject with ETIMEDOUT after this many ms (default 1000). */
  timeout?: number;
  /** Bytes of echo data (default 56, as ping(8)). */
  size?: number;
}

interface PendingPing {
  dst: number;
  sentAt: number;
  /** When it times out (part of the single timer's deadline). */
  deadline: number;
  host: string;
  timeout: number;
  resolve: (rtt: number) => void;
  reject: (e: HastackError) => void;
}

const RUNNING = 0;
const CLOSING = 1;
const CLOSED = 2;
const CRASHED = 3;

function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193) >>> 0;
  return h;
}

export class Stack {
  readonly clock: Clock;
  readonly nodeId: string;
  private readonly link: Link;
  private readonly eng: Engine;
  private readonly udpLayer: UdpLayer;
  private readonly tcpLayer: TcpLayer;
  private readonly sctpLayer: SctpLayer;
  private readonly ctx: TransportContext;
  private readonly batchSize: number;
  private state = RUNNING;
  private closePromise: Promise<void> | null = null;
  // The single timer.
  private timer: TimerHandle | null = null;
  private timerAt = Infinity;
  private wakePending = false;
  private inBatch = false;
  private batchNow = 0;
  private batchCount = 0;
  // ping
  private readonly pingId: number;
  private pingSeq = 0;
  private readonly pings = new Map<number, PendingPing>();
  private pingNextAt = Infinity;
  private readonly onTimerBound = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.service(this.clock.now());
  };
  private readonly onWakeBound = (): void => {
    this.wakePending = false;
    this.service(this.clock.now());
  };

  constructor(options: StackOptions) {
    if (!options || typeof options !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'Stack options must be an object');
    const link = options.link;
    if (!link || typeof link.send !== 'function' || typeof link.attach !== 'function') throw err('ERR_INVALID_ARG_TYPE', 'options.link must be a Link');
    this.link = link;
    this.clock = options.clock ?? new RealClock();
    this.batchSize = options.batchSize ?? 256;
    if (!Number.isInteger(this.batchSize) || this.batchSize < 1) throw err('ERR_INVALID_ARG_VALUE', 'batchSize must be a positive integer');
    const addrs = (Array.isArray(options.address) ? options.address : [options.address]).map((a) => parseCidr(a));
    if (addrs.length === 0) throw err('ERR_INVALID_ARG_VALUE', 'at least one address is needed');
    const mac = options.mac !== undefined ? parseMac(options.mac) : link.mac ? Uint8Array.from(link.mac) : randomMac();
    const macStr = formatMac(mac);
    this.nodeId = options.nodeId ?? `node-${macStr.replace(/:/g, '')}`;
    const seed = options.seed ?? hashString(this.nodeId + addrs.map((a) => a.address).join(','));
    this.eng = new Engine({
      medium: link.medium,
      mtu: link.mtu,
      mac: link.medium === 'ethernet' ? mac : undefined,
      offloads: link.offloads,
      output: (frame, meta) => this.link.send(frame, meta),
      time: () => this.clock.now(),
      seed,
      ttl: options.ttl,
      arp: options.arp,
      reassembly: options.reassembly,
      icmpRateLimit: options.icmpRateLimit,
    });
    for (const a of addrs) this.eng.addAddress(a.address, a.prefix);
    if (options.gateway !== undefined) this.eng.setGateway(parseIp(options.gateway));
    this.pingId = (seed >>> 8) & 0xffff;
    const self = this;
    this.ctx = {
      ip: this.eng,
      clock: this.clock,
      nodeId: this.nodeId,
      wake(): void {
        self.wake();
      },
    };
    this.udpLayer = new UdpLayer(this.ctx, this.eng, { seed: seed ^ 0x55d, ...options.udp });
    this.eng.addTransport(this.udpLayer);
    this.tcpLayer = new TcpLayer(this.ctx, options.tcp);
    this.eng.addTransport(this.tcpLayer);
    this.sctpLayer = new SctpLayer(this.ctx, options.sctp);
    this.eng.addTransport(this.sctpLayer);
    this.eng.hooks.echoReply = (src, id, seq, _data, now) => this.onEchoReply(src, id, seq, now);
    this.eng.hooks.echoError = (id, seq, type, code) => this.onEchoError(id, seq, type, code);
    const handler: LinkHandler = {
      frame: (data: Uint8Array, meta?: RxMeta) => this.onFrame(data, meta),
      batchEnd: () => this.onBatchEnd(),
      writable: () => this.wake(),
    };
    link.attach(handler);
  }

  // ------------------------------------------------------------------ runtime

  private onFrame(data: Uint8Array, meta: RxMeta | undefined): void {
    if (this.state >= CLOSED) return;
    if (!this.inBatch) {
      this.inBatch = true;
      this.batchNow = this.clock.now();
    }
    this.eng.receive(data, meta, this.batchNow);
    // Bounded work: a huge batch is polled every `batchSize` frames.
    if (++this.batchCount >= this.batchSize) {
      this.batchCount = 0;
      this.eng.poll(this.batchNow);
      this.link.flush?.();
    }
  }

  private onBatchEnd(): void {
    this.inBatch = false;
    this.batchCount = 0;
    if (this.state >= CLOSED) return;
    this.service(this.clock.now());
  }

  /** Poll the engine, flush the link, arm the timer. */
  private service(now: number): void {
    if (this.state >= CLOSED) return;
    this.eng.poll(now);
    this.link.flush?.();
    if (now >= this.pingNextAt) this.expirePings(now);
    const at = this.eng.pollAt();
    this.arm(at < this.pingNextAt ? at : this.pingNextAt, now);
  }

  /**
   * Arm the single timer for `at`. A timer already armed for an earlier moment is kept (it fires
   * early, the service run finds nothing due and re-arms): deadlines that keep moving later —
   * a retransmission timer pushed back by every ACK — cost no timer operations at all.
   */
  private arm(at: number, now: number): void {
    if (at <= now) {
      this.wake();
      return;
    }
    if (this.timer && this.timerAt <= at) return;
    if (at === Infinity) return;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimer(at, this.onTimerBound);
  }

  /** Ask for a poll soon (coalesced). */
  wake(): void {
    if (this.wakePending || this.state >= CLOSED) return;
    this.wakePending = true;
    this.clock.defer(this.onWakeBound);
  }

  private cancelTimer(): void {
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerAt = Infinity;
  }

  private checkRunning(): void {
    if (this.state !== RUNNING) throw err('ERR_STACK_CLOSED', 'the stack is closed');
  }

  // ------------------------------------------------------------------ accessors

  /** The stack's MAC as 'aa:bb:cc:dd:ee:ff'. */
  get mac(): string {
    return formatMac(this.eng.mac);
  }

  /** The protocol engine (for checkpoint and cluster code). */
  get engine(): Engine {
    return this.eng;
  }

  get udp(): UdpLayer {
    return this.udpLayer;
  }

  get tcp(): TcpLayer {
    return this.tcpLayer;
  }

  /** SCTP (RFC 9260): createServer, connect, adopt. */
  get sctp(): SctpLayer {
    return this.sctpLayer;
  }

  /** The transport context handed to protocols (for code that plugs in more of them). */
  get context(): TransportContext {
    return this.ctx;
  }

  /** The link the stack runs on. */
  get attachedLink(): Link {
    return this.link;
  }

  /** Whether close() or crash() was called. */
  get closed(): boolean {
    return this.state !== RUNNING;
  }

  now(): number {
    return this.clock.now();
  }

  // ------------------------------------------------------------------ API

  /** A dgram.Socket look-alike: createSocket('udp4' | { type: 'udp4', reuseAddr }, [onMessage]). */
  createSocket(type: 'udp4' | UdpSocketOptions, onMessage?: MessageListener): UdpSocket {
    this.checkRunning();
    const opts: UdpSocketOptions = typeof type === 'string' ? { type: type as 'udp4' } : type;
    if (!opts || typeof opts !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'createSocket expects a type or options');
    if (opts.type !== 'udp4') throw err('ERR_SOCKET_BAD_TYPE', `Bad socket type specified. Valid types are: udp4 (got ${String(opts.type)})`);
    return new UdpSocket(this.udpLayer, opts, onMessage);
  }

  /** net.createServer look-alike (see the TCP docs). */
  createServer(...args: unknown[]): ReturnType<typeof tcpCreateServer> {
    this.checkRunning();
    return tcpCreateServer(this, ...args);
  }

  /** net.connect look-alike (see the TCP docs). */
  connect(...args: unknown[]): ReturnType<typeof tcpConnect> {
    this.checkRunning();
    return tcpConnect(this, ...args);
  }

  /**
   * ICMP echo (RFC 792): resolves with the round-trip time in ms; rejects with ETIMEDOUT when no
   * reply comes within `timeout`, EHOSTUNREACH / ENETUNREACH when there is no route, ARP fails,
   * or an ICMP error comes back.
   */
  ping(host: string, options: PingOptions = {}): Promise<number> {
    try {
      this.checkRunning();
      const dst = parseIp(host);
      const timeout = options.timeout ?? 1000;
      const size = options.size ?? 56;
      if (!(timeout > 0)) throw err('ERR_INVALID_ARG_VALUE', 'timeout must be > 0');
      if (!Number.isInteger(size) || size < 0 || size > 65507) throw err('ERR_INVALID_ARG_VALUE', 'size must be an integer in 0..65507');
      const seq = this.pingSeq;
      this.pingSeq = (this.pingSeq + 1) & 0xffff;
      const now = this.clock.now();
      const data = new Uint8Array(size);
      for (let i = 0; i < size; i++) data[i] = (i + 8) & 0xff;
      return new Promise<number>((resolve, reject) => {
        const p: PendingPing = { dst, sentAt: now, deadline: now + timeout, host, timeout, resolve, reject };
        const old = this.pings.get(seq);
        if (old) this.settlePing(seq, old, null, err('ETIMEDOUT', 'ping sequence number reused'));
        this.pings.set(seq, p);
        if (p.deadline < this.pingNextAt) this.pingNextAt = p.deadline;
        const ok = this.eng.sendEchoRequest(dst, this.pingId, seq, data, now);
        this.wake();
        if (!ok) this.settlePing(seq, p, null, err('EHOSTUNREACH', `no route to ${host}`, { syscall: 'ping', info: { address: host } }));
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private settlePing(seq: number, p: PendingPing, rtt: number | null, e: HastackError | null): void {
    if (this.pings.get(seq) !== p) return;
    this.pings.delete(seq);
    if (this.pings.size === 0) this.pingNextAt = Infinity;
    if (e) p.reject(e);
    else p.resolve(rtt!);
  }

  /** Reject pings past their deadline; recompute the earliest remaining one. */
  private expirePings(now: number): void {
    let next = Infinity;
    for (const [seq, p] of [...this.pings]) {
      if (p.deadline <= now) {
        this.settlePing(seq, p, null, err('ETIMEDOUT', `no echo reply from ${p.host} within ${p.timeout} ms`, { syscall: 'ping', info: { address: p.host } }));
      } else if (p.deadline < next) next = p.deadline;
    }
    this.pingNextAt = next;
  }

  private onEchoReply(src: number, id: number, seq: number, now: number): void {
    if (id !== this.pingId) return;
    const p = this.pings.get(seq);
    if (!p || p.dst !== src) return;
    this.settlePing(seq, p, Math.max(0, now - p.sentAt), null);
  }

  private onEchoError(id: number, seq: number, type: number, code: number): void {
    if (id !== this.pingId) return;
    const p = this.pings.get(seq);
    if (!p) return;
    const host = formatIp(p.dst);
    const e =
      type === 3 && code === 0
        ? err('ENETUNREACH', `network unreachable: ${host}`, { syscall: 'ping', info: { address: host, icmpType: type, icmpCode: code } })
        : err('EHOSTUNREACH', `host unreachable: ${host} (ICMP type ${type} code ${code})`, { syscall: 'ping', info: { address: host, icmpType: type, icmpCode: code } });
    this.settlePing(seq, p, null, e);
  }

  /** Counters by layer, plus every drop reason in `drops`. */
  stats(): Record<string, any> {
    const e = this.eng.stats();
    const linkStats = (this.link as { stats?: () => unknown }).stats;
    const out: Record<string, any> = {
      link: typeof linkStats === 'function' ? linkStats.call(this.link) : {},
      eth: e.eth,
      arp: e.arp,
      ip: e.ip,
      icmp: e.icmp,
      igmp: e.igmp,
    };
    const drops: Record<string, number> = { ...e.drops };
    for (const t of this.eng.transportProtocols) {
      const s = t.stats() as Record<string, unknown>;
      out[t.name] = s;
      const d = t === this.udpLayer ? this.udpLayer.drops : (s.drops as Record<string, unknown> | undefined);
      if (d && typeof d === 'object') {
        for (const [k, v] of Object.entries(d)) {
          if (typeof v !== 'number') continue;
          const key = k.startsWith(t.name) ? k : t.name + k[0].toUpperCase() + k.slice(1);
          drops[key] = (drops[key] ?? 0) + v;
        }
      }
    }
    if (!('tcp' in out)) out.tcp = {};
    out.drops = drops;
    return out;
  }

  /** Add an address ('a.b.c.d/len') at run time. */
  addAddress(cidr: string): void {
    this.checkRunning();
    const a = parseCidr(cidr);
    this.eng.addAddress(a.address, a.prefix);
  }

  /** Remove an address ('a.b.c.d', with or without /len). Returns whether it was configured. */
  removeAddress(ip: string): boolean {
    this.checkRunning();
    const a = ip.includes('/') ? parseCidr(ip).address : parseIp(ip);
    return this.eng.removeAddress(a);
  }

  /** Configured addresses in CIDR form. */
  addresses(): string[] {
    return this.eng.addresses().map((a) => `${formatIp(a.address)}/${a.prefix}`);
  }

  /** Announce `ip` (default: every address) with gratuitous ARP (RFC 5227 §3). */
  gratuitousArp(ip?: string): void {
    this.checkRunning();
    if (ip === undefined) this.eng.gratuitousArp();
    else {
      const a = parseIp(ip);
      if (!this.eng.isLocalAddress(a)) throw err('EADDRNOTAVAIL', `${ip} is not one of our addresses`);
      this.eng.gratuitousArp(a);
    }
    this.wake();
  }

  /**
   * Call `fn` with every received frame not addressed to us (useful on a hub / in promiscuous
   * mode, e.g. for connection snooping). `frame` is valid only during the call. Null removes it.
   */
  onForeignFrame(fn: ((frame: Uint8Array, meta?: RxMeta) => void) | null): void {
    this.eng.hooks.foreignFrame = fn ?? undefined;
  }

  /**
   * Keep `ip` configured (packets to it are still accepted and our replies still come from it) but
   * stop answering ARP for it, as a direct-server-return backend holds a VIP another host answers
   * ARP for (Linux arp_ignore/arp_announce). `silent = false` answers again. Removing the address
   * clears it.
   */
  setArpSilent(ip: string, silent = true): void {
    this.checkRunning();
    const a = parseIp(ip.includes('/') ? ip.split('/')[0] : ip);
    if (silent && !this.eng.isLocalAddress(a)) throw err('EADDRNOTAVAIL', `${ip} is not one of our addresses`);
    this.eng.setArpSilent(a, silent);
  }

  /**
   * Intercept unicast IPv4 packets for our addresses before their transport sees them (not ICMP or
   * IGMP): `fn(packet, rx, now)` returns true to consume one (counted as `ip.rxIntercepted`), false
   * to deliver it as usual. `packet` (the whole IP datagram) and `rx` are valid only during the
   * call. Null removes it. Used by HA failback 'drain' to forward the segments of connections
   * another host still serves (see `forwardIp`). One interceptor per stack.
   */
  setIpInterceptor(fn: ((packet: Uint8Array, rx: IpRx, now: number) => boolean) | null): void {
    this.eng.hooks.interceptIp = fn ?? undefined;
  }

  /**
   * Send an IPv4 packet unchanged (TTL and addresses as they are) in an Ethernet frame to `mac`,
   * from our MAC: the forwarding step of a direct-server-return balancer. The packet is copied.
   * Pass the received packet's RxMeta: when the link only vouched for the transport checksum
   * (`csumValid`; over TAP a NEEDS_CSUM frame holds a partial one), the TCP/UDP checksum is
   * recomputed in the copy so the next host can verify it. A GRO super-packet (`meta.gsoSize`)
   * above the MTU leaves as a TSO super-segment when the link segments (`offloads.tso`). False when
   * the link dropped it, the medium is not Ethernet, or the packet exceeds the MTU otherwise.
   */
  forwardIp(packet: Uint8Array, mac: Uint8Array, meta?: RxMeta): boolean {
    this.checkRunning();
    if (this.eng.medium !== 'ethernet' || mac.length !== 6 || packet.length < 20) return false;
    const proto = packet[9];
    const hl = (packet[0] & 0x0f) << 2;
    const unfragmented = (((packet[6] << 8) | packet[7]) & 0x3fff) === 0;
    // A GRO super-packet (RxMeta.gsoSize, larger than the MTU) leaves as a TSO super-segment of
    // the same segment size when the link segments; otherwise it cannot be forwarded.
    const gsoSize = meta?.gsoSize ?? 0;
    let tx: TxMeta | undefined;
    if (packet.length > this.link.mtu) {
      const o = this.link.offloads;
      // (The TCP header length goes into the link's segmentation header: it must be real.)
      const thl = hl + 20 <= packet.length ? (packet[hl + 12] >>> 4) << 2 : 0;
      if (!(gsoSize > 0 && proto === 6 && unfragmented && hl >= 20 && thl >= 20 && hl + thl < packet.length && o.tso && 14 + packet.length <= o.maxFrame)) return false;
      tx = { gsoSize, hdrLen: 14 + hl + thl };
    }
    const f = new Uint8Array(14 + packet.length);
    f.set(mac, 0);
    f.set(this.eng.mac, 6);
    f[12] = 0x08;
    f[13] = 0x00;
    f.set(packet, 14);
    // The datagram ends at its total length (bytes behind it, e.g. Ethernet padding, go along
    // unchanged but are not part of the segment).
    const total = (packet[2] << 8) | packet[3];
    const end = total >= hl && total <= packet.length ? total : packet.length;
    if (meta?.csumValid && unfragmented && hl >= 20 && (proto === 6 || proto === 17)) {
      // RFC 9293 §3.1 / RFC 768: checksum over the pseudo-header and the whole segment.
      const field = 14 + hl + (proto === 6 ? 16 : 6);
      if (field + 2 <= 14 + end) {
        f[field] = 0;
        f[field + 1] = 0;
        const src = ((packet[12] << 24) | (packet[13] << 16) | (packet[14] << 8) | packet[15]) >>> 0;
        const dst = ((packet[16] << 24) | (packet[17] << 16) | (packet[18] << 8) | packet[19]) >>> 0;
        let c = checksum(f, 14 + hl, 14 + end, pseudoHeaderSum(src, dst, proto, end - hl));
        if (c === 0 && proto === 17) c = 0xffff;
        f[field] = c >>> 8;
        f[field + 1] = c & 0xff;
      }
    }
    const ok = this.link.send(f, tx);
    if (!this.inBatch) this.wake();
    return ok;
  }

  /** Send a raw frame on the link (cluster / lab use). Ownership passes to the link. */
  sendRawFrame(frame: Uint8Array): boolean {
    this.checkRunning();
    const ok = this.link.send(frame);
    this.wake();
    return ok;
  }

  /** Plug another transport (SCTP) in: `factory(ctx)` builds it; it is registered and returned. */
  registerTransport<T extends TransportProtocol>(factory: (ctx: TransportContext) => T): T {
    this.checkRunning();
    const t = factory(this.ctx);
    this.eng.addTransport(t);
    return t;
  }

  /** Graceful shutdown: UDP sockets close, transports finish (TCP FINs), then the link is detached. */
  close(): Promise<void> {
    if (this.closePromise) return this.closePromise;
    if (this.state === CRASHED) return (this.closePromise = Promise.resolve());
    this.state = CLOSING;
    this.closePromise = (async () => {
      this.udpLayer.close();
      const now = this.clock.now();
      const waits: Promise<void>[] = [];
      for (const t of this.eng.transportProtocols) {
        if (t === this.udpLayer || !t.close) continue;
        const r = t.close(now);
        if (r && typeof (r as Promise<void>).then === 'function') waits.push(r as Promise<void>);
      }
      this.wake();
      await Promise.all(waits);
      // Let the last polls put final segments on the link.
      this.service(this.clock.now());
      this.state = CLOSED;
      this.cancelTimer();
      this.failPings(err('ERR_STACK_CLOSED', 'the stack was closed'));
      this.link.flush?.();
      this.link.close();
    })();
    return this.closePromise;
  }

  /** Power cut: stop at once, send nothing, detach the link, cancel the timer. */
  crash(): void {
    if (this.state === CRASHED || this.state === CLOSED) return;
    this.state = CRASHED;
    this.cancelTimer();
    this.eng.crash();
    for (const t of this.eng.transportProtocols) t.crash?.();
    this.failPings(err('ERR_STACK_CLOSED', 'the stack crashed'));
    this.link.close();
  }

  private failPings(e: HastackError): void {
    for (const [seq, p] of [...this.pings]) this.settlePing(seq, p, null, e);
  }
}
