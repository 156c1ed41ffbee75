/** The example of docs/api/wire.md, run against the ping fixture (keep the two in sync). */
import { describe, expect, it } from 'vitest';
import {
  EtherType,
  EthernetPacket,
  IcmpPacket,
  IcmpType,
  IpProtocol,
  Ipv4Packet,
  isWireError,
  macToString,
  parseEthernet,
  parseIcmp,
  parseIpv4,
} from '@hastack/wire';
import { ARP_REQUEST, ICMP_ECHO } from './fixtures.js';

const eth = new EthernetPacket(new Uint8Array(0));
const ip = new Ipv4Packet(new Uint8Array(0));
const icmp = new IcmpPacket(new Uint8Array(0));

function pingReply(frame: Uint8Array, myMac: Uint8Array): boolean {
  if (eth.reset(frame).validate() || eth.ethertype !== EtherType.IPV4) return false;
  if (ip.reset(frame, eth.payloadOffset, eth.payloadLength).validate()) return false;
  if (ip.protocol !== IpProtocol.ICMP || ip.isFragment) return false;
  if (icmp.reset(frame, ip.payloadOffset, ip.payloadLength).validate()) return false;
  if (icmp.type !== IcmpType.ECHO_REQUEST) return false;

  eth.dst = eth.src;
  eth.src = myMac;
  const from = ip.src;
  ip.src = ip.dst;
  ip.dst = from;
  ip.ttl = 64;
  ip.fillChecksum();
  icmp.type = IcmpType.ECHO_REPLY;
  icmp.fillChecksum();
  return true;
}

describe('docs example: answer a ping in place with reused views', () => {
  it('turns the echo request fixture into a valid reply', () => {
    const frame = ICMP_ECHO.slice();
    const me = new Uint8Array([0x52, 0x54, 0x00, 0x65, 0x43, 0xab]);
    expect(pingReply(frame, me)).toBe(true);
    const e = parseEthernet(frame);
    if (isWireError(e)) throw new Error(String(e));
    expect(macToString(e.dst)).toBe('52:54:00:12:34:56');
    expect(macToString(e.src)).toBe('52:54:00:65:43:ab');
    const h = parseIpv4(frame.subarray(14));
    if (isWireError(h)) throw new Error(String(h));
    expect([h.src, h.dst]).toEqual([0xc6120002, 0xc6120001]);
    const m = parseIcmp(frame.subarray(34));
    if (isWireError(m)) throw new Error(String(m));
    expect(m.kind).toBe('echo-reply');
    if (m.kind === 'echo-reply') expect([m.id, m.seq, m.data.length]).toEqual([0x1c2b, 1, 56]);
  });

  it('leaves other frames alone', () => {
    const frame = ARP_REQUEST.slice();
    expect(pingReply(frame, new Uint8Array(6))).toBe(false);
    expect(frame).toEqual(ARP_REQUEST);
  });
});
