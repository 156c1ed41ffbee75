/**
 * UdpSocket: a `dgram.Socket` look-alike on a hastack Stack. Same methods, events and error
 * codes as Node's, for IPv4 literals (no DNS). Differences: the default destination when none is
 * given is the stack's own first address (there is no 127.0.0.1), and receive buffering is
 * bounded by `recvBufferSize` bytes / the layer's queue length (excess datagrams are dropped and
 * counted in `stats().udp.udpQueueFull`, as a full SO_RCVBUF drops them).
 */
import { EventEmitter } from 'node:events';
import { err, type HastackError } from '../errors.js';
import { formatIp, isMulticast, parseIp } from '../util/addr.js';
import type { QueuedDatagram, UdpLayer } from './layer.js';

export type SocketType = 'udp4';

export interface UdpSocketOptions {
  type: SocketType;
  /** Allow several sockets on one port (SO_REUSEADDR). */
  reuseAddr?: boolean;
  /** Receive buffer in bytes (default: the layer's, 256 KiB). */
  recvBufferSize?: number;
  /** Ignored (no IPv6). */
  ipv6Only?: boolean;
}

export interface RemoteInfo {
  address: string;
  family: 'IPv4';
  port: number;
  size: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

export type MessageListener = (msg: Buffer, rinfo: RemoteInfo) => void;
export type SendCallback = (error: Error | null, bytes: number) => void;

const UNBOUND = 0;
const BINDING = 1;
const BOUND = 2;

function validatePort(port: unknown, allowZero: boolean): number {
  if (typeof port === 'string' && port.trim() !== '' && /^\d+$/.test(port.trim())) port = Number(port);
  if (typeof port !== 'number' || !Number.isInteger(port) || port < (allowZero ? 0 : 1) || port > 65535) {
    throw err('ERR_SOCKET_BAD_PORT', `Port should be ${allowZero ? '>= 0' : '> 0'} and < 65536. Received ${String(port)}.`);
  }
  return port;
}

function toChunks(buffer: unknown): Uint8Array[] {
  if (typeof buffer === 'string') return [Buffer.from(buffer)];
  if (ArrayBuffer.isView(buffer)) return [new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength)];
  if (Array.isArray(buffer)) {
    return buffer.map((b) => {
      if (typeof b === 'string') return Buffer.from(b);
      if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
      throw err('ERR_INVALID_ARG_TYPE', 'The "buffer list arguments" argument must be Buffer, TypedArray, DataView or string');
    });
  }
  throw err('ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be of type string or an instance of Buffer, TypedArray, or DataView');
}

function slice(buffer: unknown, offset: unknown, length: unknown): unknown {
  if (typeof buffer === 'string') buffer = Buffer.from(buffer);
  if (!ArrayBuffer.isView(buffer)) throw err('ERR_INVALID_ARG_TYPE', 'The "buffer" argument must be a Buffer, TypedArray, DataView or string');
  const b = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const o = (offset as number) >>> 0;
  const l = length === undefined ? b.length - o : (length as number) >>> 0;
  if (o > b.length || o + l > b.length) throw err('ERR_INVALID_ARG_VALUE', `offset ${o} + length ${l} outside a buffer of ${b.length} bytes`);
  return b.subarray(o, o + l);
}

export class UdpSocket extends EventEmitter {
  readonly type: SocketType = 'udp4';
  readonly reuseAddr: boolean;
  /** @internal */ boundAddr = 0;
  /** @internal */ localPort = 0;
  /** @internal */ connectedAddr = 0;
  /** @internal */ connectedPort = 0;
  /** @internal */ broadcast = false;
  /** @internal */ ttl = 64;
  /** @internal */ multicastTtl = 1;
  /** @internal */ multicastLoop = true;
  /** @internal */ recvBufferSize: number;
  /** @internal */ readonly queue: QueuedDatagram[] = [];
  /** @internal */ queueBytes = 0;
  /** @internal */ pendingEmit = false;
  private readonly errors: HastackError[] = [];
  private readonly memberships = new Set<number>();
  private bindState = UNBOUND;
  private closed = false;
  private connecting = false;

  constructor(private readonly layer: UdpLayer, options: UdpSocketOptions, onMessage?: MessageListener) {
    super();
    this.reuseAddr = options.reuseAddr ?? false;
    this.recvBufferSize = options.recvBufferSize ?? layer.recvBufferSize;
    if (onMessage) this.on('message', onMessage);
    layer.open.add(this);
  }

  /** @internal multicast membership test for demultiplexing. */
  isMember(group: number): boolean {
    return this.memberships.has(group);
  }

  /**
   * bind([port][, address][, callback]) or bind({ port, address, exclusive }[, callback]).
   * Binding happens at once (EADDRINUSE is emitted as 'error'); 'listening' follows on the next tick.
   */
  bind(...args: unknown[]): this {
    this.healthCheck();
    if (this.bindState !== UNBOUND) throw err('ERR_SOCKET_ALREADY_BOUND', 'Socket is already bound');
    let port: unknown = 0;
    let address: unknown;
    let cb: unknown;
    if (args[0] !== null && typeof args[0] === 'object') {
      const o = args[0] as { port?: unknown; address?: unknown };
      port = o.port ?? 0;
      address = o.address;
      cb = args[1];
    } else if (typeof args[0] === 'function') {
      cb = args[0];
    } else {
      port = args[0] ?? 0;
      if (typeof args[1] === 'function') cb = args[1];
      else {
        address = args[1];
        cb = args[2];
      }
    }
    const p = validatePort(port, true);
    const addr = address === undefined || address === null || address === '' ? 0 : parseIp(address);
    if (typeof cb === 'function') this.once('listening', cb as () => void);
    this.doBind(addr, p, true);
    return this;
  }

  private doBind(addr: number, port: number, emit: boolean): boolean {
    const ip = this.layer.ctx.ip;
    if (addr !== 0 && !ip.isLocalAddress(addr) && !isMulticast(addr) && !this.layer.host.isBroadcast(addr)) {
      const e = err('EADDRNOTAVAIL', `bind ${formatIp(addr)}: address not available`, { syscall: 'bind', info: { address: formatIp(addr), port } });
      process.nextTick(() => this.emit('error', e));
      return false;
    }
    this.bindState = BINDING;
    try {
      this.localPort = this.layer.bind(this, addr, port);
    } catch (e) {
      this.bindState = UNBOUND;
      process.nextTick(() => this.emit('error', e));
      return false;
    }
    this.boundAddr = addr;
    this.bindState = BOUND;
    if (emit) process.nextTick(() => this.emit('listening'));
    return true;
  }

  private ensureBound(): boolean {
    if (this.bindState === BOUND) return true;
    return this.doBind(0, 0, true);
  }

  /** connect(port[, address][, callback]): fix the peer; receive only from it. */
  connect(port: unknown, address?: unknown, callback?: () => void): void {
    if (typeof address === 'function') {
      callback = address as () => void;
      address = undefined;
    }
    const p = validatePort(port, false);
    this.healthCheck();
    if (this.connectedPort !== 0 || this.connecting) throw err('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    const addr = address === undefined || address === null ? this.defaultDestination() : parseIp(address);
    if (typeof callback === 'function') this.once('connect', callback);
    this.connecting = true;
    if (!this.ensureBound()) {
      this.connecting = false;
      return;
    }
    this.connecting = false;
    this.connectedAddr = addr;
    this.connectedPort = p;
    process.nextTick(() => this.emit('connect'));
  }

  disconnect(): void {
    this.healthCheck();
    if (this.connectedPort === 0) throw err('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    this.connectedAddr = 0;
    this.connectedPort = 0;
  }

  remoteAddress(): AddressInfo {
    this.healthCheck();
    if (this.connectedPort === 0) throw err('ERR_SOCKET_DGRAM_NOT_CONNECTED', 'Not connected');
    return { address: formatIp(this.connectedAddr), family: 'IPv4', port: this.connectedPort };
  }

  address(): AddressInfo {
    this.healthCheck();
    if (this.bindState !== BOUND) throw err('ERR_SOCKET_DGRAM_NOT_RUNNING', 'getsockname: socket is not bound');
    return { address: formatIp(this.boundAddr), family: 'IPv4', port: this.localPort };
  }

  /**
   * send(msg[, offset, length][, port][, address][, callback]) — Node's argument rules.
   * Errors of the send itself (EMSGSIZE, EACCES, ENETUNREACH) go to the callback, or are
   * emitted as 'error' without one.
   */
  send(buffer: unknown, ...rest: unknown[]): void {
    let [offset, length, port, address, callback] = rest;
    const connected = this.connectedPort !== 0;
    if (!connected) {
      if (address || (port && typeof port !== 'function')) {
        buffer = slice(buffer, offset, length);
      } else {
        callback = port;
        port = offset;
        address = length;
      }
    } else {
      if (typeof length === 'number') {
        buffer = slice(buffer, offset, length);
        if (typeof port === 'function') {
          callback = port;
          port = null;
        }
      } else {
        callback = offset;
      }
      if (port || address) throw err('ERR_SOCKET_DGRAM_IS_CONNECTED', 'Already connected');
    }
    const chunks = toChunks(buffer);
    let dport = this.connectedPort;
    if (!connected) dport = validatePort(port, false);
    if (typeof address === 'function') {
      callback = address;
      address = undefined;
    }
    if (typeof callback !== 'function') callback = undefined;
    if (address !== undefined && address !== null && typeof address !== 'string') {
      throw err('ERR_INVALID_ARG_TYPE', 'The "address" argument must be of type string');
    }
    this.healthCheck();
    const dst = connected ? this.connectedAddr : address ? parseIp(address) : this.defaultDestination();
    if (!this.ensureBound()) return;
    let len = 0;
    for (const c of chunks) len += c.length;
    const e = this.layer.send(this, chunks, len, dst, dport);
    const cb = callback as SendCallback | undefined;
    if (cb) process.nextTick(cb, e, e ? 0 : len);
    else if (e) process.nextTick(() => this.emit('error', e));
  }

  close(callback?: () => void): this {
    this.healthCheck();
    if (typeof callback === 'function') this.once('close', callback);
    this.closed = true;
    this.release();
    process.nextTick(() => this.emit('close'));
    return this;
  }

  /** @internal crash: drop the socket silently. */
  destroyNow(): void {
    if (this.closed) return;
    this.closed = true;
    this.release();
  }

  private release(): void {
    this.layer.open.delete(this);
    if (this.bindState === BOUND) this.layer.unbind(this, this.localPort);
    this.bindState = UNBOUND;
    for (const g of this.memberships) this.layer.host.leaveGroup(g);
    this.memberships.clear();
    this.queue.length = 0;
    this.queueBytes = 0;
  }

  setBroadcast(flag: boolean): void {
    this.healthCheck();
    this.broadcast = !!flag;
  }

  setTTL(ttl: number): number {
    this.checkTtl(ttl);
    this.ttl = ttl;
    return ttl;
  }

  setMulticastTTL(ttl: number): number {
    this.checkTtl(ttl);
    this.multicastTtl = ttl;
    return ttl;
  }

  setMulticastLoopback(flag: boolean): boolean {
    this.healthCheck();
    this.multicastLoop = !!flag;
    return flag;
  }

  /** Accepted for compatibility: there is one interface. */
  setMulticastInterface(_iface: string): void {
    this.healthCheck();
  }

  addMembership(multicastAddress: string, _multicastInterface?: string): void {
    this.healthCheck();
    if (multicastAddress === undefined) throw err('ERR_INVALID_ARG_TYPE', 'The "multicastAddress" argument must be specified');
    const g = parseIp(multicastAddress);
    if (!isMulticast(g)) throw err('EINVAL', `addMembership: ${multicastAddress} is not a multicast address`, { syscall: 'addMembership' });
    if (this.memberships.has(g)) throw err('EADDRINUSE', `addMembership: already a member of ${multicastAddress}`, { syscall: 'addMembership' });
    this.memberships.add(g);
    this.layer.host.joinGroup(g);
    this.layer.ctx.wake();
  }

  dropMembership(multicastAddress: string, _multicastInterface?: string): void {
    this.healthCheck();
    if (multicastAddress === undefined) throw err('ERR_INVALID_ARG_TYPE', 'The "multicastAddress" argument must be specified');
    const g = parseIp(multicastAddress);
    if (!this.memberships.delete(g)) throw err('EADDRNOTAVAIL', `dropMembership: not a member of ${multicastAddress}`, { syscall: 'dropMembership' });
    this.layer.host.leaveGroup(g);
    this.layer.ctx.wake();
  }

  setRecvBufferSize(size: number): void {
    if (!Number.isInteger(size) || size <= 0) throw err('ERR_INVALID_ARG_VALUE', 'buffer size must be a positive integer');
    this.recvBufferSize = size;
  }

  getRecvBufferSize(): number {
    return this.recvBufferSize;
  }

  /** Datagrams are handed to the link at once: nothing waits in a send queue. */
  getSendQueueSize(): number {
    return 0;
  }

  getSendQueueCount(): number {
    return 0;
  }

  ref(): this {
    return this;
  }

  unref(): this {
    return this;
  }

  /** @internal queue an asynchronous error (ICMP) for the next poll. */
  queueError(e: HastackError): void {
    if (this.errors.length >= 16) return;
    this.errors.push(e);
    this.layer.markPending(this);
  }

  /** @internal emit everything queued (called from the layer's poll). */
  drain(): void {
    const q = this.queue;
    const n = q.length;
    for (let i = 0; i < n && !this.closed; i++) {
      const d = q[i];
      this.queueBytes -= d.data.length;
      this.emit('message', d.data, { address: formatIp(d.address), family: 'IPv4', port: d.port, size: d.data.length } satisfies RemoteInfo);
    }
    if (this.closed) {
      q.length = 0;
      this.queueBytes = 0;
    } else q.splice(0, n);
    while (this.errors.length > 0 && !this.closed) this.emit('error', this.errors.shift()!);
  }

  private defaultDestination(): number {
    const list = this.layer.ctx.ip as unknown as { addresses?: () => readonly { address: number }[] };
    const a = list.addresses?.();
    if (!a || a.length === 0) throw err('EADDRNOTAVAIL', 'no local address to send to');
    return a[0].address;
  }

  private checkTtl(ttl: number): void {
    this.healthCheck();
    if (typeof ttl !== 'number') throw err('ERR_INVALID_ARG_TYPE', 'The "ttl" argument must be of type number');
    if (!Number.isInteger(ttl) || ttl < 0 || ttl > 255) throw err('EINVAL', `invalid TTL ${ttl}`, { syscall: 'setTTL' });
  }

  private healthCheck(): void {
    if (this.closed) throw err('ERR_SOCKET_DGRAM_NOT_RUNNING', 'Not running');
  }
}
