/**
 * SCTP packets (RFC 9260 §3): the common header, chunks and their parameters.
 *
 * Read this first:
 * - A packet is a 12-byte common header (ports, verification tag, CRC32c checksum) followed by
 *   chunks. Every chunk is type(1) flags(1) length(2) value; `length` excludes the padding to a
 *   multiple of 4 that follows the chunk (RFC 9260 §3.2). A missing pad after the *last* chunk is
 *   tolerated on receive; emitters always pad.
 * - Parameters (INIT/INIT ACK) and error causes (ABORT/ERROR) use the same TLV shape; a chunk's
 *   length includes the padding of every parameter but the last (§3.2.1).
 * - `parseSctp()` returns a plain `SctpRepr` (or a WireError, never throws). Unknown chunk and
 *   parameter types parse to `kind: 'unknown'` reprs; what to do with them is decided by the
 *   two upper bits of the type (§3.2, §3.2.1): see `unknownChunkAction()`/`unknownParamAction()`.
 * - The checksum is CRC32c over the whole packet with the checksum field taken as zero, stored
 *   least significant byte first (Appendix B).
 * - DATA payloads, cookies and heartbeat info in parsed reprs are subarray *views* into the
 *   input: copy what you keep.
 */
import { HeaderView } from './view.js';
import { readU16, readU32, writeU16, writeU32, ensureRoom } from './bytes.js';
import { crc32cUpdate, crc32cZeros, crc32cFinish, CRC32C_INIT } from './crc32c.js';
import { WireError } from './result.js';

/** IANA protocol number. */
export const SCTP_PROTOCOL = 132;
/** Common header length. */
export const SCTP_HEADER_LEN = 12;
/** Chunk header length (type, flags, length). */
export const SCTP_CHUNK_HEADER_LEN = 4;
/** DATA chunk header length (chunk header + TSN, stream id, SSN, PPID). */
export const SCTP_DATA_HEADER_LEN = 16;

/** Byte offsets in the common header. */
export const SCTP_OFF = { SRC_PORT: 0, DST_PORT: 2, VTAG: 4, CHECKSUM: 8, CHUNKS: 12 } as const;

/** Chunk types (RFC 9260 §3.2; others are handled by their upper bits). */
export const SctpChunkType = {
  DATA: 0,
  INIT: 1,
  INIT_ACK: 2,
  SACK: 3,
  HEARTBEAT: 4,
  HEARTBEAT_ACK: 5,
  ABORT: 6,
  SHUTDOWN: 7,
  SHUTDOWN_ACK: 8,
  ERROR: 9,
  COOKIE_ECHO: 10,
  COOKIE_ACK: 11,
  SHUTDOWN_COMPLETE: 14,
} as const;

/** Parameter types (RFC 9260 §3.3.2.1, §3.3.3; RFC 5061 supported extensions). */
export const SctpParamType = {
  HEARTBEAT_INFO: 1,
  IPV4: 5,
  IPV6: 6,
  STATE_COOKIE: 7,
  UNRECOGNIZED: 8,
  COOKIE_PRESERVATIVE: 9,
  HOST_NAME: 11,
  SUPPORTED_ADDRESS_TYPES: 12,
  SUPPORTED_EXTENSIONS: 0x8008,
} as const;

/** Error cause codes (RFC 9260 §3.3.10). */
export const SctpCause = {
  INVALID_STREAM: 1,
  MISSING_PARAM: 2,
  STALE_COOKIE: 3,
  OUT_OF_RESOURCE: 4,
  UNRESOLVABLE_ADDRESS: 5,
  UNRECOGNIZED_CHUNK: 6,
  INVALID_MANDATORY_PARAM: 7,
  UNRECOGNIZED_PARAMS: 8,
  NO_USER_DATA: 9,
  COOKIE_WHILE_SHUTTING_DOWN: 10,
  RESTART_NEW_ADDRESSES: 11,
  USER_ABORT: 12,
  PROTOCOL_VIOLATION: 13,
} as const;

/** DATA chunk flag bits (§3.3.1). */
export const SCTP_DATA_FLAG_E = 0x01;
export const SCTP_DATA_FLAG_B = 0x02;
export const SCTP_DATA_FLAG_U = 0x04;
export const SCTP_DATA_FLAG_I = 0x08;
/** T bit of ABORT and SHUTDOWN COMPLETE (§3.3.7, §3.3.13). */
export const SCTP_FLAG_T = 0x01;

/** One error cause (ABORT, ERROR): `info` is the cause-specific value (a view on parse). */
export interface SctpErrorCause {
  code: number;
  info: Uint8Array;
}

/** Parameters of INIT / INIT ACK (and the heartbeat info of HEARTBEAT). */
export type SctpParam =
  | { kind: 'ipv4'; addr: number }
  | { kind: 'cookie'; cookie: Uint8Array }
  /** The whole unrecognized parameter TLV (INIT ACK, §3.3.3.1). */
  | { kind: 'unrecognized'; param: Uint8Array }
  /** Suggested cookie life-span increment in ms (§3.3.2.1; we may ignore it). */
  | { kind: 'cookie-preservative'; increment: number }
  | { kind: 'supported-address-types'; types: number[] }
  | { kind: 'supported-extensions'; chunkTypes: number[] }
  | { kind: 'heartbeat-info'; info: Uint8Array }
  /** Any other parameter (including IPv6 and host name, which hastack does not implement). */
  | { kind: 'unknown'; type: number; value: Uint8Array };

export interface SctpDataChunk {
  kind: 'data';
  unordered: boolean;
  beginning: boolean;
  ending: boolean;
  /** I bit (RFC 7053 SACK-IMMEDIATELY). */
  immediate: boolean;
  tsn: number;
  streamId: number;
  ssn: number;
  ppid: number;
  data: Uint8Array;
}

export interface SctpInitChunk {
  kind: 'init' | 'init-ack';
  initiateTag: number;
  aRwnd: number;
  outboundStreams: number;
  inboundStreams: number;
  initialTsn: number;
  params: SctpParam[];
}

export interface SctpSackChunk {
  kind: 'sack';
  cumTsnAck: number;
  aRwnd: number;
  /** Gap ack blocks as offsets from cumTsnAck (§3.3.4): [start, end] inclusive. */
  gaps: Array<[number, number]>;
  dupTsns: number[];
}

export type SctpChunk =
  | SctpDataChunk
  | SctpInitChunk
  | SctpSackChunk
  | { kind: 'heartbeat' | 'heartbeat-ack'; info: Uint8Array }
  | { kind: 'abort'; tBit: boolean; causes: SctpErrorCause[] }
  | { kind: 'shutdown'; cumTsnAck: number }
  | { kind: 'shutdown-ack' }
  | { kind: 'shutdown-complete'; tBit: boolean }
  | { kind: 'error'; causes: SctpErrorCause[] }
  | { kind: 'cookie-echo'; cookie: Uint8Array }
  | { kind: 'cookie-ack' }
  /** A chunk type hastack does not implement, kept whole so it can be reported or re-emitted. */
  | { kind: 'unknown'; type: number; flags: number; value: Uint8Array };

/** A parsed packet. */
export interface SctpRepr {
  srcPort: number;
  dstPort: number;
  verificationTag: number;
  chunks: SctpChunk[];
}

export interface SctpParseOptions {
  /** Verify the CRC32c (default true). Skip when the link verified it. */
  verifyChecksum?: boolean;
}

/** Round up to a multiple of 4. */
export function sctpPad4(n: number): number {
  return (n + 3) & ~3;
}

/** What the receiver does with a chunk type it does not know (RFC 9260 §3.2 upper two bits). */
export function unknownChunkAction(type: number): { stop: boolean; report: boolean } {
  const hi = type >> 6;
  // 00: stop, discard the packet; 01: stop, discard, report in ERROR; 10: skip; 11: skip and report.
  return { stop: hi < 2, report: (hi & 1) === 1 };
}

/** What the receiver does with a parameter type it does not know (RFC 9260 §3.2.1 upper two bits). */
export function unknownParamAction(type: number): { stop: boolean; report: boolean } {
  const hi = type >> 14;
  return { stop: hi < 2, report: (hi & 1) === 1 };
}

// ---------------------------------------------------------------------------------------------
// Views

/** Zero-copy view of an SCTP packet at `buf[offset .. offset+length)`. */
export class SctpPacket extends HeaderView {
  /** The view lies in the buffer and holds at least the common header. */
  check(): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < SCTP_HEADER_LEN) return new WireError('truncated', `SCTP packet of ${this.len} bytes`);
    return null;
  }

  /** Source port. */
  get srcPort(): number {
    return readU16(this.buf, this.off + SCTP_OFF.SRC_PORT);
  }
  set srcPort(v: number) {
    writeU16(this.buf, this.off + SCTP_OFF.SRC_PORT, v);
  }
  /** Destination port. */
  get dstPort(): number {
    return readU16(this.buf, this.off + SCTP_OFF.DST_PORT);
  }
  set dstPort(v: number) {
    writeU16(this.buf, this.off + SCTP_OFF.DST_PORT, v);
  }
  /** Verification tag. */
  get verificationTag(): number {
    return readU32(this.buf, this.off + SCTP_OFF.VTAG);
  }
  set verificationTag(v: number) {
    writeU32(this.buf, this.off + SCTP_OFF.VTAG, v);
  }
  /** Checksum as stored (little-endian CRC32c, Appendix B). */
  get checksum(): number {
    const i = this.off + SCTP_OFF.CHECKSUM;
    return (this.buf[i] | (this.buf[i + 1] << 8) | (this.buf[i + 2] << 16) | (this.buf[i + 3] << 24)) >>> 0;
  }
  /** Absolute offset of the first chunk. */
  get chunksOffset(): number {
    return this.off + SCTP_HEADER_LEN;
  }
  /** Type of the first chunk, or -1 when there is none. */
  get firstChunkType(): number {
    return this.len > SCTP_HEADER_LEN ? this.buf[this.off + SCTP_HEADER_LEN] : -1;
  }
  /** The CRC32c verifies. */
  verifyChecksum(): boolean {
    return sctpVerifyChecksum(this.buf, this.off, this.len);
  }
  /** Compute and store the CRC32c. */
  fillChecksum(): void {
    sctpFillChecksum(this.buf, this.off, this.len);
  }
}

/** CRC32c of the packet with the checksum field read as zero (RFC 9260 Appendix B). */
export function sctpChecksum(buf: Uint8Array, off: number, len: number): number {
  let c = crc32cUpdate(CRC32C_INIT, buf, off, off + SCTP_OFF.CHECKSUM);
  c = crc32cZeros(c, 4);
  c = crc32cUpdate(c, buf, off + SCTP_OFF.CHECKSUM + 4, off + len);
  return crc32cFinish(c);
}

/** Write the CRC32c into the common header (least significant byte first). */
export function sctpFillChecksum(buf: Uint8Array, off: number, len: number): void {
  const c = sctpChecksum(buf, off, len);
  const i = off + SCTP_OFF.CHECKSUM;
  buf[i] = c & 0xff;
  buf[i + 1] = (c >>> 8) & 0xff;
  buf[i + 2] = (c >>> 16) & 0xff;
  buf[i + 3] = c >>> 24;
}

/** Whether the stored CRC32c matches. */
export function sctpVerifyChecksum(buf: Uint8Array, off: number, len: number): boolean {
  if (len < SCTP_HEADER_LEN) return false;
  const i = off + SCTP_OFF.CHECKSUM;
  const stored = (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24)) >>> 0;
  return stored === sctpChecksum(buf, off, len);
}

/**
 * Re-targetable chunk iterator over `buf[start..end)`: `next()` advances to the next chunk and
 * returns true, false at the end, or a WireError for a malformed length. No allocation.
 */
export class SctpChunkIter {
  buf!: Uint8Array;
  /** Absolute offset of the current chunk. */
  off = 0;
  end = 0;
  private nextOff = 0;

  constructor(buf: Uint8Array, start = 0, end = buf.length) {
    this.reset(buf, start, end);
  }

  reset(buf: Uint8Array, start = 0, end = buf.length): this {
    this.buf = buf;
    this.off = start;
    this.nextOff = start;
    this.end = end;
    return this;
  }

  /** Iterate the chunks of a checked packet. */
  static of(p: SctpPacket): SctpChunkIter {
    return new SctpChunkIter(p.buf, p.off + SCTP_HEADER_LEN, p.off + p.len);
  }

  next(): boolean | WireError {
    const i = this.nextOff;
    if (i >= this.end) return false;
    if (this.end - i < SCTP_CHUNK_HEADER_LEN) return new WireError('truncated', `${this.end - i} bytes after the last chunk`);
    const clen = readU16(this.buf, i + 2);
    if (clen < SCTP_CHUNK_HEADER_LEN) return new WireError('bad-chunk', `chunk length ${clen}`);
    if (i + clen > this.end) return new WireError('bad-length', `chunk length ${clen} > ${this.end - i} bytes left`);
    this.off = i;
    // The pad after the last chunk may be missing (tolerated); inside the packet it is skipped.
    this.nextOff = Math.min(i + sctpPad4(clen), this.end);
    return true;
  }

  /** Current chunk type. */
  get type(): number {
    return this.buf[this.off];
  }
  /** Current chunk flags. */
  get flags(): number {
    return this.buf[this.off + 1];
  }
  /** Current chunk length (without padding). */
  get length(): number {
    return readU16(this.buf, this.off + 2);
  }
  /** Current chunk value (a view; chunk header excluded, padding excluded). */
  get value(): Uint8Array {
    return this.buf.subarray(this.off + SCTP_CHUNK_HEADER_LEN, this.off + readU16(this.buf, this.off + 2));
  }
}

// ---------------------------------------------------------------------------------------------
// Parsing

/** Parse a TLV list (parameters or error causes) in `buf[start..end)`. */
function parseTlvs(buf: Uint8Array, start: number, end: number, what: string, out: (type: number, value: Uint8Array, whole: Uint8Array) => WireError | null): WireError | null {
  let i = start;
  while (i < end) {
    if (end - i < 4) return new WireError('bad-chunk', `${end - i} stray bytes in ${what}`);
    const type = readU16(buf, i);
    const len = readU16(buf, i + 2);
    if (len < 4) return new WireError('bad-chunk', `${what} type ${type} length ${len}`);
    if (i + len > end) return new WireError('bad-chunk', `${what} type ${type} length ${len} overruns the chunk`);
    const e = out(type, buf.subarray(i + 4, i + len), buf.subarray(i, i + len));
    if (e) return e;
    i += sctpPad4(len);
  }
  return null;
}

function parseParam(type: number, v: Uint8Array, whole: Uint8Array): SctpParam | WireError {
  switch (type) {
    case SctpParamType.IPV4:
      if (v.length !== 4) return new WireError('bad-chunk', `IPv4 address parameter length ${v.length + 4}`);
      return { kind: 'ipv4', addr: readU32(v, 0) };
    case SctpParamType.STATE_COOKIE:
      return { kind: 'cookie', cookie: v };
    case SctpParamType.UNRECOGNIZED:
      return { kind: 'unrecognized', param: v };
    case SctpParamType.COOKIE_PRESERVATIVE:
      if (v.length !== 4) return new WireError('bad-chunk', `cookie preservative length ${v.length + 4}`);
      return { kind: 'cookie-preservative', increment: readU32(v, 0) };
    case SctpParamType.SUPPORTED_ADDRESS_TYPES: {
      if (v.length % 2 !== 0) return new WireError('bad-chunk', 'odd supported address types length');
      const types: number[] = [];
      for (let i = 0; i < v.length; i += 2) types.push(readU16(v, i));
      return { kind: 'supported-address-types', types };
    }
    case SctpParamType.SUPPORTED_EXTENSIONS:
      return { kind: 'supported-extensions', chunkTypes: Array.from(v) };
    case SctpParamType.HEARTBEAT_INFO:
      return { kind: 'heartbeat-info', info: v };
    default:
      void whole;
      return { kind: 'unknown', type, value: v };
  }
}

function parseCauses(buf: Uint8Array, start: number, end: number): SctpErrorCause[] | WireError {
  const causes: SctpErrorCause[] = [];
  const e = parseTlvs(buf, start, end, 'error cause', (code, info) => {
    causes.push({ code, info });
    return null;
  });
  return e ?? causes;
}

/**
 * Parse one chunk whose header starts at `buf[off]` and whose length field has been checked to
 * fit (as `SctpChunkIter.next()` does).
 */
export function parseSctpChunk(buf: Uint8Array, off: number): SctpChunk | WireError {
  if (off < 0 || off + SCTP_CHUNK_HEADER_LEN > buf.length) return new WireError('truncated', 'chunk header');
  const type = buf[off];
  const flags = buf[off + 1];
  const len = readU16(buf, off + 2);
  if (len < SCTP_CHUNK_HEADER_LEN) return new WireError('bad-chunk', `chunk length ${len}`);
  if (off + len > buf.length) return new WireError('bad-length', `chunk length ${len} overruns the packet`);
  const v = off + SCTP_CHUNK_HEADER_LEN;
  const end = off + len;
  const need = (n: number, name: string): WireError | null =>
    len < n ? new WireError('bad-chunk', `${name} chunk length ${len} < ${n}`) : null;
  const exactly = (n: number, name: string): WireError | null =>
    len !== n ? new WireError('bad-chunk', `${name} chunk length ${len} != ${n}`) : null;
  switch (type) {
    case SctpChunkType.DATA: {
      const e = need(SCTP_DATA_HEADER_LEN, 'DATA');
      if (e) return e;
      return {
        kind: 'data',
        unordered: (flags & SCTP_DATA_FLAG_U) !== 0,
        beginning: (flags & SCTP_DATA_FLAG_B) !== 0,
        ending: (flags & SCTP_DATA_FLAG_E) !== 0,
        immediate: (flags & SCTP_DATA_FLAG_I) !== 0,
        tsn: readU32(buf, v),
        streamId: readU16(buf, v + 4),
        ssn: readU16(buf, v + 6),
        ppid: readU32(buf, v + 8),
        data: buf.subarray(v + 12, end),
      };
    }
    case SctpChunkType.INIT:
    case SctpChunkType.INIT_ACK: {
      const name = type === SctpChunkType.INIT ? 'INIT' : 'INIT ACK';
      const e = need(20, name);
      if (e) return e;
      const params: SctpParam[] = [];
      const pe = parseTlvs(buf, v + 16, end, `${name} parameter`, (t, pv, whole) => {
        const p = parseParam(t, pv, whole);
        if (p instanceof WireError) return p;
        params.push(p);
        return null;
      });
      if (pe) return pe;
      return {
        kind: type === SctpChunkType.INIT ? 'init' : 'init-ack',
        initiateTag: readU32(buf, v),
        aRwnd: readU32(buf, v + 4),
        outboundStreams: readU16(buf, v + 8),
        inboundStreams: readU16(buf, v + 10),
        initialTsn: readU32(buf, v + 12),
        params,
      };
    }
    case SctpChunkType.SACK: {
      const e = need(16, 'SACK');
      if (e) return e;
      const nGaps = readU16(buf, v + 8);
      const nDups = readU16(buf, v + 10);
      if (len !== 16 + 4 * nGaps + 4 * nDups) {
        return new WireError('bad-chunk', `SACK length ${len} for ${nGaps} gap blocks and ${nDups} duplicates`);
      }
      const gaps: Array<[number, number]> = [];
      let i = v + 12;
      for (let k = 0; k < nGaps; k++, i += 4) gaps.push([readU16(buf, i), readU16(buf, i + 2)]);
      const dupTsns: number[] = [];
      for (let k = 0; k < nDups; k++, i += 4) dupTsns.push(readU32(buf, i));
      return { kind: 'sack', cumTsnAck: readU32(buf, v), aRwnd: readU32(buf, v + 4), gaps, dupTsns };
    }
    case SctpChunkType.HEARTBEAT:
    case SctpChunkType.HEARTBEAT_ACK: {
      const name = type === SctpChunkType.HEARTBEAT ? 'HEARTBEAT' : 'HEARTBEAT ACK';
      const e = need(8, name);
      if (e) return e;
      let info: Uint8Array | null = null;
      const pe = parseTlvs(buf, v, end, `${name} parameter`, (t, pv) => {
        if (t === SctpParamType.HEARTBEAT_INFO && info === null) info = pv;
        return null;
      });
      if (pe) return pe;
      if (info === null) return new WireError('bad-chunk', `${name} without heartbeat info`);
      return { kind: type === SctpChunkType.HEARTBEAT ? 'heartbeat' : 'heartbeat-ack', info };
    }
    case SctpChunkType.ABORT:
    case SctpChunkType.ERROR: {
      const causes = parseCauses(buf, v, end);
      if (causes instanceof WireError) return causes;
      return type === SctpChunkType.ABORT ? { kind: 'abort', tBit: (flags & SCTP_FLAG_T) !== 0, causes } : { kind: 'error', causes };
    }
    case SctpChunkType.SHUTDOWN: {
      const e = exactly(8, 'SHUTDOWN');
      if (e) return e;
      return { kind: 'shutdown', cumTsnAck: readU32(buf, v) };
    }
    case SctpChunkType.SHUTDOWN_ACK: {
      const e = exactly(4, 'SHUTDOWN ACK');
      return e ?? { kind: 'shutdown-ack' };
    }
    case SctpChunkType.SHUTDOWN_COMPLETE: {
      const e = exactly(4, 'SHUTDOWN COMPLETE');
      return e ?? { kind: 'shutdown-complete', tBit: (flags & SCTP_FLAG_T) !== 0 };
    }
    case SctpChunkType.COOKIE_ECHO:
      return { kind: 'cookie-echo', cookie: buf.subarray(v, end) };
    case SctpChunkType.COOKIE_ACK: {
      const e = exactly(4, 'COOKIE ACK');
      return e ?? { kind: 'cookie-ack' };
    }
    default:
      return { kind: 'unknown', type, flags, value: buf.subarray(v, end) };
  }
}

/**
 * Parse a whole SCTP packet (`buf` is the SCTP header onwards). Checks the checksum (unless told
 * not to), every chunk length, and the RFC 9260 §6.10 bundling rule that INIT, INIT ACK and
 * SHUTDOWN COMPLETE travel alone.
 */
export function parseSctp(buf: Uint8Array, opts?: SctpParseOptions): SctpRepr | WireError {
  const p = new SctpPacket(buf);
  const e = p.check();
  if (e) return e;
  if (opts?.verifyChecksum !== false && !p.verifyChecksum()) return new WireError('bad-checksum', 'SCTP CRC32c');
  const chunks: SctpChunk[] = [];
  const it = SctpChunkIter.of(p);
  for (;;) {
    const r = it.next();
    if (r instanceof WireError) return r;
    if (!r) break;
    const c = parseSctpChunk(buf, it.off);
    if (c instanceof WireError) return c;
    chunks.push(c);
  }
  if (chunks.length > 1) {
    for (const c of chunks) {
      if (c.kind === 'init' || c.kind === 'init-ack' || c.kind === 'shutdown-complete') {
        return new WireError('bad-chunk', `${c.kind} bundled with other chunks`);
      }
    }
  }
  return { srcPort: p.srcPort, dstPort: p.dstPort, verificationTag: p.verificationTag, chunks };
}

// ---------------------------------------------------------------------------------------------
// Emitting

function paramLength(p: SctpParam): number {
  switch (p.kind) {
    case 'ipv4':
    case 'cookie-preservative':
      return 8;
    case 'cookie':
      return 4 + p.cookie.length;
    case 'unrecognized':
      return 4 + p.param.length;
    case 'supported-address-types':
      return 4 + 2 * p.types.length;
    case 'supported-extensions':
      return 4 + p.chunkTypes.length;
    case 'heartbeat-info':
      return 4 + p.info.length;
    case 'unknown':
      return 4 + p.value.length;
  }
}

function paramType(p: SctpParam): number {
  switch (p.kind) {
    case 'ipv4':
      return SctpParamType.IPV4;
    case 'cookie':
      return SctpParamType.STATE_COOKIE;
    case 'unrecognized':
      return SctpParamType.UNRECOGNIZED;
    case 'cookie-preservative':
      return SctpParamType.COOKIE_PRESERVATIVE;
    case 'supported-address-types':
      return SctpParamType.SUPPORTED_ADDRESS_TYPES;
    case 'supported-extensions':
      return SctpParamType.SUPPORTED_EXTENSIONS;
    case 'heartbeat-info':
      return SctpParamType.HEARTBEAT_INFO;
    case 'unknown':
      return p.type;
  }
}

/** Write one parameter TLV and its zero padding; returns the padded length. */
export function emitSctpParam(p: SctpParam, buf: Uint8Array, off: number): number {
  const len = paramLength(p);
  const plen = sctpPad4(len);
  ensureRoom(buf, off, plen, 'emitSctpParam');
  writeU16(buf, off, paramType(p));
  writeU16(buf, off + 2, len);
  const v = off + 4;
  switch (p.kind) {
    case 'ipv4':
      writeU32(buf, v, p.addr);
      break;
    case 'cookie-preservative':
      writeU32(buf, v, p.increment);
      break;
    case 'cookie':
      buf.set(p.cookie, v);
      break;
    case 'unrecognized':
      buf.set(p.param, v);
      break;
    case 'supported-address-types':
      for (let i = 0; i < p.types.length; i++) writeU16(buf, v + 2 * i, p.types[i]);
      break;
    case 'supported-extensions':
      for (let i = 0; i < p.chunkTypes.length; i++) buf[v + i] = p.chunkTypes[i];
      break;
    case 'heartbeat-info':
      buf.set(p.info, v);
      break;
    case 'unknown':
      buf.set(p.value, v);
      break;
  }
  buf.fill(0, off + len, off + plen);
  return plen;
}

function causesLength(causes: SctpErrorCause[]): number {
  let n = 0;
  for (let i = 0; i < causes.length; i++) n += i === causes.length - 1 ? 4 + causes[i].info.length : sctpPad4(4 + causes[i].info.length);
  return n;
}

function paramsLength(params: SctpParam[]): number {
  let n = 0;
  for (let i = 0; i < params.length; i++) n += i === params.length - 1 ? paramLength(params[i]) : sctpPad4(paramLength(params[i]));
  return n;
}

/** The chunk's length field value (without the final padding). */
export function sctpChunkLength(c: SctpChunk): number {
  switch (c.kind) {
    case 'data':
      return SCTP_DATA_HEADER_LEN + c.data.length;
    case 'init':
    case 'init-ack':
      return 20 + paramsLength(c.params);
    case 'sack':
      return 16 + 4 * c.gaps.length + 4 * c.dupTsns.length;
    case 'heartbeat':
    case 'heartbeat-ack':
      return 8 + c.info.length;
    case 'abort':
    case 'error':
      return 4 + causesLength(c.causes);
    case 'shutdown':
      return 8;
    case 'shutdown-ack':
    case 'shutdown-complete':
    case 'cookie-ack':
      return 4;
    case 'cookie-echo':
      return 4 + c.cookie.length;
    case 'unknown':
      return 4 + c.value.length;
  }
}

const CHUNK_TYPE: Record<Exclude<SctpChunk['kind'], 'unknown'>, number> = {
  data: SctpChunkType.DATA,
  init: SctpChunkType.INIT,
  'init-ack': SctpChunkType.INIT_ACK,
  sack: SctpChunkType.SACK,
  heartbeat: SctpChunkType.HEARTBEAT,
  'heartbeat-ack': SctpChunkType.HEARTBEAT_ACK,
  abort: SctpChunkType.ABORT,
  shutdown: SctpChunkType.SHUTDOWN,
  'shutdown-ack': SctpChunkType.SHUTDOWN_ACK,
  error: SctpChunkType.ERROR,
  'cookie-echo': SctpChunkType.COOKIE_ECHO,
  'cookie-ack': SctpChunkType.COOKIE_ACK,
  'shutdown-complete': SctpChunkType.SHUTDOWN_COMPLETE,
};

/**
 * Write one chunk and its zero padding at `buf[off..]`; returns the padded length. Throws a
 * RangeError when the chunk cannot be encoded (programming error, not wire input).
 */
export function emitSctpChunk(c: SctpChunk, buf: Uint8Array, off: number): number {
  const len = sctpChunkLength(c);
  if (len > 0xffff) throw new RangeError(`emitSctpChunk: ${c.kind} chunk of ${len} bytes`);
  const plen = sctpPad4(len);
  ensureRoom(buf, off, plen, 'emitSctpChunk');
  let flags = 0;
  const v = off + 4;
  switch (c.kind) {
    case 'data':
      flags =
        (c.unordered ? SCTP_DATA_FLAG_U : 0) |
        (c.beginning ? SCTP_DATA_FLAG_B : 0) |
        (c.ending ? SCTP_DATA_FLAG_E : 0) |
        (c.immediate ? SCTP_DATA_FLAG_I : 0);
      writeU32(buf, v, c.tsn);
      writeU16(buf, v + 4, c.streamId);
      writeU16(buf, v + 6, c.ssn);
      writeU32(buf, v + 8, c.ppid);
      buf.set(c.data, v + 12);
      break;
    case 'init':
    case 'init-ack': {
      writeU32(buf, v, c.initiateTag);
      writeU32(buf, v + 4, c.aRwnd);
      writeU16(buf, v + 8, c.outboundStreams);
      writeU16(buf, v + 10, c.inboundStreams);
      writeU32(buf, v + 12, c.initialTsn);
      let i = v + 16;
      for (const p of c.params) i += emitSctpParam(p, buf, i);
      break;
    }
    case 'sack': {
      writeU32(buf, v, c.cumTsnAck);
      writeU32(buf, v + 4, c.aRwnd);
      writeU16(buf, v + 8, c.gaps.length);
      writeU16(buf, v + 10, c.dupTsns.length);
      let i = v + 12;
      for (const [s, e] of c.gaps) {
        writeU16(buf, i, s);
        writeU16(buf, i + 2, e);
        i += 4;
      }
      for (const d of c.dupTsns) {
        writeU32(buf, i, d);
        i += 4;
      }
      break;
    }
    case 'heartbeat':
    case 'heartbeat-ack':
      emitSctpParam({ kind: 'heartbeat-info', info: c.info }, buf, v);
      break;
    case 'abort':
    case 'error': {
      if (c.kind === 'abort' && c.tBit) flags = SCTP_FLAG_T;
      let i = v;
      for (const cause of c.causes) {
        const clen = 4 + cause.info.length;
        ensureRoom(buf, i, sctpPad4(clen), 'emitSctpChunk cause');
        writeU16(buf, i, cause.code);
        writeU16(buf, i + 2, clen);
        buf.set(cause.info, i + 4);
        buf.fill(0, i + clen, i + sctpPad4(clen));
        i += sctpPad4(clen);
      }
      break;
    }
    case 'shutdown':
      writeU32(buf, v, c.cumTsnAck);
      break;
    case 'shutdown-complete':
      if (c.tBit) flags = SCTP_FLAG_T;
      break;
    case 'cookie-echo':
      buf.set(c.cookie, v);
      break;
    case 'shutdown-ack':
    case 'cookie-ack':
      break;
    case 'unknown':
      flags = c.flags;
      buf.set(c.value, v);
      break;
  }
  buf[off] = c.kind === 'unknown' ? c.type : CHUNK_TYPE[c.kind];
  buf[off + 1] = flags;
  writeU16(buf, off + 2, len);
  buf.fill(0, off + len, off + plen);
  return plen;
}

/** Total bytes `emitSctp` writes for `repr` (header + padded chunks). */
export function sctpPacketLength(repr: SctpRepr): number {
  let n = SCTP_HEADER_LEN;
  for (const c of repr.chunks) n += sctpPad4(sctpChunkLength(c));
  return n;
}

/** Write the common header (checksum zero) at `buf[off..]`. */
export function emitSctpHeader(srcPort: number, dstPort: number, vtag: number, buf: Uint8Array, off = 0): void {
  ensureRoom(buf, off, SCTP_HEADER_LEN, 'emitSctpHeader');
  writeU16(buf, off + SCTP_OFF.SRC_PORT, srcPort);
  writeU16(buf, off + SCTP_OFF.DST_PORT, dstPort);
  writeU32(buf, off + SCTP_OFF.VTAG, vtag);
  writeU32(buf, off + SCTP_OFF.CHECKSUM, 0);
}

/**
 * Write a whole packet at `buf[off..]` and fill the CRC32c (unless `checksum: false`); returns
 * the number of bytes written.
 */
export function emitSctp(repr: SctpRepr, buf: Uint8Array, off = 0, opts?: { checksum?: boolean }): number {
  const total = sctpPacketLength(repr);
  ensureRoom(buf, off, total, 'emitSctp');
  emitSctpHeader(repr.srcPort, repr.dstPort, repr.verificationTag, buf, off);
  let i = off + SCTP_HEADER_LEN;
  for (const c of repr.chunks) i += emitSctpChunk(c, buf, i);
  if (opts?.checksum !== false) sctpFillChecksum(buf, off, total);
  return total;
}
