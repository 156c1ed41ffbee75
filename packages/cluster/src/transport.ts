/**
 * Cluster transports: how `ClusterNode` moves datagrams. The core produces and consumes whole
 * datagrams (already at most `maxDatagram` bytes, fragmented at the message layer), so a transport
 * is only "send to every other node" and "tell me what arrived".
 *
 * - `udpMulticastTransport(socket, ...)`: UDP multicast on a dgram-like socket — hastack's own
 *   `stack.createSocket('udp4')` (the default: cluster traffic on the node's own address), or
 *   Node's `dgram` socket; any object with these methods works.
 * - `MemoryBus`: an in-memory multicast bus for tests, with partitions, loss and delay, driven by
 *   a Clock so tests stay deterministic.
 */
import type { Clock } from '@hastack/stack';

/** What ClusterNode needs from a transport. */
export interface ClusterTransport {
  /** Send one datagram to every other node (best effort). */
  send(bytes: Uint8Array): void;
  /** Register the receiver of every datagram from other nodes. */
  onMessage(cb: (bytes: Uint8Array) => void): void;
  close?(): void;
}

/** The subset of `dgram.Socket` (and hastack's UdpSocket) the multicast transport uses. */
export interface DgramLike {
  bind(port: number, address?: string, callback?: () => void): unknown;
  addMembership(group: string, iface?: string): void;
  setMulticastLoopback?(flag: boolean): unknown;
  setMulticastTTL?(ttl: number): unknown;
  send(msg: Uint8Array, port: number, address: string, callback?: (error: Error | null) => void): void;
  on(event: 'message', listener: (msg: Uint8Array, rinfo: unknown) => void): unknown;
  on(event: 'error', listener: (e: Error) => void): unknown;
  close(callback?: () => void): unknown;
}

export interface MulticastOptions {
  /** Multicast group. Default 239.255.77.77 (organisation-local scope, RFC 2365). */
  group?: string;
  /** UDP port. Default 7777. */
  port?: number;
  /** Local address to bind and join on (the node's own address). */
  localAddress?: string;
  /** Multicast TTL. Default 1: cluster traffic stays on the segment. */
  ttl?: number;
  /** Called with socket errors (default: ignored, cluster traffic is best effort). */
  onError?: (e: Error) => void;
}

export const DEFAULT_CLUSTER_GROUP = '239.255.77.77';
export const DEFAULT_CLUSTER_PORT = 7777;

/**
 * Bind `socket` to the cluster port, join the group and use it as the cluster transport.
 * Loopback is turned off where supported; the core also ignores its own messages.
 */
export function udpMulticastTransport(socket: DgramLike, opts: MulticastOptions = {}): ClusterTransport {
  const group = opts.group ?? DEFAULT_CLUSTER_GROUP;
  const port = opts.port ?? DEFAULT_CLUSTER_PORT;
  let listener: ((b: Uint8Array) => void) | null = null;
  let ready = false;
  const backlog: Uint8Array[] = [];
  socket.on('message', (msg) => listener?.(msg));
  socket.on('error', (e) => opts.onError?.(e));
  const onBound = (): void => {
    socket.addMembership(group, opts.localAddress);
    socket.setMulticastLoopback?.(false);
    socket.setMulticastTTL?.(opts.ttl ?? 1);
    ready = true;
    for (const b of backlog.splice(0)) socket.send(b, port, group, sendDone);
  };
  const sendDone = (e: Error | null): void => {
    if (e) opts.onError?.(e);
  };
  // Bind to the wildcard address so datagrams sent to the group are delivered; the group
  // membership is joined on the node's own address.
  socket.bind(port, undefined, onBound);
  return {
    send(bytes) {
      if (!ready) {
        if (backlog.length < 256) backlog.push(bytes);
        return;
      }
      socket.send(bytes, port, group, sendDone);
    },
    onMessage(cb) {
      listener = cb;
    },
    close() {
      listener = null;
      socket.close();
    },
  };
}

export interface MemoryBusOptions {
  /** Delivery delay in ms (default 0: delivered on the next clock step). */
  delayMs?: number;
  /** Probability of losing each delivery (per receiver), from a seeded generator. Default 0. */
  loss?: number;
  /** Seed for loss decisions. */
  seed?: number;
}

/**
 * In-memory multicast bus for tests. Every endpoint gets every datagram the others send, after
 * `delayMs` of clock time, unless a partition separates them or it is lost.
 */
export class MemoryBus {
  private readonly endpoints = new Map<string, { cb: ((b: Uint8Array) => void) | null; up: boolean }>();
  private groups: Set<string>[] | null = null;
  private rng: number;
  /** Datagrams delivered / dropped (partition, loss, endpoint down). */
  readonly stats = { sent: 0, delivered: 0, dropped: 0 };
  /** Every datagram sent, by sender (tests use this to replay or tamper). */
  readonly log: { from: string; bytes: Uint8Array }[] = [];
  logLimit = 10_000;

  constructor(
    private readonly clock: Clock,
    private readonly opts: MemoryBusOptions = {},
  ) {
    this.rng = (opts.seed ?? 1) >>> 0 || 1;
  }

  private random(): number {
    // xorshift32: deterministic loss decisions.
    let x = this.rng;
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    this.rng = x;
    return x / 0x1_0000_0000;
  }

  /** A transport for endpoint `name`. */
  attach(name: string): ClusterTransport {
    const ep = { cb: null as ((b: Uint8Array) => void) | null, up: true };
    this.endpoints.set(name, ep);
    return {
      send: (bytes) => this.broadcast(name, bytes),
      onMessage: (cb) => {
        ep.cb = cb;
      },
      close: () => {
        ep.up = false;
        ep.cb = null;
      },
    };
  }

  /** Take an endpoint off the bus (a crash: it neither sends nor receives) or back on. */
  setUp(name: string, up: boolean): void {
    const ep = this.endpoints.get(name);
    if (ep) ep.up = up;
  }

  /** Split the bus into groups that cannot hear each other; endpoints not listed are isolated. */
  partition(...groups: string[][]): void {
    this.groups = groups.map((g) => new Set(g));
  }

  /** Remove the partition. */
  heal(): void {
    this.groups = null;
  }

  private connected(a: string, b: string): boolean {
    if (!this.groups) return true;
    return this.groups.some((g) => g.has(a) && g.has(b));
  }

  /** Deliver `bytes` as if `from` sent it (a replay or an injection by a test). */
  inject(from: string, bytes: Uint8Array): void {
    this.broadcast(from, bytes, true);
  }

  private broadcast(from: string, bytes: Uint8Array, injected = false): void {
    const src = this.endpoints.get(from);
    if (!injected && src && !src.up) return;
    this.stats.sent++;
    if (!injected && this.log.length < this.logLimit) this.log.push({ from, bytes });
    const copy = Uint8Array.from(bytes);
    for (const [name, ep] of this.endpoints) {
      if (name === from) continue;
      if (!this.connected(from, name) || (this.opts.loss && this.random() < this.opts.loss)) {
        this.stats.dropped++;
        continue;
      }
      this.clock.setTimer(this.clock.now() + (this.opts.delayMs ?? 0), () => {
        if (!ep.up || !ep.cb) {
          this.stats.dropped++;
          return;
        }
        this.stats.delivered++;
        ep.cb(copy);
      });
    }
  }
}
