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

/** 20 downloads across a crash of A with B restoring `slice` connections per turn; B's outcome. */
async function slicedTakeover(slice: number) {
  const { FailoverLab, downloadResult } = await import('../../../examples/failover-demo/src/scenario.js');
  const { createHttpFileServer, generateRange } = await import('../../../examples/ha-http-server/src/index.js');
  const lab = await FailoverLab.create({ createHttpFileServer, generateRange } as never, { seed: 24 });
  try {
    expect(await lab.until(() => lab.hasVip('A'), 5000)).toBe(true);
    const b = lab.node('B');
    (b.ha as unknown as { restoreSlice: number }).restoreSlice = slice;
    const restoredAtTakeover: number[] = [];
    b.cluster.on('takeover', () => queueMicrotask(() => restoredAtTakeover.push(b.ha.stats.restored)));
    const dls = [];
    let total = 0;
    for (let i = 0; i < 20; i++) {
      dls.push(
        lab.download(1 * MiB + i * 777, 300 + i, (n) => {
          total += n;
          if (total >= 8 * MiB && !lab.node('A').stack.closed) lab.crash('A');
        }),
      );
    }
    await lab.until(() => dls.every((d) => d.done), 120_000);
    const rs = dls.map(downloadResult);
    return {
      ok: rs.filter((r) => r.ok).length,
      errors: rs.filter((r) => r.error).length,
      restoredAtTakeover,
      stats: { ...b.ha.stats },
      rsts: b.stack.stats().tcp.outRsts as number,
      holding: b.ha.drain.holding,
    };
  } finally {
    lab.close();
  }
}

describe('HaNode: a takeover restores in slices', () => {
  it('restoring 4 per turn of the event loop ends exactly like restoring all at once: every download intact', async () => {
    const all = await slicedTakeover(0);
    const sliced = await slicedTakeover(4);
    expect(all.ok).toBe(20);
    expect(sliced.ok).toBe(20);
    expect(sliced.errors).toBe(0);
    expect(all.restoredAtTakeover).toEqual([all.stats.restored]); // synchronously, in the takeover
    expect(sliced.restoredAtTakeover).toEqual([4]); // the first slice only; the rest in later turns
    expect(all.stats.restored).toBeGreaterThan(8);
    expect(sliced.stats).toEqual(all.stats);
    expect(sliced.rsts).toBe(all.rsts); // (replicas of connections that had just finished on A are refused by their client)
    expect(sliced.holding).toBe(0);
  });
});
