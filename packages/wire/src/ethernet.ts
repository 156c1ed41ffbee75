/**
 * Ethernet II framing (IEEE 802.3 / DIX): destination MAC, source MAC, EtherType.
 * No FCS (links hand us frames without it), no VLAN tags: an 802.1Q/802.1ad tagged frame and
 * an 802.3 length-field frame are reported as 'unsupported' rather than mis-parsed.
 */
import { HeaderView } from './view.js';
import { readU16, writeU16, ensureRoom } from './bytes.js';
import { WireError } from './result.js';

/** Byte offsets of the Ethernet II header fields. */
export const ETH_OFF = { DST: 0, SRC: 6, ETHERTYPE: 12, PAYLOAD: 14 } as const;

/** Length of the Ethernet II header. */
export const ETH_HEADER_LEN = 14;

/** Minimum frame length without FCS (60): shorter frames are padded by the sender. */
export const ETH_MIN_FRAME = 60;

/** EtherType values hastack knows about. */
export const EtherType = {
  IPV4: 0x0800,
  ARP: 0x0806,
  VLAN: 0x8100,
  QINQ: 0x88a8,
  IPV6: 0x86dd,
} as const;

/** Values < 0x0600 are an IEEE 802.3 length, not an EtherType. */
const ETHERTYPE_MIN = 0x0600;

/** The meaning of an Ethernet II header. MACs are copies, not views. */
export interface EthernetRepr {
  dst: Uint8Array;
  src: Uint8Array;
  ethertype: number;
}

/**
 * Zero-copy view of an Ethernet frame at `buf[offset .. offset+length)`. Re-target it with
 * `reset()` to reuse one instance per frame. Accessors do not allocate except `dst`, `src`
 * and `payload`, which return subarrays.
 */
export class EthernetPacket extends HeaderView {
  /** Length check only: null when the header fits in the view and the view fits in `buf`. */
  check(): WireError | null {
    const w = this.windowError();
    if (w) return w;
    if (this.len < ETH_HEADER_LEN) return new WireError('truncated', `ethernet frame of ${this.len} bytes`);
    return null;
  }

  /** Everything `parseEthernet` checks, without building a repr. */
  validate(): WireError | null {
    const e = this.check();
    if (e) return e;
    const t = this.ethertype;
    if (t === EtherType.VLAN || t === EtherType.QINQ || t === 0x9100) return new WireError('unsupported', `VLAN tag 0x${t.toString(16)}`);
    if (t < ETHERTYPE_MIN) return new WireError('unsupported', `802.3 length field ${t}`);
    return null;
  }

  /** Destination MAC (a subarray view). */
  get dst(): Uint8Array {
    return this.buf.subarray(this.off + ETH_OFF.DST, this.off + ETH_OFF.DST + 6);
  }
  set dst(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), this.off + ETH_OFF.DST);
  }

  /** Source MAC (a subarray view). */
  get src(): Uint8Array {
    return this.buf.subarray(this.off + ETH_OFF.SRC, this.off + ETH_OFF.SRC + 6);
  }
  set src(mac: Uint8Array) {
    this.buf.set(mac.subarray(0, 6), this.off + ETH_OFF.SRC);
  }

  /** Absolute offset of the destination MAC in `buf` (for macEquals and friends, no allocation). */
  get dstOffset(): number {
    return this.off + ETH_OFF.DST;
  }

  /** Absolute offset of the source MAC in `buf`. */
  get srcOffset(): number {
    return this.off + ETH_OFF.SRC;
  }

  /** The I/G bit of the destination: multicast or broadcast. */
  get isMulticastDst(): boolean {
    return (this.buf[this.off] & 1) === 1;
  }

  /** EtherType. */
  get ethertype(): number {
    return readU16(this.buf, this.off + ETH_OFF.ETHERTYPE);
  }
  set ethertype(v: number) {
    writeU16(this.buf, this.off + ETH_OFF.ETHERTYPE, v);
  }

  /** Absolute offset of the payload in `buf`. */
  get payloadOffset(): number {
    return this.off + ETH_HEADER_LEN;
  }

  /** Payload length (may include trailing padding of short frames). */
  get payloadLength(): number {
    return this.len - ETH_HEADER_LEN;
  }

  /** Payload (a subarray view). */
  get payload(): Uint8Array {
    return this.buf.subarray(this.off + ETH_HEADER_LEN, this.off + this.len);
  }
}

/** Parse an Ethernet II header. The payload starts at `ETH_HEADER_LEN`. */
export function parseEthernet(buf: Uint8Array): EthernetRepr | WireError {
  const p = new EthernetPacket(buf);
  const e = p.validate();
  if (e) return e;
  return {
    dst: buf.slice(ETH_OFF.DST, ETH_OFF.DST + 6),
    src: buf.slice(ETH_OFF.SRC, ETH_OFF.SRC + 6),
    ethertype: p.ethertype,
  };
}

/** Write the 14-byte Ethernet II header at `buf[offset..]`; returns 14. */
export function emitEthernet(repr: EthernetRepr, buf: Uint8Array, offset = 0): number {
  ensureRoom(buf, offset, ETH_HEADER_LEN, 'emitEthernet');
  if (repr.dst.length !== 6 || repr.src.length !== 6) throw new RangeError('emitEthernet: MACs must be 6 bytes');
  buf.set(repr.dst, offset + ETH_OFF.DST);
  buf.set(repr.src, offset + ETH_OFF.SRC);
  writeU16(buf, offset + ETH_OFF.ETHERTYPE, repr.ethertype);
  return ETH_HEADER_LEN;
}
