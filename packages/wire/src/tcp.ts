/**
 * TCP header (RFC 9293 §3.1) with its options: EOL, NOP, MSS (RFC 9293 §3.2), window scale and
 * timestamps (RFC 7323), SACK-permitted and SACK (RFC 2018).
 *
 * Read this first:
 * - `TcpPacket` is a zero-copy view (reuse one with `reset()`); `checked()` validates the fixed
 *   header and the data offset once, so accessors never read out of bounds.
 * - `parseTcp()`/`emitTcp()` are exact inverses for the canonical option layout `emitTcp` writes
 *   (the Linux layout: MSS, SACK_PERM+TS or NOP NOP TS, NOP WS, NOP NOP SACK). Unknown options are
 *   skipped by their length on parse and never emitted.
 * - Hot paths use `parseTcpOptionsInto()` with one reused `TcpOptionsRepr` (no per-packet garbage).
 * - Parsers return `Repr | WireError` and never throw.
 */
import { HeaderView } from './view.js';
import { readU16, readU32, writeU16, writeU32, ensureRoom } from './bytes.js';
import { checksumPartial, foldChecksum, foldSum, pseudoHeaderSum, type ChecksumMode } from './checksum.js';
import { WireError } from './result.js';

/** Byte offsets of the TCP header fields. */
export const TCP_OFF = {
  SRC_PORT: 0,
  DST_PORT: 2,
  SEQ: 4,
  ACK: 8,
  /** Data offset (high 4 bits, in 32-bit words) and 4 reserved bits. */
  DATA_OFF: 12,
  FLAGS: 13,
  WINDOW: 14,
  CHECKSUM: 16,
  URGENT: 18,
  OPTIONS: 20,
} as const;

/** Length of the fixed TCP header. */
export const TCP_HEADER_LEN = 20;
/** Largest TCP header (data offset 15 words). */
export const TCP_MAX_HEADER_LEN = 60;
/** Largest option area. */
export const TCP_MAX_OPTIONS_LEN = 40;
/** IANA protocol number. */
export const TCP_PROTOCOL = 6;

/** Control bits (RFC 9293 §3.1, RFC 3168 ECE/CWR). */
export const TcpFlags = {
  FIN: 0x01,
  SYN: 0x02,
  RST: 0x04,
  PSH: 0x08,
  ACK: 0x10,
  URG: 0x20,
  ECE: 0x40,
  CWR: 0x80,
} as const;

/** Option kinds. */
export const TcpOptionKind = {
  EOL: 0,
  NOP: 1,
  MSS: 2,
  WINDOW_SCALE: 3,
  SACK_PERMITTED: 4,
  SACK: 5,
  TIMESTAMPS: 8,
} as const;

/** Largest window shift (RFC 7323 §2.3): larger values are treated as 14. */
export const TCP_MAX_WINDOW_SCALE = 14;
/** At most 4 SACK blocks fit in 40 option bytes (RFC 2018 §3). */
export const TCP_MAX_SACK_BLOCKS = 4;

/**
 * The meaning of the option area. Absent options are `undefined`/`false`/empty.
 * `sack` holds block edges flat: [left0, right0, left1, right1, ...] (no per-block objects).
 */
export interface TcpOptionsRepr {
  mss?: number;
  /** Shift count as sent (may exceed 14; the receiver clamps, RFC 7323 §2.3). */
  windowScale?: number;
  sackPermitted: boolean;
  /** Flat SACK block edges, at most 4 blocks. */
  sack: number[];
  tsVal?: number;
  tsEcr?: number;
}

/** A fresh, empty options repr. */
export function emptyTcpOptions(): TcpOptionsRepr {
  return { mss: undefined, windowScale: undefined, sackPermitted: false, sack: [], tsVal: undefined, tsEcr: undefined };
}

/** Reset a reused options repr to empty (keeps the `sack` array). */
export function clearTcpOptions(o: TcpOptionsRepr): void {
  o.mss = undefined;
  o.windowScale = undefined;
  o.sackPermitted = false;
  o.sack.length = 0;
  o.tsVal = undefined;
  o.tsEcr = undefined;
}

/** The meaning of a TCP segment. `payload` is a view into the parsed buffer. */
export interface TcpRepr {
  srcPort: number;
  dstPort: number;
  seq: number;
  ack: number;
  /** Control bits (TcpFlags). */
  flags: number;
  window: number;
  urgent: number;
  options: TcpOptionsRepr;
  payload: Uint8Array;
}

/**
 * Zero-copy view of a TCP segment at `buf[offset .. offset+length)` (length = the IP payload
 * length). Accessors don't allocate except `options` and `payload`, which return subarrays.
 */
export class TcpPacket extends HeaderView {
  /** Null when the header (including options) lies inside the view and the view inside `buf`. */
  check(): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < TCP_HEADER_LEN) return new WireError('truncated', `tcp segment of ${this.len} bytes`);
    const hl = this.headerLength;
    if (hl < TCP_HEADER_LEN) return new WireError('bad-header-length', `data offset ${hl >>> 2}`);
    if (hl > this.len) return new WireError('bad-header-length', `data offset ${hl} past segment of ${this.len}`);
    return null;
  }

  /** Source port. */
  get srcPort(): number {
    return readU16(this.buf, this.off + TCP_OFF.SRC_PORT);
  }
  set srcPort(v: number) {
    writeU16(this.buf, this.off + TCP_OFF.SRC_PORT, v);
  }
  /** Destination port. */
  get dstPort(): number {
    return readU16(this.buf, this.off + TCP_OFF.DST_PORT);
  }
  set dstPort(v: number) {
    writeU16(this.buf, this.off + TCP_OFF.DST_PORT, v);
  }
  /** Sequence number. */
  get seq(): number {
    return readU32(this.buf, this.off + TCP_OFF.SEQ);
  }
  set seq(v: number) {
    writeU32(this.buf, this.off + TCP_OFF.SEQ, v);
  }
  /** Acknowledgment number. */
  get ack(): number {
    return readU32(this.buf, this.off + TCP_OFF.ACK);
  }
  set ack(v: number) {
    writeU32(this.buf, this.off + TCP_OFF.ACK, v);
  }
  /** Header length in bytes (data offset × 4). */
  get headerLength(): number {
    return (this.buf[this.off + TCP_OFF.DATA_OFF] >>> 4) << 2;
  }
  set headerLength(bytes: number) {
    this.buf[this.off + TCP_OFF.DATA_OFF] = ((bytes >>> 2) << 4) | (this.buf[this.off + TCP_OFF.DATA_OFF] & 0x0f);
  }
  /** Control bits (TcpFlags). */
  get flags(): number {
    return this.buf[this.off + TCP_OFF.FLAGS];
  }
  set flags(v: number) {
    this.buf[this.off + TCP_OFF.FLAGS] = v & 0xff;
  }
  /** Window field (unscaled). */
  get window(): number {
    return readU16(this.buf, this.off + TCP_OFF.WINDOW);
  }
  set window(v: number) {
    writeU16(this.buf, this.off + TCP_OFF.WINDOW, v);
  }
  /** Checksum field. */
  get checksum(): number {
    return readU16(this.buf, this.off + TCP_OFF.CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.off + TCP_OFF.CHECKSUM, v);
  }
  /** Urgent pointer. */
  get urgent(): number {
    return readU16(this.buf, this.off + TCP_OFF.URGENT);
  }
  set urgent(v: number) {
    writeU16(this.buf, this.off + TCP_OFF.URGENT, v);
  }
  /** Option bytes (a subarray view). */
  get options(): Uint8Array {
    return this.buf.subarray(this.off + TCP_HEADER_LEN, this.off + this.headerLength);
  }
  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }
  /** Payload length. */
  get payloadLength(): number {
    return this.len - this.headerLength;
  }
  /** Payload (a subarray view). */
  get payload(): Uint8Array {
    return this.buf.subarray(this.off + this.headerLength, this.off + this.len);
  }
  /** Whether the checksum verifies against the IPv4 pseudo-header of `src` → `dst`. */
  verifyChecksum(src: number, dst: number): boolean {
    const ph = pseudoHeaderSum(src, dst, TCP_PROTOCOL, this.len);
    return foldChecksum(checksumPartial(this.buf, this.off, this.off + this.len, ph)) === 0;
  }
  /** Compute and store the checksum (software). */
  fillChecksum(src: number, dst: number): void {
    this.checksum = 0;
    const ph = pseudoHeaderSum(src, dst, TCP_PROTOCOL, this.len);
    this.checksum = foldChecksum(checksumPartial(this.buf, this.off, this.off + this.len, ph));
  }
  /** Store the folded pseudo-header sum for checksum offload (virtio NEEDS_CSUM semantics). */
  fillPartialChecksum(src: number, dst: number): void {
    this.checksum = foldSum(pseudoHeaderSum(src, dst, TCP_PROTOCOL, this.len));
  }
}

/**
 * Parse the option area `buf[start..end)` into `out` (cleared first). Returns null or a WireError
 * for a malformed option (length < 2, running past the area, or a known option of the wrong length).
 * Unknown options are skipped by their length; EOL ends the list (RFC 9293 §3.2).
 */
export function parseTcpOptionsInto(buf: Uint8Array, start: number, end: number, out: TcpOptionsRepr): WireError | null {
  clearTcpOptions(out);
  let i = start;
  while (i < end) {
    const kind = buf[i];
    if (kind === TcpOptionKind.EOL) break;
    if (kind === TcpOptionKind.NOP) {
      i++;
      continue;
    }
    if (i + 1 >= end) return new WireError('bad-option', `option ${kind} has no length byte`);
    const len = buf[i + 1];
    if (len < 2) return new WireError('bad-option', `option ${kind} length ${len}`);
    if (i + len > end) return new WireError('bad-option', `option ${kind} length ${len} runs past header`);
    switch (kind) {
      case TcpOptionKind.MSS:
        if (len !== 4) return new WireError('bad-option', `MSS length ${len}`);
        out.mss = readU16(buf, i + 2);
        break;
      case TcpOptionKind.WINDOW_SCALE:
        if (len !== 3) return new WireError('bad-option', `window scale length ${len}`);
        out.windowScale = buf[i + 2];
        break;
      case TcpOptionKind.SACK_PERMITTED:
        if (len !== 2) return new WireError('bad-option', `SACK-permitted length ${len}`);
        out.sackPermitted = true;
        break;
      case TcpOptionKind.SACK: {
        if (len < 10 || (len - 2) % 8 !== 0 || len > 2 + 8 * TCP_MAX_SACK_BLOCKS) return new WireError('bad-option', `SACK length ${len}`);
        for (let j = i + 2; j < i + len; j += 8) out.sack.push(readU32(buf, j), readU32(buf, j + 4));
        break;
      }
      case TcpOptionKind.TIMESTAMPS:
        if (len !== 10) return new WireError('bad-option', `timestamps length ${len}`);
        out.tsVal = readU32(buf, i + 2);
        out.tsEcr = readU32(buf, i + 6);
        break;
      default:
        // Unknown option: skip by its length (RFC 9293 §3.2, "MUST be prepared to handle").
        break;
    }
    i += len;
  }
  return null;
}

/** Parse an option area into a new repr. */
export function parseTcpOptions(bytes: Uint8Array): TcpOptionsRepr | WireError {
  const out = emptyTcpOptions();
  return parseTcpOptionsInto(bytes, 0, bytes.length, out) ?? out;
}

/** Bytes `emitTcpOptions` writes for `o` (always a multiple of 4). */
export function tcpOptionsLength(o: TcpOptionsRepr): number {
  let n = 0;
  if (o.mss !== undefined) n += 4;
  if (o.tsVal !== undefined) n += 12; // SACK_PERM+TS or NOP NOP TS
  else if (o.sackPermitted) n += 4; // NOP NOP SACK_PERM
  if (o.windowScale !== undefined) n += 4; // NOP WS
  const blocks = o.sack.length >>> 1;
  if (blocks > 0) n += 4 + 8 * blocks; // NOP NOP SACK
  return n;
}

/**
 * Write the options in the canonical (Linux) layout at `buf[off..]`; returns the bytes written
 * (a multiple of 4, so no EOL padding is needed). Throws RangeError when they would exceed 40 bytes.
 */
export function emitTcpOptions(o: TcpOptionsRepr, buf: Uint8Array, off: number): number {
  const n = tcpOptionsLength(o);
  if (n > TCP_MAX_OPTIONS_LEN) throw new RangeError(`emitTcpOptions: ${n} bytes of options exceed 40`);
  ensureRoom(buf, off, n, 'emitTcpOptions');
  let i = off;
  if (o.mss !== undefined) {
    buf[i] = TcpOptionKind.MSS;
    buf[i + 1] = 4;
    writeU16(buf, i + 2, o.mss);
    i += 4;
  }
  if (o.tsVal !== undefined) {
    if (o.sackPermitted) {
      buf[i] = TcpOptionKind.SACK_PERMITTED;
      buf[i + 1] = 2;
    } else {
      buf[i] = TcpOptionKind.NOP;
      buf[i + 1] = TcpOptionKind.NOP;
    }
    buf[i + 2] = TcpOptionKind.TIMESTAMPS;
    buf[i + 3] = 10;
    writeU32(buf, i + 4, o.tsVal);
    writeU32(buf, i + 8, o.tsEcr ?? 0);
    i += 12;
  } else if (o.sackPermitted) {
    buf[i] = TcpOptionKind.NOP;
    buf[i + 1] = TcpOptionKind.NOP;
    buf[i + 2] = TcpOptionKind.SACK_PERMITTED;
    buf[i + 3] = 2;
    i += 4;
  }
  if (o.windowScale !== undefined) {
    buf[i] = TcpOptionKind.NOP;
    buf[i + 1] = TcpOptionKind.WINDOW_SCALE;
    buf[i + 2] = 3;
    buf[i + 3] = o.windowScale;
    i += 4;
  }
  const blocks = o.sack.length >>> 1;
  if (blocks > 0) {
    buf[i] = TcpOptionKind.NOP;
    buf[i + 1] = TcpOptionKind.NOP;
    buf[i + 2] = TcpOptionKind.SACK;
    buf[i + 3] = 2 + 8 * blocks;
    i += 4;
    for (let b = 0; b < blocks; b++) {
      writeU32(buf, i, o.sack[2 * b]);
      writeU32(buf, i + 4, o.sack[2 * b + 1]);
      i += 8;
    }
  }
  return i - off;
}

/**
 * Parse a TCP segment (the whole IP payload) sent from `src` to `dst`. With `verifyChecksum`
 * (default true) a bad checksum is a 'bad-checksum' error.
 */
export function parseTcp(buf: Uint8Array, src: number, dst: number, opts: { verifyChecksum?: boolean } = {}): TcpRepr | WireError {
  const p = new TcpPacket(buf);
  const e = p.check();
  if (e) return e;
  if (opts.verifyChecksum !== false && !p.verifyChecksum(src, dst)) return new WireError('bad-checksum', 'tcp');
  const options = emptyTcpOptions();
  const oe = parseTcpOptionsInto(buf, TCP_HEADER_LEN, p.headerLength, options);
  if (oe) return oe;
  return {
    srcPort: p.srcPort,
    dstPort: p.dstPort,
    seq: p.seq,
    ack: p.ack,
    flags: p.flags,
    window: p.window,
    urgent: p.urgent,
    options,
    payload: p.payload,
  };
}

/** Header length (fixed + options) `emitTcp` writes for `repr`. */
export function tcpHeaderLength(repr: { options: TcpOptionsRepr }): number {
  return TCP_HEADER_LEN + tcpOptionsLength(repr.options);
}

/**
 * Write `repr` (header, options, payload) at `buf[offset..]`; returns the segment length.
 * `checksum`: 'full' (default) computes it, 'partial' writes the pseudo-header sum for offload,
 * 'none' leaves 0. The payload is copied unless it already sits at its place in `buf`.
 */
export function emitTcp(repr: TcpRepr, buf: Uint8Array, offset: number, src: number, dst: number, opts: { checksum?: ChecksumMode } = {}): number {
  const hl = tcpHeaderLength(repr);
  const total = hl + repr.payload.length;
  ensureRoom(buf, offset, total, 'emitTcp');
  writeU16(buf, offset + TCP_OFF.SRC_PORT, repr.srcPort);
  writeU16(buf, offset + TCP_OFF.DST_PORT, repr.dstPort);
  writeU32(buf, offset + TCP_OFF.SEQ, repr.seq);
  writeU32(buf, offset + TCP_OFF.ACK, repr.ack);
  buf[offset + TCP_OFF.DATA_OFF] = (hl >>> 2) << 4;
  buf[offset + TCP_OFF.FLAGS] = repr.flags & 0xff;
  writeU16(buf, offset + TCP_OFF.WINDOW, repr.window);
  writeU16(buf, offset + TCP_OFF.CHECKSUM, 0);
  writeU16(buf, offset + TCP_OFF.URGENT, repr.urgent);
  emitTcpOptions(repr.options, buf, offset + TCP_HEADER_LEN);
  const p = repr.payload;
  if (p.length > 0 && !(p.buffer === buf.buffer && p.byteOffset === buf.byteOffset + offset + hl)) buf.set(p, offset + hl);
  const mode = opts.checksum ?? 'full';
  if (mode !== 'none') {
    const v = new TcpPacket(buf, offset, total);
    if (mode === 'full') v.fillChecksum(src, dst);
    else v.fillPartialChecksum(src, dst);
  }
  return total;
}
