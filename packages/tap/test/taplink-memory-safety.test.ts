// TapLink memory the addon holds raw pointers to (receive slabs, the transmit ring) must stay
// attached: an application that gets a received frame (or an allocFrame() view) can reach its
// ArrayBuffer and transfer it (structuredClone / postMessage with a transfer list). A transferred
// buffer is detached here while the addon keeps reading into / writing from its memory, which then
// belongs to someone else (and is freed when they drop it): a use-after-free in native code. The
// link marks those buffers untransferable, so a transfer leaves them attached.
import { MessageChannel } from 'node:worker_threads';
import { afterEach, describe, expect, it } from 'vitest';
import { setNativeForTesting } from '../src/native.js';
import { ipv4Frame, openFakeLink } from './fake-native.js';

const open = openFakeLink;

const frame = ipv4Frame;

/** Tries both transfer paths; returns the buffer's byteLength afterwards. */
function tryTransfer(ab: ArrayBufferLike): number {
  try {
    structuredClone(ab, { transfer: [ab as ArrayBuffer] });
  } catch {
    // refusing is fine too
  }
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(ab, [ab as ArrayBuffer]);
  } catch {
    // refusing is fine too
  }
  port1.close();
  port2.close();
  return ab.byteLength;
}

afterEach(() => setNativeForTesting(null));

describe('TapLink: buffers shared with the addon cannot be detached', () => {
  for (const rxHandOver of [true, false]) {
    it(`a received frame's buffer (the addon's receive ${rxHandOver ? 'slab' : 'buffer'}) stays attached when the app transfers it; receiving goes on`, () => {
      const { link, dev } = open({ rxHandOver });
      const got: Uint8Array[] = [];
      let seen: ArrayBufferLike | null = null;
      link.attach({
        frame: (d) => {
          seen = d.buffer;
          got.push(rxHandOver ? d : d.slice());
        },
        batchEnd() {},
      });
      dev.deliver([{ data: frame(100, 1) }]);
      expect(got).toHaveLength(1);
      const slab = dev.rx.buffer;
      expect(seen).toBe(slab);
      const before = slab.byteLength;
      expect(tryTransfer(slab)).toBe(before);
      expect(slab.byteLength).toBe(before);
      // The next batch lands in the same memory (the addon's pointer) and still reaches the handler.
      dev.deliver([{ data: frame(120, 2) }]);
      expect(got).toHaveLength(2);
      expect(got[1][20]).toBe(2);
      // Slabs given later (rxHandOver) are protected too.
      if (rxHandOver) {
        for (let i = 0; i < 400 && dev.rxBuffersGiven === 0; i++) dev.deliver([{ data: frame(1514, 3) }]);
        expect(dev.rxBuffersGiven).toBeGreaterThan(0);
        dev.deliver([{ data: frame(60, 4) }]);
        const last = got[got.length - 1];
        expect(last.buffer).toBe(dev.rx.buffer);
        const n = last.buffer.byteLength;
        expect(tryTransfer(last.buffer)).toBe(n);
      }
      link.close();
    });
  }

  it('the transmit ring (reachable through an allocFrame() view) stays attached when transferred', () => {
    const { link, dev } = open();
    link.attach({ frame() {}, batchEnd() {} });
    const f = link.allocFrame(100)!;
    expect(f).not.toBeNull();
    const ring = f.buffer;
    const n = ring.byteLength;
    expect(tryTransfer(ring)).toBe(n);
    f.set(frame(100, 7));
    expect(link.send(f)).toBe(true);
    link.flush();
    expect(dev.written).toHaveLength(1);
    expect(dev.written[0][50]).toBe(7);
    link.close();
  });
});
