/**
 * UDP (RFC 768).
 *
 * Read this first:
 * - The length field must be >= 8 and <= the bytes available ('bad-length' otherwise); bytes
 *   after it are ignored.
 * - The checksum covers the IPv4 pseudo-header, the UDP header and the data. A received
 *   checksum of 0 means "none" and is not verified; a computed checksum of 0 is sent as 0xffff
 *   (RFC 768 "If the computed checksum is zero, it is transmitted as all ones").
 */
import { HeaderView } from './view.js';
import { readU16, writeU16, ensureRoom, copyInto } from './bytes.js';
import { checksum, foldSum, pseudoHeaderSum, type ChecksumMode } from './checksum.js';
import { WireError } from './result.js';

/** Byte offsets of the UDP header fields. */
export const UDP_OFF = { SRC_PORT: 0, DST_PORT: 2, LENGTH: 4, CHECKSUM: 6, PAYLOAD: 8 } as const;

/** Length of the UDP header. */
export const UDP_HEADER_LEN = 8;

/** IANA protocol number of UDP. */
const PROTO_UDP = 17;

/** The meaning of a UDP datagram. `payload` is a view into the input on parse. */
export interface UdpRepr {
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
}

/** Parse options for UDP. */
export interface UdpParseOptions {
  /** Verify a non-zero checksum (default true). Set false when the link already verified it. */
  verifyChecksum?: boolean;
}

/** Emit options for UDP. */
export interface UdpEmitOptions {
  /** 'full' (default), 'none' (send 0) or 'partial' (pseudo-header sum for TX offload). */
  checksum?: ChecksumMode;
}

/** Zero-copy, re-targetable view of a UDP datagram at `buf[offset .. offset+length)`. */
export class UdpPacket extends HeaderView {
  /** Length checks: header present, 8 <= length field <= view length. */
  check(): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < UDP_HEADER_LEN) return new WireError('truncated', `UDP datagram of ${this.len} bytes`);
    const l = this.length;
    if (l < UDP_HEADER_LEN) return new WireError('bad-length', `UDP length ${l} < 8`);
    if (l > this.len) return new WireError('bad-length', `UDP length ${l} > ${this.len} bytes`);
    return null;
  }

  /** Everything `parseUdp` checks, without building a repr. */
  validate(src: number, dst: number, opts?: UdpParseOptions): WireError | null {
    const e = this.check();
    if (e) return e;
    if (opts?.verifyChecksum !== false && this.checksum !== 0 && !this.verifyChecksum(src, dst)) {
      return new WireError('bad-checksum', 'UDP checksum');
    }
    return null;
  }

  /** Source port. */
  get srcPort(): number {
    return readU16(this.buf, this.off + UDP_OFF.SRC_PORT);
  }
  set srcPort(v: number) {
    writeU16(this.buf, this.off + UDP_OFF.SRC_PORT, v);
  }
  /** Destination port. */
  get dstPort(): number {
    return readU16(this.buf, this.off + UDP_OFF.DST_PORT);
  }
  set dstPort(v: number) {
    writeU16(this.buf, this.off + UDP_OFF.DST_PORT, v);
  }
  /** Length field (header plus data). */
  get length(): number {
    return readU16(this.buf, this.off + UDP_OFF.LENGTH);
  }
  set length(v: number) {
    writeU16(this.buf, this.off + UDP_OFF.LENGTH, v);
  }
  /** Checksum field (0: none). */
  get checksum(): number {
    return readU16(this.buf, this.off + UDP_OFF.CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.off + UDP_OFF.CHECKSUM, v);
  }
  /** Absolute offset of the data in `buf`. */
  get payloadOffset(): number {
    return this.off + UDP_HEADER_LEN;
  }
  /** Data length (length field minus 8). */
  get payloadLength(): number {
    return this.length - UDP_HEADER_LEN;
  }
  /** Data up to the length field (a subarray view). */
  get payload(): Uint8Array {
    return this.buf.subarray(this.off + UDP_HEADER_LEN, this.off + this.length);
  }
  /** The checksum verifies against the pseudo-header of `src` -> `dst` (a 0 field does not). */
  verifyChecksum(src: number, dst: number): boolean {
    const l = this.length;
    return checksum(this.buf, this.off, this.off + l, pseudoHeaderSum(src, dst, PROTO_UDP, l)) === 0;
  }
  /** Compute and store the checksum (0 is stored as 0xffff). */
  fillChecksum(src: number, dst: number, mode: ChecksumMode = 'full'): void {
    const l = this.length;
    const at = this.off + UDP_OFF.CHECKSUM;
    if (mode === 'none') {
      writeU16(this.buf, at, 0);
    } else if (mode === 'partial') {
      writeU16(this.buf, at, foldSum(pseudoHeaderSum(src, dst, PROTO_UDP, l)));
    } else {
      writeU16(this.buf, at, 0);
      const c = checksum(this.buf, this.off, this.off + l, pseudoHeaderSum(src, dst, PROTO_UDP, l));
      writeU16(this.buf, at, c === 0 ? 0xffff : c);
    }
  }
}

/**
 * Parse a UDP datagram (`buf` is the IP payload) sent from `src` to `dst` (needed for the
 * pseudo-header checksum).
 */
export function parseUdp(buf: Uint8Array, src: number, dst: number, opts?: UdpParseOptions): UdpRepr | WireError {
  const p = new UdpPacket(buf);
  const e = p.validate(src, dst, opts);
  if (e) return e;
  return { srcPort: p.srcPort, dstPort: p.dstPort, payload: p.payload };
}

/**
 * Write a UDP datagram (header, data, checksum) at `buf[offset..]` for `src` -> `dst`; returns
 * its length. A payload already in place (same memory at `offset + 8`) is not copied.
 */
export function emitUdp(repr: UdpRepr, buf: Uint8Array, offset: number, src: number, dst: number, opts?: UdpEmitOptions): number {
  const len = UDP_HEADER_LEN + repr.payload.length;
  if (len > 0xffff) throw new RangeError(`emitUdp: datagram of ${len} bytes`);
  ensureRoom(buf, offset, len, 'emitUdp');
  writeU16(buf, offset + UDP_OFF.SRC_PORT, repr.srcPort);
  writeU16(buf, offset + UDP_OFF.DST_PORT, repr.dstPort);
  writeU16(buf, offset + UDP_OFF.LENGTH, len);
  copyInto(buf, offset + UDP_HEADER_LEN, repr.payload);
  new UdpPacket(buf, offset, len).fillChecksum(src, dst, opts?.checksum ?? 'full');
  return len;
}

/**
 * Write only the 8-byte header for a payload of `payloadLength` bytes already at
 * `buf[offset+8..]`, and fill the checksum: the allocation-free path for the engine.
 */
export function emitUdpHeader(
  buf: Uint8Array,
  offset: number,
  srcPort: number,
  dstPort: number,
  payloadLength: number,
  src: number,
  dst: number,
  mode: ChecksumMode = 'full',
): number {
  const len = UDP_HEADER_LEN + payloadLength;
  if (len > 0xffff) throw new RangeError(`emitUdpHeader: datagram of ${len} bytes`);
  ensureRoom(buf, offset, len, 'emitUdpHeader');
  writeU16(buf, offset + UDP_OFF.SRC_PORT, srcPort);
  writeU16(buf, offset + UDP_OFF.DST_PORT, dstPort);
  writeU16(buf, offset + UDP_OFF.LENGTH, len);
  const at = offset + UDP_OFF.CHECKSUM;
  if (mode === 'none') writeU16(buf, at, 0);
  else if (mode === 'partial') writeU16(buf, at, foldSum(pseudoHeaderSum(src, dst, PROTO_UDP, len)));
  else {
    writeU16(buf, at, 0);
    const c = checksum(buf, offset, offset + len, pseudoHeaderSum(src, dst, PROTO_UDP, len));
    writeU16(buf, at, c === 0 ? 0xffff : c);
  }
  return len;
}
