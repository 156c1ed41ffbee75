import { describe, expect, it } from 'vitest';
import {
  decodeCheckpoint,
  decodeCheckpointBatch,
  encodeCheckpoint,
  encodeCheckpointBatch,
  peekCheckpointVersion,
  type Checkpoint,
} from '@hastack/checkpoint';
import { HastackError, type TcpCheckpoint } from '@hastack/stack';
import { toWire } from '../src/wire.js';
import { bundle, KEY, OTHER_KEY, packRaw, rng, tcpFull, tcpObjectMapped, udp } from './fixtures.js';
import { createHmac } from 'node:crypto';

function many(n: number): Checkpoint[] {
  const out: Checkpoint[] = [];
  for (let i = 0; i < n; i++) {
    const cp = [tcpObjectMapped, udp, bundle, tcpFull][i % 4]();
    if (cp.kind === 'tcp') cp.tcp.remotePort = 1000 + i;
    out.push(cp);
  }
  return out;
}

function refusal(f: () => unknown): HastackError & { field?: string } {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HastackError);
    return e as HastackError & { field?: string };
  }
  throw new Error('accepted');
}

/** A batch frame around arbitrary wire values, signed, without validation. */
function signBatch(values: unknown[], key: Uint8Array = KEY): Buffer {
  const body = packRaw(values);
  const out = Buffer.alloc(6 + body.length + 32);
  out.write('HSCB', 0, 'latin1');
  out.writeUInt16BE(1, 4);
  out.set(body, 6);
  out.set(createHmac('sha256', key).update(out.subarray(0, 6 + body.length)).digest(), 6 + body.length);
  return out;
}

describe('checkpoint batches', () => {
  it('round-trip many checkpoints of every kind under one MAC', () => {
    const cps = many(40);
    const enc = encodeCheckpointBatch(cps, { key: KEY });
    expect(peekCheckpointVersion(enc)).toBe(1);
    const back = decodeCheckpointBatch(enc, { key: KEY });
    expect(back.length).toBe(40);
    // Each member re-encodes to exactly the bytes a single encode of the original gives.
    for (let i = 0; i < cps.length; i++) {
      expect(Buffer.compare(encodeCheckpoint(back[i], { key: KEY }), encodeCheckpoint(cps[i], { key: KEY }))).toBe(0);
    }
    expect(decodeCheckpointBatch(encodeCheckpointBatch([], { key: KEY }), { key: KEY })).toEqual([]);
  });

  it('a batch and a single checkpoint are not interchangeable', () => {
    const single = encodeCheckpoint(udp(), { key: KEY });
    const batch = encodeCheckpointBatch([udp()], { key: KEY });
    expect(refusal(() => decodeCheckpointBatch(single, { key: KEY })).message).toMatch(/bad magic/);
    expect(refusal(() => decodeCheckpoint(batch, { key: KEY })).message).toMatch(/bad magic/);
  });

  it('tampering anywhere, truncation, or the wrong key refuses the whole batch', () => {
    const enc = encodeCheckpointBatch(many(8).filter((c) => c.kind !== 'tcp' || !c.tcp.sendRanges.length), { key: KEY });
    const r = rng(5);
    const m = Buffer.from(enc);
    for (let k = 0; k < 400; k++) {
      const pos = Math.floor(r() * m.length);
      m[pos] ^= 1 << Math.floor(r() * 8);
      expect(refusal(() => decodeCheckpointBatch(m, { key: KEY })).code).toBe('ERR_CHECKPOINT_INVALID');
      m[pos] = enc[pos];
    }
    for (let len = 0; len < enc.length; len += 7) expect(refusal(() => decodeCheckpointBatch(enc.subarray(0, len), { key: KEY })).code).toBe('ERR_CHECKPOINT_INVALID');
    expect(refusal(() => decodeCheckpointBatch(enc, { key: OTHER_KEY })).message).toMatch(/bad signature/);
  });

  it('an invalid member is named by its index, on encode and on decode', () => {
    const cps = many(5);
    (cps[3] as TcpCheckpoint).tcp.sndWscale = 15;
    const e1 = refusal(() => encodeCheckpointBatch(cps, { key: KEY }));
    expect(e1.code).toBe('ERR_CHECKPOINT_INVALID');
    expect(e1.field).toBe('[3].tcp.sndWscale');
    const e2 = refusal(() => decodeCheckpointBatch(signBatch(cps.map(toWire)), { key: KEY }));
    expect(e2.field).toBe('[3].tcp.sndWscale');
    expect(refusal(() => decodeCheckpointBatch(signBatch({} as never), { key: KEY })).message).toMatch(/not an array/);
  });

  it('bounds the member count and applies maxAgeMs to every member', () => {
    const cps = many(3);
    const enc = encodeCheckpointBatch(cps, { key: KEY });
    expect(refusal(() => decodeCheckpointBatch(enc, { key: KEY, maxCheckpoints: 2 })).message).toMatch(/more than 2/);
    const oldest = Math.min(...cps.map((c) => c.meta.takenAt));
    expect(refusal(() => decodeCheckpointBatch(enc, { key: KEY, maxAgeMs: 10, now: oldest + 11 })).code).toBe('ERR_CHECKPOINT_STALE');
  });
});
