/**
 * TCP byte buffers, plain data (checkpointable: fields are numbers and Uint8Arrays).
 *
 * SendBuffer: the bytes from SND.UNA's first data byte on (unacked, then unsent), stored in
 * fixed-size blocks. Appending copies the caller's bytes once (the caller may reuse its
 * buffer); acknowledging drops whole blocks; a (re)transmission reads any range straight into
 * the outgoing frame (`copyOut`), so nothing is sliced or copied twice.
 *
 * Reassembly: out-of-order segments (copied out of the frame) kept sorted, non-overlapping,
 * within the advertised window (so bounded by it).
 */

const BLOCK = 16384;

// Full-size blocks released by acknowledged data, reused by the next append (any connection):
// a bulk sender otherwise allocates (and zero-fills) a fresh 16 KiB block every 11 segments.
// Bounded (1 MiB); only the send buffer's own code ever sees a block, so reuse is safe.
const POOL_MAX = 64;
const blockPool: Uint8Array[] = [];

function releaseBlock(b: Uint8Array): void {
  if (b.length === BLOCK && blockPool.length < POOL_MAX) blockPool.push(b);
}

export class SendBuffer {
  /** Blocks of bytes; the data starts at `head` in blocks[0] and ends at `tail` in the last block. */
  blocks: Uint8Array[] = [];
  head = 0;
  tail = 0;
  /** Bytes held. */
  length = 0;
  // copyOut cursor: block index and the position of that block's first byte, counted from the
  // start of blocks[0]. Transmissions walk forward through a window of hundreds of blocks (4 MiB
  // in flight = 256 blocks), so each copyOut resumes here instead of walking from block 0.
  private curBi = 0;
  private curStart = 0;

  constructor(public limit: number) {}

  /** Free space under the limit. */
  get available(): number {
    return Math.max(0, this.limit - this.length);
  }

  /** Append up to `available` bytes of `data`; returns how many were taken. */
  append(data: Uint8Array): number {
    const n = Math.min(data.length, this.available);
    let done = 0;
    while (done < n) {
      let last = this.blocks.length > 0 ? this.blocks[this.blocks.length - 1] : undefined;
      if (!last || this.tail === last.length) {
        // Small writes get small blocks: an idle connection should not pin 16 KiB.
        const size = Math.min(BLOCK, Math.max(4096, n - done));
        last = size === BLOCK && blockPool.length > 0 ? blockPool.pop()! : new Uint8Array(size);
        this.blocks.push(last);
        this.tail = 0;
      }
      const k = Math.min(n - done, last.length - this.tail);
      last.set(data.subarray(done, done + k), this.tail);
      this.tail += k;
      done += k;
    }
    this.length += n;
    return n;
  }

  /** Drop `n` bytes from the front (they were acknowledged). */
  consume(n: number): void {
    n = Math.min(n, this.length);
    this.length -= n;
    while (n > 0) {
      const b = this.blocks[0];
      const end = this.blocks.length === 1 ? this.tail : b.length;
      const k = Math.min(n, end - this.head);
      this.head += k;
      n -= k;
      if (this.head === end) {
        if (this.blocks.length === 1) {
          // Everything acknowledged: release the memory (idle connections hold nothing).
          releaseBlock(b);
          this.blocks.length = 0;
          this.head = 0;
          this.tail = 0;
          this.curBi = 0;
          this.curStart = 0;
        } else {
          releaseBlock(b);
          this.blocks.shift();
          this.head = 0;
          // Block indexes moved down by one; the cursor's block moved with them.
          if (this.curBi > 0) {
            this.curBi--;
            this.curStart -= b.length;
          } else this.curStart = 0;
        }
      }
    }
    if (this.length === 0) {
      this.blocks.length = 0;
      this.head = 0;
      this.tail = 0;
      this.curBi = 0;
      this.curStart = 0;
    }
  }

  /** Copy `len` bytes starting `offset` bytes after the front into `dst[dstOff..]`. */
  copyOut(offset: number, len: number, dst: Uint8Array, dstOff: number): void {
    const blocks = this.blocks;
    let pos = this.head + offset;
    let bi = this.curBi;
    let start = this.curStart;
    if (bi >= blocks.length || pos < start) {
      // Behind the cursor (a retransmission) or the cursor is stale: walk from the front.
      bi = 0;
      start = 0;
    }
    while (bi < blocks.length && pos >= start + blocks[bi].length) {
      start += blocks[bi].length;
      bi++;
    }
    this.curBi = bi;
    this.curStart = start;
    pos -= start;
    while (len > 0) {
      const b = this.blocks[bi];
      const k = Math.min(len, b.length - pos);
      dst.set(b.subarray(pos, pos + k), dstOff);
      dstOff += k;
      len -= k;
      pos = 0;
      bi++;
    }
  }

  /** All held bytes, copied (checkpoints and tests). */
  toBytes(): Uint8Array {
    const out = new Uint8Array(this.length);
    if (this.length > 0) this.copyOut(0, this.length, out, 0);
    return out;
  }
}

/** One out-of-order segment. */
export interface OooSegment {
  seq: number;
  data: Uint8Array;
}

/**
 * Out-of-order segments, sorted by sequence number, non-overlapping. Sequence arithmetic is
 * relative to `base` (RCV.NXT), passed in by the caller.
 */
export class Reassembly {
  segs: OooSegment[] = [];
  bytes = 0;
  /** Sequence number of the most recently received out-of-order segment (RFC 2018 §4 first block). */
  lastSeq = 0;

  get empty(): boolean {
    return this.segs.length === 0;
  }

  /**
   * Insert `data` at `seq` (already trimmed to [base, base+window)). Overlaps with held
   * segments are cut away so each byte is stored once. `data` is copied.
   */
  insert(base: number, seq: number, data: Uint8Array): void {
    let start = (seq - base) >>> 0;
    const end = start + data.length;
    this.lastSeq = seq;
    // Walk the held segments, filling the gaps of [start, end) between them.
    const out: OooSegment[] = [];
    let i = 0;
    const segs = this.segs;
    while (i < segs.length && start < end) {
      const s = (segs[i].seq - base) >>> 0;
      const e = s + segs[i].data.length;
      if (e <= start) {
        i++;
        continue;
      }
      if (s > start) {
        const stop = Math.min(s, end);
        out.push({ seq: (base + start) >>> 0, data: data.slice(start - ((seq - base) >>> 0), stop - ((seq - base) >>> 0)) });
      }
      start = Math.max(start, e);
      i++;
    }
    if (start < end) out.push({ seq: (base + start) >>> 0, data: data.slice(start - ((seq - base) >>> 0), end - ((seq - base) >>> 0)) });
    if (out.length === 0) return;
    for (const o of out) {
      this.bytes += o.data.length;
      // Insert sorted (the list is short: bounded by the window / segment size).
      const off = (o.seq - base) >>> 0;
      let j = segs.length;
      while (j > 0 && ((segs[j - 1].seq - base) >>> 0) > off) j--;
      segs.splice(j, 0, o);
    }
  }

  /**
   * Remove and return the segment that starts at or before `base` and extends past it (trimmed to
   * start at `base`), dropping fully-covered ones. Null when the first byte at `base` is missing.
   */
  takeAt(base: number): Uint8Array | null {
    const segs = this.segs;
    while (segs.length > 0) {
      const s = segs[0];
      const rel = (s.seq - base) | 0;
      if (rel > 0) return null;
      segs.shift();
      this.bytes -= s.data.length;
      if (rel + s.data.length > 0) return rel === 0 ? s.data : s.data.subarray(-rel);
    }
    return null;
  }

  /**
   * SACK blocks (RFC 2018 §4): contiguous runs, the one holding the most recent segment first,
   * then the others from the highest. Writes flat edges into `out`, at most `max` blocks.
   */
  sackBlocks(base: number, max: number, out: number[]): void {
    out.length = 0;
    const segs = this.segs;
    if (segs.length === 0 || max <= 0) return;
    const runs: number[] = [];
    let l = segs[0].seq;
    let r = (l + segs[0].data.length) >>> 0;
    for (let i = 1; i < segs.length; i++) {
      if (segs[i].seq === r) r = (r + segs[i].data.length) >>> 0;
      else {
        runs.push(l, r);
        l = segs[i].seq;
        r = (l + segs[i].data.length) >>> 0;
      }
    }
    runs.push(l, r);
    const recentRel = (this.lastSeq - base) >>> 0;
    let first = -1;
    for (let i = 0; i < runs.length; i += 2) {
      const lr = (runs[i] - base) >>> 0;
      const rr = (runs[i + 1] - base) >>> 0;
      if (recentRel >= lr && recentRel < rr) first = i;
    }
    if (first >= 0) out.push(runs[first], runs[first + 1]);
    for (let i = runs.length - 2; i >= 0 && out.length < 2 * max; i -= 2) if (i !== first) out.push(runs[i], runs[i + 1]);
  }

  clear(): void {
    this.segs.length = 0;
    this.bytes = 0;
  }
}
