/**
 * Address parsing and formatting at the API edge. Inside the engine an IPv4 address is an
 * unsigned 32-bit number and a MAC is a 6-byte Uint8Array; strings exist only here.
 * Validation of user-supplied IPv4 strings goes through `ip-address` (Address4).
 */
import { Address4 } from 'ip-address';
import { err } from '../errors.js';

// Validated strings are cached (bounded): a UDP send to the same peer should not re-parse.
const PARSE_CACHE_MAX = 1024;
const parseCache = new Map<string, number>();
const formatCache = new Map<number, string>();

/** Parse a dotted-quad IPv4 address (no prefix) into a uint32; throws ERR_INVALID_IP_ADDRESS. */
export function parseIp(s: unknown): number {
  if (typeof s !== 'string') throw err('ERR_INVALID_ARG_TYPE', `IPv4 address must be a string, got ${typeof s}`);
  const hit = parseCache.get(s);
  if (hit !== undefined) return hit;
  if (!Address4.isValid(s) || s.includes('/')) throw err('ERR_INVALID_IP_ADDRESS', `invalid IPv4 address: ${JSON.stringify(s)}`);
  const parts = new Address4(s).toArray();
  const a = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  if (parseCache.size >= PARSE_CACHE_MAX) parseCache.clear();
  parseCache.set(s, a);
  return a;
}

/** Parse 'a.b.c.d/len' (len defaults to 32). */
export function parseCidr(s: unknown): { address: number; prefix: number } {
  if (typeof s !== 'string') throw err('ERR_INVALID_ARG_TYPE', `CIDR address must be a string, got ${typeof s}`);
  if (!Address4.isValid(s)) throw err('ERR_INVALID_IP_ADDRESS', `invalid IPv4 CIDR address: ${JSON.stringify(s)}`);
  const a = new Address4(s);
  const parts = a.toArray();
  const address = ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
  return { address, prefix: a.subnetMask };
}

/** uint32 -> 'a.b.c.d'. */
export function formatIp(a: number): string {
  const hit = formatCache.get(a);
  if (hit !== undefined) return hit;
  const s = `${a >>> 24}.${(a >>> 16) & 0xff}.${(a >>> 8) & 0xff}.${a & 0xff}`;
  if (formatCache.size >= PARSE_CACHE_MAX) formatCache.clear();
  formatCache.set(a, s);
  return s;
}

/** Netmask for a prefix length, as uint32. */
export function prefixMask(prefix: number): number {
  return prefix <= 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** '02:00:00:aa:bb:cc' (or with '-') -> 6 bytes; throws ERR_INVALID_ARG_VALUE. */
export function parseMac(s: string | Uint8Array): Uint8Array {
  if (s instanceof Uint8Array) {
    if (s.length !== 6) throw err('ERR_INVALID_ARG_VALUE', 'a MAC address has 6 bytes');
    return Uint8Array.from(s);
  }
  if (typeof s !== 'string') throw err('ERR_INVALID_ARG_TYPE', 'MAC address must be a string or Uint8Array');
  const m = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i.exec(s);
  if (!m) throw err('ERR_INVALID_ARG_VALUE', `invalid MAC address: ${JSON.stringify(s)}`);
  return Uint8Array.from(m.slice(1).map((h) => parseInt(h, 16)));
}

/** 6 bytes -> 'aa:bb:cc:dd:ee:ff'. */
export function formatMac(mac: Uint8Array): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i ? ':' : '') + mac[i].toString(16).padStart(2, '0');
  return s;
}

/** 224.0.0.0/4 (RFC 5771). */
export function isMulticast(a: number): boolean {
  return a >>> 28 === 0xe;
}
