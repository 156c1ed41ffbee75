/**
 * A tiny in-memory IP network for SCTP engine tests: each node is an SctpLayer over a fake
 * IpLayer; packets are copied and delivered after a delay on a VirtualClock, with seeded loss,
 * reordering (jitter) and per-address blackholes. No Ethernet, no IP header: the transport bytes
 * go straight to the node that owns the destination address.
 */
import { VirtualClock } from '../src/clock.js';
import type { TimerHandle } from '../src/clock.js';
import type { IpLayer, IpTx, TransportContext } from '../src/engine/types.js';
import { NO_OFFLOADS } from '../src/link.js';
import { SctpLayer, type SctpLayerOptions } from '../src/sctp/index.js';
import { parseIpv4Address } from '@hastack/wire';

export function ip(s: string): number {
  return parseIpv4Address(s) as number;
}

export function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SimPacket {
  src: number;
  dst: number;
  bytes: Uint8Array;
  at: number;
}

export class SimNode {
  readonly layer: SctpLayer;
  alive = true;
  private timer: TimerHandle | null = null;
  private timerAt = Infinity;
  private scheduled = false;

  constructor(
    readonly net: SimNet,
    readonly name: string,
    readonly addrs: number[],
    opts: SctpLayerOptions,
  ) {
    const self = this;
    const ipl: IpLayer = {
      headroom: 34,
      offloads: NO_OFFLOADS,
      sendIp(buf: Uint8Array, len: number, tx: IpTx): boolean {
        if (!self.alive) return false;
        net.send(self, tx.src, tx.dst, buf.slice(34, 34 + len));
        return true;
      },
      sourceFor: () => self.addrs[0],
      mtuFor: () => net.mtu,
      isLocalAddress: (a: number) => self.addrs.includes(a),
      sendUnreachable: () => {},
    };
    const ctx: TransportContext = {
      ip: ipl,
      clock: net.clock,
      nodeId: name,
      wake: () => this.schedule(),
    };
    this.layer = new SctpLayer(ctx, { random32: () => (net.rand() * 0x100000000) >>> 0, ...opts });
  }

  schedule(): void {
    if (this.scheduled || !this.alive) return;
    this.scheduled = true;
    this.net.clock.defer(() => {
      this.scheduled = false;
      this.run();
    });
  }

  run(): void {
    if (!this.alive) return;
    const now = this.net.clock.now();
    this.layer.poll(now);
    const at = this.layer.pollAt();
    if (at <= now) {
      this.schedule();
      return;
    }
    if (at !== this.timerAt) {
      if (this.timer) this.net.clock.clearTimer(this.timer);
      this.timer = null;
      this.timerAt = at;
      if (at !== Infinity) {
        this.timer = this.net.clock.setTimer(at, () => {
          this.timer = null;
          this.timerAt = Infinity;
          this.run();
        });
      }
    }
  }

  deliver(src: number, dst: number, bytes: Uint8Array): void {
    if (!this.alive) return;
    this.layer.receive({ src, dst, protocol: 132, ttl: 64, tos: 0, nonUnicast: false }, bytes, bytes, this.net.clock.now());
    this.schedule();
  }

  /** Stop dead (stack.crash()). */
  crash(): void {
    this.alive = false;
    this.layer.crash();
    if (this.timer) this.net.clock.clearTimer(this.timer);
  }
}

export interface SimOptions {
  seed?: number;
  delay?: number;
  /** Extra random delay in [0, jitter) ms: reorders packets. */
  jitter?: number;
  loss?: number;
  mtu?: number;
}

export class SimNet {
  readonly clock = new VirtualClock(0);
  readonly rand: () => number;
  readonly nodes: SimNode[] = [];
  delay: number;
  jitter: number;
  loss: number;
  mtu: number;
  /** Addresses that silently eat packets sent to them. */
  readonly blackholed = new Set<number>();
  /** Every packet sent (for assertions). */
  readonly log: SimPacket[] = [];
  keepLog = false;
  /** Optional per-packet drop decision (after the random loss). */
  dropIf: ((p: SimPacket) => boolean) | null = null;

  constructor(o: SimOptions = {}) {
    this.rand = mulberry(o.seed ?? 1);
    this.delay = o.delay ?? 5;
    this.jitter = o.jitter ?? 0;
    this.loss = o.loss ?? 0;
    this.mtu = o.mtu ?? 1500;
  }

  node(name: string, addrs: string[], opts: SctpLayerOptions = {}): SimNode {
    const n = new SimNode(this, name, addrs.map(ip), opts);
    this.nodes.push(n);
    return n;
  }

  send(from: SimNode, src: number, dst: number, bytes: Uint8Array): void {
    const now = this.clock.now();
    const p: SimPacket = { src, dst, bytes, at: now };
    if (this.keepLog) this.log.push(p);
    if (this.blackholed.has(dst) || this.blackholed.has(src)) return;
    if (this.loss > 0 && this.rand() < this.loss) return;
    if (this.dropIf?.(p)) return;
    const to = this.nodes.find((n) => n.addrs.includes(dst));
    if (!to) return;
    const d = this.delay + (this.jitter > 0 ? this.rand() * this.jitter : 0);
    void from;
    this.clock.setTimer(now + d, () => to.deliver(src, dst, bytes));
  }

  /** Run until `cond` or `maxMs` of virtual time. */
  async until(cond: () => boolean, maxMs = 60_000): Promise<boolean> {
    return this.clock.run(cond, { maxMs, wallMs: 60_000 });
  }
}
