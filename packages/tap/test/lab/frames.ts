// Hand-built frames and a tiny ARP/ICMP responder, so the link can be tested against the kernel
// without the hastack engine.
import type { LinkHandler, RxMeta } from '@hastack/stack';
import type { TapLink } from '../../src/index.js';

export function csum16(b: Uint8Array, start: number, end: number, init = 0): number {
  let s = init;
  let i = start;
  for (; i + 1 < end; i += 2) s += (b[i] << 8) | b[i + 1];
  if (i < end) s += b[i] << 8;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

export function ipToBytes(ip: string): number[] {
  return ip.split('.').map(Number);
}

/** Verifies the IPv4 header checksum and the TCP/UDP checksum of an IPv4 packet at `ip`. */
export function checksumsOk(f: Uint8Array, ip: number): { ip: boolean; l4: boolean } {
  const ihl = (f[ip] & 15) * 4;
  const tot = (f[ip + 2] << 8) | f[ip + 3];
  const ipOk = csum16(f, ip, ip + ihl) === 0xffff;
  const proto = f[ip + 9];
  const l4 = ip + ihl;
  let pseudo = csum16(f, ip + 12, ip + 20);
  pseudo += proto + (tot - ihl);
  while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
  return { ip: ipOk, l4: csum16(f, l4, ip + tot, pseudo) === 0xffff };
}

function fillIp(f: Uint8Array, ip: number, totalLen: number, proto: number, src: string, dst: string, id: number): void {
  f[ip] = 0x45;
  f[ip + 1] = 0;
  f[ip + 2] = totalLen >> 8;
  f[ip + 3] = totalLen & 255;
  f[ip + 4] = id >> 8;
  f[ip + 5] = id & 255;
  f[ip + 6] = 0x40; // DF
  f[ip + 7] = 0;
  f[ip + 8] = 64;
  f[ip + 9] = proto;
  f[ip + 10] = f[ip + 11] = 0;
  f.set(ipToBytes(src), ip + 12);
  f.set(ipToBytes(dst), ip + 16);
  const c = ~csum16(f, ip, ip + 20) & 0xffff;
  f[ip + 10] = c >> 8;
  f[ip + 11] = c & 255;
}

function fillEth(f: Uint8Array, dst: Uint8Array, src: Uint8Array): void {
  f.set(dst, 0);
  f.set(src, 6);
  f[12] = 0x08;
  f[13] = 0x00;
}

/** An Ethernet+IPv4+TCP frame (ACK|PSH) with `payload`, checksum field left 0xdead (offload fills it). */
export function tcpFrame(o: { dstMac: Uint8Array; srcMac: Uint8Array; src: string; dst: string; sport: number; dport: number; seq: number; payload: Uint8Array; validChecksum?: boolean }): Uint8Array {
  const f = new Uint8Array(14 + 20 + 20 + o.payload.length);
  fillEth(f, o.dstMac, o.srcMac);
  fillIp(f, 14, 40 + o.payload.length, 6, o.src, o.dst, 1);
  const t = 34;
  f[t] = o.sport >> 8;
  f[t + 1] = o.sport & 255;
  f[t + 2] = o.dport >> 8;
  f[t + 3] = o.dport & 255;
  new DataView(f.buffer).setUint32(t + 4, o.seq >>> 0);
  new DataView(f.buffer).setUint32(t + 8, 1);
  f[t + 12] = 5 << 4;
  f[t + 13] = 0x18;
  f[t + 14] = 0xff;
  f[t + 15] = 0xff;
  f[t + 16] = 0xde;
  f[t + 17] = 0xad;
  f.set(o.payload, t + 20);
  if (o.validChecksum) setL4Checksum(f, 14, 16);
  return f;
}

/** An Ethernet+IPv4+UDP frame; checksum left 0xbeef unless validChecksum. */
export function udpFrame(o: { dstMac: Uint8Array; srcMac: Uint8Array; src: string; dst: string; sport: number; dport: number; payload: Uint8Array; validChecksum?: boolean }): Uint8Array {
  const f = new Uint8Array(14 + 20 + 8 + o.payload.length);
  fillEth(f, o.dstMac, o.srcMac);
  fillIp(f, 14, 28 + o.payload.length, 17, o.src, o.dst, 2);
  const u = 34;
  const ulen = 8 + o.payload.length;
  f[u] = o.sport >> 8;
  f[u + 1] = o.sport & 255;
  f[u + 2] = o.dport >> 8;
  f[u + 3] = o.dport & 255;
  f[u + 4] = ulen >> 8;
  f[u + 5] = ulen & 255;
  f[u + 6] = 0xbe;
  f[u + 7] = 0xef;
  f.set(o.payload, u + 8);
  if (o.validChecksum) setL4Checksum(f, 14, 6);
  return f;
}

function setL4Checksum(f: Uint8Array, ip: number, fieldOff: number): void {
  const ihl = (f[ip] & 15) * 4;
  const tot = (f[ip + 2] << 8) | f[ip + 3];
  const l4 = ip + ihl;
  f[l4 + fieldOff] = f[l4 + fieldOff + 1] = 0;
  let pseudo = csum16(f, ip + 12, ip + 20) + f[ip + 9] + (tot - ihl);
  while (pseudo > 0xffff) pseudo = (pseudo & 0xffff) + (pseudo >>> 16);
  let c = ~csum16(f, l4, ip + tot, pseudo) & 0xffff;
  if (c === 0 && f[ip + 9] === 17) c = 0xffff;
  f[l4 + fieldOff] = c >> 8;
  f[l4 + fieldOff + 1] = c & 255;
}

/**
 * Answers ARP requests for `ip` and ICMP echo requests to `ip`, on a TAP (Ethernet) or TUN (IP) link.
 * Records every received frame's length and meta.
 */
export function responder(link: TapLink, ip: string): LinkHandler & { echoes: number; arps: number; frames: { len: number; meta?: RxMeta }[] } {
  const me = ipToBytes(ip);
  const eth = link.medium === 'ethernet';
  const mac = link.mac ?? new Uint8Array(6);
  const h = {
    echoes: 0,
    arps: 0,
    frames: [] as { len: number; meta?: RxMeta }[],
    frame(data: Uint8Array, meta?: RxMeta) {
      h.frames.push({ len: data.length, meta: meta ? { ...meta } : undefined });
      if (eth && data[12] === 0x08 && data[13] === 0x06 && data.length >= 42) {
        const tpa = Array.from(data.subarray(38, 42));
        if (data[21] !== 1 || tpa.join('.') !== me.join('.')) return;
        const r = new Uint8Array(42);
        r.set(data.subarray(6, 12), 0);
        r.set(mac, 6);
        r[12] = 0x08;
        r[13] = 0x06;
        r.set([0, 1, 8, 0, 6, 4, 0, 2], 14);
        r.set(mac, 22);
        r.set(me, 28);
        r.set(data.subarray(22, 32), 32);
        h.arps++;
        link.send(r);
        return;
      }
      const ipOff = eth ? 14 : 0;
      if (eth && !(data[12] === 0x08 && data[13] === 0x00)) return;
      if (data.length < ipOff + 28 || data[ipOff] >> 4 !== 4 || data[ipOff + 9] !== 1) return;
      if (Array.from(data.subarray(ipOff + 16, ipOff + 20)).join('.') !== me.join('.')) return;
      const ihl = (data[ipOff] & 15) * 4;
      const icmp = ipOff + ihl;
      if (data[icmp] !== 8) return;
      const r = new Uint8Array(data);
      if (eth) {
        r.set(data.subarray(6, 12), 0);
        r.set(mac, 6);
      }
      r.set(data.subarray(ipOff + 16, ipOff + 20), ipOff + 12);
      r.set(data.subarray(ipOff + 12, ipOff + 16), ipOff + 16);
      r[icmp] = 0;
      r[icmp + 2] = r[icmp + 3] = 0;
      const tot = (data[ipOff + 2] << 8) | data[ipOff + 3];
      const c = ~csum16(r, icmp, ipOff + tot) & 0xffff;
      r[icmp + 2] = c >> 8;
      r[icmp + 3] = c & 255;
      h.echoes++;
      link.send(r);
    },
    batchEnd() {
      link.flush();
    },
  };
  return h;
}
