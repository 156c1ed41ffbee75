import { describe, expect, it } from 'vitest';
import {
  checksum,
  checksumPartial,
  foldChecksum,
  foldSum,
  pseudoHeaderSum,
  updateChecksum16,
  updateChecksum32,
} from '../src/checksum.js';
import { IPV4_B861, UDP_FRAME } from './fixtures.js';
import { hex, randBytes, randInt, refChecksum, rng } from './helpers.js';

describe('internet checksum (RFC 1071)', () => {
  it('RFC 1071 §3 numerical example: words 0001 f203 f4f5 f6f7 sum to ddf2', () => {
    const b = hex('00 01 f2 03 f4 f5 f6 f7');
    expect(foldSum(checksumPartial(b))).toBe(0xddf2);
    expect(checksum(b)).toBe(0x220d);
  });

  it('known IPv4 header vector: checksum field b861 verifies and recomputes', () => {
    expect(checksum(IPV4_B861, 0, 20)).toBe(0);
    const h = IPV4_B861.slice();
    h[10] = 0;
    h[11] = 0;
    expect(checksum(h)).toBe(0xb861);
  });

  it('UDP fixture: pseudo-header sum + datagram verifies (tshark-checked vector)', () => {
    const udp = UDP_FRAME.subarray(34, 34 + 22);
    expect(checksum(udp, 0, 22, pseudoHeaderSum(0xc6120001, 0xc6120002, 17, 22))).toBe(0);
    // any flipped bit breaks it
    const bad = udp.slice();
    bad[12] ^= 0x10;
    expect(checksum(bad, 0, 22, pseudoHeaderSum(0xc6120001, 0xc6120002, 17, 22))).not.toBe(0);
  });

  it('odd length pads with a zero byte; odd start offset is relative to start', () => {
    expect(checksum(hex('01'))).toBe(~0x0100 & 0xffff);
    const b = hex('ff 12 34 56');
    expect(checksum(b, 1, 4)).toBe(refChecksum([0x12, 0x34, 0x56]));
    expect(checksum(b, 2, 2)).toBe(0xffff); // empty range: sum 0
  });

  it('matches a slow reference on random data, lengths and offsets (seeded)', () => {
    const r = rng(1071);
    for (let n = 0; n < 3000; n++) {
      const len = randInt(r, n < 200 ? 40 : 2000);
      const buf = randBytes(r, len + 16);
      const start = randInt(r, 16);
      const initial = randInt(r, 0x3ffff);
      const got = checksum(buf, start, start + len, initial);
      expect(got).toBe(refChecksum(buf.subarray(start, start + len), initial));
    }
  });

  it('folds large sums exactly (64 KiB of 0xff, and sums beyond 2^32)', () => {
    const b = new Uint8Array(65536).fill(0xff);
    expect(checksum(b)).toBe(refChecksum(b));
    expect(foldSum(2 ** 40 + 5)).toBe(foldSum(((2 ** 40) % 65535) + 5));
    expect(foldSum(0)).toBe(0);
    expect(foldSum(0xffff)).toBe(0xffff);
    expect(foldChecksum(0x1fffe)).toBe(0);
  });

  it('any byteOffset and alternating backing buffers (DataView path) match the reference', () => {
    const r = rng(99);
    const a = randBytes(r, 5000);
    const b = randBytes(r, 5000);
    for (let n = 0; n < 400; n++) {
      const src = n % 2 === 0 ? a : b;
      const off = randInt(r, 7);
      const len = 60 + randInt(r, 3000);
      const view = src.subarray(off, off + len + 9);
      const start = randInt(r, 9);
      expect(checksum(view, start, start + len)).toBe(refChecksum(src.subarray(off + start, off + start + len)));
    }
  });

  it('huge inputs (several MiB) fold exactly', () => {
    const big = new Uint8Array(3 * 1024 * 1024 + 7).fill(0xff);
    big[12345] = 1;
    expect(checksum(big)).toBe(refChecksum(big));
    expect(checksum(big, 0, big.length, 2 ** 40)).toBe(refChecksum(big, 2 ** 40));
  });

  it('partial sums chain over even-length pieces', () => {
    const r = rng(7);
    const b = randBytes(r, 1001);
    const s = checksumPartial(b, 0, 500) + checksumPartial(b, 500, 1001);
    expect(foldChecksum(s)).toBe(checksum(b));
  });

  it('pseudoHeaderSum adds src, dst, protocol and length words', () => {
    const s = pseudoHeaderSum(0xc0a80001, 0xc0a800c7, 17, 0x1234);
    expect(s).toBe(0xc0a8 + 0x0001 + 0xc0a8 + 0x00c7 + 17 + 0x1234);
  });

  it('RFC 1624 incremental update equals full recomputation (16- and 32-bit, seeded)', () => {
    const r = rng(1624);
    for (let n = 0; n < 2000; n++) {
      const len = 2 + 2 * randInt(r, 40);
      const b = randBytes(r, len);
      const old = checksum(b);
      if (n % 2 === 0) {
        const at = 2 * randInt(r, len / 2);
        const oldWord = (b[at] << 8) | b[at + 1];
        const newWord = randInt(r, 0x10000);
        b[at] = newWord >> 8;
        b[at + 1] = newWord & 0xff;
        // eqn. 3 may yield 0x0000 where full recomputation yields 0xffff only for an all-zero
        // region (+0 vs -0); compare modulo that ones'-complement ambiguity.
        const inc = updateChecksum16(old, oldWord, newWord);
        const full = checksum(b);
        expect(inc === full || (inc ^ full) === 0xffff).toBe(true);
        expect(checksum(b, 0, len) === full).toBe(true);
      } else if (len >= 4) {
        const at = 2 * randInt(r, len / 2 - 1);
        const oldVal = ((b[at] << 24) | (b[at + 1] << 16) | (b[at + 2] << 8) | b[at + 3]) >>> 0;
        const newVal = randInt(r, 2 ** 32) >>> 0;
        b[at] = newVal >>> 24;
        b[at + 1] = (newVal >>> 16) & 0xff;
        b[at + 2] = (newVal >>> 8) & 0xff;
        b[at + 3] = newVal & 0xff;
        const inc = updateChecksum32(old, oldVal, newVal);
        const full = checksum(b);
        expect(inc === full || (inc ^ full) === 0xffff).toBe(true);
      }
    }
  });

  it('incremental update of a real header still verifies (TTL decrement, address rewrite)', () => {
    const h = IPV4_B861.slice();
    // TTL 64 -> 63: the word at offset 8 is (ttl << 8) | protocol
    const oldWord = (h[8] << 8) | h[9];
    h[8] -= 1;
    const c1 = updateChecksum16((h[10] << 8) | h[11], oldWord, (h[8] << 8) | h[9]);
    h[10] = c1 >> 8;
    h[11] = c1 & 0xff;
    expect(checksum(h)).toBe(0);
    // rewrite the source address
    const oldSrc = ((h[12] << 24) | (h[13] << 16) | (h[14] << 8) | h[15]) >>> 0;
    const newSrc = 0xc6120063;
    h.set([0xc6, 0x12, 0x00, 0x63], 12);
    const c2 = updateChecksum32((h[10] << 8) | h[11], oldSrc, newSrc);
    h[10] = c2 >> 8;
    h[11] = c2 & 0xff;
    expect(checksum(h)).toBe(0);
  });
});
