import { describe, expect, it } from 'vitest';
import { checksum, pseudoHeaderSum } from '@hastack/wire';
import { MemoryNetwork, Stack, VirtualClock, type Link, type LinkOffloads, type TxMeta } from '@hastack/stack';

/** A wrapper that records what the sending stack hands its port. */
function recording(port: Link, log: { len: number; meta: TxMeta | undefined; frame: Uint8Array }[]): Link {
  return {
    medium: port.medium,
    mtu: port.mtu,
    mac: port.mac,
    offloads: port.offloads as LinkOffloads,
    attach: (h) => port.attach(h),
    send: (f, m) => {
      const ok = port.send(f, m);
      log.push({ len: f.length, meta: m, frame: f });
      return ok;
    },
    close: () => port.close(),
  };
}

describe('MemoryNetwork segmentationOffload (TSO/GRO like a veth pair with GSO)', () => {
  it('TCP super-segments cross unsplit, checksums are completed by the port and verified by the receiver', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, segmentationOffload: true });
    const log: { len: number; meta: TxMeta | undefined; frame: Uint8Array }[] = [];
    const pa = net.createPort();
    expect(pa.offloads).toMatchObject({ tso: true, gro: true, txChecksum: true, rxChecksum: false, maxFrame: 65535 + 14 });
    const a = new Stack({ link: recording(pa, log), address: '198.18.0.1/24', clock, seed: 1 });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, seed: 2 });
    const payload = Buffer.alloc(1 << 20);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >>> 9)) & 0xff;
    const got: Buffer[] = [];
    let ended = false;
    b.createServer((s) => {
      s.on('data', (d: Buffer) => got.push(Buffer.from(d)));
      s.on('end', () => {
        ended = true;
        s.end();
      });
    }).listen(80);
    const c = a.connect(80, '198.18.0.2');
    c.end(payload);
    await clock.run(() => ended, 60_000);
    expect(Buffer.concat(got).equals(payload)).toBe(true);
    const supers = log.filter((e) => e.meta?.gsoSize !== undefined);
    expect(supers.length).toBeGreaterThan(0);
    expect(Math.max(...supers.map((e) => e.len))).toBeGreaterThan(1514);
    // The port finished every partial checksum in place: each TCP checksum over the frame verifies.
    for (const e of log.filter((x) => x.frame[23] === 6)) {
      const ihl = (e.frame[14] & 0x0f) * 4;
      const ipLen = (e.frame[16] << 8) | e.frame[17];
      const src = ((e.frame[26] << 24) | (e.frame[27] << 16) | (e.frame[28] << 8) | e.frame[29]) >>> 0;
      const dst = ((e.frame[30] << 24) | (e.frame[31] << 16) | (e.frame[32] << 8) | e.frame[33]) >>> 0;
      const tcpLen = ipLen - ihl;
      expect(checksum(e.frame, 14 + ihl, 14 + ipLen, pseudoHeaderSum(src, dst, 6, tcpLen))).toBe(0);
    }
    // Fewer frames crossed than MSS-sized segments were counted.
    const sa = a.stats();
    expect(sa.tcp.outSegs).toBeGreaterThan(log.length);
    const drops = b.stats().drops as Record<string, number>;
    expect(Object.keys(drops).some((k) => /checksum/i.test(k))).toBe(true);
    for (const [k, v] of Object.entries(drops)) if (/checksum/i.test(k)) expect(v).toBe(0);
  });

  it('a corrupted super-segment is caught by the receiver (checksums are still verified)', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, segmentationOffload: true });
    const pa = net.createPort();
    let corrupt = 1;
    const flip: Link = {
      medium: pa.medium,
      mtu: pa.mtu,
      mac: pa.mac,
      offloads: pa.offloads,
      attach: (h) => pa.attach(h),
      send: (f, m) => {
        // Corrupt one payload byte of the first super-segment after the port completed the checksum.
        if (m?.gsoSize !== undefined && corrupt > 0) {
          corrupt--;
          const ok = pa.send(f, m);
          f[f.length - 1] ^= 0xff;
          return ok;
        }
        return pa.send(f, m);
      },
      close: () => pa.close(),
    };
    const a = new Stack({ link: flip, address: '198.18.0.1/24', clock, seed: 1 });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, seed: 2 });
    const payload = Buffer.alloc(256 * 1024, 0x33);
    let n = 0;
    let ended = false;
    b.createServer((s) => {
      s.on('data', (d: Buffer) => {
        n += d.length;
        expect(d.every((x) => x === 0x33)).toBe(true);
      });
      s.on('end', () => {
        ended = true;
        s.end();
      });
    }).listen(80);
    a.connect(80, '198.18.0.2').end(payload);
    await clock.run(() => ended, 120_000);
    expect(n).toBe(payload.length);
    expect(corrupt).toBe(0);
    const st = b.stats();
    const bad = Object.entries(st.drops).filter(([k]) => /checksum/i.test(k)).reduce((s, [, v]) => s + (v as number), 0);
    expect(bad).toBeGreaterThan(0);
  });
});

describe('RxMeta.owned: TCP keeps payload views only of frames the link handed over', () => {
  async function transfer(wrap: (port: Link) => Link): Promise<{ data: Buffer; chunks: Buffer[] }> {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock, seed: 1 });
    const b = new Stack({ link: wrap(net.createPort()), address: '198.18.0.2/24', clock, seed: 2 });
    const payload = Buffer.alloc(200_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 13 + (i >>> 8)) & 0xff;
    const chunks: Buffer[] = [];
    let ended = false;
    b.createServer((s) => {
      s.on('data', (d: Buffer) => chunks.push(d));
      s.on('end', () => {
        ended = true;
        s.end();
      });
    }).listen(80);
    a.connect(80, '198.18.0.2').end(payload);
    await clock.run(() => ended, 60_000);
    expect(Buffer.concat(chunks).equals(payload)).toBe(true);
    return { data: payload, chunks };
  }

  it('MemoryNetwork frames are owned: data chunks are views into the received frames (no copy)', async () => {
    const frames = new Set<ArrayBufferLike>();
    const { chunks } = await transfer((port) => ({
      medium: port.medium,
      mtu: port.mtu,
      mac: port.mac,
      offloads: port.offloads,
      attach: (h) =>
        port.attach({
          frame: (f, m) => {
            expect(m?.owned).toBe(true);
            frames.add(f.buffer);
            h.frame(f, m);
          },
          batchEnd: () => h.batchEnd(),
          writable: () => h.writable?.(),
        }),
      send: (f, m) => port.send(f, m),
      close: () => port.close(),
    }));
    expect(chunks.length).toBeGreaterThan(10);
    for (const c of chunks) expect(frames.has(c.buffer)).toBe(true);
  });

  it('a link that reuses its receive buffer (no owned flag) gets copies: scribbling after frame() corrupts nothing', async () => {
    const reused = new Uint8Array(2048);
    await transfer((port) => ({
      medium: port.medium,
      mtu: port.mtu,
      mac: port.mac,
      offloads: port.offloads,
      attach: (h) =>
        port.attach({
          frame: (f, m) => {
            // Like a TAP: the frame lives in one buffer that is overwritten after the call.
            reused.set(f);
            h.frame(reused.subarray(0, f.length), m?.csumValid ? { csumValid: true } : undefined);
            reused.fill(0xee);
          },
          batchEnd: () => h.batchEnd(),
          writable: () => h.writable?.(),
        }),
      send: (f, m) => port.send(f, m),
      close: () => port.close(),
    }));
  });
});
