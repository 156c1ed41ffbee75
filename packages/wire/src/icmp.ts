/**
 * ICMPv4 (RFC 792): echo request/reply, destination unreachable (with the RFC 1191 next-hop
 * MTU for code 4) and time exceeded. The checksum covers the whole ICMP message. Other types
 * (redirect, timestamp, ...) parse to 'unsupported'.
 *
 * Error messages quote "the internet header + 64 bits of the original datagram" (RFC 792;
 * RFC 1812 §4.3.2.3 allows more). The quote is kept as raw bytes; `parseIcmpQuote()` reads the
 * addresses, protocol and first transport bytes out of it for the transport that sent it.
 */
import { HeaderView } from './view.js';
import { readU16, readU32, writeU16, ensureRoom, copyInto } from './bytes.js';
import { checksum } from './checksum.js';
import { WireError } from './result.js';

/** Byte offsets of the ICMP header fields. REST is the 4-byte "rest of header" word. */
export const ICMP_OFF = { TYPE: 0, CODE: 1, CHECKSUM: 2, REST: 4, ID: 4, SEQ: 6, MTU: 6, DATA: 8 } as const;

/** Length of the ICMP header (type, code, checksum, rest of header). */
export const ICMP_HEADER_LEN = 8;

/** ICMP types handled here. */
export const IcmpType = { ECHO_REPLY: 0, DEST_UNREACHABLE: 3, ECHO_REQUEST: 8, TIME_EXCEEDED: 11 } as const;

/** Destination unreachable codes (RFC 792, RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1). */
export const IcmpUnreachCode = {
  NET: 0,
  HOST: 1,
  PROTOCOL: 2,
  PORT: 3,
  FRAG_NEEDED: 4,
  SOURCE_ROUTE_FAILED: 5,
  ADMIN_PROHIBITED: 13,
} as const;

/** Time exceeded codes. */
export const IcmpTimeExceededCode = { TTL: 0, REASSEMBLY: 1 } as const;

/** Echo request/reply. `data` is a view into the input on parse. */
export interface IcmpEchoRepr {
  kind: 'echo-request' | 'echo-reply';
  id: number;
  seq: number;
  data: Uint8Array;
}

/** Destination unreachable. `quote` is the original IP header + leading payload bytes. */
export interface IcmpDestUnreachableRepr {
  kind: 'dest-unreachable';
  code: number;
  /** RFC 1191 next-hop MTU (the low 16 bits of the rest-of-header word; 0 when unused). */
  nextHopMtu: number;
  quote: Uint8Array;
}

/** Time exceeded (code 0 TTL, 1 reassembly). */
export interface IcmpTimeExceededRepr {
  kind: 'time-exceeded';
  code: number;
  quote: Uint8Array;
}

/** The meaning of an ICMP message. */
export type IcmpRepr = IcmpEchoRepr | IcmpDestUnreachableRepr | IcmpTimeExceededRepr;

/** Parse options for ICMP. */
export interface IcmpParseOptions {
  /** Verify the checksum (default true). */
  verifyChecksum?: boolean;
}

/** Zero-copy, re-targetable view of an ICMP message at `buf[offset .. offset+length)`. */
export class IcmpPacket extends HeaderView {
  /** Length check only: the 8-byte header fits. */
  check(): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < ICMP_HEADER_LEN) return new WireError('truncated', `ICMP message of ${this.len} bytes`);
    return null;
  }

  /** Everything `parseIcmp` checks, without building a repr. */
  validate(opts?: IcmpParseOptions): WireError | null {
    const e = this.check();
    if (e) return e;
    if (opts?.verifyChecksum !== false && !this.verifyChecksum()) return new WireError('bad-checksum', 'ICMP checksum');
    const t = this.type;
    if (t === IcmpType.ECHO_REQUEST || t === IcmpType.ECHO_REPLY) {
      if (this.code !== 0) return new WireError('bad-field', `echo code ${this.code}`);
      return null;
    }
    if (t === IcmpType.DEST_UNREACHABLE || t === IcmpType.TIME_EXCEEDED) {
      if (t === IcmpType.TIME_EXCEEDED && this.code > 1) return new WireError('bad-field', `time exceeded code ${this.code}`);
      if (this.code > 15) return new WireError('bad-field', `unreachable code ${this.code}`);
      return checkQuote(this.buf, this.off + ICMP_HEADER_LEN, this.off + this.len);
    }
    return new WireError('unsupported', `ICMP type ${t}`);
  }

  /** Message type. */
  get type(): number {
    return this.buf[this.off + ICMP_OFF.TYPE];
  }
  set type(v: number) {
    this.buf[this.off + ICMP_OFF.TYPE] = v;
  }
  /** Message code. */
  get code(): number {
    return this.buf[this.off + ICMP_OFF.CODE];
  }
  set code(v: number) {
    this.buf[this.off + ICMP_OFF.CODE] = v;
  }
  /** Checksum field. */
  get checksum(): number {
    return readU16(this.buf, this.off + ICMP_OFF.CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.off + ICMP_OFF.CHECKSUM, v);
  }
  /** Echo identifier. */
  get id(): number {
    return readU16(this.buf, this.off + ICMP_OFF.ID);
  }
  set id(v: number) {
    writeU16(this.buf, this.off + ICMP_OFF.ID, v);
  }
  /** Echo sequence number. */
  get seq(): number {
    return readU16(this.buf, this.off + ICMP_OFF.SEQ);
  }
  set seq(v: number) {
    writeU16(this.buf, this.off + ICMP_OFF.SEQ, v);
  }
  /** Next-hop MTU of a "fragmentation needed" message (RFC 1191). */
  get nextHopMtu(): number {
    return readU16(this.buf, this.off + ICMP_OFF.MTU);
  }
  set nextHopMtu(v: number) {
    writeU16(this.buf, this.off + ICMP_OFF.MTU, v);
  }
  /** The whole 4-byte rest-of-header word. */
  get rest(): number {
    return readU32(this.buf, this.off + ICMP_OFF.REST);
  }
  /** Absolute offset of the data (echo data or quote) in `buf`. */
  get dataOffset(): number {
    return this.off + ICMP_HEADER_LEN;
  }
  /** Echo data, or the quoted datagram of an error (a subarray view). */
  get data(): Uint8Array {
    return this.buf.subarray(this.off + ICMP_HEADER_LEN, this.off + this.len);
  }
  /** The checksum over the whole message verifies. */
  verifyChecksum(): boolean {
    return checksum(this.buf, this.off, this.off + this.len) === 0;
  }
  /** Recompute and store the checksum over the whole message. */
  fillChecksum(): void {
    writeU16(this.buf, this.off + ICMP_OFF.CHECKSUM, 0);
    writeU16(this.buf, this.off + ICMP_OFF.CHECKSUM, checksum(this.buf, this.off, this.off + this.len));
  }
}

/** A quote must start with a plausible IPv4 header: version 4, IHL >= 5, the header present. */
function checkQuote(buf: Uint8Array, start: number, end: number): WireError | null {
  if (end - start < 20) return new WireError('truncated', `ICMP quote of ${end - start} bytes`);
  if (buf[start] >> 4 !== 4) return new WireError('bad-version', 'quoted IP version');
  const hl = (buf[start] & 0x0f) << 2;
  if (hl < 20 || hl > end - start) return new WireError('bad-header-length', 'quoted IP header length');
  return null;
}

/** Length of the message `emitIcmp` writes for `repr`. */
export function icmpLength(repr: IcmpRepr): number {
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      return ICMP_HEADER_LEN + repr.data.length;
    default:
      return ICMP_HEADER_LEN + repr.quote.length;
  }
}

/** Parse and validate an ICMP message (`buf` is the whole IP payload). */
export function parseIcmp(buf: Uint8Array, opts?: IcmpParseOptions): IcmpRepr | WireError {
  const p = new IcmpPacket(buf);
  const e = p.validate(opts);
  if (e) return e;
  switch (p.type) {
    case IcmpType.ECHO_REQUEST:
      return { kind: 'echo-request', id: p.id, seq: p.seq, data: p.data };
    case IcmpType.ECHO_REPLY:
      return { kind: 'echo-reply', id: p.id, seq: p.seq, data: p.data };
    case IcmpType.DEST_UNREACHABLE:
      return { kind: 'dest-unreachable', code: p.code, nextHopMtu: p.nextHopMtu, quote: p.data };
    default:
      return { kind: 'time-exceeded', code: p.code, quote: p.data };
  }
}

/**
 * Write an ICMP message at `buf[offset..]` (checksum filled); returns its length. Data already in
 * place (same memory at `offset + 8`) is not copied.
 */
export function emitIcmp(repr: IcmpRepr, buf: Uint8Array, offset = 0): number {
  const len = icmpLength(repr);
  ensureRoom(buf, offset, len, 'emitIcmp');
  switch (repr.kind) {
    case 'echo-request':
    case 'echo-reply':
      buf[offset] = repr.kind === 'echo-request' ? IcmpType.ECHO_REQUEST : IcmpType.ECHO_REPLY;
      buf[offset + 1] = 0;
      writeU16(buf, offset + ICMP_OFF.ID, repr.id);
      writeU16(buf, offset + ICMP_OFF.SEQ, repr.seq);
      copyInto(buf, offset + ICMP_HEADER_LEN, repr.data);
      break;
    case 'dest-unreachable':
      buf[offset] = IcmpType.DEST_UNREACHABLE;
      buf[offset + 1] = repr.code;
      writeU16(buf, offset + ICMP_OFF.REST, 0);
      writeU16(buf, offset + ICMP_OFF.MTU, repr.nextHopMtu);
      copyInto(buf, offset + ICMP_HEADER_LEN, repr.quote);
      break;
    case 'time-exceeded':
      buf[offset] = IcmpType.TIME_EXCEEDED;
      buf[offset + 1] = repr.code;
      writeU16(buf, offset + ICMP_OFF.REST, 0);
      writeU16(buf, offset + ICMP_OFF.REST + 2, 0);
      copyInto(buf, offset + ICMP_HEADER_LEN, repr.quote);
      break;
  }
  writeU16(buf, offset + ICMP_OFF.CHECKSUM, 0);
  writeU16(buf, offset + ICMP_OFF.CHECKSUM, checksum(buf, offset, offset + len));
  return len;
}

/**
 * How many bytes of `ipPacket` an error message should quote: the IP header plus 8 bytes of
 * payload (RFC 792), bounded by the packet. `ipPacket` must hold at least a valid IHL.
 */
export function icmpQuoteLength(ipPacket: Uint8Array): number {
  if (ipPacket.length < 20) return ipPacket.length;
  const hl = (ipPacket[0] & 0x0f) << 2;
  const tl = readU16(ipPacket, 2);
  return Math.min(ipPacket.length, hl + 8, Math.max(tl, hl));
}

/** What a transport needs from a quoted datagram to find the socket it concerns. */
export interface IcmpQuote {
  src: number;
  dst: number;
  protocol: number;
  /** The quoted transport bytes (at least the first 8 when the sender followed RFC 792). View. */
  transport: Uint8Array;
}

/**
 * Read the quoted IPv4 header of an ICMP error. Lenient on purpose: the quoted total length
 * refers to the original datagram, so only the header itself has to be present.
 */
export function parseIcmpQuote(quote: Uint8Array): IcmpQuote | WireError {
  const e = checkQuote(quote, 0, quote.length);
  if (e) return e;
  const hl = (quote[0] & 0x0f) << 2;
  return {
    src: readU32(quote, 12),
    dst: readU32(quote, 16),
    protocol: quote[9],
    transport: quote.subarray(hl),
  };
}
