import { describe, expect, it } from 'vitest';
import {
  decodeVnetHdr,
  emptyVnetHdr,
  encodeVnetHdr,
  fillTxVnetHdr,
  ipv4Offset,
  seedPseudoHeaderSum,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VNET_HDR_LEN,
} from '../src/vnet.js';

// An Ethernet + IPv4 (20) + TCP (20) frame with `n` payload bytes, 10.0.0.1 -> 10.0.0.2.
function tcpFrame(n: number): Uint8Array {
  const f = new Uint8Array(54 + n);
  f[12] = 0x08;
  f[14] = 0x45;
  const tot = 40 + n;
  f[16] = tot >> 8;
  f[17] = tot & 255;
  f[22] = 64;
  f[23] = 6;
  f.set([10, 0, 0, 1, 10, 0, 0, 2], 26);
  f[46] = 5 << 4;
  return f;
}

describe('virtio-net header', () => {
  it('encodes the 12-byte little-endian layout field by field', () => {
    const b = new Uint8Array(14).fill(0xaa);
    encodeVnetHdr(b, 1, { flags: 1, gsoType: 1, hdrLen: 0x0136, gsoSize: 0x05a8, csumStart: 0x0022, csumOffset: 0x0010 });
    expect(Array.from(b)).toEqual([0xaa, 1, 1, 0x36, 0x01, 0xa8, 0x05, 0x22, 0x00, 0x10, 0x00, 0, 0, 0xaa]);
    expect(VNET_HDR_LEN).toBe(12);
  });

  it('decodes what it encodes (round trip) and reuses the out object', () => {
    const h = { flags: 2, gsoType: 0x81, hdrLen: 66, gsoSize: 65000, csumStart: 34, csumOffset: 16 };
    const b = new Uint8Array(12);
    encodeVnetHdr(b, 0, h);
    const out = emptyVnetHdr();
    expect(decodeVnetHdr(b, 0, out)).toBe(out);
    expect(out).toEqual(h);
  });

  it('decodes a header captured from the kernel (GSO TCPv4, NEEDS_CSUM)', () => {
    // flags=1 gso=1 hdr_len=66 gso_size=1448 csum_start=34 csum_offset=16
    const b = Uint8Array.from([1, 1, 66, 0, 0xa8, 0x05, 34, 0, 16, 0, 0, 0]);
    expect(decodeVnetHdr(b, 0)).toEqual({ flags: 1, gsoType: 1, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
  });
});

describe('transmit header helpers', () => {
  it('finds the IPv4 header on Ethernet and on bare IP, and rejects other frames', () => {
    const f = tcpFrame(10);
    expect(ipv4Offset(f, 14)).toBe(14);
    expect(ipv4Offset(f.subarray(14), 0)).toBe(0);
    const arp = new Uint8Array(42);
    arp[12] = 0x08;
    arp[13] = 0x06;
    expect(ipv4Offset(arp, 14)).toBe(-1);
    expect(ipv4Offset(new Uint8Array(10), 0)).toBe(-1);
  });

  it('seeds the pseudo-header sum (uncomplemented) into the checksum field', () => {
    const f = tcpFrame(4);
    expect(seedPseudoHeaderSum(f, 0, f.length, 14, 34, 16)).toBe(true);
    // 0x0a00+0x0001+0x0a00+0x0002+0x0006+len(24) = 0x1421
    expect((f[50] << 8) | f[51]).toBe(0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 24);
  });

  it('refuses to seed a field beyond the frame or a non-IPv4 frame', () => {
    const f = tcpFrame(0);
    expect(seedPseudoHeaderSum(f, 0, f.length, 14, 60, 16)).toBe(false);
    expect(seedPseudoHeaderSum(f, 0, f.length, -1, 34, 16)).toBe(false);
  });

  it('builds a GSO TCPv4 header for a super-segment, deriving csum_start and hdr_len', () => {
    const h = emptyVnetHdr();
    const f = tcpFrame(5000);
    expect(fillTxVnetHdr(h, f, 14, { gsoSize: 1448 }, true, true)).toBe(14);
    expect(h).toEqual({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
  });

  it('does not use GSO when the payload fits one segment, or TSO is off', () => {
    const h = emptyVnetHdr();
    fillTxVnetHdr(h, tcpFrame(1000), 14, { gsoSize: 1448, csumStart: 34, csumOffset: 16 }, true, true);
    expect(h.gsoType).toBe(0);
    expect(h.flags).toBe(VIRTIO_NET_HDR_F_NEEDS_CSUM);
    fillTxVnetHdr(h, tcpFrame(5000), 14, { gsoSize: 1448 }, true, false);
    expect(h).toEqual(emptyVnetHdr());
  });

  it('sets NEEDS_CSUM only with tx checksum offload on and a csumStart', () => {
    const h = emptyVnetHdr();
    expect(fillTxVnetHdr(h, tcpFrame(10), 14, { csumStart: 34, csumOffset: 16 }, false, false)).toBe(-1);
    expect(h.flags).toBe(0);
    expect(fillTxVnetHdr(h, tcpFrame(10), 14, undefined, true, true)).toBe(-1);
    expect(h.flags).toBe(0);
    fillTxVnetHdr(h, tcpFrame(10).subarray(14), 0, { csumStart: 20, csumOffset: 16 }, true, false);
    expect(h).toMatchObject({ flags: 1, csumStart: 20, csumOffset: 16, gsoType: 0 });
  });
});
