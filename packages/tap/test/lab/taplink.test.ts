// TapLink against the Linux kernel, without the hastack engine: a hand-rolled ARP/ICMP responder
// answers the kernel's ping over TAP and TUN; frames sent with checksum offload and TSO cross the
// kernel's bridge and arrive at a second TAP either completed and split by the kernel (offloads off
// there) or whole (GRO on there).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RxMeta } from '@hastack/stack';
import { Lab, type TapLink } from '../../src/index.js';
import { checksumsOk, responder, tcpFrame, udpFrame } from './frames.js';
import { reason, requireTools, waitFor } from './helpers.js';

describe.skipIf(reason !== null)('TapLink against the kernel (lab)', () => {
  let lab: Lab;
  beforeAll(async () => {
    requireTools(['ping']);
    Lab.cleanupStale();
    lab = await Lab.create();
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('sets the kernel-side queue length (txqueuelen) to kernelQueueLen: 4096 by default', async () => {
    const a = lab.addTap();
    const b = lab.addTap({ kernelQueueLen: 2500 });
    const show = async (l: TapLink): Promise<string> => (await lab.exec('switch', ['ip', 'link', 'show', 'dev', l.name])).stdout;
    expect(await show(a)).toMatch(/ qlen 4096\b/);
    expect(a.kernelQueueLen()).toBe(4096);
    expect(await show(b)).toMatch(/ qlen 2500\b/);
    a.close();
    b.close();
  });

  for (const offloads of [false, true]) {
    it(`the kernel pings a responder on a TAP device (offloads ${offloads ? 'on' : 'off'})`, async () => {
      const link = lab.addTap({ offloads });
      const ip = lab.addr(offloads ? 3 : 2);
      const h = responder(link, ip);
      link.attach(h);
      const r = await lab.exec('client', ['ping', '-c', '3', '-i', '0.2', '-W', '2', ip], { allowFail: true });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toMatch(/3 received/);
      expect(h.arps).toBeGreaterThanOrEqual(1);
      expect(h.echoes).toBe(3);
      const s = link.stats();
      expect(s.rxFrames).toBeGreaterThanOrEqual(4);
      expect(s.txFrames).toBe(h.arps + h.echoes);
      expect(s.rxBatches).toBeGreaterThanOrEqual(1);
      expect(s.txDrops + s.txErrors + s.rxErrors).toBe(0);
      link.close();
    });
  }

  it('TSO and checksum offload: the kernel completes and splits what a TAP sends', async () => {
    const a = lab.addTap({ offloads: { tso: true, txChecksum: true } });
    const b = lab.addTap({ offloads: false });
    const got: Uint8Array[] = [];
    a.attach({ frame() {}, batchEnd() {} });
    b.attach({
      frame(d) {
        if (d[12] === 8 && d[13] === 0 && d[23] !== 1) got.push(new Uint8Array(d));
      },
      batchEnd() {},
    });
    const payload = new Uint8Array(20_000).map((_, i) => (i * 7 + 3) & 255);
    const src = lab.addr(20);
    const dst = lab.addr(21);
    const seq = 0x10000000;
    const big = tcpFrame({ dstMac: b.mac!, srcMac: a.mac!, src, dst, sport: 4000, dport: 5000, seq, payload });
    expect(a.send(big, { gsoSize: 1448, csumStart: 34, csumOffset: 16 })).toBe(true);
    const small = udpFrame({ dstMac: b.mac!, srcMac: a.mac!, src, dst, sport: 4001, dport: 5001, payload: new Uint8Array([1, 2, 3, 4, 5]) });
    expect(a.send(small, { csumStart: 34, csumOffset: 6 })).toBe(true);
    a.flush();
    const segs = Math.ceil(payload.length / 1448);
    await waitFor(() => got.length >= segs + 1, 5000, `${segs} TCP segments + 1 UDP datagram at b`);
    const tcp = got.filter((f) => f[23] === 6);
    const udp = got.filter((f) => f[23] === 17);
    expect(tcp.length).toBe(segs);
    expect(udp.length).toBe(1);
    const joined = new Uint8Array(payload.length);
    let expectSeq = seq;
    let at = 0;
    for (const f of tcp) {
      expect(checksumsOk(f, 14)).toEqual({ ip: true, l4: true });
      const s = new DataView(f.buffer).getUint32(38);
      expect(s).toBe(expectSeq >>> 0);
      const data = f.subarray(54);
      expect(data.length).toBeLessThanOrEqual(1448);
      joined.set(data, at);
      at += data.length;
      expectSeq += data.length;
    }
    expect(at).toBe(payload.length);
    expect(joined).toEqual(payload);
    expect(checksumsOk(udp[0], 14)).toEqual({ ip: true, l4: true });
    expect(a.stats().txGso).toBe(1);
    expect(a.stats().txCsumOffload).toBe(2);
    a.close();
    b.close();
  });

  it('GRO: a TAP with gro on receives a TCP super-frame whole, flagged with its gso size', async () => {
    const a = lab.addTap({ offloads: true });
    const b = lab.addTap({ offloads: true });
    const got: { len: number; meta?: RxMeta; ok: boolean }[] = [];
    a.attach({ frame() {}, batchEnd() {} });
    b.attach({
      frame(d, meta) {
        if (d[12] === 8 && d[13] === 0 && d[23] === 6) got.push({ len: d.length, meta: meta ? { ...meta } : undefined, ok: d.subarray(54).every((x, i) => x === ((i * 5) & 255)) });
      },
      batchEnd() {},
    });
    const payload = new Uint8Array(30_000).map((_, i) => (i * 5) & 255);
    const big = tcpFrame({ dstMac: b.mac!, srcMac: a.mac!, src: lab.addr(30), dst: lab.addr(31), sport: 4000, dport: 5000, seq: 1, payload });
    expect(a.send(big, { gsoSize: 1000, csumStart: 34, csumOffset: 16 })).toBe(true);
    a.flush();
    await waitFor(() => got.length >= 1, 5000, 'the super-frame at b');
    expect(got.length).toBe(1);
    expect(got[0].len).toBe(big.length);
    expect(got[0].ok).toBe(true);
    expect(got[0].meta).toEqual({ csumValid: true, gsoSize: 1000, owned: true }); // owned: rxHandOver (default)
    expect(b.stats().rxGso).toBe(1);
    a.close();
    b.close();
  });

  for (const offloads of [false, true]) {
    it(`the kernel pings a responder on a TUN device (offloads ${offloads ? 'on' : 'off'})`, async () => {
      const link: TapLink = lab.addTun({ offloads });
      expect(link.medium).toBe('ip');
      const ip = lab.tunAddr(2, offloads ? 1 : 0);
      const h = responder(link, ip);
      link.attach(h);
      const r = await lab.exec('client', ['ping', '-c', '3', '-i', '0.2', '-W', '2', ip], { allowFail: true });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(h.echoes).toBe(3);
      link.close();
    });
  }
});
