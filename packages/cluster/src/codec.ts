/**
 * Cluster message codec. Read this first:
 *
 * Every message is one envelope:
 *
 *   off  size  field
 *   0    2     magic "HC"
 *   2    1     version (1)
 *   3    1     type (MsgType)
 *   4    1     flags (bit 0: INNER — only valid inside a reassembled FRAGMENT set)
 *   5    1     node id length n (1..64)
 *   6    n     sender node id (UTF-8)
 *   6+n  8     boot id (u64 BE, < 2^53): grows on every restart of the sender
 *   14+n 8     counter (u64 BE, < 2^53): per sender and boot, grows by one per message
 *   22+n 8     epoch (u64 BE, < 2^53): the ownership epoch the message acts under
 *   30+n 4     body length b
 *   34+n b     body: msgpack map, validated field by field by type
 *   34+n+b 32  HMAC-SHA256 under the cluster key over bytes [0, 34+n+b)
 *
 * The fixed header is readable before the MAC is checked, so a receiver can reject forgeries
 * without touching the body and check replay (boot id, counter) without decoding it. Decoding
 * never throws: it returns a drop reason that the core counts.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Packr } from 'msgpackr';
import { isPortRange, type PortRange } from './ports.js';
import type { Application, ArpPolicy, FailbackMode, FailoverPolicy, HeldAddress, OwnershipInfo, AddressSpec } from './types.js';
import { validateSnoopedState, type SnoopedState } from './snooper.js';

export const CLUSTER_MAGIC0 = 0x48; // 'H'
export const CLUSTER_MAGIC1 = 0x43; // 'C'
export const CLUSTER_VERSION = 1;
export const MAC_LEN = 32;
export const MAX_NODE_ID_LEN = 64;
/** Bytes of envelope around the body for a node id of length n: 34 + n + 32. */
export function envelopeOverhead(nodeIdLen: number): number {
  return 34 + nodeIdLen + MAC_LEN;
}
export const FLAG_INNER = 0x01;

/** Message type codes. */
export const MsgType = {
  ANNOUNCE: 1,
  SOLICIT: 2,
  HEARTBEAT: 3,
  IMPENDING_FAILURE: 4,
  CLAIM: 5,
  RELEASE: 6,
  CHECKPOINT: 7,
  CHECKPOINT_DROP: 8,
  CHECKPOINT_ACK: 9,
  REQUEST_CONNECTION: 10,
  CONNECTION_REPLY: 11,
  SNOOP_STATE: 12,
  FAILBACK_REQUEST: 13,
  FAILBACK_GRANT: 14,
  FRAGMENT: 15,
} as const;
export type MsgTypeCode = (typeof MsgType)[keyof typeof MsgType];

/** One address (slice) in a CLAIM, RELEASE or FAILBACK message. */
export interface AddressEntry {
  ip: string;
  mac: string;
  ports: PortRange[];
  epoch: number;
  home: string;
}

export type ClusterMessage =
  | { type: 'announce'; info: OwnershipInfo; reply: boolean }
  | { type: 'solicit'; target: string | null }
  | { type: 'heartbeat'; infoVersion: number }
  | { type: 'impending-failure'; reason: string; final: { key: string; version: number }[] }
  | { type: 'claim'; failed: string | null; reason: ClaimReason; entries: AddressEntry[] }
  | { type: 'release'; reason: string; winner: string | null; entries: AddressEntry[] }
  | {
      type: 'checkpoint';
      to: string[];
      key: string;
      ip: string;
      port: number;
      version: number;
      final: boolean;
      migrate: boolean;
      bytes: Uint8Array;
    }
  | { type: 'checkpoint-drop'; key: string }
  | { type: 'checkpoint-ack'; to: string; key: string; version: number }
  | { type: 'request-connection'; to: string | null; key: string; requestId: number }
  | { type: 'connection-reply'; to: string; requestId: number; key: string; bytes: Uint8Array | null }
  | { type: 'snoop-state'; to: string; failed: string; states: SnoopedState[] }
  | { type: 'failback-request'; to: string; requestId: number; mode: FailbackMode; entries: AddressEntry[] }
  | {
      type: 'failback-grant';
      to: string;
      requestId: number;
      mode: FailbackMode;
      entries: AddressEntry[];
      migrated: string[];
      draining: string[];
      /** Failback 'drain': the holder's MAC, where the new owner forwards the draining connections' frames. */
      drainMac?: string;
    }
  | { type: 'fragment'; id: number; index: number; count: number; bytes: Uint8Array };

export type ClaimReason = 'boot' | 'failure' | 'impending-failure' | 'reboot' | 'failback' | 'conflict';

const TYPE_NAMES: Record<number, ClusterMessage['type']> = {
  1: 'announce',
  2: 'solicit',
  3: 'heartbeat',
  4: 'impending-failure',
  5: 'claim',
  6: 'release',
  7: 'checkpoint',
  8: 'checkpoint-drop',
  9: 'checkpoint-ack',
  10: 'request-connection',
  11: 'connection-reply',
  12: 'snoop-state',
  13: 'failback-request',
  14: 'failback-grant',
  15: 'fragment',
};
const TYPE_CODES: Record<ClusterMessage['type'], number> = Object.fromEntries(
  Object.entries(TYPE_NAMES).map(([k, v]) => [v, Number(k)]),
) as Record<ClusterMessage['type'], number>;

/** The fixed header of a message. */
export interface Envelope {
  version: number;
  typeCode: number;
  flags: number;
  nodeId: string;
  bootId: number;
  counter: number;
  epoch: number;
  bodyOff: number;
  bodyLen: number;
  /** Offset of the MAC (= length of the signed part). */
  macOff: number;
}

const packr = new Packr({ useRecords: false, mapsAsObjects: true, variableMapSize: true });
const utf8 = new TextEncoder();
const utf8d = new TextDecoder('utf-8', { fatal: true });

function writeU53(view: DataView, off: number, v: number): void {
  view.setUint32(off, Math.floor(v / 0x1_0000_0000));
  view.setUint32(off + 4, v >>> 0);
}
function readU53(view: DataView, off: number): number {
  const hi = view.getUint32(off);
  if (hi > 0x1f_ffff) return -1; // beyond 2^53: not a safe integer
  return hi * 0x1_0000_0000 + view.getUint32(off + 4);
}

/** Compute the MAC of `bytes[0, len)`. */
export function computeMac(key: Uint8Array, bytes: Uint8Array, len: number): Uint8Array {
  return createHmac('sha256', key).update(bytes.subarray(0, len)).digest();
}

export interface EncodeHeader {
  nodeId: string;
  bootId: number;
  counter: number;
  epoch: number;
  flags?: number;
}

/** Encode and sign one message. Throws only on programming errors (bad header values). */
export function encodeMessage(key: Uint8Array, hdr: EncodeHeader, msg: ClusterMessage): Uint8Array {
  const id = utf8.encode(hdr.nodeId);
  if (id.length < 1 || id.length > MAX_NODE_ID_LEN) throw new RangeError('node id must be 1..64 bytes');
  const { type, ...rest } = msg;
  const body = packr.pack(rest);
  const n = id.length;
  const total = 34 + n + body.length + MAC_LEN;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer, out.byteOffset, out.byteLength);
  out[0] = CLUSTER_MAGIC0;
  out[1] = CLUSTER_MAGIC1;
  out[2] = CLUSTER_VERSION;
  out[3] = TYPE_CODES[type];
  out[4] = hdr.flags ?? 0;
  out[5] = n;
  out.set(id, 6);
  writeU53(view, 6 + n, hdr.bootId);
  writeU53(view, 14 + n, hdr.counter);
  writeU53(view, 22 + n, hdr.epoch);
  view.setUint32(30 + n, body.length);
  out.set(body, 34 + n);
  out.set(computeMac(key, out, 34 + n + body.length), 34 + n + body.length);
  return out;
}

/** Parse the fixed header. Returns 'malformed' or 'version' on failure; never throws. */
export function parseEnvelope(bytes: Uint8Array): Envelope | 'malformed' | 'version' {
  if (bytes.length < 6) return 'malformed';
  if (bytes[0] !== CLUSTER_MAGIC0 || bytes[1] !== CLUSTER_MAGIC1) return 'malformed';
  const n = bytes[5];
  if (n < 1 || n > MAX_NODE_ID_LEN || bytes.length < 34 + n + MAC_LEN) return 'malformed';
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const bodyLen = view.getUint32(30 + n);
  if (34 + n + bodyLen + MAC_LEN !== bytes.length) return 'malformed';
  let nodeId: string;
  try {
    nodeId = utf8d.decode(bytes.subarray(6, 6 + n));
  } catch {
    return 'malformed';
  }
  const bootId = readU53(view, 6 + n);
  const counter = readU53(view, 14 + n);
  const epoch = readU53(view, 22 + n);
  if (bootId < 0 || counter < 0 || epoch < 0) return 'malformed';
  const env: Envelope = {
    version: bytes[2],
    typeCode: bytes[3],
    flags: bytes[4],
    nodeId,
    bootId,
    counter,
    epoch,
    bodyOff: 34 + n,
    bodyLen,
    macOff: 34 + n + bodyLen,
  };
  return env;
}

/** Constant-time MAC check of a parsed envelope. */
export function verifyMac(key: Uint8Array, bytes: Uint8Array, env: Envelope): boolean {
  const expect = computeMac(key, bytes, env.macOff);
  return timingSafeEqual(expect, bytes.subarray(env.macOff, env.macOff + MAC_LEN));
}

// ---- body validation -------------------------------------------------------------------------

class Malformed extends Error {}
function fail(what: string): never {
  throw new Malformed(what);
}
function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) fail(what);
  return v as Record<string, unknown>;
}
function str(v: unknown, what: string, max = 256): string {
  if (typeof v !== 'string' || v.length > max) fail(what);
  return v;
}
function uint(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) fail(what);
  return v;
}
function bool(v: unknown, what: string): boolean {
  if (typeof v !== 'boolean') fail(what);
  return v;
}
function bytesOf(v: unknown, what: string): Uint8Array {
  if (!(v instanceof Uint8Array)) fail(what);
  return v;
}
function arr<T>(v: unknown, what: string, each: (x: unknown) => T, max = 4096): T[] {
  if (!Array.isArray(v) || v.length > max) fail(what);
  return v.map(each);
}
const IPV4_RE = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
function ip(v: unknown, what: string): string {
  if (typeof v !== 'string' || !IPV4_RE.test(v)) fail(what);
  return v;
}
function mac(v: unknown, what: string): string {
  if (typeof v !== 'string' || !MAC_RE.test(v)) fail(what);
  return v;
}
function ports(v: unknown, what: string): PortRange[] {
  return arr(v, what, (r) => {
    if (!isPortRange(r)) fail(what);
    return { from: r.from, to: r.to };
  }, 1024);
}
function nodeId(v: unknown, what: string): string {
  const s = str(v, what, MAX_NODE_ID_LEN);
  if (s.length === 0) fail(what);
  return s;
}
function oneOf<T extends string>(v: unknown, what: string, options: readonly T[]): T {
  if (typeof v !== 'string' || !options.includes(v as T)) fail(what);
  return v as T;
}

function addressEntry(v: unknown): AddressEntry {
  const o = obj(v, 'entry');
  return { ip: ip(o.ip, 'entry.ip'), mac: mac(o.mac, 'entry.mac'), ports: ports(o.ports, 'entry.ports'), epoch: uint(o.epoch, 'entry.epoch'), home: nodeId(o.home, 'entry.home') };
}
function failoverPolicy(v: unknown): FailoverPolicy {
  const o = obj(v, 'failover');
  const p: FailoverPolicy = { successors: arr(o.successors, 'failover.successors', (s) => nodeId(s, 'successor'), 64) };
  if (o.rules !== undefined && o.rules !== null) {
    p.rules = arr(o.rules, 'failover.rules', (r) => {
      const ro = obj(r, 'rule');
      return { ports: ports(ro.ports, 'rule.ports'), successors: arr(ro.successors, 'rule.successors', (s) => nodeId(s, 'successor'), 64) };
    }, 256);
  }
  if (o.failback !== undefined && o.failback !== null) p.failback = oneOf<FailbackMode>(o.failback, 'failback', ['drain', 'migrate', 'none']);
  return p;
}
function addressSpec(v: unknown): AddressSpec {
  const o = obj(v, 'home');
  const a: AddressSpec = { ip: ip(o.ip, 'home.ip'), mac: mac(o.mac, 'home.mac') };
  if (o.ports !== undefined && o.ports !== null) a.ports = ports(o.ports, 'home.ports');
  return a;
}
function heldAddress(v: unknown): HeldAddress {
  return addressEntry(v);
}
function application(v: unknown): Application {
  const o = obj(v, 'application');
  return { name: str(o.name, 'app.name'), protocol: str(o.protocol, 'app.protocol', 32), ports: ports(o.ports, 'app.ports') };
}
function ownershipInfo(v: unknown): OwnershipInfo {
  const o = obj(v, 'info');
  return {
    nodeId: nodeId(o.nodeId, 'info.nodeId'),
    bootId: uint(o.bootId, 'info.bootId'),
    version: uint(o.version, 'info.version'),
    state: oneOf(o.state, 'info.state', ['joining', 'active', 'leaving'] as const),
    failover: failoverPolicy(o.failover),
    home: arr(o.home, 'info.home', addressSpec, 256),
    held: arr(o.held, 'info.held', heldAddress, 1024),
    portRanges: ports(o.portRanges, 'info.portRanges'),
    applications: arr(o.applications, 'info.applications', application, 256),
    arpPolicy: oneOf<ArpPolicy>(o.arpPolicy, 'info.arpPolicy', ['gratuitous-arp', 'shared-mac']),
    protocols: arr(o.protocols, 'info.protocols', (s) => str(s, 'protocol', 32), 16),
    macs: arr(o.macs, 'info.macs', (m) => mac(m, 'info.macs'), 256),
  };
}
function strOrNull(v: unknown, what: string): string | null {
  return v === null || v === undefined ? null : nodeId(v, what);
}

function validateBody(type: ClusterMessage['type'], b: Record<string, unknown>): ClusterMessage {
  switch (type) {
    case 'announce':
      return { type, info: ownershipInfo(b.info), reply: bool(b.reply, 'reply') };
    case 'solicit':
      return { type, target: strOrNull(b.target, 'target') };
    case 'heartbeat':
      return { type, infoVersion: uint(b.infoVersion, 'infoVersion') };
    case 'impending-failure':
      return {
        type,
        reason: str(b.reason, 'reason'),
        final: arr(b.final, 'final', (f) => {
          const o = obj(f, 'final');
          return { key: str(o.key, 'final.key', 512), version: uint(o.version, 'final.version') };
        }, 1 << 20),
      };
    case 'claim':
      return {
        type,
        failed: strOrNull(b.failed, 'failed'),
        reason: oneOf<ClaimReason>(b.reason, 'reason', ['boot', 'failure', 'impending-failure', 'reboot', 'failback', 'conflict']),
        entries: arr(b.entries, 'entries', addressEntry, 1024),
      };
    case 'release':
      return { type, reason: str(b.reason, 'reason'), winner: strOrNull(b.winner, 'winner'), entries: arr(b.entries, 'entries', addressEntry, 1024) };
    case 'checkpoint': {
      const port = uint(b.port, 'port');
      if (port > 65535) fail('port');
      return {
        type,
        to: arr(b.to, 'to', (s) => nodeId(s, 'to'), 64),
        key: str(b.key, 'key', 512),
        ip: ip(b.ip, 'ip'),
        port,
        version: uint(b.version, 'version'),
        final: bool(b.final, 'final'),
        migrate: bool(b.migrate, 'migrate'),
        bytes: bytesOf(b.bytes, 'bytes'),
      };
    }
    case 'checkpoint-drop':
      return { type, key: str(b.key, 'key', 512) };
    case 'checkpoint-ack':
      return { type, to: nodeId(b.to, 'to'), key: str(b.key, 'key', 512), version: uint(b.version, 'version') };
    case 'request-connection':
      return { type, to: strOrNull(b.to, 'to'), key: str(b.key, 'key', 512), requestId: uint(b.requestId, 'requestId') };
    case 'connection-reply':
      return {
        type,
        to: nodeId(b.to, 'to'),
        requestId: uint(b.requestId, 'requestId'),
        key: str(b.key, 'key', 512),
        bytes: b.bytes === null || b.bytes === undefined ? null : bytesOf(b.bytes, 'bytes'),
      };
    case 'snoop-state':
      return {
        type,
        to: nodeId(b.to, 'to'),
        failed: nodeId(b.failed, 'failed'),
        states: arr(b.states, 'states', (s) => validateSnoopedState(s) ?? fail('state'), 1 << 16),
      };
    case 'failback-request':
      return {
        type,
        to: nodeId(b.to, 'to'),
        requestId: uint(b.requestId, 'requestId'),
        mode: oneOf<FailbackMode>(b.mode, 'mode', ['drain', 'migrate', 'none']),
        entries: arr(b.entries, 'entries', addressEntry, 1024),
      };
    case 'failback-grant':
      return {
        type,
        to: nodeId(b.to, 'to'),
        requestId: uint(b.requestId, 'requestId'),
        mode: oneOf<FailbackMode>(b.mode, 'mode', ['drain', 'migrate', 'none']),
        entries: arr(b.entries, 'entries', addressEntry, 1024),
        migrated: arr(b.migrated, 'migrated', (s) => str(s, 'key', 512), 1 << 20),
        draining: arr(b.draining, 'draining', (s) => str(s, 'key', 512), 1 << 20),
        ...(b.drainMac === undefined || b.drainMac === null ? {} : { drainMac: mac(b.drainMac, 'drainMac') }),
      };
    case 'fragment': {
      const index = uint(b.index, 'index');
      const count = uint(b.count, 'count');
      if (count < 1 || count > 65535 || index >= count) fail('fragment index');
      return { type, id: uint(b.id, 'id'), index, count, bytes: bytesOf(b.bytes, 'bytes') };
    }
  }
}

/** Decode and validate the body of an authenticated envelope. Never throws. */
export function decodeBody(bytes: Uint8Array, env: Envelope): ClusterMessage | 'malformed' {
  const type = TYPE_NAMES[env.typeCode];
  if (!type) return 'malformed';
  try {
    const raw: unknown = packr.unpack(bytes.subarray(env.bodyOff, env.bodyOff + env.bodyLen));
    return validateBody(type, obj(raw, 'body'));
  } catch {
    return 'malformed';
  }
}

/** Type name of a code, for counters. */
export function msgTypeName(code: number): ClusterMessage['type'] | undefined {
  return TYPE_NAMES[code];
}

/**
 * Anti-replay window per sender and boot (the sliding window of RFC 4303 §3.4.3, 32 wide):
 * a counter above the highest seen is accepted and slides the window; one inside the window is
 * accepted once (tolerates reordering); one below the window or seen before is a replay.
 */
export class ReplayWindow {
  bootId = -1;
  top = -1;
  /** Bit i set: counter (top - i) seen. */
  mask = 0;

  /** Check and record. Returns 'ok', 'replayed' (old counter or older boot). */
  check(bootId: number, counter: number): 'ok' | 'replayed' {
    if (bootId < this.bootId) return 'replayed';
    if (bootId > this.bootId) {
      this.bootId = bootId;
      this.top = counter;
      this.mask = 1;
      return 'ok';
    }
    if (counter > this.top) {
      const shift = counter - this.top;
      this.mask = shift >= 32 ? 1 : ((this.mask << shift) | 1) >>> 0;
      this.top = counter;
      return 'ok';
    }
    const back = this.top - counter;
    if (back >= 32) return 'replayed';
    const bit = (1 << back) >>> 0;
    if ((this.mask & bit) !== 0) return 'replayed';
    this.mask = (this.mask | bit) >>> 0;
    return 'ok';
  }
}
