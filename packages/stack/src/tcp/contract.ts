/**
 * The seam between the TCP protocol engine (tcp/engine code: segments, state machine, timers)
 * and the Node-shaped API (tcp/socket.ts, tcp/server.ts). It follows RFC 9293 §3.10's user
 * interface: OPEN, SEND, RECEIVE, CLOSE, ABORT, STATUS — plus the events the API needs.
 *
 * Threading model: everything runs on Node's one thread. Engine → API calls happen from inside
 * `receive()`/`poll()`; the API must not call back into the engine re-entrantly from an event
 * handler in a way that needs the result synchronously (queueing with process.nextTick is fine;
 * the engine tolerates re-entrant send/shutdown/abort calls).
 */
import type { HastackError } from '../errors.js';

/** RFC 9293 connection states. */
export type TcpStateName =
  | 'CLOSED'
  | 'LISTEN'
  | 'SYN_SENT'
  | 'SYN_RECEIVED'
  | 'ESTABLISHED'
  | 'FIN_WAIT_1'
  | 'FIN_WAIT_2'
  | 'CLOSE_WAIT'
  | 'CLOSING'
  | 'LAST_ACK'
  | 'TIME_WAIT';

export type CongestionControl = 'newreno' | 'cubic';

/** Per-connection options (all optional; defaults documented in docs/tcp.md). */
export interface TcpConnectionOptions {
  /** Send buffer limit in bytes (unacked + unsent). Default 4 MiB. */
  sendBufferSize?: number;
  /** Receive buffer limit in bytes; the advertised window and window scale follow it. Default 4 MiB. */
  receiveBufferSize?: number;
  /** Disable Nagle's algorithm (RFC 896 / RFC 1122 §4.2.3.4). Default false. */
  noDelay?: boolean;
  congestionControl?: CongestionControl;
  /** RFC 7323 timestamps. Default true. */
  timestamps?: boolean;
  /** RFC 2018 SACK. Default true. */
  sack?: boolean;
  /** RFC 7323 window scaling. Default true. */
  windowScale?: boolean;
  /** Keepalive (RFC 1122 §4.2.3.6): enabled, idle time before first probe, interval, probe count. */
  keepAlive?: boolean;
  keepAliveInitialDelay?: number;
  keepAliveInterval?: number;
  keepAliveProbes?: number;
  /** Our MSS clamp (bytes); default: path MTU − 40. */
  mss?: number;
  /** Give up after this long without progress when retransmitting (ms). Default 120 s for data, 75 s for SYN. */
  userTimeout?: number;
  /** TIME_WAIT duration (2·MSL) in ms. Default 60 s. */
  timeWait?: number;
}

/** Callbacks from the engine to the owner of a connection (the Socket). */
export interface TcpConnectionEvents {
  /** The three-way handshake completed (both active and passive opens). */
  onEstablished(): void;
  /**
   * In-order received bytes. `chunk` is owned by the receiver (the engine copied it out of the
   * frame). Not called while receive is paused.
   */
  onData(chunk: Uint8Array): void;
  /** The peer's FIN arrived, after all data before it was delivered through onData. */
  onFin(): void;
  /** Send-buffer space became available after `send()` accepted less than offered. */
  onSendSpace(): void;
  /**
   * The connection reached CLOSED (or TIME_WAIT, after which the application is done with it).
   * `error` is set when it did not end cleanly: ECONNREFUSED (RST to our SYN), ECONNRESET,
   * ETIMEDOUT (retransmission or keepalive gave up), ECONNABORTED.
   */
  onClosed(error?: HastackError): void;
  /** A restored (unready) connection matched the peer's ACK and resumed (checkpoint issue). */
  onReady?(): void;
}

/** What the API can do with a connection. */
export interface TcpConnectionHandle {
  readonly state: TcpStateName;
  readonly localAddress: number;
  readonly localPort: number;
  readonly remoteAddress: number;
  readonly remotePort: number;
  /** Bind the event sink (done once, right after open/accept). */
  setEvents(events: TcpConnectionEvents): void;
  /**
   * SEND: append to the send buffer. Returns how many bytes were accepted (fewer than offered
   * when the buffer is full; onSendSpace follows). Throws EPIPE after shutdown/close.
   */
  send(data: Uint8Array): number;
  /** Free space in the send buffer (bytes). */
  sendBufferAvailable(): number;
  /** Bytes in the send buffer not yet acknowledged by the peer. */
  readonly bytesInFlightOrQueued: number;
  /**
   * Pause or resume delivery of received data. While paused, bytes stay in the engine's receive
   * buffer and the advertised window shrinks (to zero when full); resuming delivers them and
   * reopens the window (with silly-window avoidance, RFC 9293 §3.8.6.2.2).
   */
  setReceivePaused(paused: boolean): void;
  /** CLOSE: send FIN after everything queued (half-close: we can still receive). */
  shutdown(): void;
  /** ABORT: send RST (when synchronized), discard all state, onClosed is not called again. */
  abort(): void;
  setNoDelay(noDelay: boolean): void;
  setKeepAlive(enable: boolean, initialDelayMs?: number): void;
  /** STATUS: a plain-data view of the TCB (for debugging, stats and tests). */
  info(): Record<string, unknown>;
}

/** Passive open parameters. */
export interface TcpListenOptions extends TcpConnectionOptions {
  /** 0 = any local address. */
  localAddress: number;
  localPort: number;
  /** Max connections waiting in SYN_RECEIVED + established-not-accepted. Default 511. */
  backlog?: number;
  /**
   * A new connection completed its handshake. The callback must call `conn.setEvents()`
   * synchronously. Returning false refuses it (RST), e.g. over maxConnections.
   */
  onConnection(conn: TcpConnectionHandle): boolean | void;
}

export interface TcpListenerHandle {
  readonly localAddress: number;
  readonly localPort: number;
  /** Stop accepting; established connections are unaffected. */
  close(): void;
}

/** Active open parameters. */
export interface TcpOpenOptions extends TcpConnectionOptions {
  remoteAddress: number;
  remotePort: number;
  /** 0/undefined = choose by route. */
  localAddress?: number;
  /** 0/undefined = ephemeral. */
  localPort?: number;
}

/**
 * The engine side, implemented by TcpLayer in tcp/index.ts:
 *   listen(opts: TcpListenOptions): TcpListenerHandle      — throws EADDRINUSE
 *   open(opts: TcpOpenOptions, events: TcpConnectionEvents): TcpConnectionHandle
 *       — throws EADDRINUSE / EADDRNOTAVAIL / ENETUNREACH; failures later arrive via onClosed
 */
export interface TcpEngineApi {
  listen(opts: TcpListenOptions): TcpListenerHandle;
  open(opts: TcpOpenOptions, events: TcpConnectionEvents): TcpConnectionHandle;
}
