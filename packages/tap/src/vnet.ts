/**
 * The virtio-net header that prefixes every frame on a TUN/TAP fd opened with IFF_VNET_HDR
 * (virtio 1.x `struct virtio_net_hdr`, little-endian, Linux `include/uapi/linux/virtio_net.h`).
 *
 * We use the 12-byte layout (`virtio_net_hdr_v1` / `virtio_net_hdr_mrg_rxbuf`: the 10-byte header plus
 * `num_buffers`, which TAP ignores and we write as 0), set with TUNSETVNETHDRSZ.
 *
 *   off  size  field
 *   0    1     flags        NEEDS_CSUM (1): csum_start/csum_offset are meaningful, checksum is partial
 *                           DATA_VALID (2): the checksum was verified (receive only)
 *   1    1     gso_type     NONE 0, TCPV4 1, UDP 3, TCPV6 4, UDP_L4 5, | ECN 0x80
 *   2    2     hdr_len      bytes of link+IP+TCP headers in a GSO frame
 *   4    2     gso_size     payload bytes per segment (the MSS) of a GSO frame
 *   6    2     csum_start   where checksumming starts (the transport header), from the frame start
 *   8    2     csum_offset  where to store the checksum, from csum_start (16 for TCP, 6 for UDP)
 *   10   2     num_buffers  (12-byte layout only) 0
 *
 * This module is pure (no I/O): the encoder/decoder and the helpers that fill a header for a frame.
 */

export const VNET_HDR_LEN = 12;

export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;

export const VIRTIO_NET_HDR_GSO_NONE = 0;
export const VIRTIO_NET_HDR_GSO_TCPV4 = 1;
export const VIRTIO_NET_HDR_GSO_UDP = 3;
export const VIRTIO_NET_HDR_GSO_TCPV6 = 4;
export const VIRTIO_NET_HDR_GSO_UDP_L4 = 5;
export const VIRTIO_NET_HDR_GSO_ECN = 0x80;

/** TUNSETOFFLOAD flags (`include/uapi/linux/if_tun.h`): what we accept from the kernel. */
export const TUN_F_CSUM = 0x01;
export const TUN_F_TSO4 = 0x02;
export const TUN_F_TSO6 = 0x04;
export const TUN_F_TSO_ECN = 0x08;

/** The decoded meaning of a virtio-net header. */
export interface VnetHdr {
  flags: number;
  gsoType: number;
  hdrLen: number;
  gsoSize: number;
  csumStart: number;
  csumOffset: number;
}

/** A header with nothing set (plain frame). */
export function emptyVnetHdr(): VnetHdr {
  return { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
}

/** Writes `h` as a 12-byte header at `buf[off]`. Fields are 16-bit; out-of-range values are masked. */
export function encodeVnetHdr(buf: Uint8Array, off: number, h: VnetHdr): void {
  buf[off] = h.flags & 0xff;
  buf[off + 1] = h.gsoType & 0xff;
  put16le(buf, off + 2, h.hdrLen);
  put16le(buf, off + 4, h.gsoSize);
  put16le(buf, off + 6, h.csumStart);
  put16le(buf, off + 8, h.csumOffset);
  buf[off + 10] = 0;
  buf[off + 11] = 0;
}

/** Reads the header at `buf[off]` into `out` (reused by callers on hot paths) and returns it. */
export function decodeVnetHdr(buf: Uint8Array, off: number, out: VnetHdr = emptyVnetHdr()): VnetHdr {
  out.flags = buf[off];
  out.gsoType = buf[off + 1];
  out.hdrLen = get16le(buf, off + 2);
  out.gsoSize = get16le(buf, off + 4);
  out.csumStart = get16le(buf, off + 6);
  out.csumOffset = get16le(buf, off + 8);
  return out;
}

function put16le(b: Uint8Array, o: number, v: number): void {
  b[o] = v & 0xff;
  b[o + 1] = (v >>> 8) & 0xff;
}

function get16le(b: Uint8Array, o: number): number {
  return b[o] | (b[o + 1] << 8);
}

/**
 * Where the IPv4 header starts in a frame of the given medium, or -1 when the frame is not IPv4
 * (Ethernet type other than 0x0800, or an IP version other than 4).
 */
export function ipv4Offset(frame: Uint8Array, linkHdrLen: number): number {
  if (linkHdrLen === 14) {
    if (frame.length < 34 || frame[12] !== 0x08 || frame[13] !== 0x00) return -1;
  } else if (frame.length < 20) {
    return -1;
  }
  return (frame[linkHdrLen] >>> 4) === 4 ? linkHdrLen : -1;
}

/**
 * Seeds the transport checksum field of an IPv4 frame for checksum offload: with NEEDS_CSUM the
 * device sums the bytes from csum_start to the end *including the field* and stores the complement,
 * so the field must hold the folded (uncomplemented) pseudo-header sum (RFC 9293 §3.1, RFC 768):
 * source, destination, zero+protocol, transport length. For a GSO frame the length is that of the
 * whole super-segment; the kernel adjusts it per segment when it splits (tcp_gso_segment).
 * Offsets are relative to the frame, which starts at `buf[base]` and is `len` bytes long.
 * Returns false (and leaves the frame alone) when the frame is not IPv4 or the offsets do not fit.
 */
export function seedPseudoHeaderSum(buf: Uint8Array, base: number, len: number, ipOff: number, csumStart: number, csumOffset: number): boolean {
  const field = csumStart + csumOffset;
  if (ipOff < 0 || field + 2 > len) return false;
  const ip = base + ipOff;
  const ihl = (buf[ip] & 0x0f) * 4;
  const totalLen = (buf[ip + 2] << 8) | buf[ip + 3];
  const l4len = totalLen - ihl;
  if (ihl < 20 || l4len < 0 || ipOff + totalLen > len) return false;
  let sum = 0;
  for (let i = ip + 12; i < ip + 20; i += 2) sum += (buf[i] << 8) | buf[i + 1];
  sum += buf[ip + 9];
  sum += l4len;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  buf[base + field] = sum >>> 8;
  buf[base + field + 1] = sum & 0xff;
  return true;
}

/**
 * Fills `h` for a frame to be written to the device.
 * - `gsoSize` set and TSO on and the payload exceeds it: a TCPv4 GSO super-segment (hdr_len from
 *   the frame when not given), with NEEDS_CSUM over the TCP segment.
 * - else `csumStart` set and tx checksum on: NEEDS_CSUM with the given start/offset.
 * - else an empty header.
 * Derives `csumStart` from the IPv4 header when the caller asked for GSO without it. Returns the
 * IPv4 offset when the checksum field must be seeded with the pseudo-header sum, else -1.
 */
export function fillTxVnetHdr(
  h: VnetHdr,
  frame: Uint8Array,
  linkHdrLen: number,
  meta: { csumStart?: number; csumOffset?: number; gsoSize?: number; hdrLen?: number } | undefined,
  txChecksum: boolean,
  tso: boolean,
): number {
  h.flags = 0;
  h.gsoType = 0;
  h.hdrLen = 0;
  h.gsoSize = 0;
  h.csumStart = 0;
  h.csumOffset = 0;
  if (meta === undefined) return -1;
  const gso = meta.gsoSize;
  if (tso && gso !== undefined && gso > 0) {
    const ipOff = ipv4Offset(frame, linkHdrLen);
    if (ipOff >= 0 && frame[ipOff + 9] === 6) {
      const l4 = ipOff + (frame[ipOff] & 0x0f) * 4;
      if (l4 + 20 <= frame.length) {
        const hdrLen = meta.hdrLen ?? l4 + (frame[l4 + 12] >>> 4) * 4;
        if (frame.length - hdrLen > gso) {
          h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
          h.gsoType = VIRTIO_NET_HDR_GSO_TCPV4;
          h.gsoSize = gso;
          h.hdrLen = hdrLen;
          h.csumStart = l4;
          h.csumOffset = 16;
          return ipOff;
        }
      }
    }
  }
  if (txChecksum && meta.csumStart !== undefined && meta.csumOffset !== undefined) {
    h.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    h.csumStart = meta.csumStart;
    h.csumOffset = meta.csumOffset;
    return ipv4Offset(frame, linkHdrLen);
  }
  return -1;
}
