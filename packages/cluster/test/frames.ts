/** Synthetic TCP conversations as Ethernet frames, with valid checksums. */
import { checksum, pseudoHeaderSum } from '@hastack/wire';
import { ConnectionSnooper, ipFromString } from '@hastack/cluster';
import { VIP } from './harness.js';

export const CLIENT = '198.18.1.5';

export interface Seg {
  from: 'c' | 's';
  seq: number;
  ack?: number;
  flags: string; // letters S A F R P
  win?: number;
  data?: string | Uint8Array;
  opts?: number[];
  cport?: number;
}

/** Build Ethernet + IPv4 + TCP with valid checksums. */
export function frame(s: Seg): Uint8Array {
  const data = typeof s.data === 'string' ? new TextEncoder().encode(s.data) : (s.data ?? new Uint8Array(0));
  const opts = s.opts ?? [];
  const optLen = (opts.length + 3) & ~3;
  const thl = 20 + optLen;
  const tot = 20 + thl + data.length;
  const f = new Uint8Array(14 + tot);
  f[12] = 0x08;
  const ip = f.subarray(14);
  const cport = s.cport ?? 40000;
  const [src, dst] = s.from === 'c' ? [ipFromString(CLIENT), ipFromString(VIP)] : [ipFromString(VIP), ipFromString(CLIENT)];
  const [sp, dp] = s.from === 'c' ? [cport, 80] : [80, cport];
  ip[0] = 0x45;
  ip[2] = tot >> 8;
  ip[3] = tot & 255;
  ip[8] = 64;
  ip[9] = 6;
  const dv = new DataView(ip.buffer, ip.byteOffset);
  dv.setUint32(12, src);
  dv.setUint32(16, dst);
  dv.setUint16(10, checksum(ip, 0, 20));
  const t = ip.subarray(20);
  const tv = new DataView(t.buffer, t.byteOffset);
  tv.setUint16(0, sp);
  tv.setUint16(2, dp);
  tv.setUint32(4, s.seq >>> 0);
  tv.setUint32(8, (s.ack ?? 0) >>> 0);
  t[12] = (thl / 4) << 4;
  let fl = 0;
  for (const ch of s.flags) fl |= { F: 1, S: 2, R: 4, P: 8, A: 16 }[ch as 'F'] ?? 0;
  t[13] = fl;
  tv.setUint16(14, s.win ?? 1000);
  t.set(opts, 20);
  for (let i = opts.length; i < optLen; i++) t[20 + i] = 1; // NOP padding
  t.set(data, thl);
  tv.setUint16(16, checksum(t, 0, thl + data.length, pseudoHeaderSum(src, dst, 6, thl + data.length)));
  return f;
}

export const mss = (v: number) => [2, 4, v >> 8, v & 255];
export const ws = (v: number) => [3, 3, v];
export const sackp = [4, 2];
export const ts = (a: number, b: number) => [8, 10, a >>> 24, (a >> 16) & 255, (a >> 8) & 255, a & 255, b >>> 24, (b >> 16) & 255, (b >> 8) & 255, b & 255];

export function handshake(sn: ConnectionSnooper, cport = 40000, t = 0) {
  sn.receiveFrame(frame({ from: 'c', seq: 1000, flags: 'S', opts: [...mss(1460), ...sackp, ...ts(100, 0), 1, ...ws(7)], cport, win: 64240 }), t);
  sn.receiveFrame(frame({ from: 's', seq: 5000, ack: 1001, flags: 'SA', opts: [...mss(1400), ...sackp, ...ts(200, 100), 1, ...ws(8)], cport, win: 65535 }), t);
  sn.receiveFrame(frame({ from: 'c', seq: 1001, ack: 5001, flags: 'A', opts: [1, 1, ...ts(101, 200)], cport, win: 502 }), t);
}
export const key = (cport = 40000) => `tcp:${VIP}:80-${CLIENT}:${cport}`;
export const text = (b: Uint8Array) => new TextDecoder().decode(b);

