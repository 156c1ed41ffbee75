/**
 * MemoryNetwork: a virtual Ethernet segment inside one process.
 *
 * Read this first:
 * - By default it is a learning switch: it learns which port each source MAC lives behind and
 *   sends unicast frames only there; broadcast, multicast and unknown destinations are flooded.
 *   With `hub: true` every port sees every frame (what connection snooping needs).
 * - Faults (loss, duplication, reordering, delay, jitter, rate) apply at the sending port's
 *   egress, drawn from one seeded generator per port, so the same seed replays the same run.
 * - Frames are delivered through a DeliveryScheduler: everything due at the same moment reaches a
 *   port as one batch (`frame()` × n, then `batchEnd()`).
 * - `send()` takes ownership of the frame; a frame delivered to more than one port (flood, hub,
 *   duplicate) is copied for every extra receiver, so a receiver may scribble on what it got —
 *   and keep it: frames arrive flagged `RxMeta.owned` (TCP then keeps payload views, no copy).
 * - `segmentationOffload` makes the ports behave like a veth pair with GSO: a TCP super-segment
 *   (TSO, `TxMeta.gsoSize`) crosses the segment unsplit and arrives as a GRO frame
 *   (`RxMeta.gsoSize`). Without `checksumOffload` the sending port completes every partial
 *   checksum in software (as a NIC would) and receivers verify it: the checksum work is all done.
 * - Bounded: the rate limiter queue (`queueBytes`, tail drop) and the scheduler
 *   (`maxPending` frames in flight over the whole segment, then drop) — both counted.
 */
import { RealClock, type Clock, type TimerHandle } from '../clock.js';
import { NO_OFFLOADS, type Link, type LinkHandler, type LinkOffloads, type RxMeta, type TxMeta } from '../link.js';
import { Random, randomMac } from '../util/random.js';
import { formatMac, parseMac } from '../util/addr.js';
import { checksum } from '@hastack/wire';
import { ADMIT_LOST, ADMIT_QUEUE_FULL, DeliveryScheduler, FaultModel, type DeliveryTarget, type FaultOptions } from './faults.js';

export interface MemoryNetworkOptions extends FaultOptions {
  /** IP MTU of the segment (default 1500): frames longer than mtu + 14 are dropped. */
  mtu?: number;
  /** Seed of the fault generators and generated MACs (default 1). */
  seed?: number;
  /** Every port sees every frame (default false: learning switch). */
  hub?: boolean;
  /** Clock that times deliveries (default: a RealClock). Share it with the stacks. */
  clock?: Clock;
  /**
   * Pretend the ports offload checksums: ports declare rx/tx checksum offload, so senders may
   * leave transport checksums partial, and receivers get `csumValid`. Captures of such a
   * segment then show unfinished checksums, as captures on real offloading NICs do.
   */
  checksumOffload?: boolean;
  /** Frames in flight over the whole segment before further frames are dropped (default 65536). */
  maxPending?: number;
  /**
   * Pretend the ports do TSO/GSO and GRO, as a veth pair does: ports declare `tso`, `gro` and
   * `txChecksum` with a 64 KiB frame limit; a super-segment sent with `TxMeta.gsoSize` is
   * delivered whole with `RxMeta.gsoSize` (faults apply to it as one frame). Without
   * `checksumOffload` the sending port completes partial checksums in software and receivers
   * verify them, so every checksum is still computed and checked.
   */
  segmentationOffload?: boolean;
}

export interface MemoryPortOptions extends FaultOptions {
  /** The port's MAC (string 'aa:bb:..' or bytes); default: a generated locally administered one. */
  mac?: string | Uint8Array;
}

/** Counters of one port. */
export interface MemoryPortStats {
  txFrames: number;
  txBytes: number;
  rxFrames: number;
  rxBytes: number;
  /** Frames lost by the loss knob. */
  lost: number;
  duplicated: number;
  reordered: number;
  /** Tail drops of the rate limiter queue. */
  queueDrops: number;
  /** Drops because the segment had `maxPending` frames in flight. */
  overflowDrops: number;
  /** Frames longer than the MTU or shorter than an Ethernet header. */
  sizeDrops: number;
  /** Frames sent while detached. */
  detachedDrops: number;
}

// Every receiver gets a frame of its own (extra receivers get copies), so it may keep views.
const OWNED: RxMeta = Object.freeze({ owned: true });
const CSUM_VALID: RxMeta = Object.freeze({ csumValid: true, owned: true });

function macKey(b: Uint8Array, off: number): number {
  return (b[off] * 0x10000000000) + (b[off + 1] * 0x100000000) + ((b[off + 2] << 24) >>> 0) + (b[off + 3] << 16) + (b[off + 4] << 8) + b[off + 5];
}

export class MemoryNetwork {
  readonly mtu: number;
  readonly hub: boolean;
  readonly clock: Clock;
  readonly checksumOffload: boolean;
  readonly segmentationOffload: boolean;
  /** @internal */ readonly scheduler: DeliveryScheduler;
  /** @internal */ readonly options: MemoryNetworkOptions;
  private readonly portList: MemoryPort[] = [];
  private readonly fdb = new Map<number, MemoryPort>();
  private readonly rng: Random;
  private nextPortId = 0;

  constructor(options: MemoryNetworkOptions = {}) {
    this.options = { ...options };
    this.mtu = options.mtu ?? 1500;
    this.hub = options.hub ?? false;
    this.clock = options.clock ?? new RealClock();
    this.checksumOffload = options.checksumOffload ?? false;
    this.segmentationOffload = options.segmentationOffload ?? false;
    this.rng = new Random(options.seed ?? 1);
    this.scheduler = new DeliveryScheduler(this.clock, options.maxPending ?? 65536);
    if (!(this.mtu >= 68 && this.mtu <= 65535)) throw new RangeError('mtu must be in 68..65535');
  }

  /** Attach a new port; returns it as a Link. Per-port fault knobs override the segment's. */
  createPort(options: MemoryPortOptions = {}): MemoryPort {
    const id = this.nextPortId++;
    const mac = options.mac !== undefined ? parseMac(options.mac) : randomMac(this.rng);
    const seed = (this.options.seed ?? 1) * 7919 + id * 104729 + 17;
    const faults: FaultOptions = { ...this.options, ...options };
    const port = new MemoryPort(this, id, mac, new FaultModel(faults, new Random(seed)));
    this.portList.push(port);
    return port;
  }

  /** The attached ports. */
  ports(): readonly MemoryPort[] {
    return this.portList;
  }

  /** Frames in flight. */
  get pending(): number {
    return this.scheduler.pending;
  }

  /** Per-port counters keyed by MAC. */
  stats(): Record<string, MemoryPortStats> {
    const out: Record<string, MemoryPortStats> = {};
    for (const p of this.portList) out[formatMac(p.mac)] = p.stats();
    return out;
  }

  /** Detach every port and stop delivering. */
  close(): void {
    for (const p of [...this.portList]) p.detach();
    this.scheduler.close();
  }

  /** @internal */
  removePort(port: MemoryPort): void {
    const i = this.portList.indexOf(port);
    if (i >= 0) this.portList.splice(i, 1);
    for (const [k, v] of this.fdb) if (v === port) this.fdb.delete(k);
    this.scheduler.cancel(port);
  }

  /** @internal Switch one frame from `from`, due at `at`; `copies` is 2 for a duplicated frame. */
  forward(from: MemoryPort, frame: Uint8Array, at: number, copies: number, gsoSize = 0): void {
    const meta = gsoSize > 0 ? this.gsoMeta(gsoSize) : this.checksumOffload ? CSUM_VALID : OWNED;
    if (!this.hub) this.fdb.set(macKey(frame, 6), from);
    if (!this.hub && (frame[0] & 1) === 0) {
      const to = this.fdb.get(macKey(frame, 0));
      if (to !== undefined) {
        if (to !== from) this.deliver(from, to, frame, at, copies, meta, true);
        return;
      }
    }
    // Flood (hub, broadcast, multicast, unknown unicast): the first receiver gets the original.
    let first = true;
    for (let i = 0; i < this.portList.length; i++) {
      const p = this.portList[i];
      if (p === from) continue;
      this.deliver(from, p, frame, at, copies, meta, first);
      first = false;
    }
  }

  // One frozen RxMeta per GRO segment size seen last (no object per frame).
  private gsoMetaCache: RxMeta | null = null;
  private gsoMeta(gsoSize: number): RxMeta {
    const m = this.gsoMetaCache;
    if (m !== null && m.gsoSize === gsoSize) return m;
    const n: RxMeta = Object.freeze(this.checksumOffload ? { csumValid: true, gsoSize, owned: true } : { gsoSize, owned: true });
    this.gsoMetaCache = n;
    return n;
  }

  private deliver(from: MemoryPort, to: MemoryPort, frame: Uint8Array, at: number, copies: number, meta: RxMeta | undefined, original: boolean): void {
    for (let c = 0; c < copies; c++) {
      const f = original && c === 0 ? frame : frame.slice();
      if (!this.scheduler.schedule(at, to, f, meta)) from.counters.overflowDrops++;
    }
  }
}

/** One attachment to a MemoryNetwork: a Link carrying Ethernet frames. */
export class MemoryPort implements Link, DeliveryTarget {
  readonly medium = 'ethernet' as const;
  readonly mtu: number;
  readonly offloads: LinkOffloads;
  batchMark = 0;
  /** @internal */ readonly counters: MemoryPortStats = {
    txFrames: 0, txBytes: 0, rxFrames: 0, rxBytes: 0, lost: 0, duplicated: 0, reordered: 0,
    queueDrops: 0, overflowDrops: 0, sizeDrops: 0, detachedDrops: 0,
  };
  private handler: LinkHandler | null = null;
  private attached = true;
  private writableTimer: TimerHandle | null = null;
  private inBatch = false;

  constructor(readonly network: MemoryNetwork, readonly id: number, readonly mac: Uint8Array, private readonly faults: FaultModel) {
    this.mtu = network.mtu;
    const csum = network.checksumOffload;
    this.offloads = network.segmentationOffload
      ? Object.freeze({ rxChecksum: csum, txChecksum: true, tso: true, gro: true, maxFrame: 65535 + 14 })
      : csum
        ? Object.freeze({ ...NO_OFFLOADS, rxChecksum: true, txChecksum: true, maxFrame: network.mtu + 14 })
        : Object.freeze({ ...NO_OFFLOADS, maxFrame: network.mtu + 14 });
  }

  /** Whether the port is still on the segment. */
  get isAttached(): boolean {
    return this.attached;
  }

  attach(handler: LinkHandler): void {
    this.handler = handler;
  }

  send(frame: Uint8Array, meta?: TxMeta): boolean {
    const c = this.counters;
    if (!this.attached) {
      c.detachedDrops++;
      return false;
    }
    const gsoSize = meta !== undefined && meta.gsoSize !== undefined && this.offloads.tso ? meta.gsoSize : 0;
    if (frame.length < 14 || frame.length > (gsoSize > 0 ? this.offloads.maxFrame : this.mtu + 14)) {
      c.sizeDrops++;
      return true;
    }
    // The "NIC" completes a partial checksum when the segment does not pretend to offload it.
    if (meta !== undefined && meta.csumStart !== undefined && !this.network.checksumOffload && this.offloads.txChecksum) {
      const at = meta.csumStart + (meta.csumOffset ?? 0);
      const v = checksum(frame, meta.csumStart, frame.length);
      frame[at] = v >>> 8;
      frame[at + 1] = v & 0xff;
    }
    c.txFrames++;
    c.txBytes += frame.length;
    const now = this.network.clock.now();
    const at = this.faults.admit(frame.length, now);
    if (at === ADMIT_LOST) {
      c.lost++;
      return true;
    }
    if (at === ADMIT_QUEUE_FULL) {
      c.queueDrops++;
      this.armWritable();
      return false;
    }
    const copies = this.faults.duplicate() ? 2 : 1;
    if (copies === 2) c.duplicated++;
    c.reordered = this.faults.counters.reordered;
    this.network.forward(this, frame, at, copies, gsoSize);
    return true;
  }

  /** @internal */
  deliverFrame(frame: Uint8Array, meta: RxMeta | TxMeta | undefined): void {
    const h = this.handler;
    if (!h) return;
    this.counters.rxFrames++;
    this.counters.rxBytes += frame.length;
    this.inBatch = true;
    h.frame(frame, meta as RxMeta | undefined);
  }

  /** @internal */
  deliverEnd(): void {
    if (!this.inBatch) return;
    this.inBatch = false;
    this.handler?.batchEnd();
  }

  /** Leave the segment: frames in flight to this port are discarded. */
  detach(): void {
    if (!this.attached) return;
    this.attached = false;
    this.network.removePort(this);
    if (this.writableTimer) this.network.clock.clearTimer(this.writableTimer);
    this.writableTimer = null;
  }

  close(): void {
    this.detach();
    this.handler = null;
  }

  stats(): MemoryPortStats {
    return { ...this.counters };
  }

  private armWritable(): void {
    if (this.writableTimer) return;
    this.writableTimer = this.network.clock.setTimer(this.faults.drainAt, () => {
      this.writableTimer = null;
      this.handler?.writable?.();
    });
  }
}
