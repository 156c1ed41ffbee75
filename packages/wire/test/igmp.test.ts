import { describe, expect, it } from 'vitest';
import { checksum } from '../src/checksum.js';
import { emitIgmp, IGMP_LEN, IgmpPacket, IgmpType, IPV4_ROUTER_ALERT, parseIgmp, type IgmpRepr } from '../src/igmp.js';
import { parseIpv4 } from '../src/ipv4.js';
import { isWireError, WireError } from '../src/result.js';
import { IGMP_QUERY, IGMP_REPORT } from './fixtures.js';
import { randInt, rng } from './helpers.js';

function reason(x: unknown): string | undefined {
  return x instanceof WireError ? x.reason : undefined;
}
/** The IGMP message of a fixture frame (Ethernet 14 + IPv4 with Router Alert 24). */
const igmpOf = (f: Uint8Array) => f.subarray(38, 46);

function refix(b: Uint8Array): Uint8Array {
  b[2] = 0;
  b[3] = 0;
  const c = checksum(b);
  b[2] = c >> 8;
  b[3] = c & 0xff;
  return b;
}

describe('IGMPv2 (RFC 2236)', () => {
  it('parses the v2 report and the general query fixtures', () => {
    const rep = parseIgmp(igmpOf(IGMP_REPORT));
    expect(rep).toEqual({ kind: 'report-v2', maxRespTime: 0, group: 0xef010203 });
    const q = parseIgmp(igmpOf(IGMP_QUERY));
    expect(q).toEqual({ kind: 'query', maxRespTime: 100, group: 0 });
    const v = new IgmpPacket(igmpOf(IGMP_QUERY));
    expect([v.type, v.maxRespTime, v.checksum, v.group]).toEqual([0x11, 100, 0xee9b, 0]);
    expect(v.verifyChecksum()).toBe(true);
  });

  it('the report carries Router Alert in its IP header', () => {
    const ip = parseIpv4(IGMP_REPORT.subarray(14));
    if (isWireError(ip)) throw new Error(String(ip));
    expect(ip.options).toEqual(IPV4_ROUTER_ALERT);
  });

  it('emit reproduces the fixtures byte for byte', () => {
    for (const f of [IGMP_REPORT, IGMP_QUERY]) {
      const m = igmpOf(f);
      const out = new Uint8Array(IGMP_LEN);
      expect(emitIgmp(parseIgmp(m) as IgmpRepr, out)).toBe(8);
      expect(out).toEqual(m);
    }
  });

  it('leave, v1 report, group-specific query', () => {
    const out = new Uint8Array(8);
    for (const repr of [
      { kind: 'leave', maxRespTime: 0, group: 0xef010203 },
      { kind: 'report-v1', maxRespTime: 0, group: 0xe0000105 },
      { kind: 'query', maxRespTime: 10, group: 0xef010203 },
    ] as IgmpRepr[]) {
      emitIgmp(repr, out);
      expect(out[0]).toBe({ leave: 0x17, 'report-v1': 0x12, query: 0x11, 'report-v2': 0x16 }[repr.kind]);
      expect(parseIgmp(out)).toEqual(repr);
    }
  });

  it('accepts an IGMPv3 query (12+ octets) as a query, reading the first 8 (RFC 3376 §7.2.1)', () => {
    const b = new Uint8Array(12);
    b.set(igmpOf(IGMP_QUERY));
    b[8] = 0x02; // S/QRV
    b[9] = 125; // QQIC
    refix(b);
    expect(parseIgmp(b)).toEqual({ kind: 'query', maxRespTime: 100, group: 0 });
  });

  it('every truncation, bad checksum, bad group, unknown type is an error', () => {
    const m = igmpOf(IGMP_REPORT);
    for (let n = 0; n < IGMP_LEN; n++) expect(reason(parseIgmp(m.subarray(0, n)))).toBe('truncated');
    const bad = m.slice();
    bad[7] ^= 1;
    expect(reason(parseIgmp(bad))).toBe('bad-checksum');
    expect(isWireError(parseIgmp(bad, { verifyChecksum: false }))).toBe(false);
    const unicast = m.slice();
    unicast[4] = 10;
    expect(reason(parseIgmp(refix(unicast)))).toBe('bad-field');
    const qUnicast = igmpOf(IGMP_QUERY).slice();
    qUnicast[4] = 10;
    expect(reason(parseIgmp(refix(qUnicast)))).toBe('bad-field');
    for (const t of [IgmpType.V3_REPORT, 0x00, 0x13, 0xff]) {
      const x = m.slice();
      x[0] = t;
      expect(reason(parseIgmp(refix(x)))).toBe('unsupported');
    }
  });

  it('parse(emit(repr)) == repr for random reprs (seeded)', () => {
    const r = rng(2236);
    const kinds = ['query', 'report-v1', 'report-v2', 'leave'] as const;
    const out = new Uint8Array(20);
    for (let i = 0; i < 1000; i++) {
      const kind = kinds[randInt(r, 4)];
      const group = kind === 'query' && r() < 0.3 ? 0 : (0xe0000000 | randInt(r, 2 ** 28)) >>> 0;
      const repr: IgmpRepr = { kind, maxRespTime: randInt(r, 256), group };
      const off = randInt(r, 12);
      emitIgmp(repr, out, off);
      expect(parseIgmp(out.subarray(off, off + 8))).toEqual(repr);
    }
  });
});
