// The addon validates what JavaScript hands it before it indexes native memory with it (a real
// TAP device in the lab's namespace; the calls go straight to the native object):
// - writeBatch() frame numbers stay below 2^53: larger ones would overflow the int64 sequence
//   arithmetic, and a negative remainder indexes before the metadata array;
// - with the writer thread running, setBuffers() may not change the transmit metadata's slot count
//   (the thread maps frame n to slot n % slots without the lock);
// - a metadata array without a single slot is refused.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab, type TapLink } from '../../src/index.js';
import type { NativeTapDevice } from '../../src/native.js';
import { reason } from './helpers.js';

interface Internals {
  dev: NativeTapDevice;
  rxBuf: ArrayBuffer;
  rxMeta: Int32Array;
  txBuf: ArrayBuffer;
  txMeta: Int32Array;
  rxBatch: number;
}
const inner = (l: TapLink): Internals => l as unknown as Internals;

describe.skipIf(reason !== null)('hastack_tap addon argument checks (lab)', () => {
  let lab: Lab;
  beforeAll(async () => {
    Lab.cleanupStale();
    lab = await Lab.create();
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('writeBatch: frame numbers at or beyond 2^53 (and ranges reaching it) are refused; ordinary ones work', () => {
    const link = lab.addTap({ offloads: false, txThread: false });
    const { dev } = inner(link);
    expect(() => dev.writeBatch(2 ** 53, 1)).toThrow(/range/);
    expect(() => dev.writeBatch(2 ** 63 - 1024, 2)).toThrow(/range/);
    expect(() => dev.writeBatch(2 ** 53 - 1, 2)).toThrow(/range/);
    expect(() => dev.writeBatch(-1, 1)).toThrow(/range/);
    expect(() => dev.writeBatch(0, 1e9)).toThrow(/range/);
    expect(dev.writeBatch(0, 0)).toBe(0);
    link.close();
  });

  it('setBuffers: the writer thread keeps its transmit slot count; an empty txMeta is refused', () => {
    const link = lab.addTap({ offloads: false, txThread: true });
    const t = inner(link);
    const readMax = 1500 + 14 + 4;
    expect(() => t.dev.setBuffers(t.rxBuf, t.rxMeta, t.txBuf, t.txMeta.subarray(0, 32), readMax, t.rxBatch, true)).toThrow(/cannot change/);
    // The same buffers again are fine (the receive side may change).
    t.dev.setBuffers(new ArrayBuffer(1 << 18), t.rxMeta, t.txBuf, t.txMeta, readMax, t.rxBatch, true);
    link.close();
    const sync = lab.addTap({ offloads: false, txThread: false });
    const s = inner(sync);
    expect(() => s.dev.setBuffers(s.rxBuf, s.rxMeta, s.txBuf, new Int32Array(1), readMax, s.rxBatch, true)).toThrow(/no slot/);
    sync.close();
  });
});
