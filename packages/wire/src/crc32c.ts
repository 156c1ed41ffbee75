/**
 * CRC32c (Castagnoli, polynomial 0x1EDC6F41, reflected 0x82F63B78), the SCTP checksum
 * (RFC 9260 §6.8 and Appendix B; same CRC as iSCSI, RFC 3720 §12.1).
 *
 * Read this first:
 * - `crc32c()` returns the finished CRC (initial value all ones, final complement), e.g.
 *   `crc32c(ascii("123456789")) === 0xe3069283`.
 * - `crc32cUpdate()` works on the *raw* running register so a CRC can be computed over pieces:
 *   `finish(update(update(CRC32C_INIT, a), b))`.
 * - Slicing-by-8 (eight 256-entry tables, 8 KiB): eight input bytes per loop iteration.
 * - SCTP writes the CRC into the common header least significant byte first (Appendix B: the
 *   reflected CRC register's bit order); see `sctpFillChecksum()` in sctp.ts.
 */

/** Reflected Castagnoli polynomial. */
export const CRC32C_POLY = 0x82f63b78;
/** Initial register value. */
export const CRC32C_INIT = 0xffffffff;

const T = /* @__PURE__ */ buildTables();

function buildTables(): Uint32Array {
  const t = new Uint32Array(8 * 256);
  for (let i = 0; i < 256; i++) {
    let c = i;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ CRC32C_POLY : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + i];
      t[k * 256 + i] = ((prev >>> 8) ^ t[prev & 0xff]) >>> 0;
    }
  }
  return t;
}

/** Feed `buf[start..end)` into the raw CRC register `crc`; returns the new register. */
export function crc32cUpdate(crc: number, buf: Uint8Array, start = 0, end = buf.length): number {
  let c = crc >>> 0;
  let i = start;
  const end8 = start + ((end - start) & ~7);
  for (; i < end8; i += 8) {
    const a = c ^ (buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16) | (buf[i + 3] << 24));
    c =
      T[1792 + (a & 0xff)] ^
      T[1536 + ((a >>> 8) & 0xff)] ^
      T[1280 + ((a >>> 16) & 0xff)] ^
      T[1024 + (a >>> 24)] ^
      T[768 + buf[i + 4]] ^
      T[512 + buf[i + 5]] ^
      T[256 + buf[i + 6]] ^
      T[buf[i + 7]];
  }
  for (; i < end; i++) c = T[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** Feed `n` zero bytes (used for the SCTP checksum field itself). */
export function crc32cZeros(crc: number, n: number): number {
  let c = crc >>> 0;
  for (let i = 0; i < n; i++) c = T[c & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** Finish a raw register: the final complement. */
export function crc32cFinish(crc: number): number {
  return (crc ^ 0xffffffff) >>> 0;
}

/** CRC32c of `buf[start..end)`. */
export function crc32c(buf: Uint8Array, start = 0, end = buf.length): number {
  return crc32cFinish(crc32cUpdate(CRC32C_INIT, buf, start, end));
}
