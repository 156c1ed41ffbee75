/**
 * Fuzz: random and mutated frames into a live stack. It must never throw, every frame must be
 * accounted for exactly in the counters, and every bounded buffer must stay within its bound.
 */
import { describe, expect, it } from 'vitest';
import {
  ArpOp,
  emitArp,
  emitEthernet,
  emitIcmp,
  emitIgmp,
  emitIpv4,
  emitUdp,
  EtherType,
  IpProtocol,
  checksum,
  pseudoHeaderSum,
} from '@hastack/wire';
import { NO_OFFLOADS, Random, Stack, VirtualClock, parseIp, parseMac, type Link, type LinkHandler } from '@hastack/stack';

const FRAMES = 220_000;
const OUR_MAC = parseMac('02:00:00:00:00:01');
const PEER_MAC = parseMac('02:00:00:00:00:02');
const US = parseIp('198.18.0.1');
const PEER = parseIp('198.18.0.2');
const GROUP = parseIp('239.1.1.1');

class SinkLink implements Link {
  readonly medium = 'ethernet' as const;
  readonly mtu = 1500;
  readonly mac = OUR_MAC;
  readonly offloads = NO_OFFLOADS;
  handler: LinkHandler | null = null;
  sent = 0;
  attach(h: LinkHandler): void {
    this.handler = h;
  }
  send(): boolean {
    this.sent++;
    return true;
  }
  close(): void {
    this.handler = null;
  }
}

function eth(dst: Uint8Array, type: number, payload: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + payload.length);
  emitEthernet({ dst, src: PEER_MAC, ethertype: type }, f, 0);
  f.set(payload, 14);
  return f;
}

function ip(src: number, dst: number, protocol: number, payload: Uint8Array, frag = { off: 0, more: false, ident: 1 }): Uint8Array {
  const p = new Uint8Array(20 + payload.length);
  emitIpv4({ src, dst, protocol, ttl: 64, tos: 0, ident: frag.ident, dontFragment: false, moreFragments: frag.more, fragmentOffset: frag.off, payloadLength: payload.length }, p, 0);
  p.set(payload, 20);
  return p;
}

function udp(src: number, dst: number, sport: number, dport: number, len: number): Uint8Array {
  const out = new Uint8Array(8 + len);
  emitUdp({ srcPort: sport, dstPort: dport, payload: new Uint8Array(len).fill(0x61) }, out, 0, src, dst);
  return out;
}

function corpus(): Uint8Array[] {
  const c: Uint8Array[] = [];
  const arp = (op: 1 | 2, tpa: number, dst: Uint8Array) => {
    const a = new Uint8Array(28);
    emitArp({ op, senderMac: PEER_MAC, senderIp: PEER, targetMac: op === 1 ? new Uint8Array(6) : OUR_MAC, targetIp: tpa }, a, 0);
    return eth(dst, EtherType.ARP, a);
  };
  const bcast = new Uint8Array(6).fill(0xff);
  c.push(arp(ArpOp.REQUEST, US, bcast), arp(ArpOp.REPLY, US, OUR_MAC), arp(ArpOp.REQUEST, parseIp('198.18.0.9'), bcast));
  const icmp = (repr: Parameters<typeof emitIcmp>[0], len: number) => {
    const b = new Uint8Array(len);
    emitIcmp(repr, b, 0);
    return b;
  };
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 1, icmp({ kind: 'echo-request', id: 7, seq: 1, data: new Uint8Array(56) }, 64))));
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 1, icmp({ kind: 'echo-reply', id: 7, seq: 1, data: new Uint8Array(56) }, 64))));
  const quoted = ip(US, PEER, 17, udp(US, PEER, 40000, 53, 10)).subarray(0, 28);
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 1, icmp({ kind: 'dest-unreachable', code: 3, nextHopMtu: 0, quote: quoted }, 8 + 28))));
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 1, icmp({ kind: 'time-exceeded', code: 0, quote: quoted }, 8 + 28))));
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 17, udp(PEER, US, 1234, 7000, 20))));
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 17, udp(PEER, US, 1234, 7001, 20))));
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 17, udp(PEER, US, 1234, 9999, 20))));
  c.push(eth(bcast, EtherType.IPV4, ip(PEER, parseIp('198.18.0.255'), 17, udp(PEER, parseIp('198.18.0.255'), 1234, 7000, 5))));
  const mmac = new Uint8Array([0x01, 0x00, 0x5e, 0x01, 0x01, 0x01]);
  c.push(eth(mmac, EtherType.IPV4, ip(PEER, GROUP, 17, udp(PEER, GROUP, 1234, 7000, 5))));
  // fragments of one UDP datagram
  const big = udp(PEER, US, 1234, 7000, 100);
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 17, big.subarray(0, 48), { off: 0, more: true, ident: 99 })));
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 17, big.subarray(48, 96), { off: 48, more: true, ident: 99 })));
  c.push(eth(OUR_MAC, EtherType.IPV4, ip(PEER, US, 17, big.subarray(96), { off: 96, more: false, ident: 99 })));
  const igmp = (kind: 'query' | 'report-v2', group: number) => {
    const b = new Uint8Array(8);
    emitIgmp({ kind, maxRespTime: 10, group }, b, 0);
    return b;
  };
  c.push(eth(mmac, EtherType.IPV4, ip(PEER, parseIp('224.0.0.1'), 2, igmp('query', 0))));
  c.push(eth(mmac, EtherType.IPV4, ip(PEER, GROUP, 2, igmp('report-v2', GROUP))));
  return c;
}

/** Re-fill the IPv4 header checksum and the UDP/ICMP checksum, where the lengths allow. */
function fixChecksums(f: Uint8Array, rng: Random): void {
  if (f.length < 34 || f[12] !== 0x08 || f[13] !== 0x00) return;
  const hl = (f[14] & 0x0f) * 4;
  if (hl < 20 || 14 + hl > f.length) return;
  f[24] = 0;
  f[25] = 0;
  const c = checksum(f, 14, 14 + hl);
  f[24] = c >> 8;
  f[25] = c & 0xff;
  if (!rng.chance(0.5)) return;
  const tl = (f[16] << 8) | f[17];
  const end = Math.min(f.length, 14 + tl);
  const t = 14 + hl;
  if (end <= t) return;
  if (f[23] === IpProtocol.UDP && end - t >= 8) {
    const ulen = Math.min((f[t + 4] << 8) | f[t + 5], end - t);
    if (ulen < 8) return;
    f[t + 6] = 0;
    f[t + 7] = 0;
    const src = ((f[26] << 24) | (f[27] << 16) | (f[28] << 8) | f[29]) >>> 0;
    const dst = ((f[30] << 24) | (f[31] << 16) | (f[32] << 8) | f[33]) >>> 0;
    const u = checksum(f, t, t + ulen, pseudoHeaderSum(src, dst, 17, ulen));
    f[t + 6] = u >> 8;
    f[t + 7] = u & 0xff;
  } else if ((f[23] === IpProtocol.ICMP || f[23] === IpProtocol.IGMP) && end - t >= 4) {
    f[t + 2] = 0;
    f[t + 3] = 0;
    const u = checksum(f, t, end);
    f[t + 2] = u >> 8;
    f[t + 3] = u & 0xff;
  }
}

function mutate(base: Uint8Array, rng: Random): Uint8Array {
  let f = base.slice();
  const ops = 1 + rng.int(3);
  for (let k = 0; k < ops; k++) {
    switch (rng.int(6)) {
      case 0: {
        // bit flips
        const n = 1 + rng.int(8);
        for (let i = 0; i < n && f.length > 0; i++) f[rng.int(f.length)] ^= 1 << rng.int(8);
        break;
      }
      case 1:
        f = f.slice(0, rng.int(f.length + 1));
        break;
      case 2: {
        const ext = new Uint8Array(f.length + 1 + rng.int(64));
        ext.set(f);
        rng.fill(ext.subarray(f.length));
        f = ext;
        break;
      }
      case 3: {
        // rewrite a header byte (Ethernet/IP/transport headers live in the first ~50 bytes)
        if (f.length > 0) f[rng.int(Math.min(f.length, 50))] = rng.int(256);
        break;
      }
      case 4: {
        // rewrite a well-known field: IHL, total length, flags/fragment offset, protocol, UDP length
        const which = rng.int(5);
        if (which === 0 && f.length > 14) f[14] = 0x40 | rng.int(16);
        if (which === 1 && f.length > 17) {
          f[16] = rng.int(256);
          f[17] = rng.int(256);
        }
        if (which === 2 && f.length > 21) {
          f[20] = rng.int(256);
          f[21] = rng.int(256);
        }
        if (which === 3 && f.length > 23) f[23] = [1, 2, 6, 17, 132, rng.int(256)][rng.int(6)];
        if (which === 4 && f.length > 39) {
          f[38] = rng.int(256);
          f[39] = rng.int(256);
        }
        break;
      }
      default:
        // random source address on our subnet or anywhere
        if (f.length > 29) {
          f[28] = rng.int(256);
          f[29] = rng.int(256);
          if (rng.chance(0.3)) f[26] = rng.int(256);
        }
    }
  }
  if (rng.chance(0.7)) fixChecksums(f, rng);
  return f;
}

describe('fuzz', () => {
  it(`survives ${FRAMES} random and mutated frames with exact accounting and bounded memory`, () => {
    const clock = new VirtualClock();
    const link = new SinkLink();
    const stack = new Stack({
      link,
      address: '198.18.0.1/24',
      clock,
      seed: 1,
      reassembly: { maxBytes: 256 * 1024, maxDatagrams: 32 },
      arp: { maxEntries: 128, queueLen: 8 },
      udp: { recvQueueLen: 64 },
    });
    const handler = link.handler!;
    let messages = 0;
    let errors = 0;
    const open = stack.createSocket('udp4');
    open.bind(7000);
    open.addMembership('239.1.1.1');
    open.on('message', () => messages++);
    // a socket that never reads fast enough: its queue must stay bounded
    const slow = stack.createSocket('udp4');
    slow.bind(7001);
    slow.on('message', () => messages++);
    const connected = stack.createSocket('udp4');
    connected.on('error', () => errors++);
    connected.bind(40000);
    connected.connect(53, '198.18.0.2');
    const rng = new Random(20261122);
    const base = corpus();
    const scratch = new Uint8Array(1600);
    for (let i = 0; i < FRAMES; i++) {
      let f: Uint8Array;
      const r = rng.next();
      if (r < 0.1) {
        // fully random bytes, often addressed to us
        f = scratch.subarray(0, rng.int(1600));
        rng.fill(f);
        if (rng.chance(0.5) && f.length >= 6) f.set(OUR_MAC, 0);
        if (rng.chance(0.5) && f.length >= 14) {
          f[12] = 0x08;
          f[13] = rng.chance(0.5) ? 0x00 : 0x06;
        }
      } else if (r < 0.2) {
        f = base[rng.int(base.length)].slice();
      } else {
        f = mutate(base[rng.int(base.length)], rng);
      }
      handler.frame(f);
      if ((i & 31) === 31) {
        handler.batchEnd();
        clock.advanceSync(rng.int(50));
      }
    }
    handler.batchEnd();
    clock.advanceSync(100);

    const s = stack.stats();
    if (process.env.FUZZ_DEBUG) console.log(JSON.stringify(s));
    const d = s.drops as Record<string, number>;
    const sum = (pred: (k: string) => boolean) => Object.entries(d).filter(([k]) => pred(k)).reduce((n, [, v]) => n + v, 0);
    const frameDrops = sum((k) => /^(eth|arp|ip|frag|rxDown)/.test(k));
    // 1. every frame: dropped once, an ARP packet handled, a fragment held, or delivered to a protocol
    expect(s.eth.rxFrames).toBe(FRAMES);
    expect(s.eth.rxFrames + s.ip.rxLoopback).toBe(frameDrops + s.arp.rxAccepted + s.ip.fragQueued + s.ip.rxDelivered);
    // 2. every delivered datagram is counted by exactly one protocol
    expect(s.ip.rxDelivered).toBe(s.icmp.rxMessages + s.igmp.rxMessages + s.ip.rxToTransport);
    expect(s.icmp.rxMessages).toBe(s.icmp.rxAccepted + sum((k) => k.startsWith('icmp')));
    expect(s.igmp.rxMessages).toBe(s.igmp.rxAccepted + sum((k) => k.startsWith('igmp')));
    expect(s.udp.rxDatagrams).toBe(s.udp.delivered + sum((k) => k.startsWith('udp')));
    // coverage: the mutations reached every layer
    expect(s.arp.rxAccepted).toBeGreaterThan(1000);
    expect(s.icmp.rxEchoRequests).toBeGreaterThan(1000);
    expect(s.udp.delivered).toBeGreaterThan(1000);
    expect(s.ip.reassembled).toBeGreaterThan(10);
    expect(s.igmp.rxQueries).toBeGreaterThan(100);
    expect(d.ipBadChecksum).toBeGreaterThan(100);
    expect(d.udpBadChecksum).toBeGreaterThan(100);
    expect(d.fragOverlap + d.fragInconsistent).toBeGreaterThan(10);
    expect(messages).toBe(s.udp.deliveredCopies);
    // 3. memory stayed bounded
    const eng = stack.engine;
    expect(eng.reassembler.bytes).toBeLessThanOrEqual(256 * 1024);
    expect(eng.reassembler.datagrams.length).toBeLessThanOrEqual(32);
    expect(eng.arpCache.entries.size).toBeLessThanOrEqual(128);
    for (const e of eng.arpCache.entries.values()) expect(e.queue.length).toBeLessThanOrEqual(8);
    expect(s.udp.queued).toBe(0);
    expect(link.sent).toBeGreaterThan(1000);
    expect(errors).toBeGreaterThanOrEqual(0);
    stack.crash();
  }, 60_000);
});
