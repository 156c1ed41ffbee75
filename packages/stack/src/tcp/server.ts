/**
 * `Server`: a `net.Server` look-alike on top of one engine listener (`TcpListenerHandle`).
 *
 * Node semantics kept: 'listening' and listen errors (EADDRINUSE) are emitted on the next tick;
 * `close()` stops accepting at once and 'close' follows when the last accepted connection has
 * closed; over `maxConnections` a new connection is accepted and closed at once (the peer sees
 * 'connect' then 'end', the server emits 'drop'), as Node does.
 */
import { EventEmitter } from 'node:events';
import { HastackError } from '../errors.js';
import { formatIp } from '../util/addr.js';
import type { TcpConnectionHandle, TcpConnectionOptions, TcpListenOptions, TcpListenerHandle } from './contract.js';
import {
  Socket,
  codeOf,
  engineCallback,
  outsideEngine,
  parseHost,
  pickEngineOptions,
  rethrowOutsideEngine,
  systemError,
  validatePort,
  type AddressInfo,
  type TcpApiHost,
} from './socket.js';

/** Options of `createServer()`. */
export interface ServerOptions extends TcpConnectionOptions {
  /** Accepted sockets keep their writable side open after the peer's FIN (default false). */
  allowHalfOpen?: boolean;
  /** Accepted sockets start paused: nothing is read (the window closes) until resume(). */
  pauseOnConnect?: boolean;
  /** Default backlog for listen() (half-open + not yet accepted). Default 511. */
  backlog?: number;
  /** Readable/writable high-water marks of accepted sockets (default 64 KiB). */
  highWaterMark?: number;
}

/** Options of `server.listen({ ... })`. */
export interface ListenOptions {
  port?: number | string;
  host?: string;
  backlog?: number;
}

export type ConnectionListener = (socket: Socket) => void;

/** Ephemeral range for listen(0) when the engine does not pick a port itself (IANA, RFC 6335). */
const EPHEMERAL_LO = 49152;
const EPHEMERAL_HI = 65535;
const nextEphemeral = new WeakMap<TcpApiHost, number>();

/**
 * listen() on port 0: let the engine choose if it can; otherwise walk the ephemeral range from
 * where the last search for this stack stopped, skipping ports in use.
 */
function listenEphemeral(stack: TcpApiHost, opts: TcpListenOptions): TcpListenerHandle {
  try {
    return stack.tcp.listen(opts);
  } catch (e) {
    const code = codeOf(e);
    if (code !== 'ERR_SOCKET_BAD_PORT' && code !== 'EINVAL') throw e;
  }
  const span = EPHEMERAL_HI - EPHEMERAL_LO + 1;
  let p = nextEphemeral.get(stack) ?? EPHEMERAL_LO + ((Math.random() * span) | 0);
  for (let i = 0; i < span; i++) {
    const port = p;
    p = p >= EPHEMERAL_HI ? EPHEMERAL_LO : p + 1;
    try {
      const l = stack.tcp.listen({ ...opts, localPort: port });
      nextEphemeral.set(stack, p);
      return l;
    } catch (e) {
      if (codeOf(e) !== 'EADDRINUSE') throw e;
    }
  }
  throw new HastackError('EADDRINUSE', 'no free ephemeral port', { syscall: 'listen' });
}

export class Server extends EventEmitter {
  /** Refuse (close at once) new connections while this many are open. Unset: no limit. */
  maxConnections: number | undefined = undefined;

  private readonly _stack: TcpApiHost;
  private readonly _opts: ServerOptions;
  private readonly _engineOpts: TcpConnectionOptions;
  private _listener: TcpListenerHandle | null = null;
  private _address: AddressInfo | null = null;
  private readonly _sockets = new Set<Socket>();
  private _connections = 0;

  constructor(stack: TcpApiHost, options?: ServerOptions | ConnectionListener, connectionListener?: ConnectionListener) {
    super();
    if (typeof options === 'function') {
      connectionListener = options;
      options = {};
    }
    if (options !== undefined && (options === null || typeof options !== 'object')) {
      throw new HastackError('ERR_INVALID_ARG_TYPE', 'The "options" argument must be of type object');
    }
    this._stack = stack;
    this._opts = { ...(options ?? {}) };
    this._engineOpts = pickEngineOptions(this._opts);
    if (connectionListener) this.on('connection', connectionListener);
  }

  /** Whether the server is accepting connections. */
  get listening(): boolean {
    return this._listener !== null;
  }

  /**
   * Start accepting: `listen(port[, host][, backlog][, cb])`, `listen({ port, host, backlog }[, cb])`
   * or `listen([cb])` (port 0: an ephemeral port, see address()). Host defaults to any address.
   */
  listen(port?: number | string | null, host?: string, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string | null, host?: string, listeningListener?: () => void): this;
  listen(port?: number | string | null, backlog?: number, listeningListener?: () => void): this;
  listen(port?: number | string | null, listeningListener?: () => void): this;
  listen(options: ListenOptions, listeningListener?: () => void): this;
  listen(listeningListener?: () => void): this;
  listen(...args: unknown[]): this {
    const last = args[args.length - 1];
    const cb = typeof last === 'function' ? (last as () => void) : undefined;
    if (cb) args = args.slice(0, -1);
    let port: unknown;
    let host: unknown;
    let backlog: unknown;
    const a0 = args[0];
    if (a0 !== null && typeof a0 === 'object') {
      const o = a0 as ListenOptions & { path?: unknown };
      if (o.path !== undefined) throw new HastackError('ENOTSUP', 'IPC paths are not supported');
      port = o.port;
      host = o.host;
      backlog = o.backlog;
    } else {
      port = a0;
      if (typeof args[1] === 'string') {
        host = args[1];
        backlog = args[2];
      } else backlog = args[1];
    }
    if (this._listener) throw new HastackError('ERR_SERVER_ALREADY_LISTEN', 'Listen method has been called more than once without closing.');
    if (typeof port === 'string' && !/^\d+$/.test(port.trim())) throw new HastackError('ENOTSUP', `IPC paths are not supported (got ${JSON.stringify(port)})`);
    const p = port === undefined || port === null ? 0 : validatePort(port, 'options.port');
    const addr = parseHost(host, true);
    const bl = typeof backlog === 'number' && backlog > 0 ? backlog : this._opts.backlog;
    if (cb) this.once('listening', cb);
    const hostStr = formatIp(addr);
    let l: TcpListenerHandle;
    try {
      const opts: TcpListenOptions = {
        ...this._engineOpts,
        localAddress: addr,
        localPort: p,
        backlog: bl,
        onConnection: engineCallback((conn: TcpConnectionHandle) => this._onConnection(conn)),
      };
      l = p === 0 ? listenEphemeral(this._stack, opts) : this._stack.tcp.listen(opts);
    } catch (e) {
      const er = systemError(codeOf(e), 'listen', hostStr, p, e);
      process.nextTick(() => this.emit('error', er));
      return this;
    }
    this._listener = l;
    this._address = { address: hostStr, family: 'IPv4', port: l.localPort };
    process.nextTick(() => {
      if (this._listener === l) this.emit('listening');
    });
    return this;
  }

  private _onConnection(conn: TcpConnectionHandle): boolean {
    if (!this._listener) return false;
    if (this.maxConnections && this._connections >= this.maxConnections) {
      // Node accepts and closes at once: the peer sees 'connect' then 'end'.
      this.emit('drop', {
        localAddress: formatIp(conn.localAddress),
        localPort: conn.localPort,
        localFamily: 'IPv4',
        remoteAddress: formatIp(conn.remoteAddress),
        remotePort: conn.remotePort,
        remoteFamily: 'IPv4',
      });
      conn.setEvents({
        onEstablished() {},
        onData() {
          conn.abort();
        },
        onFin() {},
        onSendSpace() {},
        onClosed() {},
      });
      conn.shutdown();
      return true;
    }
    const hwm = this._opts.highWaterMark;
    const socket = Socket.adopt(this._stack, conn, {
      allowHalfOpen: this._opts.allowHalfOpen,
      pauseOnConnect: this._opts.pauseOnConnect,
      readableHighWaterMark: hwm,
      writableHighWaterMark: hwm,
    });
    socket.server = this;
    this._connections++;
    this._sockets.add(socket);
    socket._onDestroy = () => {
      this._connections--;
      this._sockets.delete(socket);
      this._emitCloseIfDrained();
    };
    try {
      this.emit('connection', socket);
    } catch (e) {
      // The application's handler threw: the connection stays accepted (as with node:net), the
      // exception surfaces as an uncaught exception outside the engine.
      rethrowOutsideEngine(e);
    }
    return true;
  }

  /**
   * Stop accepting new connections. 'close' (and `cb`) follow once every accepted connection
   * has closed; `cb` gets ERR_SERVER_NOT_RUNNING when the server was not listening.
   */
  close(cb?: (err?: Error) => void): this {
    if (typeof cb === 'function') {
      if (!this._listener) this.once('close', () => cb(new HastackError('ERR_SERVER_NOT_RUNNING', 'Server is not running.')));
      else this.once('close', cb);
    }
    const l = this._listener;
    if (l) {
      this._listener = null;
      this._address = null;
      outsideEngine(() => l.close());
    }
    this._emitCloseIfDrained();
    return this;
  }

  private _emitCloseIfDrained(): void {
    if (this._listener || this._connections > 0) return;
    process.nextTick(() => {
      if (!this._listener && this._connections === 0) this.emit('close');
    });
  }

  /** `{ address, family: 'IPv4', port }` while listening, else null. */
  address(): AddressInfo | null {
    return this._address ? { ...this._address } : null;
  }

  /** Number of open accepted connections (asynchronously, like Node). */
  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this._connections;
    process.nextTick(() => cb(null, n));
    return this;
  }

  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}
