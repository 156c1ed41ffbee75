import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { describe, expect, it } from 'vitest';
import { SharedMemoryLink, Stack, createSharedLinkPair, type LinkHandler, type RxMeta } from '../src/index.js';

// SharedMemoryLink: a shared-memory ring pair between threads. The ring tests run both ends in
// this thread (the protocol does not care which thread an end lives in); the last test runs a
// real worker thread with a stack on each side and checks a TCP transfer byte for byte.

interface Rx {
  frames: Uint8Array[];
  metas: (RxMeta | undefined)[];
  batches: number[];
  writable: number;
  handler: LinkHandler;
  waitFor(n: number): Promise<void>;
}

function receiver(): Rx {
  let cur = 0;
  let waiters: { n: number; resolve: () => void }[] = [];
  const rx: Rx = {
    frames: [],
    metas: [],
    batches: [],
    writable: 0,
    handler: {
      frame(d, meta) {
        rx.frames.push(d);
        rx.metas.push(meta);
        cur++;
      },
      batchEnd() {
        rx.batches.push(cur);
        cur = 0;
        waiters = waiters.filter((w) => (rx.frames.length >= w.n ? (w.resolve(), false) : true));
      },
      writable() {
        rx.writable++;
      },
    },
    waitFor(n) {
      if (rx.frames.length >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`only ${rx.frames.length} of ${n} frames arrived`)), 5000);
        waiters.push({ n, resolve: () => (clearTimeout(t), resolve()) });
      });
    },
  };
  return rx;
}

/** A frame of `len` bytes: a 32-bit sequence number then bytes derived from it. */
function frameOf(seq: number, len: number): Uint8Array {
  const f = new Uint8Array(len);
  f[0] = seq >>> 24;
  f[1] = (seq >>> 16) & 0xff;
  f[2] = (seq >>> 8) & 0xff;
  f[3] = seq & 0xff;
  for (let i = 4; i < len; i++) f[i] = (seq * 31 + i * 7) & 0xff;
  return f;
}

function checkFrame(f: Uint8Array, seq: number, len: number): void {
  expect(f.length).toBe(len);
  expect((f[0] << 24) | (f[1] << 16) | (f[2] << 8) | f[3]).toBe(seq);
  for (let i = 4; i < len; i += 97) expect(f[i]).toBe((seq * 31 + i * 7) & 0xff);
  expect(f[len - 1]).toBe((seq * 31 + (len - 1) * 7) & 0xff);
}

describe('SharedMemoryLink rings', () => {
  it('delivers 3000 frames of random sizes in order and intact across many wraparounds of a 64 KiB ring', async () => {
    const [ea, eb] = createSharedLinkPair({ ringBytes: 65536 });
    const a = new SharedMemoryLink(ea);
    const b = new SharedMemoryLink(eb);
    const rx = receiver();
    a.attach(receiver().handler);
    b.attach(rx.handler);
    let seed = 12345;
    const rnd = (n: number): number => ((seed = (seed * 1103515245 + 12345) >>> 0) % n);
    const lens: number[] = [];
    let seq = 0;
    while (seq < 3000) {
      // Bursts that fit the ring (30 × ≤ 1520 bytes < 64 KiB), then wait for the reader.
      const burst = 1 + rnd(30);
      for (let k = 0; k < burst && seq < 3000; k++, seq++) {
        const len = 14 + rnd(1501);
        lens.push(len);
        expect(a.send(frameOf(seq, len))).toBe(true);
      }
      a.flush();
      await rx.waitFor(seq);
    }
    for (let i = 0; i < 3000; i++) checkFrame(rx.frames[i], i, lens[i]);
    const sa = a.stats();
    const sb = b.stats();
    expect(sa.txFrames).toBe(3000);
    expect(sb.rxFrames).toBe(3000);
    expect(sb.rxBytes).toBe(lens.reduce((x, y) => x + y, 0));
    expect(sb.rxBytes).toBeGreaterThan(30 * 65536); // wrapped around dozens of times
    expect(sa.ringFullDrops + sa.sizeDrops + sb.badRecords).toBe(0);
    // Frames are private copies handed over as owned (TCP may keep views).
    expect(rx.metas.every((m) => m?.owned === true)).toBe(true);
    expect(rx.frames[0].buffer instanceof SharedArrayBuffer).toBe(false);
    // The reader slept between bursts and was woken by the doorbell.
    expect(sb.sleeps).toBeGreaterThan(0);
    expect(sa.wakeupsSent).toBeGreaterThan(0);
    a.close();
    b.close();
  });

  it('backpressure: a full ring drops and counts, send() returns false, writable() comes once the reader frees space', async () => {
    const [ea, eb] = createSharedLinkPair({ ringBytes: 65536 });
    const a = new SharedMemoryLink(ea);
    const b = new SharedMemoryLink(eb);
    const txh = receiver();
    a.attach(txh.handler);
    let ok = 0;
    // b is not attached yet: nobody drains. Each 1000-byte frame takes an 8-byte header + 1000 bytes.
    while (a.send(frameOf(ok, 1000))) ok++;
    expect(ok).toBe(Math.floor(65536 / 1008));
    expect(a.stats().ringFullDrops).toBe(1);
    expect(a.send(frameOf(9999, 1000))).toBe(false);
    expect(a.stats().ringFullDrops).toBe(2);
    expect(txh.writable).toBe(0);
    const rx = receiver();
    b.attach(rx.handler);
    await rx.waitFor(ok);
    for (let i = 0; i < 200 && txh.writable === 0; i++) await new Promise((r) => setTimeout(r, 10));
    expect(txh.writable).toBe(1);
    expect(rx.frames.length).toBe(ok); // the dropped frames never arrive
    for (let i = 0; i < ok; i++) checkFrame(rx.frames[i], i, 1000);
    // Room again.
    expect(a.send(frameOf(ok, 1000))).toBe(true);
    a.flush();
    await rx.waitFor(ok + 1);
    checkFrame(rx.frames[ok], ok, 1000);
    a.close();
    b.close();
  });

  it('bounded batches: 600 queued frames arrive in batches of at most batchFrames', async () => {
    const [ea, eb] = createSharedLinkPair({ ringBytes: 1 << 20 });
    const a = new SharedMemoryLink(ea);
    const b = new SharedMemoryLink(eb, { batchFrames: 256 });
    for (let i = 0; i < 600; i++) expect(a.send(frameOf(i, 60))).toBe(true);
    const rx = receiver();
    b.attach(rx.handler);
    await rx.waitFor(600);
    expect(Math.max(...rx.batches)).toBe(256);
    expect(rx.batches.length).toBeGreaterThanOrEqual(3);
    expect(b.stats().rxBatches).toBe(rx.batches.length);
    for (let i = 0; i < 600; i++) checkFrame(rx.frames[i], i, 60);
    a.close();
    b.close();
  });

  it('size limits: frames shorter than an Ethernet header or longer than mtu + 14 are dropped and counted', async () => {
    const [ea, eb] = createSharedLinkPair({ mtu: 1500 });
    const a = new SharedMemoryLink(ea);
    const b = new SharedMemoryLink(eb);
    const rx = receiver();
    b.attach(rx.handler);
    expect(a.send(new Uint8Array(13))).toBe(true);
    expect(a.send(new Uint8Array(1515))).toBe(true);
    expect(a.send(frameOf(1, 1514))).toBe(true);
    a.flush();
    await rx.waitFor(1);
    expect(rx.frames.length).toBe(1);
    checkFrame(rx.frames[0], 1, 1514);
    expect(a.stats().sizeDrops).toBe(2);
    a.close();
    b.close();
  });

  it('close: the other end sees it, its sends are counted as closedDrops, its sleeping reader stops', async () => {
    const [ea, eb] = createSharedLinkPair();
    const a = new SharedMemoryLink(ea);
    const b = new SharedMemoryLink(eb);
    const rxa = receiver();
    const rxb = receiver();
    a.attach(rxa.handler);
    b.attach(rxb.handler);
    await new Promise((r) => setTimeout(r, 10)); // both readers asleep
    expect(b.isOpen).toBe(true);
    a.close();
    expect(b.isOpen).toBe(false);
    expect(b.send(frameOf(1, 100))).toBe(false);
    expect(b.stats().closedDrops).toBe(1);
    expect(a.send(frameOf(2, 100))).toBe(false);
    await new Promise((r) => setTimeout(r, 10));
    expect(rxa.frames.length + rxb.frames.length).toBe(0);
    b.close();
    // Ends are plain data: a link made later on a closed pair starts closed.
    expect(new SharedMemoryLink(ea).isOpen).toBe(false);
  });

  it('a handler that closes the link mid-batch gets no further frames and no batchEnd', async () => {
    const [ea, eb] = createSharedLinkPair();
    const a = new SharedMemoryLink(ea);
    const b = new SharedMemoryLink(eb);
    for (let i = 0; i < 10; i++) a.send(frameOf(i, 100));
    let frames = 0;
    let ends = 0;
    b.attach({
      frame() {
        if (++frames === 3) b.close();
      },
      batchEnd() {
        ends++;
      },
    });
    await new Promise((r) => setTimeout(r, 30));
    expect(frames).toBe(3);
    expect(ends).toBe(0);
    expect(a.isOpen).toBe(false);
    a.close();
  });

  it('rejects bad arguments with typed errors', () => {
    expect(() => createSharedLinkPair({ ringBytes: 100_000 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => createSharedLinkPair({ mtu: 10 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => new SharedMemoryLink({} as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE' }));
  });
});

describe('SharedMemoryLink with segmentationOffload (a veth pair with GSO)', () => {
  it('TCP sends 64 KiB super-segments that cross whole; checksums completed by the sender are verified; 8 MiB intact', async () => {
    const [ea, eb] = createSharedLinkPair({ mtu: 1500, segmentationOffload: true });
    const la = new SharedMemoryLink(ea);
    const lb = new SharedMemoryLink(eb);
    expect(la.offloads).toMatchObject({ tso: true, gro: true, txChecksum: true, rxChecksum: false, maxFrame: 65535 + 14 });
    const a = new Stack({ link: la, address: '198.18.0.1/24', seed: 1 });
    const b = new Stack({ link: lb, address: '198.18.0.2/24', seed: 2 });
    const total = 8 << 20;
    const data = Buffer.alloc(total);
    for (let i = 0; i < total; i++) data[i] = Math.imul(i, 0x9e3779b1) >>> 24;
    const hash = createHash('sha256');
    let got = 0;
    await new Promise<void>((resolve, reject) => {
      b.createServer((sock) => {
        sock.on('data', (d: Buffer) => {
          hash.update(d);
          got += d.length;
        });
        sock.on('end', () => resolve());
        sock.on('error', reject);
      }).listen(80, () => {
        const c = a.connect(80, '198.18.0.2');
        c.on('error', reject);
        c.end(data);
      });
    });
    expect(got).toBe(total);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    const sa = la.stats();
    const sb = lb.stats();
    expect(sa.txGso).toBeGreaterThan(0);
    expect(sb.rxGso).toBe(sa.txGso);
    expect(sa.txFrames).toBeLessThan(total / 1448 / 4); // far fewer frames than MTU-sized segments
    expect(b.stats().tcp.drops.badChecksum).toBe(0);
    a.crash();
    b.crash();
    la.close();
    lb.close();
  });

  it('a corrupted super-segment is dropped by the receiver as a bad checksum (the checksum is real)', async () => {
    const [ea, eb] = createSharedLinkPair({ mtu: 1500, segmentationOffload: true });
    const la = new SharedMemoryLink(ea);
    const lb = new SharedMemoryLink(eb);
    // Wrap the receiving end: flip one payload byte of the first GRO frame.
    let flipped = 0;
    const wrapped = {
      medium: lb.medium, mtu: lb.mtu, mac: lb.mac, offloads: lb.offloads,
      attach(h: LinkHandler) {
        lb.attach({
          frame(d, meta) {
            if (meta?.gsoSize && flipped === 0) {
              d[d.length - 1] ^= 0xff;
              flipped++;
            }
            h.frame(d, meta);
          },
          batchEnd: () => h.batchEnd(),
          writable: () => h.writable?.(),
        });
      },
      send: (f: Uint8Array, m?: import('../src/index.js').TxMeta) => lb.send(f, m),
      flush: () => lb.flush(),
      close: () => lb.close(),
    };
    const a = new Stack({ link: la, address: '198.18.0.1/24', seed: 1 });
    const b = new Stack({ link: wrapped, address: '198.18.0.2/24', seed: 2 });
    const total = 1 << 20;
    let got = 0;
    await new Promise<void>((resolve, reject) => {
      b.createServer((sock) => {
        sock.on('data', (d: Buffer) => (got += d.length));
        sock.on('end', () => resolve());
        sock.on('error', reject);
      }).listen(80, () => {
        const c = a.connect(80, '198.18.0.2');
        c.on('error', reject);
        c.end(Buffer.alloc(total, 1));
      });
    });
    expect(flipped).toBe(1);
    expect(b.stats().tcp.drops.badChecksum).toBe(1);
    expect(got).toBe(total); // recovered by retransmission
    a.crash();
    b.crash();
    la.close();
    lb.close();
  });
});

describe('SharedMemoryLink between two threads', () => {
  const dist = new URL('../dist/index.js', import.meta.url);

  it('a stack in a worker thread serves 16 MiB over TCP to a stack in this thread, SHA-256 intact', async () => {
    // The worker runs the built package (a worker cannot load TypeScript sources): build first.
    expect(existsSync(fileURLToPath(dist)), 'packages/stack/dist is missing: run `npx tsc -b` first').toBe(true);
    const total = 16 << 20;
    const [ea, eb] = createSharedLinkPair({ mtu: 1500 });
    const code = `
      const { workerData, parentPort } = require('node:worker_threads');
      (async () => {
        const { Stack, SharedMemoryLink } = await import(workerData.dist);
        const link = new SharedMemoryLink(workerData.end);
        const stack = new Stack({ link, address: '198.18.0.2/24', seed: 2 });
        const block = Buffer.alloc(65536);
        let x = 7;
        const server = stack.createServer((sock) => {
          let sent = 0;
          const pump = () => {
            while (sent < workerData.total) {
              for (let i = 0; i < block.length; i++) { x = (Math.imul(x, 1103515245) + 12345) >>> 0; block[i] = x >>> 24; }
              sent += block.length;
              if (!sock.write(Buffer.from(block))) return void sock.once('drain', pump);
            }
            sock.end();
          };
          pump();
          sock.on('error', () => {});
        });
        server.listen(80, () => parentPort.postMessage('ready'));
        parentPort.on('message', () => { parentPort.postMessage({ link: link.stats(), tcp: stack.stats().tcp.retransSegs }); });
      })();
    `;
    const w = new Worker(code, { eval: true, workerData: { dist: dist.href, end: eb, total } });
    try {
      await new Promise((resolve, reject) => {
        w.once('message', resolve);
        w.once('error', reject);
      });
      const link = new SharedMemoryLink(ea);
      const stack = new Stack({ link, address: '198.18.0.1/24', seed: 1 });
      const hash = createHash('sha256');
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        const s = stack.connect(80, '198.18.0.2');
        s.on('data', (d: Buffer) => {
          hash.update(d);
          got += d.length;
        });
        s.on('end', () => resolve());
        s.on('error', reject);
      });
      // The same pseudo-random stream, computed here.
      const ref = createHash('sha256');
      const block = Buffer.alloc(65536);
      let x = 7;
      for (let sent = 0; sent < total; sent += block.length) {
        for (let i = 0; i < block.length; i++) {
          x = (Math.imul(x, 1103515245) + 12345) >>> 0;
          block[i] = x >>> 24;
        }
        ref.update(block);
      }
      expect(got).toBe(total);
      expect(hash.digest('hex')).toBe(ref.digest('hex'));
      const peer = await new Promise<{ link: { txFrames: number; ringFullDrops: number }; tcp: number }>((resolve) => {
        w.once('message', resolve);
        w.postMessage('stats');
      });
      expect(peer.link.txFrames).toBeGreaterThan(total / 1500);
      // The peer's counters are a snapshot taken while the close handshake may still be running
      // (its ACK of our FIN can cross after it): equal up to the few frames of the close.
      expect(Math.abs(link.stats().rxFrames - peer.link.txFrames)).toBeLessThanOrEqual(3);
      expect(link.stats().badRecords).toBe(0);
      expect(peer.link.ringFullDrops).toBe(0);
      stack.crash();
      link.close();
    } finally {
      await w.terminate();
    }
  }, 60_000);
});
