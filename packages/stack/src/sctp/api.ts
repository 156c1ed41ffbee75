/**
 * The application face of SCTP: `SctpAssociation` (an EventEmitter, message oriented) and
 * `SctpServer`. Events:
 *   'connect'                       the association is established
 *   'message' (data, {stream, ppid, unordered})
 *   'path-change' ({address, state, primary})   a destination changed state (active/pf/inactive)
 *   'path-failure' ({address, primary})          a destination became inactive (§8.2)
 *   'shutdown'                      the peer started a graceful shutdown
 *   'drain'                         the send buffer fell below its high-water mark
 *   'error' (HastackError)          ECONNREFUSED, ECONNRESET, ETIMEDOUT, ERR_SCTP_PROTOCOL, ...
 *   'close' (hadError)              the association is gone
 */
import { EventEmitter } from 'node:events';
import { ipv4ToString } from '@hastack/wire';
import type { HastackError } from '../errors.js';
import { err } from '../errors.js';
import type { SctpAssoc } from './association.js';
import type { SctpPathInfo, SctpSnapshot, SctpStateName } from './types.js';

export interface SctpSendOptions {
  stream?: number;
  ppid?: number;
  unordered?: boolean;
}

export interface SctpMessageInfo {
  stream: number;
  ppid: number;
  unordered: boolean;
}

/** What the API object needs from the layer. */
export interface SctpApiHost {
  now(): number;
  wake(): void;
}

export class SctpAssociation extends EventEmitter {
  /** @internal */
  readonly engine: SctpAssoc;
  private readonly host: SctpApiHost;
  private closedEmitted = false;

  /** @internal */
  constructor(engine: SctpAssoc, host: SctpApiHost) {
    super();
    this.engine = engine;
    this.host = host;
    engine.events = {
      onConnect: () => this.emit('connect'),
      onMessage: (data, info) => this.emit('message', data, info),
      onPathChange: (addr, state, primary) => {
        const address = ipv4ToString(addr);
        this.emit('path-change', { address, state, primary });
        if (state === 'inactive') this.emit('path-failure', { address, primary });
      },
      onShutdown: () => this.emit('shutdown'),
      onDrain: () => this.emit('drain'),
      onClosed: (error?: HastackError) => {
        if (this.closedEmitted) return;
        this.closedEmitted = true;
        if (error && this.listenerCount('error') > 0) this.emit('error', error);
        this.emit('close', !!error);
      },
    };
  }

  /** RFC 9260 state name. */
  get state(): SctpStateName {
    return this.engine.state;
  }
  get localPort(): number {
    return this.engine.s.localPort;
  }
  get remotePort(): number {
    return this.engine.s.remotePort;
  }
  /** The peer's addresses (destination transport addresses). */
  get remoteAddresses(): string[] {
    return this.engine.s.paths.map((p) => ipv4ToString(p.addr));
  }
  /** Our addresses as announced to the peer. */
  get localAddresses(): string[] {
    return this.engine.s.localAddrs.map(ipv4ToString);
  }
  /** Bytes queued or in flight. */
  get bufferedAmount(): number {
    return this.engine.bufferedAmount;
  }
  get outboundStreams(): number {
    return this.engine.s.numOut;
  }
  get inboundStreams(): number {
    return this.engine.s.numIn;
  }

  /**
   * Send one message. Returns false when the send buffer is above its high-water mark: wait for
   * 'drain'. Throws ERR_INVALID_ARG_VALUE (bad stream), EMSGSIZE, ENOBUFS (hard limit), EPIPE
   * (shutting down), ERR_SOCKET_CLOSED.
   */
  send(data: Uint8Array | string, opts: SctpSendOptions = {}): boolean {
    const bytes = typeof data === 'string' ? new TextEncoder().encode(data) : data;
    if (!(bytes instanceof Uint8Array)) throw err('ERR_INVALID_ARG_TYPE', 'data must be a Uint8Array or string');
    const r = this.engine.send(bytes, opts.stream ?? 0, opts.ppid ?? 0, opts.unordered ?? false);
    this.host.wake();
    return r;
  }

  /** Graceful shutdown (§9.2): queued data is delivered first; 'close' follows. */
  shutdown(): void {
    this.engine.shutdown(this.host.now());
    this.host.wake();
  }

  /** Abort (§9.1): ABORT to the peer, all queued data discarded; 'close' follows. */
  abort(): void {
    this.engine.abort(this.host.now());
    this.host.wake();
  }

  /** Per-destination state: address, state, srtt, rto, cwnd... */
  paths(): SctpPathInfo[] {
    const s = this.engine.s;
    return s.paths.map((p, i) => ({
      address: ipv4ToString(p.addr),
      state: p.state,
      primary: i === s.primary,
      errors: p.errors,
      srtt: p.srtt,
      rto: p.rto,
      cwnd: p.cwnd,
      ssthresh: p.ssthresh,
      flight: p.flight,
    }));
  }

  /** Make `address` (one of the peer's) the primary path (§6.4 SET PRIMARY). */
  setPrimary(address: string): void {
    const i = this.engine.s.paths.findIndex((p) => ipv4ToString(p.addr) === address);
    if (i < 0) throw err('EADDRNOTAVAIL', `${address} is not an address of the peer`);
    this.engine.s.primary = i;
    this.engine.touch();
  }

  /** A plain-data checkpoint of the association (seed 004); `app` is carried along opaque. */
  snapshot(app?: unknown): SctpSnapshot {
    return this.engine.snapshot(this.host.now(), app);
  }

  /** @internal Ask the stack for an output pass (replication). */
  kick(): void {
    this.engine.kick();
    this.host.wake();
  }

  /** Association counters. */
  stats(): Record<string, number> {
    return { ...this.engine.s.stats };
  }
}

export interface SctpServerOptions {
  port?: number;
  /** Local addresses to announce in INIT ACK (multihoming / seed 004 alternate address). */
  addresses?: string[];
  /** Inbound/outbound streams offered. */
  streams?: number;
}

export class SctpServer extends EventEmitter {
  /** @internal */
  port = 0;
  /** @internal */
  addrs: number[] = [];
  /** @internal */
  streams = 0;
  listening = false;
  /** @internal */
  constructor(
    private readonly onListen: (srv: SctpServer) => void,
    private readonly onClose: (srv: SctpServer) => void,
  ) {
    super();
  }

  /** Start accepting associations on `port` (defaults to the one given to createServer). */
  listen(port?: number, cb?: () => void): this {
    if (this.listening) throw err('ERR_SERVER_ALREADY_LISTEN', 'server is already listening');
    if (port !== undefined) this.port = port;
    this.onListen(this);
    this.listening = true;
    if (cb) this.once('listening', cb);
    queueMicrotask(() => this.emit('listening'));
    return this;
  }

  address(): { port: number; addresses: string[] } {
    return { port: this.port, addresses: this.addrs.map(ipv4ToString) };
  }

  /** Stop accepting; existing associations continue. */
  close(cb?: () => void): this {
    if (this.listening) {
      this.listening = false;
      this.onClose(this);
    }
    queueMicrotask(() => {
      this.emit('close');
      cb?.();
    });
    return this;
  }
}
