import { describe, expect, it } from 'vitest';
import {
  TcpPacket,
  TcpFlags,
  TCP_OFF,
  parseTcp,
  emitTcp,
  parseTcpOptions,
  emitTcpOptions,
  tcpOptionsLength,
  emptyTcpOptions,
  type TcpRepr,
} from '../src/tcp.js';
import { WireError } from '../src/result.js';

const hex = (s: string) => Uint8Array.from(s.replace(/\s+/g, '').match(/../g)!.map((b) => parseInt(b, 16)));
const SRC = 0xc6120001; // 198.18.0.1
const DST = 0xc6120002; // 198.18.0.2

/** Independent reference checksum (RFC 1071, byte-by-byte, with pseudo-header). */
function refChecksum(seg: Uint8Array, src: number, dst: number): number {
  const ph = [src >>> 24, (src >>> 16) & 255, (src >>> 8) & 255, src & 255, dst >>> 24, (dst >>> 16) & 255, (dst >>> 8) & 255, dst & 255, 0, 6, seg.length >>> 8, seg.length & 255];
  const all = [...ph, ...seg];
  if (all.length & 1) all.push(0);
  let s = 0;
  for (let i = 0; i < all.length; i += 2) s += (all[i] << 8) | all[i + 1];
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

// A Linux 6.x SYN (as captured by tcpdump): 198.18.0.1:45678 -> 198.18.0.2:80.
const LINUX_SYN = hex(`
  b2 6e        0050        -- src port 45678, dst port 80
  3b9aca07                 -- seq
  00000000                 -- ack
  a0 02                    -- data offset 10 words (40 bytes), flags SYN
  faf0                     -- window 64240
  0000                     -- checksum (filled below)
  0000                     -- urgent
  020405b4                 -- MSS 1460
  0402                     -- SACK permitted
  080a 0012d687 00000000   -- timestamps TSval=1234567 TSecr=0
  01                       -- NOP
  030307                   -- window scale 7
`.replace(/--[^\n]*/g, ''));
{
  const c = refChecksum(LINUX_SYN, SRC, DST);
  LINUX_SYN[16] = c >>> 8;
  LINUX_SYN[17] = c & 255;
}

describe('TcpPacket view', () => {
  it('reads every field of a Linux SYN at the named offsets', () => {
    const p = TcpPacket.checked(LINUX_SYN);
    expect(p).toBeInstanceOf(TcpPacket);
    const v = p as TcpPacket;
    expect(v.srcPort).toBe(45678);
    expect(v.dstPort).toBe(80);
    expect(v.seq).toBe(0x3b9aca07);
    expect(v.ack).toBe(0);
    expect(v.headerLength).toBe(40);
    expect(v.flags).toBe(TcpFlags.SYN);
    expect(v.window).toBe(64240);
    expect(v.urgent).toBe(0);
    expect(v.options.length).toBe(20);
    expect(v.payload.length).toBe(0);
    expect(v.verifyChecksum(SRC, DST)).toBe(true);
    expect(LINUX_SYN[TCP_OFF.FLAGS]).toBe(2);
  });

  it('flag constants are the RFC 9293/3168 bits', () => {
    expect(TcpFlags).toEqual({ FIN: 1, SYN: 2, RST: 4, PSH: 8, ACK: 16, URG: 32, ECE: 64, CWR: 128 });
  });

  it('setters write what getters read', () => {
    const b = new Uint8Array(20);
    const v = new TcpPacket(b);
    v.srcPort = 1;
    v.dstPort = 65535;
    v.seq = 0xffffffff;
    v.ack = 0x80000000;
    v.headerLength = 20;
    v.flags = TcpFlags.ACK | TcpFlags.FIN;
    v.window = 1234;
    v.urgent = 7;
    expect([v.srcPort, v.dstPort, v.seq, v.ack, v.headerLength, v.flags, v.window, v.urgent]).toEqual([1, 65535, 0xffffffff, 0x80000000, 20, 17, 1234, 7]);
  });
});

describe('parseTcp / emitTcp', () => {
  it('parses the Linux SYN options', () => {
    const r = parseTcp(LINUX_SYN, SRC, DST) as TcpRepr;
    expect(r).not.toBeInstanceOf(WireError);
    expect(r.options).toEqual({ mss: 1460, windowScale: 7, sackPermitted: true, sack: [], tsVal: 1234567, tsEcr: 0 });
  });

  it('emit(parse(linux SYN)) reproduces the exact bytes', () => {
    const r = parseTcp(LINUX_SYN, SRC, DST) as TcpRepr;
    const out = new Uint8Array(LINUX_SYN.length);
    expect(emitTcp(r, out, 0, SRC, DST)).toBe(40);
    expect(out).toEqual(LINUX_SYN);
  });

  it('round trips data segments with SACK blocks and TS, at an offset', () => {
    const repr: TcpRepr = {
      srcPort: 80,
      dstPort: 50000,
      seq: 0xfffffff0,
      ack: 12345,
      flags: TcpFlags.ACK | TcpFlags.PSH,
      window: 501,
      urgent: 0,
      options: { mss: undefined, windowScale: undefined, sackPermitted: false, sack: [1, 2, 3, 4, 5, 6], tsVal: 99, tsEcr: 77 },
      payload: new TextEncoder().encode('hello, odd'),
    };
    const buf = new Uint8Array(200);
    const n = emitTcp(repr, buf, 34, SRC, DST);
    expect(n).toBe(20 + 12 + 28 + 10);
    const seg = buf.subarray(34, 34 + n);
    expect(refChecksum(seg, SRC, DST)).toBe(0);
    // NOP NOP TS, then NOP NOP SACK
    expect(Array.from(seg.subarray(20, 24))).toEqual([1, 1, 8, 10]);
    expect(Array.from(seg.subarray(32, 36))).toEqual([1, 1, 5, 26]);
    const back = parseTcp(seg, SRC, DST) as TcpRepr;
    expect({ ...back, payload: Array.from(back.payload) }).toEqual({ ...repr, payload: Array.from(repr.payload) });
  });

  it('every option combination round trips', () => {
    for (let m = 0; m < 32; m++) {
      const o = emptyTcpOptions();
      if (m & 1) o.mss = 536;
      if (m & 2) o.windowScale = 14;
      if (m & 4) o.sackPermitted = true;
      if (m & 8) (o.tsVal = 1), (o.tsEcr = 2);
      if (m & 16) o.sack.push(10, 20);
      const buf = new Uint8Array(40);
      const n = emitTcpOptions(o, buf, 0);
      expect(n).toBe(tcpOptionsLength(o));
      expect(n % 4).toBe(0);
      expect(parseTcpOptions(buf.subarray(0, n))).toEqual(o);
    }
  });

  it('checksum: a flipped bit is bad-checksum; verifyChecksum:false accepts it', () => {
    const b = LINUX_SYN.slice();
    b[30] ^= 1;
    expect((parseTcp(b, SRC, DST) as WireError).reason).toBe('bad-checksum');
    expect(parseTcp(b, SRC, DST, { verifyChecksum: false })).not.toBeInstanceOf(WireError);
    expect((parseTcp(LINUX_SYN, SRC, DST + 1) as WireError).reason).toBe('bad-checksum');
  });

  it('partial checksum mode writes the folded pseudo-header sum', () => {
    const r = parseTcp(LINUX_SYN, SRC, DST) as TcpRepr;
    const out = new Uint8Array(40);
    emitTcp(r, out, 0, SRC, DST, { checksum: 'partial' });
    const s = (SRC >>> 16) + (SRC & 0xffff) + (DST >>> 16) + (DST & 0xffff) + 6 + 40;
    expect((out[16] << 8) | out[17]).toBe((s & 0xffff) + (s >>> 16));
    emitTcp(r, out, 0, SRC, DST, { checksum: 'none' });
    expect((out[16] << 8) | out[17]).toBe(0);
  });

  it('every truncation is an error, never a throw', () => {
    for (let n = 0; n < LINUX_SYN.length; n++) {
      const e = parseTcp(LINUX_SYN.subarray(0, n), SRC, DST, { verifyChecksum: false });
      expect(e).toBeInstanceOf(WireError);
      expect(['truncated', 'bad-header-length']).toContain((e as WireError).reason);
    }
  });

  it('bad data offset (<5 words, or past the segment) is bad-header-length', () => {
    for (const d of [0, 1, 4]) {
      const b = LINUX_SYN.slice();
      b[12] = d << 4;
      expect((parseTcp(b, SRC, DST, { verifyChecksum: false }) as WireError).reason).toBe('bad-header-length');
    }
    const b = LINUX_SYN.slice();
    b[12] = 15 << 4;
    expect((parseTcp(b, SRC, DST, { verifyChecksum: false }) as WireError).reason).toBe('bad-header-length');
  });

  it('malformed option lengths are bad-option; unknown options are skipped; EOL stops', () => {
    const bad = [
      [2, 3, 0, 0], // MSS length 3
      [2, 4, 5], // MSS runs past
      [3, 2, 0, 0], // WS length 2
      [4, 3, 0, 0], // SACK_PERM length 3
      [5, 6, 0, 0, 0, 0, 0, 0], // SACK length not 2+8n
      [8, 9, 0, 0, 0, 0, 0, 0, 0, 0], // TS length 9
      [99, 1, 0, 0], // length < 2
      [99, 0], // length 0 (would loop forever)
      [1, 1, 1, 77], // kind without a length byte
      [5, 42, ...new Array(40).fill(0)], // 5 SACK blocks
    ];
    for (const o of bad) {
      const e = parseTcpOptions(Uint8Array.from(o));
      expect(e, JSON.stringify(o)).toBeInstanceOf(WireError);
      expect((e as WireError).reason).toBe('bad-option');
    }
    const ok = parseTcpOptions(Uint8Array.from([30, 4, 9, 9, 2, 4, 1, 0, 0, 2, 4, 0]));
    expect(ok).toEqual({ ...emptyTcpOptions(), mss: 256 });
  });

  it('a malformed option inside a full segment is bad-option', () => {
    const b = LINUX_SYN.slice();
    b[21] = 5; // MSS length 5
    expect((parseTcp(b, SRC, DST, { verifyChecksum: false }) as WireError).reason).toBe('bad-option');
  });

  it('emitTcpOptions refuses more than 40 bytes', () => {
    const o = emptyTcpOptions();
    o.tsVal = 1;
    o.sack.push(1, 2, 3, 4, 5, 6, 7, 8);
    expect(() => emitTcpOptions(o, new Uint8Array(64), 0)).toThrow(RangeError);
  });
});
