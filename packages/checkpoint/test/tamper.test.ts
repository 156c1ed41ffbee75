/**
 * Refusal of damaged frames: every truncation, every flipped bit, wrong keys, unsigned frames,
 * future versions. Each must be HastackError ERR_CHECKPOINT_INVALID and leave the input intact.
 */
import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint, type Checkpoint } from '@hastack/checkpoint';
import { HastackError } from '@hastack/stack';
import { toWire } from '../src/wire.js';
import { bundle, KEY, OTHER_KEY, packRaw, rng, signBody, tcpFull, tcpObjectMapped, udp } from './fixtures.js';

function refusal(bytes: Uint8Array, key: Uint8Array | string = KEY): HastackError {
  try {
    decodeCheckpoint(bytes, { key });
  } catch (e) {
    if (!(e instanceof HastackError)) throw new Error(`not a HastackError: ${String(e)}`);
    return e;
  }
  throw new Error('decoded a damaged checkpoint');
}

function expectInvalid(bytes: Uint8Array, reason?: RegExp, key: Uint8Array | string = KEY): void {
  const e = refusal(bytes, key);
  expect(e.code).toBe('ERR_CHECKPOINT_INVALID');
  if (reason) expect(e.message).toMatch(reason);
}

const small: [string, () => Checkpoint][] = [
  ['tcp object-mapped', tcpObjectMapped],
  ['udp', udp],
  ['bundle', bundle],
];

describe('truncation', () => {
  for (const [name, make] of small) {
    it(`${name}: every prefix is refused`, () => {
      const enc = encodeCheckpoint(make(), { key: KEY });
      const copy = Buffer.from(enc);
      for (let len = 0; len < enc.length; len++) expectInvalid(enc.subarray(0, len));
      expect(Buffer.compare(enc, copy)).toBe(0); // decoding touched nothing
    });
  }
  it('tcp full (66 KiB): a seeded sample of 600 prefixes is refused, and every prefix near the ends', () => {
    const enc = encodeCheckpoint(tcpFull(), { key: KEY });
    const r = rng(3);
    const lens = new Set<number>();
    for (let i = 0; i < 100; i++) lens.add(i).add(enc.length - 1 - i);
    while (lens.size < 800) lens.add(Math.floor(r() * enc.length));
    for (const len of lens) expectInvalid(enc.subarray(0, len));
  });
  it('an appended byte is refused too', () => {
    const enc = encodeCheckpoint(udp(), { key: KEY });
    expectInvalid(Buffer.concat([enc, Buffer.from([0])]), /bad signature/);
  });
});

describe('bit flips', () => {
  for (const [name, make] of small) {
    it(`${name}: every single-bit flip and every 0xff xor, at every position, is refused`, () => {
      const enc = encodeCheckpoint(make(), { key: KEY });
      const m = Buffer.from(enc);
      let n = 0;
      for (let pos = 0; pos < m.length; pos++) {
        for (const mask of [1, 2, 4, 8, 16, 32, 64, 128, 0xff]) {
          m[pos] ^= mask;
          expectInvalid(m);
          m[pos] ^= mask;
          n++;
        }
      }
      expect(n).toBe(enc.length * 9);
      expect(decodeCheckpoint(m, { key: KEY }).kind).toBe(make().kind); // restored copy still decodes
    });
  }
  it('tcp full: seeded positions × random values are refused', () => {
    const enc = encodeCheckpoint(tcpFull(), { key: KEY });
    const m = Buffer.from(enc);
    const r = rng(11);
    for (let i = 0; i < 1500; i++) {
      const pos = Math.floor(r() * m.length);
      const v = 1 + Math.floor(r() * 255);
      m[pos] ^= v;
      expectInvalid(m, /bad signature|bad magic|version/);
      m[pos] ^= v;
    }
  });
});

describe('keys and signatures', () => {
  it('wrong key is refused', () => {
    const enc = encodeCheckpoint(tcpObjectMapped(), { key: KEY });
    expectInvalid(enc, /bad signature/, OTHER_KEY);
    expectInvalid(enc, /bad signature/, 'a different key of length');
  });
  it('unsigned frames (MAC stripped, or zeroed) are refused', () => {
    const enc = encodeCheckpoint(tcpObjectMapped(), { key: KEY });
    expectInvalid(enc.subarray(0, enc.length - 32), /bad signature/);
    const zero = Buffer.from(enc);
    zero.fill(0, zero.length - 32);
    expectInvalid(zero, /bad signature/);
  });
  it('a raw msgpack body with no frame at all is refused', () => {
    expectInvalid(packRaw(toWire(tcpObjectMapped())), /bad magic|truncated/);
  });
  it('a frame signed with the right key but a different MAC algorithm input is refused', () => {
    // Signing only the body (not magic+version) must not verify: the header is authenticated.
    const body = packRaw(toWire(udp()));
    const good = signBody(body);
    const forged = Buffer.from(good);
    createHmac('sha256', KEY).update(body).digest().copy(forged, forged.length - 32);
    expectInvalid(forged, /bad signature/);
    expect(decodeCheckpoint(good, { key: KEY }).kind).toBe('udp');
  });
});

describe('versions and magic', () => {
  it('a future format version is refused even when correctly signed', () => {
    const body = packRaw(toWire(udp()));
    expectInvalid(signBody(body, KEY, 2), /future format version 2/);
    expectInvalid(signBody(body, KEY, 0xffff), /future format version 65535/);
    expectInvalid(signBody(body, KEY, 0), /version 0/);
  });
  it('a future meta.version inside a current frame is refused', () => {
    const cp = udp();
    cp.meta.version = 2;
    expectInvalid(signBody(packRaw(toWire(cp))), /meta\.version: future version 2/);
  });
  it('bad magic is refused before anything else', () => {
    const enc = Buffer.from(encodeCheckpoint(udp(), { key: KEY }));
    enc[0] = 0x47;
    expectInvalid(enc, /bad magic/);
  });
  it('oversized input is refused by maxBytes without hashing it', () => {
    const enc = encodeCheckpoint(udp(), { key: KEY });
    try {
      decodeCheckpoint(enc, { key: KEY, maxBytes: enc.length - 1 });
      throw new Error('accepted');
    } catch (e) {
      expect((e as HastackError).code).toBe('ERR_CHECKPOINT_INVALID');
      expect((e as Error).message).toMatch(/too large/);
    }
  });
});
