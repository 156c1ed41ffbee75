/**
 * Addresses. IPv4 addresses are unsigned 32-bit numbers (`>>> 0`) everywhere inside hastack;
 * MAC addresses are 6-byte Uint8Arrays. Strings appear only at the API edge.
 */
import { WireError } from './result.js';

/** Length of an Ethernet MAC address. */
export const MAC_LEN = 6;

/** ff:ff:ff:ff:ff:ff. Shared constant: never write into it. */
export const BROADCAST_MAC: Uint8Array = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/** 00:00:00:00:00:00 (the "unknown" target hardware address of an ARP request). Never write into it. */
export const ZERO_MAC: Uint8Array = new Uint8Array(6);

/** 255.255.255.255, the limited broadcast address (RFC 919). */
export const IPV4_BROADCAST = 0xffffffff;

/** 0.0.0.0, the unspecified address. */
export const IPV4_ANY = 0;

/** 224.0.0.1, all systems on this subnet (RFC 1112; IGMP general queries go here). */
export const IPV4_ALL_SYSTEMS = 0xe0000001;

/** 224.0.0.2, all routers on this subnet (RFC 2236 §3: Leave Group goes here). */
export const IPV4_ALL_ROUTERS = 0xe0000002;

/** Dotted-quad text of an IPv4 address number. */
export function ipv4ToString(n: number): string {
  n = n >>> 0;
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/**
 * Parse a strict dotted quad: exactly four decimal parts 0..255, no leading zeros (they are
 * ambiguous: octal in inet_aton), no whitespace, no other forms. (`parseIpv4(s)` with a string
 * argument calls this too.)
 */
export function parseIpv4Address(s: string): number | WireError {
  if (typeof s !== 'string' || s.length < 7 || s.length > 15) return new WireError('bad-address', `not an IPv4 address: ${String(s)}`);
  let value = 0;
  let part = 0;
  let digits = 0;
  let parts = 0;
  for (let i = 0; i <= s.length; i++) {
    const c = i < s.length ? s.charCodeAt(i) : 0x2e; /* virtual final '.' */
    if (c >= 0x30 && c <= 0x39) {
      if (digits > 0 && part === 0) return new WireError('bad-address', `leading zero in ${s}`);
      part = part * 10 + (c - 0x30);
      digits++;
      if (part > 255) return new WireError('bad-address', `part out of range in ${s}`);
    } else if (c === 0x2e) {
      if (digits === 0) return new WireError('bad-address', `empty part in ${s}`);
      value = value * 256 + part;
      parts++;
      if (parts > 4) return new WireError('bad-address', `too many parts in ${s}`);
      part = 0;
      digits = 0;
    } else {
      return new WireError('bad-address', `unexpected character in ${s}`);
    }
  }
  if (parts !== 4) return new WireError('bad-address', `need four parts: ${s}`);
  return value >>> 0;
}

/** Read an IPv4 address from 4 bytes at `off`. */
export function ipv4FromBytes(buf: Uint8Array, off = 0): number {
  return ((buf[off] << 24) | (buf[off + 1] << 16) | (buf[off + 2] << 8) | buf[off + 3]) >>> 0;
}

/** The 4 bytes of an IPv4 address (allocates; for the API edge). */
export function ipv4ToBytes(n: number): Uint8Array {
  return new Uint8Array([(n >>> 24) & 0xff, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff]);
}

/** Lowercase colon-separated text of a 6-byte MAC (reads `mac[off..off+6)`). */
export function macToString(mac: Uint8Array, off = 0): string {
  let s = '';
  for (let i = 0; i < 6; i++) {
    const b = mac[off + i] ?? 0;
    if (i > 0) s += ':';
    s += (b < 16 ? '0' : '') + b.toString(16);
  }
  return s;
}

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

/** Parse `aa:bb:cc:dd:ee:ff` (or with `-` separators; either case): exactly six two-digit groups. */
export function parseMac(s: string): Uint8Array | WireError {
  if (typeof s !== 'string' || s.length !== 17) return new WireError('bad-address', `not a MAC address: ${String(s)}`);
  const sep = s.charCodeAt(2);
  if (sep !== 0x3a && sep !== 0x2d) return new WireError('bad-address', `not a MAC address: ${s}`);
  const out = new Uint8Array(6);
  for (let i = 0; i < 6; i++) {
    const hi = hexVal(s.charCodeAt(i * 3));
    const lo = hexVal(s.charCodeAt(i * 3 + 1));
    if (hi < 0 || lo < 0) return new WireError('bad-address', `not a MAC address: ${s}`);
    if (i < 5 && s.charCodeAt(i * 3 + 2) !== sep) return new WireError('bad-address', `not a MAC address: ${s}`);
    out[i] = (hi << 4) | lo;
  }
  return out;
}

/** Byte-wise equality of two MACs at the given offsets. */
export function macEquals(a: Uint8Array, b: Uint8Array, aOff = 0, bOff = 0): boolean {
  for (let i = 0; i < 6; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}

/** ff:ff:ff:ff:ff:ff at `off`. */
export function isBroadcastMac(mac: Uint8Array, off = 0): boolean {
  for (let i = 0; i < 6; i++) if (mac[off + i] !== 0xff) return false;
  return true;
}

/** The group bit (I/G, least significant bit of the first octet) is set: multicast or broadcast. */
export function isMulticastMac(mac: Uint8Array, off = 0): boolean {
  return (mac[off] & 1) === 1;
}

/** 224.0.0.0/4 (RFC 5771). */
export function isMulticastIpv4(n: number): boolean {
  return n >>> 28 === 0xe;
}

/** 127.0.0.0/8. */
export function isLoopbackIpv4(n: number): boolean {
  return n >>> 24 === 127;
}

/**
 * The Ethernet address of an IPv4 multicast group (RFC 1112 §6.4): 01:00:5e followed by the
 * low-order 23 bits of the group. Writes into `out` at `off` when given (no allocation).
 */
export function multicastMac(group: number, out: Uint8Array = new Uint8Array(6), off = 0): Uint8Array {
  out[off] = 0x01;
  out[off + 1] = 0x00;
  out[off + 2] = 0x5e;
  out[off + 3] = (group >>> 16) & 0x7f;
  out[off + 4] = (group >>> 8) & 0xff;
  out[off + 5] = group & 0xff;
  return out;
}

/** Netmask of a prefix length 0..32 as an unsigned number (24 → 0xffffff00). */
export function prefixMask(len: number): number {
  if (!(len >= 0 && len <= 32)) throw new RangeError(`prefix length out of range: ${len}`);
  return len === 0 ? 0 : (0xffffffff << (32 - len)) >>> 0;
}

/** `addr` lies in `net/len`. */
export function inPrefix(addr: number, net: number, len: number): boolean {
  const m = prefixMask(len);
  return ((addr & m) >>> 0) === ((net & m) >>> 0);
}

/** The directed broadcast address of `net/len` (RFC 919); equals `net` for /31 and /32. */
export function directedBroadcast(net: number, len: number): number {
  if (len >= 31) return net >>> 0;
  return (net | ~prefixMask(len)) >>> 0;
}
