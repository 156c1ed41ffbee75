/**
 * The state cookie (RFC 9260 §5.1.3): everything the listener needs to build the association
 * when the COOKIE ECHO comes back, so no state is kept between INIT and COOKIE ECHO. It is
 * signed with HMAC-SHA256 under the endpoint's secret and carries its creation time and lifespan
 * (Valid.Cookie.Life); §5.1.5 checks both.
 *
 * Layout (big-endian): version(1) nPeer(1) nLocal(1) 0(1) created(f64) life(4) myTag(4) peerTag(4)
 * myInitialTsn(4) peerInitialTsn(4) peerRwnd(4) numOut(2) numIn(2) localPort(2) remotePort(2)
 * peerAddrs(4*nPeer) localAddrs(4*nLocal) mac(32).
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { readU16, readU32, writeU16, writeU32 } from '@hastack/wire';

export interface CookieData {
  created: number;
  life: number;
  myTag: number;
  peerTag: number;
  myInitialTsn: number;
  peerInitialTsn: number;
  peerRwnd: number;
  numOut: number;
  numIn: number;
  localPort: number;
  remotePort: number;
  peerAddrs: number[];
  localAddrs: number[];
}

const FIXED = 44;
const MAC_LEN = 32;
/** Bound on addresses carried in a cookie (and accepted from INIT). */
export const MAX_COOKIE_ADDRS = 16;

function mac(secret: Uint8Array, body: Uint8Array): Uint8Array {
  return createHmac('sha256', secret).update(body).digest();
}

/** Build and sign a cookie. */
export function makeCookie(secret: Uint8Array, d: CookieData): Uint8Array {
  const np = Math.min(d.peerAddrs.length, MAX_COOKIE_ADDRS);
  const nl = Math.min(d.localAddrs.length, MAX_COOKIE_ADDRS);
  const bodyLen = FIXED + 4 * (np + nl);
  const out = new Uint8Array(bodyLen + MAC_LEN);
  out[0] = 1;
  out[1] = np;
  out[2] = nl;
  new DataView(out.buffer, out.byteOffset).setFloat64(4, d.created);
  writeU32(out, 12, d.life);
  writeU32(out, 16, d.myTag);
  writeU32(out, 20, d.peerTag);
  writeU32(out, 24, d.myInitialTsn);
  writeU32(out, 28, d.peerInitialTsn);
  writeU32(out, 32, d.peerRwnd);
  writeU16(out, 36, d.numOut);
  writeU16(out, 38, d.numIn);
  writeU16(out, 40, d.localPort);
  writeU16(out, 42, d.remotePort);
  let i = FIXED;
  for (let k = 0; k < np; k++, i += 4) writeU32(out, i, d.peerAddrs[k]);
  for (let k = 0; k < nl; k++, i += 4) writeU32(out, i, d.localAddrs[k]);
  out.set(mac(secret, out.subarray(0, bodyLen)), bodyLen);
  return out;
}

/** Verify the signature under any of `secrets` and decode; null when forged or malformed. */
export function openCookie(secrets: readonly Uint8Array[], cookie: Uint8Array): CookieData | null {
  if (cookie.length < FIXED + MAC_LEN || cookie[0] !== 1) return null;
  const np = cookie[1];
  const nl = cookie[2];
  if (np > MAX_COOKIE_ADDRS || nl > MAX_COOKIE_ADDRS) return null;
  const bodyLen = FIXED + 4 * (np + nl);
  if (cookie.length !== bodyLen + MAC_LEN) return null;
  const body = cookie.subarray(0, bodyLen);
  const got = cookie.subarray(bodyLen);
  let ok = false;
  for (const s of secrets) if (timingSafeEqual(mac(s, body), got)) ok = true;
  if (!ok) return null;
  const peerAddrs: number[] = [];
  const localAddrs: number[] = [];
  let i = FIXED;
  for (let k = 0; k < np; k++, i += 4) peerAddrs.push(readU32(cookie, i));
  for (let k = 0; k < nl; k++, i += 4) localAddrs.push(readU32(cookie, i));
  return {
    created: new DataView(cookie.buffer, cookie.byteOffset).getFloat64(4),
    life: readU32(cookie, 12),
    myTag: readU32(cookie, 16),
    peerTag: readU32(cookie, 20),
    myInitialTsn: readU32(cookie, 24),
    peerInitialTsn: readU32(cookie, 28),
    peerRwnd: readU32(cookie, 32),
    numOut: readU16(cookie, 36),
    numIn: readU16(cookie, 38),
    localPort: readU16(cookie, 40),
    remotePort: readU16(cookie, 42),
    peerAddrs,
    localAddrs,
  };
}
