/**
 * Checkpoint and restore at the stack level (seed 003; ARCHITECTURE.md §5; docs/checkpoint.md).
 *
 * Read this first:
 * - `socket.checkpoint()` (tcp/checkpoint.ts) and `udpSocket.checkpoint()` (udp/checkpoint.ts)
 *   capture one connection; `stack.checkpointBundle([...])` captures related connections together
 *   (an RTSP/FTP-like control connection and its UDP data flows, claims 4–7, 15–18).
 * - `stack.restore(checkpoint, opts)` turns a checkpoint back into sockets: a TCP connection
 *   becomes an *unready* Socket that solicits the peer's ACK and emits 'ready' once it matches
 *   (claims 1, 2, 9, 10, 14); a UDP one is re-bound and re-joins its groups; a bundle restores
 *   all members or none.
 * - All-or-nothing: the checkpoint is first checked structurally (`checkCheckpointShape`), then
 *   every member's address and port are checked, and only then is anything created. A refused
 *   checkpoint leaves the stack as it was. The full field-by-field validation and the signature
 *   check belong to `decodeCheckpoint` of @hastack/checkpoint (this package must not depend on
 *   it): restore what it returns.
 * - These methods are installed on `Stack.prototype` by this module (index.ts imports it).
 */
import { err } from './errors.js';
import {
  CHECKPOINT_VERSION,
  isCheckpointableTcpState,
  type BundleCheckpoint,
  type Checkpoint,
  type CheckpointApp,
  type CheckpointAppState,
  type ConnectionCheckpoint,
  type TcpCheckpoint,
  type UdpCheckpoint,
} from './checkpoint-types.js';
import { Stack } from './stack.js';
import { Socket } from './tcp/socket.js';
import { captureConn, engineConnOf, restoreTcpSocket, RestoredHandle, type CheckpointAppOptions, type ObjectSource, type TcpCaptureOptions, type TcpRestoreOptions } from './tcp/checkpoint.js';
import { captureUdp, restoreUdp } from './udp/checkpoint.js';
import { UdpSocket } from './udp/socket.js';
import type { TcpConn } from './tcp/engine.js';

export * from './tcp/checkpoint.js';
export * from './udp/checkpoint.js';

/** Options of `stack.restore()`. */
export interface RestoreOptions extends TcpRestoreOptions {
  /** Supplies object-mapped send bytes (seed 003 claims 12, 13). */
  objectSource?: ObjectSource;
  /**
   * The checkpoint is exactly what `decodeCheckpoint` (or `validateCheckpoint`) of
   * @hastack/checkpoint returned, unchanged since: skip the stack's own structural check (that
   * validator is stricter). `restoreEncoded` sets it. Default false: the check runs.
   */
  validated?: boolean;
}

/** A restored bundle: its members in checkpoint order, and the bundle's app section. */
export interface RestoredBundle {
  members: Array<Socket | UdpSocket>;
  app?: CheckpointApp;
}

/** A bundle member: a socket, or a socket with its own capture options. */
export type BundleMember = Socket | UdpSocket | { socket: Socket | UdpSocket; mode?: 'mapped' | 'full'; app?: CheckpointAppOptions };

export interface BundleCaptureOptions {
  /** The session's application section (no object refs at bundle level). */
  app?: { protocol?: string; state?: CheckpointAppState };
  /** Default capture mode of the TCP members. */
  mode?: 'mapped' | 'full';
}

// ------------------------------------------------------------------------------------------------
// Structural check
// ------------------------------------------------------------------------------------------------

function bad(field: string, reason: string): never {
  throw err('ERR_CHECKPOINT_INVALID', `${field}: ${reason}`, { info: { field, reason } });
}
function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
function u32(v: unknown, f: string): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) bad(f, 'expected a uint32');
}
function intIn(v: unknown, f: string, lo: number, hi: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo || v > hi) bad(f, `expected an integer in ${lo}..${hi}`);
}
function numIn(v: unknown, f: string, lo: number, hi: number): void {
  if (typeof v !== 'number' || Number.isNaN(v) || v < lo || v > hi) bad(f, `expected a number in ${lo}..${hi}`);
}
function bytesOf(v: unknown, f: string): Uint8Array {
  if (!(v instanceof Uint8Array)) bad(f, 'expected bytes');
  return v;
}

const isU32 = (v: unknown): boolean => typeof v === 'number' && v >>> 0 === v;
const isIntIn = (v: unknown, lo: number, hi: number): boolean => typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;

// Kept lean (no closures, no per-call arrays, field names built only on failure): it runs on
// every stack.restore(), and restoring 10,000 connections is the takeover case (issue 7).
function checkTcp(c: Record<string, unknown>, p: string): void {
  const ip = c.ip as Record<string, unknown>;
  const t = c.tcp;
  if (!isObj(t)) bad(`${p}tcp`, 'missing');
  if (typeof t.state !== 'string' || !isCheckpointableTcpState(t.state)) bad(`${p}tcp.state`, 'not a checkpointable state');
  if (ip.localAddress === 0 || ip.remoteAddress === 0) bad(`${p}ip`, 'a TCP connection needs both addresses');
  if (!isIntIn(t.localPort, 1, 65535)) intIn(t.localPort, `${p}tcp.localPort`, 1, 65535);
  if (!isIntIn(t.remotePort, 1, 65535)) intIn(t.remotePort, `${p}tcp.remotePort`, 1, 65535);
  // Named loads (a loop over the names would be a megamorphic keyed load, slow once the
  // shared stub cache is busy: measured as most of a cold restore).
  if (!isU32(t.iss)) u32(t.iss, `${p}tcp.iss`);
  if (!isU32(t.irs)) u32(t.irs, `${p}tcp.irs`);
  if (!isU32(t.sndUna)) u32(t.sndUna, `${p}tcp.sndUna`);
  if (!isU32(t.sndNxt)) u32(t.sndNxt, `${p}tcp.sndNxt`);
  if (!isU32(t.sndMax)) u32(t.sndMax, `${p}tcp.sndMax`);
  if (!isU32(t.sndWl1)) u32(t.sndWl1, `${p}tcp.sndWl1`);
  if (!isU32(t.sndWl2)) u32(t.sndWl2, `${p}tcp.sndWl2`);
  if (!isU32(t.rcvNxt)) u32(t.rcvNxt, `${p}tcp.rcvNxt`);
  if (!isU32(t.tsOffset)) u32(t.tsOffset, `${p}tcp.tsOffset`);
  if (!isU32(t.tsRecent)) u32(t.tsRecent, `${p}tcp.tsRecent`);
  if (!isU32(t.tsLastSent)) u32(t.tsLastSent, `${p}tcp.tsLastSent`);
  if (!isIntIn(t.sndWscale, 0, 14)) intIn(t.sndWscale, `${p}tcp.sndWscale`, 0, 14);
  if (!isIntIn(t.rcvWscale, 0, 14)) intIn(t.rcvWscale, `${p}tcp.rcvWscale`, 0, 14);
  if (!isIntIn(t.sndMss, 1, 65535)) intIn(t.sndMss, `${p}tcp.sndMss`, 1, 65535);
  if (!isIntIn(t.rcvMss, 1, 65535)) intIn(t.rcvMss, `${p}tcp.rcvMss`, 1, 65535);
  if (!isIntIn(t.sndWnd, 0, 2 ** 30)) intIn(t.sndWnd, `${p}tcp.sndWnd`, 0, 2 ** 30);
  if (!isIntIn(t.rcvWnd, 0, 2 ** 30)) intIn(t.rcvWnd, `${p}tcp.rcvWnd`, 0, 2 ** 30);
  numIn(t.tsRecentAge, `${p}tcp.tsRecentAge`, 0, Number.MAX_SAFE_INTEGER);
  const sendLength = t.sendLength as number;
  if (!isIntIn(sendLength, 0, 2 ** 31 - 1)) intIn(sendLength, `${p}tcp.sendLength`, 0, 2 ** 31 - 1);
  if (t.finSeq !== null && !isU32(t.finSeq)) u32(t.finSeq, `${p}tcp.finSeq`);
  const una = t.sndUna as number;
  const maxOff = ((t.sndMax as number) - una) >>> 0;
  if (((t.sndNxt as number) - una) >>> 0 > maxOff) bad(`${p}tcp.sndNxt`, 'must lie in [sndUna, sndMax]');
  if (maxOff > sendLength + (t.finSent ? 1 : 0)) bad(`${p}tcp.sndMax`, 'more bytes in flight than queued');
  const cc = t.cc;
  if (!isObj(cc)) bad(`${p}tcp.cc`, 'missing');
  numIn(cc.cwnd, `${p}tcp.cc.cwnd`, 0, 2 ** 32);
  numIn(cc.rto, `${p}tcp.cc.rto`, Number.MIN_VALUE, 2 ** 31);
  if (cc.algorithm !== 'newreno' && cc.algorithm !== 'cubic') bad(`${p}tcp.cc.algorithm`, 'unknown');
  if (!isObj(t.options) || !isObj(t.timers)) bad(`${p}tcp.options`, 'missing');
  bytesOf(t.recvBuffer, `${p}tcp.recvBuffer`);
  const ranges = t.sendRanges;
  if (!Array.isArray(ranges)) bad(`${p}tcp.sendRanges`, 'expected an array');
  for (let i = 0; i < ranges.length; i++) {
    const r = ranges[i];
    if (!isObj(r)) bad(`${p}tcp.sendRanges`, 'expected objects');
    u32(r.seq, `${p}tcp.sendRanges[].seq`);
    if ((((r.seq as number) - una) >>> 0) + bytesOf(r.data, `${p}tcp.sendRanges[].data`).length > sendLength) bad(`${p}tcp.sendRanges`, 'outside the send queue');
  }
  const ooo = t.recvOutOfOrder;
  if (ooo !== undefined) {
    if (!Array.isArray(ooo)) bad(`${p}tcp.recvOutOfOrder`, 'expected an array');
    for (let i = 0; i < ooo.length; i++) {
      const r = ooo[i];
      if (!isObj(r)) bad(`${p}tcp.recvOutOfOrder`, 'expected objects');
      u32(r.seq, `${p}tcp.recvOutOfOrder[].seq`);
      bytesOf(r.data, `${p}tcp.recvOutOfOrder[].data`);
    }
  }
}

function checkConnection(c: unknown, p: string): void {
  if (!isObj(c)) bad(p || 'checkpoint', 'expected an object');
  const m = c.meta;
  if (!isObj(m)) bad(`${p}meta`, 'missing');
  if (!isIntIn(m.version, 1, CHECKPOINT_VERSION)) intIn(m.version, `${p}meta.version`, 1, CHECKPOINT_VERSION);
  const link = c.link;
  if (!isObj(link) || !(link.localMac instanceof Uint8Array) || link.localMac.length !== 6) {
    if (isObj(link)) bytesOf(link.localMac, `${p}link.localMac`);
    bad(`${p}link`, 'needs a 6-byte localMac');
  }
  const ip = c.ip;
  if (!isObj(ip)) bad(`${p}ip`, 'missing');
  if (!isU32(ip.localAddress)) u32(ip.localAddress, `${p}ip.localAddress`);
  if (!isU32(ip.remoteAddress)) u32(ip.remoteAddress, `${p}ip.remoteAddress`);
  if (!isIntIn(ip.ttl, 1, 255)) intIn(ip.ttl, `${p}ip.ttl`, 1, 255);
  if (c.kind === 'tcp') checkTcp(c, p);
  else if (c.kind === 'udp') {
    const u = c.udp;
    if (!isObj(u)) bad(`${p}udp`, 'missing');
    intIn(u.localPort, `${p}udp.localPort`, 1, 65535);
    intIn(u.remotePort, `${p}udp.remotePort`, 0, 65535);
    if (!Array.isArray(u.multicast)) bad(`${p}udp.multicast`, 'expected an array');
    for (const g of u.multicast) {
      if (!isObj(g)) bad(`${p}udp.multicast`, 'expected objects');
      u32(g.group, `${p}udp.multicast[].group`);
      if ((g.group as number) >>> 28 !== 0xe) bad(`${p}udp.multicast[].group`, 'not a multicast address');
    }
    if (!isObj(u.options)) bad(`${p}udp.options`, 'missing');
  } else bad(`${p}kind`, `expected 'tcp' or 'udp'`);
  const app = c.app;
  if (app !== undefined) {
    if (!isObj(app) || !Array.isArray(app.objects)) bad(`${p}app`, 'needs an objects array');
    const objects = app.objects;
    for (let i = 0; i < objects.length; i++) {
      const o = objects[i];
      if (!isObj(o) || typeof o.id !== 'string' || o.id.length === 0) bad(`${p}app.objects`, 'bad object ref');
      if (!isU32(o.seq)) u32(o.seq, `${p}app.objects[].seq`);
      if (!isIntIn(o.offset, 0, Number.MAX_SAFE_INTEGER)) intIn(o.offset, `${p}app.objects[].offset`, 0, Number.MAX_SAFE_INTEGER);
      if (!isIntIn(o.length, 1, 2 ** 31 - 1)) intIn(o.length, `${p}app.objects[].length`, 1, 2 ** 31 - 1);
    }
    if (c.kind === 'udp' && objects.length > 0) bad(`${p}app.objects`, 'object maps exist only for TCP');
  }
}

/**
 * A structural check of a checkpoint: kinds, required sections, integer ranges and the
 * sequence-space relations restore relies on. Throws ERR_CHECKPOINT_INVALID. (`decodeCheckpoint`
 * of @hastack/checkpoint validates every field and the signature; this is the stack's own guard.)
 */
export function checkCheckpointShape(cp: unknown): asserts cp is Checkpoint {
  if (!isObj(cp)) bad('checkpoint', 'expected an object');
  if (cp.kind === 'bundle') {
    if (!isObj(cp.meta)) bad('meta', 'missing');
    intIn(cp.meta.version, 'meta.version', 1, CHECKPOINT_VERSION);
    if (!Array.isArray(cp.members) || cp.members.length === 0) bad('members', 'a bundle needs at least one member');
    cp.members.forEach((m, i) => checkConnection(m, `members[${i}].`));
    return;
  }
  checkConnection(cp, '');
}

// ------------------------------------------------------------------------------------------------
// Bundles
// ------------------------------------------------------------------------------------------------

/** Capture related connections together (seed 003 claims 4–7, 15–18). */
export function checkpointBundle(stack: Stack, members: readonly BundleMember[], opts: BundleCaptureOptions = {}): BundleCheckpoint {
  if (!Array.isArray(members) || members.length === 0) throw err('ERR_INVALID_ARG_VALUE', 'checkpointBundle needs at least one socket');
  const now = stack.clock.now();
  const takenAt = Date.now();
  const out: ConnectionCheckpoint[] = [];
  for (const m of members) {
    const entry = m instanceof Socket || m instanceof UdpSocket ? { socket: m } : m;
    const s = entry.socket;
    let cp: ConnectionCheckpoint;
    if (s instanceof Socket) {
      const h = s.connection;
      if (h instanceof RestoredHandle && h.holding) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', 'cannot checkpoint a restored connection before it is ready');
      const conn = engineConnOf(s);
      if (!conn || conn.removed) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', 'cannot checkpoint a closed TCP socket');
      const co: TcpCaptureOptions = { mode: (entry as { mode?: 'mapped' | 'full' }).mode ?? opts.mode, app: (entry as { app?: CheckpointAppOptions }).app };
      cp = captureConn(stack, conn, s, co);
    } else if (s instanceof UdpSocket) {
      cp = captureUdp(s, { app: (entry as { app?: CheckpointAppOptions }).app }, now);
    } else throw err('ERR_INVALID_ARG_TYPE', 'bundle members are hastack TCP or UDP sockets');
    cp.meta.takenAt = takenAt;
    cp.meta.takenAtMono = Math.max(0, now);
    out.push(cp);
  }
  const b: BundleCheckpoint = { kind: 'bundle', meta: { version: CHECKPOINT_VERSION, nodeId: stack.nodeId, takenAt, takenAtMono: Math.max(0, now) }, members: out };
  if (opts.app) {
    b.app = { protocol: opts.app.protocol ?? 'bundle', objects: [] };
    if (opts.app.state !== undefined) b.app.state = opts.app.state;
  }
  return b;
}

// ------------------------------------------------------------------------------------------------
// Restore
// ------------------------------------------------------------------------------------------------

function tupleKey(la: number, lp: number, ra: number, rp: number): string {
  return `${la >>> 0}:${lp}-${ra >>> 0}:${rp}`;
}

/** Check every TCP member can be registered (address ours, 4-tuple free) before creating anything. */
function precheckTcp(stack: Stack, members: readonly ConnectionCheckpoint[]): void {
  const tcp = members.filter((m): m is TcpCheckpoint => m.kind === 'tcp');
  if (tcp.length === 0) return;
  const eng = stack.engine;
  if (tcp.length === 1) {
    // One connection: the engine's restore refuses a taken 4-tuple before changing anything.
    const la = tcp[0].ip.localAddress >>> 0;
    if (!eng.isLocalAddress(la)) throw err('EADDRNOTAVAIL', `restore: ${la} is not one of our addresses`, { syscall: 'restore' });
    return;
  }
  const taken = new Set<string>();
  for (const c of stack.tcp.connections()) taken.add(tupleKey(c.localAddress, c.localPort, c.remoteAddress, c.remotePort));
  const seen = new Set<string>();
  for (const m of tcp) {
    const la = m.ip.localAddress >>> 0;
    if (!eng.isLocalAddress(la)) throw err('EADDRNOTAVAIL', `restore: ${la} is not one of our addresses`, { syscall: 'restore' });
    const k = tupleKey(la, m.tcp.localPort, m.ip.remoteAddress, m.tcp.remotePort);
    if (taken.has(k) || seen.has(k)) throw err('EADDRINUSE', `restore: 4-tuple ${k} in use`, { syscall: 'restore' });
    seen.add(k);
  }
}

function forgetTcp(stack: Stack, s: Socket): void {
  const conn = engineConnOf(s) as TcpConn | null;
  if (conn && !conn.removed) stack.tcp._forget(conn);
  s.destroy();
}

/** `stack.restore()` (see the module comment). */
export function restoreCheckpoint(stack: Stack, cp: Checkpoint, opts: RestoreOptions = {}): Socket | UdpSocket | RestoredBundle {
  if (stack.closed) throw err('ERR_STACK_CLOSED', 'the stack is closed');
  // A checkpoint @hastack/checkpoint just validated field by field (a stricter check) need not be
  // checked again: on a cold takeover of 10,000 connections this pass was ~10 % of the restore.
  if (opts.validated !== true) checkCheckpointShape(cp);
  if (cp.kind === 'tcp') {
    // One connection: the engine's restore refuses a taken 4-tuple before changing anything,
    // and restoreTcpSocket refuses an address that is not ours (EADDRNOTAVAIL) first.
    const s = restoreTcpSocket(stack, cp, opts);
    stack.wake();
    return s;
  }
  if (cp.kind === 'udp') return restoreUdp(stack, cp);
  // Bundle: every member or none.
  precheckTcp(stack, cp.members);
  const made: Array<Socket | UdpSocket> = new Array(cp.members.length);
  try {
    // UDP first (a failed bind is only known by trying), then TCP (pre-checked above).
    cp.members.forEach((m, i) => {
      if (m.kind === 'udp') made[i] = restoreUdp(stack, m);
    });
    cp.members.forEach((m, i) => {
      if (m.kind === 'tcp') made[i] = restoreTcpSocket(stack, m, opts);
    });
  } catch (e) {
    for (const s of made) {
      if (s instanceof UdpSocket) s.destroyNow();
      else if (s instanceof Socket) forgetTcp(stack, s);
    }
    throw e;
  }
  stack.wake();
  const out: RestoredBundle = { members: made };
  if (cp.app) out.app = cp.app;
  return out;
}

declare module './stack.js' {
  interface Stack {
    /**
     * Restore a checkpoint (seed 003): a TCP checkpoint becomes an unready Socket (it solicits
     * the peer's ACK and emits 'ready' when it matches; ERR_CHECKPOINT_STALE / ETIMEDOUT
     * otherwise), a UDP one a bound UdpSocket, a bundle all of its members — or nothing: a
     * refused checkpoint (ERR_CHECKPOINT_INVALID, EADDRINUSE, EADDRNOTAVAIL) changes nothing.
     */
    restore(cp: TcpCheckpoint, opts?: RestoreOptions): Socket;
    restore(cp: UdpCheckpoint, opts?: RestoreOptions): UdpSocket;
    restore(cp: BundleCheckpoint, opts?: RestoreOptions): RestoredBundle;
    restore(cp: Checkpoint, opts?: RestoreOptions): Socket | UdpSocket | RestoredBundle;
    /** Checkpoint related TCP and UDP sockets together (seed 003 claims 4–7, 15–18). */
    checkpointBundle(members: readonly BundleMember[], opts?: BundleCaptureOptions): BundleCheckpoint;
  }
}

(Stack.prototype as unknown as { restore: unknown }).restore = function restore(this: Stack, cp: Checkpoint, opts?: RestoreOptions) {
  return restoreCheckpoint(this, cp, opts);
};
Stack.prototype.checkpointBundle = function (this: Stack, members: readonly BundleMember[], opts?: BundleCaptureOptions): BundleCheckpoint {
  return checkpointBundle(this, members, opts);
};
