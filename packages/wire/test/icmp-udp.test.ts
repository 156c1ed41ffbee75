import { describe, expect, it } from 'vitest';
import { checksum, pseudoHeaderSum, foldSum } from '../src/checksum.js';
import {
  emitIcmp,
  ICMP_HEADER_LEN,
  IcmpPacket,
  icmpLength,
  icmpQuoteLength,
  IcmpType,
  IcmpUnreachCode,
  parseIcmp,
  parseIcmpQuote,
  type IcmpRepr,
} from '../src/icmp.js';
import { isWireError, WireError } from '../src/result.js';
import { emitUdp, emitUdpHeader, parseUdp, UDP_HEADER_LEN, UdpPacket, type UdpRepr } from '../src/udp.js';
import { ICMP_ECHO, ICMP_PORT_UNREACH, UDP_FRAME } from './fixtures.js';
import { randBytes, randInt, rng } from './helpers.js';

function reason(x: unknown): string | undefined {
  return x instanceof WireError ? x.reason : undefined;
}
const A = 0xc6120001;
const B = 0xc6120002;
const icmpOf = (f: Uint8Array) => f.subarray(34, 14 + ((f[16] << 8) | f[17]));
const udpOf = (f: Uint8Array) => f.subarray(34); // includes Ethernet padding after the datagram

function refix(b: Uint8Array): Uint8Array {
  b[2] = 0;
  b[3] = 0;
  const c = checksum(b);
  b[2] = c >> 8;
  b[3] = c & 0xff;
  return b;
}

describe('ICMPv4 (RFC 792)', () => {
  it('parses the Linux-ping-shaped echo request', () => {
    const m = icmpOf(ICMP_ECHO);
    const r = parseIcmp(m);
    if (isWireError(r)) throw new Error(String(r));
    expect(r.kind).toBe('echo-request');
    if (r.kind !== 'echo-request') return;
    expect(r.id).toBe(0x1c2b);
    expect(r.seq).toBe(1);
    expect(r.data.length).toBe(56);
    expect(r.data[16]).toBe(0x10);
    expect(r.data[55]).toBe(0x37);
    const v = new IcmpPacket(m);
    expect([v.type, v.code, v.checksum, v.id, v.seq]).toEqual([8, 0, 0x4915, 0x1c2b, 1]);
    expect(v.verifyChecksum()).toBe(true);
    expect(v.dataOffset).toBe(8);
  });

  it('builds the echo reply in place with a valid checksum', () => {
    const m = icmpOf(ICMP_ECHO).slice();
    const req = parseIcmp(m);
    if (isWireError(req) || req.kind !== 'echo-request') throw new Error('fixture');
    const n = emitIcmp({ kind: 'echo-reply', id: req.id, seq: req.seq, data: req.data }, m, 0);
    expect(n).toBe(64);
    const rep = parseIcmp(m);
    if (isWireError(rep)) throw new Error(String(rep));
    expect(rep.kind).toBe('echo-reply');
    expect(new IcmpPacket(m).checksum).toBe(0x5115); // 0x4915 + 0x0800: only the type changed
  });

  it('parses the port unreachable and its quote', () => {
    const m = icmpOf(ICMP_PORT_UNREACH);
    const r = parseIcmp(m);
    if (isWireError(r)) throw new Error(String(r));
    expect(r.kind).toBe('dest-unreachable');
    if (r.kind !== 'dest-unreachable') return;
    expect(r.code).toBe(IcmpUnreachCode.PORT);
    expect(r.nextHopMtu).toBe(0);
    expect(r.quote.length).toBe(28);
    const q = parseIcmpQuote(r.quote);
    if (isWireError(q)) throw new Error(String(q));
    expect(q.src).toBe(A);
    expect(q.dst).toBe(B);
    expect(q.protocol).toBe(17);
    expect((q.transport[0] << 8) | q.transport[1]).toBe(40000);
    expect((q.transport[2] << 8) | q.transport[3]).toBe(5555);
  });

  it('emit reproduces both fixtures byte for byte', () => {
    for (const f of [ICMP_ECHO, ICMP_PORT_UNREACH]) {
      const m = icmpOf(f);
      const r = parseIcmp(m) as IcmpRepr;
      const out = new Uint8Array(icmpLength(r));
      expect(emitIcmp(r, out)).toBe(m.length);
      expect(out).toEqual(m);
    }
  });

  it('icmpQuoteLength quotes header + 8 bytes, bounded by the packet', () => {
    const udpIp = UDP_FRAME.subarray(14); // 46 bytes with padding, total length 42
    expect(icmpQuoteLength(udpIp)).toBe(28);
    expect(icmpQuoteLength(udpIp.subarray(0, 25))).toBe(25);
    expect(icmpQuoteLength(udpIp.subarray(0, 10))).toBe(10);
  });

  it('every truncation is an error', () => {
    for (const f of [ICMP_ECHO, ICMP_PORT_UNREACH]) {
      const m = icmpOf(f);
      for (let n = 0; n < ICMP_HEADER_LEN; n++) expect(reason(parseIcmp(m.subarray(0, n)))).toBe('truncated');
    }
    // a truncated echo fails its checksum; a truncated error also fails its quote checks
    const m = icmpOf(ICMP_ECHO);
    for (let n = ICMP_HEADER_LEN; n < m.length; n++) expect(isWireError(parseIcmp(m.subarray(0, n)))).toBe(true);
    const u = icmpOf(ICMP_PORT_UNREACH);
    for (let n = ICMP_HEADER_LEN; n < u.length; n++) expect(isWireError(parseIcmp(u.subarray(0, n)))).toBe(true);
    // even with the checksum refixed, a quote shorter than an IP header is refused
    for (let n = ICMP_HEADER_LEN; n < ICMP_HEADER_LEN + 20; n++) {
      expect(reason(parseIcmp(refix(u.slice(0, n))))).toBe('truncated');
    }
  });

  it('bad checksum, bad codes, bad quotes, unsupported types', () => {
    const m = icmpOf(ICMP_ECHO).slice();
    m[20] ^= 1;
    expect(reason(parseIcmp(m))).toBe('bad-checksum');
    expect(isWireError(parseIcmp(m, { verifyChecksum: false }))).toBe(false);
    const e = icmpOf(ICMP_ECHO).slice();
    e[1] = 1;
    expect(reason(parseIcmp(refix(e)))).toBe('bad-field');
    const u = icmpOf(ICMP_PORT_UNREACH).slice();
    u[1] = 16;
    expect(reason(parseIcmp(refix(u)))).toBe('bad-field');
    const t = icmpOf(ICMP_PORT_UNREACH).slice();
    t[0] = IcmpType.TIME_EXCEEDED;
    t[1] = 2;
    expect(reason(parseIcmp(refix(t)))).toBe('bad-field');
    const qv = icmpOf(ICMP_PORT_UNREACH).slice();
    qv[8] = 0x65;
    expect(reason(parseIcmp(refix(qv)))).toBe('bad-version');
    const qh = icmpOf(ICMP_PORT_UNREACH).slice();
    qh[8] = 0x4f; // 60-byte quoted header in a 28-byte quote
    expect(reason(parseIcmp(refix(qh)))).toBe('bad-header-length');
    for (const type of [5, 13, 14, 17, 255]) {
      const x = icmpOf(ICMP_ECHO).slice();
      x[0] = type;
      expect(reason(parseIcmp(refix(x)))).toBe('unsupported');
    }
  });

  it('parse(emit(repr)) == repr for random reprs (seeded)', () => {
    const r = rng(792);
    const out = new Uint8Array(300);
    for (let i = 0; i < 2000; i++) {
      let repr: IcmpRepr;
      const k = randInt(r, 4);
      if (k < 2) {
        repr = { kind: k === 0 ? 'echo-request' : 'echo-reply', id: randInt(r, 65536), seq: randInt(r, 65536), data: randBytes(r, randInt(r, 100)) };
      } else {
        const quote = randBytes(r, 20 + randInt(r, 60));
        quote[0] = 0x45;
        repr = k === 2
          ? { kind: 'dest-unreachable', code: randInt(r, 16), nextHopMtu: randInt(r, 65536), quote }
          : { kind: 'time-exceeded', code: randInt(r, 2), quote };
      }
      const off = randInt(r, 9);
      const n = emitIcmp(repr, out, off);
      expect(n).toBe(icmpLength(repr));
      expect(parseIcmp(out.subarray(off, off + n))).toEqual(repr);
    }
  });
});

describe('UDP (RFC 768)', () => {
  it('parses the fixture (padding after the length field ignored)', () => {
    const u = udpOf(UDP_FRAME);
    const r = parseUdp(u, A, B);
    if (isWireError(r)) throw new Error(String(r));
    expect(r.srcPort).toBe(40000);
    expect(r.dstPort).toBe(5555);
    expect(new TextDecoder().decode(r.payload)).toBe('hello hastack\n');
    const v = new UdpPacket(u);
    expect([v.srcPort, v.dstPort, v.length, v.checksum, v.payloadLength, v.payloadOffset]).toEqual([40000, 5555, 22, 0xd570, 14, 8]);
    expect(v.verifyChecksum(A, B)).toBe(true);
    expect(v.verifyChecksum(A, B + 1)).toBe(false); // pseudo-header matters
  });

  it('emit reproduces the fixture bytes', () => {
    const u = udpOf(UDP_FRAME);
    const r = parseUdp(u, A, B) as UdpRepr;
    const out = new Uint8Array(22);
    expect(emitUdp(r, out, 0, A, B)).toBe(22);
    expect(out).toEqual(u.subarray(0, 22));
    // header-only path with the payload already in place
    const inPlace = u.slice(0, 22);
    inPlace.fill(0, 0, 8);
    expect(emitUdpHeader(inPlace, 0, 40000, 5555, 14, A, B)).toBe(22);
    expect(inPlace).toEqual(u.subarray(0, 22));
  });

  it('checksum 0 means none on receive; a computed 0 is sent as 0xffff', () => {
    const u = udpOf(UDP_FRAME).slice();
    u[6] = 0;
    u[7] = 0;
    u[12] ^= 0xff; // corrupt data: not noticed without a checksum
    expect(isWireError(parseUdp(u, A, B))).toBe(false);
    // find a payload whose checksum computes to 0: choose the last two bytes to cancel the sum
    const buf = new Uint8Array(8 + 4);
    const repr: UdpRepr = { srcPort: 1, dstPort: 2, payload: new Uint8Array(4) };
    emitUdp(repr, buf, 0, A, B, { checksum: 'none' });
    const s = foldSum(pseudoHeaderSum(A, B, 17, 12) + ((buf[0] << 8) | buf[1]) + ((buf[2] << 8) | buf[3]) + 12);
    const fill = 0xffff - s; // makes the ones'-complement sum 0xffff, i.e. a computed checksum of 0
    repr.payload[2] = fill >> 8;
    repr.payload[3] = fill & 0xff;
    emitUdp(repr, buf, 0, A, B);
    expect((buf[6] << 8) | buf[7]).toBe(0xffff);
    expect(isWireError(parseUdp(buf, A, B))).toBe(false);
    expect(new UdpPacket(buf).verifyChecksum(A, B)).toBe(true);
  });

  it('partial mode writes the folded pseudo-header sum (TX offload)', () => {
    const buf = new Uint8Array(20);
    emitUdp({ srcPort: 7, dstPort: 9, payload: new Uint8Array(12).fill(3) }, buf, 0, A, B, { checksum: 'partial' });
    expect((buf[6] << 8) | buf[7]).toBe(foldSum(pseudoHeaderSum(A, B, 17, 20)));
    // completing it the way a NIC does yields the full checksum
    const c = checksum(buf, 0, 20);
    buf[6] = c >> 8;
    buf[7] = c & 0xff;
    expect(new UdpPacket(buf).verifyChecksum(A, B)).toBe(true);
  });

  it('every truncation and bad length is an error', () => {
    const u = udpOf(UDP_FRAME);
    for (let n = 0; n < UDP_HEADER_LEN; n++) expect(reason(parseUdp(u.subarray(0, n), A, B))).toBe('truncated');
    for (let n = UDP_HEADER_LEN; n < 22; n++) expect(reason(parseUdp(u.subarray(0, n), A, B))).toBe('bad-length');
    for (let l = 0; l < 8; l++) {
      const b = u.slice();
      b[4] = 0;
      b[5] = l;
      expect(reason(parseUdp(b, A, B))).toBe('bad-length');
    }
    const big = u.slice();
    big[4] = 0xff;
    expect(reason(parseUdp(big, A, B))).toBe('bad-length');
    const bad = u.slice();
    bad[9] ^= 4;
    expect(reason(parseUdp(bad, A, B))).toBe('bad-checksum');
    expect(isWireError(parseUdp(bad, A, B, { verifyChecksum: false }))).toBe(false);
  });

  it('parse(emit(repr)) == repr for random reprs, all checksum modes (seeded)', () => {
    const r = rng(768);
    const out = new Uint8Array(600);
    for (let i = 0; i < 2000; i++) {
      const repr: UdpRepr = { srcPort: randInt(r, 65536), dstPort: randInt(r, 65536), payload: randBytes(r, randInt(r, 500)) };
      const src = randInt(r, 2 ** 32);
      const dst = randInt(r, 2 ** 32);
      const off = randInt(r, 9);
      const mode = i % 5 === 0 ? 'none' : 'full';
      const n = emitUdp(repr, out, off, src, dst, { checksum: mode });
      expect(n).toBe(8 + repr.payload.length);
      const back = parseUdp(out.subarray(off, off + n), src, dst);
      expect(back).toEqual(repr);
      if (mode === 'full') expect(new UdpPacket(out, off, n).checksum).not.toBe(0);
    }
  });

  it('emit refuses oversize datagrams and short buffers', () => {
    expect(() => emitUdp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(65528) }, new Uint8Array(70000), 0, A, B)).toThrow(RangeError);
    expect(() => emitUdp({ srcPort: 1, dstPort: 2, payload: new Uint8Array(10) }, new Uint8Array(17), 0, A, B)).toThrow(RangeError);
  });
});
