/** Behaviour every view class shares: windows into bigger buffers, re-targeting, bounds. */
import { describe, expect, it } from 'vitest';
import { ArpPacket } from '../src/arp.js';
import { EthernetPacket } from '../src/ethernet.js';
import { IcmpPacket } from '../src/icmp.js';
import { IgmpPacket } from '../src/igmp.js';
import { Ipv4Packet } from '../src/ipv4.js';
import { isWireError } from '../src/result.js';
import { UdpPacket } from '../src/udp.js';
import { ARP_REQUEST, ICMP_ECHO, IGMP_REPORT, UDP_FRAME } from './fixtures.js';

interface View {
  reset(buf: Uint8Array, offset?: number, length?: number): unknown;
  check(): unknown;
}
type Ctor = { new (buf: Uint8Array, offset?: number, length?: number): View; checked(b: Uint8Array, o?: number, l?: number): unknown };

/** [view class, a frame, where its header starts, its length there] */
const CASES: [string, Ctor, Uint8Array, number, number][] = [
  ['EthernetPacket', EthernetPacket, ICMP_ECHO, 0, ICMP_ECHO.length],
  ['ArpPacket', ArpPacket, ARP_REQUEST, 14, 28],
  ['Ipv4Packet', Ipv4Packet, ICMP_ECHO, 14, 84],
  ['IcmpPacket', IcmpPacket, ICMP_ECHO, 34, 64],
  ['UdpPacket', UdpPacket, UDP_FRAME, 34, 22],
  ['IgmpPacket', IgmpPacket, IGMP_REPORT, 38, 8],
];

describe('views', () => {
  for (const [name, V, frame, off, len] of CASES) {
    it(`${name}: windows, reset, and bounds are checked`, () => {
      expect(isWireError(V.checked(frame, off, len))).toBe(false);
      // the same bytes at another place in a bigger buffer
      const big = new Uint8Array(len + 50);
      big.set(frame.subarray(off, off + len), 17);
      const v = new V(new Uint8Array(0));
      expect(isWireError(v.check())).toBe(true); // empty
      expect(v.reset(big, 17, len)).toBe(v); // chains, no new object
      expect(v.check()).toBeNull();
      // windows that leave the buffer, or are not numbers, are refused
      for (const [o, l] of [
        [-1, len],
        [big.length - len + 1, len],
        [0, big.length + 1],
        [Number.NaN, len],
        [17, Number.NaN],
      ]) {
        v.reset(big, o, l);
        expect(isWireError(v.check()), `${o},${l}`).toBe(true);
      }
    });
  }

  it('accessors read through the window offset', () => {
    const big = new Uint8Array(200);
    big.set(ICMP_ECHO.subarray(14, 98), 33);
    const ip = new Ipv4Packet(big, 33, 84);
    expect(ip.check()).toBeNull();
    expect(ip.src).toBe(0xc6120001);
    expect(ip.payloadOffset).toBe(53);
    expect(ip.verifyChecksum()).toBe(true);
    const icmp = new IcmpPacket(big, ip.payloadOffset, ip.payloadLength);
    expect(icmp.validate()).toBeNull();
    expect(icmp.id).toBe(0x1c2b);
  });
});
