import { describe, expect, it } from 'vitest';
import { SharedMemoryLink, createSharedLinkPair, type LinkHandler, type RxMeta, type SharedLinkEnd } from '../src/index.js';

// SharedMemoryLink receive-ring hardening: record headers written by the other thread are not
// trusted. A length (or wrap marker) that runs past the bytes the writer has published must not
// make the reader deliver stale ring contents or move its HEAD past TAIL (which would replay old
// laps forever and make the writer see a permanently full ring).

const TAIL = 1;
const HEAD = 0;

interface Rx {
  frames: Uint8Array[];
  metas: (RxMeta | undefined)[];
  handler: LinkHandler;
}

function receiver(): Rx {
  const rx: Rx = {
    frames: [],
    metas: [],
    handler: {
      frame(d, meta) {
        rx.frames.push(d);
        rx.metas.push(meta);
      },
      batchEnd() {},
    },
  };
  return rx;
}

function frameOf(tag: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  for (let i = 0; i < len; i++) f[i] = (tag * 13 + i) & 0xff;
  f[0] = tag;
  return f;
}

const turns = async (n: number): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

async function waitUntil(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await turns(1);
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
}

/** A pair whose 64 KiB ring from a to b has been lapped several times (stale, valid-looking records everywhere). */
async function lappedPair(gso = false): Promise<{ ea: SharedLinkEnd; a: SharedMemoryLink; b: SharedMemoryLink; rx: Rx }> {
  const [ea, eb] = createSharedLinkPair({ ringBytes: gso ? 1 << 18 : 65536, segmentationOffload: gso });
  const a = new SharedMemoryLink(ea);
  const b = new SharedMemoryLink(eb);
  const rx = receiver();
  a.attach(receiver().handler);
  b.attach(rx.handler);
  let sent = 0;
  for (let burst = 0; burst < 20; burst++) {
    for (let k = 0; k < 20; k++) expect(a.send(frameOf(1, 600))).toBe(true);
    sent += 20;
    a.flush();
    await waitUntil(() => rx.frames.length === sent, 'the lapping frames');
  }
  rx.frames.length = 0;
  rx.metas.length = 0;
  return { ea, a, b, rx };
}

describe('SharedMemoryLink: corrupt record headers from the peer', () => {
  it('a length that runs past the published tail is a bad record: nothing stale is delivered and HEAD stops at TAIL', async () => {
    const { ea, a, b, rx } = await lappedPair();
    const ctrl = new Int32Array(ea.tx.ctrl);
    const data32 = new Int32Array(ea.tx.data);
    const mask = ea.tx.data.byteLength - 1;
    const pos = (Atomics.load(ctrl, TAIL) >>> 0) & mask;
    expect(a.send(frameOf(2, 60))).toBe(true);
    // The peer (or a bug there) claims 1400 bytes where it published 60 (+ 8 header): within
    // the frame limit and within the ring, but past TAIL.
    data32[pos >> 2] = 1400;
    a.flush();
    await waitUntil(() => b.stats().badRecords > 0 || rx.frames.length > 0, 'the reader');
    await turns(20);
    expect(b.stats().badRecords).toBe(1);
    expect(rx.frames.length).toBe(0);
    expect(Atomics.load(ctrl, HEAD) >>> 0).toBe(Atomics.load(ctrl, TAIL) >>> 0);
    // The ring still works afterwards.
    expect(a.send(frameOf(3, 200))).toBe(true);
    a.flush();
    await waitUntil(() => rx.frames.length > 0, 'the next frame');
    await turns(5);
    expect(rx.frames.length).toBe(1);
    expect(Array.from(rx.frames[0])).toEqual(Array.from(frameOf(3, 200)));
    expect(a.stats().ringFullDrops).toBe(0);
    a.close();
    b.close();
  });

  it('a wrap marker before the published tail is a bad record, not a jump over unread bytes', async () => {
    const { ea, a, b, rx } = await lappedPair();
    const ctrl = new Int32Array(ea.tx.ctrl);
    const data32 = new Int32Array(ea.tx.data);
    const mask = ea.tx.data.byteLength - 1;
    const pos = (Atomics.load(ctrl, TAIL) >>> 0) & mask;
    expect(pos).toBeLessThan(mask + 1 - 4096); // the marker would skip to the end, far past TAIL
    expect(a.send(frameOf(2, 60))).toBe(true);
    data32[pos >> 2] = -1;
    a.flush();
    await waitUntil(() => b.stats().badRecords > 0 || rx.frames.length > 0, 'the reader');
    await turns(20);
    expect(b.stats().badRecords).toBe(1);
    expect(rx.frames.length).toBe(0);
    expect(Atomics.load(ctrl, HEAD) >>> 0).toBe(Atomics.load(ctrl, TAIL) >>> 0);
    a.close();
    b.close();
  });

  it('a GRO segment size that is negative, not below the frame length, or on a link without GRO is not passed on', async () => {
    const { ea, a, b, rx } = await lappedPair();
    const ctrl = new Int32Array(ea.tx.ctrl);
    const data32 = new Int32Array(ea.tx.data);
    const mask = ea.tx.data.byteLength - 1;
    // This link has no segmentation offload: a gsoSize in the record is corrupt whatever its value.
    const pos = (Atomics.load(ctrl, TAIL) >>> 0) & mask;
    expect(a.send(frameOf(4, 100))).toBe(true);
    data32[(pos >> 2) + 1] = 1 << 30;
    a.flush();
    await waitUntil(() => rx.frames.length > 0, 'the frame');
    expect(rx.metas[0]?.gsoSize).toBeUndefined();
    a.close();
    b.close();
    // With segmentation offload a gsoSize above the frame's length (or negative) is dropped too.
    const g = await lappedPair(true);
    const gctrl = new Int32Array(g.ea.tx.ctrl);
    const g32 = new Int32Array(g.ea.tx.data);
    const gmask = g.ea.tx.data.byteLength - 1;
    for (const bad of [-5, 1 << 30]) {
      const p = (Atomics.load(gctrl, TAIL) >>> 0) & gmask;
      expect(g.a.send(frameOf(5, 100))).toBe(true);
      g32[(p >> 2) + 1] = bad;
      g.a.flush();
      await waitUntil(() => g.rx.frames.length > 0, 'the frame');
      expect(g.rx.metas[0]?.gsoSize).toBeUndefined();
      g.rx.frames.length = 0;
      g.rx.metas.length = 0;
    }
    g.a.close();
    g.b.close();
  });
});

describe('SharedMemoryLink: one link per end', () => {
  it('a second link on the same end (two writers, two readers on one ring) is refused; a malformed end too', () => {
    const [ea, eb] = createSharedLinkPair({ ringBytes: 65536 });
    const a = new SharedMemoryLink(ea);
    expect(() => new SharedMemoryLink(ea)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    // The refused attempt claimed nothing: the other end still opens.
    const b = new SharedMemoryLink(eb);
    expect(() => new SharedMemoryLink(eb)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    a.close();
    b.close();
    const [ec] = createSharedLinkPair({ ringBytes: 65536 });
    const bad = (patch: Partial<SharedLinkEnd>) => () => new SharedMemoryLink({ ...ec, ...patch } as SharedLinkEnd);
    expect(bad({ tx: { ctrl: new SharedArrayBuffer(8), data: ec.tx.data } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(bad({ rx: { ctrl: ec.rx.ctrl, data: new SharedArrayBuffer(65536 + 4) } })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(bad({ mtu: 1e9 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    // None of the refused ones claimed ec: it still opens.
    new SharedMemoryLink(ec).close();
  });
});
