import { describe, expect, it } from 'vitest';
import { emitEthernet, emitIgmp, emitIpv4, emitUdp, EtherType, IpProtocol, IPV4_ROUTER_ALERT, UDP_HEADER_LEN } from '@hastack/wire';
import {
  NO_OFFLOADS,
  Stack,
  VirtualClock,
  parseIp,
  parseMac,
  type Link,
  type LinkHandler,
  type TxMeta,
} from '@hastack/stack';
import { lan, settle } from './helpers.js';

const A = parseIp('198.18.0.1');
const B = parseIp('198.18.0.2');

/** A UDP datagram a -> b (port 1111 -> 2222), as IP payload bytes. */
function udpDatagram(len: number): Uint8Array {
  const payload = new Uint8Array(len);
  for (let i = 0; i < len; i++) payload[i] = (i * 13) & 0xff;
  const out = new Uint8Array(UDP_HEADER_LEN + len);
  emitUdp({ srcPort: 1111, dstPort: 2222, payload }, out, 0, A, B);
  return out;
}

/** An Ethernet frame carrying one IPv4 fragment of `data` (ip payload bytes [off, off+n)). */
function fragFrame(dstMac: Uint8Array, srcMac: Uint8Array, ident: number, data: Uint8Array, off: number, n: number, more: boolean): Uint8Array {
  const f = new Uint8Array(14 + 20 + n);
  emitEthernet({ dst: dstMac, src: srcMac, ethertype: EtherType.IPV4 }, f, 0);
  emitIpv4(
    { src: A, dst: B, protocol: IpProtocol.UDP, ttl: 64, tos: 0, ident, dontFragment: false, moreFragments: more, fragmentOffset: off, payloadLength: n },
    f,
    14,
  );
  f.set(data.subarray(off, off + n), 34);
  return f;
}

describe('IPv4 reassembly', () => {
  function setup(reassembly = {}) {
    const l = lan(2, {}, { reassembly });
    const [a, b] = l.stacks;
    const rx = b.createSocket('udp4');
    rx.bind(2222);
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    const send = (ident: number, data: Uint8Array, off: number, n: number, more: boolean) =>
      a.sendRawFrame(fragFrame(parseMac(b.mac), parseMac(a.mac), ident, data, off, n, more));
    return { ...l, a, b, got, send };
  }

  it('reassembles out-of-order fragments, ignores exact duplicates', async () => {
    const { clock, b, got, send } = setup();
    const d = udpDatagram(100); // 108 bytes
    send(1, d, 64, 44, false);
    send(1, d, 0, 32, true);
    send(1, d, 0, 32, true); // duplicate
    send(1, d, 32, 32, true);
    await clock.runFor(5);
    expect(got).toHaveLength(1);
    expect(Buffer.compare(got[0], Buffer.from(d.subarray(8)))).toBe(0);
    const s = b.stats();
    expect(s.ip.reassembled).toBe(1);
    expect(s.drops.fragDuplicate).toBe(1);
    expect(s.ip.reasmInProgress).toBe(0);
  });

  it('a partly overlapping fragment discards the datagram', async () => {
    const { clock, b, got, send } = setup();
    const d = udpDatagram(100);
    send(2, d, 0, 32, true);
    send(2, d, 16, 32, true); // overlaps [16, 32)
    send(2, d, 48, 60, false);
    await clock.runFor(5);
    expect(got).toHaveLength(0);
    const s = b.stats();
    expect(s.drops.fragOverlap).toBe(1);
    expect(s.ip.reasmFailed).toBe(1);
  });

  it('an incomplete datagram times out after 30 s with ICMP time exceeded', async () => {
    const { clock, a, b, got, send } = setup();
    const d = udpDatagram(100);
    send(3, d, 0, 32, true);
    await clock.runFor(5);
    expect(b.stats().ip.reasmInProgress).toBe(1);
    expect(b.stats().ip.fragQueued).toBe(1);
    await clock.runFor(29_000);
    expect(b.stats().ip.reasmInProgress).toBe(1);
    await clock.runFor(1_100);
    const s = b.stats();
    expect(s.ip.reasmInProgress).toBe(0);
    expect(s.ip.reasmBytes).toBe(0);
    expect(s.ip.reasmTimeouts).toBe(1);
    expect(s.icmp.txTimeExceeded).toBe(1);
    expect(a.stats().icmp.rxErrors).toBe(1);
    expect(got).toHaveLength(0);
  });

  it('memory is capped: datagrams in progress and buffer bytes', async () => {
    const { clock, b, send } = setup({ maxDatagrams: 4, maxBytes: 12_000 });
    const d = udpDatagram(4000);
    for (let id = 10; id < 30; id++) send(id, d, 0, 1480, true);
    await clock.runFor(5);
    let s = b.stats();
    expect(s.ip.reasmInProgress).toBe(4);
    expect(s.ip.reasmBytes).toBeLessThanOrEqual(12_000);
    expect(s.drops.fragTooMany).toBe(16);
    // a datagram growing past the byte cap is refused too
    for (let id = 10; id < 14; id++) send(id, d, 1480, 1480, true);
    for (let id = 10; id < 14; id++) send(id, d, 2960, 1048, false);
    await clock.runFor(5);
    s = b.stats();
    expect(s.ip.reasmBytes).toBeLessThanOrEqual(12_000);
    expect(s.drops.fragMemFull).toBeGreaterThan(0);
    await clock.runFor(31_000);
    expect(b.stats().ip.reasmBytes).toBe(0);
  });
});

/** Two 'ip'-medium (TUN-like) links joined back to back. */
class IpPipe implements Link {
  readonly medium = 'ip' as const;
  readonly mtu = 1400;
  readonly offloads = NO_OFFLOADS;
  peer!: IpPipe;
  handler: LinkHandler | null = null;
  sent: Uint8Array[] = [];
  private queue: Uint8Array[] = [];
  private scheduled = false;
  constructor(private readonly clock: VirtualClock) {}
  attach(h: LinkHandler): void {
    this.handler = h;
  }
  send(frame: Uint8Array, _meta?: TxMeta): boolean {
    this.sent.push(frame.slice());
    this.peer.queue.push(frame);
    this.peer.schedule();
    return true;
  }
  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.clock.defer(() => {
      this.scheduled = false;
      const q = this.queue.splice(0);
      for (const f of q) this.handler?.frame(f);
      this.handler?.batchEnd();
    });
  }
  close(): void {
    this.handler = null;
  }
}

describe("TUN mode ('ip' medium)", () => {
  it('no Ethernet header, no ARP, headroom 20; ping and UDP (with fragments) work', async () => {
    const clock = new VirtualClock();
    const la = new IpPipe(clock);
    const lb = new IpPipe(clock);
    la.peer = lb;
    lb.peer = la;
    const a = new Stack({ link: la, address: '198.18.1.1/24', clock });
    const b = new Stack({ link: lb, address: '198.18.1.2/24', clock });
    expect(a.engine.headroom).toBe(20);
    expect(await settle(clock, a.ping('198.18.1.2'))).toBeGreaterThanOrEqual(0);
    const rx = b.createSocket('udp4');
    rx.bind(53);
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    const big = Buffer.alloc(5000, 0x5a);
    a.createSocket('udp4').send(big, 53, '198.18.1.2');
    await clock.run(() => got.length > 0);
    expect(got[0].equals(big)).toBe(true);
    expect(a.stats().arp.txRequests).toBe(0);
    expect(b.stats().arp.txRequests).toBe(0);
    // every packet on the link is a bare IPv4 packet no larger than the MTU
    for (const p of la.sent) {
      expect(p[0] >> 4).toBe(4);
      expect(p.length).toBeLessThanOrEqual(1400);
    }
    expect(a.stats().ip.txFragments).toBe(4);
  });
});

describe('IGMPv2 host', () => {
  it('answers a general query after a random delay within the max response time; reports suppress ours', async () => {
    const { clock, stacks: [router, m1, m2] } = lan(3);
    for (const st of [m1, m2]) {
      const s = st.createSocket('udp4');
      s.bind(5000);
      s.addMembership('239.7.7.7');
    }
    await clock.runFor(1);
    expect(m1.stats().igmp.txReports).toBe(1);
    // router sends a general query: max response time 1 s (10 tenths)
    const q = new Uint8Array(8);
    emitIgmp({ kind: 'query', maxRespTime: 10, group: 0 }, q, 0);
    const f = new Uint8Array(14 + 24 + 8);
    emitEthernet({ dst: parseMac('01:00:5e:00:00:01'), src: parseMac(router.mac), ethertype: EtherType.IPV4 }, f, 0);
    emitIpv4(
      { src: parseIp('198.18.0.1'), dst: parseIp('224.0.0.1'), protocol: 2, ttl: 1, tos: 0xc0, ident: 1, dontFragment: false, moreFragments: false, fragmentOffset: 0, payloadLength: 8, options: IPV4_ROUTER_ALERT },
      f,
      14,
    );
    f.set(q, 38);
    router.sendRawFrame(f);
    await clock.runFor(1100);
    const reports = m1.stats().igmp.txReports + m2.stats().igmp.txReports - 2;
    const suppressed = m1.stats().igmp.suppressed + m2.stats().igmp.suppressed;
    expect(m1.stats().igmp.rxQueries).toBe(1);
    // one member answered; the other heard it and stayed quiet (RFC 2236 §3)
    expect(reports).toBe(1);
    expect(suppressed).toBe(1);
  });
});
