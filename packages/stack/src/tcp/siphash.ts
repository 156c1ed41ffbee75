/**
 * SipHash-2-4 (Aumasson & Bernstein) on 32-bit halves, used for RFC 6528 initial sequence
 * numbers, per-connection timestamp offsets and SYN cookies. Keyed, fast, no allocation per call.
 */

const st = new Uint32Array(8); // v0h v0l v1h v1l v2h v2l v3h v3l
const mw = new Uint32Array(2);

function add(a: number, b: number): void {
  // v[a] += v[b] (indices of the high word)
  const lo = (st[a + 1] + st[b + 1]) >>> 0;
  const carry = lo < st[a + 1] ? 1 : 0;
  st[a] = (st[a] + st[b] + carry) >>> 0;
  st[a + 1] = lo;
}
function rotl(a: number, n: number): void {
  const h = st[a];
  const l = st[a + 1];
  if (n === 32) {
    st[a] = l;
    st[a + 1] = h;
  } else if (n < 32) {
    st[a] = ((h << n) | (l >>> (32 - n))) >>> 0;
    st[a + 1] = ((l << n) | (h >>> (32 - n))) >>> 0;
  } else {
    const m = n - 32;
    st[a] = ((l << m) | (h >>> (32 - m))) >>> 0;
    st[a + 1] = ((h << m) | (l >>> (32 - m))) >>> 0;
  }
}
function xor(a: number, b: number): void {
  st[a] ^= st[b];
  st[a + 1] ^= st[b + 1];
}
function round(): void {
  add(0, 2); rotl(2, 13); xor(2, 0); rotl(0, 32);
  add(4, 6); rotl(6, 16); xor(6, 4);
  add(0, 6); rotl(6, 21); xor(6, 0);
  add(4, 2); rotl(2, 17); xor(2, 4); rotl(4, 32);
}
function le32(b: Uint8Array, i: number): number {
  return (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16) | (b[i + 3] << 24)) >>> 0;
}

/**
 * SipHash-2-4 of `msg[0..len)` under a 16-byte key. Writes the 64-bit result into `out` as
 * [high32, low32] and returns the low 32 bits.
 */
export function sipHash24(key: Uint8Array, msg: Uint8Array, len = msg.length, out?: Uint32Array): number {
  const k0h = le32(key, 4), k0l = le32(key, 0), k1h = le32(key, 12), k1l = le32(key, 8);
  st[0] = k0h ^ 0x736f6d65; st[1] = k0l ^ 0x70736575;
  st[2] = k1h ^ 0x646f7261; st[3] = k1l ^ 0x6e646f6d;
  st[4] = k0h ^ 0x6c796765; st[5] = k0l ^ 0x6e657261;
  st[6] = k1h ^ 0x74656462; st[7] = k1l ^ 0x79746573;
  const end = len - (len % 8);
  let i = 0;
  for (; i < end; i += 8) {
    mw[1] = le32(msg, i);
    mw[0] = le32(msg, i + 4);
    st[6] ^= mw[0]; st[7] ^= mw[1];
    round(); round();
    st[0] ^= mw[0]; st[1] ^= mw[1];
  }
  // Last block: remaining bytes little-endian, length in the top byte.
  let lo = 0;
  let hi = (len & 0xff) << 24;
  for (let j = 0; i + j < len; j++) {
    const b = msg[i + j];
    if (j < 4) lo |= b << (8 * j);
    else hi |= b << (8 * (j - 4));
  }
  mw[0] = hi >>> 0;
  mw[1] = lo >>> 0;
  st[6] ^= mw[0]; st[7] ^= mw[1];
  round(); round();
  st[0] ^= mw[0]; st[1] ^= mw[1];
  st[5] ^= 0xff;
  round(); round(); round(); round();
  const rh = (st[0] ^ st[2] ^ st[4] ^ st[6]) >>> 0;
  const rl = (st[1] ^ st[3] ^ st[5] ^ st[7]) >>> 0;
  if (out) {
    out[0] = rh;
    out[1] = rl;
  }
  return rl;
}

const tupleBuf = new Uint8Array(24);

/** Keyed hash of a connection 4-tuple plus two extra words (32-bit result). */
export function hashTuple(key: Uint8Array, la: number, lp: number, ra: number, rp: number, x = 0, y = 0): number {
  const b = tupleBuf;
  b[0] = la >>> 24; b[1] = la >>> 16; b[2] = la >>> 8; b[3] = la;
  b[4] = ra >>> 24; b[5] = ra >>> 16; b[6] = ra >>> 8; b[7] = ra;
  b[8] = lp >>> 8; b[9] = lp; b[10] = rp >>> 8; b[11] = rp;
  b[12] = x >>> 24; b[13] = x >>> 16; b[14] = x >>> 8; b[15] = x;
  b[16] = y >>> 24; b[17] = y >>> 16; b[18] = y >>> 8; b[19] = y;
  return sipHash24(key, b, 20);
}
