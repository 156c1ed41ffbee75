// TapLink's JavaScript side against a stand-in addon: one handler batch per native batch, offload
// metadata, batched writes, the bounded transmit queue and its backpressure, TSO headers.
import { afterEach, describe, expect, it } from 'vitest';
import type { RxMeta } from '@hastack/stack';
import { TapLink } from '../src/index.js';
import { setNativeForTesting } from '../src/native.js';
import { decodeVnetHdr, TUN_F_CSUM, TUN_F_TSO4, VIRTIO_NET_HDR_F_DATA_VALID, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_TCPV4 } from '../src/vnet.js';
import { ipv4Frame, openFakeLink, type FakeDevice } from './fake-native.js';

const open = openFakeLink;

const frame = ipv4Frame;

/** Ethernet + IPv4 + TCP frame with `payload` bytes, 10.0.0.1 -> 10.0.0.2. */
function tcpFrame(payload: number): Uint8Array {
  const f = new Uint8Array(54 + payload);
  f[12] = 0x08;
  f[14] = 0x45;
  const tot = 40 + payload;
  f[16] = tot >> 8;
  f[17] = tot & 255;
  f[23] = 6;
  f.set([10, 0, 0, 1, 10, 0, 0, 2], 26);
  f[46] = 0x50;
  return f;
}

afterEach(() => setNativeForTesting(null));

describe('TapLink batching over a stand-in addon', () => {
  it('configures the device: no vnet header without offloads, MTU, up', () => {
    const { link, dev } = open();
    expect(dev.opts).toMatchObject({ name: 'fake0', tun: false, vnetHdr: 0, offload: 0, netns: '' });
    expect(dev.mtu).toBe(1500);
    expect(dev.up).toBe(true);
    expect(dev.readMax).toBe(1500 + 14 + 4);
    expect(dev.txQueueLen).toBe(4096); // room for a 4 MiB receive window of full frames
    expect(link.kernelQueueLen()).toBe(4096);
    expect(link.medium).toBe('ethernet');
    expect(link.mac).toHaveLength(6);
    expect(link.mac![0] & 3).toBe(2); // unicast, locally administered
    link.close();
  });

  it('kernelQueueLen: validated; 0 leaves the device alone', () => {
    expect(() => open({ kernelQueueLen: 8 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => open({ kernelQueueLen: 1.5 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
    const a = open({ kernelQueueLen: 0 });
    expect(a.dev.txQueueLen).toBe(1000);
    a.link.close();
    const b = open({ kernelQueueLen: 20000 });
    expect(b.dev.txQueueLen).toBe(20000);
    b.link.close();
  });

  it('asks the kernel for checksum offload and TSO4 when rx offloads are on, with the 12-byte header', () => {
    const { link, dev } = open({ offloads: { gro: true } });
    expect(dev.opts.vnetHdr).toBe(12);
    expect(dev.opts.offload).toBe(TUN_F_CSUM | TUN_F_TSO4);
    expect(dev.readMax).toBe(12 + 14 + 65536 + 4);
    expect(link.offloads).toMatchObject({ rxChecksum: true, gro: true, txChecksum: false, tso: false });
    link.close();
  });

  it('hands a native batch to the handler as views, then one batchEnd', () => {
    const { link, dev } = open();
    const events: string[] = [];
    const seen: number[][] = [];
    link.attach({
      frame(d, meta) {
        events.push(`frame ${d.length} ${meta?.owned === true && meta.csumValid === undefined}`);
        seen.push([d[0], d[d.length - 1]]);
      },
      batchEnd() {
        events.push('end');
      },
    });
    dev.deliver([{ data: frame(60, 1) }, { data: frame(1514, 2) }, { data: frame(61, 3) }]);
    expect(events).toEqual(['frame 60 true', 'frame 1514 true', 'frame 61 true', 'end']);
    expect(seen).toEqual([[1, 1], [2, 2], [3, 3]]);
    expect(link.stats()).toMatchObject({ rxFrames: 3, rxBytes: 60 + 1514 + 61 });
    link.close();
  });

  it('turns virtio-net flags into RxMeta: DATA_VALID / NEEDS_CSUM -> csumValid, GSO TCPv4 -> gsoSize', () => {
    const { link, dev } = open({ offloads: true });
    const metas: (RxMeta | undefined)[] = [];
    link.attach({ frame: (_d, m) => metas.push(m ? { ...m } : undefined), batchEnd() {} });
    const z = { hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 };
    dev.deliver([
      { data: frame(100, 0), hdr: { ...z, flags: VIRTIO_NET_HDR_F_DATA_VALID, gsoType: 0 } },
      { data: frame(30000, 0), hdr: { flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 66, gsoSize: 1448, csumStart: 34, csumOffset: 16 } },
      { data: frame(100, 0), hdr: { ...z, flags: 0, gsoType: 0 } },
      { data: frame(100, 0), hdr: { ...z, flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: 0 } },
    ]);
    expect(metas).toEqual([{ csumValid: true, owned: true }, { csumValid: true, gsoSize: 1448, owned: true }, { owned: true }, { csumValid: true, owned: true }]);
    expect(link.stats()).toMatchObject({ rxCsumValid: 3, rxGso: 1 });
    link.close();
  });

  it('queues sends and writes them with one native call per flush, in order', () => {
    const { link, dev } = open();
    link.attach({ frame() {}, batchEnd() {} });
    for (let i = 0; i < 10; i++) expect(link.send(frame(60 + i, i))).toBe(true);
    expect(dev.written).toHaveLength(0);
    link.flush();
    expect(dev.writeBatchCalls).toBe(1);
    expect(dev.written.map((w) => [w.length, w[0]])).toEqual(Array.from({ length: 10 }, (_, i) => [60 + i, i]));
    expect(link.stats()).toMatchObject({ txFrames: 10, txBatches: 1, txQueued: 0 });
    link.close();
  });

  it('flushes by itself (microtask) when nobody calls flush()', async () => {
    const { link, dev } = open();
    link.attach({ frame() {}, batchEnd() {} });
    link.send(frame(60, 9));
    link.send(frame(60, 8));
    await Promise.resolve();
    expect(dev.written).toHaveLength(2);
    expect(dev.writeBatchCalls).toBe(1);
    link.close();
  });

  it('backpressure: a full queue drops (send() false, counted), then drains on writability and calls writable() once', async () => {
    const { link, dev } = open({ txQueueFrames: 16 });
    let writable = 0;
    link.attach({ frame() {}, batchEnd() {}, writable: () => writable++ });
    dev.writeBudget = 0; // the kernel takes nothing (EAGAIN)
    for (let i = 0; i < 16; i++) expect(link.send(frame(100, i))).toBe(true);
    expect(link.send(frame(100, 99))).toBe(false);
    expect(link.stats()).toMatchObject({ txDrops: 1, txQueued: 16 });
    expect(dev.pollingWritable).toBe(true);
    expect(writable).toBe(0);
    dev.writeBudget = 5; // partial progress
    dev.fireWritable();
    expect(dev.written).toHaveLength(5);
    expect(writable).toBe(0);
    expect(link.send(frame(100, 16))).toBe(true); // room again: the queue compacts
    dev.writeBudget = Infinity;
    dev.fireWritable();
    expect(dev.pollingWritable).toBe(false);
    expect(writable).toBe(1);
    expect(dev.written.map((w) => w[0])).toEqual([...Array.from({ length: 16 }, (_, i) => i), 16]);
    expect(dev.written.every((w) => w.length === 100)).toBe(true);
    await Promise.resolve();
    link.close();
  });

  it('bounds the queue by bytes too', () => {
    const { link, dev } = open({ txQueueBytes: 2 * (1514 + 8) + 100 });
    link.attach({ frame() {}, batchEnd() {} });
    dev.writeBudget = 0;
    expect(link.send(frame(1514, 1))).toBe(true);
    expect(link.send(frame(1514, 2))).toBe(true);
    expect(link.send(frame(1514, 3))).toBe(false);
    expect(link.stats().txDrops).toBe(1);
    link.close();
  });

  it('refuses frames above maxFrame, and after close', () => {
    const { link, dev } = open();
    link.attach({ frame() {}, batchEnd() {} });
    expect(link.send(new Uint8Array(1515))).toBe(false);
    expect(link.stats().txOversize).toBe(1);
    link.close();
    link.close();
    expect(dev.closed).toBe(true);
    expect(link.send(frame(60, 0))).toBe(false);
  });

  it('writes TSO super-segments with a GSO header and a seeded pseudo-header checksum', () => {
    const { link, dev } = open({ offloads: { tso: true } });
    link.attach({ frame() {}, batchEnd() {} });
    expect(link.offloads.maxFrame).toBe(65549);
    const f = tcpFrame(20000);
    f[50] = 0xde; // garbage in the checksum field: TapLink overwrites it
    f[51] = 0xad;
    expect(link.send(f, { gsoSize: 1448 })).toBe(true);
    const u = tcpFrame(100);
    expect(link.send(u, { csumStart: 34, csumOffset: 16 })).toBe(true);
    link.flush();
    const [big, small] = dev.written;
    expect(decodeVnetHdr(big, 0)).toEqual({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, hdrLen: 54, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
    expect(big.length).toBe(12 + f.length);
    const pseudo = 0x0a00 + 0x0001 + 0x0a00 + 0x0002 + 6 + 20020;
    expect((big[12 + 50] << 8) | big[12 + 51]).toBe(pseudo);
    expect(decodeVnetHdr(small, 0)).toMatchObject({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: 0, csumStart: 34, csumOffset: 16 });
    expect(f[50]).toBe(0xde); // the caller's frame is untouched (TapLink copied it)
    expect(link.stats()).toMatchObject({ txGso: 1, txCsumOffload: 2 });
    link.close();
  });

  it('TUN mode: medium ip, no MAC, bare IP frames', () => {
    const { link, dev } = open({ mode: 'tun', mtu: 9000 });
    expect(dev.opts.tun).toBe(true);
    expect(link.medium).toBe('ip');
    expect(link.mac).toBeUndefined();
    expect(link.offloads.maxFrame).toBe(9000);
    expect(dev.readMax).toBe(9000 + 4);
    link.close();
  });
});

describe('TapLink receive views', () => {
  it('rxHandOver false: reuses the view per batch position when offset and length repeat; a new one otherwise; contents always current', () => {
    const { link, dev } = open({ rxHandOver: false });
    expect(dev.rxMoving).toBe(false);
    const seen: Uint8Array[] = [];
    const firsts: number[] = [];
    link.attach({
      frame(d) {
        seen.push(d);
        firsts.push(d[0]);
      },
      batchEnd() {},
    });
    dev.deliver([{ data: frame(1514, 1) }, { data: frame(1514, 2) }]);
    dev.deliver([{ data: frame(1514, 3) }, { data: frame(1514, 4) }]);
    expect(seen[2]).toBe(seen[0]); // same object: no allocation per frame in a bulk flow
    expect(seen[3]).toBe(seen[1]);
    expect(firsts).toEqual([1, 2, 3, 4]);
    dev.deliver([{ data: frame(60, 5) }, { data: frame(1514, 6) }]);
    expect(seen[4]).not.toBe(seen[0]);
    expect(seen[4].length).toBe(60);
    expect(seen[5]).not.toBe(seen[1]); // its offset moved with the shorter first frame
    expect(seen[5].byteOffset).toBe(64);
    expect(Array.from(seen[5].subarray(0, 2))).toEqual([6, 6]);
    expect(firsts).toEqual([1, 2, 3, 4, 5, 6]);
    link.setMtu(9000); // a new receive buffer: no view over the old one survives
    dev.deliver([{ data: frame(60, 7) }]);
    expect(seen[6]).not.toBe(seen[4]);
    expect(seen[6].buffer).not.toBe(seen[4].buffer);
    expect(seen[6][0]).toBe(7);
    link.close();
  });

  it('hands frames over (owned): later batches never overwrite them, a used-up slab is replaced by a fresh one', () => {
    const { link, dev } = open();
    expect(link.rxHandOver).toBe(true);
    expect(dev.rxMoving).toBe(true);
    const kept: Uint8Array[] = [];
    const metas: (RxMeta | undefined)[] = [];
    link.attach({
      frame(d, m) {
        kept.push(d); // kept beyond the call, as TCP does with owned frames
        metas.push(m);
      },
      batchEnd() {},
    });
    const slab = dev.rx.length;
    expect(slab).toBe(256 << 10);
    const perBatch = 64;
    let sent = 0;
    let short = 0;
    // Deliver until well past two slabs' worth of 1514-byte frames. A batch stops where the slab
    // cannot hold a largest frame (the rest stays queued in the kernel for the next wake-up).
    while (sent * 1520 < 2.5 * slab) {
      const batch = Array.from({ length: perBatch }, (_, i) => ({ data: frame(1514, (sent + i) & 0xff) }));
      const n = dev.deliver(batch);
      expect(n).toBeGreaterThan(0); // TapLink replaced a used-up slab right after the batch
      if (n < perBatch) short++;
      sent += n;
    }
    expect(short).toBeGreaterThan(0);
    expect(kept).toHaveLength(sent);
    expect(metas.every((m) => m?.owned === true)).toBe(true);
    // Every frame ever handed out still holds its own bytes.
    kept.forEach((d, i) => {
      expect(d.length).toBe(1514);
      expect(d[0]).toBe(i & 0xff);
      expect(d[1513]).toBe(i & 0xff);
    });
    expect(link.stats().rxSlabs).toBeGreaterThanOrEqual(2);
    expect(dev.rxBuffersGiven).toBe(link.stats().rxSlabs);
    expect(new Set(kept.map((d) => d.buffer)).size).toBe(link.stats().rxSlabs + 1);
    link.close();
  });

  it('hands over: a wake-up that finds the slab used up (onRx(0)) gets a fresh slab and no frames', () => {
    const { link, dev } = open();
    let frames = 0;
    let ends = 0;
    link.attach({ frame: () => frames++, batchEnd: () => ends++ });
    dev.rxPos = dev.rx.length - 100; // as if the slab were used up without TapLink noticing
    const old = dev.rx.buffer;
    expect(dev.deliver([{ data: frame(1514, 1) }])).toBe(0);
    expect(frames).toBe(0);
    expect(ends).toBe(0);
    expect(dev.rx.buffer).not.toBe(old);
    expect(link.stats().rxSlabs).toBe(1);
    expect(dev.deliver([{ data: frame(1514, 2) }])).toBe(1);
    expect(frames).toBe(1);
    link.close();
  });
});

describe('TapLink with the writer thread (stand-in addon)', () => {
  const firstBytes = (dev: FakeDevice): number[] => dev.written.map((w) => w[0]);

  it('submits without waiting, never reuses bytes of frames still in flight, keeps filling the ring while the writer works', async () => {
    const { link, dev } = open({ txThread: true, txQueueFrames: 16 });
    expect(dev.txThread).toBe(true);
    expect(link.txThread).toBe(true);
    link.attach({ frame() {}, batchEnd() {} });
    for (let i = 0; i < 4; i++) link.send(frame(100, i));
    link.flush();
    expect(dev.writeBatchCalls).toBe(1);
    expect(dev.written).toHaveLength(0); // the thread has not run yet
    expect(link.stats().txQueued).toBe(4);
    // More frames while the first four are in flight: they go behind them, not over them.
    for (let i = 4; i < 8; i++) link.send(frame(100, i));
    expect(dev.txMeta[4 * 2]).toBeGreaterThanOrEqual(4 * 104);
    link.flush();
    expect(dev.wTarget).toBe(8);
    dev.pump(3);
    link.flush();
    expect(link.stats().txQueued).toBe(5);
    // Frames are numbered on: frame 8 goes behind frame 7 while 3..7 are still being written.
    link.send(frame(100, 8));
    expect(dev.txMeta[8 * 2]).toBeGreaterThanOrEqual(8 * 104);
    link.flush();
    expect(dev.wTarget).toBe(9);
    dev.pump();
    link.flush(); // learns that all are out: the byte ring starts over, numbering goes on
    expect(link.stats().txQueued).toBe(0);
    expect(firstBytes(dev)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    link.send(frame(100, 9));
    expect(dev.txMeta[9 * 2]).toBe(0); // slot 9, bytes from the start of the buffer
    link.flush();
    dev.pump();
    expect(dev.wTarget).toBe(10);
    expect(firstBytes(dev)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    await Promise.resolve();
    link.close();
  });

  it('wraps the slot ring and the byte ring: frames keep their order and bytes across many laps', () => {
    // 16 slots; 3044 bytes hold 10..20 frames of 150..299 bytes: both rings wrap often.
    const { link, dev } = open({ txThread: true, txQueueFrames: 16, txQueueBytes: 3044 });
    link.attach({ frame() {}, batchEnd() {} });
    const sent: number[] = [];
    for (let i = 0; i < 200; i++) {
      expect(link.send(frame(150 + (i % 150), i & 0xff))).toBe(true);
      sent.push(i & 0xff);
      if (i % 3 === 0) link.flush();
      if (i % 7 === 0) dev.pump(2); // the writer lags behind: the ring stays partly full
    }
    link.flush();
    dev.pump();
    link.flush();
    expect(firstBytes(dev)).toEqual(sent);
    expect(dev.written.map((w) => w.length)).toEqual(Array.from({ length: 200 }, (_, i) => 150 + (i % 150)));
    // every written frame is intact (the writer never saw bytes overwritten by a later frame)
    expect(dev.written.every((w) => w.every((b, j) => j === 12 || j === 13 || b === w[0]))).toBe(true);
    expect(link.stats()).toMatchObject({ txDrops: 0, txQueued: 0 });
    expect(dev.txWaitCalls).toBeGreaterThan(0); // the ring did fill up
    link.close();
  });

  it('a full ring waits (bounded) for the writer to write a quarter of it, not all of it', () => {
    const { link, dev } = open({ txThread: true, txQueueFrames: 16 });
    link.attach({ frame() {}, batchEnd() {} });
    for (let i = 0; i < 16; i++) expect(link.send(frame(100, i))).toBe(true);
    link.flush();
    expect(link.send(frame(100, 16))).toBe(true); // txWait() until frame 4 is written, then room
    expect(dev.txWaitCalls).toBe(1);
    expect(dev.txWaitUntil).toBe(4);
    expect(dev.written).toHaveLength(4);
    expect(link.stats()).toMatchObject({ txDrops: 0, txQueued: 13 });
    link.flush();
    dev.pump();
    expect(firstBytes(dev)).toEqual([...Array.from({ length: 16 }, (_, i) => i), 16]);
    expect(dev.written.every((w) => w.length === 100)).toBe(true);
    link.close();
  });

  it('backpressure: a writer stuck on a full kernel queue makes send() drop, then one wake-up calls writable()', () => {
    const { link, dev } = open({ txThread: true, txQueueFrames: 16 });
    let writable = 0;
    link.attach({ frame() {}, batchEnd() {}, writable: () => writable++ });
    dev.writeBudget = 4; // the kernel takes four frames, then EAGAIN
    for (let i = 0; i < 16; i++) link.send(frame(100, i));
    link.flush();
    // The writer's four frames free four slots (txWait returns when it blocks): room for four more.
    for (let i = 16; i < 20; i++) expect(link.send(frame(100, i))).toBe(true);
    expect(link.send(frame(100, 99))).toBe(false);
    expect(link.stats()).toMatchObject({ txDrops: 1 });
    expect(dev.wNotify).toBe(true);
    expect(dev.wake()).toBe(false); // nothing due while the writer is stuck
    dev.writeBudget = Infinity;
    dev.pump();
    expect(writable).toBe(0);
    expect(dev.wake()).toBe(true);
    expect(writable).toBe(1);
    expect(link.stats().txQueued).toBe(0);
    expect(dev.pollingWritable).toBe(false);
    expect(link.send(frame(100, 20))).toBe(true);
    link.flush();
    dev.pump();
    // Frames left in flight after a flush always arm one wake-up (so JS rewinds promptly), but
    // writable() is only owed after a drop.
    expect(dev.wake()).toBe(true);
    expect(dev.pollingWritable).toBe(false);
    expect(link.stats().txQueued).toBe(0);
    expect(writable).toBe(1);
    expect(firstBytes(dev)).toEqual([...Array.from({ length: 20 }, (_, i) => i), 20]);
    link.close();
  });

  it('re-arms the one-shot wake-up when more frames were submitted while it was in flight', () => {
    const { link, dev } = open({ txThread: true, txQueueFrames: 16 });
    let writable = 0;
    link.attach({ frame() {}, batchEnd() {}, writable: () => writable++ });
    dev.writeBudget = 0;
    for (let i = 0; i < 16; i++) link.send(frame(100, i));
    link.flush();
    dev.txWaitPumps = false;
    expect(link.send(frame(100, 99))).toBe(false); // drop, arm
    dev.writeBudget = Infinity;
    dev.pump(); // all 16 out; wake-up due
    expect(dev.pendingWake).toBe(true);
    // JS learns of the progress on its own (a flush) and submits more before the wake-up runs.
    link.flush();
    expect(link.send(frame(100, 16))).toBe(true);
    link.flush();
    expect(dev.wTarget).toBe(17);
    expect(dev.wake()).toBe(true); // finds frame 16 still in flight: no writable() yet, asks again
    expect(writable).toBe(0);
    expect(dev.wNotify).toBe(true);
    dev.pump();
    expect(dev.wake()).toBe(true);
    expect(writable).toBe(1);
    expect(firstBytes(dev)).toEqual([...Array.from({ length: 16 }, (_, i) => i), 16]);
    link.close();
  });
});

describe('TapLink.allocFrame (frames built in the transmit ring)', () => {
  it('hands out ring memory; send() of that frame (or a prefix view) skips the copy', () => {
    const { link, dev } = open();
    link.attach({ frame() {}, batchEnd() {} });
    const f = link.allocFrame(200)!;
    expect(f).not.toBeNull();
    expect(f.buffer).toBe(dev.tx.buffer); // the addon's transmit buffer itself
    f.set(frame(200, 7));
    expect(link.send(f)).toBe(true);
    const g = link.allocFrame(1514)!;
    g.set(frame(100, 8), 0);
    expect(link.send(g.subarray(0, 100))).toBe(true); // the IP layer may send a shorter prefix
    link.send(frame(60, 9)); // an ordinary frame in between
    link.flush();
    expect(dev.written.map((w) => [w.length, w[0], w[w.length - 1]])).toEqual([[200, 7, 7], [100, 8, 8], [60, 9, 9]]);
    expect(link.stats()).toMatchObject({ txAllocs: 2, txInPlace: 2, txFrames: 3 });
    link.close();
  });

  it('with offloads: the virtio-net header goes in front of the in-place frame (TSO super-segment)', () => {
    const { link, dev } = open({ offloads: true });
    link.attach({ frame() {}, batchEnd() {} });
    const src = tcpFrame(30000);
    const f = link.allocFrame(src.length)!;
    expect(f.byteOffset % 8).toBe(12 % 8); // behind the 12-byte header, in an 8-aligned slot
    f.set(src);
    expect(link.send(f, { gsoSize: 1448, csumStart: 34, csumOffset: 16 })).toBe(true);
    link.flush();
    expect(dev.written).toHaveLength(1);
    const h = decodeVnetHdr(dev.written[0], 0);
    expect(h).toMatchObject({ flags: VIRTIO_NET_HDR_F_NEEDS_CSUM, gsoType: VIRTIO_NET_HDR_GSO_TCPV4, gsoSize: 1448, csumStart: 34, csumOffset: 16 });
    expect(dev.written[0].length).toBe(12 + src.length);
    expect(Array.from(dev.written[0].subarray(12 + 54, 12 + 64))).toEqual(Array.from(src.subarray(54, 64)));
    expect(link.stats()).toMatchObject({ txInPlace: 1, txGso: 1 });
    link.close();
  });

  it('a frame from an earlier allocation (held, then sent later) is copied, not trusted in place', () => {
    const { link, dev } = open();
    link.attach({ frame() {}, batchEnd() {} });
    const held = link.allocFrame(100)!;
    held.set(frame(100, 1));
    const heldCopy = held.slice(); // what a careful holder keeps (the contract: copy before holding)
    const g = link.allocFrame(100)!; // a newer allocation: the same ring bytes
    expect(g.byteOffset).toBe(held.byteOffset);
    g.set(frame(100, 2));
    expect(link.send(g)).toBe(true);
    expect(link.send(heldCopy)).toBe(true);
    link.flush();
    expect(dev.written.map((w) => w[0])).toEqual([2, 1]);
    expect(link.stats()).toMatchObject({ txAllocs: 2, txInPlace: 1 });
    link.close();
  });

  it('returns null when the ring is full or the size is out of range; send() still drops and owes writable()', () => {
    const { link, dev } = open({ txQueueFrames: 16 });
    let writable = 0;
    link.attach({ frame() {}, batchEnd() {}, writable: () => writable++ });
    dev.writeBudget = 0;
    for (let i = 0; i < 16; i++) {
      const f = link.allocFrame(100)!;
      f.set(frame(100, i));
      expect(link.send(f)).toBe(true);
    }
    expect(link.allocFrame(100)).toBeNull();
    expect(link.allocFrame(0)).toBeNull();
    expect(link.allocFrame(link.offloads.maxFrame + 1)).toBeNull();
    expect(link.send(frame(100, 99))).toBe(false);
    dev.writeBudget = Infinity;
    dev.fireWritable();
    expect(writable).toBe(1);
    expect(dev.written.map((w) => w[0])).toEqual(Array.from({ length: 16 }, (_, i) => i));
    link.close();
    expect(link.allocFrame(100)).toBeNull();
  });

  it('writer thread: in-place frames across many laps of both rings arrive intact and in order', () => {
    const { link, dev } = open({ txThread: true, txQueueFrames: 16, txQueueBytes: 3044 });
    link.attach({ frame() {}, batchEnd() {} });
    const sent: number[] = [];
    for (let i = 0; i < 300; i++) {
      const n = 150 + (i % 150);
      const f = link.allocFrame(n)!;
      expect(f).not.toBeNull();
      f.set(frame(n, i & 0xff));
      expect(link.send(f)).toBe(true);
      sent.push(i & 0xff);
      if (i % 3 === 0) link.flush();
      if (i % 7 === 0) dev.pump(2);
    }
    link.flush();
    dev.pump();
    link.flush();
    expect(dev.written.map((w) => w[0])).toEqual(sent);
    expect(dev.written.every((w, i) => w.length === 150 + (i % 150) && w.every((b, j) => j === 12 || j === 13 || b === w[0]))).toBe(true);
    expect(link.stats()).toMatchObject({ txInPlace: 300, txDrops: 0, txQueued: 0 });
    expect(dev.txWaitCalls).toBeGreaterThan(0);
    link.close();
  });
});
