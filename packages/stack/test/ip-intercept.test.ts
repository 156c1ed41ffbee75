/**
 * The hooks HA failback 'drain' is built on: an ARP-silent address (held, served, not answered in
 * ARP: a direct-server-return backend's VIP), the IP interceptor (consume a packet before its
 * transport would answer it) and `forwardIp` (re-send an IP packet unchanged to another MAC).
 */
import { describe, expect, it } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, parseMac, type LinkHandler, type Socket } from '@hastack/stack';
import { checksum, pseudoHeaderSum } from '@hastack/wire';
import { outcome, settle } from './helpers.js';

const VIP = '198.18.0.100';
const VIPN = (198 << 24 | 18 << 16 | 100) >>> 0;

function lab() {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 3, clock });
  const mk = (host: number) =>
    new Stack({ link: net.createPort({ mac: `02:00:00:00:00:${host.toString(16).padStart(2, '0')}` }), address: `198.18.0.${host}/24`, clock });
  return { clock, net, client: mk(9), r: mk(1), h: mk(2) };
}

/** An echo server on :80 of `s` (every address). */
async function echo(clock: VirtualClock, s: Stack): Promise<void> {
  const srv = s.createServer((c: Socket) => c.on('data', (d: Buffer) => c.write(d)));
  await settle(clock, new Promise<void>((res) => srv.listen(80, '0.0.0.0', () => res())));
}

/** Connect to VIP:80, send `msg`, resolve with the echo. */
function roundTrip(client: Stack, msg: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = client.connect({ host: VIP, port: 80 }) as unknown as Socket;
    let got = '';
    c.on('connect', () => c.write(msg));
    c.on('data', (d: Buffer) => {
      got += d.toString();
      if (got.length >= msg.length) {
        c.destroy();
        resolve(got);
      }
    });
    c.on('error', reject);
  });
}

describe('ARP-silent addresses', () => {
  it('are neither answered in ARP nor used as ARP sender, yet still accept packets', async () => {
    const { clock, client, h } = lab();
    h.addAddress(`${VIP}/24`);
    h.setArpSilent(VIP);
    await echo(clock, h);
    // Nobody answers ARP for the VIP now: the client cannot resolve it.
    const r = await outcome(clock, client.ping(VIP, { timeout: 5000 }));
    expect(r).toEqual({ ok: false, code: 'EHOSTUNREACH' });
    expect(h.stats().arp.txReplies).toBe(0);
    expect(h.stats().arp.rxIgnored).toBeGreaterThanOrEqual(3);
    // An explicit gratuitous ARP for all addresses skips it.
    const before = h.stats().arp.txGratuitous;
    h.gratuitousArp();
    expect(h.stats().arp.txGratuitous - before).toBe(1);
    // Answering again: the ping works.
    h.setArpSilent(VIP, false);
    expect(await settle(clock, client.ping(VIP))).toBeGreaterThanOrEqual(0);
    expect(() => h.setArpSilent('198.18.0.77')).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
  });

  it("an ARP request never carries a silent address as sender, even when it is the host's first address", async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 4, clock });
    const client = new Stack({ link: net.createPort(), address: '198.18.0.9/24', clock });
    const h = new Stack({ link: net.createPort(), address: `${VIP}/24`, clock });
    h.addAddress('198.18.0.2/24');
    h.setArpSilent(VIP);
    expect(await settle(clock, h.ping('198.18.0.9'))).toBeGreaterThanOrEqual(0);
    // The client learned H's own address from the request, and nothing for the VIP.
    expect(client.engine.arpCache.get(VIPN)).toBeUndefined();
    expect(client.engine.arpCache.get((198 << 24 | 18 << 16 | 2) >>> 0)?.mac).not.toBeNull();
    // Removing the address clears the flag.
    h.removeAddress(VIP);
    h.addAddress(`${VIP}/24`);
    expect(h.engine.isArpSilent(VIPN)).toBe(false);
  });
});

describe('IP interceptor + forwardIp: direct server return', () => {
  it('R answers ARP for the VIP and forwards its TCP to H, H serves the VIP silently and replies directly', async () => {
    const { clock, client, r, h } = lab();
    r.addAddress(`${VIP}/24`);
    h.addAddress(`${VIP}/24`);
    h.setArpSilent(VIP);
    await echo(clock, h);
    const hMac = parseMac(h.mac);
    let seen = 0;
    r.setIpInterceptor((pkt, rx) => {
      if (rx.protocol !== 6 || rx.dst !== VIPN) return false;
      seen++;
      return r.forwardIp(pkt, hMac, rx.meta);
    });
    expect(await settle(clock, roundTrip(client, 'hello through R'))).toBe('hello through R');
    const rs = r.stats();
    const hs = h.stats();
    expect(seen).toBeGreaterThan(2);
    expect(rs.ip.rxIntercepted).toBe(seen);
    expect(rs.tcp.outSegs).toBe(0); // R's TCP never answered (no RST, no SYN-ACK)
    expect(rs.arp.txReplies).toBeGreaterThanOrEqual(1); // R answered the client's ARP for the VIP
    expect(hs.arp.txReplies).toBe(0);
    expect(hs.ip.rxToTransport).toBeGreaterThanOrEqual(seen);
    // The accounting still balances on R: delivered = ICMP + IGMP + transport + intercepted.
    expect(rs.ip.rxDelivered).toBe(rs.icmp.rxMessages + rs.igmp.rxMessages + rs.ip.rxToTransport + rs.ip.rxIntercepted);
    // Without the interceptor R's own TCP answers (RST: nothing listens there).
    r.setIpInterceptor(null);
    const again = await outcome(clock, roundTrip(client, 'x'));
    expect(again).toEqual({ ok: false, code: 'ECONNREFUSED' });
  });

  it('forwardIp recomputes a checksum the link only vouched for (csumValid), and refuses oversize packets', () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 5, clock });
    const r = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock });
    const sniff = net.createPort({ mac: '02:00:00:00:00:77' });
    const frames: Uint8Array[] = [];
    const handler: LinkHandler = { frame: (d) => void frames.push(Uint8Array.from(d)), batchEnd: () => {} };
    sniff.attach(handler);
    // A TCP segment 198.18.0.9:1234 -> VIP:80 with a bogus (partial) checksum and 5 payload bytes.
    const pkt = new Uint8Array(20 + 20 + 5);
    pkt.set([0x45, 0, 0, pkt.length, 0, 1, 0x40, 0, 64, 6, 0, 0, 198, 18, 0, 9, 198, 18, 0, 100], 0);
    pkt.set([0x04, 0xd2, 0, 80, 0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x18, 0xff, 0xff, 0xab, 0xcd, 0, 0], 20);
    pkt.set([1, 2, 3, 4, 5], 40);
    const ipc = checksum(pkt, 0, 20);
    pkt[10] = ipc >>> 8;
    pkt[11] = ipc & 0xff;
    expect(r.forwardIp(pkt, sniff.mac, { csumValid: true })).toBe(true);
    expect(r.forwardIp(pkt, sniff.mac)).toBe(true); // no meta: the bytes go as they are
    expect(r.forwardIp(new Uint8Array(1501), sniff.mac)).toBe(false);
    clock.advanceSync(1);
    expect(frames).toHaveLength(2);
    const [fixed, raw] = frames;
    expect(Array.from(fixed.subarray(0, 6))).toEqual(Array.from(sniff.mac));
    expect(Array.from(fixed.subarray(6, 12))).toEqual(Array.from(parseMac(r.mac)));
    expect(Array.from(fixed.subarray(14, 34))).toEqual(Array.from(pkt.subarray(0, 20))); // IP header unchanged
    // The fixed copy verifies (sum over pseudo-header + segment is 0), the raw one kept 0xabcd.
    expect(checksum(fixed, 34, fixed.length, pseudoHeaderSum(0xc6120009, VIPN, 6, 25))).toBe(0);
    expect((raw[50] << 8) | raw[51]).toBe(0xabcd);
  });
});
