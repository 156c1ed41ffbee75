/**
 * Clocks. The protocol engine never reads time itself: every entry point takes `now` (monotonic
 * milliseconds, may be fractional). The runtime reads it from a Clock and arms a single timer.
 * `RealClock` uses the process's monotonic clock; `VirtualClock` makes tests deterministic.
 */

export interface TimerHandle {
  readonly _timer: unknown;
}

export interface Clock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Call `fn` once at (or after) time `at`. */
  setTimer(at: number, fn: () => void): TimerHandle;
  clearTimer(handle: TimerHandle): void;
  /** Run `fn` soon: after the current synchronous work, before any later timer. */
  defer(fn: () => void): void;
}

/** Wall-clock monotonic time, timers on Node's event loop. */
export class RealClock implements Clock {
  private readonly origin = performance.now();
  now(): number {
    return performance.now() - this.origin;
  }
  setTimer(at: number, fn: () => void): TimerHandle {
    const delay = Math.max(0, at - this.now());
    const t = setTimeout(fn, delay);
    t.unref?.();
    return { _timer: t };
  }
  clearTimer(handle: TimerHandle): void {
    clearTimeout(handle._timer as NodeJS.Timeout);
  }
  defer(fn: () => void): void {
    setImmediate(fn);
  }
}

interface VTimer {
  at: number;
  seq: number;
  fn: (() => void) | null;
}

/**
 * A clock that only moves when told to. `run()` alternates between letting Node's own queues
 * (promises, nextTick, stream callbacks) settle and jumping to the next timer, so a whole
 * simulated minute of a lossy transfer takes only the CPU time its packets need.
 */
export class VirtualClock implements Clock {
  private t: number;
  private seq = 0;
  private timers: VTimer[] = [];

  constructor(start = 0) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimer(at: number, fn: () => void): TimerHandle {
    const timer: VTimer = { at: Math.max(at, this.t), seq: this.seq++, fn };
    // Binary insertion keeps timers sorted by (at, seq): equal deadlines fire in creation order.
    let lo = 0;
    let hi = this.timers.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const m = this.timers[mid];
      if (m.at < timer.at || (m.at === timer.at && m.seq < timer.seq)) lo = mid + 1;
      else hi = mid;
    }
    this.timers.splice(lo, 0, timer);
    return { _timer: timer };
  }

  clearTimer(handle: TimerHandle): void {
    const timer = handle._timer as VTimer;
    timer.fn = null;
  }

  /** Deferred work is a timer due now: it runs on the next `fireDue()`/`run()` step. */
  defer(fn: () => void): void {
    this.setTimer(this.t, fn);
  }

  /** Number of live timers. */
  get pending(): number {
    let n = 0;
    for (const t of this.timers) if (t.fn) n++;
    return n;
  }

  /** Time of the earliest live timer, or Infinity. */
  nextAt(): number {
    for (const t of this.timers) if (t.fn) return t.at;
    return Infinity;
  }

  /** Fire every timer due at or before the current time (synchronously). Returns how many fired. */
  fireDue(): number {
    let n = 0;
    while (this.timers.length > 0 && this.timers[0].at <= this.t) {
      const timer = this.timers.shift()!;
      const fn = timer.fn;
      timer.fn = null;
      if (fn) {
        fn();
        n++;
      }
    }
    return n;
  }

  /** Move time forward by `ms` (firing timers in order along the way), without yielding. */
  advanceSync(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const next = this.nextAt();
      if (next > end) break;
      this.t = next;
      this.fireDue();
    }
    this.t = end;
  }

  /**
   * Run the simulation: settle Node's queues, fire due timers, jump to the next timer, repeat —
   * until `until()` is true (resolves true) or virtual time passes `maxMs` from now or no work is
   * left (resolves false). `wallMs` bounds real time as a safety net.
   */
  async run(until: () => boolean, opts: { maxMs?: number; wallMs?: number } = {}): Promise<boolean> {
    const deadline = this.t + (opts.maxMs ?? 600_000);
    const wallEnd = Date.now() + (opts.wallMs ?? 120_000);
    let idleRounds = 0;
    for (;;) {
      await settle();
      if (until()) return true;
      if (this.fireDue() > 0) {
        idleRounds = 0;
        continue;
      }
      const next = this.nextAt();
      if (next === Infinity) {
        // Nothing scheduled; give I/O callbacks a few chances before declaring idle.
        if (++idleRounds > 3) return until();
        continue;
      }
      if (next > deadline || Date.now() > wallEnd) return until();
      this.t = next;
      this.fireDue();
    }
  }

  /** Run for `ms` of virtual time. */
  async runFor(ms: number): Promise<void> {
    const end = this.t + ms;
    await this.run(() => false, { maxMs: ms });
    if (this.t < end) this.t = end;
    await settle();
  }
}

/** Let promise jobs, nextTick callbacks and immediates queued so far run. */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}
