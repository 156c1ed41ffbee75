import { describe, expect, it } from 'vitest';
import {
  parseSctp,
  emitSctp,
  parseSctpChunk,
  emitSctpChunk,
  sctpChunkLength,
  sctpPacketLength,
  sctpVerifyChecksum,
  sctpFillChecksum,
  crc32c,
  SctpPacket,
  SctpChunkIter,
  WireError,
  unknownChunkAction,
  unknownParamAction,
  SctpChunkType,
  SctpCause,
  type SctpRepr,
  type SctpChunk,
} from '@hastack/wire';

function hex(text: string): Uint8Array {
  const clean = text.replace(/\/\/[^\n]*/g, '').replace(/\s+/g, '');
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  return out;
}

/** Fill the checksum of a fixture built with a zero checksum field. */
function sealed(b: Uint8Array): Uint8Array {
  sctpFillChecksum(b, 0, b.length);
  return b;
}

// INIT from port 5000 to 80, tag 0 (§8.5.1), initiate tag 0x11223344, a_rwnd 65536, OS 10,
// MIS 65535, initial TSN 0xfffffffe, params: IPv4 198.18.0.1, supported address types (IPv4),
// supported extensions (none listed but one byte, 0xc0 = FORWARD TSN, to exercise odd lengths).
const INIT = hex(`
  1388 0050            // ports 5000 -> 80
  00000000             // verification tag 0
  00000000             // checksum (filled below)
  01 00 0029           // INIT, flags 0, length 41 (last param unpadded)
  11223344             // initiate tag
  00010000             // a_rwnd 65536
  000a ffff            // OS 10, MIS 65535
  fffffffe             // initial TSN
  0005 0008 c6120001   // IPv4 address 198.18.0.1
  000c 0006 0005 0000  // supported address types: IPv4 (+2 pad)
  8008 0005 c0 000000  // supported extensions: 0xc0 (+3 pad, outside the chunk length)
`);

const DATA_SACK = hex(`
  0050 1388 11223344 00000000
  00 03 0013           // DATA, flags B|E, length 19
  00000001             // TSN 1
  0002 0007            // stream 2, SSN 7
  00000033             // PPID 51
  616263 00            // "abc" + 1 pad
  03 00 0018           // SACK, length 24
  00000010             // cum TSN ack 16
  0000ffff             // a_rwnd
  0001 0001            // 1 gap block, 1 duplicate
  0002 0004            // gap 2..4
  0000000e             // duplicate TSN 14
`);

describe('SCTP common header and checksum', () => {
  it('verifies a sealed fixture and rejects any single-bit flip', () => {
    const p = sealed(INIT.slice());
    expect(sctpVerifyChecksum(p, 0, p.length)).toBe(true);
    // CRC32c with the checksum field zeroed, stored least significant byte first (Appendix B).
    const zeroed = p.slice();
    zeroed.fill(0, 8, 12);
    const c = crc32c(zeroed);
    expect([p[8], p[9], p[10], p[11]]).toEqual([c & 0xff, (c >>> 8) & 0xff, (c >>> 16) & 0xff, c >>> 24]);
    for (let i = 0; i < p.length; i++) {
      const q = p.slice();
      q[i] ^= 0x10;
      expect(sctpVerifyChecksum(q, 0, q.length)).toBe(false);
      expect(parseSctp(q)).toBeInstanceOf(WireError);
    }
    expect(parseSctp(p.slice().fill(0x55, 8, 12))).toMatchObject({ reason: 'bad-checksum' });
  });

  it('view reads the header fields', () => {
    const p = SctpPacket.checked(sealed(DATA_SACK.slice()));
    if (p instanceof WireError) throw p;
    expect(p.srcPort).toBe(80);
    expect(p.dstPort).toBe(5000);
    expect(p.verificationTag).toBe(0x11223344);
    expect(p.firstChunkType).toBe(SctpChunkType.DATA);
    expect(p.verifyChecksum()).toBe(true);
    p.verificationTag = 7;
    expect(p.verifyChecksum()).toBe(false);
    p.fillChecksum();
    expect(p.verifyChecksum()).toBe(true);
  });

  it('every truncation of the header is rejected', () => {
    for (let n = 0; n < 12; n++) {
      expect(SctpPacket.checked(INIT.subarray(0, n))).toBeInstanceOf(WireError);
      expect(parseSctp(INIT.slice(0, n), { verifyChecksum: false })).toMatchObject({ reason: 'truncated' });
    }
  });
});

describe('SCTP chunk fixtures', () => {
  it('parses the INIT fixture field by field', () => {
    const r = parseSctp(sealed(INIT.slice()));
    if (r instanceof WireError) throw r;
    expect(r).toMatchObject({ srcPort: 5000, dstPort: 80, verificationTag: 0 });
    expect(r.chunks).toHaveLength(1);
    const c = r.chunks[0];
    expect(c).toMatchObject({
      kind: 'init',
      initiateTag: 0x11223344,
      aRwnd: 65536,
      outboundStreams: 10,
      inboundStreams: 65535,
      initialTsn: 0xfffffffe,
    });
    if (c.kind !== 'init') throw new Error();
    expect(c.params).toEqual([
      { kind: 'ipv4', addr: 0xc6120001 },
      { kind: 'supported-address-types', types: [5] },
      { kind: 'supported-extensions', chunkTypes: [0xc0] },
    ]);
  });

  it('INIT emits back to the identical bytes', () => {
    const bytes = sealed(INIT.slice());
    const r = parseSctp(bytes) as SctpRepr;
    const out = new Uint8Array(sctpPacketLength(r));
    expect(emitSctp(r, out)).toBe(bytes.length);
    expect(out).toEqual(bytes);
  });

  it('parses DATA + SACK bundled, and emits the same bytes', () => {
    const bytes = sealed(DATA_SACK.slice());
    const r = parseSctp(bytes);
    if (r instanceof WireError) throw r;
    expect(r.chunks).toHaveLength(2);
    const [d, s] = r.chunks;
    expect(d).toMatchObject({ kind: 'data', unordered: false, beginning: true, ending: true, immediate: false, tsn: 1, streamId: 2, ssn: 7, ppid: 51 });
    if (d.kind !== 'data') throw new Error();
    expect(new TextDecoder().decode(d.data)).toBe('abc');
    expect(s).toEqual({ kind: 'sack', cumTsnAck: 16, aRwnd: 0xffff, gaps: [[2, 4]], dupTsns: [14] });
    const out = new Uint8Array(sctpPacketLength(r));
    emitSctp(r, out);
    expect(out).toEqual(bytes);
  });

  it('DATA flags U, B, E, I map to bits 2, 1, 0, 3', () => {
    const flags: Array<[Partial<SctpChunk>, number]> = [
      [{ unordered: true }, 0x04],
      [{ beginning: true }, 0x02],
      [{ ending: true }, 0x01],
      [{ immediate: true }, 0x08],
    ];
    for (const [f, bits] of flags) {
      const c = { kind: 'data', unordered: false, beginning: false, ending: false, immediate: false, tsn: 9, streamId: 0, ssn: 0, ppid: 0, data: new Uint8Array(0), ...f } as SctpChunk;
      const b = new Uint8Array(16);
      emitSctpChunk(c, b, 0);
      expect(b[1]).toBe(bits);
      expect(parseSctpChunk(b, 0)).toEqual(c);
    }
  });

  it('ABORT with T bit and causes; SHUTDOWN COMPLETE T bit', () => {
    const b = hex(`
      0050 1388 11223344 00000000
      06 01 0010           // ABORT, T=1, length 16
      000c 0007 6279 65 00 // user-initiated abort "bye" + pad
      0001 0004            // cause 1 (invalid stream), no info... length 4
    `);
    // Fix length: 4 + 8 + 4 = 16
    const r = parseSctp(sealed(b));
    if (r instanceof WireError) throw r;
    expect(r.chunks[0]).toMatchObject({ kind: 'abort', tBit: true });
    const a = r.chunks[0];
    if (a.kind !== 'abort') throw new Error();
    expect(a.causes.map((c) => c.code)).toEqual([SctpCause.USER_ABORT, SctpCause.INVALID_STREAM]);
    expect(new TextDecoder().decode(a.causes[0].info)).toBe('bye');
    const sc = sealed(hex('0050 1388 11223344 00000000 0e 01 0004'));
    expect((parseSctp(sc) as SctpRepr).chunks[0]).toEqual({ kind: 'shutdown-complete', tBit: true });
  });

  it('round-trips every chunk kind through emit and parse', () => {
    const chunks: SctpChunk[] = [
      { kind: 'init-ack', initiateTag: 5, aRwnd: 1 << 20, outboundStreams: 3, inboundStreams: 4, initialTsn: 77, params: [
        { kind: 'ipv4', addr: 0xc6120002 },
        { kind: 'cookie', cookie: new Uint8Array([1, 2, 3, 4, 5]) },
        { kind: 'unrecognized', param: hex('c0040004') },
        { kind: 'cookie-preservative', increment: 1000 },
        { kind: 'unknown', type: 0x8001, value: new Uint8Array(0) },
      ] },
      { kind: 'heartbeat', info: new Uint8Array([9, 8, 7]) },
      { kind: 'heartbeat-ack', info: new Uint8Array(12).fill(3) },
      { kind: 'error', causes: [{ code: SctpCause.UNRECOGNIZED_CHUNK, info: hex('c1000004') }] },
      { kind: 'shutdown', cumTsnAck: 0xffffffff },
      { kind: 'shutdown-ack' },
      { kind: 'cookie-echo', cookie: new Uint8Array([0xaa, 0xbb]) },
      { kind: 'cookie-ack' },
      { kind: 'abort', tBit: false, causes: [] },
      { kind: 'sack', cumTsnAck: 3, aRwnd: 0, gaps: [], dupTsns: [] },
      { kind: 'unknown', type: 0xc1, flags: 0x5a, value: new Uint8Array([1, 2, 3, 4, 5, 6]) },
    ];
    for (const c of chunks) {
      const single = c.kind === 'init-ack';
      const repr: SctpRepr = { srcPort: 1, dstPort: 2, verificationTag: 3, chunks: single ? [c] : [c, { kind: 'cookie-ack' }] };
      const buf = new Uint8Array(sctpPacketLength(repr));
      emitSctp(repr, buf);
      const back = parseSctp(buf);
      expect(back).toEqual(repr);
      expect(sctpChunkLength(c) % 4 === 0 || buf.length % 4 === 0).toBe(true);
    }
  });
});

describe('SCTP malformed input', () => {
  it('every truncation of a valid multi-chunk packet is an error value, never a throw', () => {
    const full = sealed(DATA_SACK.slice());
    for (let n = 12; n < full.length; n++) {
      const r = parseSctp(full.slice(0, n), { verifyChecksum: false });
      // A cut exactly at the DATA chunk's unpadded end (31) is a valid DATA-only packet.
      if (n === 12 || n === 31 || n === 32) expect(r).not.toBeInstanceOf(WireError);
      else expect(r, `length ${n}`).toBeInstanceOf(WireError);
    }
  });

  it('chunk length below 4 and past the end are rejected', () => {
    for (const len of [0, 1, 2, 3]) {
      const b = hex(`0050 1388 00000000 00000000 0b 00 ${len.toString(16).padStart(4, '0')}`);
      expect(parseSctp(b, { verifyChecksum: false })).toMatchObject({ reason: 'bad-chunk' });
    }
    const b = hex('0050 1388 00000000 00000000 0b 00 0008');
    expect(parseSctp(b, { verifyChecksum: false })).toMatchObject({ reason: 'bad-length' });
  });

  it('fixed-size chunks with the wrong length are rejected', () => {
    const bad = ['00 03 000f 00000001 0002 0007 000000', '07 00 0004', '07 00 000c 00000001 00000000', '08 00 0008 00000000', '0e 00 0008 00000000', '0b 00 0008 00000000', '04 00 0004', '01 00 0010 0000000100000001 00010001'];
    for (const c of bad) {
      const b = hex(`0050 1388 00000000 00000000 ${c}`);
      expect(parseSctp(b, { verifyChecksum: false }), c).toMatchObject({ reason: 'bad-chunk' });
    }
  });

  it('SACK whose counts disagree with its length is rejected', () => {
    const b = hex('0050 1388 00000000 00000000 03 00 0014 00000001 00000000 0002 0000 00010002');
    expect(parseSctp(b, { verifyChecksum: false })).toMatchObject({ reason: 'bad-chunk' });
  });

  it('parameter TLVs: short length, overrun, bad IPv4 length', () => {
    const base = '0050 1388 00000000 00000000 01 00';
    const cases = [
      '0018 00000001 00010000 00010001 00000001 0005 0002', // param length 2
      '001c 00000001 00010000 00010001 00000001 0005 0010 c6120001', // param overruns
      '001c 00000001 00010000 00010001 00000001 0005 0006 c612 0000', // IPv4 param length 6
      '0016 00000001 00010000 00010001 00000001 0005 00', // 2 stray bytes
    ];
    for (const c of cases) expect(parseSctp(hex(`${base} ${c}`), { verifyChecksum: false }), c).toBeInstanceOf(WireError);
  });

  it('HEARTBEAT without heartbeat info, and malformed error causes', () => {
    expect(parseSctp(hex('0050 1388 00000000 00000000 04 00 0008 0009 0004'), { verifyChecksum: false })).toMatchObject({ reason: 'bad-chunk' });
    expect(parseSctp(hex('0050 1388 00000000 00000000 06 00 0008 000c 0002'), { verifyChecksum: false })).toMatchObject({ reason: 'bad-chunk' });
    expect(parseSctp(hex('0050 1388 00000000 00000000 09 00 000a 000c 0008 0000'), { verifyChecksum: false })).toMatchObject({ reason: 'bad-chunk' });
  });

  it('INIT bundled with another chunk violates §6.10', () => {
    const init = '01 00 0014 00000001 00010000 00010001 00000001';
    expect(parseSctp(hex(`0050 1388 00000000 00000000 ${init} 0b 00 0004`), { verifyChecksum: false })).toMatchObject({ reason: 'bad-chunk' });
    expect(parseSctp(hex(`0050 1388 00000000 00000000 ${init}`), { verifyChecksum: false })).not.toBeInstanceOf(WireError);
  });

  it('random garbage never throws', () => {
    let s = 99;
    const r = () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let k = 0; k < 2000; k++) {
      const n = 12 + (r() % 60);
      const b = Uint8Array.from({ length: n }, r);
      b[12] = r() % 16; // mostly known chunk types
      expect(() => parseSctp(b, { verifyChecksum: false })).not.toThrow();
    }
  });

  it('chunk iterator walks padded chunks without allocating reprs', () => {
    const it = new SctpChunkIter(sealed(DATA_SACK.slice()), 12);
    const types: number[] = [];
    for (let r = it.next(); r === true; r = it.next()) types.push(it.type);
    expect(types).toEqual([0, 3]);
  });
});

describe('unknown chunk and parameter types (RFC 9260 §3.2, §3.2.1)', () => {
  it('upper two bits pick stop/skip and report', () => {
    expect(unknownChunkAction(0x3f)).toEqual({ stop: true, report: false });
    expect(unknownChunkAction(0x40)).toEqual({ stop: true, report: true });
    expect(unknownChunkAction(0x80)).toEqual({ stop: false, report: false });
    expect(unknownChunkAction(0xc1)).toEqual({ stop: false, report: true });
    expect(unknownParamAction(0x0010)).toEqual({ stop: true, report: false });
    expect(unknownParamAction(0x4010)).toEqual({ stop: true, report: true });
    expect(unknownParamAction(0x8008)).toEqual({ stop: false, report: false });
    expect(unknownParamAction(0xc000)).toEqual({ stop: false, report: true });
  });
});
