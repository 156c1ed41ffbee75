/**
 * `Socket`: a `net.Socket` look-alike (a stream.Duplex) on top of one engine connection
 * (`TcpConnectionHandle`, tcp/contract.ts).
 *
 * Read this first:
 * - Write path: `_write` hands the chunk to `conn.send()`. When the engine's send buffer takes
 *   only part of it, the rest waits here and the write callback is held until `onSendSpace`
 *   lets it in — so the Writable's own buffer fills, `write()` returns false and 'drain' fires
 *   exactly like Node's (the engine's send buffer plays the kernel's socket buffer).
 * - Read path: `onData` → `push()`. When `push()` returns false (the readable buffer is over its
 *   high-water mark) the engine is told `setReceivePaused(true)`; the engine then holds what
 *   arrives and the advertised window shrinks, to zero when its buffer is full. `_read()`
 *   (the consumer wants more) resumes it. The window follows the reader.
 * - Close: like Node, `destroy()` "closes the file descriptor": the engine finishes a graceful
 *   close on its own (FIN), unless received data is still held unread, in which case it aborts
 *   (RST) as Linux does. A destroyed-but-closing connection ("orphan") that receives more data
 *   is aborted (RST), again as Linux does after close().
 * - Engine events arrive synchronously from inside the stack's receive/poll. The few calls that
 *   must not re-enter the engine from there (opening, resuming receive) are deferred.
 * - Errors are Node-shaped: `code`, `errno`, `syscall`, `address`, `port`, and Node's messages.
 */
import { Duplex } from 'node:stream';
import type { Clock, TimerHandle } from '../clock.js';
import { HastackError, type ErrorCode } from '../errors.js';
import { formatIp, parseIp } from '../util/addr.js';
import type { TcpConnectionEvents, TcpConnectionHandle, TcpConnectionOptions, TcpEngineApi, TcpStateName } from './contract.js';

/** What the TCP API needs from the stack that owns it (the `Stack` satisfies it). */
export interface TcpApiHost {
  readonly tcp: TcpEngineApi;
  readonly clock: Clock;
}

/** Default high-water marks of the stream buffers (bytes). */
export const DEFAULT_HIGH_WATER_MARK = 64 * 1024;

/** Linux errno values, as Node reports them in `err.errno`. */
const ERRNO: Partial<Record<ErrorCode, number>> = {
  EPIPE: -32,
  EINVAL: -22,
  EADDRINUSE: -98,
  EADDRNOTAVAIL: -99,
  ENETUNREACH: -101,
  ECONNABORTED: -103,
  ECONNRESET: -104,
  ENOBUFS: -105,
  ENOTCONN: -107,
  ETIMEDOUT: -110,
  ECONNREFUSED: -111,
  EHOSTUNREACH: -113,
};

const DESCRIPTION: Partial<Record<ErrorCode, string>> = {
  EADDRINUSE: 'address already in use',
};

/**
 * A Node-style system error: message `"<syscall> <CODE> <address>:<port>"` (Node's format), with
 * `code`, `errno`, `syscall`, `address` and `port` properties.
 */
export function systemError(code: ErrorCode, syscall: string, address?: string, port?: number, cause?: unknown): HastackError {
  const info: Record<string, unknown> = {};
  const errno = ERRNO[code];
  if (errno !== undefined) info.errno = errno;
  if (address !== undefined) info.address = address;
  if (port !== undefined) info.port = port;
  const e = new HastackError(code, code, { syscall, info, cause });
  let msg = `${syscall} ${code}`;
  const desc = DESCRIPTION[code];
  if (desc) msg += `: ${desc}`;
  if (address !== undefined) msg += ` ${address}${port !== undefined ? `:${port}` : ''}`;
  e.message = msg;
  return e;
}

/** The code of anything thrown by the engine (HastackError or not). */
export function codeOf(e: unknown): ErrorCode {
  const c = (e as { code?: unknown } | null)?.code;
  return (typeof c === 'string' ? c : 'EINVAL') as ErrorCode;
}

/** Engine calls that must not be re-entered from inside an engine callback are deferred while > 0. */
let engineDepth = 0;

/** Run `fn` now, or on the next tick when we are inside an engine callback. */
export function outsideEngine(fn: () => void): void {
  if (engineDepth > 0) process.nextTick(fn);
  else fn();
}

/**
 * An exception thrown by application code inside an event handler ('data', 'connect', ...) must
 * not unwind through the protocol engine mid-segment: it is rethrown on the next tick, where it
 * is an uncaught exception exactly as it would be with node:net.
 */
export function rethrowOutsideEngine(e: unknown): void {
  process.nextTick(() => {
    throw e;
  });
}

/** Wrap an engine → API callback so `outsideEngine` knows we are inside the engine. */
export function engineCallback<A extends unknown[], R>(fn: (...args: A) => R): (...args: A) => R {
  return (...args: A) => {
    engineDepth++;
    try {
      return fn(...args);
    } finally {
      engineDepth--;
    }
  };
}

/** Validate a port like Node's validatePort: integer (or numeric string) in 0..65535. */
export function validatePort(port: unknown, name = 'Port', allowZero = true): number {
  let p: number = NaN;
  if (typeof port === 'number') p = port;
  else if (typeof port === 'string' && port.trim() !== '' && /^\d+$/.test(port.trim())) p = Number(port);
  if (!Number.isInteger(p) || p < 0 || p > 65535 || (!allowZero && p === 0)) {
    throw new HastackError('ERR_SOCKET_BAD_PORT', `${name} should be >= ${allowZero ? 0 : 1} and < 65536. Received ${String(port)}.`);
  }
  return p;
}

/** Host string → uint32. 'localhost' means 127.0.0.1; '0.0.0.0', '::' and empty mean any (0). */
export function parseHost(host: unknown, any = false): number {
  if (host === undefined || host === null || host === '') return any ? 0 : parseIp('127.0.0.1');
  if (host === 'localhost') return parseIp('127.0.0.1');
  if (any && (host === '::' || host === '0.0.0.0')) return 0;
  return parseIp(host);
}

/** Connection options the engine understands, picked out of a wider options object. */
const ENGINE_OPTION_KEYS = [
  'sendBufferSize',
  'receiveBufferSize',
  'noDelay',
  'congestionControl',
  'timestamps',
  'sack',
  'windowScale',
  'keepAlive',
  'keepAliveInitialDelay',
  'keepAliveInterval',
  'keepAliveProbes',
  'mss',
  'userTimeout',
  'timeWait',
] as const;

const ENGINE_OPTION_SET: ReadonlySet<string> = new Set(ENGINE_OPTION_KEYS);

export function pickEngineOptions(o: object | undefined): TcpConnectionOptions {
  const out: Record<string, unknown> = {};
  if (!o) return out;
  // Walk the given keys (usually a handful) rather than probing all 14 names: a probe for a
  // missing key is a slow lookup, and every accepted or restored socket comes through here.
  for (const k in o) {
    if (!ENGINE_OPTION_SET.has(k)) continue;
    const v = (o as Record<string, unknown>)[k];
    if (v !== undefined) out[k] = v;
  }
  // Node's keepAliveInitialDelay of 0 means "leave the default".
  if (out.keepAliveInitialDelay === 0) delete out.keepAliveInitialDelay;
  return out as TcpConnectionOptions;
}

/** Options of `new Socket()` / `connect()` besides the connection target. */
export interface SocketOptions extends TcpConnectionOptions {
  /** Keep the writable side open after the peer's FIN (default false: end it, like Node). */
  allowHalfOpen?: boolean;
  /** Readable buffer high-water mark in bytes (default 64 KiB). */
  readableHighWaterMark?: number;
  /** Writable buffer high-water mark in bytes (default 64 KiB). */
  writableHighWaterMark?: number;
  /** The stack to connect through (set by `stack.connect()`; needed for `new Socket().connect()`). */
  stack?: TcpApiHost;
}

/** Options of `socket.connect()` / `stack.connect()`. */
export interface SocketConnectOptions extends SocketOptions {
  port: number | string;
  /** IPv4 address (default '127.0.0.1'; 'localhost' is accepted as 127.0.0.1). */
  host?: string;
  localAddress?: string;
  localPort?: number;
  /** Only 4 (or 0) is supported. */
  family?: number;
  /** setTimeout(timeout) right away. */
  timeout?: number;
}

export interface AddressInfo {
  address: string;
  family: 'IPv4';
  port: number;
}

/** How a server (or a restore) hands an existing engine connection to a new Socket. */
export interface AdoptOptions {
  allowHalfOpen?: boolean;
  pauseOnConnect?: boolean;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

type ConnectListener = () => void;

export class Socket extends Duplex {
  /** True between `connect()` and 'connect' (or an error). */
  connecting = false;
  /** The idle timeout set by setTimeout() (ms), or undefined. */
  timeout: number | undefined = undefined;
  /** The Server that accepted this socket, if any. */
  server: unknown = null;
  /** @internal Called once from _destroy (the server's connection count, as Node does there). */
  _onDestroy: (() => void) | null = null;

  private _stack: TcpApiHost | null;
  private _conn: TcpConnectionHandle | null = null;
  private readonly _engineOpts: TcpConnectionOptions;
  private _established = false;
  /** The engine reported the connection closed (onClosed). */
  private _connClosed = false;
  /** destroy() left the engine to finish a graceful close without us. */
  private _orphan = false;
  private _gotFin = false;
  private _recvPaused = false;
  private _shutdownSent = false;
  /** Part of a chunk the engine has not accepted yet, and the write callback waiting for it. */
  private _wrRest: Uint8Array | null = null;
  private _wrCb: ((error?: Error | null) => void) | null = null;
  private _wrLen = 0;
  /** Work waiting for the connection to be established (writes, end). */
  private _afterConnect: Array<() => void> | null = null;
  private _bytesRead = 0;
  private _bytesDispatched = 0;
  /** Where connect() aims (for error messages). */
  private _target: { address: string; port: number } | null = null;
  // Idle timeout (setTimeout): a lazily re-armed deadline on the stack's clock.
  private _idleMs = 0;
  private _lastActive = 0;
  private _timer: TimerHandle | null = null;

  constructor(options: SocketOptions = {}) {
    super({
      allowHalfOpen: Boolean(options.allowHalfOpen),
      // Node: 'close' is emitted by the socket itself once the "handle" is closed.
      emitClose: false,
      autoDestroy: true,
      readableHighWaterMark: options.readableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
      writableHighWaterMark: options.writableHighWaterMark ?? DEFAULT_HIGH_WATER_MARK,
    });
    this._stack = options.stack ?? null;
    this._engineOpts = pickEngineOptions(options);
    this.on('end', onReadableStreamEnd);
  }

  // ---------------------------------------------------------------------------------- factories

  /**
   * Wrap an established (or restored) engine connection in a Socket: what a Server does for
   * each accepted connection, and what a checkpoint restore does. Binds the connection's events.
   * A restored connection that is not ready yet accepts writes (the engine holds them) and
   * emits 'ready' when the engine reports onReady.
   */
  static adopt(stack: TcpApiHost, conn: TcpConnectionHandle, opts: AdoptOptions = {}): Socket {
    const s = new Socket({ stack, allowHalfOpen: opts.allowHalfOpen, readableHighWaterMark: opts.readableHighWaterMark, writableHighWaterMark: opts.writableHighWaterMark });
    s._conn = conn;
    s._established = true;
    conn.setEvents(s._makeEvents());
    if (opts.pauseOnConnect) {
      // Node's pauseOnConnect: nothing is read until the application calls resume()/read().
      s._recvPaused = true;
      conn.setReceivePaused(true);
      s.pause();
    }
    return s;
  }

  // ---------------------------------------------------------------------------------- connect

  /**
   * Open a connection: `connect(options[, listener])` or `connect(port[, host][, listener])`.
   * The engine is asked on the next tick (as Node does), so listeners attached right after
   * `connect()` see every event, including errors.
   */
  connect(options: SocketConnectOptions, connectListener?: ConnectListener): this;
  connect(port: number | string, host?: string, connectListener?: ConnectListener): this;
  connect(port: number | string, connectListener?: ConnectListener): this;
  connect(...args: unknown[]): this {
    const [opts, cb] = normalizeConnectArgs(args);
    if (!this._stack) throw new HastackError('ERR_SOCKET_CLOSED', 'this Socket has no stack: create it with stack.connect() or new Socket({ stack })');
    if (this.connecting || this._conn) throw new HastackError('EINVAL', 'the socket is already connecting or connected', { syscall: 'connect' });
    if (this.destroyed) throw new HastackError('ERR_SOCKET_CLOSED', 'the socket is destroyed');
    if (opts.port === undefined || opts.port === null) throw new HastackError('ERR_SOCKET_BAD_PORT', 'Port should be >= 0 and < 65536. Received undefined.');
    const port = validatePort(opts.port);
    if (opts.family !== undefined && opts.family !== 4 && opts.family !== 0) throw new HastackError('ERR_INVALID_ARG_VALUE', `only IPv4 (family 4) is supported, got ${String(opts.family)}`);
    const remote = parseHost(opts.host);
    const local = opts.localAddress !== undefined ? parseHost(opts.localAddress, true) : 0;
    const localPort = opts.localPort !== undefined ? validatePort(opts.localPort, 'options.localPort') : 0;
    Object.assign(this._engineOpts, pickEngineOptions(opts));
    this._target = { address: formatIp(remote), port };
    this.connecting = true;
    if (cb) this.once('connect', cb);
    if (opts.timeout !== undefined && opts.timeout > 0) this.setTimeout(opts.timeout);
    this._touch();
    process.nextTick(() => this._open(remote, port, local, localPort));
    return this;
  }

  private _open(remote: number, port: number, local: number, localPort: number): void {
    if (this.destroyed || !this.connecting || !this._stack) return;
    try {
      this._conn = this._stack.tcp.open({ ...this._engineOpts, remoteAddress: remote, remotePort: port, localAddress: local || undefined, localPort: localPort || undefined }, this._makeEvents());
    } catch (e) {
      const code = codeOf(e);
      // Node reports a failed bind as syscall 'bind' with the local address, the rest as 'connect'.
      const bindFail = (code === 'EADDRINUSE' || code === 'EADDRNOTAVAIL') && (local !== 0 || localPort !== 0);
      const er = bindFail ? systemError(code, 'bind', formatIp(local), localPort, e) : systemError(code, 'connect', formatIp(remote), port, e);
      this.destroy(er);
    }
  }

  // ---------------------------------------------------------------------------------- engine events

  private _makeEvents(): TcpConnectionEvents {
    return new SocketEvents(this);
  }

  /** @internal */
  _onEstablished(): void {
    if (this.destroyed || this._orphan) return;
    this._established = true;
    this.connecting = false;
    this._touch();
    this.emit('connect');
    // Writes and end() issued while connecting go out now (after the 'connect' listeners, as in Node).
    const queued = this._afterConnect;
    this._afterConnect = null;
    if (queued) for (const fn of queued) fn();
    if (!this.destroyed) this.emit('ready');
  }

  /** @internal */
  _onReady(): void {
    if (this.destroyed || this._orphan) return;
    this._touch();
    this.emit('ready');
  }

  /** @internal */
  _onData(chunk: Uint8Array): void {
    if (this._orphan) {
      // Linux: data for a socket the application has closed is answered with RST.
      this._conn?.abort();
      return;
    }
    if (this.destroyed || this._gotFin) return;
    this._bytesRead += chunk.length;
    this._touch();
    // A view, not a copy: the engine gave us ownership of `chunk`.
    const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (!this.push(buf) && !this._recvPaused && this._conn) {
      this._recvPaused = true;
      this._conn.setReceivePaused(true);
    }
  }

  /** @internal */
  _onFin(): void {
    if (this._orphan || this.destroyed || this._gotFin) return;
    this._gotFin = true;
    this._touch();
    this.push(null);
  }

  /** @internal */
  _onSendSpace(): void {
    if (this._wrRest) this._pumpWrite();
  }

  /** @internal */
  _onClosed(e?: HastackError): void {
    this._connClosed = true;
    if (this._orphan || this.destroyed) return;
    if (e) {
      this.destroy(this._mapEngineError(e));
      return;
    }
    // Clean close (TIME_WAIT or CLOSED after both FINs). The peer's FIN reaches the stream
    // through onFin (possibly later, when the reader resumes). A write still waiting for
    // send-buffer space can no longer go anywhere.
    if (this._wrRest) {
      const cb = this._wrCb;
      this._wrRest = null;
      this._wrCb = null;
      cb?.(systemError('EPIPE', 'write'));
    }
  }

  private _mapEngineError(e: HastackError): HastackError {
    const code = codeOf(e);
    if (!this._established) {
      const t = this._target;
      return systemError(code === 'ECONNRESET' ? 'ECONNREFUSED' : code, 'connect', t?.address, t?.port, e);
    }
    return systemError(code, code === 'EPIPE' ? 'write' : 'read', undefined, undefined, e);
  }

  // ---------------------------------------------------------------------------------- stream internals

  override _write(chunk: Buffer, _encoding: BufferEncoding, cb: (error?: Error | null) => void): void {
    if (!this._established) {
      if (this.connecting) {
        (this._afterConnect ??= []).push(() => this._write(chunk, _encoding, cb));
        return;
      }
      cb(new HastackError('ERR_SOCKET_CLOSED', 'Socket is closed'));
      return;
    }
    if (!this._conn || this._connClosed) {
      cb(systemError('EPIPE', 'write'));
      return;
    }
    this._wrRest = chunk;
    this._wrCb = cb;
    this._wrLen = chunk.length;
    this._pumpWrite();
  }

  /** Offer the pending bytes to the engine; complete the write once all are in. */
  private _pumpWrite(): void {
    const data = this._wrRest;
    const conn = this._conn;
    if (!data || !conn) return;
    let n: number;
    try {
      n = data.length === 0 ? 0 : conn.send(data);
    } catch (e) {
      const cb = this._wrCb;
      this._wrRest = null;
      this._wrCb = null;
      cb?.(systemError(codeOf(e) === 'EPIPE' ? 'EPIPE' : codeOf(e), 'write', undefined, undefined, e));
      return;
    }
    if (n < data.length) {
      // The engine's send buffer is full: keep the rest until onSendSpace.
      this._wrRest = data.subarray(n);
      return;
    }
    const cb = this._wrCb;
    this._wrRest = null;
    this._wrCb = null;
    // Counted when the whole chunk is in; until then writableLength still includes it.
    this._bytesDispatched += this._wrLen;
    this._touch();
    cb?.();
  }

  override _final(cb: (error?: Error | null) => void): void {
    if (!this._established) {
      if (this.connecting) {
        (this._afterConnect ??= []).push(() => this._final(cb));
        return;
      }
      cb();
      return;
    }
    this._shutdown();
    cb();
  }

  private _shutdown(): void {
    if (this._shutdownSent || !this._conn || this._connClosed) return;
    this._shutdownSent = true;
    try {
      this._conn.shutdown();
    } catch {
      // Already closed in the engine: nothing to shut down.
    }
  }

  override _read(_size: number): void {
    if (!this._recvPaused || !this._conn) return;
    this._recvPaused = false;
    const conn = this._conn;
    // Resuming delivers held data synchronously: never from inside an engine callback.
    outsideEngine(() => {
      if (!this._recvPaused && !this._orphan && !this.destroyed) conn.setReceivePaused(false);
    });
  }

  override _destroy(error: Error | null, cb: (error?: Error | null) => void): void {
    this._clearTimer();
    this.connecting = false;
    this._afterConnect = null;
    if (this._wrRest) {
      this._wrRest = null;
      this._wrCb = null;
    }
    const conn = this._conn;
    if (conn && !this._connClosed) {
      if (!this._established) {
        // Still in the handshake: just forget it (ABORT in SYN-SENT sends nothing).
        conn.abort();
      } else if (this._recvPaused && !this._gotFin && heldBytes(conn) > 0) {
        // Unread data is held by the engine: Linux resets such a connection on close().
        conn.abort();
      } else {
        // Like closing the fd: the engine finishes the close on its own (FIN after what is queued).
        this._orphan = true;
        this._shutdown();
        if (this._recvPaused) conn.setReceivePaused(false);
      }
    }
    cb(error);
    // Node order: the server learns of it here (its 'close' may follow on the next tick), and
    // the socket's own 'close' comes after that.
    const hook = this._onDestroy;
    this._onDestroy = null;
    hook?.();
    process.nextTick(() => this.emit('close', error != null));
  }

  // ---------------------------------------------------------------------------------- Node API

  /** Half-close then destroy once everything is written (Node's destroySoon). */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once('finish', () => this.destroy());
  }

  /** Close with RST (Node's resetAndDestroy). */
  resetAndDestroy(): this {
    if (this._conn && !this._connClosed) {
      const conn = this._conn;
      this._connClosed = true;
      conn.abort();
    }
    this.destroy();
    return this;
  }

  /** Disable (true, the default) or enable Nagle's algorithm. */
  setNoDelay(noDelay?: boolean): this {
    const v = noDelay === undefined ? true : Boolean(noDelay);
    this._engineOpts.noDelay = v;
    if (this._conn && !this._connClosed) this._conn.setNoDelay(v);
    return this;
  }

  /** Enable/disable keepalive; `initialDelay` (ms) is the idle time before the first probe (0: unchanged). */
  setKeepAlive(enable = false, initialDelay = 0): this {
    const delay = Number(initialDelay) > 0 ? Number(initialDelay) : undefined;
    this._engineOpts.keepAlive = Boolean(enable);
    if (delay !== undefined) this._engineOpts.keepAliveInitialDelay = delay;
    if (this._conn && !this._connClosed) this._conn.setKeepAlive(Boolean(enable), delay);
    return this;
  }

  /**
   * Emit 'timeout' after `ms` of inactivity (no data read or written); 0 disables. Like Node it
   * does not close the socket. The timer runs on the stack's clock.
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (typeof ms !== 'number' || !Number.isFinite(ms) || ms < 0) throw new HastackError('ERR_INVALID_ARG_VALUE', `timeout must be a non-negative number, got ${String(ms)}`);
    this._clearTimer();
    this._idleMs = ms;
    this.timeout = ms;
    if (callback) {
      if (ms === 0) this.removeListener('timeout', callback);
      else this.once('timeout', callback);
    }
    if (ms > 0 && !this.destroyed) {
      this._lastActive = this._now();
      this._armTimer(this._lastActive + ms);
    }
    return this;
  }

  /** The local address: `{ address, family, port }` ({} before the socket is bound). */
  address(): AddressInfo | Record<string, never> {
    const c = this._addrConn();
    return c ? { address: formatIp(c.localAddress), family: 'IPv4', port: c.localPort } : {};
  }

  /** The engine's view of the connection (state, windows, RTT, cwnd...), or undefined. */
  tcpInfo(): Record<string, unknown> | undefined {
    return this._conn?.info();
  }

  /** RFC 9293 state of the connection ('CLOSED' once it is gone or before it exists). */
  get tcpState(): TcpStateName {
    return this._conn ? this._conn.state : 'CLOSED';
  }

  /** The engine connection (advanced: checkpointing). */
  get connection(): TcpConnectionHandle | null {
    return this._conn;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }

  get localAddress(): string | undefined {
    const c = this._addrConn();
    return c ? formatIp(c.localAddress) : undefined;
  }
  get localPort(): number | undefined {
    return this._addrConn()?.localPort;
  }
  get localFamily(): 'IPv4' | undefined {
    return this._addrConn() ? 'IPv4' : undefined;
  }
  get remoteAddress(): string | undefined {
    const c = this._addrConn();
    return c ? formatIp(c.remoteAddress) : undefined;
  }
  get remotePort(): number | undefined {
    return this._addrConn()?.remotePort;
  }
  get remoteFamily(): 'IPv4' | undefined {
    return this._addrConn() ? 'IPv4' : undefined;
  }
  /** Bytes received. */
  get bytesRead(): number {
    return this._bytesRead;
  }
  /** Bytes written by the application (accepted by the engine plus still buffered here). */
  get bytesWritten(): number {
    return this._bytesDispatched + this.writableLength;
  }
  /** True until connected (also for a socket that was never connected). */
  get pending(): boolean {
    return !this._conn || this.connecting;
  }
  get readyState(): 'opening' | 'open' | 'readOnly' | 'writeOnly' | 'closed' {
    if (this.connecting) return 'opening';
    if (this.readable && this.writable) return 'open';
    if (this.readable && !this.writable) return 'readOnly';
    if (!this.readable && this.writable) return 'writeOnly';
    return 'closed';
  }
  /** Deprecated in Node: same as writableLength. */
  get bufferSize(): number {
    return this.writableLength;
  }

  // ---------------------------------------------------------------------------------- helpers

  /** The connection once established (addresses are read from it; it keeps them after close). */
  private _addrConn(): TcpConnectionHandle | null {
    return this._established ? this._conn : null;
  }

  private _now(): number {
    return this._stack ? this._stack.clock.now() : performance.now();
  }

  /** Activity: push the idle deadline out (re-arming only when no timer is pending). */
  private _touch(): void {
    if (this._idleMs <= 0) return;
    this._lastActive = this._now();
    if (!this._timer && !this.destroyed) this._armTimer(this._lastActive + this._idleMs);
  }

  private _armTimer(at: number): void {
    if (!this._stack) return;
    this._timer = this._stack.clock.setTimer(at, () => {
      this._timer = null;
      if (this.destroyed || this._idleMs <= 0) return;
      const due = this._lastActive + this._idleMs;
      if (this._now() >= due) this.emit('timeout');
      else this._armTimer(due);
    });
  }

  private _clearTimer(): void {
    if (this._timer && this._stack) this._stack.clock.clearTimer(this._timer);
    this._timer = null;
  }
}

/**
 * The engine's event sink for one Socket: prototype methods (no closures per connection, which
 * matters with 10,000s of idle sockets) that mark "inside an engine callback" around each call.
 */
class SocketEvents implements TcpConnectionEvents {
  constructor(private readonly s: Socket) {}
  onEstablished(): void {
    engineDepth++;
    try {
      this.s._onEstablished();
    } catch (e) {
      rethrowOutsideEngine(e);
    } finally {
      engineDepth--;
    }
  }
  onData(chunk: Uint8Array): void {
    engineDepth++;
    try {
      this.s._onData(chunk);
    } catch (e) {
      rethrowOutsideEngine(e);
    } finally {
      engineDepth--;
    }
  }
  onFin(): void {
    engineDepth++;
    try {
      this.s._onFin();
    } catch (e) {
      rethrowOutsideEngine(e);
    } finally {
      engineDepth--;
    }
  }
  onSendSpace(): void {
    engineDepth++;
    try {
      this.s._onSendSpace();
    } catch (e) {
      rethrowOutsideEngine(e);
    } finally {
      engineDepth--;
    }
  }
  onClosed(error?: HastackError): void {
    engineDepth++;
    try {
      this.s._onClosed(error);
    } catch (e) {
      rethrowOutsideEngine(e);
    } finally {
      engineDepth--;
    }
  }
  onReady(): void {
    engineDepth++;
    try {
      this.s._onReady();
    } catch (e) {
      rethrowOutsideEngine(e);
    } finally {
      engineDepth--;
    }
  }
}

/** Received bytes the engine holds undelivered (paused reader); unknown counts as some. */
function heldBytes(conn: TcpConnectionHandle): number {
  const h = conn.info().heldBytes;
  return typeof h === 'number' ? h : 1;
}

/** Node: with allowHalfOpen false, writing after the peer's FIN fails with EPIPE. */
function onReadableStreamEnd(this: Socket): void {
  if (!this.allowHalfOpen) this.write = writeAfterFIN as Socket['write'];
}

function writeAfterFIN(this: Socket, chunk: unknown, encoding?: unknown, cb?: unknown): boolean {
  if (!this.writableEnded) return Duplex.prototype.write.call(this, chunk, encoding as BufferEncoding, cb as (error: Error | null | undefined) => void);
  if (typeof encoding === 'function') cb = encoding;
  const er = new HastackError('EPIPE', 'EPIPE', { info: { errno: ERRNO.EPIPE } });
  er.message = 'This socket has been ended by the other party';
  if (typeof cb === 'function') process.nextTick(cb as (e: Error) => void, er);
  this.destroy(er);
  return false;
}

/** Node's normalizeArgs for connect: (options[, cb]) | (port[, host][, cb]). */
export function normalizeConnectArgs(args: unknown[]): [SocketConnectOptions, ConnectListener | undefined] {
  if (args.length === 0) return [{} as SocketConnectOptions, undefined];
  const last = args[args.length - 1];
  const cb = typeof last === 'function' ? (last as ConnectListener) : undefined;
  const a0 = args[0];
  if (a0 !== null && typeof a0 === 'object') return [a0 as SocketConnectOptions, cb];
  if (typeof a0 === 'string' && !/^\d+$/.test(a0.trim())) throw new HastackError('ENOTSUP', `IPC paths are not supported (got ${JSON.stringify(a0)})`);
  const opts: SocketConnectOptions = { port: a0 as number | string };
  if (args.length > 1 && typeof args[1] === 'string') opts.host = args[1];
  return [opts, cb];
}
