import { describe, expect, it } from 'vitest';
import { checksum } from '../src/checksum.js';
import {
  emitIpv4,
  IpProtocol,
  IPV4_HEADER_LEN,
  IPV4_OFF,
  ipv4HeaderLength,
  Ipv4Packet,
  parseIpv4,
  type Ipv4Repr,
} from '../src/ipv4.js';
import { isWireError, WireError } from '../src/result.js';
import { ICMP_ECHO, IGMP_REPORT, UDP_FRAME } from './fixtures.js';
import { randBytes, randInt, rng } from './helpers.js';

function reason(x: unknown): string | undefined {
  return x instanceof WireError ? x.reason : undefined;
}
const ip = (f: Uint8Array) => f.subarray(14);

/** Copy of an IP packet with `mutate` applied and the header checksum recomputed. */
function mutated(pkt: Uint8Array, mutate: (b: Uint8Array) => void, fix = true): Uint8Array {
  const b = pkt.slice();
  mutate(b);
  if (fix) {
    const hl = Math.min(Math.max((b[0] & 15) * 4, 20), b.length);
    b[10] = 0;
    b[11] = 0;
    const c = checksum(b, 0, hl);
    b[10] = c >> 8;
    b[11] = c & 0xff;
  }
  return b;
}

describe('IPv4 (RFC 791)', () => {
  it('parses the ICMP echo fixture header', () => {
    const r = parseIpv4(ip(ICMP_ECHO));
    expect(r).toEqual({
      src: 0xc6120001,
      dst: 0xc6120002,
      protocol: IpProtocol.ICMP,
      ttl: 64,
      tos: 0,
      ident: 0x4a3c,
      dontFragment: true,
      moreFragments: false,
      fragmentOffset: 0,
      payloadLength: 64,
    });
  });

  it('ignores Ethernet padding after total length (UDP fixture)', () => {
    const r = parseIpv4(ip(UDP_FRAME));
    if (isWireError(r)) throw new Error(String(r));
    expect(r.payloadLength).toBe(22);
    const v = new Ipv4Packet(ip(UDP_FRAME));
    expect(v.payload.length).toBe(22);
    expect(ip(UDP_FRAME).length).toBe(46);
  });

  it('keeps options (Router Alert in the IGMP fixture) and skips them', () => {
    const r = parseIpv4(ip(IGMP_REPORT));
    if (isWireError(r)) throw new Error(String(r));
    expect(Array.from(r.options!)).toEqual([0x94, 0x04, 0x00, 0x00]);
    expect(ipv4HeaderLength(r)).toBe(24);
    expect(r.payloadLength).toBe(8);
    expect(r.ttl).toBe(1);
    const v = new Ipv4Packet(ip(IGMP_REPORT));
    expect(v.headerLength).toBe(24);
    expect(v.payloadOffset).toBe(24);
    expect(v.payload[0]).toBe(0x16);
  });

  it('view accessors and setters', () => {
    const v = Ipv4Packet.checked(ICMP_ECHO, 14, ICMP_ECHO.length - 14);
    if (isWireError(v)) throw new Error(String(v));
    expect([v.version, v.ihl, v.headerLength, v.totalLength, v.ttl, v.protocol]).toEqual([4, 5, 20, 84, 64, 1]);
    expect(v.src).toBe(0xc6120001);
    expect(v.dst).toBe(0xc6120002);
    expect(v.checksum).toBe(0x6445);
    expect(v.verifyChecksum()).toBe(true);
    expect(v.isFragment).toBe(false);
    expect(v.payloadOffset).toBe(34);
    const b = ICMP_ECHO.slice();
    v.reset(b, 14, b.length - 14);
    v.ttl = 63;
    expect(v.verifyChecksum()).toBe(false);
    v.fillChecksum();
    expect(v.verifyChecksum()).toBe(true);
    v.moreFragments = true;
    v.fragmentOffset = 1480;
    v.dontFragment = false;
    expect(v.moreFragments).toBe(true);
    expect(v.dontFragment).toBe(false);
    expect(v.fragmentOffset).toBe(1480);
    expect(v.isFragment).toBe(true);
    expect((b[14 + 6] << 8) | b[14 + 7]).toBe(0x2000 | 185);
    v.tos = 0xb9;
    expect(v.dscp).toBe(46);
    expect(v.ecn).toBe(1);
    v.src = 0x01020304;
    v.dst = 0xfffffffe;
    expect(v.src).toBe(0x01020304);
    expect(v.dst).toBe(0xfffffffe);
    v.headerLength = 24;
    expect(v.ihl).toBe(6);
    expect(v.version).toBe(4);
  });

  it('emit reproduces the fixture bytes exactly (checksum filled)', () => {
    for (const f of [ICMP_ECHO, UDP_FRAME, IGMP_REPORT]) {
      const r = parseIpv4(ip(f)) as Ipv4Repr;
      const out = new Uint8Array(60);
      const hl = emitIpv4(r, out);
      expect(hl).toBe(ipv4HeaderLength(r));
      expect(out.subarray(0, hl)).toEqual(ip(f).subarray(0, hl));
    }
  });

  it('every truncation of every fixture is an error (no header, or total length > buffer)', () => {
    for (const f of [ICMP_ECHO, UDP_FRAME, IGMP_REPORT]) {
      const p = ip(f);
      const tl = (p[2] << 8) | p[3];
      for (let n = 0; n < tl; n++) {
        const r = parseIpv4(p.subarray(0, n));
        expect(isWireError(r), `len ${n}`).toBe(true);
        expect(isWireError(Ipv4Packet.checked(p.subarray(0, n)))).toBe(true);
      }
      expect(isWireError(parseIpv4(p.subarray(0, tl)))).toBe(false);
    }
    expect(reason(parseIpv4(new Uint8Array(19)))).toBe('truncated');
  });

  it('each bad field yields its reason', () => {
    const p = ip(ICMP_ECHO).subarray(0, 84);
    expect(reason(parseIpv4(mutated(p, (b) => (b[0] = 0x65))))).toBe('bad-version');
    expect(reason(parseIpv4(mutated(p, (b) => (b[0] = 0x45 ^ 0x40 ^ 0x60))))).toBe('bad-version');
    for (let ihl = 0; ihl < 5; ihl++) expect(reason(parseIpv4(mutated(p, (b) => (b[0] = 0x40 | ihl))))).toBe('bad-header-length');
    // IHL 15 (60 bytes) on a 30-byte buffer
    expect(reason(parseIpv4(mutated(p, (b) => (b[0] = 0x4f)).subarray(0, 30)))).toBe('bad-header-length');
    // total length < header length, total length > buffer
    expect(reason(parseIpv4(mutated(p, (b) => ((b[2] = 0), (b[3] = 19)))))).toBe('bad-length');
    expect(reason(parseIpv4(mutated(p, (b) => ((b[2] = 0), (b[3] = 85)))))).toBe('bad-length');
    // checksum
    expect(reason(parseIpv4(mutated(p, (b) => (b[8] = 63), false)))).toBe('bad-checksum');
    expect(isWireError(parseIpv4(mutated(p, (b) => (b[8] = 63), false), { verifyChecksum: false }))).toBe(false);
    // fragment that would end beyond 65535
    expect(reason(parseIpv4(mutated(p, (b) => ((b[6] = 0x1f), (b[7] = 0xff)))))).toBe('bad-length');
  });

  it('malformed options are rejected, well-formed ones accepted', () => {
    const withOpts = (opts: number[]) => {
      const body = new Uint8Array(20 + opts.length + 4);
      const hl = emitIpv4(
        {
          src: 1,
          dst: 2,
          protocol: 253,
          ttl: 9,
          tos: 0,
          ident: 7,
          dontFragment: false,
          moreFragments: false,
          fragmentOffset: 0,
          payloadLength: 4,
          options: new Uint8Array(opts),
        },
        body,
      );
      return body.subarray(0, hl + 4);
    };
    expect(isWireError(parseIpv4(withOpts([1, 1, 1, 0])))).toBe(false); // NOPs, EOL
    expect(isWireError(parseIpv4(withOpts([0x44, 8, 5, 0, 0, 0, 0, 0])))).toBe(false); // timestamp, len 8
    expect(isWireError(parseIpv4(withOpts([0, 0xff, 0xff, 0xff])))).toBe(false); // after EOL: ignored
    expect(reason(parseIpv4(withOpts([0x94, 1, 0, 0])))).toBe('bad-option'); // length < 2
    expect(reason(parseIpv4(withOpts([0x94, 5, 0, 0])))).toBe('bad-option'); // length past header
    expect(reason(parseIpv4(withOpts([1, 1, 1, 0x94])))).toBe('bad-option'); // no length byte
  });

  it('emit refuses unencodable reprs', () => {
    const base: Ipv4Repr = {
      src: 1,
      dst: 2,
      protocol: 17,
      ttl: 64,
      tos: 0,
      ident: 0,
      dontFragment: false,
      moreFragments: false,
      fragmentOffset: 0,
      payloadLength: 0,
    };
    const out = new Uint8Array(100);
    expect(() => emitIpv4({ ...base, options: new Uint8Array(3) }, out)).toThrow(RangeError);
    expect(() => emitIpv4({ ...base, options: new Uint8Array(44) }, out)).toThrow(RangeError);
    expect(() => emitIpv4({ ...base, fragmentOffset: 5 }, out)).toThrow(RangeError);
    expect(() => emitIpv4({ ...base, payloadLength: 65516 }, out)).toThrow(RangeError);
    expect(() => emitIpv4(base, new Uint8Array(19))).toThrow(RangeError);
  });

  it('parse(emit(repr)) == repr for random reprs (seeded)', () => {
    const r = rng(791);
    const out = new Uint8Array(200);
    for (let i = 0; i < 2000; i++) {
      const optWords = r() < 0.3 ? 1 + randInt(r, 10) : 0;
      const payloadLength = randInt(r, 120);
      const repr: Ipv4Repr = {
        src: randInt(r, 2 ** 32),
        dst: randInt(r, 2 ** 32),
        protocol: randInt(r, 256),
        ttl: randInt(r, 256),
        tos: randInt(r, 256),
        ident: randInt(r, 65536),
        dontFragment: r() < 0.5,
        moreFragments: r() < 0.5,
        fragmentOffset: 8 * randInt(r, 4000),
        payloadLength,
      };
      if (optWords) repr.options = new Uint8Array(optWords * 4).fill(1); // NOPs: always valid
      const off = randInt(r, 8);
      const hl = emitIpv4(repr, out, off);
      out.set(randBytes(r, payloadLength), off + hl);
      const back = parseIpv4(out.subarray(off, off + hl + payloadLength));
      if (isWireError(back)) throw new Error(`${back} for ${JSON.stringify(repr)}`);
      expect(back).toEqual(repr);
      expect(out[off + IPV4_OFF.VER_IHL] & 15).toBe(hl / 4);
      expect(hl).toBeGreaterThanOrEqual(IPV4_HEADER_LEN);
    }
  });
});
