/** Frames captured from the Linux kernel (see fixtures.ts): parse them, and rebuild them exactly. */
import { describe, expect, it } from 'vitest';
import { macToString } from '../src/addr.js';
import { ArpOp, emitArp, parseArp, type ArpRepr } from '../src/arp.js';
import { emitEthernet, parseEthernet, type EthernetRepr } from '../src/ethernet.js';
import { emitIcmp, icmpLength, parseIcmp, parseIcmpQuote, type IcmpRepr } from '../src/icmp.js';
import { emitIgmp, parseIgmp, type IgmpRepr } from '../src/igmp.js';
import { emitIpv4, ipv4HeaderLength, parseIpv4, type Ipv4Repr } from '../src/ipv4.js';
import { isWireError, WireError } from '../src/result.js';
import { emitUdp, parseUdp, type UdpRepr } from '../src/udp.js';
import {
  REAL_ARP_REPLY,
  REAL_ARP_REQUEST,
  REAL_IGMP_LEAVE,
  REAL_IGMP_REPORT,
  REAL_PING_REPLY,
  REAL_PING_REQUEST,
  REAL_PORT_UNREACH,
  REAL_UDP_PARTIAL,
} from './fixtures.js';

const A = 0xc6120001;
const B = 0xc6120002;

function ok<T>(x: T | WireError): T {
  if (isWireError(x)) throw new Error(String(x));
  return x;
}

/** Rebuild a whole IPv4 frame from its reprs with `emitTransport` and compare byte for byte. */
function rebuild(frame: Uint8Array, emitTransport: (ip: Ipv4Repr, buf: Uint8Array, off: number) => number): Uint8Array {
  const eth = ok(parseEthernet(frame)) as EthernetRepr;
  const ip = ok(parseIpv4(frame.subarray(14)));
  const out = new Uint8Array(frame.length);
  const hl = ipv4HeaderLength(ip);
  emitEthernet(eth, out, 0);
  emitTransport(ip, out, 14 + hl);
  emitIpv4(ip, out, 14);
  return out;
}

describe('real Linux frames', () => {
  it('ARP request and reply (unpadded 42-byte frames)', () => {
    const q = ok(parseArp(REAL_ARP_REQUEST.subarray(14)));
    expect([q.op, q.senderIp, q.targetIp]).toEqual([ArpOp.REQUEST, A, B]);
    const a = ok(parseArp(REAL_ARP_REPLY.subarray(14)));
    expect([a.op, macToString(a.senderMac), a.senderIp]).toEqual([ArpOp.REPLY, '52:54:00:65:43:ab', B]);
    for (const f of [REAL_ARP_REQUEST, REAL_ARP_REPLY]) {
      const out = new Uint8Array(42);
      emitEthernet(ok(parseEthernet(f)), out, 0);
      emitArp(ok(parseArp(f.subarray(14))) as ArpRepr, out, 14);
      expect(out).toEqual(f);
    }
  });

  it('ping request and the kernel reply', () => {
    const req = ok(parseIcmp(REAL_PING_REQUEST.subarray(34)));
    const rep = ok(parseIcmp(REAL_PING_REPLY.subarray(34)));
    expect(req.kind).toBe('echo-request');
    expect(rep.kind).toBe('echo-reply');
    if (req.kind !== 'echo-request' || rep.kind !== 'echo-reply') return;
    expect([req.id, req.seq]).toEqual([0x36d8, 1]);
    expect([rep.id, rep.seq]).toEqual([0x36d8, 1]);
    expect(rep.data).toEqual(req.data);
    const ipReq = ok(parseIpv4(REAL_PING_REQUEST.subarray(14)));
    const ipRep = ok(parseIpv4(REAL_PING_REPLY.subarray(14)));
    expect([ipReq.dontFragment, ipRep.dontFragment, ipRep.ident]).toEqual([true, false, 0x0ee2]);
    for (const f of [REAL_PING_REQUEST, REAL_PING_REPLY]) {
      const out = rebuild(f, (_ip, buf, off) => emitIcmp(ok(parseIcmp(f.subarray(34))) as IcmpRepr, buf, off));
      expect(out).toEqual(f);
    }
  });

  it('UDP with the kernel CHECKSUM_PARTIAL value: partial mode reproduces it, full mode completes it', () => {
    const u = REAL_UDP_PARTIAL.subarray(34);
    // as captured (before the offload completes it) the checksum does not verify
    expect((parseUdp(u, A, B) as WireError).reason).toBe('bad-checksum');
    const r = ok(parseUdp(u, A, B, { verifyChecksum: false })) as UdpRepr;
    expect([r.srcPort, r.dstPort, new TextDecoder().decode(r.payload)]).toEqual([40000, 5555, 'hello hastack\n']);
    const partial = rebuild(REAL_UDP_PARTIAL, (_ip, buf, off) => emitUdp(r, buf, off, A, B, { checksum: 'partial' }));
    expect(partial).toEqual(REAL_UDP_PARTIAL);
    const full = rebuild(REAL_UDP_PARTIAL, (_ip, buf, off) => emitUdp(r, buf, off, A, B));
    expect((full[40] << 8) | full[41]).toBe(0xd570); // what tshark calculates
    expect(isWireError(parseUdp(full.subarray(34), A, B))).toBe(false);
  });

  it('port unreachable quoting the whole datagram', () => {
    const ip = ok(parseIpv4(REAL_PORT_UNREACH.subarray(14)));
    expect(ip.tos).toBe(0xc0);
    const m = ok(parseIcmp(REAL_PORT_UNREACH.subarray(34)));
    expect(m.kind).toBe('dest-unreachable');
    if (m.kind !== 'dest-unreachable') return;
    expect(m.code).toBe(3);
    expect(m.quote.length).toBe(42);
    const q = ok(parseIcmpQuote(m.quote));
    expect([q.src, q.dst, q.protocol, q.transport.length]).toEqual([A, B, 17, 22]);
    expect(icmpLength(m)).toBe(50);
    const out = rebuild(REAL_PORT_UNREACH, (_ip, buf, off) => emitIcmp(m, buf, off));
    expect(out).toEqual(REAL_PORT_UNREACH);
  });

  it('IGMPv2 report and leave with Router Alert', () => {
    const rep = ok(parseIgmp(REAL_IGMP_REPORT.subarray(38)));
    const leave = ok(parseIgmp(REAL_IGMP_LEAVE.subarray(38)));
    expect(rep).toEqual({ kind: 'report-v2', maxRespTime: 0, group: 0xef010203 });
    expect(leave).toEqual({ kind: 'leave', maxRespTime: 0, group: 0xef010203 });
    expect(ok(parseIpv4(REAL_IGMP_LEAVE.subarray(14))).dst).toBe(0xe0000002);
    for (const f of [REAL_IGMP_REPORT, REAL_IGMP_LEAVE]) {
      const out = rebuild(f, (_ip, buf, off) => emitIgmp(ok(parseIgmp(f.subarray(38))) as IgmpRepr, buf, off));
      expect(out).toEqual(f);
    }
  });
});
