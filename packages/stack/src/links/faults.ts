/**
 * Shared machinery of the simulated links: a fault model (loss, duplication, reordering, delay,
 * jitter, rate with a bounded queue) and a delivery scheduler that owns one timer and hands
 * frames to their targets in batches (everything due at the same moment is one batch).
 */
import type { Clock, TimerHandle } from '../clock.js';
import type { RxMeta, TxMeta } from '../link.js';
import type { Random } from '../util/random.js';

/** Fault knobs, shared by MemoryNetwork (segment and port) and FaultyLink. */
export interface FaultOptions {
  /** Probability in [0, 1] that a frame is lost. */
  loss?: number;
  /** Probability that a frame is delivered twice. */
  duplicate?: number;
  /** Probability that a frame is held back by `reorderDelayMs` so later frames overtake it. */
  reorder?: number;
  /** Extra delay of a reordered frame (default: max(1, delayMs) ms). */
  reorderDelayMs?: number;
  /** Fixed one-way delay in ms. */
  delayMs?: number;
  /** Uniform random extra delay in [0, jitterMs) ms (may reorder frames). */
  jitterMs?: number;
  /** Serialization rate in Mbit/s (0/undefined = infinitely fast). */
  rateMbps?: number;
  /** Bound of the rate limiter's queue in bytes; a frame that does not fit is tail-dropped. Default 256 KiB. */
  queueBytes?: number;
}

/** Counters of one fault model. */
export interface FaultCounters {
  lost: number;
  duplicated: number;
  reordered: number;
  queueDrops: number;
}

export const ADMIT_LOST = -1;
export const ADMIT_QUEUE_FULL = -2;

/** Per-direction fault state: plain numbers plus the seeded generator it draws from. */
export class FaultModel {
  readonly counters: FaultCounters = { lost: 0, duplicated: 0, reordered: 0, queueDrops: 0 };
  private txFreeAt = 0;
  private readonly loss: number;
  private readonly dup: number;
  private readonly reorder: number;
  private readonly reorderDelay: number;
  private readonly delay: number;
  private readonly jitter: number;
  /** Bytes per ms, 0 = unlimited. */
  private readonly rate: number;
  private readonly queueBytes: number;

  constructor(opts: FaultOptions, private readonly rng: Random) {
    this.loss = opts.loss ?? 0;
    this.dup = opts.duplicate ?? 0;
    this.reorder = opts.reorder ?? 0;
    this.delay = opts.delayMs ?? 0;
    this.reorderDelay = opts.reorderDelayMs ?? Math.max(1, this.delay);
    this.jitter = opts.jitterMs ?? 0;
    this.rate = opts.rateMbps ? opts.rateMbps * 125 : 0;
    this.queueBytes = opts.queueBytes ?? 256 * 1024;
    for (const [k, v] of Object.entries({ loss: this.loss, duplicate: this.dup, reorder: this.reorder })) {
      if (!(v >= 0 && v <= 1)) throw new RangeError(`${k} must be a probability in [0, 1]`);
    }
  }

  /** True when frames pass straight through (no delay, no randomness). */
  get transparent(): boolean {
    return !this.loss && !this.dup && !this.reorder && !this.delay && !this.jitter && !this.rate;
  }

  /** The time the rate limiter's queue is empty again. */
  get drainAt(): number {
    return this.txFreeAt;
  }

  /**
   * Decide the fate of a `len`-byte frame offered at `now`: its delivery time, or ADMIT_LOST /
   * ADMIT_QUEUE_FULL. Draws from the generator only for knobs that are set.
   */
  admit(len: number, now: number): number {
    if (this.loss && this.rng.chance(this.loss)) {
      this.counters.lost++;
      return ADMIT_LOST;
    }
    let depart = now;
    if (this.rate) {
      const start = this.txFreeAt > now ? this.txFreeAt : now;
      const backlog = (start - now) * this.rate;
      if (backlog + len > this.queueBytes) {
        this.counters.queueDrops++;
        return ADMIT_QUEUE_FULL;
      }
      this.txFreeAt = start + len / this.rate;
      depart = this.txFreeAt;
    }
    let at = depart + this.delay;
    if (this.jitter) at += this.rng.next() * this.jitter;
    if (this.reorder && this.rng.chance(this.reorder)) {
      this.counters.reordered++;
      at += this.reorderDelay;
    }
    return at;
  }

  /** Whether to deliver one more copy of the frame just admitted. */
  duplicate(): boolean {
    if (this.dup && this.rng.chance(this.dup)) {
      this.counters.duplicated++;
      return true;
    }
    return false;
  }
}

/** Something the scheduler delivers frames to. */
export interface DeliveryTarget {
  deliverFrame(frame: Uint8Array, meta: RxMeta | TxMeta | undefined): void;
  deliverEnd(): void;
  /** Scratch mark used by the scheduler to group a batch (no allocation per batch). */
  batchMark: number;
}

interface Pending {
  at: number;
  seq: number;
  target: DeliveryTarget | null;
  frame: Uint8Array | null;
  meta: RxMeta | TxMeta | undefined;
}

/**
 * A min-heap of pending deliveries keyed by (time, sequence), driven by one clock timer (or one
 * deferred call for frames due now). Bounded: `schedule()` refuses beyond `maxPending`.
 * Fast path: a frame due at the current instant (no delay knob) goes to a FIFO instead of the
 * heap — FIFO entries are already in (time, sequence) order, since the clock never goes back —
 * and `run()` merges the two by (time, sequence), so the delivery order is exactly the heap's.
 * Frames scheduled while a batch is being delivered go into the next batch, so two endpoints
 * answering each other with zero delay still yield to the event loop between rounds.
 */
export class DeliveryScheduler {
  private heap: Pending[] = [];
  /** Frames due at the instant they were scheduled, in (at, seq) order: [fifoHead, fifo.length). */
  private fifo: Pending[] = [];
  private fifoHead = 0;
  /** Time of the newest FIFO entry (a later frame due earlier than this must use the heap). */
  private fifoLastAt = -Infinity;
  private free: Pending[] = [];
  private seq = 0;
  private timer: TimerHandle | null = null;
  private timerAt = Infinity;
  private deferred = false;
  private mark = 0;
  private touched: DeliveryTarget[] = [];
  private closed = false;
  private readonly runBound = (): void => this.run(true);
  private readonly timerBound = (): void => {
    this.timer = null;
    this.timerAt = Infinity;
    this.run(false);
  };

  constructor(private readonly clock: Clock, readonly maxPending = 65536, readonly maxBatch = 4096) {}

  get pending(): number {
    return this.heap.length + this.fifo.length - this.fifoHead;
  }

  /** Queue `frame` for `target` at time `at`. False when the scheduler is full. */
  schedule(at: number, target: DeliveryTarget, frame: Uint8Array, meta: RxMeta | TxMeta | undefined): boolean {
    if (this.closed || this.pending >= this.maxPending) return false;
    const p = this.free.pop() ?? { at: 0, seq: 0, target: null, frame: null, meta: undefined };
    p.at = at;
    p.seq = this.seq++;
    p.target = target;
    p.frame = frame;
    p.meta = meta;
    if (at >= this.fifoLastAt && at <= this.clock.now()) {
      // Due now, and not earlier than anything already in the FIFO: stays sorted.
      this.fifoLastAt = at;
      this.fifo.push(p);
      if (!this.deferred) {
        this.deferred = true;
        this.clock.defer(this.runBound);
      }
      return true;
    }
    this.push(p);
    this.arm();
    return true;
  }

  /** Forget every pending delivery to `target` (a port detached). */
  cancel(target: DeliveryTarget): void {
    for (const p of this.heap) if (p.target === target) p.target = null;
    for (let i = this.fifoHead; i < this.fifo.length; i++) if (this.fifo[i].target === target) this.fifo[i].target = null;
  }

  close(): void {
    this.closed = true;
    this.heap.length = 0;
    this.fifo.length = 0;
    this.fifoHead = 0;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
  }

  private arm(): void {
    if (this.closed) return;
    if (this.fifoHead < this.fifo.length && !this.deferred) {
      this.deferred = true;
      this.clock.defer(this.runBound);
    }
    if (this.heap.length === 0) return;
    // A run is already coming; it re-arms when it ends (no clock read per scheduled frame).
    if (this.deferred) return;
    const at = this.heap[0].at;
    const now = this.clock.now();
    if (at <= now) {
      if (!this.deferred) {
        this.deferred = true;
        this.clock.defer(this.runBound);
      }
      return;
    }
    if (at < this.timerAt) {
      if (this.timer) this.clock.clearTimer(this.timer);
      this.timerAt = at;
      this.timer = this.clock.setTimer(at, this.timerBound);
    }
  }

  private run(fromDefer: boolean): void {
    if (fromDefer) this.deferred = false;
    if (this.closed) return;
    const now = this.clock.now();
    const seqLimit = this.seq;
    const mark = ++this.mark;
    const touched = this.touched;
    let n = 0;
    const fifo = this.fifo;
    while (n < this.maxBatch) {
      // The earlier of the heap top and the FIFO head, by (at, seq).
      let top: Pending;
      if (this.fifoHead < fifo.length) {
        const f = fifo[this.fifoHead];
        if (this.heap.length > 0 && this.less(this.heap[0], f)) {
          top = this.heap[0];
          if (top.at > now || top.seq >= seqLimit) break;
          this.pop();
        } else {
          top = f;
          if (top.at > now || top.seq >= seqLimit) break;
          fifo[this.fifoHead++] = undefined as unknown as Pending;
          if (this.fifoHead === fifo.length) {
            fifo.length = 0;
            this.fifoHead = 0;
            this.fifoLastAt = -Infinity;
          } else if (this.fifoHead >= 1024 && this.fifoHead * 2 >= fifo.length) {
            fifo.splice(0, this.fifoHead);
            this.fifoHead = 0;
          }
        }
      } else if (this.heap.length > 0) {
        top = this.heap[0];
        if (top.at > now || top.seq >= seqLimit) break;
        this.pop();
      } else break;
      const target = top.target;
      const frame = top.frame!;
      const meta = top.meta;
      top.target = null;
      top.frame = null;
      top.meta = undefined;
      this.free.push(top);
      n++;
      if (!target) continue;
      if (target.batchMark !== mark) {
        target.batchMark = mark;
        touched.push(target);
      }
      target.deliverFrame(frame, meta);
    }
    for (let i = 0; i < touched.length; i++) touched[i].deliverEnd();
    touched.length = 0;
    this.arm();
  }

  private less(a: Pending, b: Pending): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  private push(p: Pending): void {
    const h = this.heap;
    let i = h.length;
    h.push(p);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(h[i], h[parent])) break;
      const t = h[i];
      h[i] = h[parent];
      h[parent] = t;
      i = parent;
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop()!;
    if (h.length === 0) return;
    h[0] = last;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < h.length && this.less(h[l], h[m])) m = l;
      if (r < h.length && this.less(h[r], h[m])) m = r;
      if (m === i) break;
      const t = h[i];
      h[i] = h[m];
      h[m] = t;
      i = m;
    }
  }
}
