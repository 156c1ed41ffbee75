import { describe, expect, it } from 'vitest';
import {
  BROADCAST_MAC,
  directedBroadcast,
  inPrefix,
  ipv4FromBytes,
  ipv4ToBytes,
  ipv4ToString,
  isBroadcastMac,
  isMulticastIpv4,
  isMulticastMac,
  macEquals,
  macToString,
  multicastMac,
  parseIpv4Address,
  parseMac,
  prefixMask,
} from '../src/addr.js';
import { parseIpv4 } from '../src/ipv4.js';
import { isWireError } from '../src/result.js';

describe('IPv4 address text', () => {
  it('formats and parses dotted quads', () => {
    expect(ipv4ToString(0xc6120001)).toBe('198.18.0.1');
    expect(ipv4ToString(0)).toBe('0.0.0.0');
    expect(ipv4ToString(0xffffffff)).toBe('255.255.255.255');
    expect(parseIpv4Address('198.18.0.1')).toBe(0xc6120001);
    expect(parseIpv4Address('255.255.255.255')).toBe(0xffffffff);
    expect(parseIpv4Address('0.0.0.0')).toBe(0);
    expect(parseIpv4('10.0.0.1')).toBe(0x0a000001); // string overload
  });

  it('rejects everything that is not a strict dotted quad', () => {
    for (const s of ['', '1.2.3', '1.2.3.4.5', '01.2.3.4', '1.2.3.256', '1.2.3.-1', ' 1.2.3.4', '1.2.3.4 ', '1..3.4', '0x1.2.3.4', '1.2.3.4.', '.1.2.3', '1.2.3.00', 'a.b.c.d', '16909060']) {
      const r = parseIpv4Address(s);
      expect(isWireError(r), s).toBe(true);
      if (isWireError(r)) expect(r.reason).toBe('bad-address');
    }
  });

  it('round-trips random addresses', () => {
    for (let i = 0; i < 1000; i++) {
      const a = (i * 2654435761) >>> 0;
      expect(parseIpv4Address(ipv4ToString(a))).toBe(a);
      expect(ipv4FromBytes(ipv4ToBytes(a))).toBe(a);
    }
  });
});

describe('MAC addresses', () => {
  it('formats and parses', () => {
    const m = parseMac('52:54:00:AB:cd:0f');
    expect(isWireError(m)).toBe(false);
    expect(macToString(m as Uint8Array)).toBe('52:54:00:ab:cd:0f');
    expect(macToString(parseMac('52-54-00-ab-cd-0f') as Uint8Array)).toBe('52:54:00:ab:cd:0f');
    expect(macToString(BROADCAST_MAC)).toBe('ff:ff:ff:ff:ff:ff');
  });

  it('rejects malformed text', () => {
    for (const s of ['', '52:54:00:ab:cd', '52:54:00:ab:cd:0f:11', '52:54:00:ab:cd:0g', '52:54-00:ab:cd:0f', '5:54:00:ab:cd:0ff', '52545400abcd0f00x']) {
      expect(isWireError(parseMac(s)), s).toBe(true);
    }
  });

  it('classifies broadcast/multicast and compares', () => {
    expect(isBroadcastMac(BROADCAST_MAC)).toBe(true);
    expect(isMulticastMac(BROADCAST_MAC)).toBe(true);
    expect(isMulticastMac(multicastMac(0xe0000001))).toBe(true);
    const u = parseMac('52:54:00:12:34:56') as Uint8Array;
    expect(isMulticastMac(u)).toBe(false);
    expect(isBroadcastMac(u)).toBe(false);
    expect(macEquals(u, parseMac('52:54:00:12:34:56') as Uint8Array)).toBe(true);
    expect(macEquals(u, BROADCAST_MAC)).toBe(false);
  });
});

describe('multicast and prefixes', () => {
  it('multicastMac maps the low 23 bits (RFC 1112 §6.4)', () => {
    expect(macToString(multicastMac(0xef010203))).toBe('01:00:5e:01:02:03');
    // 239.129.2.3: bit 23 is dropped, so it maps like 239.1.2.3
    expect(macToString(multicastMac(0xef810203))).toBe('01:00:5e:01:02:03');
    expect(macToString(multicastMac(0xe00000fb))).toBe('01:00:5e:00:00:fb');
    const out = new Uint8Array(8);
    multicastMac(0xe0000001, out, 2);
    expect(Array.from(out)).toEqual([0, 0, 1, 0, 0x5e, 0, 0, 1]);
  });

  it('isMulticastIpv4 is exactly 224.0.0.0/4', () => {
    expect(isMulticastIpv4(0xe0000000)).toBe(true);
    expect(isMulticastIpv4(0xefffffff)).toBe(true);
    expect(isMulticastIpv4(0xdfffffff)).toBe(false);
    expect(isMulticastIpv4(0xf0000000)).toBe(false);
  });

  it('prefixMask, inPrefix, directedBroadcast', () => {
    expect(prefixMask(0)).toBe(0);
    expect(prefixMask(24)).toBe(0xffffff00);
    expect(prefixMask(32)).toBe(0xffffffff);
    expect(prefixMask(1)).toBe(0x80000000);
    expect(() => prefixMask(33)).toThrow(RangeError);
    expect(inPrefix(0xc6120005, 0xc6120000, 24)).toBe(true);
    expect(inPrefix(0xc6120105, 0xc6120000, 24)).toBe(false);
    expect(inPrefix(0x01020304, 0, 0)).toBe(true);
    expect(directedBroadcast(0xc6120000, 24)).toBe(0xc61200ff);
    expect(directedBroadcast(0xc6120000, 15)).toBe(0xc613ffff);
  });
});
