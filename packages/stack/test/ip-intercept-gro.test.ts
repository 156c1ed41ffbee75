/**
 * forwardIp with receive offloads: on a link with GRO (TAP with `gro`, a segmentation-offload
 * MemoryNetwork or SharedMemoryLink) the interceptor sees TCP super-packets larger than the MTU.
 * forwardIp must pass them on as TSO super-segments (the link splits them), not refuse them as
 * oversize — a refused one is lost and the drained connection stalls on retransmissions.
 */
import { describe, expect, it } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, parseMac, type LinkHandler, type RxMeta, type Socket } from '@hastack/stack';
import { checksum, pseudoHeaderSum } from '@hastack/wire';
import { settle } from './helpers.js';

const VIP = '198.18.0.100';
const VIPN = (198 << 24 | 18 << 16 | 100) >>> 0;

/** A TCP segment 198.18.0.9:1234 -> VIP:80 with `payload` bytes and a correct checksum. */
function tcpPacket(payload: number): Uint8Array {
  const pkt = new Uint8Array(40 + payload);
  pkt.set([0x45, 0, pkt.length >>> 8, pkt.length & 0xff, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 9, 198, 18, 0, 100], 0);
  pkt.set([0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0], 20);
  for (let i = 40; i < pkt.length; i++) pkt[i] = (i * 7) & 0xff;
  const ipc = checksum(pkt, 0, 20);
  pkt[10] = ipc >>> 8;
  pkt[11] = ipc & 0xff;
  const tc = checksum(pkt, 20, pkt.length, pseudoHeaderSum(0xc6120009, VIPN, 6, pkt.length - 20));
  pkt[36] = tc >>> 8;
  pkt[37] = tc & 0xff;
  return pkt;
}

describe('forwardIp and GRO super-packets', () => {
  it('a GRO packet above the MTU leaves as a TSO super-segment (gsoSize kept), checksum intact; without GRO meta it is refused', () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 5, clock, segmentationOffload: true });
    const r = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock });
    const sniff = net.createPort({ mac: '02:00:00:00:00:77' });
    const frames: { d: Uint8Array; m: RxMeta | undefined }[] = [];
    const handler: LinkHandler = { frame: (d, m) => void frames.push({ d: Uint8Array.from(d), m }), batchEnd: () => {} };
    sniff.attach(handler);
    const pkt = tcpPacket(4000);
    expect(r.forwardIp(pkt, sniff.mac, { gsoSize: 1448, owned: true })).toBe(true);
    // Not a GRO packet (no gsoSize): above the MTU it is still refused.
    expect(r.forwardIp(tcpPacket(4000), sniff.mac)).toBe(false);
    clock.advanceSync(1);
    expect(frames).toHaveLength(1);
    const f = frames[0];
    expect(f.m?.gsoSize).toBe(1448);
    expect(f.d.length).toBe(14 + pkt.length);
    expect(Array.from(f.d.subarray(14))).toEqual(Array.from(pkt));
    expect(checksum(f.d, 34, f.d.length, pseudoHeaderSum(0xc6120009, VIPN, 6, pkt.length - 20))).toBe(0);
    // Without csumValid the link did not vouch for the segment: a wrong checksum (corruption on the
    // way) must stay wrong, not be "fixed" over the corrupted bytes.
    const bad = tcpPacket(4000);
    bad[1000] ^= 0xff;
    expect(r.forwardIp(bad, sniff.mac, { gsoSize: 1448, owned: true })).toBe(true);
    clock.advanceSync(1);
    expect(frames).toHaveLength(2);
    expect(Array.from(frames[1].d.subarray(14))).toEqual(Array.from(bad));
  });

  it('direct server return over a segmentation-offload network: a 1 MiB upload through R reaches H and echoes back intact', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 3, clock, segmentationOffload: true });
    const mk = (host: number) =>
      new Stack({ link: net.createPort({ mac: `02:00:00:00:00:${host.toString(16).padStart(2, '0')}` }), address: `198.18.0.${host}/24`, clock });
    const client = mk(9);
    const r = mk(1);
    const h = mk(2);
    r.addAddress(`${VIP}/24`);
    h.addAddress(`${VIP}/24`);
    h.setArpSilent(VIP);
    const srv = h.createServer((c: Socket) => c.on('data', (d: Buffer) => c.write(d)));
    await settle(clock, new Promise<void>((res) => srv.listen(80, '0.0.0.0', () => res())));
    const hMac = parseMac(h.mac);
    let big = 0;
    let failed = 0;
    r.setIpInterceptor((pkt, rx) => {
      if (rx.protocol !== 6 || rx.dst !== VIPN) return false;
      if (pkt.length > 1500) big++;
      const ok = r.forwardIp(pkt, hMac, rx.meta);
      if (!ok) failed++;
      return true;
    });
    const msg = Buffer.alloc(1 << 20);
    for (let i = 0; i < msg.length; i++) msg[i] = (i * 31 + (i >>> 9)) & 0xff;
    const got = await settle(
      clock,
      new Promise<Buffer>((resolve, reject) => {
        const c = client.connect({ host: VIP, port: 80 }) as unknown as Socket;
        const parts: Buffer[] = [];
        let n = 0;
        c.on('connect', () => c.write(msg));
        c.on('data', (d: Buffer) => {
          parts.push(Buffer.from(d));
          n += d.length;
          if (n >= msg.length) {
            c.destroy();
            resolve(Buffer.concat(parts));
          }
        });
        c.on('error', reject);
      }),
      120_000,
    );
    expect(big).toBeGreaterThan(0); // super-packets did reach the interceptor
    expect(failed).toBe(0);
    expect(got.equals(msg)).toBe(true);
  });
});
