/**
 * Robustness: every parser, fed random and mutated bytes, returns a value (never throws), never
 * reads outside its buffer, and whatever it accepts round-trips through emit.
 */
import { describe, expect, it } from 'vitest';
import { ArpPacket, emitArp, parseArp } from '../src/arp.js';
import { EthernetPacket, emitEthernet, parseEthernet } from '../src/ethernet.js';
import { emitIcmp, icmpLength, IcmpPacket, parseIcmp, parseIcmpQuote } from '../src/icmp.js';
import { emitIgmp, IgmpPacket, parseIgmp } from '../src/igmp.js';
import { emitIpv4, ipv4HeaderLength, Ipv4Packet, parseIpv4 } from '../src/ipv4.js';
import { isWireError, WireError } from '../src/result.js';
import { emitUdp, parseUdp, UdpPacket } from '../src/udp.js';
import {
  ARP_REPLY,
  ARP_REQUEST,
  ICMP_ECHO,
  ICMP_PORT_UNREACH,
  IGMP_QUERY,
  IGMP_REPORT,
  REAL_IGMP_LEAVE,
  REAL_PING_REPLY,
  REAL_PORT_UNREACH,
  UDP_FRAME,
} from './fixtures.js';
import { randBytes, randInt, rng } from './helpers.js';

const A = 0xc6120001;
const B = 0xc6120002;

/** A Uint8Array look-alike that fails the test on any index read outside [0, length). */
function guarded(b: Uint8Array, oob: { hits: number }): Uint8Array {
  return new Proxy(b, {
    get(t, k) {
      if (typeof k === 'string' && k.length > 0 && k.charCodeAt(0) >= 48 && k.charCodeAt(0) <= 57) {
        const i = Number(k);
        if (Number.isInteger(i) && (i < 0 || i >= t.length)) oob.hits++;
        return t[i];
      }
      const v = Reflect.get(t, k, t);
      return typeof v === 'function' ? v.bind(t) : v;
    },
  });
}

type Outcome = { ok: number; err: Record<string, number> };

/** Structural equality of reprs (numbers, strings, booleans, Uint8Arrays, plain objects). Cheap. */
function same(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a instanceof Uint8Array && b instanceof Uint8Array) {
    if (a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
    return true;
  }
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (!same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k])) return false;
  return true;
}

/** Round-trip assertion that only pays for vitest's diff when it fails. */
function roundTrip(back: unknown, orig: unknown): void {
  if (!same(back, orig)) expect(back).toEqual(orig);
}

/** Run every parser on `b`; check round trips of whatever parses. */
function parseAll(b: Uint8Array, out: Outcome, scratch: Uint8Array): void {
  const note = (r: unknown) => {
    if (r instanceof WireError) out.err[r.reason] = (out.err[r.reason] ?? 0) + 1;
    else out.ok++;
  };
  const eth = parseEthernet(b);
  note(eth);
  if (!isWireError(eth)) {
    emitEthernet(eth, scratch);
    roundTrip(parseEthernet(scratch.subarray(0, 14)), eth);
  }
  const arp = parseArp(b);
  note(arp);
  if (!isWireError(arp)) {
    emitArp(arp, scratch);
    roundTrip(parseArp(scratch.subarray(0, 28)), arp);
  }
  const ip = parseIpv4(b);
  note(ip);
  if (!isWireError(ip)) {
    const hl = emitIpv4(ip, scratch);
    if (hl !== ipv4HeaderLength(ip)) expect(hl).toBe(ipv4HeaderLength(ip));
    scratch.fill(0, hl, hl + ip.payloadLength);
    roundTrip(parseIpv4(scratch.subarray(0, hl + ip.payloadLength)), ip);
  }
  const icmp = parseIcmp(b);
  note(icmp);
  if (!isWireError(icmp)) {
    const n = emitIcmp(icmp, scratch);
    if (n !== icmpLength(icmp)) expect(n).toBe(icmpLength(icmp));
    roundTrip(parseIcmp(scratch.subarray(0, n)), icmp);
    if ((icmp.kind === 'dest-unreachable' || icmp.kind === 'time-exceeded') && isWireError(parseIcmpQuote(icmp.quote))) {
      expect.fail('accepted ICMP error with an unreadable quote');
    }
  }
  note(parseIcmpQuote(b));
  const udp = parseUdp(b, A, B);
  note(udp);
  if (!isWireError(udp)) {
    const n = emitUdp(udp, scratch, 0, A, B);
    roundTrip(parseUdp(scratch.subarray(0, n), A, B), udp);
  }
  const igmp = parseIgmp(b);
  note(igmp);
  if (!isWireError(igmp)) {
    emitIgmp(igmp, scratch);
    roundTrip(parseIgmp(scratch.subarray(0, 8)), igmp);
  }
}

/** After a successful check(), every accessor of every view stays in bounds. */
function touchViews(b: Uint8Array): number {
  let acc = 0;
  const e = EthernetPacket.checked(b);
  if (!isWireError(e)) acc += e.ethertype + e.dst[5] + e.src[0] + e.payload.length + (e.isMulticastDst ? 1 : 0);
  const a = ArpPacket.checked(b);
  if (!isWireError(a)) acc += a.htype + a.ptype + a.hlen + a.plen + a.op + a.senderIp + a.targetIp + a.senderMac[5] + a.targetMac[5];
  const i = Ipv4Packet.checked(b);
  if (!isWireError(i)) {
    acc += i.version + i.headerLength + i.tos + i.totalLength + i.ident + i.fragmentOffset + i.ttl + i.protocol + i.checksum;
    acc += i.src + i.dst + i.payload.length + i.options.length + (i.verifyChecksum() ? 1 : 0) + (i.isFragment ? 1 : 0);
    acc += i.validate() ? 1 : 0;
  }
  const c = IcmpPacket.checked(b);
  if (!isWireError(c)) acc += c.type + c.code + c.checksum + c.id + c.seq + c.rest + c.data.length + (c.verifyChecksum() ? 1 : 0) + (c.validate() ? 1 : 0);
  const u = UdpPacket.checked(b);
  if (!isWireError(u)) acc += u.srcPort + u.dstPort + u.length + u.checksum + u.payload.length + (u.verifyChecksum(A, B) ? 1 : 0);
  const g = IgmpPacket.checked(b);
  if (!isWireError(g)) acc += g.type + g.maxRespTime + g.checksum + g.group + (g.verifyChecksum() ? 1 : 0) + (g.validate() ? 1 : 0);
  return acc;
}

const FIXTURES = [ARP_REQUEST, ARP_REPLY, ICMP_ECHO, ICMP_PORT_UNREACH, UDP_FRAME, IGMP_REPORT, IGMP_QUERY, REAL_PING_REPLY, REAL_PORT_UNREACH, REAL_IGMP_LEAVE];
/** Each fixture at the layer every parser expects: frame, IP packet, transport. */
const LAYERS: Uint8Array[] = [];
for (const f of FIXTURES) {
  LAYERS.push(f, f.subarray(14));
  if (f[12] === 8 && f[13] === 0) LAYERS.push(f.subarray(14 + (f[14] & 15) * 4, 14 + ((f[16] << 8) | f[17])));
}

function mutate(r: () => number, src: Uint8Array): Uint8Array {
  let b: Uint8Array = src.slice();
  const ops = 1 + randInt(r, 4);
  for (let k = 0; k < ops; k++) {
    const op = randInt(r, 5);
    if (op === 0 && b.length > 0) b[randInt(r, b.length)] ^= 1 << randInt(r, 8); // bit flip
    else if (op === 1 && b.length > 0) b[randInt(r, b.length)] = randInt(r, 256); // byte set
    else if (op === 2) b = b.subarray(0, randInt(r, b.length + 1)); // truncate
    else if (op === 3) {
      const x = new Uint8Array(b.length + randInt(r, 16)); // extend with garbage
      x.set(b);
      x.set(randBytes(r, x.length - b.length), b.length);
      b = x;
    } else if (b.length > 4) {
      const at = randInt(r, b.length - 1); // interesting values into a 16-bit field
      const v = [0, 1, 0xffff, 0x7fff, 0x8000, b.length, b.length + 1, b.length - 1][randInt(r, 8)];
      b[at] = v >> 8;
      b[at + 1] = v & 0xff;
    }
  }
  return b;
}

describe('fuzz: every parser on hostile input', () => {
  it('100k random buffers: no throw, and accepted inputs round-trip (seeded)', () => {
    const r = rng(0xf022);
    const out: Outcome = { ok: 0, err: {} };
    const scratch = new Uint8Array(70000);
    for (let i = 0; i < 100_000; i++) {
      const len = i % 100 === 0 ? randInt(r, 1600) : randInt(r, 80);
      const b = randBytes(r, len);
      // make the interesting prefixes likelier: IPv4 version/IHL, plausible lengths
      if (len > 0 && r() < 0.5) b[0] = 0x45;
      if (len > 3 && r() < 0.3) {
        b[2] = len >> 8;
        b[3] = len & 0xff;
      }
      parseAll(b, out, scratch);
      touchViews(b);
    }
    const total = out.ok + Object.values(out.err).reduce((s, n) => s + n, 0);
    expect(total).toBe(100_000 * 7);
    expect(out.err.truncated).toBeGreaterThan(0);
    expect(out.err['bad-checksum']).toBeGreaterThan(0);
  });

  it('60k mutated valid frames and packets: no throw, accepted inputs round-trip (seeded)', () => {
    const r = rng(0x3ad);
    const out: Outcome = { ok: 0, err: {} };
    const scratch = new Uint8Array(70000);
    for (let i = 0; i < 60_000; i++) {
      const b = mutate(r, LAYERS[randInt(r, LAYERS.length)]);
      parseAll(b, out, scratch);
      touchViews(b);
    }
    // mutations keep many inputs valid for some parser, and break many
    expect(out.ok).toBeGreaterThan(1000);
    for (const why of ['truncated', 'bad-checksum', 'bad-length', 'bad-version', 'bad-header-length', 'unsupported', 'bad-field']) {
      expect(out.err[why] ?? 0, why).toBeGreaterThan(0);
    }
  });

  it('no index read outside the buffer (guarded buffers, 8k random + mutated, seeded)', () => {
    // the guard itself works: an out-of-range read is counted, and parsers run on guarded buffers
    const probe = { hits: 0 };
    const gp = guarded(ICMP_ECHO.subarray(14).slice(), probe);
    void gp[gp.length];
    expect(probe.hits).toBe(1);
    expect(isWireError(parseIpv4(gp))).toBe(false);
    expect(isWireError(parseIpv4(gp.subarray(0, 30)))).toBe(true);
    expect(probe.hits).toBe(1);

    const r = rng(0x0b0b);
    const oob = { hits: 0 };
    const out: Outcome = { ok: 0, err: {} };
    const scratch = new Uint8Array(70000);
    for (let i = 0; i < 8000; i++) {
      const raw = i % 2 === 0 ? randBytes(r, randInt(r, 70)) : mutate(r, LAYERS[randInt(r, LAYERS.length)]);
      if (raw.length > 0 && i % 4 === 0) raw[0] = 0x45;
      const g = guarded(raw.slice(), oob);
      parseAll(g, out, scratch);
      touchViews(g);
    }
    expect(out.ok + Object.keys(out.err).length).toBeGreaterThan(0);
    expect(oob.hits).toBe(0);
  });
});
