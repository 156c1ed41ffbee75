/**
 * Connection snooper (seed 000 claims 1–3, 7, 11; seed 001 claim 8; seed 002 claim 1). Read this first:
 *
 * A node whose link sees the segment in hub mode (or a mirror port) feeds every frame to
 * `receiveFrame(frame, now)`. The snooper follows each TCP connection whose server end is a
 * watched address (an address the cluster owns) from the packets alone:
 *   - the ISNs and options (MSS, window scale, SACK-permitted, timestamps) from the handshake;
 *   - both directions' next sequence number, last acknowledgment, window and timestamps;
 *   - the client's bytes since the start of its last request (the "replay base"), so a takeover
 *     host can replay them into a deterministic application and suppress the output bytes the
 *     client has already acknowledged (`suppress`).
 *
 * The replay base moves forward when the client starts a new request after the server's previous
 * response was fully acknowledged in both directions (request/response protocols such as HTTP/1.1
 * without pipelining). Memory is bounded per connection and in total; the least recently active
 * connection is evicted first; every loss of information is counted and marks the state
 * `replay.valid = false` rather than handing out a wrong replay.
 *
 * Sans-IO: time is passed in, nothing is sent. `enqueue()` snapshots states into a bounded output
 * queue; the cluster core drains it (`takeOutput()`) and sends the states to the takeover host.
 *
 * Parsing uses the reusable `@hastack/wire` views (Ethernet II, IPv4 without fragments, TCP and
 * its options); everything the snooper cannot use is counted, never thrown.
 */
import {
  clearTcpOptions,
  emptyTcpOptions,
  ETH_HEADER_LEN,
  EthernetPacket,
  EtherType,
  Ipv4Packet,
  parseTcpOptionsInto,
  TCP_HEADER_LEN,
  TCP_MAX_WINDOW_SCALE,
  TCP_PROTOCOL,
  TcpPacket,
  type TcpOptionsRepr,
} from '@hastack/wire';
import { portInRanges, type PortRange } from './ports.js';

/** One end of a snooped connection. Sequence numbers are raw 32-bit values. */
export interface SnoopedEndpoint {
  ip: string;
  port: number;
  /** Initial sequence number, null when the handshake was not seen. */
  isn: number | null;
  /** Next sequence number this end will send (highest seen seq + len, + 1 per SYN/FIN). */
  nxt: number;
  /** Last acknowledgment number this end sent, null before the first ACK. */
  ack: number | null;
  /** Last advertised window, already scaled when both SYNs carried window scale. */
  window: number;
  mss: number | null;
  wscale: number | null;
  sackPermitted: boolean;
  timestamps: boolean;
  tsval: number | null;
  tsecr: number | null;
  fin: boolean;
}

/** The plain-data state handed to a takeover host. */
export interface SnoopedState {
  key: string;
  state: 'syn-sent' | 'syn-received' | 'established' | 'closing';
  server: SnoopedEndpoint;
  client: SnoopedEndpoint;
  replay: {
    /** False when bytes since the base were missed, overflowed or evicted: do not replay. */
    valid: boolean;
    /** Client sequence number of `bytes[0]`. */
    clientSeq: number;
    /** Server sequence number of the first output byte the replayed input produces. */
    serverSeq: number;
    /** The client's bytes from `clientSeq` up to `client.nxt` (without FIN). */
    bytes: Uint8Array;
  };
  /** Server output bytes since `replay.serverSeq` the client has acknowledged: suppress these. */
  suppress: number;
  lastSeen: number;
}

export interface SnooperOptions {
  /** Most connections tracked at once (oldest evicted). Default 4096. */
  maxConnections?: number;
  /** Most client bytes kept per connection since the replay base. Default 64 KiB. */
  maxBytesPerConnection?: number;
  /** Most client bytes kept over all connections. Default 16 MiB. */
  maxTotalBytes?: number;
  /** Most states waiting in the output queue. Default 4096. */
  maxQueue?: number;
  /**
   * Verify IPv4 header and TCP checksums (default true): a corrupted segment the endpoint drops
   * must not enter the replay buffer. Turn off where the link hands over frames whose checksums
   * were offloaded and never filled in.
   */
  verifyChecksums?: boolean;
}

export interface SnooperStats {
  frames: number;
  segments: number;
  notIpv4: number;
  notTcp: number;
  fragments: number;
  malformed: number;
  badChecksum: number;
  unwatched: number;
  connectionsOpened: number;
  connectionsClosed: number;
  resets: number;
  midstreamPickups: number;
  retransmissions: number;
  gaps: number;
  overflows: number;
  evictedConnections: number;
  queueDrops: number;
  bytesStored: number;
}

interface Dir {
  isn: number | null;
  nxt: number;
  ack: number | null;
  rawWindow: number;
  mss: number | null;
  wscale: number | null;
  sackPerm: boolean;
  ts: boolean;
  tsval: number | null;
  tsecr: number | null;
  fin: boolean;
  started: boolean;
}

interface Conn {
  key: string;
  sEp: number;
  cEp: number;
  sIp: number;
  sPort: number;
  cIp: number;
  cPort: number;
  state: SnoopedState['state'];
  c: Dir;
  s: Dir;
  baseValid: boolean;
  baseC: number;
  baseS: number;
  buf: Uint8Array;
  bufLen: number;
  lastSeen: number;
  prev: Conn | null;
  next: Conn | null;
}

function newDir(): Dir {
  return { isn: null, nxt: 0, ack: null, rawWindow: 0, mss: null, wscale: null, sackPerm: false, ts: false, tsval: null, tsecr: null, fin: false, started: false };
}

/** a - b as a signed 32-bit sequence distance (RFC 9293 §3.4 modular arithmetic). */
function seqDiff(a: number, b: number): number {
  return (a - b) | 0;
}
const u32 = (x: number): number => x >>> 0;

export function ipToString(ip: number): string {
  return `${(ip >>> 24) & 255}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
}
export function ipFromString(s: string): number {
  const p = s.split('.').map(Number);
  return u32((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]);
}

const F_FIN = 0x01;
const F_SYN = 0x02;
const F_RST = 0x04;
const F_ACK = 0x10;

interface Watched {
  ip: number;
  ports: PortRange[];
}

const EMPTY = new Uint8Array(0);

export class ConnectionSnooper {
  readonly stats: SnooperStats = {
    frames: 0,
    segments: 0,
    notIpv4: 0,
    notTcp: 0,
    fragments: 0,
    malformed: 0,
    badChecksum: 0,
    unwatched: 0,
    connectionsOpened: 0,
    connectionsClosed: 0,
    resets: 0,
    midstreamPickups: 0,
    retransmissions: 0,
    gaps: 0,
    overflows: 0,
    evictedConnections: 0,
    queueDrops: 0,
    bytesStored: 0,
  };
  private readonly maxConnections: number;
  private readonly maxPerConn: number;
  private readonly maxTotal: number;
  private readonly maxQueue: number;
  private readonly verify: boolean;
  private watched: Watched[] = [];
  private readonly byServer = new Map<number, Map<number, Conn>>();
  private count = 0;
  /** LRU list: head = least recently active. */
  private head: Conn | null = null;
  private tail: Conn | null = null;
  private readonly queue: SnoopedState[] = [];
  /** Reused views and option scratch: no per-frame garbage. */
  private readonly eth = new EthernetPacket(EMPTY);
  private readonly ip = new Ipv4Packet(EMPTY);
  private readonly tcp = new TcpPacket(EMPTY);
  private readonly opts: TcpOptionsRepr = emptyTcpOptions();

  constructor(options: SnooperOptions = {}) {
    this.maxConnections = options.maxConnections ?? 4096;
    this.maxPerConn = options.maxBytesPerConnection ?? 64 * 1024;
    this.maxTotal = options.maxTotalBytes ?? 16 * 1024 * 1024;
    this.maxQueue = options.maxQueue ?? 4096;
    this.verify = options.verifyChecksums ?? true;
  }

  /** Watch connections whose server end is `ip` on one of `ports` (default all). */
  watch(ip: string, ports: PortRange[] = [{ from: 0, to: 65535 }]): void {
    const n = ipFromString(ip);
    this.watched = this.watched.filter((w) => w.ip !== n);
    this.watched.push({ ip: n, ports: ports.map((r) => ({ ...r })) });
  }

  /** Stop watching `ip` (tracked connections stay until they close or are evicted). */
  unwatch(ip: string): void {
    const n = ipFromString(ip);
    this.watched = this.watched.filter((w) => w.ip !== n);
  }

  /** Replace the watched set. */
  setWatched(list: { ip: string; ports: PortRange[] }[]): void {
    this.watched = [];
    for (const w of list) this.watch(w.ip, w.ports);
  }

  /** Number of tracked connections. */
  get size(): number {
    return this.count;
  }

  private isWatched(ip: number, port: number): boolean {
    for (const w of this.watched) if (w.ip === ip && portInRanges(port, w.ports)) return true;
    return false;
  }

  /**
   * Feed one Ethernet II frame (without FCS). Never throws. `meta` is the link's metadata: when
   * it says the transport checksum was verified (`csumValid`) or left to offload (`csumStart`),
   * the TCP checksum is not checked here.
   */
  receiveFrame(frame: Uint8Array, now: number, meta?: { csumValid?: boolean; csumStart?: number }): void {
    this.stats.frames++;
    const eth = this.eth.reset(frame);
    if (eth.check()) {
      this.stats.malformed++;
      return;
    }
    if (eth.ethertype !== EtherType.IPV4) {
      this.stats.notIpv4++;
      return;
    }
    this.receiveIpv4(frame.subarray(ETH_HEADER_LEN), now, meta);
  }

  /** Feed one IPv4 packet (for TUN links). Never throws. */
  receiveIpv4(packet: Uint8Array, now: number, meta?: { csumValid?: boolean; csumStart?: number }): void {
    const ip = this.ip.reset(packet);
    if (packet.length < 1 || ip.version !== 4 || ip.check()) {
      this.stats.malformed++;
      return;
    }
    if (ip.protocol !== TCP_PROTOCOL) {
      this.stats.notTcp++;
      return;
    }
    if (ip.isFragment) {
      this.stats.fragments++;
      return;
    }
    const src = ip.src;
    const dst = ip.dst;
    const tcp = this.tcp.reset(packet, ip.payloadOffset, ip.payloadLength);
    if (tcp.check()) {
      this.stats.malformed++;
      return;
    }
    // RFC 791 §3.1 header checksum; RFC 9293 §3.1 TCP checksum over the pseudo-header.
    const tcpSumKnown = meta?.csumValid === true || meta?.csumStart !== undefined;
    if (this.verify && (!ip.verifyChecksum() || (!tcpSumKnown && !tcp.verifyChecksum(src, dst)))) {
      this.stats.badChecksum++;
      return;
    }
    this.receiveTcp(src >>> 0, dst >>> 0, tcp, now);
  }

  private receiveTcp(src: number, dst: number, t: TcpPacket, now: number): void {
    this.stats.segments++;
    const sport = t.srcPort;
    const dport = t.dstPort;
    let fromClient: boolean;
    if (this.isWatched(dst, dport)) fromClient = true;
    else if (this.isWatched(src, sport)) fromClient = false;
    else {
      this.stats.unwatched++;
      return;
    }
    const seq = t.seq >>> 0;
    const ack = t.ack >>> 0;
    const flags = t.flags;
    const window = t.window;
    const o = this.opts;
    clearTcpOptions(o);
    if (parseTcpOptionsInto(t.buf, t.off + TCP_HEADER_LEN, t.off + t.headerLength, o)) {
      this.stats.malformed++;
      return;
    }
    const payload = t.payload;
    const sIp = fromClient ? dst : src;
    const sPort = fromClient ? dport : sport;
    const cIp = fromClient ? src : dst;
    const cPort = fromClient ? sport : dport;
    const sEp = sIp * 65536 + sPort;
    const cEp = cIp * 65536 + cPort;
    let conn = this.byServer.get(sEp)?.get(cEp);

    if (flags & F_RST) {
      // RFC 9293 §3.10.7: a reset ends the connection; nothing is left to take over.
      if (conn) {
        this.stats.resets++;
        this.remove(conn);
      }
      return;
    }
    const syn = (flags & F_SYN) !== 0;
    if (syn && !(flags & F_ACK) && fromClient) {
      // A new SYN: a new connection (or a new incarnation of the same 4-tuple).
      if (conn && conn.c.isn === seq) {
        this.stats.retransmissions++;
        this.touch(conn, now);
        return;
      }
      if (conn) this.remove(conn);
      conn = this.create(sIp, sPort, cIp, cPort, sEp, cEp, now);
      conn.state = 'syn-sent';
      this.applyHandshake(conn.c, seq, window);
      conn.baseC = u32(seq + 1);
      conn.baseValid = true;
      return;
    }
    if (!conn) {
      conn = this.create(sIp, sPort, cIp, cPort, sEp, cEp, now);
      if (syn && !fromClient) {
        // SYN-ACK without the SYN: the client's ISN is ack - 1.
        conn.c.isn = u32(ack - 1);
        conn.c.nxt = ack;
        conn.c.started = true;
        conn.baseC = ack;
        conn.baseValid = true;
      } else {
        // Picked up mid-stream: no ISNs, no replay until the next request boundary.
        this.stats.midstreamPickups++;
        conn.state = 'established';
        conn.baseValid = false;
      }
    }
    this.touch(conn, now);
    const me = fromClient ? conn.c : conn.s;
    const peer = fromClient ? conn.s : conn.c;

    if (syn) {
      if (fromClient) {
        this.stats.retransmissions++;
        return;
      }
      if (conn.s.isn === seq) this.stats.retransmissions++;
      else {
        this.applyHandshake(conn.s, seq, window);
        conn.baseS = u32(seq + 1);
        conn.state = 'syn-received';
      }
    } else if (!me.started) {
      me.nxt = seq;
      me.started = true;
      if (!fromClient) conn.baseS = seq;
    }
    if (this.opts.tsVal !== undefined) {
      me.tsval = this.opts.tsVal >>> 0;
      me.tsecr = (this.opts.tsEcr ?? 0) >>> 0;
    }
    me.rawWindow = window;

    if (flags & F_ACK) {
      if (me.ack === null || seqDiff(ack, me.ack) > 0) me.ack = ack;
      if (conn.state === 'syn-received' && fromClient && conn.s.isn !== null && ack === u32(conn.s.isn + 1)) conn.state = 'established';
      // The server acknowledged client bytes we never saw: the replay buffer has a hole.
      if (!fromClient && peer.started && seqDiff(ack, peer.nxt) > 0) {
        this.stats.gaps++;
        this.invalidate(conn);
        peer.nxt = ack;
      }
    }

    const dataSeq = syn ? u32(seq + 1) : seq;
    const len = payload.length;
    if (len > 0) this.data(conn, fromClient, dataSeq, payload);
    if (flags & F_FIN) {
      const finSeq = u32(dataSeq + len);
      if (!me.fin) {
        if (seqDiff(finSeq, me.nxt) >= 0) {
          me.fin = true;
          me.nxt = u32(finSeq + 1);
          conn.state = 'closing';
        }
      }
    }
    // Both FINs sent and acknowledged: the connection is over (RFC 9293 §3.6).
    if (conn.c.fin && conn.s.fin && conn.c.ack === conn.s.nxt && conn.s.ack === conn.c.nxt) {
      this.stats.connectionsClosed++;
      this.remove(conn);
    }
  }

  private data(conn: Conn, fromClient: boolean, seq: number, payload: Uint8Array): void {
    const me = fromClient ? conn.c : conn.s;
    const end = u32(seq + payload.length);
    if (seqDiff(end, me.nxt) <= 0) {
      // Entirely old: a retransmission (RFC 9293 §3.10.7.4 would trim it the same way).
      this.stats.retransmissions++;
      return;
    }
    if (seqDiff(seq, me.nxt) > 0) {
      // Bytes between me.nxt and seq never passed us.
      this.stats.gaps++;
      if (fromClient) this.invalidate(conn);
      me.nxt = end;
      return;
    }
    const skip = seqDiff(me.nxt, seq);
    if (skip > 0) this.stats.retransmissions++;
    if (fromClient) {
      // A new request after the previous response was fully acknowledged both ways: the
      // exchange before it is complete, so the replay base moves here ("last acknowledged request").
      const s = conn.s;
      if (
        s.started &&
        conn.s.ack === me.nxt &&
        conn.c.ack === s.nxt &&
        s.nxt !== conn.baseS &&
        me.nxt !== conn.baseC
      ) {
        conn.baseC = me.nxt;
        conn.baseS = s.nxt;
        this.stats.bytesStored -= conn.bufLen;
        conn.bufLen = 0;
        conn.baseValid = true;
      }
      if (conn.baseValid) this.append(conn, payload.subarray(skip));
    }
    me.nxt = end;
  }

  private append(conn: Conn, bytes: Uint8Array): void {
    const need = conn.bufLen + bytes.length;
    if (need > this.maxPerConn) {
      this.stats.overflows++;
      this.invalidate(conn);
      return;
    }
    if (need > conn.buf.length) {
      let cap = Math.max(512, conn.buf.length * 2);
      while (cap < need) cap *= 2;
      const nb = new Uint8Array(Math.min(cap, this.maxPerConn));
      nb.set(conn.buf.subarray(0, conn.bufLen));
      conn.buf = nb;
    }
    conn.buf.set(bytes, conn.bufLen);
    conn.bufLen = need;
    this.stats.bytesStored += bytes.length;
    // Bounded total memory: evict the least recently active connections (never this one).
    while (this.stats.bytesStored > this.maxTotal && this.head && this.head !== conn) {
      this.stats.evictedConnections++;
      this.remove(this.head);
    }
    if (this.stats.bytesStored > this.maxTotal) {
      this.stats.overflows++;
      this.invalidate(conn);
    }
  }

  private invalidate(conn: Conn): void {
    conn.baseValid = false;
    this.stats.bytesStored -= conn.bufLen;
    conn.bufLen = 0;
    conn.buf = EMPTY;
  }

  private applyHandshake(d: Dir, seq: number, window: number): void {
    const o = this.opts;
    d.isn = seq;
    d.nxt = u32(seq + 1);
    d.started = true;
    d.rawWindow = window;
    d.mss = o.mss ?? null;
    // RFC 7323 §2.3: a shift above 14 is treated as 14.
    d.wscale = o.windowScale === undefined ? null : Math.min(o.windowScale, TCP_MAX_WINDOW_SCALE);
    d.sackPerm = o.sackPermitted;
    d.ts = o.tsVal !== undefined;
    d.fin = false;
  }

  private create(sIp: number, sPort: number, cIp: number, cPort: number, sEp: number, cEp: number, now: number): Conn {
    while (this.count >= this.maxConnections && this.head) {
      this.stats.evictedConnections++;
      this.remove(this.head);
    }
    const conn: Conn = {
      // Same form as @hastack/checkpoint connectionKey (local end first), so a snooped state and a
      // checkpoint of the same connection share their key.
      key: `tcp:${ipToString(sIp)}:${sPort}-${ipToString(cIp)}:${cPort}`,
      sEp,
      cEp,
      sIp,
      sPort,
      cIp,
      cPort,
      state: 'established',
      c: newDir(),
      s: newDir(),
      baseValid: false,
      baseC: 0,
      baseS: 0,
      buf: EMPTY,
      bufLen: 0,
      lastSeen: now,
      prev: null,
      next: null,
    };
    let m = this.byServer.get(sEp);
    if (!m) this.byServer.set(sEp, (m = new Map()));
    m.set(cEp, conn);
    this.count++;
    this.stats.connectionsOpened++;
    this.linkTail(conn);
    return conn;
  }

  private remove(conn: Conn): void {
    const m = this.byServer.get(conn.sEp);
    if (!m || m.get(conn.cEp) !== conn) return;
    m.delete(conn.cEp);
    if (m.size === 0) this.byServer.delete(conn.sEp);
    this.count--;
    this.stats.bytesStored -= conn.bufLen;
    conn.bufLen = 0;
    this.unlink(conn);
  }

  private touch(conn: Conn, now: number): void {
    conn.lastSeen = now;
    if (this.tail !== conn) {
      this.unlink(conn);
      this.linkTail(conn);
    }
  }
  private linkTail(conn: Conn): void {
    conn.prev = this.tail;
    conn.next = null;
    if (this.tail) this.tail.next = conn;
    else this.head = conn;
    this.tail = conn;
  }
  private unlink(conn: Conn): void {
    if (conn.prev) conn.prev.next = conn.next;
    else if (this.head === conn) this.head = conn.next;
    if (conn.next) conn.next.prev = conn.prev;
    else if (this.tail === conn) this.tail = conn.prev;
    conn.prev = conn.next = null;
  }

  private snapshot(conn: Conn): SnoopedState {
    const scaled = conn.c.wscale !== null && conn.s.wscale !== null;
    const ep = (d: Dir, ip: number, port: number): SnoopedEndpoint => ({
      ip: ipToString(ip),
      port,
      isn: d.isn,
      nxt: d.nxt,
      ack: d.ack,
      // RFC 7323 §2.2: the window in a SYN is never scaled; later ones are when both sides agreed.
      window: scaled ? d.rawWindow * 2 ** (d.wscale ?? 0) : d.rawWindow,
      mss: d.mss,
      wscale: d.wscale,
      sackPermitted: d.sackPerm,
      timestamps: d.ts,
      tsval: d.tsval,
      tsecr: d.tsecr,
      fin: d.fin,
    });
    const clientAck = conn.c.ack;
    const suppress = conn.baseValid && clientAck !== null ? Math.max(0, seqDiff(clientAck, conn.baseS)) : 0;
    return {
      key: conn.key,
      state: conn.state,
      server: ep(conn.s, conn.sIp, conn.sPort),
      client: ep(conn.c, conn.cIp, conn.cPort),
      replay: { valid: conn.baseValid, clientSeq: conn.baseC, serverSeq: conn.baseS, bytes: conn.buf.slice(0, conn.bufLen) },
      suppress,
      lastSeen: conn.lastSeen,
    };
  }

  /** The state of one connection by key, or undefined. */
  get(key: string): SnoopedState | undefined {
    for (const m of this.byServer.values()) for (const c of m.values()) if (c.key === key) return this.snapshot(c);
    return undefined;
  }

  /** Snapshots of every tracked connection whose server end matches (all when no filter). */
  states(filter?: { ip: string; ports?: PortRange[] }): SnoopedState[] {
    const out: SnoopedState[] = [];
    const fip = filter ? ipFromString(filter.ip) : -1;
    for (let c = this.head; c; c = c.next) {
      if (filter && (c.sIp !== fip || (filter.ports && !portInRanges(c.sPort, filter.ports)))) continue;
      out.push(this.snapshot(c));
    }
    return out;
  }

  /** Snapshot matching connections into the output queue (bounded: extra states are dropped and counted). */
  enqueue(filter?: { ip: string; ports?: PortRange[] }): number {
    let n = 0;
    for (const s of this.states(filter)) {
      if (this.queue.length >= this.maxQueue) {
        this.stats.queueDrops++;
        continue;
      }
      this.queue.push(s);
      n++;
    }
    return n;
  }

  /** Take everything in the output queue. */
  takeOutput(): SnoopedState[] {
    return this.queue.splice(0, this.queue.length);
  }

  /** Forget every connection (e.g. after the takeover host has them). */
  clear(): void {
    for (const m of this.byServer.values()) for (const c of m.values()) this.unlink(c);
    this.byServer.clear();
    this.count = 0;
    this.stats.bytesStored = 0;
  }
}


/** Validate a snooped state received from the network; null when malformed. */
export function validateSnoopedState(v: unknown): SnoopedState | null {
  if (typeof v !== 'object' || v === null) return null;
  const o = v as Record<string, unknown>;
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  const numOrNull = (x: unknown): boolean => x === null || num(x);
  const ep = (e: unknown): SnoopedEndpoint | null => {
    if (typeof e !== 'object' || e === null) return null;
    const d = e as Record<string, unknown>;
    if (typeof d.ip !== 'string' || !num(d.port) || !numOrNull(d.isn) || !num(d.nxt) || !numOrNull(d.ack) || !num(d.window)) return null;
    if (!numOrNull(d.mss) || !numOrNull(d.wscale) || !numOrNull(d.tsval) || !numOrNull(d.tsecr)) return null;
    if (typeof d.sackPermitted !== 'boolean' || typeof d.timestamps !== 'boolean' || typeof d.fin !== 'boolean') return null;
    return {
      ip: d.ip,
      port: d.port,
      isn: d.isn as number | null,
      nxt: d.nxt,
      ack: d.ack as number | null,
      window: d.window,
      mss: d.mss as number | null,
      wscale: d.wscale as number | null,
      sackPermitted: d.sackPermitted,
      timestamps: d.timestamps,
      tsval: d.tsval as number | null,
      tsecr: d.tsecr as number | null,
      fin: d.fin,
    };
  };
  if (typeof o.key !== 'string' || !['syn-sent', 'syn-received', 'established', 'closing'].includes(o.state as string)) return null;
  const server = ep(o.server);
  const client = ep(o.client);
  const r = o.replay as Record<string, unknown> | null;
  if (!server || !client || typeof r !== 'object' || r === null) return null;
  if (typeof r.valid !== 'boolean' || !num(r.clientSeq) || !num(r.serverSeq) || !(r.bytes instanceof Uint8Array)) return null;
  if (!num(o.suppress) || !num(o.lastSeen)) return null;
  return {
    key: o.key,
    state: o.state as SnoopedState['state'],
    server,
    client,
    replay: { valid: r.valid, clientSeq: r.clientSeq, serverSeq: r.serverSeq, bytes: r.bytes },
    suppress: o.suppress,
    lastSeen: o.lastSeen,
  };
}
