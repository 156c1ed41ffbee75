import { describe, expect, it } from 'vitest';
import { BROADCAST_MAC, macToString } from '../src/addr.js';
import { ARP_LEN, ArpOp, ArpPacket, emitArp, parseArp, type ArpRepr } from '../src/arp.js';
import { EthernetPacket, ETH_HEADER_LEN, EtherType, emitEthernet, parseEthernet } from '../src/ethernet.js';
import { isWireError, WireError } from '../src/result.js';
import { ARP_REPLY, ARP_REQUEST, ICMP_ECHO } from './fixtures.js';
import { randBytes, randInt, rng } from './helpers.js';

function reason(x: unknown): string | undefined {
  return x instanceof WireError ? x.reason : undefined;
}

describe('Ethernet II', () => {
  it('parses the ARP request fixture header', () => {
    const r = parseEthernet(ARP_REQUEST);
    if (isWireError(r)) throw new Error(String(r));
    expect(macToString(r.dst)).toBe('ff:ff:ff:ff:ff:ff');
    expect(macToString(r.src)).toBe('52:54:00:12:34:56');
    expect(r.ethertype).toBe(EtherType.ARP);
    // repr MACs are copies, not views
    expect(r.src.buffer).not.toBe(ARP_REQUEST.buffer);
  });

  it('view reads fields without a repr and can be re-targeted', () => {
    const v = new EthernetPacket(ARP_REQUEST);
    expect(v.check()).toBeNull();
    expect(v.ethertype).toBe(0x0806);
    expect(v.isMulticastDst).toBe(true);
    expect(v.payloadOffset).toBe(14);
    expect(v.payloadLength).toBe(46);
    expect(v.payload.length).toBe(46);
    v.reset(ICMP_ECHO);
    expect(v.ethertype).toBe(0x0800);
    expect(v.isMulticastDst).toBe(false);
    expect(macToString(v.src)).toBe('52:54:00:12:34:56');
    // offset/length window into a bigger buffer
    const big = new Uint8Array(100);
    big.set(ICMP_ECHO.subarray(0, 14), 10);
    v.reset(big, 10, 14);
    expect(v.check()).toBeNull();
    expect(v.ethertype).toBe(0x0800);
    expect(v.payloadLength).toBe(0);
  });

  it('setters write the right bytes', () => {
    const b = new Uint8Array(14);
    const v = new EthernetPacket(b);
    v.dst = BROADCAST_MAC;
    v.src = new Uint8Array([1, 2, 3, 4, 5, 6]);
    v.ethertype = 0x0806;
    expect(Array.from(b)).toEqual([255, 255, 255, 255, 255, 255, 1, 2, 3, 4, 5, 6, 8, 6]);
  });

  it('emit is the inverse of parse', () => {
    const r = parseEthernet(ICMP_ECHO);
    if (isWireError(r)) throw new Error(String(r));
    const out = new Uint8Array(14);
    expect(emitEthernet(r, out)).toBe(ETH_HEADER_LEN);
    expect(out).toEqual(ICMP_ECHO.subarray(0, 14));
    expect(parseEthernet(out)).toEqual(r);
  });

  it('every truncation is an error', () => {
    for (let n = 0; n < ETH_HEADER_LEN; n++) {
      expect(reason(parseEthernet(ARP_REQUEST.subarray(0, n)))).toBe('truncated');
      expect(isWireError(EthernetPacket.checked(ARP_REQUEST.subarray(0, n)))).toBe(true);
    }
    expect(isWireError(parseEthernet(ARP_REQUEST.subarray(0, 14)))).toBe(false);
  });

  it('VLAN tags and 802.3 length frames are unsupported, not mis-parsed', () => {
    for (const t of [0x8100, 0x88a8, 0x9100, 0x0000, 0x05dc]) {
      const f = ARP_REQUEST.slice();
      f[12] = t >> 8;
      f[13] = t & 0xff;
      expect(reason(parseEthernet(f))).toBe('unsupported');
    }
    const f = ARP_REQUEST.slice();
    f[12] = 0x86;
    f[13] = 0xdd; // IPv6 is a valid EtherType: parsed, the engine decides
    expect(isWireError(parseEthernet(f))).toBe(false);
  });

  it('round-trips random reprs (seeded)', () => {
    const r = rng(802);
    const out = new Uint8Array(20);
    for (let i = 0; i < 500; i++) {
      const repr = { dst: randBytes(r, 6), src: randBytes(r, 6), ethertype: 0x0600 + randInt(r, 0x8100 - 0x0600) };
      const off = randInt(r, 6);
      expect(emitEthernet(repr, out, off)).toBe(14);
      expect(parseEthernet(out.subarray(off, off + 14))).toEqual(repr);
    }
  });

  it('emit refuses a buffer that is too small', () => {
    expect(() => emitEthernet({ dst: BROADCAST_MAC, src: BROADCAST_MAC, ethertype: 0x800 }, new Uint8Array(13))).toThrow(RangeError);
  });
});

describe('ARP (RFC 826)', () => {
  const payload = (f: Uint8Array) => f.subarray(14);

  it('parses a request and a reply', () => {
    const q = parseArp(payload(ARP_REQUEST));
    if (isWireError(q)) throw new Error(String(q));
    expect(q.op).toBe(ArpOp.REQUEST);
    expect(macToString(q.senderMac)).toBe('52:54:00:12:34:56');
    expect(q.senderIp).toBe(0xc6120001);
    expect(macToString(q.targetMac)).toBe('00:00:00:00:00:00');
    expect(q.targetIp).toBe(0xc6120002);
    const a = parseArp(payload(ARP_REPLY));
    if (isWireError(a)) throw new Error(String(a));
    expect(a.op).toBe(ArpOp.REPLY);
    expect(macToString(a.senderMac)).toBe('52:54:00:65:43:ab');
    expect(a.senderIp).toBe(0xc6120002);
    expect(macToString(a.targetMac)).toBe('52:54:00:12:34:56');
    expect(a.targetIp).toBe(0xc6120001);
  });

  it('view accessors match the fixture', () => {
    const v = ArpPacket.checked(ARP_REQUEST, 14);
    if (isWireError(v)) throw new Error(String(v));
    expect(v.validate()).toBeNull();
    expect([v.htype, v.ptype, v.hlen, v.plen, v.op]).toEqual([1, 0x800, 6, 4, 1]);
    expect(v.senderIp).toBe(0xc6120001);
    expect(v.targetIp).toBe(0xc6120002);
    expect(v.senderMacOffset).toBe(22);
    expect(macToString(v.senderMac)).toBe('52:54:00:12:34:56');
  });

  it('emit reproduces the fixture bytes exactly and parse(emit(x)) == x', () => {
    for (const f of [ARP_REQUEST, ARP_REPLY]) {
      const r = parseArp(payload(f)) as ArpRepr;
      const out = new Uint8Array(ARP_LEN);
      expect(emitArp(r, out)).toBe(ARP_LEN);
      expect(out).toEqual(payload(f).subarray(0, ARP_LEN));
      expect(parseArp(out)).toEqual(r);
    }
  });

  it('every truncation is an error', () => {
    for (let n = 0; n < ARP_LEN; n++) expect(reason(parseArp(payload(ARP_REQUEST).subarray(0, n)))).toBe('truncated');
  });

  it('wrong htype/ptype are unsupported, wrong hlen/plen are bad fields, unknown op unsupported', () => {
    const cases: [number, number, string][] = [
      [0, 0x00, 'unsupported'], // htype 6 (IEEE 802)
      [2, 0x86, 'unsupported'], // ptype 0x86dd
      [4, 8, 'bad-field'], // hlen 8
      [5, 16, 'bad-field'], // plen 16
      [7, 3, 'unsupported'], // op 3 (RARP request)
      [7, 0, 'unsupported'], // op 0
    ];
    for (const [at, v, why] of cases) {
      const b = payload(ARP_REQUEST).slice();
      b[at] = v;
      if (at === 0) b[1] = 6;
      expect(reason(parseArp(b)), `byte ${at}=${v}`).toBe(why);
    }
  });

  it('round-trips random reprs (seeded)', () => {
    const r = rng(826);
    const out = new Uint8Array(40);
    for (let i = 0; i < 500; i++) {
      const repr: ArpRepr = {
        op: r() < 0.5 ? 1 : 2,
        senderMac: randBytes(r, 6),
        senderIp: randInt(r, 2 ** 32),
        targetMac: randBytes(r, 6),
        targetIp: randInt(r, 2 ** 32),
      };
      const off = randInt(r, 12);
      emitArp(repr, out, off);
      expect(parseArp(out.subarray(off))).toEqual(repr);
    }
  });
});
