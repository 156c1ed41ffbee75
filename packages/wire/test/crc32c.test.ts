import { describe, expect, it } from 'vitest';
import { crc32c, crc32cUpdate, crc32cFinish, crc32cZeros, CRC32C_INIT } from '@hastack/wire';

// Bitwise reference implementation (RFC 9260 Appendix B, one bit at a time).
function slowCrc(buf: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

describe('crc32c', () => {
  it('check value for "123456789" (CRC catalogue CRC-32C check)', () => {
    expect(crc32c(new TextEncoder().encode('123456789'))).toBe(0xe3069283);
  });

  // RFC 3720 Appendix B.4 lists the CRC bytes as transmitted (least significant byte first).
  it('RFC 3720 B.4: 32 bytes of zeros -> aa 36 91 8a', () => {
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
  });
  it('RFC 3720 B.4: 32 bytes of ones -> 43 ab a8 62', () => {
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
  });
  it('RFC 3720 B.4: 32 incrementing bytes -> 4e 79 dd 46', () => {
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i))).toBe(0x46dd794e);
  });
  it('RFC 3720 B.4: 32 decrementing bytes -> 5c db 3f 11', () => {
    expect(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i))).toBe(0x113fdb5c);
  });
  it('RFC 3720 B.4: iSCSI read command PDU -> 56 3a 96 d9', () => {
    const pdu = new Uint8Array([
      0x01, 0xc0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x14, 0, 0, 0, 0, 0, 0x04, 0, 0, 0, 0, 0x14, 0, 0, 0, 0x18, 0x28, 0, 0,
      0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0,
    ]);
    expect(crc32c(pdu)).toBe(0xd9963a56);
  });
  it('empty input is 0', () => {
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  it('slicing-by-8 equals the bitwise reference for every length 0..100 and odd offsets', () => {
    let seed = 12345;
    const buf = Uint8Array.from({ length: 120 }, () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
    for (let off = 0; off < 9; off++) {
      for (let len = 0; len <= 100; len++) {
        expect(crc32c(buf, off, off + len)).toBe(slowCrc(buf.subarray(off, off + len)));
      }
    }
  });

  it('piecewise update equals one pass; zeros helper equals zero bytes', () => {
    const a = Uint8Array.from({ length: 37 }, (_, i) => i * 7);
    const b = Uint8Array.from({ length: 29 }, (_, i) => 255 - i);
    const whole = new Uint8Array(a.length + 4 + b.length);
    whole.set(a, 0);
    whole.set(b, a.length + 4);
    let c = crc32cUpdate(CRC32C_INIT, a);
    c = crc32cZeros(c, 4);
    c = crc32cUpdate(c, b);
    expect(crc32cFinish(c)).toBe(crc32c(whole));
  });
});
