/**
 * The interface engine: Ethernet, ARP, IPv4 (validation, reassembly, fragmentation, routing on
 * one link), ICMP and IGMPv2 — sans-IO. Transports (UDP, TCP, SCTP) plug in as
 * TransportProtocol and see it as their IpLayer.
 *
 * Read this first:
 * - Nothing here reads a clock or arms a timer. Entry points take `now` (ms); `pollAt()` says
 *   when `poll()` must run next. The only outward call is `output(frame, meta)`, which the
 *   runtime points at `link.send`. Calls from the application outside receive/poll (a UDP send,
 *   a ping) learn the time through the optional `time()` option.
 * - Receive path: one reusable view object per header (no per-frame view allocation). Every
 *   received frame ends in exactly one outcome, each counted: a drop with a reason (the `drops`
 *   object), an ARP packet handled (`arp.rxAccepted`), a fragment held for reassembly
 *   (`ip.fragQueued`), or a datagram delivered to a protocol (`ip.rxDelivered`). So
 *   `eth.rxFrames + ip.rxLoopback === sum(rx drops) + arp.rxAccepted + ip.fragQueued + ip.rxDelivered`,
 *   and `ip.rxDelivered === icmp.rxMessages + igmp.rxMessages + ip.rxToTransport + ip.rxIntercepted`.
 *   Drops keyed `tx*` are on the send side and are not part of that sum.
 * - Send path (zero copy): a transport writes its header and payload at `buf[headroom ..]`; we
 *   write IPv4 and Ethernet headers in front, in place, and hand the buffer to the link.
 * - All state (addresses, ARP cache, reassembly buffers, IGMP groups, counters) is plain data.
 */
import {
  ArpOp,
  ARP_LEN,
  ArpPacket,
  EtherType,
  ETH_HEADER_LEN,
  EthernetPacket,
  ICMP_HEADER_LEN,
  IcmpPacket,
  IgmpPacket,
  IcmpType,
  IPV4_HEADER_LEN,
  IPV4_OFF,
  Ipv4Packet,
  checksum,
  checksumPartial,
  emitIcmp,
  emitIgmp,
  emitIpv4,
  foldChecksum,
  icmpQuoteLength,
  multicastMac,
  type WireError,
} from '@hastack/wire';
import type { LinkMedium, LinkOffloads, RxMeta, TxMeta } from '../link.js';
import type { IpLayer, IpRx, IpTx, TransportProtocol } from './types.js';
import { ArpCache, type ArpEntry, type ArpOptions } from './arp.js';
import { FragResult, Reassembler, expiredQuote, type ReassemblyOptions } from './reassembly.js';
import { ALL_ROUTERS, ALL_SYSTEMS, IGMP_LEN, IgmpType, ROUTER_ALERT, type GroupState } from './igmp.js';
import { Random } from '../util/random.js';
import { prefixMask } from '../util/addr.js';

export interface IcmpRateLimit {
  /** Tokens added per second (default 100). */
  ratePerSec?: number;
  /** Bucket size (default 50). */
  burst?: number;
}

export interface EngineOptions {
  medium: LinkMedium;
  /** IP MTU of the link. */
  mtu: number;
  /** Our MAC (required for Ethernet). */
  mac?: Uint8Array;
  offloads: LinkOffloads;
  /** Hand a frame to the link (ownership passes). False: the link dropped it. */
  output(frame: Uint8Array, meta?: TxMeta): boolean;
  /** Current time for calls that arrive outside receive()/poll() (application sends). */
  time?: () => number;
  /** Seed for IP identification and IGMP report delays. */
  seed?: number;
  /** Default TTL (64). */
  ttl?: number;
  arp?: ArpOptions;
  reassembly?: ReassemblyOptions;
  icmpRateLimit?: IcmpRateLimit;
  /** Packets looped back to ourselves waiting for the next poll (default 256). */
  loopbackQueue?: number;
}

/** One configured address. */
export interface InterfaceAddress {
  address: number;
  prefix: number;
  mask: number;
  network: number;
  broadcast: number;
}

/** Callbacks the runtime installs once (no per-packet closures). */
export interface EngineHooks {
  /** An echo reply arrived (ping). `data` is valid only during the call. */
  echoReply?(src: number, id: number, seq: number, data: Uint8Array, now: number): void;
  /** An ICMP error (or a local ARP failure) concerns an echo request we sent. */
  echoError?(id: number, seq: number, type: number, code: number, now: number): void;
  /** A frame not addressed to us arrived (hub / promiscuous mode). Valid only during the call. */
  foreignFrame?(frame: Uint8Array, meta: RxMeta | undefined): void;
  /**
   * A unicast IPv4 packet for one of our addresses, about to go to its transport (not ICMP or
   * IGMP): return true to consume it (it is then counted in `ip.rxIntercepted` and not delivered).
   * `packet` is the whole IP datagram and `rx` the engine's reused IpRx: both are valid only during
   * the call. Used to forward the segments of connections another host still serves (HA failback
   * 'drain', as an L4 balancer in direct-server-return mode does) instead of answering them.
   */
  interceptIp?(packet: Uint8Array, rx: IpRx, now: number): boolean;
}

function newDrops() {
  return {
    // Ethernet
    ethTruncated: 0,
    ethUnsupported: 0,
    ethForeign: 0,
    ethUnknownType: 0,
    ethOwnSource: 0,
    // ARP
    arpTruncated: 0,
    arpUnsupported: 0,
    arpBadField: 0,
    // IPv4
    ipTruncated: 0,
    ipBadVersion: 0,
    ipBadHeaderLength: 0,
    ipBadLength: 0,
    ipBadChecksum: 0,
    ipBadOption: 0,
    ipMartianSource: 0,
    ipNotForUs: 0,
    ipUnknownProtocol: 0,
    // Reassembly (the fragment that arrived is dropped)
    fragDuplicate: 0,
    fragOverlap: 0,
    fragMemFull: 0,
    fragTooMany: 0,
    fragInconsistent: 0,
    fragTooBig: 0,
    fragBadLength: 0,
    // ICMP
    icmpTruncated: 0,
    icmpBadChecksum: 0,
    icmpBadField: 0,
    icmpUnsupported: 0,
    icmpBroadcastEcho: 0,
    icmpBadQuote: 0,
    icmpQuoteNotOurs: 0,
    icmpUnmatchedReply: 0,
    // IGMP
    igmpTruncated: 0,
    igmpBadChecksum: 0,
    igmpBadField: 0,
    igmpUnsupported: 0,
    // The engine was crashed
    rxDown: 0,
    // Send side (not part of the receive accounting)
    txNoRoute: 0,
    txTooBigDf: 0,
    txArpFailed: 0,
    txArpQueueFull: 0,
    txArpTableFull: 0,
    txLinkFull: 0,
    txLoopbackFull: 0,
    txDown: 0,
  };
}
export type EngineDrops = ReturnType<typeof newDrops>;

const PROTO_ICMP = 1;
const PROTO_IGMP = 2;
const PROTO_UDP = 17;
const BROADCAST = 0xffffffff;
const ETH_BROADCAST = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
const ZERO_MAC = new Uint8Array(6);

function isMulticast(a: number): boolean {
  return a >>> 28 === 0xe;
}

/** Map a wire parse error to a drop counter suffix. */
function reasonKey(prefix: string, e: WireError): string {
  switch (e.reason) {
    case 'truncated':
      return prefix + 'Truncated';
    case 'bad-version':
      return prefix + 'BadVersion';
    case 'bad-header-length':
      return prefix + 'BadHeaderLength';
    case 'bad-length':
      return prefix + 'BadLength';
    case 'bad-checksum':
      return prefix + 'BadChecksum';
    case 'bad-option':
      return prefix + 'BadOption';
    case 'bad-field':
      return prefix + 'BadField';
    default:
      return prefix + 'Unsupported';
  }
}

export class Engine implements IpLayer {
  readonly medium: LinkMedium;
  readonly mtu: number;
  readonly mac: Uint8Array;
  readonly offloads: LinkOffloads;
  readonly headroom: number;
  /** Link header length (14 or 0). */
  readonly linkHeader: number;
  readonly ttl: number;

  // Counters (plain numeric fields).
  readonly eth = { rxFrames: 0, rxBytes: 0, txFrames: 0, txBytes: 0 };
  readonly arp = { rxAccepted: 0, rxRequests: 0, rxReplies: 0, rxIgnored: 0, txRequests: 0, txReplies: 0, txGratuitous: 0, learned: 0, updated: 0, resolveFailed: 0, queued: 0, conflicts: 0 };
  readonly ip = {
    rxPackets: 0, rxLoopback: 0, rxDelivered: 0, rxToTransport: 0, rxIntercepted: 0, rxFragments: 0, fragQueued: 0, reassembled: 0, reasmTimeouts: 0, reasmFailed: 0,
    txPackets: 0, txFragments: 0, fragmented: 0, txLoopback: 0,
  };
  readonly icmp = { rxMessages: 0, rxAccepted: 0, rxEchoRequests: 0, rxEchoReplies: 0, rxErrors: 0, txEchoRequests: 0, txEchoReplies: 0, txUnreachable: 0, txTimeExceeded: 0, rateLimited: 0 };
  readonly igmp = { rxMessages: 0, rxAccepted: 0, rxQueries: 0, rxReports: 0, txReports: 0, txLeaves: 0, suppressed: 0 };
  readonly drops: EngineDrops = newDrops();

  readonly arpCache: ArpCache;
  readonly reassembler: Reassembler;
  /** Joined multicast groups (224.0.0.1 is implicit). */
  readonly groups = new Map<number, GroupState>();
  hooks: EngineHooks = {};
  /** Why the last failed send failed (sendIp returned false). */
  lastTxError: 'noRoute' | 'tooBig' | 'linkFull' | 'down' | null = null;

  private addrs: InterfaceAddress[] = [];
  /** Addresses we hold but do not answer ARP for (RFC 826 replies suppressed; "no-ARP" VIP). */
  private readonly arpSilent = new Set<number>();
  private gateway = 0;
  private readonly transports: (TransportProtocol | undefined)[] = new Array(256);
  private readonly transportList: TransportProtocol[] = [];
  private readonly output: (frame: Uint8Array, meta?: TxMeta) => boolean;
  private readonly timeFn: (() => number) | undefined;
  private time = 0;
  private inEntry = false;
  private ident: number;
  private readonly rng: Random;
  private dead = false;
  // Loopback: packets to ourselves, processed on the next poll (bounded).
  private readonly loopback: Uint8Array[] = [];
  private readonly loopbackMax: number;
  // ICMP error token bucket.
  private tokens: number;
  private tokensAt = 0;
  private readonly tokenRate: number;
  private readonly tokenBurst: number;
  private igmpNextAt = Infinity;

  // Reusable views (receive and send sides are separate: a send can happen inside a receive).
  private readonly rxEth = new EthernetPacket(new Uint8Array(0));
  private readonly rxArp = new ArpPacket(new Uint8Array(0));
  private readonly rxIp = new Ipv4Packet(new Uint8Array(0));
  private readonly rxIcmp = new IcmpPacket(new Uint8Array(0));
  private readonly rxIgmp = new IgmpPacket(new Uint8Array(0));
  private readonly txIp = new Ipv4Packet(new Uint8Array(0));
  private readonly txArp = new ArpPacket(new Uint8Array(0));
  private readonly rx: IpRx = { src: 0, dst: 0, protocol: 0, ttl: 0, tos: 0, nonUnicast: false, meta: undefined };

  constructor(opts: EngineOptions) {
    this.medium = opts.medium;
    this.mtu = opts.mtu;
    this.offloads = opts.offloads;
    this.linkHeader = opts.medium === 'ip' ? 0 : ETH_HEADER_LEN;
    this.headroom = this.linkHeader + IPV4_HEADER_LEN;
    if (opts.medium === 'ethernet' && !opts.mac) throw new TypeError('an Ethernet engine needs a MAC');
    this.mac = opts.mac ? Uint8Array.from(opts.mac) : new Uint8Array(6);
    this.output = opts.output;
    this.timeFn = opts.time;
    this.ttl = opts.ttl ?? 64;
    this.rng = new Random(opts.seed ?? 0x1badb002);
    this.ident = this.rng.int(65536);
    this.arpCache = new ArpCache(opts.arp);
    this.reassembler = new Reassembler(opts.reassembly);
    this.loopbackMax = opts.loopbackQueue ?? 256;
    this.tokenRate = opts.icmpRateLimit?.ratePerSec ?? 100;
    this.tokenBurst = opts.icmpRateLimit?.burst ?? 50;
    this.tokens = this.tokenBurst;
  }

  // ---------------------------------------------------------------- configuration

  /** Register a transport (by its protocol number). */
  addTransport(t: TransportProtocol): void {
    if (this.transports[t.protocol]) throw new Error(`protocol ${t.protocol} already registered`);
    this.transports[t.protocol] = t;
    this.transportList.push(t);
  }

  /** Registered transports. */
  get transportProtocols(): readonly TransportProtocol[] {
    return this.transportList;
  }

  /** Add an address (CIDR). Adding one we have already updates its prefix. */
  addAddress(address: number, prefix: number): void {
    address >>>= 0;
    const mask = prefixMask(prefix);
    const network = (address & mask) >>> 0;
    const broadcast = prefix >= 31 ? BROADCAST : (network | ~mask) >>> 0;
    const a: InterfaceAddress = { address, prefix, mask, network, broadcast };
    const i = this.addrs.findIndex((x) => x.address === address);
    if (i >= 0) this.addrs[i] = a;
    else this.addrs.push(a);
  }

  /** Remove an address; returns whether it was there. */
  removeAddress(address: number): boolean {
    const i = this.addrs.findIndex((x) => x.address === address >>> 0);
    if (i < 0) return false;
    this.addrs.splice(i, 1);
    this.arpSilent.delete(address >>> 0);
    return true;
  }

  /**
   * Keep `address` configured (packets to it are still accepted) but stop answering ARP for it and
   * never use it as an ARP sender address, so neighbours keep resolving it to another host — the
   * "no-ARP" address of a direct-server-return backend (Linux: arp_ignore=1 / arp_announce=2 on a
   * VIP held on another interface). Cleared when the address is removed.
   */
  setArpSilent(address: number, silent: boolean): void {
    if (silent) this.arpSilent.add(address >>> 0);
    else this.arpSilent.delete(address >>> 0);
  }

  /** Whether `address` is ARP-silent (see setArpSilent). */
  isArpSilent(address: number): boolean {
    return this.arpSilent.size > 0 && this.arpSilent.has(address >>> 0);
  }

  addresses(): readonly InterfaceAddress[] {
    return this.addrs;
  }

  setGateway(gw: number | null): void {
    this.gateway = gw === null ? 0 : gw >>> 0;
  }

  getGateway(): number | null {
    return this.gateway === 0 ? null : this.gateway;
  }

  // ---------------------------------------------------------------- IpLayer

  isLocalAddress(addr: number): boolean {
    const a = this.addrs;
    for (let i = 0; i < a.length; i++) if (a[i].address === addr) return true;
    return false;
  }

  /** A broadcast address of ours: limited (255.255.255.255) or the directed broadcast of one of our subnets. */
  isBroadcast(addr: number): boolean {
    if (addr === BROADCAST) return true;
    const a = this.addrs;
    for (let i = 0; i < a.length; i++) if (a[i].prefix < 31 && a[i].broadcast === addr) return true;
    return false;
  }

  /** Whether we are a member of multicast group `addr`. */
  isJoined(addr: number): boolean {
    return addr === ALL_SYSTEMS || this.groups.has(addr);
  }

  sourceFor(dst: number): number | null {
    const a = this.addrs;
    if (a.length === 0) return null;
    const silent = this.arpSilent.size > 0;
    for (let i = 0; i < a.length; i++) {
      // An ARP-silent address is not chosen as a source: the answers would go to another host.
      if (((dst & a[i].mask) >>> 0) === a[i].network && !(silent && this.arpSilent.has(a[i].address))) return a[i].address;
    }
    if (silent) for (let i = 0; i < a.length; i++) if (((dst & a[i].mask) >>> 0) === a[i].network) return a[i].address;
    if (this.isLocalAddress(dst)) return dst;
    if (dst === BROADCAST || isMulticast(dst)) return a[0].address;
    if (this.gateway) {
      for (let i = 0; i < a.length; i++) if (((this.gateway & a[i].mask) >>> 0) === a[i].network) return a[i].address;
      return a[0].address;
    }
    return null;
  }

  mtuFor(_dst: number): number {
    return this.mtu;
  }

  /**
   * Send one transport packet (see IpLayer). Routing: our own address → loopback; broadcast and
   * multicast → link broadcast/multicast; on-link → ARP for the destination; else the gateway.
   */
  sendIp(buf: Uint8Array, len: number, tx: IpTx): boolean {
    if (this.dead) {
      this.drops.txDown++;
      this.lastTxError = 'down';
      return false;
    }
    this.refreshTime();
    const dst = tx.dst >>> 0;
    const src = tx.src >>> 0;
    const ttl = tx.ttl ?? (isMulticast(dst) ? 1 : this.ttl);
    const lh = this.linkHeader;
    const total = IPV4_HEADER_LEN + len;
    if (buf.length < this.headroom + len) throw new RangeError('sendIp: buffer shorter than headroom + len');
    // Loopback (RFC 1122 §3.3.6: a host delivers datagrams to itself internally).
    if (this.isLocalAddress(dst)) {
      this.writeIpHeader(buf, lh, total, tx.protocol, src, dst, ttl, tx.tos ?? 0, tx.dontFragment ?? false, 0, false);
      if (tx.tx && tx.tx.csumStart !== undefined) this.completeChecksum(buf, this.headroom, len, tx.tx, tx.protocol);
      return this.loop(buf.subarray(lh, lh + total));
    }
    let nextHop: number;
    let kind: 0 | 1 | 2; // 0 unicast via ARP, 1 broadcast, 2 multicast
    if (dst === BROADCAST || this.isBroadcast(dst)) {
      kind = 1;
      nextHop = dst;
    } else if (isMulticast(dst)) {
      kind = 2;
      nextHop = dst;
    } else {
      kind = 0;
      nextHop = this.nextHop(dst);
      if (nextHop === 0) {
        this.drops.txNoRoute++;
        this.lastTxError = 'noRoute';
        return false;
      }
    }
    if ((kind === 2 && tx.multicastLoop !== false && this.isJoined(dst)) || kind === 1) {
      // IP_MULTICAST_LOOP: a copy for our own member sockets. Broadcasts are always looped back
      // too (as Linux does): local listeners on the port hear them.
      const copy = new Uint8Array(total);
      this.writeIpHeader(buf, lh, total, tx.protocol, src, dst, ttl, tx.tos ?? 0, tx.dontFragment ?? false, 0, false);
      copy.set(buf.subarray(lh, lh + total));
      if (tx.tx && tx.tx.csumStart !== undefined) this.completeChecksum(copy, IPV4_HEADER_LEN, len, tx.tx, tx.protocol);
      this.loop(copy);
    }
    // TSO: a TCP super-segment for a link that segments it itself is not fragmented.
    const tso = tx.tx !== undefined && tx.tx.gsoSize !== undefined && this.offloads.tso && lh + total <= this.offloads.maxFrame;
    if (total > this.mtu && !tso) {
      if (tx.dontFragment) {
        this.drops.txTooBigDf++;
        this.lastTxError = 'tooBig';
        return false;
      }
      if (tx.tx && tx.tx.csumStart !== undefined) this.completeChecksum(buf, this.headroom, len, tx.tx, tx.protocol);
      return this.fragment(buf, len, tx, src, dst, ttl, kind, nextHop);
    }
    const ident = this.writeIpHeader(buf, lh, total, tx.protocol, src, dst, ttl, tx.tos ?? 0, tx.dontFragment ?? false, 0, false);
    void ident;
    let meta: TxMeta | undefined;
    if (tx.tx && tx.tx.csumStart !== undefined) {
      // Rebase transport-relative offsets onto the frame (TxMeta is frame-relative).
      if (this.offloads.txChecksum) meta = { csumStart: this.headroom + tx.tx.csumStart, csumOffset: tx.tx.csumOffset };
      else this.completeChecksum(buf, this.headroom, len, tx.tx, tx.protocol);
    }
    if (tso) {
      meta = meta ?? {};
      meta.gsoSize = tx.tx!.gsoSize;
      if (tx.tx!.hdrLen !== undefined) meta.hdrLen = this.headroom + tx.tx!.hdrLen;
    }
    this.ip.txPackets++;
    const frame = buf.length === lh + total ? buf : buf.subarray(0, lh + total);
    return this.transmit(frame, kind, nextHop, meta);
  }

  sendUnreachable(code: number, ipPacket: Uint8Array): void {
    this.sendIcmpError(IcmpType.DEST_UNREACHABLE, code, ipPacket);
  }

  // ---------------------------------------------------------------- receive

  /** One frame from the link. Never throws on any input. */
  receive(frame: Uint8Array, meta: RxMeta | undefined, now: number): void {
    this.time = now;
    this.inEntry = true;
    try {
      this.eth.rxFrames++;
      this.eth.rxBytes += frame.length;
      if (this.dead) {
        this.drops.rxDown++;
        return;
      }
      if (this.medium === 'ip') {
        this.receiveIp(frame, 0, frame.length, meta, now, false);
        return;
      }
      const eth = this.rxEth.reset(frame, 0, frame.length);
      const e = eth.validate();
      if (e) {
        if (e.reason === 'truncated') this.drops.ethTruncated++;
        else this.drops.ethUnsupported++;
        return;
      }
      const mac = this.mac;
      if ((frame[0] & 1) === 0) {
        if (frame[0] !== mac[0] || frame[1] !== mac[1] || frame[2] !== mac[2] || frame[3] !== mac[3] || frame[4] !== mac[4] || frame[5] !== mac[5]) {
          this.drops.ethForeign++;
          this.hooks.foreignFrame?.(frame, meta);
          return;
        }
      }
      if (frame[6] === mac[0] && frame[7] === mac[1] && frame[8] === mac[2] && frame[9] === mac[3] && frame[10] === mac[4] && frame[11] === mac[5]) {
        // Our own frame came back (a hub echoes nothing, but a bridge loop might).
        this.drops.ethOwnSource++;
        return;
      }
      const type = eth.ethertype;
      if (type === EtherType.IPV4) this.receiveIp(frame, ETH_HEADER_LEN, frame.length - ETH_HEADER_LEN, meta, now, false);
      else if (type === EtherType.ARP) this.receiveArp(frame, now);
      else this.drops.ethUnknownType++;
    } finally {
      this.inEntry = false;
    }
  }

  private receiveArp(frame: Uint8Array, now: number): void {
    const arp = this.rxArp.reset(frame, ETH_HEADER_LEN, frame.length - ETH_HEADER_LEN);
    const e = arp.validate();
    if (e) {
      const k = reasonKey('arp', e) as keyof EngineDrops;
      if (k in this.drops) this.drops[k]++;
      else this.drops.arpUnsupported++;
      return;
    }
    this.arp.rxAccepted++;
    const op = arp.op;
    if (op === ArpOp.REQUEST) this.arp.rxRequests++;
    else this.arp.rxReplies++;
    const spa = arp.senderIp;
    const tpa = arp.targetIp;
    const shaOff = arp.senderMacOffset;
    // Sender hardware address must be a unicast MAC and not ours.
    if ((frame[shaOff] & 1) === 1) {
      this.arp.rxIgnored++;
      return;
    }
    if (this.isLocalAddress(spa)) {
      // Someone else claims one of our addresses (RFC 5227 §2.4 conflict) — count, do not learn.
      this.arp.conflicts++;
      return;
    }
    // RFC 826 "Packet Reception": update an existing entry for the sender (merge_flag)...
    let merged = false;
    if (spa !== 0) {
      const existing = this.arpCache.get(spa);
      if (existing) {
        const wasPending = existing.mac === null;
        this.arpCache.confirm(spa, frame, shaOff, now, false);
        merged = true;
        this.arp.updated++;
        if (wasPending || existing.queue.length > 0) this.flushArpQueue(existing);
        this.arpCache.recompute();
      }
    }
    // ...and only when we are the target: add the sender, and answer a request. An ARP-silent
    // address of ours is not a target (another host answers for it).
    if (!this.isLocalAddress(tpa) || this.isArpSilent(tpa)) {
      this.arp.rxIgnored++;
      return;
    }
    if (!merged && spa !== 0) {
      if (this.arpCache.confirm(spa, frame, shaOff, now, true)) this.arp.learned++;
    }
    if (op === ArpOp.REQUEST) {
      this.sendArp(ArpOp.REPLY, tpa, frame.subarray(shaOff, shaOff + 6), spa, frame.subarray(shaOff, shaOff + 6));
      this.arp.txReplies++;
    }
  }

  /**
   * IPv4 input (RFC 791 §3.2, RFC 1122 §3.2.1): validate, filter by destination, reassemble,
   * demultiplex by protocol.
   */
  private receiveIp(buf: Uint8Array, off: number, len: number, meta: RxMeta | undefined, now: number, loop: boolean): void {
    const ip = this.rxIp.reset(buf, off, len);
    if (loop) this.ip.rxLoopback++;
    else this.ip.rxPackets++;
    const e = ip.validate();
    if (e) {
      const k = reasonKey('ip', e) as keyof EngineDrops;
      if (k in this.drops) this.drops[k]++;
      else this.drops.ipBadLength++;
      return;
    }
    const src = ip.src;
    const dst = ip.dst;
    // RFC 1122 §3.2.1.3: a source that is broadcast or multicast is discarded; so is one of our
    // own addresses arriving from the wire (a spoof or a loop).
    if (src === BROADCAST || isMulticast(src) || (!loop && this.isLocalAddress(src))) {
      this.drops.ipMartianSource++;
      return;
    }
    let nonUnicast = false;
    if (!this.isLocalAddress(dst)) {
      if (this.isBroadcast(dst) || (isMulticast(dst) && this.isJoined(dst))) nonUnicast = true;
      else {
        this.drops.ipNotForUs++;
        return;
      }
    }
    let pkt = buf;
    let pOff = off;
    let pLen = ip.totalLength;
    if (ip.isFragment) {
      this.ip.rxFragments++;
      const r = this.reassembler.add(ip, now);
      if (typeof r === 'number') {
        switch (r) {
          case FragResult.QUEUED:
            this.ip.fragQueued++;
            break;
          case FragResult.DUPLICATE:
            this.drops.fragDuplicate++;
            break;
          case FragResult.OVERLAP:
            this.drops.fragOverlap++;
            this.ip.reasmFailed++;
            break;
          case FragResult.MEM_FULL:
            this.drops.fragMemFull++;
            break;
          case FragResult.TOO_MANY:
            this.drops.fragTooMany++;
            break;
          case FragResult.INCONSISTENT:
            this.drops.fragInconsistent++;
            this.ip.reasmFailed++;
            break;
          case FragResult.TOO_BIG:
            this.drops.fragTooBig++;
            this.ip.reasmFailed++;
            break;
          default:
            this.drops.fragBadLength++;
        }
        return;
      }
      this.ip.reassembled++;
      pkt = r;
      pOff = 0;
      pLen = r.length;
      this.rxIp.reset(pkt, 0, pLen);
      meta = undefined; // the link's checksum verdict was about single frames
    }
    const v = this.rxIp;
    const hl = v.headerLength;
    const rx = this.rx;
    rx.src = src;
    rx.dst = dst;
    rx.protocol = v.protocol;
    rx.ttl = v.ttl;
    rx.tos = v.tos;
    rx.nonUnicast = nonUnicast;
    rx.meta = meta;
    const proto = rx.protocol;
    if (proto === PROTO_ICMP) {
      this.ip.rxDelivered++;
      this.receiveIcmp(pkt, pOff, pLen, hl, now);
      return;
    }
    if (proto === PROTO_IGMP) {
      this.ip.rxDelivered++;
      this.receiveIgmp(pkt, pOff + hl, pLen - hl, now);
      return;
    }
    const t = this.transports[proto];
    if (!t) {
      this.drops.ipUnknownProtocol++;
      // RFC 1122 §3.2.2.1: protocol unreachable, for unicast only.
      if (!nonUnicast) this.sendIcmpError(IcmpType.DEST_UNREACHABLE, 2, pkt.subarray(pOff, pOff + pLen));
      return;
    }
    this.ip.rxDelivered++;
    const hook = this.hooks.interceptIp;
    if (hook !== undefined && !nonUnicast && hook(pkt.subarray(pOff, pOff + pLen), rx, now)) {
      this.ip.rxIntercepted++;
      return;
    }
    this.ip.rxToTransport++;
    t.receive(rx, pkt.subarray(pOff + hl, pOff + pLen), pkt.subarray(pOff, pOff + pLen), now);
  }

  private receiveIcmp(pkt: Uint8Array, off: number, len: number, hl: number, now: number): void {
    this.icmp.rxMessages++;
    const icmp = this.rxIcmp.reset(pkt, off + hl, len - hl);
    const e = icmp.validate();
    if (e) {
      const k = reasonKey('icmp', e) as keyof EngineDrops;
      if (k in this.drops) this.drops[k]++;
      else this.drops.icmpBadQuote++; // bad version / header length inside an error's quote
      return;
    }
    const rx = this.rx;
    const type = icmp.type;
    if (type === IcmpType.ECHO_REQUEST) {
      // RFC 1122 §3.2.2.6: an echo request to a broadcast/multicast address MAY be ignored; we do.
      if (rx.nonUnicast) {
        this.drops.icmpBroadcastEcho++;
        return;
      }
      this.icmp.rxAccepted++;
      this.icmp.rxEchoRequests++;
      const mlen = len - hl;
      const out = new Uint8Array(this.headroom + mlen);
      const h = this.headroom;
      out.set(pkt.subarray(off + hl, off + len), h);
      // RFC 792: the reply carries the request's identifier, sequence number and data.
      out[h] = IcmpType.ECHO_REPLY;
      out[h + 2] = 0;
      out[h + 3] = 0;
      const c = checksum(out, h, h + mlen);
      out[h + 2] = c >>> 8;
      out[h + 3] = c & 0xff;
      if (this.sendIp(out, mlen, { src: rx.dst, dst: rx.src, protocol: PROTO_ICMP, tos: rx.tos })) this.icmp.txEchoReplies++;
      return;
    }
    if (type === IcmpType.ECHO_REPLY) {
      this.icmp.rxEchoReplies++;
      if (!this.hooks.echoReply) {
        this.drops.icmpUnmatchedReply++;
        return;
      }
      this.icmp.rxAccepted++;
      this.hooks.echoReply(rx.src, icmp.id, icmp.seq, icmp.data, now);
      return;
    }
    // Destination unreachable / time exceeded: find who sent the quoted datagram.
    this.icmp.rxErrors++;
    const q = icmp.data;
    const qhl = (q[0] & 0x0f) << 2;
    const qsrc = ((q[12] << 24) | (q[13] << 16) | (q[14] << 8) | q[15]) >>> 0;
    if (!this.isLocalAddress(qsrc)) {
      this.drops.icmpQuoteNotOurs++;
      return;
    }
    const qproto = q[9];
    if (qproto === PROTO_ICMP) {
      if (q.length < qhl + 8 || q[qhl] !== IcmpType.ECHO_REQUEST) {
        this.drops.icmpBadQuote++;
        return;
      }
      this.icmp.rxAccepted++;
      this.hooks.echoError?.((q[qhl + 4] << 8) | q[qhl + 5], (q[qhl + 6] << 8) | q[qhl + 7], type, icmp.code, now);
      return;
    }
    const t = this.transports[qproto];
    if (!t || !t.icmpError) {
      this.drops.icmpBadQuote++;
      return;
    }
    this.icmp.rxAccepted++;
    t.icmpError(type, icmp.code, q, now);
  }

  /** IGMPv2 host side (RFC 2236 §3). */
  private receiveIgmp(pkt: Uint8Array, off: number, len: number, now: number): void {
    this.igmp.rxMessages++;
    const m = this.rxIgmp.reset(pkt, off, len);
    const e = m.validate();
    if (e) {
      if (e.reason === 'truncated') this.drops.igmpTruncated++;
      else if (e.reason === 'bad-checksum') this.drops.igmpBadChecksum++;
      else if (e.reason === 'bad-field') this.drops.igmpBadField++;
      else this.drops.igmpUnsupported++;
      return;
    }
    const type = m.type;
    const group = m.group;
    this.igmp.rxAccepted++;
    if (type === IgmpType.QUERY) {
      this.igmp.rxQueries++;
      // RFC 2236 §3: answer after a random delay in [0, max response time]; max response time
      // is in 1/10 s, and 0 means an IGMPv1 query: 10 s (RFC 2236 §4).
      const maxResp = (m.maxRespTime || 100) * 100;
      for (const g of this.groups.values()) {
        if (group !== 0 && g.group !== group) continue;
        const at = now + this.rng.next() * maxResp;
        if (at < g.reportAt) g.reportAt = at;
        if (at < this.igmpNextAt) this.igmpNextAt = at;
      }
    } else if (type === IgmpType.V2_REPORT || type === IgmpType.V1_REPORT) {
      this.igmp.rxReports++;
      // RFC 2236 §3: another member's report for the group cancels our pending one.
      const g = this.groups.get(group);
      if (g && g.reportAt !== Infinity) {
        g.reportAt = Infinity;
        this.igmp.suppressed++;
      }
    }
    // Leave Group messages concern routers only.
  }

  // ---------------------------------------------------------------- poll

  /** Run due work: looped-back packets, ARP retries, reassembly timeouts, IGMP reports, transports. */
  poll(now: number): void {
    this.time = now;
    this.inEntry = true;
    try {
      if (this.dead) return;
      // Loopback: bounded per poll; anything left keeps pollAt() at now.
      let n = this.loopback.length;
      if (n > 64) n = 64;
      for (let i = 0; i < n; i++) {
        const p = this.loopback.shift()!;
        this.receiveIp(p, 0, p.length, undefined, now, true);
      }
      if (now >= this.arpCache.nextAt) this.pollArp(now);
      if (now >= this.reassembler.nextAt) {
        for (const d of this.reassembler.expire(now)) {
          this.ip.reasmTimeouts++;
          // RFC 792 / RFC 1122 §3.3.2: time exceeded (fragment reassembly) if fragment zero arrived.
          const q = expiredQuote(d);
          if (q) {
            if (this.sendIcmpError(IcmpType.TIME_EXCEEDED, 1, q)) this.icmp.txTimeExceeded++;
          }
        }
      }
      if (now >= this.igmpNextAt) this.pollIgmp(now);
      const ts = this.transportList;
      for (let i = 0; i < ts.length; i++) ts[i].poll(now);
    } finally {
      this.inEntry = false;
    }
  }

  /** The earliest time poll() must run; Infinity when idle. */
  pollAt(): number {
    if (this.dead) return Infinity;
    let at = this.arpCache.nextAt;
    if (this.loopback.length > 0) at = Math.min(at, this.time);
    if (this.reassembler.nextAt < at) at = this.reassembler.nextAt;
    if (this.igmpNextAt < at) at = this.igmpNextAt;
    const ts = this.transportList;
    for (let i = 0; i < ts.length; i++) {
      const t = ts[i].pollAt();
      if (t < at) at = t;
    }
    return at;
  }

  // ---------------------------------------------------------------- ICMP / IGMP / ARP out

  /** Send an echo request (ping). Returns false when it could not be sent (no route). */
  sendEchoRequest(dst: number, id: number, seq: number, data: Uint8Array, now: number): boolean {
    this.time = now;
    const src = this.sourceFor(dst);
    if (src === null) {
      this.drops.txNoRoute++;
      return false;
    }
    const h = this.headroom;
    const buf = new Uint8Array(h + ICMP_HEADER_LEN + data.length);
    const len = emitIcmp({ kind: 'echo-request', id, seq, data }, buf, h);
    this.icmp.txEchoRequests++;
    return this.sendIp(buf, len, { src, dst, protocol: PROTO_ICMP });
  }

  /**
   * Send an ICMP error about `ipPacket` (RFC 1122 §3.2.2: never about an ICMP error, a
   * non-first fragment, or a datagram to/from a broadcast or multicast address), rate limited
   * by a token bucket (RFC 1812 §4.3.2.8).
   */
  sendIcmpError(type: number, code: number, ipPacket: Uint8Array): boolean {
    if (ipPacket.length < IPV4_HEADER_LEN) return false;
    const hl = (ipPacket[0] & 0x0f) << 2;
    const src = ((ipPacket[12] << 24) | (ipPacket[13] << 16) | (ipPacket[14] << 8) | ipPacket[15]) >>> 0;
    const dst = ((ipPacket[16] << 24) | (ipPacket[17] << 16) | (ipPacket[18] << 8) | ipPacket[19]) >>> 0;
    if (src === 0 || src === BROADCAST || isMulticast(src) || this.isBroadcast(src)) return false;
    if (dst === BROADCAST || isMulticast(dst) || this.isBroadcast(dst)) return false;
    if ((((ipPacket[6] << 8) | ipPacket[7]) & 0x1fff) !== 0) return false;
    if (ipPacket[9] === PROTO_ICMP && ipPacket.length > hl) {
      const t = ipPacket[hl];
      if (t !== IcmpType.ECHO_REQUEST && t !== IcmpType.ECHO_REPLY && t !== 13 && t !== 14) return false;
    }
    const now = this.refreshTime();
    this.tokens = Math.min(this.tokenBurst, this.tokens + ((now - this.tokensAt) * this.tokenRate) / 1000);
    this.tokensAt = now;
    if (this.tokens < 1) {
      this.icmp.rateLimited++;
      return false;
    }
    this.tokens -= 1;
    const qlen = icmpQuoteLength(ipPacket);
    const h = this.headroom;
    const buf = new Uint8Array(h + ICMP_HEADER_LEN + qlen);
    const quote = ipPacket.subarray(0, qlen);
    const len =
      type === IcmpType.TIME_EXCEEDED
        ? emitIcmp({ kind: 'time-exceeded', code, quote }, buf, h)
        : emitIcmp({ kind: 'dest-unreachable', code, nextHopMtu: 0, quote }, buf, h);
    const from = this.isLocalAddress(dst) ? dst : this.sourceFor(src);
    if (from === null) return false;
    if (type === IcmpType.DEST_UNREACHABLE) this.icmp.txUnreachable++;
    return this.sendIp(buf, len, { src: from, dst: src, protocol: PROTO_ICMP });
  }

  /** Join a multicast group (reference counted); the first join sends an IGMPv2 report. */
  joinGroup(group: number): void {
    group >>>= 0;
    const g = this.groups.get(group);
    if (g) {
      g.refs++;
      return;
    }
    this.groups.set(group, { group, refs: 1, reportAt: Infinity });
    // RFC 2236 §3: "When a host joins a multicast group, it should immediately transmit an
    // unsolicited Version 2 Membership Report for that group".
    if (group !== ALL_SYSTEMS) this.sendIgmp(IgmpType.V2_REPORT, group, group);
  }

  /** Leave a group; the last leave sends an IGMPv2 Leave Group to all-routers. Returns false if not joined. */
  leaveGroup(group: number): boolean {
    group >>>= 0;
    const g = this.groups.get(group);
    if (!g) return false;
    if (--g.refs > 0) return true;
    this.groups.delete(group);
    if (group !== ALL_SYSTEMS) this.sendIgmp(IgmpType.LEAVE, ALL_ROUTERS, group);
    return true;
  }

  private pollIgmp(now: number): void {
    let next = Infinity;
    for (const g of this.groups.values()) {
      if (g.reportAt <= now) {
        g.reportAt = Infinity;
        this.sendIgmp(IgmpType.V2_REPORT, g.group, g.group);
      } else if (g.reportAt < next) next = g.reportAt;
    }
    this.igmpNextAt = next;
  }

  private sendIgmp(type: number, dst: number, group: number): void {
    if (this.dead || this.addrs.length === 0) return;
    const lh = this.linkHeader;
    const hl = IPV4_HEADER_LEN + ROUTER_ALERT.length;
    const buf = new Uint8Array(lh + hl + IGMP_LEN);
    emitIgmp({ kind: type === IgmpType.LEAVE ? 'leave' : 'report-v2', maxRespTime: 0, group }, buf, lh + hl);
    emitIpv4(
      {
        src: this.addrs[0].address, dst, protocol: PROTO_IGMP, ttl: 1, tos: 0xc0, ident: this.nextIdent(),
        dontFragment: false, moreFragments: false, fragmentOffset: 0, payloadLength: IGMP_LEN, options: ROUTER_ALERT,
      },
      buf,
      lh,
    );
    if (type === IgmpType.LEAVE) this.igmp.txLeaves++;
    else this.igmp.txReports++;
    this.ip.txPackets++;
    this.transmit(buf, 2, dst, undefined);
  }

  /**
   * Gratuitous ARP announcement (RFC 5227 §3): an ARP request with sender and target protocol
   * address both set to `address` (ours), so neighbours that have an entry for it update it.
   * Without `address`, announce every address we have.
   */
  gratuitousArp(address?: number): void {
    if (this.medium !== 'ethernet' || this.dead) return;
    const list = address === undefined ? this.addrs.filter((a) => !this.isArpSilent(a.address)).map((a) => a.address) : [address >>> 0];
    for (const a of list) {
      this.sendArp(ArpOp.REQUEST, a, ETH_BROADCAST, a, ZERO_MAC);
      this.arp.txGratuitous++;
    }
  }

  private sendArp(op: number, spa: number, ethDst: Uint8Array, tpa: number, tha: Uint8Array): void {
    const f = new Uint8Array(ETH_HEADER_LEN + ARP_LEN);
    f.set(ethDst, 0);
    f.set(this.mac, 6);
    f[12] = EtherType.ARP >>> 8;
    f[13] = EtherType.ARP & 0xff;
    const a = this.txArp.reset(f, ETH_HEADER_LEN, ARP_LEN);
    a.htype = 1;
    a.ptype = 0x0800;
    a.hlen = 6;
    a.plen = 4;
    a.op = op;
    a.senderMac = this.mac;
    a.senderIp = spa;
    a.targetMac = tha;
    a.targetIp = tpa;
    this.emit(f, undefined);
  }

  private sendArpRequest(e: ArpEntry): void {
    let src = this.sourceFor(e.ip) ?? (this.addrs.length ? this.addrs[0].address : 0);
    if (this.isArpSilent(src)) {
      // Never announce an ARP-silent address as a sender (neighbours would learn our MAC for it).
      const other = this.addrs.find((a) => !this.isArpSilent(a.address) && ((e.ip & a.mask) >>> 0) === a.network) ?? this.addrs.find((a) => !this.isArpSilent(a.address));
      src = other ? other.address : 0;
    }
    // A probe of a stale entry goes unicast to the known MAC (RFC 1122 §2.3.2.1); else broadcast.
    this.sendArp(ArpOp.REQUEST, src, e.mac ?? ETH_BROADCAST, e.ip, ZERO_MAC);
    this.arp.txRequests++;
  }

  private pollArp(now: number): void {
    const cache = this.arpCache;
    const o = cache.opts;
    for (const e of [...cache.entries.values()]) {
      if (e.nextRetryAt > now) continue;
      if (e.tries >= o.retries) {
        cache.entries.delete(e.ip);
        if (e.mac === null) this.failArpQueue(e, now);
        continue;
      }
      e.tries++;
      this.sendArpRequest(e);
      e.nextRetryAt = now + o.retryMs;
    }
    cache.recompute();
  }

  /** ARP gave up: drop what waited and tell the senders "host unreachable" (as Linux does). */
  private failArpQueue(e: ArpEntry, now: number): void {
    this.arp.resolveFailed++;
    const q = e.queue;
    e.queue = [];
    e.queueBytes = 0;
    for (const p of q) {
      this.drops.txArpFailed++;
      const ipPkt = p.frame.subarray(this.linkHeader);
      if (ipPkt.length < IPV4_HEADER_LEN) continue;
      const hl = (ipPkt[0] & 0x0f) << 2;
      const proto = ipPkt[9];
      if (proto === PROTO_ICMP) {
        if (ipPkt.length >= hl + 8 && ipPkt[hl] === IcmpType.ECHO_REQUEST) {
          this.hooks.echoError?.((ipPkt[hl + 4] << 8) | ipPkt[hl + 5], (ipPkt[hl + 6] << 8) | ipPkt[hl + 7], IcmpType.DEST_UNREACHABLE, 1, now);
        }
        continue;
      }
      const t = this.transports[proto];
      if (t && t.icmpError && ((((ipPkt[6] << 8) | ipPkt[7]) & 0x1fff) === 0)) t.icmpError(IcmpType.DEST_UNREACHABLE, 1, ipPkt.subarray(0, icmpQuoteLength(ipPkt)), now);
    }
  }

  private flushArpQueue(e: ArpEntry): void {
    const q = e.queue;
    e.queue = [];
    e.queueBytes = 0;
    for (const p of q) {
      p.frame.set(e.mac!, 0);
      this.emit(p.frame, p.meta);
    }
  }

  // ---------------------------------------------------------------- output helpers

  /** Put a built IP packet (link header space at the front) on the link towards `nextHop`. */
  private transmit(frame: Uint8Array, kind: 0 | 1 | 2, nextHop: number, meta: TxMeta | undefined): boolean {
    if (this.linkHeader === 0) return this.emit(frame, meta);
    frame.set(this.mac, 6);
    frame[12] = 0x08;
    frame[13] = 0x00;
    if (kind === 1) {
      frame.set(ETH_BROADCAST, 0);
      return this.emit(frame, meta);
    }
    if (kind === 2) {
      multicastMac(nextHop, frame, 0);
      return this.emit(frame, meta);
    }
    const now = this.time;
    const cache = this.arpCache;
    let e = cache.get(nextHop);
    if (e && e.mac !== null) {
      if (cache.usable(e, now)) {
        frame.set(e.mac, 0);
        // Stale: keep using it, and start one unicast probe.
        if (cache.stale(e, now) && e.nextRetryAt === Infinity) {
          e.tries = 1;
          this.sendArpRequest(e);
          cache.schedule(e, now + cache.opts.retryMs);
        }
        return this.emit(frame, meta);
      }
      // Expired: forget the mapping and resolve afresh.
      e.mac = null;
      e.tries = 0;
      e.nextRetryAt = Infinity;
    }
    if (!e) {
      e = cache.create(nextHop) ?? undefined;
      if (!e) {
        this.drops.txArpTableFull++;
        this.lastTxError = 'linkFull';
        return false;
      }
    }
    // Queue (bounded, drop-oldest) and make sure a request is out.
    const o = cache.opts;
    e.queue.push({ frame, meta });
    e.queueBytes += frame.length;
    this.arp.queued++;
    while (e.queue.length > o.queueLen || (e.queueBytes > o.queueBytes && e.queue.length > 1)) {
      const old = e.queue.shift()!;
      e.queueBytes -= old.frame.length;
      this.drops.txArpQueueFull++;
    }
    if (e.nextRetryAt === Infinity) {
      e.tries = 1;
      this.sendArpRequest(e);
      cache.schedule(e, now + o.retryMs);
    }
    return true;
  }

  private emit(frame: Uint8Array, meta: TxMeta | undefined): boolean {
    this.eth.txFrames++;
    this.eth.txBytes += frame.length;
    if (!this.output(frame, meta)) {
      this.drops.txLinkFull++;
      this.lastTxError = 'linkFull';
      return false;
    }
    return true;
  }

  private loop(pkt: Uint8Array): boolean {
    if (this.loopback.length >= this.loopbackMax) {
      this.drops.txLoopbackFull++;
      this.lastTxError = 'linkFull';
      return false;
    }
    this.ip.txLoopback++;
    this.loopback.push(pkt);
    return true;
  }

  private nextHop(dst: number): number {
    const a = this.addrs;
    for (let i = 0; i < a.length; i++) if (((dst & a[i].mask) >>> 0) === a[i].network) return dst;
    return this.gateway;
  }

  private nextIdent(): number {
    this.ident = (this.ident + 1) & 0xffff;
    return this.ident;
  }

  /** Write a 20-byte IPv4 header at `buf[at..]` with the checksum; returns the identification used. */
  private writeIpHeader(buf: Uint8Array, at: number, total: number, protocol: number, src: number, dst: number, ttl: number, tos: number, df: boolean, fragOff: number, mf: boolean, ident = this.nextIdent()): number {
    const v = this.txIp.reset(buf, at, total);
    buf[at] = 0x45;
    v.tos = tos;
    v.totalLength = total;
    v.ident = ident;
    buf[at + IPV4_OFF.FLAGS_FRAG] = (df ? 0x40 : 0) | (mf ? 0x20 : 0) | ((fragOff >>> 11) & 0x1f);
    buf[at + IPV4_OFF.FLAGS_FRAG + 1] = (fragOff >>> 3) & 0xff;
    v.ttl = ttl;
    v.protocol = protocol;
    v.src = src;
    v.dst = dst;
    v.fillChecksum();
    return ident;
  }

  /**
   * Finish a transport checksum the transport left partial for offload (Linux CHECKSUM_PARTIAL:
   * the field holds the folded pseudo-header sum): sum from csumStart to the end and store the
   * complement. Needed when the packet is fragmented or looped back, or the link cannot do it.
   */
  private completeChecksum(buf: Uint8Array, transportAt: number, len: number, tx: TxMeta, protocol: number): void {
    const start = transportAt + (tx.csumStart ?? 0);
    const field = start + (tx.csumOffset ?? 0);
    let c = foldChecksum(checksumPartial(buf, start, transportAt + len));
    if (c === 0 && protocol === PROTO_UDP) c = 0xffff; // RFC 768: zero is sent as all ones
    buf[field] = c >>> 8;
    buf[field + 1] = c & 0xff;
  }

  /**
   * RFC 791 §3.2 fragmentation: every fragment but the last carries a multiple of 8 data bytes;
   * all share the identification; MF on all but the last; offsets in 8-byte units.
   */
  private fragment(buf: Uint8Array, len: number, tx: IpTx, src: number, dst: number, ttl: number, kind: 0 | 1 | 2, nextHop: number): boolean {
    const lh = this.linkHeader;
    const maxData = ((this.mtu - IPV4_HEADER_LEN) >> 3) << 3;
    const ident = this.nextIdent();
    const payload = buf.subarray(this.headroom, this.headroom + len);
    let ok = true;
    this.ip.fragmented++;
    for (let off = 0; off < len; off += maxData) {
      const n = Math.min(maxData, len - off);
      const more = off + n < len;
      const f = new Uint8Array(lh + IPV4_HEADER_LEN + n);
      f.set(payload.subarray(off, off + n), lh + IPV4_HEADER_LEN);
      this.writeIpHeader(f, lh, IPV4_HEADER_LEN + n, tx.protocol, src, dst, ttl, tx.tos ?? 0, false, off, more, ident);
      this.ip.txFragments++;
      this.ip.txPackets++;
      if (!this.transmit(f, kind, nextHop, undefined)) ok = false;
    }
    return ok;
  }

  private refreshTime(): number {
    if (!this.inEntry && this.timeFn) this.time = this.timeFn();
    return this.time;
  }

  // ---------------------------------------------------------------- lifecycle

  /** Stop at once: forget queues, reassembly and groups; send nothing ever again. */
  crash(): void {
    this.dead = true;
    this.arpCache.clear();
    this.reassembler.clear();
    this.loopback.length = 0;
    this.groups.clear();
  }

  /** Whether crash() was called. */
  get isDead(): boolean {
    return this.dead;
  }

  /** Counters as plain objects (copies). */
  stats(): { eth: Record<string, number>; arp: Record<string, number>; ip: Record<string, number>; icmp: Record<string, number>; igmp: Record<string, number>; drops: Record<string, number> } {
    const q = this.arpCache.queued();
    return {
      eth: { ...this.eth },
      arp: { ...this.arp, entries: this.arpCache.entries.size, queuedPackets: q.packets, queuedBytes: q.bytes },
      ip: { ...this.ip, reasmInProgress: this.reassembler.datagrams.length, reasmBytes: this.reassembler.bytes },
      icmp: { ...this.icmp },
      igmp: { ...this.igmp, groups: this.groups.size },
      drops: { ...this.drops },
    };
  }
}
