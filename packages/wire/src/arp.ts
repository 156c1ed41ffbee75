/**
 * ARP (RFC 826) for Ethernet and IPv4 only: hardware type 1, protocol type 0x0800, hardware
 * length 6, protocol length 4. Other hardware/protocol types are 'unsupported'; an Ethernet/IPv4
 * packet with wrong address lengths is 'bad-field'; opcodes other than request/reply
 * (RARP, InARP) are 'unsupported'.
 */
import { HeaderView } from './view.js';
import { readU16, readU32, writeU16, writeU32, ensureRoom } from './bytes.js';
import { WireError } from './result.js';

/** Byte offsets of the ARP fields (Ethernet/IPv4 layout). */
export const ARP_OFF = { HTYPE: 0, PTYPE: 2, HLEN: 4, PLEN: 5, OPER: 6, SHA: 8, SPA: 14, THA: 18, TPA: 24 } as const;

/** Length of an Ethernet/IPv4 ARP packet. */
export const ARP_LEN = 28;

/** ARP hardware type for Ethernet. */
export const ARP_HTYPE_ETHERNET = 1;

/** ARP opcodes (RFC 826). */
export const ArpOp = { REQUEST: 1, REPLY: 2 } as const;
export type ArpOperation = 1 | 2;

/** The meaning of an ARP packet. MACs are copies, not views. */
export interface ArpRepr {
  op: ArpOperation;
  senderMac: Uint8Array;
  senderIp: number;
  /** All zero in a request (RFC 826 leaves it unspecified; we send zeros). */
  targetMac: Uint8Array;
  targetIp: number;
}

/** Zero-copy, re-targetable view of an ARP packet at `buf[offset .. offset+length)`. */
export class ArpPacket extends HeaderView {
  /** Length check only (28 bytes; trailing Ethernet padding allowed). */
  check(): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < ARP_LEN) return new WireError('truncated', `ARP packet of ${this.len} bytes`);
    return null;
  }

  /** Everything `parseArp` checks, without building a repr. */
  validate(): WireError | null {
    const e = this.check();
    if (e) return e;
    if (this.htype !== ARP_HTYPE_ETHERNET) return new WireError('unsupported', `ARP hardware type ${this.htype}`);
    if (this.ptype !== 0x0800) return new WireError('unsupported', `ARP protocol type 0x${this.ptype.toString(16)}`);
    if (this.hlen !== 6) return new WireError('bad-field', `ARP hardware length ${this.hlen}`);
    if (this.plen !== 4) return new WireError('bad-field', `ARP protocol length ${this.plen}`);
    const op = this.op;
    if (op !== ArpOp.REQUEST && op !== ArpOp.REPLY) return new WireError('unsupported', `ARP opcode ${op}`);
    return null;
  }

  get htype(): number {
    return readU16(this.buf, this.off + ARP_OFF.HTYPE);
  }
  set htype(v: number) {
    writeU16(this.buf, this.off + ARP_OFF.HTYPE, v);
  }
  get ptype(): number {
    return readU16(this.buf, this.off + ARP_OFF.PTYPE);
  }
  set ptype(v: number) {
    writeU16(this.buf, this.off + ARP_OFF.PTYPE, v);
  }
  get hlen(): number {
    return this.buf[this.off + ARP_OFF.HLEN];
  }
  set hlen(v: number) {
    this.buf[this.off + ARP_OFF.HLEN] = v;
  }
  get plen(): number {
    return this.buf[this.off + ARP_OFF.PLEN];
  }
  set plen(v: number) {
    this.buf[this.off + ARP_OFF.PLEN] = v;
  }
  /** Opcode (1 request, 2 reply). */
  get op(): number {
    return readU16(this.buf, this.off + ARP_OFF.OPER);
  }
  set op(v: number) {
    writeU16(this.buf, this.off + ARP_OFF.OPER, v);
  }
  /** Sender hardware address (subarray view). */
  get senderMac(): Uint8Array {
    return this.buf.subarray(this.off + ARP_OFF.SHA, this.off + ARP_OFF.SHA + 6);
  }
  set senderMac(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), this.off + ARP_OFF.SHA);
  }
  /** Absolute offset of the sender MAC in `buf`. */
  get senderMacOffset(): number {
    return this.off + ARP_OFF.SHA;
  }
  /** Sender protocol (IPv4) address. */
  get senderIp(): number {
    return readU32(this.buf, this.off + ARP_OFF.SPA);
  }
  set senderIp(v: number) {
    writeU32(this.buf, this.off + ARP_OFF.SPA, v);
  }
  /** Target hardware address (subarray view). */
  get targetMac(): Uint8Array {
    return this.buf.subarray(this.off + ARP_OFF.THA, this.off + ARP_OFF.THA + 6);
  }
  set targetMac(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), this.off + ARP_OFF.THA);
  }
  /** Absolute offset of the target MAC in `buf`. */
  get targetMacOffset(): number {
    return this.off + ARP_OFF.THA;
  }
  /** Target protocol (IPv4) address. */
  get targetIp(): number {
    return readU32(this.buf, this.off + ARP_OFF.TPA);
  }
  set targetIp(v: number) {
    writeU32(this.buf, this.off + ARP_OFF.TPA, v);
  }
}

/** Parse an Ethernet/IPv4 ARP packet (trailing padding ignored). */
export function parseArp(buf: Uint8Array): ArpRepr | WireError {
  const p = new ArpPacket(buf);
  const e = p.validate();
  if (e) return e;
  return {
    op: p.op as ArpOperation,
    senderMac: buf.slice(ARP_OFF.SHA, ARP_OFF.SHA + 6),
    senderIp: p.senderIp,
    targetMac: buf.slice(ARP_OFF.THA, ARP_OFF.THA + 6),
    targetIp: p.targetIp,
  };
}

/** Write a 28-byte ARP packet at `buf[offset..]`; returns 28. */
export function emitArp(repr: ArpRepr, buf: Uint8Array, offset = 0): number {
  ensureRoom(buf, offset, ARP_LEN, 'emitArp');
  if (repr.senderMac.length !== 6 || repr.targetMac.length !== 6) throw new RangeError('emitArp: MACs must be 6 bytes');
  writeU16(buf, offset + ARP_OFF.HTYPE, ARP_HTYPE_ETHERNET);
  writeU16(buf, offset + ARP_OFF.PTYPE, 0x0800);
  buf[offset + ARP_OFF.HLEN] = 6;
  buf[offset + ARP_OFF.PLEN] = 4;
  writeU16(buf, offset + ARP_OFF.OPER, repr.op);
  buf.set(repr.senderMac, offset + ARP_OFF.SHA);
  writeU32(buf, offset + ARP_OFF.SPA, repr.senderIp);
  buf.set(repr.targetMac, offset + ARP_OFF.THA);
  writeU32(buf, offset + ARP_OFF.TPA, repr.targetIp);
  return ARP_LEN;
}
