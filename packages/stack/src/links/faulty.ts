/**
 * FaultyLink: wraps any Link and applies seeded faults (loss, duplication, reordering, delay,
 * jitter, rate with a bounded queue) to both directions — or different faults per direction with
 * `{ tx: {...}, rx: {...} }`. A frame that passes with no delay goes straight through (no copy);
 * a delayed received frame is copied, because the inner link's buffer is only lent for the call.
 */
import { RealClock, type Clock } from '../clock.js';
import type { Link, LinkHandler, LinkOffloads, RxMeta, TxMeta } from '../link.js';
import { Random } from '../util/random.js';
import { ADMIT_LOST, ADMIT_QUEUE_FULL, DeliveryScheduler, FaultModel, type DeliveryTarget, type FaultCounters, type FaultOptions } from './faults.js';

export interface FaultyLinkOptions extends FaultOptions {
  seed?: number;
  clock?: Clock;
  /** Knobs for frames we send (override the shared ones). */
  tx?: FaultOptions;
  /** Knobs for frames we receive (override the shared ones). */
  rx?: FaultOptions;
  /** Delayed frames held at once, per direction (default 65536); beyond that frames are dropped. */
  maxPending?: number;
}

export interface FaultyLinkStats {
  tx: FaultCounters & { frames: number; overflowDrops: number };
  rx: FaultCounters & { frames: number; overflowDrops: number };
}

function pick(o: FaultOptions): FaultOptions {
  const { loss, duplicate, reorder, reorderDelayMs, delayMs, jitterMs, rateMbps, queueBytes } = o;
  return { loss, duplicate, reorder, reorderDelayMs, delayMs, jitterMs, rateMbps, queueBytes };
}

function strip(o: FaultOptions): FaultOptions {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(pick(o))) if (v !== undefined) out[k] = v;
  return out as FaultOptions;
}

export class FaultyLink implements Link {
  readonly medium: Link['medium'];
  readonly mtu: number;
  readonly mac?: Uint8Array;
  readonly offloads: LinkOffloads;
  private handler: LinkHandler | null = null;
  private readonly clock: Clock;
  private readonly txModel: FaultModel;
  private readonly rxModel: FaultModel;
  private readonly scheduler: DeliveryScheduler;
  private readonly txCount = { frames: 0, overflowDrops: 0 };
  private readonly rxCount = { frames: 0, overflowDrops: 0 };
  private passedInBatch = false;
  private closed = false;
  private readonly txTarget: DeliveryTarget;
  private readonly rxTarget: DeliveryTarget;
  private readonly innerHandler: LinkHandler;

  constructor(readonly inner: Link, options: FaultyLinkOptions = {}) {
    this.medium = inner.medium;
    this.mtu = inner.mtu;
    if (inner.mac) this.mac = inner.mac;
    this.offloads = inner.offloads;
    this.clock = options.clock ?? new RealClock();
    const seed = options.seed ?? 1;
    const shared = strip(options);
    this.txModel = new FaultModel({ ...shared, ...strip(options.tx ?? {}) }, new Random(seed));
    this.rxModel = new FaultModel({ ...shared, ...strip(options.rx ?? {}) }, new Random(seed ^ 0x5bd1e995));
    this.scheduler = new DeliveryScheduler(this.clock, (options.maxPending ?? 65536) * 2);
    this.txTarget = {
      batchMark: 0,
      deliverFrame: (frame, meta) => {
        if (!this.closed) this.inner.send(frame, meta as TxMeta | undefined);
      },
      deliverEnd: () => {
        if (!this.closed) this.inner.flush?.();
      },
    };
    this.rxTarget = {
      batchMark: 0,
      deliverFrame: (frame, meta) => {
        if (this.handler && !this.closed) this.handler.frame(frame, meta as RxMeta | undefined);
      },
      deliverEnd: () => {
        if (this.handler && !this.closed) this.handler.batchEnd();
      },
    };
    this.innerHandler = {
      frame: (data, meta) => this.onFrame(data, meta),
      batchEnd: () => {
        if (this.passedInBatch) {
          this.passedInBatch = false;
          this.handler?.batchEnd();
        }
      },
      writable: () => this.handler?.writable?.(),
    };
  }

  attach(handler: LinkHandler): void {
    this.handler = handler;
    this.inner.attach(this.innerHandler);
  }

  send(frame: Uint8Array, meta?: TxMeta): boolean {
    if (this.closed) return false;
    this.txCount.frames++;
    const now = this.clock.now();
    const at = this.txModel.admit(frame.length, now);
    if (at === ADMIT_LOST) return true;
    if (at === ADMIT_QUEUE_FULL) return false;
    const dup = this.txModel.duplicate();
    if (at <= now && !dup) return this.inner.send(frame, meta);
    if (!this.scheduler.schedule(at, this.txTarget, frame, meta)) this.txCount.overflowDrops++;
    if (dup && !this.scheduler.schedule(at, this.txTarget, frame.slice(), meta)) this.txCount.overflowDrops++;
    return true;
  }

  flush(): void {
    this.inner.flush?.();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.scheduler.close();
    this.inner.close();
    this.handler = null;
  }

  stats(): FaultyLinkStats {
    return {
      tx: { ...this.txModel.counters, ...this.txCount },
      rx: { ...this.rxModel.counters, ...this.rxCount },
    };
  }

  private onFrame(data: Uint8Array, meta?: RxMeta): void {
    if (this.closed || !this.handler) return;
    this.rxCount.frames++;
    const now = this.clock.now();
    const at = this.rxModel.admit(data.length, now);
    if (at < 0) return;
    const dup = this.rxModel.duplicate();
    if (at <= now && !dup) {
      this.passedInBatch = true;
      this.handler.frame(data, meta);
      return;
    }
    if (!this.scheduler.schedule(at, this.rxTarget, data.slice(), meta)) this.rxCount.overflowDrops++;
    if (dup && !this.scheduler.schedule(at, this.rxTarget, data.slice(), meta)) this.rxCount.overflowDrops++;
  }
}
