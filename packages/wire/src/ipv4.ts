/**
 * IPv4 header (RFC 791 §3.1).
 *
 * Read this first:
 * - Total length must be >= IHL*4 and <= the buffer: bytes after total length (Ethernet padding
 *   of short frames) are allowed and ignored; `payload` stops at total length.
 * - Options are length-checked (each option's length byte must fit, RFC 791 §3.1 "Options")
 *   and otherwise skipped; the raw option bytes are kept in the repr so parse/emit round-trip.
 * - `fragmentOffset` is in *bytes* (the wire field times 8) everywhere in this package.
 * - A fragment whose end would pass 65535 is rejected ('bad-length'), so reassembly never has to
 *   handle it (the "ping of death").
 * - The reserved flag bit (bit 0 of the flags) is ignored on receive and sent as zero.
 */
import { HeaderView } from './view.js';
import { readU16, readU32, writeU16, writeU32, ensureRoom } from './bytes.js';
import { checksum } from './checksum.js';
import { WireError } from './result.js';
import { parseIpv4Address } from './addr.js';

/** Byte offsets of the IPv4 header fields. */
export const IPV4_OFF = {
  VER_IHL: 0,
  TOS: 1,
  TOTAL_LEN: 2,
  IDENT: 4,
  FLAGS_FRAG: 6,
  TTL: 8,
  PROTOCOL: 9,
  CHECKSUM: 10,
  SRC: 12,
  DST: 16,
  OPTIONS: 20,
} as const;

/** Minimum (option-less) IPv4 header length. */
export const IPV4_HEADER_LEN = 20;
/** Maximum IPv4 header length (IHL 15). */
export const IPV4_MAX_HEADER_LEN = 60;
/** Largest IPv4 datagram. */
export const IPV4_MAX_TOTAL_LEN = 65535;
/** Default TTL we send with (RFC 1700 / Linux default). */
export const IPV4_DEFAULT_TTL = 64;

/** Flag bits within the 16-bit flags/fragment-offset word. */
export const IPV4_FLAG_DF = 0x4000;
export const IPV4_FLAG_MF = 0x2000;
const FRAG_MASK = 0x1fff;

/** IANA protocol numbers used by hastack. */
export const IpProtocol = { ICMP: 1, IGMP: 2, TCP: 6, UDP: 17, SCTP: 132 } as const;

/** The meaning of an IPv4 header. */
export interface Ipv4Repr {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  /** The whole TOS / DS+ECN byte. */
  tos: number;
  /** Identification. */
  ident: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes (a multiple of 8). */
  fragmentOffset: number;
  /** Bytes after the header (total length minus header length). */
  payloadLength: number;
  /** Raw option bytes (length a multiple of 4, at most 40); absent when there are none. A view into the input on parse. */
  options?: Uint8Array;
}

/** Parse options for IPv4. */
export interface Ipv4ParseOptions {
  /** Verify the header checksum (default true). */
  verifyChecksum?: boolean;
}

/** Zero-copy, re-targetable view of an IPv4 packet at `buf[offset .. offset+length)`. */
export class Ipv4Packet extends HeaderView {
  /**
   * Length checks only: the fixed header fits, IHL >= 5 and the header fits, IHL*4 <= total
   * length <= view length. After this every accessor (and `payload`, `options`) is in bounds.
   */
  check(): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < IPV4_HEADER_LEN) return new WireError('truncated', `IPv4 packet of ${this.len} bytes`);
    const hl = this.headerLength;
    if (hl < IPV4_HEADER_LEN) return new WireError('bad-header-length', `IHL ${hl >> 2} < 5`);
    if (hl > this.len) return new WireError('bad-header-length', `header length ${hl} > ${this.len} bytes`);
    const tl = this.totalLength;
    if (tl < hl) return new WireError('bad-length', `total length ${tl} < header length ${hl}`);
    if (tl > this.len) return new WireError('bad-length', `total length ${tl} > ${this.len} bytes`);
    return null;
  }

  /** Everything `parseIpv4` checks (version, lengths, options, fragment bounds, checksum) without a repr. */
  validate(opts?: Ipv4ParseOptions): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < IPV4_HEADER_LEN) return new WireError('truncated', `IPv4 packet of ${this.len} bytes`);
    if (this.version !== 4) return new WireError('bad-version', `IP version ${this.version}`);
    const e = this.check();
    if (e) return e;
    if (opts?.verifyChecksum !== false && !this.verifyChecksum()) return new WireError('bad-checksum', 'IPv4 header checksum');
    const oe = checkIpv4Options(this.buf, this.off + IPV4_HEADER_LEN, this.off + this.headerLength);
    if (oe) return oe;
    if (this.fragmentOffset + this.payloadLength > IPV4_MAX_TOTAL_LEN - IPV4_HEADER_LEN) {
      return new WireError('bad-length', 'fragment ends beyond 65535');
    }
    return null;
  }

  /** Version (4). */
  get version(): number {
    return this.buf[this.off] >> 4;
  }
  /** Header length in 32-bit words. */
  get ihl(): number {
    return this.buf[this.off] & 0x0f;
  }
  /** Header length in bytes (IHL * 4). */
  get headerLength(): number {
    return (this.buf[this.off] & 0x0f) << 2;
  }
  /** Set version 4 and the header length in bytes (a multiple of 4, 20..60). */
  set headerLength(bytes: number) {
    this.buf[this.off] = 0x40 | ((bytes >> 2) & 0x0f);
  }
  /** TOS / DS field + ECN byte. */
  get tos(): number {
    return this.buf[this.off + IPV4_OFF.TOS];
  }
  set tos(v: number) {
    this.buf[this.off + IPV4_OFF.TOS] = v;
  }
  /** Differentiated services code point (high 6 bits of TOS). */
  get dscp(): number {
    return this.buf[this.off + IPV4_OFF.TOS] >> 2;
  }
  /** ECN codepoint (low 2 bits of TOS, RFC 3168). */
  get ecn(): number {
    return this.buf[this.off + IPV4_OFF.TOS] & 3;
  }
  /** Total length (header plus payload). */
  get totalLength(): number {
    return readU16(this.buf, this.off + IPV4_OFF.TOTAL_LEN);
  }
  set totalLength(v: number) {
    writeU16(this.buf, this.off + IPV4_OFF.TOTAL_LEN, v);
  }
  /** Identification. */
  get ident(): number {
    return readU16(this.buf, this.off + IPV4_OFF.IDENT);
  }
  set ident(v: number) {
    writeU16(this.buf, this.off + IPV4_OFF.IDENT, v);
  }
  /** Don't Fragment flag. */
  get dontFragment(): boolean {
    return (this.buf[this.off + IPV4_OFF.FLAGS_FRAG] & 0x40) !== 0;
  }
  set dontFragment(v: boolean) {
    const i = this.off + IPV4_OFF.FLAGS_FRAG;
    this.buf[i] = v ? this.buf[i] | 0x40 : this.buf[i] & ~0x40;
  }
  /** More Fragments flag. */
  get moreFragments(): boolean {
    return (this.buf[this.off + IPV4_OFF.FLAGS_FRAG] & 0x20) !== 0;
  }
  set moreFragments(v: boolean) {
    const i = this.off + IPV4_OFF.FLAGS_FRAG;
    this.buf[i] = v ? this.buf[i] | 0x20 : this.buf[i] & ~0x20;
  }
  /** Fragment offset in bytes (wire value * 8). */
  get fragmentOffset(): number {
    return (readU16(this.buf, this.off + IPV4_OFF.FLAGS_FRAG) & FRAG_MASK) << 3;
  }
  /** Set the fragment offset in bytes (must be a multiple of 8); keeps the flags. */
  set fragmentOffset(bytes: number) {
    const i = this.off + IPV4_OFF.FLAGS_FRAG;
    writeU16(this.buf, i, (readU16(this.buf, i) & ~FRAG_MASK) | ((bytes >>> 3) & FRAG_MASK));
  }
  /** MF set or a non-zero offset: this packet is a fragment. */
  get isFragment(): boolean {
    return (readU16(this.buf, this.off + IPV4_OFF.FLAGS_FRAG) & (IPV4_FLAG_MF | FRAG_MASK)) !== 0;
  }
  /** Time to live. */
  get ttl(): number {
    return this.buf[this.off + IPV4_OFF.TTL];
  }
  set ttl(v: number) {
    this.buf[this.off + IPV4_OFF.TTL] = v;
  }
  /** Protocol number (IpProtocol). */
  get protocol(): number {
    return this.buf[this.off + IPV4_OFF.PROTOCOL];
  }
  set protocol(v: number) {
    this.buf[this.off + IPV4_OFF.PROTOCOL] = v;
  }
  /** Header checksum field. */
  get checksum(): number {
    return readU16(this.buf, this.off + IPV4_OFF.CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.off + IPV4_OFF.CHECKSUM, v);
  }
  /** Source address. */
  get src(): number {
    return readU32(this.buf, this.off + IPV4_OFF.SRC);
  }
  set src(v: number) {
    writeU32(this.buf, this.off + IPV4_OFF.SRC, v);
  }
  /** Destination address. */
  get dst(): number {
    return readU32(this.buf, this.off + IPV4_OFF.DST);
  }
  set dst(v: number) {
    writeU32(this.buf, this.off + IPV4_OFF.DST, v);
  }
  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + this.headerLength;
  }
  /** Payload length (total length minus header length). */
  get payloadLength(): number {
    return this.totalLength - this.headerLength;
  }
  /** Payload up to total length (a subarray view; trailing padding excluded). */
  get payload(): Uint8Array {
    return this.buf.subarray(this.off + this.headerLength, this.off + this.totalLength);
  }
  /** Raw option bytes (a subarray view; empty when IHL is 5). */
  get options(): Uint8Array {
    return this.buf.subarray(this.off + IPV4_HEADER_LEN, this.off + this.headerLength);
  }
  /** The header checksum verifies (RFC 791 §3.1 "Header Checksum"). */
  verifyChecksum(): boolean {
    return checksum(this.buf, this.off, this.off + this.headerLength) === 0;
  }
  /** Recompute and store the header checksum. */
  fillChecksum(): void {
    writeU16(this.buf, this.off + IPV4_OFF.CHECKSUM, 0);
    writeU16(this.buf, this.off + IPV4_OFF.CHECKSUM, checksum(this.buf, this.off, this.off + this.headerLength));
  }
}

/**
 * RFC 791 §3.1 option format: type 0 (end of list) stops, type 1 (no-op) is one byte, every
 * other option has a length byte >= 2 that must fit within the header.
 */
function checkIpv4Options(buf: Uint8Array, start: number, end: number): WireError | null {
  let i = start;
  while (i < end) {
    const type = buf[i];
    if (type === 0) return null;
    if (type === 1) {
      i++;
      continue;
    }
    if (i + 1 >= end) return new WireError('bad-option', `IPv4 option ${type} without length`);
    const olen = buf[i + 1];
    if (olen < 2 || i + olen > end) return new WireError('bad-option', `IPv4 option ${type} length ${olen}`);
    i += olen;
  }
  return null;
}

/** Header length `emitIpv4` will write for `repr`. */
export function ipv4HeaderLength(repr: Ipv4Repr): number {
  return IPV4_HEADER_LEN + (repr.options ? repr.options.length : 0);
}

/**
 * Parse and validate an IPv4 header. The payload is `buf.subarray(hl, hl + payloadLength)`
 * with `hl = ipv4HeaderLength(repr)`.
 *
 * Given a string instead, parses a strict dotted-quad address (same as `parseIpv4Address`).
 */
export function parseIpv4(buf: Uint8Array, opts?: Ipv4ParseOptions): Ipv4Repr | WireError;
export function parseIpv4(address: string): number | WireError;
export function parseIpv4(buf: Uint8Array | string, opts?: Ipv4ParseOptions): Ipv4Repr | number | WireError {
  if (typeof buf === 'string') return parseIpv4Address(buf);
  if (!(buf instanceof Uint8Array)) return new WireError('truncated', 'not a byte buffer');
  const p = new Ipv4Packet(buf);
  const e = p.validate(opts);
  if (e) return e;
  const repr: Ipv4Repr = {
    src: p.src,
    dst: p.dst,
    protocol: p.protocol,
    ttl: p.ttl,
    tos: p.tos,
    ident: p.ident,
    dontFragment: p.dontFragment,
    moreFragments: p.moreFragments,
    fragmentOffset: p.fragmentOffset,
    payloadLength: p.payloadLength,
  };
  if (p.headerLength > IPV4_HEADER_LEN) repr.options = p.options;
  return repr;
}

/**
 * Write the IPv4 header (with options, checksum filled) at `buf[offset..]`; returns the header
 * length. The payload is the caller's: it goes right after the header. Throws RangeError on a
 * repr that cannot be encoded (programming error, not wire input).
 */
export function emitIpv4(repr: Ipv4Repr, buf: Uint8Array, offset = 0): number {
  const olen = repr.options ? repr.options.length : 0;
  const hl = IPV4_HEADER_LEN + olen;
  if (olen % 4 !== 0 || olen > 40) throw new RangeError(`emitIpv4: options length ${olen} must be a multiple of 4 <= 40`);
  if ((repr.fragmentOffset & 7) !== 0 || repr.fragmentOffset < 0 || repr.fragmentOffset > FRAG_MASK << 3) {
    throw new RangeError(`emitIpv4: fragment offset ${repr.fragmentOffset}`);
  }
  if (repr.payloadLength < 0 || hl + repr.payloadLength > IPV4_MAX_TOTAL_LEN) throw new RangeError(`emitIpv4: payload length ${repr.payloadLength}`);
  ensureRoom(buf, offset, hl, 'emitIpv4');
  buf[offset] = 0x40 | (hl >> 2);
  buf[offset + IPV4_OFF.TOS] = repr.tos;
  writeU16(buf, offset + IPV4_OFF.TOTAL_LEN, hl + repr.payloadLength);
  writeU16(buf, offset + IPV4_OFF.IDENT, repr.ident);
  writeU16(
    buf,
    offset + IPV4_OFF.FLAGS_FRAG,
    (repr.dontFragment ? IPV4_FLAG_DF : 0) | (repr.moreFragments ? IPV4_FLAG_MF : 0) | (repr.fragmentOffset >>> 3),
  );
  buf[offset + IPV4_OFF.TTL] = repr.ttl;
  buf[offset + IPV4_OFF.PROTOCOL] = repr.protocol;
  writeU16(buf, offset + IPV4_OFF.CHECKSUM, 0);
  writeU32(buf, offset + IPV4_OFF.SRC, repr.src);
  writeU32(buf, offset + IPV4_OFF.DST, repr.dst);
  if (repr.options && olen > 0) buf.set(repr.options, offset + IPV4_OFF.OPTIONS);
  writeU16(buf, offset + IPV4_OFF.CHECKSUM, checksum(buf, offset, offset + hl));
  return hl;
}
