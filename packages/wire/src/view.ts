import { WireError } from './result.js';

/**
 * What every header view shares: a re-targetable window `buf[off .. off+len)` over bytes it
 * does not own. Subclasses add the named field accessors and their own `check()`; the engine
 * keeps one instance per header and `reset()`s it for each frame, so reading a header
 * allocates nothing.
 */
export abstract class HeaderView {
  buf!: Uint8Array;
  /** Start of the header in `buf`. */
  off = 0;
  /** Length of the view (header plus what follows it). */
  len = 0;

  constructor(buf: Uint8Array, offset = 0, length = buf.length - offset) {
    this.reset(buf, offset, length);
  }

  /** Point this view at other bytes (no allocation). */
  reset(buf: Uint8Array, offset = 0, length = buf.length - offset): this {
    this.buf = buf;
    this.off = offset;
    this.len = length;
    return this;
  }

  /** Length checks only: null when every fixed field lies inside the view and the view inside `buf`. */
  abstract check(): WireError | null;

  /**
   * The first check of every `check()`: the window itself lies inside `buf`. Written as a
   * negated conjunction so NaN offsets or lengths are refused too.
   */
  protected windowError(): WireError | null {
    if (!(this.off >= 0 && this.len >= 0 && this.off + this.len <= this.buf.length)) return new WireError('truncated', 'view outside buffer');
    return null;
  }

  /** Wrap and check lengths, so the accessors cannot read out of bounds. */
  static checked<T extends HeaderView>(this: new (buf: Uint8Array, offset?: number, length?: number) => T, buf: Uint8Array, offset = 0, length = buf.length - offset): T | WireError {
    const p = new this(buf, offset, length);
    return p.check() ?? p;
  }
}
