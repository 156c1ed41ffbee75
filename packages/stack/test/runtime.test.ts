import { describe, expect, it } from 'vitest';
import { emitEthernet, emitIpv4, emitUdp, EtherType, foldSum, pseudoHeaderSum, readU16 } from '@hastack/wire';
import {
  MemoryNetwork,
  NO_OFFLOADS,
  Stack,
  VirtualClock,
  parseIp,
  parseMac,
  type Link,
  type LinkHandler,
  type LinkOffloads,
  type TimerHandle,
  type TxMeta,
} from '@hastack/stack';
import { settle } from './helpers.js';

const OUR_MAC = parseMac('02:00:00:00:00:01');
const PEER_MAC = parseMac('02:00:00:00:00:02');

class SinkLink implements Link {
  readonly medium = 'ethernet' as const;
  readonly mtu = 1500;
  readonly mac = OUR_MAC;
  readonly offloads = NO_OFFLOADS;
  handler: LinkHandler | null = null;
  sent: Uint8Array[] = [];
  flushes = 0;
  attach(h: LinkHandler): void {
    this.handler = h;
  }
  send(f: Uint8Array): boolean {
    this.sent.push(f);
    return true;
  }
  flush(): void {
    this.flushes++;
  }
  close(): void {
    this.handler = null;
  }
}

class CountingClock extends VirtualClock {
  timerSets = 0;
  defers = 0;
  override setTimer(at: number, fn: () => void): TimerHandle {
    if (at > this.now()) this.timerSets++;
    return super.setTimer(at, fn);
  }
  override defer(fn: () => void): void {
    this.defers++;
    super.defer(fn);
  }
}

function udpFrame(i: number): Uint8Array {
  const payload = new Uint8Array(4);
  new DataView(payload.buffer).setUint32(0, i);
  const f = new Uint8Array(14 + 20 + 8 + 4);
  emitEthernet({ dst: OUR_MAC, src: PEER_MAC, ethertype: EtherType.IPV4 }, f, 0);
  emitIpv4({ src: parseIp('198.18.0.2'), dst: parseIp('198.18.0.1'), protocol: 17, ttl: 64, tos: 0, ident: i, dontFragment: false, moreFragments: false, fragmentOffset: 0, payloadLength: 12 }, f, 14);
  emitUdp({ srcPort: 1000, dstPort: 2000, payload }, f, 34, parseIp('198.18.0.2'), parseIp('198.18.0.1'));
  return f;
}

describe('runtime', () => {
  it('bounded work: a huge link batch is polled every batchSize frames', () => {
    const clock = new VirtualClock();
    const link = new SinkLink();
    const stack = new Stack({ link, address: '198.18.0.1/24', clock, batchSize: 100 });
    const s = stack.createSocket('udp4');
    s.bind(2000);
    let messages = 0;
    s.on('message', () => messages++);
    const seenAt: number[] = [];
    for (let i = 0; i < 1000; i++) {
      link.handler!.frame(udpFrame(i));
      seenAt.push(messages);
    }
    expect(seenAt[98]).toBe(0);
    expect(seenAt[99]).toBe(100);
    expect(seenAt[999]).toBe(1000);
    link.handler!.batchEnd();
    expect(messages).toBe(1000);
    expect(link.flushes).toBeGreaterThanOrEqual(10);
  });

  it('one timer, re-armed only when the deadline changes; wake-ups coalesce', async () => {
    const clock = new CountingClock();
    const link = new SinkLink();
    const stack = new Stack({ link, address: '198.18.0.1/24', clock });
    const s = stack.createSocket('udp4');
    s.bind(3000);
    await clock.runFor(1);
    const defers0 = clock.defers;
    // 50 datagrams to an unresolved neighbour in one tick: one ARP request, one retry deadline
    for (let i = 0; i < 50; i++) s.send('x', 9, '198.18.0.7');
    expect(clock.defers - defers0).toBe(1);
    await clock.runFor(10);
    expect(clock.timerSets).toBe(1);
    expect(link.sent.length).toBe(1); // just the ARP request; the datagrams wait (bounded)
    // while nothing changes, nothing is re-armed
    for (let i = 0; i < 20; i++) link.handler!.batchEnd();
    expect(clock.timerSets).toBe(1);
    await clock.runFor(5000);
    expect(stack.stats().arp.txRequests).toBe(3);
    expect(clock.timerSets).toBe(3);
    expect(clock.pending).toBe(0);
  });

  it('TX checksum offload: transport offsets are rebased onto the frame; fragments are completed in software', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, checksumOffload: true });
    const metas: (TxMeta | undefined)[] = [];
    const frames: Uint8Array[] = [];
    const port = net.createPort();
    const wrapped: Link = {
      medium: port.medium,
      mtu: port.mtu,
      mac: port.mac,
      offloads: port.offloads as LinkOffloads,
      attach: (h) => port.attach(h),
      send: (f, m) => {
        metas.push(m);
        frames.push(f.slice());
        return port.send(f, m);
      },
      close: () => port.close(),
    };
    const a = new Stack({ link: wrapped, address: '198.18.0.1/24', clock });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
    const rx = b.createSocket('udp4');
    rx.bind(5000);
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    const tx = a.createSocket('udp4');
    tx.send('offloaded', 5000, '198.18.0.2');
    await clock.run(() => got.length === 1);
    const i = frames.findIndex((f) => f[23] === 17);
    expect(metas[i]).toEqual({ csumStart: 34, csumOffset: 6 });
    const f = frames[i];
    // the field holds the folded pseudo-header sum (Linux CHECKSUM_PARTIAL), for the link to finish
    expect(readU16(f, 40)).toBe(foldSum(pseudoHeaderSum(parseIp('198.18.0.1'), parseIp('198.18.0.2'), 17, 8 + 9)));
    expect(got[0].toString()).toBe('offloaded');
    // a fragmented datagram cannot be offloaded: its checksum is completed before fragmenting
    const big = Buffer.alloc(4000, 0x42);
    tx.send(big, 5000, '198.18.0.2');
    await clock.run(() => got.length === 2);
    expect(got[1].equals(big)).toBe(true);
    expect(b.stats().drops.udpBadChecksum).toBe(0);
    expect(b.stats().ip.reassembled).toBe(1);
  });

  it('runs on the real clock too', async () => {
    const net = new MemoryNetwork();
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24' });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24' });
    const rtt = await a.ping('198.18.0.2', { timeout: 2000 });
    expect(rtt).toBeGreaterThanOrEqual(0);
    expect(rtt).toBeLessThan(2000);
    await Promise.all([a.close(), b.close()]);
  });

  it('validates options and exposes addresses, mac, nodeId', async () => {
    const clock = new VirtualClock();
    const link = new SinkLink();
    expect(() => new Stack({ link, address: '198.18.0.300/24', clock })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }));
    const s = new Stack({ link, address: ['198.18.0.1/24', '198.19.0.1/16'], clock, nodeId: 'n1' });
    expect(s.mac).toBe('02:00:00:00:00:01');
    expect(s.nodeId).toBe('n1');
    expect(s.addresses()).toEqual(['198.18.0.1/24', '198.19.0.1/16']);
    expect(s.now()).toBe(clock.now());
    expect(await settle(clock, s.close()).then(() => 'closed')).toBe('closed');
  });
});

describe('transports plug in through TransportProtocol', () => {
  it('registerTransport: receive with RxMeta passed through; TSO super-segments go out unfragmented with rebased TxMeta', () => {
    const clock = new VirtualClock();
    const sent: { f: Uint8Array; m?: TxMeta }[] = [];
    let handler: LinkHandler | null = null;
    const link: Link = {
      medium: 'ip',
      mtu: 1500,
      offloads: { rxChecksum: true, txChecksum: true, tso: true, gro: true, maxFrame: 65535 },
      attach: (h) => (handler = h),
      send: (f, m) => {
        sent.push({ f, m });
        return true;
      },
      close: () => {},
    };
    const stack = new Stack({ link, address: '198.18.0.1/24', clock });
    const seen: { meta: unknown; len: number; src: number }[] = [];
    const proto = stack.registerTransport((ctx) => ({
      name: 'exp',
      protocol: 253,
      receive: (rx, payload) => seen.push({ meta: rx.meta, len: payload.length, src: rx.src }),
      poll: () => {},
      pollAt: () => Infinity,
      stats: () => ({ custom: 1 }),
      send(len: number) {
        const h = ctx.ip.headroom;
        const buf = new Uint8Array(h + len);
        return ctx.ip.sendIp(buf, len, { src: parseIp('198.18.0.1'), dst: parseIp('198.18.0.2'), protocol: 253, dontFragment: true, tx: { csumStart: 0, csumOffset: 16, gsoSize: 1448, hdrLen: 20 } });
      },
    }));
    expect(proto.send(10_000)).toBe(true);
    expect(sent).toHaveLength(1);
    expect(sent[0].f.length).toBe(20 + 10_000);
    expect(sent[0].m).toEqual({ csumStart: 20, csumOffset: 16, gsoSize: 1448, hdrLen: 40 });
    // receive: a GRO super-segment flagged by the link reaches the transport with its meta
    const p = new Uint8Array(20 + 3000);
    emitIpv4({ src: parseIp('198.18.0.2'), dst: parseIp('198.18.0.1'), protocol: 253, ttl: 64, tos: 0, ident: 1, dontFragment: true, moreFragments: false, fragmentOffset: 0, payloadLength: 3000 }, p, 0);
    handler!.frame(p, { csumValid: true, gsoSize: 1448 });
    handler!.batchEnd();
    expect(seen).toEqual([{ meta: { csumValid: true, gsoSize: 1448 }, len: 3000, src: parseIp('198.18.0.2') }]);
    expect(stack.stats().exp).toEqual({ custom: 1 });
  });
});
