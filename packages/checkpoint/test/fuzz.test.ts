/**
 * Decoder fuzzing: mutated bodies, correctly re-signed (so the HMAC does not hide anything), must
 * either decode to a checkpoint that passes validation (and re-encodes), or be refused with
 * ERR_CHECKPOINT_INVALID — never another error type, never a crash or a hang.
 */
import { describe, expect, it } from 'vitest';
import { decodeCheckpoint, decodeCheckpointBatch, encodeCheckpoint, validateCheckpoint, type Checkpoint } from '@hastack/checkpoint';
import { createHmac } from 'node:crypto';
import { HastackError, type TcpCheckpoint } from '@hastack/stack';
import { toWire } from '../src/wire.js';
import { bundle, KEY, packRaw, rng, signBody, tcpFull, tcpObjectMapped, udp } from './fixtures.js';

function tcpFullSmall(): TcpCheckpoint {
  const c = tcpFull();
  const t = c.tcp;
  t.sendLength = 50;
  t.sendRanges = [{ seq: t.sndUna, data: t.sendRanges[0].data.slice(0, 50) }];
  t.finSeq = t.sndUna + 50;
  t.sndNxt = t.sndMax = t.sndUna + 51;
  t.recvBuffer = t.recvBuffer.slice(0, 20);
  t.recvOutOfOrder = [{ seq: t.rcvNxt + 100, data: new Uint8Array(10) }];
  return c;
}

const makers: (() => Checkpoint)[] = [tcpObjectMapped, tcpFullSmall, udp, bundle];

type Outcome = 'accepted' | 'refused';

function attempt(bytes: Uint8Array): Outcome {
  let cp: Checkpoint;
  try {
    cp = decodeCheckpoint(bytes, { key: KEY });
  } catch (e) {
    if (!(e instanceof HastackError) || e.code !== 'ERR_CHECKPOINT_INVALID') {
      throw new Error(`decoder escaped with ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`);
    }
    return 'refused';
  }
  // Accepted: it must be a genuinely valid checkpoint that round-trips.
  expect(validateCheckpoint(cp)).toBe(cp);
  const again = decodeCheckpoint(encodeCheckpoint(cp, { key: KEY }), { key: KEY });
  expect(again.kind).toBe(cp.kind);
  return 'accepted';
}

const INTERESTING = [0x00, 0x01, 0x7f, 0x80, 0x90, 0x9f, 0xa0, 0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0, 0xd3, 0xd4, 0xd5, 0xd6, 0xd8, 0xd9, 0xdc, 0xdd, 0xde, 0xdf, 0xe0, 0xff];

function mutateBytes(body: Uint8Array, r: () => number): Uint8Array {
  let b = Buffer.from(body);
  const steps = 1 + Math.floor(r() * 4);
  for (let s = 0; s < steps; s++) {
    const pos = Math.floor(r() * b.length);
    switch (Math.floor(r() * 7)) {
      case 0: b[pos] ^= 1 << Math.floor(r() * 8); break;
      case 1: b[pos] = INTERESTING[Math.floor(r() * INTERESTING.length)]; break;
      case 2: b[pos] = Math.floor(r() * 256); break;
      case 3: { // insert 1..8 random bytes
        const ins = Buffer.from(Array.from({ length: 1 + Math.floor(r() * 8) }, () => Math.floor(r() * 256)));
        b = Buffer.concat([b.subarray(0, pos), ins, b.subarray(pos)]);
        break;
      }
      case 4: b = Buffer.concat([b.subarray(0, pos), b.subarray(Math.min(b.length, pos + 1 + Math.floor(r() * 16)))]); break;
      case 5: b = b.subarray(0, Math.max(1, pos)); break;
      default: { // duplicate a chunk
        const len = 1 + Math.floor(r() * 24);
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos, pos + len), b.subarray(pos)]);
      }
    }
    if (b.length === 0) b = Buffer.from([0xc0]);
  }
  return b;
}

const VALUES: unknown[] = [
  -1, 0, 1, 14, 15, 255, 256, 65535, 65536, 2 ** 30, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 53, 1.5, -0.5, NaN, Infinity, -Infinity,
  '', 'x', 'ESTABLISHED', 'LISTEN', 'cubic', null, undefined, true, false, [], [1], {}, { a: 1 }, new Uint8Array(0), new Uint8Array(6),
  new Uint8Array(7), new Date(0),
];

/** Replace, delete or duplicate one randomly chosen node of the wire form. */
function mutateValue(wire: unknown[], r: () => number): unknown[] {
  const root = structuredClone(wire);
  let node: unknown[] = root;
  for (;;) {
    if (node.length === 0) break;
    const i = Math.floor(r() * node.length);
    const child = node[i];
    if (Array.isArray(child) && child.length > 0 && r() < 0.7) {
      node = child;
      continue;
    }
    const op = r();
    if (op < 0.75) node[i] = VALUES[Math.floor(r() * VALUES.length)];
    else if (op < 0.85) node.splice(i, 1);
    else if (op < 0.95) node.splice(i, 0, node[i]);
    else if (typeof child === 'number') node[i] = child + (r() < 0.5 ? 1 : -1);
    else node[i] = VALUES[Math.floor(r() * VALUES.length)];
    break;
  }
  return root;
}

describe('decoder fuzz', () => {
  it('12,000 byte-level mutations of signed bodies: decoded-and-valid or ERR_CHECKPOINT_INVALID', () => {
    const r = rng(0xc0ffee);
    const bodies = makers.map((m) => packRaw(toWire(m())));
    const counts = { accepted: 0, refused: 0 };
    for (let i = 0; i < 12_000; i++) counts[attempt(signBody(mutateBytes(bodies[i % bodies.length], r)))]++;
    expect(counts.accepted + counts.refused).toBe(12_000);
    expect(counts.refused).toBeGreaterThan(6000);
    expect(counts.accepted).toBeGreaterThan(100); // e.g. a changed port or sequence number
  });

  it('10,000 structure-aware mutations of the wire form: decoded-and-valid or ERR_CHECKPOINT_INVALID', () => {
    const r = rng(0xbadc0de);
    const wires = makers.map((m) => toWire(m()));
    const counts = { accepted: 0, refused: 0 };
    for (let i = 0; i < 10_000; i++) counts[attempt(signBody(packRaw(mutateValue(wires[i % wires.length], r))))]++;
    expect(counts.accepted + counts.refused).toBe(10_000);
    expect(counts.refused).toBeGreaterThan(5000);
    expect(counts.accepted).toBeGreaterThan(100);
  });

  it('3,000 mutated batch frames: all decoded-and-valid or ERR_CHECKPOINT_INVALID', () => {
    const r = rng(0x5eed);
    const body = packRaw(makers.map((m) => toWire(m())));
    const counts = { accepted: 0, refused: 0 };
    for (let i = 0; i < 3000; i++) {
      const b = mutateBytes(body, r);
      const f = Buffer.alloc(6 + b.length + 32);
      f.write('HSCB', 0, 'latin1');
      f.writeUInt16BE(1, 4);
      f.set(b, 6);
      f.set(createHmac('sha256', KEY).update(f.subarray(0, 6 + b.length)).digest(), 6 + b.length);
      try {
        for (const cp of decodeCheckpointBatch(f, { key: KEY })) expect(validateCheckpoint(cp)).toBe(cp);
        counts.accepted++;
      } catch (e) {
        if (!(e instanceof HastackError) || e.code !== 'ERR_CHECKPOINT_INVALID') throw new Error(`batch decoder escaped with ${String(e)}`);
        counts.refused++;
      }
    }
    expect(counts.refused).toBeGreaterThan(1500);
    expect(counts.accepted).toBeGreaterThan(10);
  });

  it('hostile shapes: huge declared lengths, deep nesting, records and references', () => {
    const frames: Buffer[] = [
      Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff]), // array32 claiming 4G elements
      Buffer.from([0xdf, 0xff, 0xff, 0xff, 0xff]), // map32 claiming 4G pairs
      Buffer.from([0xdb, 0xff, 0xff, 0xff, 0xf0, 0x41]), // str32 claiming 4G bytes
      Buffer.from([0xc6, 0x7f, 0xff, 0xff, 0xff]), // bin32 claiming 2G bytes
      Buffer.alloc(100_000, 0x91), // 100k nested fixarrays
      Buffer.from([0xd4, 0x72, 0x00]), // record-definition extension
      Buffer.from([0xd6, 0x69, 0, 0, 0, 1, 0x90]), // structured-clone id extension
      Buffer.from([0xd6, 0x70, 0, 0, 0, 1]), // structured-clone pointer without a target
      Buffer.from([0xd4, 0x78, 0x00]), // RegExp extension
      Buffer.from([0xc1]), // never-used byte
    ];
    for (const f of frames) expect(attempt(signBody(f))).toBe('refused');
  });
});
