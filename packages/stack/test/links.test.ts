import { describe, expect, it } from 'vitest';
import { CuttableLink, FaultyLink, MemoryNetwork, Random, Stack, VirtualClock, type LinkHandler } from '@hastack/stack';
import { lan, settle } from './helpers.js';

/** Send `n` numbered datagrams a -> b over a lossy network; return the numbers that arrived. */
async function lossyRun(seed: number, n = 200): Promise<number[]> {
  const { clock, stacks: [a, b] } = lan(2, { seed, loss: 0.3, duplicate: 0.05, reorder: 0.1, delayMs: 1, jitterMs: 2 });
  await settle(clock, a.ping('198.18.0.2', { timeout: 10_000 })).catch(() => undefined);
  const rx = b.createSocket('udp4');
  rx.bind(5000);
  const got: number[] = [];
  rx.on('message', (m) => got.push(m.readUInt32BE(0)));
  const tx = a.createSocket('udp4');
  for (let i = 0; i < n; i++) {
    const m = Buffer.alloc(4);
    m.writeUInt32BE(i);
    tx.send(m, 5000, '198.18.0.2');
    await clock.runFor(1);
  }
  await clock.runFor(100);
  return got;
}

function rawPort(net: MemoryNetwork, mac: string) {
  const port = net.createPort({ mac });
  const batches: number[][] = [];
  let cur: number[] = [];
  const handler: LinkHandler = {
    frame: (d) => cur.push(d[14]),
    batchEnd: () => {
      batches.push(cur);
      cur = [];
    },
  };
  port.attach(handler);
  return { port, batches };
}

function frame(dst: string, src: string, tag: number, len = 60): Uint8Array {
  const f = new Uint8Array(len);
  dst.split(':').forEach((h, i) => (f[i] = parseInt(h, 16)));
  src.split(':').forEach((h, i) => (f[6 + i] = parseInt(h, 16)));
  f[12] = 0x88;
  f[13] = 0xb5; // local experimental ethertype
  f[14] = tag;
  return f;
}

describe('MemoryNetwork', () => {
  it('is deterministic: the same seed drops, duplicates and reorders the same frames', async () => {
    const r1 = await lossyRun(42);
    const r2 = await lossyRun(42);
    const r3 = await lossyRun(43);
    expect(r1).toEqual(r2);
    expect(r1).not.toEqual(r3);
    expect(r1.length).toBeGreaterThan(100);
    expect(r1.length).toBeLessThan(200);
    // some reordering and duplication happened
    expect(new Set(r1).size).toBeLessThan(r1.length);
    expect(r1.some((v, i) => i > 0 && v < r1[i - 1])).toBe(true);
  });

  it('learning switch: unicast goes only to the learned port; hub: everyone sees everything', async () => {
    for (const hub of [false, true]) {
      const clock = new VirtualClock();
      const net = new MemoryNetwork({ clock, hub });
      const p1 = rawPort(net, '02:00:00:00:00:01');
      const p2 = rawPort(net, '02:00:00:00:00:02');
      const p3 = rawPort(net, '02:00:00:00:00:03');
      // p2 speaks first, so the switch learns where it is
      p2.port.send(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:02', 1));
      await clock.runFor(1);
      p1.port.send(frame('02:00:00:00:00:02', '02:00:00:00:00:01', 2));
      await clock.runFor(1);
      const seen3 = p3.batches.flat();
      const seen2 = p2.batches.flat();
      expect(seen2).toEqual([2]);
      expect(p1.batches.flat()).toEqual([1]);
      expect(seen3).toEqual(hub ? [1, 2] : [1]);
    }
  });

  it('hub mode feeds onForeignFrame with frames for other hosts', async () => {
    const { clock, stacks: [a, , c] } = lan(3, { hub: true });
    const foreign: number[] = [];
    c.onForeignFrame((f) => foreign.push(f.length));
    await settle(clock, a.ping('198.18.0.2'));
    expect(foreign.length).toBeGreaterThanOrEqual(2); // the echo request and the reply
    expect(c.stats().drops.ethForeign).toBe(foreign.length);
  });

  it('delivers everything due at the same moment as one batch, copies for multiple receivers', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, hub: true });
    const s = rawPort(net, '02:00:00:00:00:01');
    const seenBy: Uint8Array[] = [];
    const r1 = net.createPort({ mac: '02:00:00:00:00:02' });
    const r2 = net.createPort({ mac: '02:00:00:00:00:03' });
    r1.attach({ frame: (d) => { seenBy.push(d); d[14] = 0xee; }, batchEnd: () => {} });
    r2.attach({ frame: (d) => seenBy.push(d.slice()), batchEnd: () => {} });
    const p = rawPort(net, '02:00:00:00:00:04');
    for (let i = 0; i < 10; i++) s.port.send(frame('ff:ff:ff:ff:ff:ff', '02:00:00:00:00:01', i));
    await clock.runFor(1);
    expect(p.batches).toEqual([[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]]);
    // r1 scribbled on its copy; r2 still saw the original byte
    expect(seenBy.filter((d) => d[14] === 0xee).length).toBe(10);
    expect(seenBy.filter((d) => d[14] !== 0xee).length).toBe(10);
  });

  it('rate limiting: serialization delay and a bounded queue with tail drop', async () => {
    const clock = new VirtualClock();
    // 8 Mbit/s = 1000 bytes/ms; queue of 4000 bytes
    const net = new MemoryNetwork({ clock, rateMbps: 8, queueBytes: 4000 });
    const s = rawPort(net, '02:00:00:00:00:01');
    const r = rawPort(net, '02:00:00:00:00:02');
    const results: boolean[] = [];
    for (let i = 0; i < 10; i++) results.push(s.port.send(frame('02:00:00:00:00:02', '02:00:00:00:00:01', i, 1000)));
    expect(results).toEqual([true, true, true, true, false, false, false, false, false, false]);
    expect(s.port.stats().queueDrops).toBe(6);
    await clock.runFor(1);
    expect(r.batches.flat()).toEqual([0]); // 1000 bytes take 1 ms
    await clock.runFor(10);
    expect(r.batches.flat()).toEqual([0, 1, 2, 3]);
  });

  it('per-port knobs override the segment, and oversize frames are dropped', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, loss: 0 });
    const s = net.createPort({ mac: '02:00:00:00:00:01', loss: 1 });
    const r = rawPort(net, '02:00:00:00:00:02');
    s.send(frame('02:00:00:00:00:02', '02:00:00:00:00:01', 1));
    s.send(new Uint8Array(1515));
    await clock.runFor(1);
    expect(r.batches.flat()).toEqual([]);
    expect(s.stats().lost).toBe(1);
    expect(s.stats().sizeDrops).toBe(1);
  });
});

describe('FaultyLink', () => {
  it('applies delay and loss per direction, deterministically', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock });
    const a = new Stack({ link: new FaultyLink(net.createPort(), { clock, tx: { delayMs: 3 }, rx: { delayMs: 7 }, seed: 5 }), address: '198.18.0.1/24', clock });
    new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
    await settle(clock, a.ping('198.18.0.2'));
    expect(await settle(clock, a.ping('198.18.0.2'))).toBe(10);
    const lossy = new FaultyLink(net.createPort(), { clock, loss: 1 });
    const c = new Stack({ link: lossy, address: '198.18.0.3/24', clock });
    await expect(settle(clock, c.ping('198.18.0.2', { timeout: 100 }))).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(lossy.stats().tx.lost).toBeGreaterThan(0);
  });
});

describe('CuttableLink', () => {
  it('while cut, nothing goes out or comes in (counted); plugged back, pings work again', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock });
    const link = new CuttableLink(net.createPort());
    const a = new Stack({ link, address: '198.18.0.1/24', clock });
    new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
    expect(link.mtu).toBe(1500);
    await settle(clock, a.ping('198.18.0.2'));
    link.cut = true;
    await expect(settle(clock, a.ping('198.18.0.2', { timeout: 100 }))).rejects.toMatchObject({ code: 'ETIMEDOUT' });
    expect(link.dropped).toBeGreaterThan(0);
    link.cut = false;
    expect(await settle(clock, a.ping('198.18.0.2'))).toBeGreaterThanOrEqual(0);
  });
});

describe('Random', () => {
  it('is a seeded, repeatable generator', () => {
    const a = new Random(9);
    const b = new Random(9);
    const xs = Array.from({ length: 5 }, () => a.u32());
    expect(xs).toEqual(Array.from({ length: 5 }, () => b.u32()));
    expect(new Set(xs).size).toBe(5);
    const r = new Random(1);
    let sum = 0;
    for (let i = 0; i < 10000; i++) sum += r.next();
    expect(sum / 10000).toBeGreaterThan(0.45);
    expect(sum / 10000).toBeLessThan(0.55);
  });
});
