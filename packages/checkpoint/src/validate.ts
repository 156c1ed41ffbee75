/**
 * Field-by-field validation of a decoded checkpoint (ARCHITECTURE.md §5).
 *
 * Read this first:
 * - `validateCheckpoint(obj)` is pure: it reads `obj`, never changes it, and either returns it
 *   typed as a `Checkpoint` or throws `HastackError` ERR_CHECKPOINT_INVALID whose `field` names
 *   the offending field path (`members[1].tcp.sndWscale`) and whose `reason` says what is wrong.
 * - Strict: every object must be a plain object with no unknown keys (a key whose value is
 *   `undefined` counts as absent). Only `app.state` is free-form (bounded plain data).
 * - Hand-written and allocation-free on success: it runs on every decode, and the budget for
 *   encode + decode is a few microseconds per connection (docs/checkpoint.md, "Costs").
 * - Sequence numbers are compared modulo 2^32 (RFC 9293 §3.4); never with a raw `<`.
 */
import {
  CHECKPOINT_VERSION,
  err,
  type Checkpoint,
  type CheckpointApp,
  type CheckpointObjectRef,
  type ConnectionCheckpoint,
} from '@hastack/stack';

/** Bounds enforced by the validator (all overridable per call). */
export interface CheckpointLimits {
  /** Max bytes of any byte-carrying field group: sendLength, recvBuffer, out-of-order total. */
  maxBufferBytes: number;
  /** Max entries of sendRanges / recvOutOfOrder. */
  maxRanges: number;
  /** Max object refs per app section. */
  maxObjects: number;
  /** Max members of a bundle. */
  maxMembers: number;
  /** Max multicast memberships per UDP socket. */
  maxMemberships: number;
  /** Max nesting depth of app.state. */
  maxStateDepth: number;
  /** Max number of values (nodes) in app.state. */
  maxStateNodes: number;
}

export const DEFAULT_CHECKPOINT_LIMITS: Readonly<CheckpointLimits> = Object.freeze({
  maxBufferBytes: 64 * 1024 * 1024,
  maxRanges: 4096,
  maxObjects: 4096,
  maxMembers: 256,
  maxMemberships: 64,
  maxStateDepth: 32,
  maxStateNodes: 65536,
});

/** Largest magnitude of a time stored relative to takenAtMono (ms): ±2^31 ms, about 24.8 days. */
export const MAX_RELATIVE_MS = 2 ** 31;
/** Largest window (bytes) RFC 7323 allows: 65535 << 14 < 2^30. */
const MAX_WINDOW = 2 ** 30;
const MAX_OBJECT_LENGTH = 2 ** 31 - 1;
const MAX_BUFFER_OPTION = 2 ** 31 - 1;

/** Throw ERR_CHECKPOINT_INVALID for `prefix + name`. Kept out of line so the checks stay small. */
function fail(prefix: string, name: string, reason: string): never {
  const field = prefix + name;
  throw err('ERR_CHECKPOINT_INVALID', `${field}: ${reason}`, { info: { field, reason } });
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (v instanceof Uint8Array) return `bytes(${v.length})`;
  if (Array.isArray(v)) return 'array';
  const t = typeof v;
  if (t === 'number' || t === 'boolean') return `${t} ${String(v)}`;
  if (t === 'string') return `string(${(v as string).length})`;
  if (t === 'object') {
    const p = Object.getPrototypeOf(v);
    return p && p.constructor && p.constructor.name ? p.constructor.name : 'object';
  }
  return t;
}

type Obj = Record<string, unknown>;

function isPlainObject(v: unknown): v is Obj {
  if (v === null || typeof v !== 'object') return false;
  const p = Object.getPrototypeOf(v);
  return p === Object.prototype || p === null;
}

/**
 * Set while validating an object the decoder built (codec.ts): every section object there is a
 * fresh plain object holding only the wire form's keys, so the plain-object and unknown-key
 * checks cannot fail and are skipped (every value is still checked). Never set for objects
 * from elsewhere.
 */
let parsedShape = false;

function obj(v: unknown, prefix: string, name: string): Obj {
  if (parsedShape && typeof v === 'object' && v !== null) return v as Obj;
  if (!isPlainObject(v)) fail(prefix, name, `expected a plain object, got ${describe(v)}`);
  return v;
}

function u32(v: unknown, prefix: string, name: string): number {
  if (typeof v !== 'number' || v >>> 0 !== v) fail(prefix, name, `expected uint32, got ${describe(v)}`);
  return v;
}

function int(v: unknown, prefix: string, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    fail(prefix, name, `expected an integer in ${min}..${max}, got ${describe(v)}`);
  }
  return v;
}

/** A number in [min, max] (NaN fails every comparison, so it is refused). */
function num(v: unknown, prefix: string, name: string, min: number, max: number): number {
  if (typeof v !== 'number' || !(v >= min && v <= max)) fail(prefix, name, `expected a number in [${min}, ${max}], got ${describe(v)}`);
  return v;
}

function bool(v: unknown, prefix: string, name: string): boolean {
  if (typeof v !== 'boolean') fail(prefix, name, `expected boolean, got ${describe(v)}`);
  return v;
}

function str(v: unknown, prefix: string, name: string, minLen: number, maxLen: number): string {
  if (typeof v !== 'string' || v.length < minLen || v.length > maxLen) {
    fail(prefix, name, `expected a string of ${minLen}..${maxLen} characters, got ${describe(v)}`);
  }
  return v;
}

function bytes(v: unknown, prefix: string, name: string, minLen: number, maxLen: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length < minLen || v.length > maxLen) {
    fail(prefix, name, `expected ${minLen}..${maxLen} bytes, got ${describe(v)}`);
  }
  return v;
}

function arr(v: unknown, prefix: string, name: string, maxLen: number): unknown[] {
  if (!Array.isArray(v)) fail(prefix, name, `expected an array, got ${describe(v)}`);
  if (v.length > maxLen) fail(prefix, name, `too many entries: ${v.length} > ${maxLen}`);
  return v;
}

/** Relative time (ms from takenAtMono). */
function rel(v: unknown, prefix: string, name: string): number {
  return num(v, prefix, name, -MAX_RELATIVE_MS, MAX_RELATIVE_MS);
}

/**
 * Refuse unknown keys. Fast path: the object has exactly `expected` enumerable keys (the caller
 * counted the known ones it saw); only on a mismatch do we look for the culprit.
 */
function noExtraKeys(o: Obj, expected: number, known: readonly string[], prefix: string, section: string): void {
  if (parsedShape) return;
  let n = 0;
  for (const _k in o) n++;
  if (n === expected) return;
  for (const k in o) {
    if (!known.includes(k)) fail(prefix, section ? `${section}.${k}` : k, 'unknown field');
    // A known optional key holding `undefined` is treated as absent.
  }
}

// Cheap predicates, small enough to be inlined everywhere: each check is written
// `if (!isX(v, ...)) x(v, prefix, name, ...)`, so the checking function (with its field-name
// arguments, and for arrays the index in the name, `app.objects[3].seq`) is called only when the
// value fails, to throw. Each predicate accepts exactly what its checking function accepts.
const isU32 = (v: unknown): boolean => typeof v === 'number' && v >>> 0 === v;
const isIntIn = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max;
const isStrIn = (v: unknown, min: number, max: number): boolean => typeof v === 'string' && v.length >= min && v.length <= max;
const isBytesIn = (v: unknown, min: number, max: number): boolean => v instanceof Uint8Array && v.length >= min && v.length <= max;
const isNumIn = (v: unknown, min: number, max: number): boolean => typeof v === 'number' && v >= min && v <= max;
const isBool = (v: unknown): boolean => typeof v === 'boolean';
const isRel = (v: unknown): boolean => typeof v === 'number' && v >= -MAX_RELATIVE_MS && v <= MAX_RELATIVE_MS;
const isObj = (v: unknown): boolean => (parsedShape ? typeof v === 'object' && v !== null : isPlainObject(v));
/** `base[i]suffix`, for error messages only. */
const nm = (base: string, i: number, suffix: string): string => `${base}[${i}]${suffix}`;

function keyCount(o: Obj): number {
  let n = 0;
  for (const _k in o) n++;
  return n;
}

/** 1 if the optional field is present (not undefined), else 0. */
function has(v: unknown): number {
  return v === undefined ? 0 : 1;
}

function isMulticast(a: number): boolean {
  return a >>> 28 === 0xe;
}

// ---------------------------------------------------------------------------------------------

const TOP_TCP = ['kind', 'meta', 'link', 'ip', 'tcp', 'app'];
const TOP_UDP = ['kind', 'meta', 'link', 'ip', 'udp', 'app'];
const TOP_BUNDLE = ['kind', 'meta', 'members', 'app'];
const META = ['version', 'nodeId', 'takenAt', 'takenAtMono'];
const LINK = ['localMac', 'peerMac'];
const IP = ['localAddress', 'remoteAddress', 'ttl', 'tos'];
const APP = ['protocol', 'objects', 'state'];
const OBJREF = ['id', 'seq', 'offset', 'length'];
const RANGE = ['seq', 'data'];
const TCP = [
  'state', 'localPort', 'remotePort', 'iss', 'irs', 'sndUna', 'sndNxt', 'sndMax', 'sndWnd', 'sndWl1', 'sndWl2',
  'rcvNxt', 'rcvWnd', 'sndWscale', 'rcvWscale', 'sndMss', 'rcvMss', 'sackPermitted', 'timestamps', 'tsOffset',
  'tsRecent', 'tsRecentAge', 'tsLastSent', 'cc', 'finSent', 'finReceived', 'finSeq', 'timers', 'options',
  'sendLength', 'sendRanges', 'recvBuffer', 'recvOutOfOrder',
];
const TCP_REQUIRED = TCP.length - 1; // all but recvOutOfOrder
const CC = ['algorithm', 'cwnd', 'ssthresh', 'srtt', 'rttvar', 'rto', 'recover', 'cubic'];
const CUBIC = ['wMax', 'wLastMax', 'k', 'epochStart', 'wEst', 'cwndEpoch'];
const TIMERS = ['rtx', 'delack', 'persist', 'keepalive'];
const TCP_OPTIONS = [
  'noDelay', 'keepAlive', 'keepAliveInitialDelay', 'keepAliveInterval', 'keepAliveProbes', 'userTimeout',
  'sendBufferSize', 'receiveBufferSize', 'timeWait', 'allowHalfOpen',
];
const UDP = ['localPort', 'remotePort', 'multicast', 'options'];
const MEMBERSHIP = ['group', 'interfaceAddress'];
const UDP_OPTIONS = [
  'broadcast', 'multicastTtl', 'multicastLoopback', 'multicastInterface', 'recvBufferSize', 'sendBufferSize', 'reuseAddr',
];

/** Validates the meta section; returns it (its version and nodeId are checked). */
function validateMeta(v: unknown, p: string): Obj {
  const m = obj(v, p, 'meta');
  const version = m.version;
  if (typeof version === 'number' && Number.isInteger(version) && version > CHECKPOINT_VERSION) {
    fail(p, 'meta.version', `future version ${version} (this build reads up to ${CHECKPOINT_VERSION})`);
  }
  if (!isIntIn(version, 1, CHECKPOINT_VERSION)) int(version, p, 'meta.version', 1, CHECKPOINT_VERSION);
  const nodeId = m.nodeId as string;
  if (!isStrIn(nodeId, 1, 256)) str(nodeId, p, 'meta.nodeId', 1, 256);
  if (!isNumIn(m.takenAt, 0, Number.MAX_SAFE_INTEGER)) num(m.takenAt, p, 'meta.takenAt', 0, Number.MAX_SAFE_INTEGER);
  if (!isNumIn(m.takenAtMono, 0, Number.MAX_SAFE_INTEGER)) num(m.takenAtMono, p, 'meta.takenAtMono', 0, Number.MAX_SAFE_INTEGER);
  noExtraKeys(m, 4, META, p, 'meta');
  return m;
}

function validateLink(v: unknown, p: string): void {
  const l = obj(v, p, 'link');
  const mac = l.localMac as Uint8Array;
  if (!isBytesIn(mac, 6, 6)) bytes(mac, p, 'link.localMac', 6, 6);
  // RFC 7042 §2.1: the I/G bit set means a group address, never an interface's own.
  if (mac[0] & 1) fail(p, 'link.localMac', 'a group (multicast) MAC cannot be an interface address');
  if (l.peerMac !== null) bytes(l.peerMac, p, 'link.peerMac', 6, 6);
  noExtraKeys(l, 2, LINK, p, 'link');
}

/** Validates the ip section; returns the remote address. */
function validateIp(v: unknown, p: string, kind: 'tcp' | 'udp'): number {
  const ip = obj(v, p, 'ip');
  const local = ip.localAddress as number;
  if (!isU32(local)) u32(local, p, 'ip.localAddress');
  const remote = ip.remoteAddress as number;
  if (!isU32(remote)) u32(remote, p, 'ip.remoteAddress');
  if (!isIntIn(ip.ttl, 1, 255)) int(ip.ttl, p, 'ip.ttl', 1, 255);
  if (!isIntIn(ip.tos, 0, 255)) int(ip.tos, p, 'ip.tos', 0, 255);
  noExtraKeys(ip, 4, IP, p, 'ip');
  if (isMulticast(local) || local === 0xffffffff) fail(p, 'ip.localAddress', 'must be a unicast address');
  if (kind === 'tcp') {
    // RFC 9293 §3.9.1.1: TCP connections are between unicast addresses.
    if (local === 0) fail(p, 'ip.localAddress', 'a TCP connection needs a concrete local address');
    if (remote === 0) fail(p, 'ip.remoteAddress', 'a TCP connection needs a remote address');
    if (isMulticast(remote) || remote === 0xffffffff) fail(p, 'ip.remoteAddress', 'TCP peer must be unicast');
  }
  return remote;
}

/** app.state: bounded plain data. Returns the remaining node budget. */
function validateState(v: unknown, p: string, path: string, depth: number, budget: number, lim: CheckpointLimits): number {
  if (--budget < 0) fail(p, path, `app.state has more than ${lim.maxStateNodes} values`);
  if (v === null || v === undefined) return budget;
  const t = typeof v;
  if (t === 'boolean' || t === 'number' || t === 'string') return budget;
  if (v instanceof Uint8Array) return budget;
  if (depth >= lim.maxStateDepth) fail(p, path, `app.state nested deeper than ${lim.maxStateDepth}`);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) budget = validateState(v[i], p, path, depth + 1, budget, lim);
    return budget;
  }
  if (!isPlainObject(v)) fail(p, path, `app.state may hold only plain data, found ${describe(v)}`);
  for (const k in v) budget = validateState(v[k], p, path, depth + 1, budget, lim);
  return budget;
}

function validateApp(v: unknown, p: string, lim: CheckpointLimits): CheckpointApp {
  const a = obj(v, p, 'app');
  if (!isStrIn(a.protocol, 1, 64)) str(a.protocol, p, 'app.protocol', 1, 64);
  const objects = arr(a.objects, p, 'app.objects', lim.maxObjects);
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i] as Obj;
    if (!isObj(o)) obj(o, p, nm('app.objects', i, ''));
    if (!isStrIn(o.id, 1, 1024)) str(o.id, p, nm('app.objects', i, '.id'), 1, 1024);
    if (!isU32(o.seq)) u32(o.seq, p, nm('app.objects', i, '.seq'));
    const offset = o.offset as number;
    const length = o.length as number;
    if (!isIntIn(offset, 0, Number.MAX_SAFE_INTEGER)) int(offset, p, nm('app.objects', i, '.offset'), 0, Number.MAX_SAFE_INTEGER);
    if (!isIntIn(length, 1, MAX_OBJECT_LENGTH)) int(length, p, nm('app.objects', i, '.length'), 1, MAX_OBJECT_LENGTH);
    if (offset + length > Number.MAX_SAFE_INTEGER) fail(p, nm('app.objects', i, '.length'), 'offset + length overflows');
    if (!parsedShape && keyCount(o) !== 4) noExtraKeys(o, 4, OBJREF, p, nm('app.objects', i, ''));
  }
  if (a.state !== undefined) validateState(a.state, p, 'app.state', 0, lim.maxStateNodes, lim);
  noExtraKeys(a, 2 + has(a.state), APP, p, 'app');
  return a as unknown as CheckpointApp;
}

function validateCongestion(v: unknown, p: string): void {
  const c = obj(v, p, 'tcp.cc');
  const algorithm = c.algorithm;
  if (algorithm !== 'newreno' && algorithm !== 'cubic') fail(p, 'tcp.cc.algorithm', `expected 'newreno' or 'cubic', got ${describe(algorithm)}`);
  if (!isNumIn(c.cwnd, 0, 2 ** 32)) num(c.cwnd, p, 'tcp.cc.cwnd', 0, 2 ** 32);
  // RFC 5681 §3.1: ssthresh starts "arbitrarily high"; Infinity is allowed for that.
  if (!isNumIn(c.ssthresh, 0, Infinity)) num(c.ssthresh, p, 'tcp.cc.ssthresh', 0, Infinity);
  if (!isNumIn(c.srtt, 0, MAX_RELATIVE_MS)) num(c.srtt, p, 'tcp.cc.srtt', 0, MAX_RELATIVE_MS);
  if (!isNumIn(c.rttvar, 0, MAX_RELATIVE_MS)) num(c.rttvar, p, 'tcp.cc.rttvar', 0, MAX_RELATIVE_MS);
  const rto = c.rto as number;
  if (!isNumIn(rto, 0, MAX_RELATIVE_MS)) num(rto, p, 'tcp.cc.rto', 0, MAX_RELATIVE_MS);
  if (rto === 0) fail(p, 'tcp.cc.rto', 'must be > 0');
  if (c.recover !== undefined && !isU32(c.recover)) u32(c.recover, p, 'tcp.cc.recover');
  if (c.cubic !== undefined) {
    // Kept even under NewReno: the engine holds CUBIC state for a later switch of algorithm.
    const q = obj(c.cubic, p, 'tcp.cc.cubic');
    if (!isNumIn(q.wMax, 0, Number.MAX_SAFE_INTEGER)) num(q.wMax, p, 'tcp.cc.cubic.wMax', 0, Number.MAX_SAFE_INTEGER);
    if (q.wLastMax !== undefined && !isNumIn(q.wLastMax, 0, Number.MAX_SAFE_INTEGER)) num(q.wLastMax, p, 'tcp.cc.cubic.wLastMax', 0, Number.MAX_SAFE_INTEGER);
    if (!isNumIn(q.k, 0, MAX_RELATIVE_MS)) num(q.k, p, 'tcp.cc.cubic.k', 0, MAX_RELATIVE_MS); // seconds
    if (q.epochStart !== null && !isRel(q.epochStart)) rel(q.epochStart, p, 'tcp.cc.cubic.epochStart');
    if (q.wEst !== undefined && !isNumIn(q.wEst, 0, Number.MAX_SAFE_INTEGER)) num(q.wEst, p, 'tcp.cc.cubic.wEst', 0, Number.MAX_SAFE_INTEGER);
    if (q.cwndEpoch !== undefined && !isNumIn(q.cwndEpoch, 0, Number.MAX_SAFE_INTEGER)) num(q.cwndEpoch, p, 'tcp.cc.cubic.cwndEpoch', 0, Number.MAX_SAFE_INTEGER);
    noExtraKeys(q, 3 + has(q.wLastMax) + has(q.wEst) + has(q.cwndEpoch), CUBIC, p, 'tcp.cc.cubic');
  }
  noExtraKeys(c, 6 + has(c.recover) + has(c.cubic), CC, p, 'tcp.cc');
}

function validateTimers(v: unknown, p: string): void {
  const t = obj(v, p, 'tcp.timers');
  let n = 0;
  if (t.rtx !== undefined) {
    if (!isRel(t.rtx)) rel(t.rtx, p, 'tcp.timers.rtx');
    n++;
  }
  if (t.delack !== undefined) {
    if (!isRel(t.delack)) rel(t.delack, p, 'tcp.timers.delack');
    n++;
  }
  if (t.persist !== undefined) {
    if (!isRel(t.persist)) rel(t.persist, p, 'tcp.timers.persist');
    n++;
  }
  if (t.keepalive !== undefined) {
    if (!isRel(t.keepalive)) rel(t.keepalive, p, 'tcp.timers.keepalive');
    n++;
  }
  if (parsedShape) return;
  let all = 0;
  for (const _k in t) all++;
  if (all === n) return;
  for (const k in t) if (!TIMERS.includes(k)) fail(p, `tcp.timers.${k}`, 'unknown timer kind');
}

function validateTcpOptions(v: unknown, p: string): void {
  const o = obj(v, p, 'tcp.options');
  let n = 0;
  if (o.noDelay !== undefined) {
    if (!isBool(o.noDelay)) bool(o.noDelay, p, 'tcp.options.noDelay');
    n++;
  }
  if (o.keepAlive !== undefined) {
    if (!isBool(o.keepAlive)) bool(o.keepAlive, p, 'tcp.options.keepAlive');
    n++;
  }
  if (o.keepAliveInitialDelay !== undefined) {
    if (!isNumIn(o.keepAliveInitialDelay, 0, MAX_RELATIVE_MS)) num(o.keepAliveInitialDelay, p, 'tcp.options.keepAliveInitialDelay', 0, MAX_RELATIVE_MS);
    n++;
  }
  if (o.keepAliveInterval !== undefined) {
    if (!isNumIn(o.keepAliveInterval, 0, MAX_RELATIVE_MS)) num(o.keepAliveInterval, p, 'tcp.options.keepAliveInterval', 0, MAX_RELATIVE_MS);
    n++;
  }
  if (o.keepAliveProbes !== undefined) {
    if (!isIntIn(o.keepAliveProbes, 0, 1000)) int(o.keepAliveProbes, p, 'tcp.options.keepAliveProbes', 0, 1000);
    n++;
  }
  if (o.userTimeout !== undefined) {
    if (!isNumIn(o.userTimeout, 0, MAX_RELATIVE_MS)) num(o.userTimeout, p, 'tcp.options.userTimeout', 0, MAX_RELATIVE_MS);
    n++;
  }
  if (o.sendBufferSize !== undefined) {
    if (!isIntIn(o.sendBufferSize, 1, MAX_BUFFER_OPTION)) int(o.sendBufferSize, p, 'tcp.options.sendBufferSize', 1, MAX_BUFFER_OPTION);
    n++;
  }
  if (o.receiveBufferSize !== undefined) {
    if (!isIntIn(o.receiveBufferSize, 1, MAX_BUFFER_OPTION)) int(o.receiveBufferSize, p, 'tcp.options.receiveBufferSize', 1, MAX_BUFFER_OPTION);
    n++;
  }
  if (o.timeWait !== undefined) {
    if (!isNumIn(o.timeWait, 0, MAX_RELATIVE_MS)) num(o.timeWait, p, 'tcp.options.timeWait', 0, MAX_RELATIVE_MS);
    n++;
  }
  if (o.allowHalfOpen !== undefined) {
    if (!isBool(o.allowHalfOpen)) bool(o.allowHalfOpen, p, 'tcp.options.allowHalfOpen');
    n++;
  }
  noExtraKeys(o, n, TCP_OPTIONS, p, 'tcp.options');
}

/**
 * Byte ranges in sequence space, relative to `base`: each starts at offset ≥ `minOffset`, ends
 * at ≤ `maxEnd`, sorted and non-overlapping. Returns the total number of bytes.
 */
function validateRanges(v: unknown, p: string, name: string, base: number, minOffset: number, maxEnd: number, lim: CheckpointLimits): number {
  const ranges = arr(v, p, name, lim.maxRanges);
  let prevEnd = minOffset;
  let total = 0;
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i] as Obj;
    if (!isObj(r)) obj(r, p, nm(name, i, ''));
    const seq = r.seq as number;
    const data = r.data as Uint8Array;
    if (!isU32(seq)) u32(seq, p, nm(name, i, '.seq'));
    if (!isBytesIn(data, 1, lim.maxBufferBytes)) bytes(data, p, nm(name, i, '.data'), 1, lim.maxBufferBytes);
    if (!parsedShape && keyCount(r) !== 2) noExtraKeys(r, 2, RANGE, p, nm(name, i, ''));
    const off = (seq - base) >>> 0; // RFC 9293 §3.4: offsets are modulo 2^32
    if (off < minOffset || off >= maxEnd) fail(p, nm(name, i, '.seq'), 'starts outside the allowed sequence range');
    if (off < prevEnd) fail(p, nm(name, i, '.seq'), 'ranges overlap or are not sorted');
    if (off + data.length > maxEnd) fail(p, nm(name, i, ''), 'extends beyond the allowed sequence range');
    prevEnd = off + data.length;
    total += data.length;
  }
  if (total > lim.maxBufferBytes) fail(p, name, `holds ${total} bytes, more than ${lim.maxBufferBytes}`);
  return total;
}

function validateTcp(v: unknown, p: string, objects: CheckpointObjectRef[], lim: CheckpointLimits): void {
  const t = obj(v, p, 'tcp');
  const state = t.state;
  if (
    state !== 'ESTABLISHED' && state !== 'CLOSE_WAIT' && state !== 'FIN_WAIT_1' &&
    state !== 'FIN_WAIT_2' && state !== 'CLOSING' && state !== 'LAST_ACK'
  ) {
    fail(p, 'tcp.state', `not a checkpointable state: ${typeof state === 'string' ? state.slice(0, 32) : describe(state)}`);
  }
  if (!isIntIn(t.localPort, 1, 65535)) int(t.localPort, p, 'tcp.localPort', 1, 65535);
  if (!isIntIn(t.remotePort, 1, 65535)) int(t.remotePort, p, 'tcp.remotePort', 1, 65535);
  if (!isU32(t.iss)) u32(t.iss, p, 'tcp.iss');
  if (!isU32(t.irs)) u32(t.irs, p, 'tcp.irs');
  const sndUna = t.sndUna as number;
  if (!isU32(sndUna)) u32(sndUna, p, 'tcp.sndUna');
  const sndNxt = t.sndNxt as number;
  if (!isU32(sndNxt)) u32(sndNxt, p, 'tcp.sndNxt');
  const sndMax = t.sndMax as number;
  if (!isU32(sndMax)) u32(sndMax, p, 'tcp.sndMax');
  const sndWscale = t.sndWscale as number; // RFC 7323 §2.3: shift ≤ 14
  if (!isIntIn(sndWscale, 0, 14)) int(sndWscale, p, 'tcp.sndWscale', 0, 14);
  const rcvWscale = t.rcvWscale as number;
  if (!isIntIn(rcvWscale, 0, 14)) int(rcvWscale, p, 'tcp.rcvWscale', 0, 14);
  const sndWnd = t.sndWnd as number;
  if (!isIntIn(sndWnd, 0, MAX_WINDOW)) int(sndWnd, p, 'tcp.sndWnd', 0, MAX_WINDOW);
  // The peer can advertise at most 65535 << shift (RFC 7323 §2.2).
  if (sndWnd > 65535 * (1 << sndWscale)) fail(p, 'tcp.sndWnd', `exceeds 65535 << sndWscale (${sndWscale})`); // shift ≤ 14 checked above
  if (!isU32(t.sndWl1)) u32(t.sndWl1, p, 'tcp.sndWl1');
  if (!isU32(t.sndWl2)) u32(t.sndWl2, p, 'tcp.sndWl2');
  const rcvNxt = t.rcvNxt as number;
  if (!isU32(rcvNxt)) u32(rcvNxt, p, 'tcp.rcvNxt');
  if (!isIntIn(t.rcvWnd, 0, MAX_WINDOW)) int(t.rcvWnd, p, 'tcp.rcvWnd', 0, MAX_WINDOW);
  void rcvWscale;
  if (!isIntIn(t.sndMss, 1, 65535)) int(t.sndMss, p, 'tcp.sndMss', 1, 65535);
  if (!isIntIn(t.rcvMss, 1, 65535)) int(t.rcvMss, p, 'tcp.rcvMss', 1, 65535);
  if (!isBool(t.sackPermitted)) bool(t.sackPermitted, p, 'tcp.sackPermitted');
  if (!isBool(t.timestamps)) bool(t.timestamps, p, 'tcp.timestamps');
  if (!isU32(t.tsOffset)) u32(t.tsOffset, p, 'tcp.tsOffset');
  if (!isU32(t.tsRecent)) u32(t.tsRecent, p, 'tcp.tsRecent');
  if (!isNumIn(t.tsRecentAge, 0, Number.MAX_SAFE_INTEGER)) num(t.tsRecentAge, p, 'tcp.tsRecentAge', 0, Number.MAX_SAFE_INTEGER);
  if (!isU32(t.tsLastSent)) u32(t.tsLastSent, p, 'tcp.tsLastSent');
  validateCongestion(t.cc, p);
  const finSent = t.finSent as boolean;
  if (!isBool(finSent)) bool(finSent, p, 'tcp.finSent');
  const finReceived = t.finReceived as boolean;
  if (!isBool(finReceived)) bool(finReceived, p, 'tcp.finReceived');
  const finSeq = t.finSeq === null ? null : u32(t.finSeq, p, 'tcp.finSeq');
  validateTimers(t.timers, p);
  validateTcpOptions(t.options, p);
  const sendLength = t.sendLength as number;
  if (!isIntIn(sendLength, 0, lim.maxBufferBytes)) int(sendLength, p, 'tcp.sendLength', 0, lim.maxBufferBytes);
  if (!isBytesIn(t.recvBuffer, 0, lim.maxBufferBytes)) bytes(t.recvBuffer, p, 'tcp.recvBuffer', 0, lim.maxBufferBytes);
  noExtraKeys(t, TCP_REQUIRED + has(t.recvOutOfOrder), TCP, p, 'tcp');

  // --- cross-field rules ---
  // SND.UNA ≤ SND.NXT ≤ SND.MAX (RFC 9293 §3.3.1, modulo 2^32).
  const nxtOff = (sndNxt - sndUna) >>> 0;
  const maxOff = (sndMax - sndUna) >>> 0;
  if (nxtOff > maxOff) fail(p, 'tcp.sndNxt', 'must lie in [sndUna, sndMax]');
  // Nothing can be in flight that is not in the send queue (plus one for a sent FIN).
  if (maxOff > sendLength + (finSent ? 1 : 0)) fail(p, 'tcp.sndMax', 'more bytes in flight than queued (sndMax − sndUna > sendLength + FIN)');

  // FIN bookkeeping against the state (RFC 9293 §3.3.2 state diagram).
  const weClosed = state === 'FIN_WAIT_1' || state === 'FIN_WAIT_2' || state === 'CLOSING' || state === 'LAST_ACK';
  const peerClosed = state === 'CLOSE_WAIT' || state === 'CLOSING' || state === 'LAST_ACK';
  if (finReceived !== peerClosed) fail(p, 'tcp.finReceived', `${finReceived} contradicts state ${state}`);
  if (!weClosed) {
    if (finSent) fail(p, 'tcp.finSent', `no FIN can have been sent in state ${state}`);
    if (finSeq !== null) fail(p, 'tcp.finSeq', `must be null in state ${state}`);
  } else {
    if (finSeq === null) fail(p, 'tcp.finSeq', `required in state ${state}`);
    if (state === 'FIN_WAIT_2') {
      // Our FIN is acknowledged: SND.UNA = finSeq + 1 and nothing is left to send.
      if (!finSent) fail(p, 'tcp.finSent', 'FIN_WAIT_2 means our FIN was sent and acknowledged');
      if (((finSeq + 1) >>> 0) !== sndUna) fail(p, 'tcp.finSeq', 'in FIN_WAIT_2 sndUna must equal finSeq + 1');
      if (sendLength !== 0) fail(p, 'tcp.sendLength', 'must be 0 in FIN_WAIT_2');
    } else {
      // Unacknowledged FIN: it follows the last queued byte.
      if (((sndUna + sendLength) >>> 0) !== finSeq) fail(p, 'tcp.finSeq', 'must equal sndUna + sendLength while the FIN is unacknowledged');
      if (finSent && ((finSeq + 1) >>> 0) !== sndMax) fail(p, 'tcp.sndMax', 'must equal finSeq + 1 once the FIN was sent');
    }
  }

  // Literal send bytes inside [SND.UNA, SND.UNA + sendLength).
  const sendRanges = t.sendRanges;
  validateRanges(sendRanges, p, 'tcp.sendRanges', sndUna, 0, sendLength, lim);

  // Object refs in this connection's send space: sorted, non-overlapping, each ending after
  // SND.UNA (fully acknowledged objects are pruned at capture) and starting within 2^31 of it.
  let prevEnd = -Infinity;
  for (let i = 0; i < objects.length; i++) {
    const o = objects[i];
    const start = (o.seq - sndUna) | 0;
    const end = start + o.length;
    if (end <= 0) fail(p, `app.objects[${i}]`, 'lies entirely before sndUna (acknowledged objects must be pruned)');
    if (start < prevEnd) fail(p, `app.objects[${i}].seq`, 'object refs overlap or are not sorted by sequence number');
    prevEnd = end;
  }

  // Every queued byte is either literal or object-mapped (seed 003 claims 12, 13).
  if (sendLength > 0) {
    const ranges = sendRanges as { seq: number; data: Uint8Array }[];
    let pos = 0;
    let i = 0;
    let j = 0;
    while (pos < sendLength) {
      while (i < ranges.length && ((ranges[i].seq - sndUna) >>> 0) + ranges[i].data.length <= pos) i++;
      while (j < objects.length && ((objects[j].seq - sndUna) | 0) + objects[j].length <= pos) j++;
      let next = pos;
      if (i < ranges.length) {
        const s = (ranges[i].seq - sndUna) >>> 0;
        if (s <= pos) next = s + ranges[i].data.length;
      }
      if (j < objects.length) {
        const s = (objects[j].seq - sndUna) | 0;
        if (s <= pos) next = Math.max(next, s + objects[j].length);
      }
      if (next === pos) {
        fail(p, 'tcp.sendRanges', `send byte at sndUna+${pos} (seq ${((sndUna + pos) >>> 0)}) is neither literal nor object-mapped`);
      }
      pos = next;
    }
  }

  if (t.recvOutOfOrder !== undefined) {
    // Out-of-order data lies strictly after RCV.NXT (RFC 9293 §3.10.7.4) within the largest window.
    const total = validateRanges(t.recvOutOfOrder, p, 'tcp.recvOutOfOrder', rcvNxt, 1, MAX_WINDOW, lim);
    if (finReceived && total > 0) fail(p, 'tcp.recvOutOfOrder', 'no data can follow the peer FIN');
  }
}

function validateUdp(v: unknown, p: string, remoteAddress: number, lim: CheckpointLimits): void {
  const u = obj(v, p, 'udp');
  if (!isIntIn(u.localPort, 1, 65535)) int(u.localPort, p, 'udp.localPort', 1, 65535);
  const remotePort = u.remotePort as number;
  if (!isIntIn(remotePort, 0, 65535)) int(remotePort, p, 'udp.remotePort', 0, 65535);
  if ((remotePort === 0) !== (remoteAddress === 0)) fail(p, 'udp.remotePort', 'remote port and ip.remoteAddress must both be set (connected) or both be 0');
  const ms = arr(u.multicast, p, 'udp.multicast', lim.maxMemberships);
  for (let i = 0; i < ms.length; i++) {
    const m = ms[i] as Obj;
    if (!isObj(m)) obj(m, p, nm('udp.multicast', i, ''));
    const group = m.group as number;
    const ifa = m.interfaceAddress as number;
    if (!isU32(group)) u32(group, p, nm('udp.multicast', i, '.group'));
    // RFC 1112 §4: host group addresses are class D, 224.0.0.0/4.
    if (!isMulticast(group)) fail(p, nm('udp.multicast', i, '.group'), 'not a multicast address (224.0.0.0/4)');
    if (!isU32(ifa)) u32(ifa, p, nm('udp.multicast', i, '.interfaceAddress'));
    if (!parsedShape && keyCount(m) !== 2) noExtraKeys(m, 2, MEMBERSHIP, p, nm('udp.multicast', i, ''));
    for (let k = 0; k < i; k++) {
      const o = ms[k] as { group: number; interfaceAddress: number };
      if (o.group === group && o.interfaceAddress === ifa) fail(p, nm('udp.multicast', i, ''), 'duplicate membership');
    }
  }
  const o = obj(u.options, p, 'udp.options');
  let n = 0;
  if (o.broadcast !== undefined) {
    if (!isBool(o.broadcast)) bool(o.broadcast, p, 'udp.options.broadcast');
    n++;
  }
  if (o.multicastTtl !== undefined) {
    if (!isIntIn(o.multicastTtl, 0, 255)) int(o.multicastTtl, p, 'udp.options.multicastTtl', 0, 255);
    n++;
  }
  if (o.multicastLoopback !== undefined) {
    if (!isBool(o.multicastLoopback)) bool(o.multicastLoopback, p, 'udp.options.multicastLoopback');
    n++;
  }
  if (o.multicastInterface !== undefined) {
    if (!isU32(o.multicastInterface)) u32(o.multicastInterface, p, 'udp.options.multicastInterface');
    n++;
  }
  if (o.recvBufferSize !== undefined) {
    if (!isIntIn(o.recvBufferSize, 1, MAX_BUFFER_OPTION)) int(o.recvBufferSize, p, 'udp.options.recvBufferSize', 1, MAX_BUFFER_OPTION);
    n++;
  }
  if (o.sendBufferSize !== undefined) {
    if (!isIntIn(o.sendBufferSize, 1, MAX_BUFFER_OPTION)) int(o.sendBufferSize, p, 'udp.options.sendBufferSize', 1, MAX_BUFFER_OPTION);
    n++;
  }
  if (o.reuseAddr !== undefined) {
    if (!isBool(o.reuseAddr)) bool(o.reuseAddr, p, 'udp.options.reuseAddr');
    n++;
  }
  noExtraKeys(o, n, UDP_OPTIONS, p, 'udp.options');
  noExtraKeys(u, 4, UDP, p, 'udp');
}

const NO_OBJECTS: CheckpointObjectRef[] = [];

/** Validates one tcp/udp checkpoint; returns its (validated) meta section. */
function validateConnection(c: Obj, p: string, lim: CheckpointLimits): Obj {
  const kind = c.kind as 'tcp' | 'udp';
  const meta = validateMeta(c.meta, p);
  validateLink(c.link, p);
  const remote = validateIp(c.ip, p, kind);
  const app = c.app === undefined ? undefined : validateApp(c.app, p, lim);
  if (kind === 'tcp') {
    validateTcp(c.tcp, p, app ? app.objects : NO_OBJECTS, lim);
    noExtraKeys(c, 5 + has(c.app), TOP_TCP, p, '');
  } else {
    validateUdp(c.udp, p, remote, lim);
    if (app && app.objects.length > 0) fail(p, 'app.objects', 'object maps exist only for TCP send data');
    noExtraKeys(c, 5 + has(c.app), TOP_UDP, p, '');
  }
  return meta;
}

function tupleKey(c: ConnectionCheckpoint): string {
  const t = c.kind === 'tcp' ? c.tcp : c.udp;
  return `${c.kind}:${c.ip.localAddress}:${t.localPort}-${c.ip.remoteAddress}:${t.remotePort}`;
}

/**
 * `validateCheckpoint` for an object the decoder (codec.ts) just built: the same checks of every
 * value and rule, without the plain-object / unknown-key checks its construction makes moot.
 */
export function validateParsedCheckpoint(value: Checkpoint, limits?: Partial<CheckpointLimits>): Checkpoint {
  parsedShape = true;
  try {
    return validateCheckpoint(value, limits);
  } finally {
    parsedShape = false;
  }
}

/**
 * Validate a decoded (or freshly captured) checkpoint field by field. Pure; returns its argument
 * typed as a Checkpoint, or throws HastackError ERR_CHECKPOINT_INVALID with `field` and `reason`.
 */
export function validateCheckpoint(value: unknown, limits?: Partial<CheckpointLimits>): Checkpoint {
  const lim: CheckpointLimits = limits ? { ...DEFAULT_CHECKPOINT_LIMITS, ...limits } : DEFAULT_CHECKPOINT_LIMITS;
  const c = obj(value, '', 'checkpoint');
  const kind = c.kind;
  if (kind === 'tcp' || kind === 'udp') {
    validateConnection(c, '', lim);
    return c as unknown as Checkpoint;
  }
  if (kind !== 'bundle') fail('', 'kind', `expected 'tcp', 'udp' or 'bundle', got ${describe(kind)}`);
  const meta = validateMeta(c.meta, '');
  const members = arr(c.members, '', 'members', lim.maxMembers);
  if (members.length === 0) fail('', 'members', 'a bundle needs at least one member');
  const seen = new Set<string>();
  for (let i = 0; i < members.length; i++) {
    const p = `members[${i}].`;
    const m = obj(members[i], p, '');
    if (m.kind !== 'tcp' && m.kind !== 'udp') fail(p, 'kind', `bundle members are 'tcp' or 'udp', got ${describe(m.kind)}`);
    const mm = validateConnection(m, p, lim);
    if (mm.nodeId !== meta.nodeId) fail(p, 'meta.nodeId', 'differs from the bundle node id');
    if (mm.version !== meta.version) fail(p, 'meta.version', 'differs from the bundle version');
    const key = tupleKey(m as unknown as ConnectionCheckpoint);
    if (seen.has(key)) fail(p, '', 'duplicate connection in bundle');
    seen.add(key);
  }
  if (c.app !== undefined) {
    const app = validateApp(c.app, '', lim);
    // Objects live in the sequence space of one TCP connection: put them in that member's app.
    if (app.objects.length > 0) fail('', 'app.objects', 'bundle-level app cannot map objects; use the member connection');
  }
  noExtraKeys(c, 3 + has(c.app), TOP_BUNDLE, '', '');
  return c as unknown as Checkpoint;
}
