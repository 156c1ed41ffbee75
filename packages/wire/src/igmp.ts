/**
 * IGMPv2 (RFC 2236 §2): membership query, version 2 report, leave group, plus the version 1
 * report (RFC 1112 App. I) a v2 host must understand. The checksum covers the whole IGMP message
 * (the whole IP payload), and octets past the first 8 are ignored (RFC 2236 §2.5), which is also
 * how an IGMPv3 query (>= 12 octets, RFC 3376 §7.1) is read by a v2 host. IGMPv3 reports are
 * 'unsupported'.
 */
import { HeaderView } from './view.js';
import { readU16, readU32, writeU16, writeU32, ensureRoom } from './bytes.js';
import { checksum } from './checksum.js';
import { WireError } from './result.js';

/** Byte offsets of the IGMP fields. */
export const IGMP_OFF = { TYPE: 0, MAX_RESP: 1, CHECKSUM: 2, GROUP: 4 } as const;

/** Length of an IGMPv2 message. */
export const IGMP_LEN = 8;

/** IGMP message types. */
export const IgmpType = { QUERY: 0x11, V1_REPORT: 0x12, V2_REPORT: 0x16, LEAVE: 0x17, V3_REPORT: 0x22 } as const;

/** What an IGMP message means. */
export type IgmpKind = 'query' | 'report-v1' | 'report-v2' | 'leave';

/** The meaning of an IGMP message. */
export interface IgmpRepr {
  kind: IgmpKind;
  /**
   * Max response time in tenths of a second (queries; 0 in a query means an IGMPv1 router,
   * RFC 2236 §4). Reports and leaves carry 0.
   */
  maxRespTime: number;
  /** Group address; 0 in a general query. */
  group: number;
}

/** Parse options for IGMP. */
export interface IgmpParseOptions {
  /** Verify the checksum (default true). */
  verifyChecksum?: boolean;
}

const KIND_OF: Record<number, IgmpKind> = {
  [IgmpType.QUERY]: 'query',
  [IgmpType.V1_REPORT]: 'report-v1',
  [IgmpType.V2_REPORT]: 'report-v2',
  [IgmpType.LEAVE]: 'leave',
};
const TYPE_OF: Record<IgmpKind, number> = {
  query: IgmpType.QUERY,
  'report-v1': IgmpType.V1_REPORT,
  'report-v2': IgmpType.V2_REPORT,
  leave: IgmpType.LEAVE,
};

/** Zero-copy, re-targetable view of an IGMP message at `buf[offset .. offset+length)`. */
export class IgmpPacket extends HeaderView {
  /** Length check only: the 8-byte message fits. */
  check(): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < IGMP_LEN) return new WireError('truncated', `IGMP message of ${this.len} bytes`);
    return null;
  }

  /** Everything `parseIgmp` checks, without building a repr. */
  validate(opts?: IgmpParseOptions): WireError | null {
    const e = this.check();
    if (e) return e;
    if (opts?.verifyChecksum !== false && !this.verifyChecksum()) return new WireError('bad-checksum', 'IGMP checksum');
    const t = this.type;
    const g = this.group;
    if (t === IgmpType.QUERY) {
      // RFC 2236 §2.4: 0 for a general query, the group for a group-specific query.
      if (g !== 0 && g >>> 28 !== 0xe) return new WireError('bad-field', 'IGMP query for a non-multicast group');
      return null;
    }
    if (t === IgmpType.V1_REPORT || t === IgmpType.V2_REPORT || t === IgmpType.LEAVE) {
      if (g >>> 28 !== 0xe) return new WireError('bad-field', 'IGMP report/leave for a non-multicast group');
      return null;
    }
    return new WireError('unsupported', `IGMP type 0x${t.toString(16)}`);
  }

  /** Message type (IgmpType). */
  get type(): number {
    return this.buf[this.off + IGMP_OFF.TYPE];
  }
  set type(v: number) {
    this.buf[this.off + IGMP_OFF.TYPE] = v;
  }
  /** Max response time, tenths of a second. */
  get maxRespTime(): number {
    return this.buf[this.off + IGMP_OFF.MAX_RESP];
  }
  set maxRespTime(v: number) {
    this.buf[this.off + IGMP_OFF.MAX_RESP] = v;
  }
  /** Checksum field. */
  get checksum(): number {
    return readU16(this.buf, this.off + IGMP_OFF.CHECKSUM);
  }
  set checksum(v: number) {
    writeU16(this.buf, this.off + IGMP_OFF.CHECKSUM, v);
  }
  /** Group address. */
  get group(): number {
    return readU32(this.buf, this.off + IGMP_OFF.GROUP);
  }
  set group(v: number) {
    writeU32(this.buf, this.off + IGMP_OFF.GROUP, v);
  }
  /** The checksum over the whole message verifies. */
  verifyChecksum(): boolean {
    return checksum(this.buf, this.off, this.off + this.len) === 0;
  }
  /** Recompute and store the checksum over the whole message. */
  fillChecksum(): void {
    writeU16(this.buf, this.off + IGMP_OFF.CHECKSUM, 0);
    writeU16(this.buf, this.off + IGMP_OFF.CHECKSUM, checksum(this.buf, this.off, this.off + this.len));
  }
}

/** Parse and validate an IGMP message (`buf` is the whole IP payload). */
export function parseIgmp(buf: Uint8Array, opts?: IgmpParseOptions): IgmpRepr | WireError {
  const p = new IgmpPacket(buf);
  const e = p.validate(opts);
  if (e) return e;
  return { kind: KIND_OF[p.type], maxRespTime: p.maxRespTime, group: p.group };
}

/** Write an 8-byte IGMP message (checksum filled) at `buf[offset..]`; returns 8. */
export function emitIgmp(repr: IgmpRepr, buf: Uint8Array, offset = 0): number {
  const type = TYPE_OF[repr.kind];
  if (type === undefined) throw new RangeError(`emitIgmp: unknown kind ${String(repr.kind)}`);
  ensureRoom(buf, offset, IGMP_LEN, 'emitIgmp');
  buf[offset + IGMP_OFF.TYPE] = type;
  buf[offset + IGMP_OFF.MAX_RESP] = repr.maxRespTime;
  writeU16(buf, offset + IGMP_OFF.CHECKSUM, 0);
  writeU32(buf, offset + IGMP_OFF.GROUP, repr.group);
  writeU16(buf, offset + IGMP_OFF.CHECKSUM, checksum(buf, offset, offset + IGMP_LEN));
  return IGMP_LEN;
}

/** The IPv4 Router Alert option (RFC 2113) IGMP messages carry (RFC 2236 §2). Never write into it. */
export const IPV4_ROUTER_ALERT: Uint8Array = new Uint8Array([0x94, 0x04, 0x00, 0x00]);
