/**
 * IPv4 reassembly (RFC 791 §3.2 "Fragmentation and Reassembly", hole bookkeeping after RFC 815)
 * with bounded memory.
 *
 * Read this first:
 * - A datagram in progress is keyed by (src, dst, identification, protocol) — RFC 791 — and
 *   lives in a plain object: a data buffer, the list of received byte ranges (kept merged, so the
 *   "holes" are the gaps), the total length once the last fragment (MF=0) came, and a deadline.
 * - Overlap policy: a fragment wholly inside bytes already received is a harmless duplicate
 *   (ignored); a fragment that *partly* overlaps received bytes, or contradicts the known end,
 *   discards the whole datagram (as Linux does since the FragmentSmack fixes, and RFC 5722 asks
 *   for IPv6), so overlapping-fragment tricks can never change delivered bytes.
 * - Bounds: at most `maxDatagrams` in progress and `maxBytes` of buffer capacity in total; a
 *   fragment that does not fit is dropped (counted). Each datagram must complete within
 *   `timeoutMs` of its first fragment (RFC 791 suggests a timer; 30 s like Linux), else it is
 *   discarded and ICMP time exceeded (code 1) is sent if its first fragment arrived (RFC 792).
 */
import { IPV4_OFF, type Ipv4Packet, checksum } from '@hastack/wire';

export interface ReassemblyOptions {
  /** Deadline from the first fragment (default 30 s). */
  timeoutMs?: number;
  /** Total buffer capacity of all datagrams in progress (default 2 MiB). */
  maxBytes?: number;
  /** Datagrams in progress (default 64). */
  maxDatagrams?: number;
}

/** Where the data starts in a datagram's buffer: room for the longest IPv4 header. */
const DATA_AT = 60;

export interface PartialDatagram {
  src: number;
  dst: number;
  ident: number;
  protocol: number;
  buf: Uint8Array;
  /** Received ranges, flat [start0, end0, start1, end1, ...], sorted, disjoint, non-adjacent. */
  ranges: number[];
  /** Data length once the last fragment arrived; -1 before. */
  total: number;
  /** The first fragment's header (offset 0), or null until it arrives. */
  header: Uint8Array | null;
  expiresAt: number;
}

/** Outcomes of `add()` other than a completed datagram. */
export const FragResult = {
  QUEUED: 0,
  DUPLICATE: 1,
  OVERLAP: 2,
  MEM_FULL: 3,
  TOO_MANY: 4,
  INCONSISTENT: 5,
  TOO_BIG: 6,
  BAD_LENGTH: 7,
} as const;
export type FragResult = (typeof FragResult)[keyof typeof FragResult];

export const REASSEMBLY_DEFAULTS: Required<ReassemblyOptions> = { timeoutMs: 30_000, maxBytes: 2 * 1024 * 1024, maxDatagrams: 64 };

export class Reassembler {
  readonly opts: Required<ReassemblyOptions>;
  readonly datagrams: PartialDatagram[] = [];
  /** Buffer capacity held, bytes. */
  bytes = 0;
  /** Earliest deadline. */
  nextAt = Infinity;
  /** Datagrams discarded after a partial overlap or inconsistency. */
  failed = 0;

  constructor(opts: ReassemblyOptions = {}) {
    this.opts = { ...REASSEMBLY_DEFAULTS, ...opts };
  }

  /**
   * Add the fragment `ip` (validated, a fragment). Returns the complete datagram (IP header
   * rebuilt, a view valid until the next call) or a FragResult.
   */
  add(ip: Ipv4Packet, now: number): Uint8Array | FragResult {
    const src = ip.src;
    const dst = ip.dst;
    const ident = ip.ident;
    const protocol = ip.protocol;
    const start = ip.fragmentOffset;
    const len = ip.payloadLength;
    const end = start + len;
    const more = ip.moreFragments;
    // RFC 791: every fragment but the last carries a multiple of 8 data bytes; empty ones are junk.
    if (len === 0 || (more && (len & 7) !== 0)) return FragResult.BAD_LENGTH;
    let d: PartialDatagram | null = null;
    let idx = -1;
    for (let i = 0; i < this.datagrams.length; i++) {
      const x = this.datagrams[i];
      if (x.ident === ident && x.src === src && x.dst === dst && x.protocol === protocol) {
        d = x;
        idx = i;
        break;
      }
    }
    if (d && now >= d.expiresAt) {
      // Expired but not yet collected: treat as gone (the poll reports it).
      d = null;
    }
    if (!d) {
      if (this.datagrams.length >= this.opts.maxDatagrams) return FragResult.TOO_MANY;
      const cap = DATA_AT + Math.max(end, more ? 2048 : end);
      if (this.bytes + cap > this.opts.maxBytes) return FragResult.MEM_FULL;
      d = { src, dst, ident, protocol, buf: new Uint8Array(cap), ranges: [], total: -1, header: null, expiresAt: now + this.opts.timeoutMs };
      this.bytes += cap;
      this.datagrams.push(d);
      idx = this.datagrams.length - 1;
      if (d.expiresAt < this.nextAt) this.nextAt = d.expiresAt;
    }
    // Consistency with the known end of the datagram.
    if (d.total >= 0 && (end > d.total || (!more && end !== d.total))) return this.discard(idx, FragResult.INCONSISTENT);
    if (!more) {
      const r = d.ranges;
      if (r.length > 0 && r[r.length - 1] > end) return this.discard(idx, FragResult.INCONSISTENT);
    }
    // Overlap check against received ranges.
    const r = d.ranges;
    // pos: the first range ending after `start`; only it can contain or overlap [start, end).
    let pos = 0;
    while (pos < r.length && r[pos + 1] <= start) pos += 2;
    if (pos < r.length && r[pos] <= start && end <= r[pos + 1]) return FragResult.DUPLICATE;
    if (pos < r.length && r[pos] < end && start < r[pos + 1]) return this.discard(idx, FragResult.OVERLAP);
    // Make room.
    if (DATA_AT + end > d.buf.length) {
      const want = DATA_AT + Math.max(end, more ? Math.min(65535, (d.buf.length - DATA_AT) * 2) : end);
      if (this.bytes - d.buf.length + want > this.opts.maxBytes) return FragResult.MEM_FULL;
      const nb = new Uint8Array(want);
      nb.set(d.buf);
      this.bytes += want - d.buf.length;
      d.buf = nb;
    }
    d.buf.set(ip.buf.subarray(ip.payloadOffset, ip.payloadOffset + len), DATA_AT + start);
    if (start === 0) d.header = ip.buf.slice(ip.off, ip.off + ip.headerLength);
    if (!more) d.total = end;
    // Insert and merge with adjacent neighbours (touching ranges coalesce).
    let s = start;
    let e = end;
    let from = pos;
    if (from > 0 && r[from - 1] === s) {
      from -= 2;
      s = r[from];
    }
    let to = pos;
    if (to < r.length && r[to] === e) {
      e = r[to + 1];
      to += 2;
    }
    r.splice(from, to - from, s, e);
    if (d.total >= 0 && d.header && r.length === 2 && r[0] === 0 && r[1] === d.total) return this.complete(idx);
    return FragResult.QUEUED;
  }

  /** Remove and return datagrams past their deadline. */
  expire(now: number): PartialDatagram[] {
    const out: PartialDatagram[] = [];
    if (now < this.nextAt) return out;
    let next = Infinity;
    for (let i = this.datagrams.length - 1; i >= 0; i--) {
      const d = this.datagrams[i];
      if (now >= d.expiresAt) {
        out.push(d);
        this.remove(i);
      } else if (d.expiresAt < next) next = d.expiresAt;
    }
    this.nextAt = next;
    return out;
  }

  clear(): void {
    this.datagrams.length = 0;
    this.bytes = 0;
    this.nextAt = Infinity;
  }

  private discard(idx: number, why: FragResult): FragResult {
    this.remove(idx);
    this.failed++;
    return why;
  }

  private remove(idx: number): void {
    const d = this.datagrams[idx];
    this.bytes -= d.buf.length;
    this.datagrams.splice(idx, 1);
  }

  private complete(idx: number): Uint8Array | FragResult {
    const d = this.datagrams[idx];
    this.remove(idx);
    const h = d.header!;
    const hl = h.length;
    if (hl + d.total > 65535) return FragResult.TOO_BIG;
    const at = DATA_AT - hl;
    d.buf.set(h, at);
    const b = d.buf;
    // Rebuild the header of the whole datagram: total length, no MF, offset 0, new checksum.
    b[at + IPV4_OFF.TOTAL_LEN] = ((hl + d.total) >>> 8) & 0xff;
    b[at + IPV4_OFF.TOTAL_LEN + 1] = (hl + d.total) & 0xff;
    b[at + IPV4_OFF.FLAGS_FRAG] &= 0x40;
    b[at + IPV4_OFF.FLAGS_FRAG + 1] = 0;
    b[at + IPV4_OFF.CHECKSUM] = 0;
    b[at + IPV4_OFF.CHECKSUM + 1] = 0;
    const c = checksum(b, at, at + hl);
    b[at + IPV4_OFF.CHECKSUM] = c >>> 8;
    b[at + IPV4_OFF.CHECKSUM + 1] = c & 0xff;
    return b.subarray(at, DATA_AT + d.total);
  }
}

/** The first bytes of an expired datagram (header + 8 data bytes) for ICMP time exceeded, or null. */
export function expiredQuote(d: PartialDatagram): Uint8Array | null {
  if (!d.header || d.ranges.length === 0 || d.ranges[0] !== 0) return null;
  const n = Math.min(8, d.ranges[1]);
  const q = new Uint8Array(d.header.length + n);
  q.set(d.header);
  q.set(d.buf.subarray(DATA_AT, DATA_AT + n), d.header.length);
  return q;
}
