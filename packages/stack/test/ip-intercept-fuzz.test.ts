/**
 * Fuzz of the DSR hooks with untrusted input: mutated IPv4 packets (IHL, total length, fragment
 * fields, protocol, truncation, GRO metadata) reach a stack whose interceptor forwards every
 * packet it sees with forwardIp. Nothing may throw; the interceptor sees only packets the IP layer
 * accepted (header fits, total length within the frame, not a fragment); every forwarded frame is
 * the packet behind a 14-byte Ethernet header with the IP header unchanged; and when forwardIp
 * fixed a transport checksum, the copy verifies.
 */
import { describe, expect, it } from 'vitest';
import { checksum, pseudoHeaderSum } from '@hastack/wire';
import { Random, Stack, VirtualClock, parseIp, parseMac, type Link, type LinkHandler, type LinkOffloads, type RxMeta, type TxMeta } from '@hastack/stack';

const OUR_MAC = parseMac('02:00:00:00:00:01');
const PEER_MAC = parseMac('02:00:00:00:00:02');
const H_MAC = parseMac('02:00:00:00:00:03');
const US = parseIp('198.18.0.1');
const PEER = parseIp('198.18.0.2');

class CaptureLink implements Link {
  readonly medium = 'ethernet' as const;
  readonly mtu = 1500;
  readonly mac = OUR_MAC;
  readonly offloads: LinkOffloads = Object.freeze({ rxChecksum: true, txChecksum: true, tso: true, gro: true, maxFrame: 65535 + 14 });
  handler: LinkHandler | null = null;
  sent: { f: Uint8Array; m: TxMeta | undefined }[] = [];
  attach(h: LinkHandler): void {
    this.handler = h;
  }
  send(f: Uint8Array, m?: TxMeta): boolean {
    this.sent.push({ f, m });
    return true;
  }
  close(): void {}
}

function validPacket(rnd: Random, proto: number, payload: number): Uint8Array {
  const thl = proto === 6 ? 20 : proto === 17 ? 8 : 8;
  const p = new Uint8Array(20 + thl + payload);
  p.set([0x45, 0, p.length >>> 8, p.length & 0xff, 0, 1, 0x40, 0, 64, proto, 0, 0], 0);
  p.set([198, 18, 0, 2, 198, 18, 0, 1], 12);
  for (let i = 20; i < p.length; i++) p[i] = rnd.int(256);
  if (proto === 6) p[32] = 0x50;
  if (proto === 17) {
    p[24] = (thl + payload) >>> 8;
    p[25] = (thl + payload) & 0xff;
  }
  const c = checksum(p, 0, 20);
  p[10] = c >>> 8;
  p[11] = c & 0xff;
  return p;
}

describe('IP interceptor + forwardIp under malformed input', () => {
  it('20k mutated packets: no throw, only accepted packets intercepted, forwarded copies well-formed (seeded)', () => {
    const rnd = new Random(4242);
    const clock = new VirtualClock();
    const link = new CaptureLink();
    const s = new Stack({ link, address: '198.18.0.1/24', clock });
    let seen = 0;
    let forwarded = 0;
    let lastMeta: RxMeta | undefined;
    s.setIpInterceptor((pkt, rx) => {
      seen++;
      // What the IP layer hands over is self-consistent.
      const hl = (pkt[0] & 0x0f) << 2;
      expect(pkt[0] >>> 4).toBe(4);
      expect(hl).toBeGreaterThanOrEqual(20);
      expect(hl).toBeLessThanOrEqual(pkt.length);
      expect((pkt[2] << 8) | pkt[3]).toBe(pkt.length);
      expect(((pkt[6] << 8) | pkt[7]) & 0x3fff).toBe(0);
      expect(rx.dst).toBe(US);
      lastMeta = rx.meta;
      if (s.forwardIp(pkt, H_MAC, rx.meta)) forwarded++;
      return true;
    });
    const frame = new Uint8Array(14 + 65535 + 64);
    let checked = 0;
    for (let i = 0; i < 20_000; i++) {
      const proto = [6, 17, 6, 17, 132, 6][rnd.int(6)];
      const big = rnd.int(10) === 0;
      const p = validPacket(rnd, proto, big ? 1500 + rnd.int(20000) : rnd.int(200));
      // Mutations of the fields forwardIp and the interceptor rely on.
      const k = rnd.int(8);
      if (k === 0) p[0] = 0x40 | rnd.int(16); // IHL
      else if (k === 1) {
        const tl = rnd.int(p.length + 40);
        p[2] = tl >>> 8;
        p[3] = tl & 0xff;
      } else if (k === 2) {
        p[6] = rnd.int(256); // MF / offset
        p[7] = rnd.int(256);
      } else if (k === 3) p[9] = rnd.int(256);
      else if (k === 4 && proto === 6) p[32] = rnd.int(256); // TCP data offset
      if (k <= 3 && rnd.int(2) === 0) {
        // Keep the IP checksum right half the time so the mutated packet gets further.
        p[10] = 0;
        p[11] = 0;
        const hl = Math.min((p[0] & 0x0f) << 2, p.length);
        const c = checksum(p, 0, hl);
        p[10] = c >>> 8;
        p[11] = c & 0xff;
      }
      const cut = rnd.int(6) === 0 ? rnd.int(p.length) : p.length;
      frame.set(PEER_MAC, 6);
      frame.set(OUR_MAC, 0);
      frame[12] = 0x08;
      frame[13] = 0x00;
      frame.set(p.subarray(0, cut), 14);
      const meta: RxMeta | undefined = rnd.int(2) === 0 ? { csumValid: true, gsoSize: big ? 1 + rnd.int(3000) - (rnd.int(5) === 0 ? 1500 : 0) : undefined } : undefined;
      const before = link.sent.length;
      link.handler!.frame(frame.subarray(0, 14 + cut), meta);
      link.handler!.batchEnd();
      for (let j = before; j < link.sent.length; j++) {
        const { f, m } = link.sent[j];
        if (f[0] !== H_MAC[0] || f[5] !== H_MAC[5] || f[12] !== 0x08) continue; // the stack's own output (ICMP errors)
        const pk = f.subarray(14);
        const hl = (pk[0] & 0x0f) << 2;
        expect(checksum(pk, 0, hl)).toBe(0); // the IP header went unchanged (and verified on the way in)
        if (pk.length > link.mtu) {
          expect(m?.gsoSize).toBeGreaterThan(0);
          expect(pk[9]).toBe(6);
          // hdrLen (Ethernet + IP + TCP header) is a real header length inside the frame.
          expect(m!.hdrLen!).toBeGreaterThanOrEqual(14 + hl + 20);
          expect(m!.hdrLen!).toBeLessThan(f.length);
        }
        const pr = pk[9];
        if (lastMeta?.csumValid && (pr === 6 || pr === 17)) {
          const field = hl + (pr === 6 ? 16 : 6);
          if (field + 2 <= pk.length) {
            const src = ((pk[12] << 24) | (pk[13] << 16) | (pk[14] << 8) | pk[15]) >>> 0;
            const dst = ((pk[16] << 24) | (pk[17] << 16) | (pk[18] << 8) | pk[19]) >>> 0;
            const v = checksum(pk, hl, pk.length, pseudoHeaderSum(src, dst, pr, pk.length - hl));
            expect(v === 0 || (pr === 17 && ((pk[field] << 8) | pk[field + 1]) === 0xffff)).toBe(true);
            checked++;
          }
        }
      }
      clock.advanceSync(1);
    }
    expect(seen).toBeGreaterThan(2000);
    expect(forwarded).toBeGreaterThan(1000);
    expect(checked).toBeGreaterThan(500);
    const st = s.stats();
    expect(st.ip.rxIntercepted).toBe(seen);
    s.close();
  });
  it('forwardIp called directly with a bad IHL never rewrites the IP header; the checksum covers the total length, not trailing bytes', () => {
    const clock = new VirtualClock();
    const link = new CaptureLink();
    const s = new Stack({ link, address: '198.18.0.1/24', clock });
    const rnd = new Random(7);
    for (const ihl of [0, 1, 4]) {
      const p = validPacket(rnd, 6, 40);
      p[0] = 0x40 | ihl;
      const copy = Uint8Array.from(p);
      expect(s.forwardIp(p, H_MAC, { csumValid: true })).toBe(true);
      const f = link.sent[link.sent.length - 1].f;
      expect(Array.from(f.subarray(14))).toEqual(Array.from(copy)); // sent unchanged
    }
    // A packet with 6 bytes of Ethernet padding behind its total length (as a 60-byte minimum frame has).
    const p = validPacket(rnd, 6, 10);
    const padded = new Uint8Array(p.length + 6);
    padded.set(p);
    padded.fill(0xee, p.length);
    expect(s.forwardIp(padded, H_MAC, { csumValid: true })).toBe(true);
    const f = link.sent[link.sent.length - 1].f;
    expect(checksum(f, 34, 14 + p.length, pseudoHeaderSum(PEER, US, 6, p.length - 20))).toBe(0);
    s.close();
  });
});
