/**
 * TCP connection checkpoints at the socket level (seed 003; ARCHITECTURE.md §5; docs/checkpoint.md).
 *
 * Read this first:
 * - The TCP engine projects its TCB into the `tcp` section (`TcpLayer.captureTcp`) and builds an
 *   *unready* connection back from one (`TcpLayer.restoreTcp`). This file adds what lives above
 *   the engine, each layer appending its section (seed 003 claims 3, 11): link (our MAC, the
 *   peer's from the ARP cache), IP (addresses, TTL), the bytes the Node streams still hold (unread
 *   bytes in the Readable buffer, unsent bytes in the Writable buffer), the object map and the
 *   application section, plus node id and time (claims 8, 19).
 * - Object map (claim 22): `socket.mapObject(id, { offset, length, at })` binds stream bytes the
 *   application is about to write (or those at stream position `at`) to object `id` and returns
 *   the TCP send sequence number of the first one. Stream position p is sent at `base + p`, with
 *   `base` = ISS + 1 for a connection opened here, or the end of the restored send queue for a
 *   restored one. A checkpoint leaves mapped bytes out (one reference per object, not per packet).
 * - Restore: `restoreTcpSocket()` wraps the engine's unready connection in a handle that holds
 *   the application's writes until the connection is ready AND the part of the send queue the
 *   checkpoint left out has been refilled — from the literal ranges, and for mapped bytes from
 *   `objectSource(id, offset)` (claims 12, 13) — so bytes always go out in sequence order. Then
 *   'ready' is emitted and the socket is an ordinary Duplex.
 */
import type { Duplex } from 'node:stream';
import { err, type HastackError } from '../errors.js';
import {
  CHECKPOINT_VERSION,
  objectRangeForSeq,
  type CheckpointApp,
  type CheckpointAppState,
  type CheckpointObjectRef,
  type TcpByteRange,
  type TcpCheckpoint,
} from '../checkpoint-types.js';
import type { Clock } from '../clock.js';
import type { Engine } from '../engine/engine.js';
import type { TcpConnectionEvents, TcpConnectionHandle, TcpStateName } from './contract.js';
import { TcpConn, type TcpLayer } from './engine.js';
import { Socket } from './socket.js';

/** What capture and restore need from the stack (a `Stack` satisfies it). */
export interface CheckpointHost {
  readonly nodeId: string;
  readonly clock: Clock;
  readonly tcp: TcpLayer;
  readonly engine: Engine;
}

/** `socket.mapObject()` options (seed 003 claim 22). */
export interface MapObjectOptions {
  /** Offset in the object of the first mapped byte (default 0). */
  offset?: number;
  /** Number of mapped bytes, 1..2^31−1. */
  length: number;
  /** Stream position (bytes written to this socket before it) of the first mapped byte; default: the next byte written. */
  at?: number;
}

/** Bytes of an object from some offset: a Buffer, a Readable or any (async) iterable of chunks. */
export type ObjectBytes = Uint8Array | AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** The application's object source: the bytes of object `id` from `offset` on (claims 12, 13). */
export type ObjectSource = (id: string, offset: number) => ObjectBytes | Promise<ObjectBytes>;

/** Application section options of a capture. */
export interface CheckpointAppOptions {
  /** Application-layer protocol name, 1..64 chars (default 'tcp'). */
  protocol?: string;
  /** Plain data the application keeps in its checkpoint. */
  state?: CheckpointAppState;
}

export interface TcpCaptureOptions {
  /**
   * 'mapped' (default): bytes covered by the object map are left out of the checkpoint.
   * 'full': every queued byte is carried literally (the object refs are still included).
   */
  mode?: 'mapped' | 'full';
  /** The application section. */
  app?: CheckpointAppOptions;
}

export interface TcpRestoreOptions {
  /** Supplies object-mapped bytes; without it the application writes them itself after 'ready'. */
  objectSource?: ObjectSource;
  /** Called with the socket once it is ready (after the 'ready' event). */
  onReady?: (socket: Socket) => void;
  /**
   * Give up with ETIMEDOUT when the peer has not answered the solicitation for this long (ms).
   * Default: the checkpoint's userTimeout (120 s when absent).
   */
  readyTimeout?: number;
  readableHighWaterMark?: number;
  writableHighWaterMark?: number;
}

// ------------------------------------------------------------------------------------------------
// Object map
// ------------------------------------------------------------------------------------------------

interface MapState {
  /** Sequence number of stream position 0 (uint32). */
  base: number;
  /** Refs sorted by sequence number (relative to SND.UNA), non-overlapping. */
  refs: CheckpointObjectRef[];
}

const maps = new WeakMap<Socket, MapState>();

/** The engine connection behind a socket (through a restore wrapper), or null. */
export function engineConnOf(socket: Socket): TcpConn | null {
  const c = socket.connection;
  if (c instanceof TcpConn) return c;
  if (c instanceof RestoredHandle) return c.inner;
  return null;
}

/**
 * The object map of a socket, if it has one. A restored socket keeps it on its RestoredHandle
 * (no WeakMap entry per restored connection: restoring 10,000 is the takeover case).
 */
function getMapState(socket: Socket): MapState | undefined {
  const h = socket.connection;
  if (h instanceof RestoredHandle) return h.mapState ?? undefined;
  return maps.get(socket);
}

function mapStateOf(socket: Socket, conn: TcpConn): MapState {
  let st = getMapState(socket);
  if (!st) {
    const h = socket.connection;
    if (h instanceof RestoredHandle) {
      st = { base: h.mapBase, refs: [] };
      h.mapState = st;
    } else {
      st = { base: (conn.tcb.iss + 1) >>> 0, refs: [] };
      maps.set(socket, st);
    }
  }
  return st;
}

/** Drop refs that end at or before SND.UNA (fully acknowledged). */
function pruneRefs(st: MapState, sndUna: number): void {
  const r = st.refs;
  let k = 0;
  for (let i = 0; i < r.length; i++) if (((r[i].seq - sndUna) | 0) + r[i].length > 0) r[k++] = r[i];
  r.length = k;
}

const MAX_MAP_LENGTH = 2 ** 31 - 1;

export function mapObject(socket: Socket, id: string, opts: MapObjectOptions): number {
  if (typeof id !== 'string' || id.length < 1 || id.length > 1024) throw err('ERR_INVALID_ARG_VALUE', 'object id must be a string of 1..1024 characters');
  if (!opts || typeof opts !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'mapObject options must be an object');
  const offset = opts.offset ?? 0;
  const length = opts.length;
  if (!Number.isSafeInteger(offset) || offset < 0) throw err('ERR_INVALID_ARG_VALUE', 'offset must be a non-negative safe integer');
  if (!Number.isInteger(length) || length < 1 || length > MAX_MAP_LENGTH) throw err('ERR_INVALID_ARG_VALUE', `length must be an integer in 1..${MAX_MAP_LENGTH}`);
  if (offset + length > Number.MAX_SAFE_INTEGER) throw err('ERR_INVALID_ARG_VALUE', 'offset + length overflows');
  const conn = engineConnOf(socket);
  if (!conn || conn.removed) throw err('ENOTCONN', 'mapObject needs a connected socket', { syscall: 'mapObject' });
  const st = mapStateOf(socket, conn);
  const written = socket.bytesWritten;
  const at = opts.at ?? written;
  if (!Number.isSafeInteger(at) || at < 0) throw err('ERR_INVALID_ARG_VALUE', 'at must be a non-negative safe integer');
  const seq = (st.base + at) >>> 0;
  const una = conn.tcb.sndUna;
  pruneRefs(st, una);
  const start = (seq - una) | 0;
  // A position already acknowledged by the peer can no longer be mapped (RFC 9293 §3.4 arithmetic).
  if (start < 0) throw err('ERR_INVALID_ARG_VALUE', 'that stream position was already acknowledged', { syscall: 'mapObject' });
  if (start + length > MAX_MAP_LENGTH) throw err('ERR_INVALID_ARG_VALUE', 'the mapped range ends more than 2^31 − 1 bytes after SND.UNA', { syscall: 'mapObject' });
  const r = st.refs;
  let i = r.length;
  while (i > 0 && ((r[i - 1].seq - una) | 0) > start) i--;
  const prev = i > 0 ? r[i - 1] : null;
  const next = i < r.length ? r[i] : null;
  if ((prev && ((prev.seq - una) | 0) + prev.length > start) || (next && ((next.seq - una) | 0) < start + length)) {
    throw err('ERR_INVALID_ARG_VALUE', 'the range overlaps an object already mapped', { syscall: 'mapObject' });
  }
  r.splice(i, 0, { id, seq, offset, length });
  return seq;
}

/** The live object map of a socket (copies), pruned of acknowledged refs. */
export function objectMapOf(socket: Socket): CheckpointObjectRef[] {
  const conn = engineConnOf(socket);
  const st = getMapState(socket);
  if (!st) return [];
  if (conn) pruneRefs(st, conn.tcb.sndUna);
  return st.refs.map((o) => ({ ...o }));
}

// ------------------------------------------------------------------------------------------------
// Capture
// ------------------------------------------------------------------------------------------------

function concat(parts: Uint8Array[], total?: number): Uint8Array {
  if (parts.length === 1 && (total === undefined || total === parts[0].length)) return parts[0];
  const n = total ?? parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Bytes pushed into the Readable but not read by the application yet (in order). */
function readableBuffered(s: Duplex): Uint8Array[] {
  const rs = (s as unknown as { _readableState?: { buffer?: unknown; encoding?: BufferEncoding | null } })._readableState;
  const out: Uint8Array[] = [];
  const b = rs?.buffer as unknown;
  if (!b) return out;
  // With setEncoding() the buffer holds decoded strings: encode them back (a multi-byte
  // character split across chunks still inside the decoder is not recovered).
  const add = (c: unknown): void => {
    if (c instanceof Uint8Array) out.push(c);
    else if (typeof c === 'string' && c.length > 0) out.push(Buffer.from(c, rs?.encoding ?? 'utf8'));
  };
  if (Array.isArray(b)) {
    // An array with a start index (recent Node versions).
    const start = (rs as { bufferIndex?: number }).bufferIndex ?? 0;
    for (let i = start; i < b.length; i++) add(b[i]);
    return out;
  }
  // Older Node: a BufferList (linked list).
  for (let n = (b as { head?: { data: unknown; next: unknown } | null }).head; n; n = n.next as typeof n) add(n.data);
  return out;
}

/** Bytes given to write() that the engine has not taken yet (the socket's pending part, then the Writable buffer). */
function writablePending(s: Socket): Uint8Array[] {
  const out: Uint8Array[] = [];
  const rest = (s as unknown as { _wrRest: Uint8Array | null })._wrRest;
  if (rest && rest.length > 0) out.push(rest);
  const ws = (s as unknown as { _writableState?: { getBuffer?: () => Array<{ chunk: unknown }> } })._writableState;
  const buf = ws?.getBuffer?.() ?? [];
  for (const e of buf) if (e.chunk instanceof Uint8Array && e.chunk.length > 0) out.push(e.chunk);
  return out;
}

/** Literal ranges minus the object-mapped coverage, all relative to `una` (modulo 2^32). */
function subtractRefs(ranges: TcpByteRange[], refs: CheckpointObjectRef[], una: number): TcpByteRange[] {
  if (refs.length === 0) return ranges;
  const out: TcpByteRange[] = [];
  for (const rg of ranges) {
    let s = (rg.seq - una) >>> 0;
    const e = s + rg.data.length;
    const base = s;
    for (const o of refs) {
      if (s >= e) break;
      const os = (o.seq - una) | 0;
      const oe = os + o.length;
      if (oe <= s || os >= e) continue;
      if (os > s) out.push({ seq: (una + s) >>> 0, data: rg.data.subarray(s - base, os - base) });
      s = Math.max(s, oe);
    }
    if (s < e) out.push({ seq: (una + s) >>> 0, data: rg.data.subarray(s - base, e - base) });
  }
  return out;
}

/** The engine's send queue minus the object-mapped coverage, copying only the uncovered bytes. */
function queueLiterals(conn: TcpConn, refs: CheckpointObjectRef[], una: number): TcpByteRange[] {
  const t = conn.tcb;
  const len = t.sendBuf.length;
  if (len === 0) return [];
  const out: TcpByteRange[] = [];
  const base = (t.bufSeq - una) >>> 0;
  const e = base + len;
  let s = base;
  const copy = (from: number, to: number): void => {
    const data = new Uint8Array(to - from);
    t.sendBuf.copyOut(from - base, to - from, data, 0);
    out.push({ seq: (una + from) >>> 0, data });
  };
  for (const o of refs) {
    if (s >= e) break;
    const os = (o.seq - una) | 0;
    const oe = os + o.length;
    if (oe <= s || os >= e) continue;
    if (os > s) copy(s, os);
    s = Math.max(s, oe);
  }
  if (s < e) copy(s, e);
  return out;
}

function hostOf(socket: Socket): CheckpointHost {
  const h = (socket as unknown as { _stack: CheckpointHost | null })._stack;
  if (!h || !h.tcp || !h.engine) throw err('ENOTCONN', 'the socket has no stack', { syscall: 'checkpoint' });
  return h;
}

/**
 * `socket.checkpoint()`: a TcpCheckpoint of the connection (states ESTABLISHED, CLOSE_WAIT,
 * FIN_WAIT_1/2, CLOSING, LAST_ACK; others throw ERR_CHECKPOINT_UNSUPPORTED_STATE).
 */
export function captureSocket(socket: Socket, opts: TcpCaptureOptions = {}): TcpCheckpoint {
  const host = hostOf(socket);
  const h = socket.connection;
  if (h instanceof RestoredHandle && h.holding) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', 'cannot checkpoint a restored connection before it is ready', { syscall: 'checkpoint' });
  const conn = engineConnOf(socket);
  if (!conn || conn.removed) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', `cannot checkpoint a TCP connection in ${conn ? 'CLOSED' : 'no connection'}`, { syscall: 'checkpoint' });
  return captureConn(host, conn, socket, opts);
}

/** Capture an engine connection, with the stream buffers of `socket` when given. */
export function captureConn(host: CheckpointHost, conn: TcpConn, socket: Socket | null, opts: TcpCaptureOptions = {}): TcpCheckpoint {
  const now = host.clock.now();
  const t = conn.tcb;
  // The object map first: in object-mapped mode the engine's queue is copied only where no
  // object covers it (copying a 4 MiB queue of mapped bytes whole, then cutting them away, made
  // each progress checkpoint of a download cost 1–2 ms; docs/ha.md "Replication cost").
  let refs: CheckpointObjectRef[] = [];
  if (socket) {
    const st = getMapState(socket);
    if (st) {
      pruneRefs(st, t.sndUna);
      refs = st.refs.map((o) => ({ ...o }));
    }
  }
  const literalOnly = opts.mode !== 'full' && refs.length > 0;
  const sec = host.tcp.captureTcp(conn, now, literalOnly ? { sendData: false } : {});
  const una = sec.sndUna;
  // Literal send bytes: the engine's queue, a gap the application still owes (restored,
  // object-mapped, not refilled yet), then what waits in the Node streams.
  const ranges: TcpByteRange[] = literalOnly ? queueLiterals(conn, refs, una) : sec.sendRanges.slice();
  if (socket && (sec.state === 'ESTABLISHED' || sec.state === 'CLOSE_WAIT')) {
    const pend = writablePending(socket);
    if (pend.length > 0) {
      const data = concat(pend);
      ranges.push({ seq: (una + sec.sendLength) >>> 0, data });
      sec.sendLength += data.length;
    }
  }
  if (socket && socket.writableEnded && (sec.state === 'ESTABLISHED' || sec.state === 'CLOSE_WAIT')) {
    // The application called end() but the Writable still holds data, so the engine has not
    // been told yet: CLOSE is queued behind that data (RFC 9293 §3.10.4), and that is what the
    // checkpoint says — the restored connection sends its FIN after the last byte.
    sec.state = sec.state === 'ESTABLISHED' ? 'FIN_WAIT_1' : 'LAST_ACK';
    sec.finSeq = (una + sec.sendLength) >>> 0;
    sec.finSent = false;
  }
  sec.sendRanges = opts.mode === 'full' ? ranges : subtractRefs(ranges, refs, una);
  // Unread received bytes: the Readable's buffer comes before what the engine holds.
  if (socket) {
    const rb = readableBuffered(socket);
    if (rb.length > 0) sec.recvBuffer = concat(sec.recvBuffer.length > 0 ? [...rb, sec.recvBuffer] : rb);
  }
  if (socket) sec.options.allowHalfOpen = socket.allowHalfOpen;
  const eng = host.engine;
  const arp = eng.arpCache.get(t.remoteAddress);
  const meta = { version: CHECKPOINT_VERSION, nodeId: host.nodeId, takenAt: Date.now(), takenAtMono: Math.max(0, now) };
  const link = { localMac: Uint8Array.from(eng.mac), peerMac: arp?.mac ? Uint8Array.from(arp.mac) : null };
  const ip = { localAddress: t.localAddress >>> 0, remoteAddress: t.remoteAddress >>> 0, ttl: eng.ttl, tos: 0 };
  // Each object gets all its keys in one literal (a key added later lives in a separate,
  // slower property store: encode and validation read every field).
  let cp: TcpCheckpoint;
  if (opts.app || refs.length > 0) {
    const protocol = opts.app?.protocol ?? 'tcp';
    const state = opts.app?.state;
    const app: CheckpointApp = state === undefined ? { protocol, objects: refs } : { protocol, objects: refs, state };
    cp = { kind: 'tcp', meta, link, ip, tcp: sec, app };
  } else cp = { kind: 'tcp', meta, link, ip, tcp: sec };
  return cp;
}

// ------------------------------------------------------------------------------------------------
// Restore
// ------------------------------------------------------------------------------------------------

const NO_RESTORE_OPTIONS: TcpRestoreOptions = Object.freeze({});

const NOOP_EVENTS: TcpConnectionEvents = {
  onEstablished() {},
  onData() {},
  onFin() {},
  onSendSpace() {},
  onClosed() {},
};

/**
 * The handle a restored Socket talks to. It holds the application's writes (send() takes 0
 * bytes, as with a full buffer) and its shutdown until the engine connection is ready and the
 * left-out part of the send queue has been refilled, then lets them through (onSendSpace).
 */
export class RestoredHandle implements TcpConnectionHandle, TcpConnectionEvents {
  /** Writes are held (not ready yet, or refilling). */
  holding = true;
  private sink: TcpConnectionEvents = NOOP_EVENTS;
  private shutdownHeld = false;
  private readonly userTimeout: number;
  /** Stream position 0 of the restored socket: the end of the restored send queue. */
  readonly mapBase: number;
  /** The socket's object map (see mapObject), created on first use. */
  mapState: MapState | null = null;

  /**
   * The checkpoint and the restore options, needed until 'ready' (refill, FIN, onReady); dropped
   * then, so a long-lived restored connection does not keep the checkpoint's buffers alive.
   */
  private cp: TcpCheckpoint | null;
  private opts: TcpRestoreOptions;

  constructor(
    readonly inner: TcpConn,
    cp: TcpCheckpoint,
    opts: TcpRestoreOptions,
    readonly host: CheckpointHost,
  ) {
    this.cp = cp;
    this.opts = opts;
    this.userTimeout = inner.tcb.userTimeout;
    this.mapBase = (cp.tcp.sndUna + cp.tcp.sendLength) >>> 0;
  }

  /** The Socket that owns this handle (set by restoreTcpSocket). */
  socket: Socket | null = null;

  get state(): TcpStateName {
    return this.inner.state;
  }
  get localAddress(): number {
    return this.inner.localAddress;
  }
  get localPort(): number {
    return this.inner.localPort;
  }
  get remoteAddress(): number {
    return this.inner.remoteAddress;
  }
  get remotePort(): number {
    return this.inner.remotePort;
  }
  get bytesInFlightOrQueued(): number {
    return this.inner.bytesInFlightOrQueued;
  }
  /** The handle itself is the engine connection's event sink (methods below), forwarding to the socket's. */
  setEvents(events: TcpConnectionEvents): void {
    this.sink = events;
    this.inner.setEvents(this);
  }
  onEstablished(): void {
    this.sink.onEstablished();
  }
  onData(chunk: Uint8Array): void {
    this.sink.onData(chunk);
  }
  onFin(): void {
    this.sink.onFin();
  }
  onSendSpace(): void {
    if (!this.holding) this.sink.onSendSpace();
  }
  onClosed(e?: HastackError): void {
    this.sink.onClosed(e);
  }
  onReady(): void {
    this.onEngineReady();
  }
  send(data: Uint8Array): number {
    if (this.holding) return 0;
    return this.inner.send(data);
  }
  sendBufferAvailable(): number {
    return this.holding ? 0 : this.inner.sendBufferAvailable();
  }
  setReceivePaused(paused: boolean): void {
    this.inner.setReceivePaused(paused);
  }
  shutdown(): void {
    if (this.holding) this.shutdownHeld = true;
    else this.inner.shutdown();
  }
  abort(): void {
    this.inner.abort();
  }
  setNoDelay(noDelay: boolean): void {
    this.inner.setNoDelay(noDelay);
  }
  setKeepAlive(enable: boolean, initialDelayMs?: number): void {
    this.inner.setKeepAlive(enable, initialDelayMs);
  }
  info(): Record<string, unknown> {
    return { ...this.inner.info(), unready: this.holding };
  }

  /** The engine matched the peer's ACK: refill what the checkpoint left out, then release. */
  private onEngineReady(): void {
    this.inner.tcb.userTimeout = this.userTimeout;
    const t = this.inner.tcb;
    const need = t.fillRemaining;
    if (need > 0 && this.opts.objectSource && this.cp) {
      const start = (t.bufSeq + t.sendBuf.length) >>> 0;
      new Refill(this, start, need, this.cp, this.opts.objectSource).run();
      return;
    }
    this.release();
  }

  /** Ready: let held writes and shutdown through, emit 'ready'. */
  release(): void {
    if (!this.holding || this.inner.removed) return;
    this.holding = false;
    const cp = this.cp;
    const onReady = this.opts.onReady;
    this.cp = null;
    this.opts = NO_RESTORE_OPTIONS;
    const sink = this.sink;
    sink.onReady?.();
    if (this.socket && !this.socket.destroyed && onReady) onReady(this.socket);
    if (this.inner.removed) return;
    // The peer's FIN was consumed on the old host: this stream (a new one to its reader) ends
    // too. (With unread bytes the engine delivers the FIN after them itself.)
    if (cp && cp.tcp.finReceived && cp.tcp.recvBuffer.length === 0) sink.onFin();
    if (this.inner.removed) return;
    sink.onSendSpace();
    if (this.shutdownHeld && !this.inner.removed) {
      this.shutdownHeld = false;
      this.inner.shutdown();
    }
  }

  /** Abort (RST) with an error the socket sees. */
  fail(e: HastackError): void {
    if (this.inner.removed) return;
    this.host.tcp._abort(this.inner, e, true);
  }
}

/** Refills [start, start + need) of the send queue from literal ranges and the object source, in order. */
class Refill {
  private pos: number;
  private left: number;

  constructor(
    private readonly h: RestoredHandle,
    start: number,
    need: number,
    private readonly cp: TcpCheckpoint,
    private readonly source: ObjectSource,
  ) {
    this.pos = start;
    this.left = need;
  }

  /** Continue synchronously while the bytes are at hand; async sources resume it later. */
  run(): void {
    const h = this.h;
    const ranges = this.cp.tcp.sendRanges;
    const refs = this.cp.app?.objects ?? [];
    while (this.left > 0) {
      if (h.inner.removed) return;
      const pos = this.pos;
      // Literal bytes first (no I/O).
      let nextLit = Infinity;
      let done = false;
      for (const r of ranges) {
        const d = (pos - r.seq) >>> 0;
        if (d < r.data.length) {
          const n = Math.min(r.data.length - d, this.left);
          this.put(r.data.subarray(d, d + n));
          done = true;
          break;
        }
        const ahead = (r.seq - pos) | 0;
        if (ahead > 0 && ahead < nextLit) nextLit = ahead;
      }
      if (done) continue;
      const hit = objectRangeForSeq(refs, pos);
      if (!hit) {
        h.fail(err('ECONNABORTED', `restore: send byte at seq ${pos} is neither literal nor object-mapped`, { syscall: 'restore' }));
        return;
      }
      const inObj = hit.object.length - ((pos - hit.object.seq) >>> 0);
      const n = Math.min(inObj, this.left, nextLit);
      let src: ObjectBytes | Promise<ObjectBytes>;
      try {
        src = this.source(hit.object.id, hit.offset);
      } catch (e) {
        h.fail(err('ECONNABORTED', `restore: objectSource(${JSON.stringify(hit.object.id)}, ${hit.offset}) threw`, { syscall: 'restore', cause: e }));
        return;
      }
      if (src instanceof Uint8Array) {
        if (src.length < n) {
          this.short(hit.object.id, hit.offset, n, src.length);
          return;
        }
        this.put(src.subarray(0, n));
        continue;
      }
      // Asynchronous (a Readable, an async iterable or a promise): read n bytes, then go on.
      readBytes(src, n).then(
        (bytes) => {
          if (bytes.length < n) this.short(hit.object.id, hit.offset, n, bytes.length);
          else {
            this.put(bytes);
            this.run();
          }
        },
        (e) => h.fail(err('ECONNABORTED', `restore: reading object ${JSON.stringify(hit.object.id)} failed`, { syscall: 'restore', cause: e })),
      );
      return;
    }
    h.release();
  }

  private put(b: Uint8Array): void {
    if (this.h.inner.removed) return;
    const k = this.h.inner.send(b);
    // The engine sized the send buffer for the whole queue; a short take would break sequence order.
    if (k !== b.length) throw err('ENOBUFS', 'restore: the send buffer refused refilled bytes');
    this.pos = (this.pos + k) >>> 0;
    this.left -= k;
  }

  private short(id: string, offset: number, want: number, got: number): void {
    this.h.fail(err('ECONNABORTED', `restore: object ${JSON.stringify(id)} from ${offset} gave ${got} of ${want} bytes`, { syscall: 'restore' }));
  }
}

/** The first `n` bytes of a (possibly async) byte source. */
async function readBytes(src: ObjectBytes | Promise<ObjectBytes>, n: number): Promise<Uint8Array> {
  const s = await src;
  if (s instanceof Uint8Array) return s.subarray(0, Math.min(n, s.length));
  const parts: Uint8Array[] = [];
  let got = 0;
  for await (const c of s as AsyncIterable<Uint8Array>) {
    const chunk = typeof c === 'string' ? Buffer.from(c) : c;
    const k = Math.min(chunk.length, n - got);
    parts.push(k === chunk.length ? chunk : chunk.subarray(0, k));
    got += k;
    if (got >= n) break; // ends (and destroys) a Readable
  }
  return concat(parts, got);
}

/**
 * Restore a TCP checkpoint as an unready Socket (the checkpoint must be well formed:
 * `decodeCheckpoint` of @hastack/checkpoint validates field by field; `restoreCheckpoint`
 * (../checkpoint.ts) adds a structural check). Throws EADDRINUSE when the 4-tuple is taken and
 * EADDRNOTAVAIL when the local address is not ours — before changing anything.
 */
export function restoreTcpSocket(host: CheckpointHost, cp: TcpCheckpoint, opts: TcpRestoreOptions = {}): Socket {
  const eng = host.engine;
  const la = cp.ip.localAddress >>> 0;
  const ra = cp.ip.remoteAddress >>> 0;
  if (!eng.isLocalAddress(la)) throw err('EADDRNOTAVAIL', `restore: ${la >>> 24}.${(la >>> 16) & 255}.${(la >>> 8) & 255}.${la & 255} is not one of our addresses`, { syscall: 'restore' });
  const now = host.clock.now();
  const conn = host.tcp.restoreTcp(cp.tcp, { localAddress: la, remoteAddress: ra, events: NOOP_EVENTS, now }) as TcpConn;
  // Everything below only adds state for the new connection.
  const t = conn.tcb;
  // RFC 7323 §5 (PAWS): TSval continues at least at the last one sent plus the wall time since
  // the capture (the engine already placed it just above tsLastSent).
  if (t.tsOk) t.tsOffset = (t.tsOffset + Math.max(0, Math.floor(Date.now() - cp.meta.takenAt))) >>> 0;
  const peerMac = cp.link.peerMac;
  if (peerMac) {
    const known = eng.arpCache.get(ra);
    if (!known || !known.mac) eng.arpCache.confirm(ra, peerMac, 0, now, true);
  }
  const handle = new RestoredHandle(conn, cp, opts, host);
  // The solicitation gives up after readyTimeout; the connection's own userTimeout returns at 'ready'.
  if (opts.readyTimeout !== undefined) t.userTimeout = opts.readyTimeout;
  const socket = Socket.adopt(host as unknown as import('./socket.js').TcpApiHost, handle, {
    allowHalfOpen: cp.tcp.options.allowHalfOpen,
    readableHighWaterMark: opts.readableHighWaterMark,
    writableHighWaterMark: opts.writableHighWaterMark,
  });
  handle.socket = socket;
  // Stream position 0 of the restored socket follows the restored send queue (handle.mapBase).
  const objects = cp.app?.objects;
  if (objects !== undefined && objects.length > 0) {
    const refs: CheckpointObjectRef[] = [];
    for (const o of objects) {
      // Keep the refs inside the restored queue (the application maps what it writes next).
      const s = (o.seq - cp.tcp.sndUna) | 0;
      const room = cp.tcp.sendLength - s;
      if (room <= 0) continue;
      refs.push({ id: o.id, seq: o.seq, offset: o.offset, length: Math.min(o.length, room) });
    }
    handle.mapState = { base: handle.mapBase, refs };
  }
  return socket;
}

// ------------------------------------------------------------------------------------------------
// Socket methods
// ------------------------------------------------------------------------------------------------

declare module './socket.js' {
  interface Socket {
    /**
     * Checkpoint this connection (seed 003): link, IP, TCP and application sections, node id
     * and time. Throws ERR_CHECKPOINT_UNSUPPORTED_STATE outside ESTABLISHED, CLOSE_WAIT,
     * FIN_WAIT_1/2, CLOSING, LAST_ACK (and while a restored socket is not ready yet).
     */
    checkpoint(opts?: TcpCaptureOptions): TcpCheckpoint;
    /**
     * Bind the next `length` bytes written (or those at stream position `at`) to object `id`
     * from `offset` (seed 003 claim 22). Returns the TCP sequence number of the first of them.
     */
    mapObject(id: string, opts: MapObjectOptions): number;
  }
}

Socket.prototype.checkpoint = function checkpoint(this: Socket, opts?: TcpCaptureOptions): TcpCheckpoint {
  return captureSocket(this, opts);
};
Socket.prototype.mapObject = function (this: Socket, id: string, opts: MapObjectOptions): number {
  return mapObject(this, id, opts);
};
