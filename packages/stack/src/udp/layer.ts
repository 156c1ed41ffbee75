/**
 * UDP (RFC 768) over the engine: port table, demultiplexing, checksums, per-socket bounded
 * receive queues, ICMP errors for closed ports and for connected sockets.
 *
 * Read this first:
 * - Received datagrams are copied out of the frame into the socket's queue (bounded by count
 *   and bytes; a datagram that does not fit is dropped and counted, like a full SO_RCVBUF), and
 *   emitted as 'message' events when the runtime polls, after the batch — never re-entrantly
 *   from inside the engine.
 * - Unicast goes to one socket: a connected socket whose peer matches, else a socket bound to
 *   the destination address, else a wildcard socket. Broadcast goes to every socket on the port
 *   bound to the wildcard or the broadcast address; multicast to every socket on the port that
 *   joined the group or is bound to the group address. Only unicast to a closed port gets an
 *   ICMP port unreachable (RFC 1122 §4.1.3.1, §3.2.2).
 * - `udp.rxDatagrams === udp.delivered + sum(udp* drops)`.
 */
import { UdpPacket, UDP_HEADER_LEN, emitUdpHeader } from '@hastack/wire';
import type { IpRx, TransportContext, TransportProtocol } from '../engine/types.js';
import { err, type HastackError } from '../errors.js';
import { Random } from '../util/random.js';
import { formatIp } from '../util/addr.js';
import type { UdpSocket } from './socket.js';

export const UDP_PROTOCOL = 17;
/** Largest UDP payload over IPv4: 65535 - 20 (IP) - 8 (UDP). */
export const UDP_MAX_PAYLOAD = 65507;
export const EPHEMERAL_LOW = 49152;
export const EPHEMERAL_HIGH = 65535;

export interface UdpLayerOptions {
  /** Datagrams queued per socket before drops (default 1024). */
  recvQueueLen?: number;
  /** Bytes queued per socket before drops (default 256 KiB). */
  recvBufferSize?: number;
  /** Seed for ephemeral port choice. */
  seed?: number;
}

/** What UDP needs from the engine beyond IpLayer: multicast membership and broadcast tests. */
export interface UdpHost {
  joinGroup(group: number): void;
  leaveGroup(group: number): boolean;
  isBroadcast(addr: number): boolean;
  /** Why the last failed sendIp failed. */
  readonly lastTxError: 'noRoute' | 'tooBig' | 'linkFull' | 'down' | null;
}

/** One queued datagram (plain data). */
export interface QueuedDatagram {
  data: Buffer;
  address: number;
  port: number;
}

export class UdpLayer implements TransportProtocol {
  readonly name = 'udp';
  readonly protocol = UDP_PROTOCOL;
  readonly counters = { rxDatagrams: 0, rxBytes: 0, delivered: 0, deliveredCopies: 0, txDatagrams: 0, txBytes: 0, txErrors: 0, icmpErrors: 0, sockets: 0 };
  readonly drops = { udpTruncated: 0, udpBadLength: 0, udpBadChecksum: 0, udpNoPort: 0, udpQueueFull: 0 };
  readonly recvQueueLen: number;
  readonly recvBufferSize: number;
  /** Bound sockets by local port. */
  readonly ports = new Map<number, UdpSocket[]>();
  /** Every open socket, bound or not (closed together with the stack). */
  readonly open = new Set<UdpSocket>();
  private readonly view = new UdpPacket(new Uint8Array(0));
  private readonly pending: UdpSocket[] = [];
  private readonly rng: Random;
  private nextPollAt = Infinity;

  constructor(readonly ctx: TransportContext, readonly host: UdpHost, opts: UdpLayerOptions = {}) {
    this.recvQueueLen = opts.recvQueueLen ?? 1024;
    this.recvBufferSize = opts.recvBufferSize ?? 256 * 1024;
    this.rng = new Random(opts.seed ?? 17);
  }

  // ------------------------------------------------------------ port table

  /** Bind `sock` to (addr, port); port 0 picks an ephemeral port. Throws EADDRINUSE. Returns the port. */
  bind(sock: UdpSocket, addr: number, port: number): number {
    if (port === 0) port = this.ephemeral(addr, sock.reuseAddr);
    else if (this.conflicts(addr, port, sock.reuseAddr)) {
      throw err('EADDRINUSE', `bind ${formatIp(addr)}:${port}: address already in use`, { syscall: 'bind', info: { address: formatIp(addr), port } });
    }
    let list = this.ports.get(port);
    if (!list) {
      list = [];
      this.ports.set(port, list);
    }
    list.push(sock);
    this.counters.sockets++;
    return port;
  }

  unbind(sock: UdpSocket, port: number): void {
    const list = this.ports.get(port);
    if (!list) return;
    const i = list.indexOf(sock);
    if (i < 0) return;
    list.splice(i, 1);
    this.counters.sockets--;
    if (list.length === 0) this.ports.delete(port);
  }

  private conflicts(addr: number, port: number, reuse: boolean): boolean {
    const list = this.ports.get(port);
    if (!list) return false;
    for (const s of list) {
      const a = s.boundAddr;
      if ((a === 0 || addr === 0 || a === addr) && !(reuse && s.reuseAddr)) return true;
    }
    return false;
  }

  private ephemeral(addr: number, reuse: boolean): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = this.rng.int(span);
    for (let i = 0; i < span; i++) {
      const p = EPHEMERAL_LOW + ((start + i) % span);
      if (!this.conflicts(addr, p, reuse) && !this.ports.has(p)) return p;
    }
    throw err('EADDRINUSE', 'no free ephemeral UDP port', { syscall: 'bind' });
  }

  // ------------------------------------------------------------ receive

  receive(rx: IpRx, payload: Uint8Array, ipPacket: Uint8Array, _now: number): void {
    const c = this.counters;
    c.rxDatagrams++;
    const u = this.view.reset(payload, 0, payload.length);
    const e = u.validate(rx.src, rx.dst, { verifyChecksum: !(rx.meta && rx.meta.csumValid) });
    if (e) {
      if (e.reason === 'truncated') this.drops.udpTruncated++;
      else if (e.reason === 'bad-checksum') this.drops.udpBadChecksum++;
      else this.drops.udpBadLength++;
      return;
    }
    const dport = u.dstPort;
    const sport = u.srcPort;
    const dataStart = UDP_HEADER_LEN;
    const dataEnd = u.length;
    c.rxBytes += dataEnd - dataStart;
    const list = this.ports.get(dport);
    if (rx.nonUnicast) {
      // Broadcast / multicast: every matching socket gets a copy; never an ICMP error.
      let matched = 0;
      let queued = 0;
      if (list) {
        const multicast = rx.dst >>> 28 === 0xe;
        for (let i = 0; i < list.length; i++) {
          const s = list[i];
          if (multicast ? !(s.boundAddr === rx.dst || s.isMember(rx.dst)) : !(s.boundAddr === 0 || s.boundAddr === rx.dst)) continue;
          if (s.connectedPort !== 0 && (s.connectedAddr !== rx.src || s.connectedPort !== sport)) continue;
          matched++;
          if (this.enqueue(s, payload, dataStart, dataEnd, rx.src, sport)) queued++;
        }
      }
      if (matched === 0) this.drops.udpNoPort++;
      else if (queued === 0) this.drops.udpQueueFull++;
      else {
        c.delivered++;
        c.deliveredCopies += queued;
      }
      return;
    }
    let best: UdpSocket | null = null;
    let bestScore = -1;
    if (list) {
      for (let i = 0; i < list.length; i++) {
        const s = list[i];
        if (s.boundAddr !== 0 && s.boundAddr !== rx.dst) continue;
        let score = s.boundAddr !== 0 ? 1 : 0;
        if (s.connectedPort !== 0) {
          if (s.connectedAddr !== rx.src || s.connectedPort !== sport) continue;
          score += 2;
        }
        // Later binds win ties (SO_REUSEADDR on Linux delivers unicast to the newest socket).
        if (score >= bestScore) {
          best = s;
          bestScore = score;
        }
      }
    }
    if (!best) {
      this.drops.udpNoPort++;
      // RFC 1122 §4.1.3.1: port unreachable for a datagram to a closed port.
      this.ctx.ip.sendUnreachable(3, ipPacket);
      return;
    }
    if (!this.enqueue(best, payload, dataStart, dataEnd, rx.src, sport)) {
      this.drops.udpQueueFull++;
      return;
    }
    c.delivered++;
    c.deliveredCopies++;
  }

  private enqueue(s: UdpSocket, payload: Uint8Array, start: number, end: number, src: number, sport: number): boolean {
    const n = end - start;
    if (s.queue.length >= this.recvQueueLen || s.queueBytes + n > s.recvBufferSize) return false;
    const data = Buffer.allocUnsafe(n);
    data.set(payload.subarray(start, end));
    s.queue.push({ data, address: src, port: sport });
    s.queueBytes += n;
    if (!s.pendingEmit) {
      s.pendingEmit = true;
      this.pending.push(s);
      this.nextPollAt = 0;
    }
    return true;
  }

  /**
   * An ICMP error about a datagram we sent (RFC 1122 §4.1.3.3: pass it to the application). As
   * on Linux, only a connected socket hears of it (ECONNREFUSED for port unreachable).
   */
  icmpError(type: number, code: number, quoted: Uint8Array, _now: number): void {
    const hl = (quoted[0] & 0x0f) << 2;
    if (quoted.length < hl + 4) return;
    const qsrc = ((quoted[12] << 24) | (quoted[13] << 16) | (quoted[14] << 8) | quoted[15]) >>> 0;
    const qdst = ((quoted[16] << 24) | (quoted[17] << 16) | (quoted[18] << 8) | quoted[19]) >>> 0;
    const sport = (quoted[hl] << 8) | quoted[hl + 1];
    const dport = (quoted[hl + 2] << 8) | quoted[hl + 3];
    const list = this.ports.get(sport);
    if (!list) return;
    for (const s of list) {
      if (s.boundAddr !== 0 && s.boundAddr !== qsrc) continue;
      if (s.connectedPort !== dport || s.connectedAddr !== qdst) continue;
      this.counters.icmpErrors++;
      let e: HastackError | null = null;
      const info = { address: formatIp(qdst), port: dport };
      if (type === 3 && code === 3) e = err('ECONNREFUSED', `connection refused by ${info.address}:${dport}`, { syscall: 'recvmsg', info });
      else if (type === 3 && (code === 1 || code === 10 || code === 13)) e = err('EHOSTUNREACH', `host unreachable: ${info.address}`, { syscall: 'recvmsg', info });
      else if (type === 3 && (code === 0 || code === 9 || code === 6)) e = err('ENETUNREACH', `network unreachable: ${info.address}`, { syscall: 'recvmsg', info });
      if (e) s.queueError(e);
    }
  }

  // ------------------------------------------------------------ send

  /**
   * Send one datagram from `sock` built from `chunks` (total `len` bytes). Returns null or the
   * error to report. The datagram is built in one buffer with headroom (the only copy).
   */
  send(sock: UdpSocket, chunks: readonly Uint8Array[], len: number, dst: number, dport: number): HastackError | null {
    const ip = this.ctx.ip;
    if (len > UDP_MAX_PAYLOAD) return this.sendError('EMSGSIZE', `datagram of ${len} bytes is larger than ${UDP_MAX_PAYLOAD}`, dst, dport);
    if (!sock.broadcast && this.host.isBroadcast(dst)) return this.sendError('EACCES', 'send to a broadcast address needs setBroadcast(true)', dst, dport);
    const src = sock.boundAddr !== 0 && !(sock.boundAddr >>> 28 === 0xe) ? sock.boundAddr : ip.sourceFor(dst);
    if (src === null) return this.sendError('ENETUNREACH', 'no route', dst, dport);
    const h = ip.headroom;
    // Every byte is written below (link + IP headers by the IP layer, UDP header, payload): no zero fill.
    const buf: Uint8Array = Buffer.allocUnsafe(h + UDP_HEADER_LEN + len);
    let off = h + UDP_HEADER_LEN;
    for (const c of chunks) {
      buf.set(c, off);
      off += c.length;
    }
    const offload = ip.offloads.txChecksum;
    emitUdpHeader(buf, h, sock.localPort, dport, len, src, dst, offload ? 'partial' : 'full');
    const multicast = dst >>> 28 === 0xe;
    const ok = ip.sendIp(buf, UDP_HEADER_LEN + len, {
      src,
      dst,
      protocol: UDP_PROTOCOL,
      ttl: multicast ? sock.multicastTtl : sock.ttl,
      multicastLoop: sock.multicastLoop,
      tx: offload ? { csumStart: 0, csumOffset: 6 } : undefined,
    });
    this.ctx.wake();
    if (!ok) {
      this.counters.txErrors++;
      switch (this.host.lastTxError) {
        case 'linkFull':
          return this.sendError('ENOBUFS', 'no buffer space', dst, dport);
        case 'tooBig':
          return this.sendError('EMSGSIZE', 'datagram exceeds the MTU with DF set', dst, dport);
        case 'down':
          return this.sendError('ERR_STACK_CLOSED', 'the stack is down', dst, dport);
        default:
          return this.sendError('ENETUNREACH', 'no route', dst, dport);
      }
    }
    this.counters.txDatagrams++;
    this.counters.txBytes += len;
    return null;
  }

  private sendError(code: 'EMSGSIZE' | 'EACCES' | 'ENETUNREACH' | 'ENOBUFS' | 'ERR_STACK_CLOSED', what: string, dst: number, port: number): HastackError {
    const address = formatIp(dst);
    return err(code, `send to ${address}:${port}: ${what}`, { syscall: 'send', info: { address, port } });
  }

  // ------------------------------------------------------------ poll

  /** Emit queued messages and errors (bounded by what is queued now). */
  poll(_now: number): void {
    this.nextPollAt = Infinity;
    if (this.pending.length === 0) return;
    const list = this.pending.splice(0, this.pending.length);
    for (const s of list) {
      s.pendingEmit = false;
      s.drain();
    }
  }

  pollAt(): number {
    return this.pending.length > 0 ? this.nextPollAt : Infinity;
  }

  /** @internal a socket has something (an error) to emit at the next poll. */
  markPending(s: UdpSocket): void {
    if (s.pendingEmit) return;
    s.pendingEmit = true;
    this.pending.push(s);
    this.nextPollAt = 0;
    this.ctx.wake();
  }

  stats(): Record<string, number> {
    let queued = 0;
    let queuedBytes = 0;
    for (const list of this.ports.values()) {
      for (const s of list) {
        queued += s.queue.length;
        queuedBytes += s.queueBytes;
      }
    }
    return { ...this.counters, queued, queuedBytes, ...this.drops };
  }

  crash(): void {
    for (const s of [...this.open]) s.destroyNow();
    this.pending.length = 0;
  }

  close(): void {
    for (const s of [...this.open]) s.close();
  }
}
