/**
 * yieldingObjectSource: the object source HaNode hands to restores. A streamed source (the HTTP
 * server's generated objects are a Readable over a sync generator) used to be consumed in one
 * unbroken run of microtasks — 20 restored connections refilling ~5 MiB each stalled the takeover
 * host's event loop for 0.5–0.8 s over TAP. Wrapped, the refill gives the event loop a turn after
 * every slice, and the bytes are unchanged.
 */
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { yieldingObjectSource } from '@hastack/cluster';

const KiB = 1024;
const MiB = 1024 * KiB;

function* chunks(offset: number, size: number): Generator<Uint8Array> {
  for (let pos = offset; pos < size; pos += 64 * KiB) {
    const b = new Uint8Array(Math.min(64 * KiB, size - pos));
    for (let i = 0; i < b.length; i++) b[i] = (pos + i) * 31 & 255;
    yield b;
  }
}
const source = (_id: string, offset: number) => Readable.from(chunks(offset, 4 * MiB), { objectMode: false });

/** Read `n` bytes the way a restore's refill does, counting event-loop turns (setImmediate) meanwhile. */
async function refill(bytes: unknown, n: number): Promise<{ data: Uint8Array; turns: number }> {
  let turns = 0;
  let on = true;
  const tick = (): void => {
    if (!on) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const parts: Uint8Array[] = [];
  let got = 0;
  for await (const c of bytes as AsyncIterable<Uint8Array>) {
    const k = Math.min(c.length, n - got);
    parts.push(c.subarray(0, k));
    got += k;
    if (got >= n) break;
  }
  on = false;
  return { data: Buffer.concat(parts), turns };
}

describe('yieldingObjectSource', () => {
  it('gives the event loop a turn after every slice of a streamed source, bytes unchanged', async () => {
    const plain = await refill(source('o', 1000), 4 * MiB - 1000);
    const sliced = await refill(yieldingObjectSource(source, 256 * KiB)('o', 1000), 4 * MiB - 1000);
    expect(Buffer.compare(sliced.data, plain.data)).toBe(0);
    expect(sliced.data.length).toBe(4 * MiB - 1000);
    expect(plain.turns).toBeLessThanOrEqual(1); // the unwrapped source never lets the loop run
    expect(sliced.turns).toBeGreaterThanOrEqual(14); // ~4 MiB / 256 KiB slices
  });

  it('closes the underlying stream when the refill stops early', async () => {
    let stream: Readable | null = null;
    const src = yieldingObjectSource((id, off) => (stream = source(id, off)), 128 * KiB);
    const r = await refill(src('o', 0), 300 * KiB);
    expect(r.data.length).toBe(300 * KiB);
    await new Promise((res) => setImmediate(res));
    expect(stream!.destroyed).toBe(true);
  });

  it('passes byte arrays through untouched (already at hand), and slices promised ones', async () => {
    const arr = new Uint8Array(3 * MiB).fill(7);
    const y = yieldingObjectSource(() => arr, 1 * MiB);
    expect(y('o', 0)).toBe(arr);
    const p = yieldingObjectSource(() => Promise.resolve(arr), 1 * MiB)('o', 0);
    const r = await refill(p, arr.length);
    expect(r.data.length).toBe(arr.length);
    expect(r.turns).toBeGreaterThanOrEqual(2);
    // A source that throws still throws synchronously (the restore reports it as ECONNABORTED).
    expect(() => yieldingObjectSource(() => { throw new Error('gone'); })('o', 0)).toThrow('gone');
  });
});
