/**
 * Hand-written msgpack codec for the positional wire form (format version 1, wire.ts).
 *
 * Read this first:
 * - `writeCheckpointBody(w, cp)` writes EXACTLY the bytes msgpackr produced for
 *   `packr.pack(toWire(cp))` with format.ts's old options (no records, float64 for non-integers,
 *   smallest integer form, str8 allowed, maps of app.state always as map16, Uint8Array as bin,
 *   undefined as fixext 1 type 0): the format did not change, only the code that writes it.
 *   test/codec.test.ts checks the bytes against msgpackr on many checkpoints.
 * - `readCheckpointBody(src, start, end, maxMembers)` parses a body straight into the object
 *   form (what `fromWire(unpack(body))` returned): no intermediate arrays, the same shape errors
 *   as wire.ts, and any msgpack encoding of a value is accepted where the old decoder accepted it
 *   (float32, uint64, non-minimal integers...). The caller still runs `validateCheckpoint`.
 * - Hostile input (a correctly signed but malformed body: a compromised node, a bug) is refused
 *   with ERR_CHECKPOINT_INVALID: every read is bounds-checked, array/map lengths are checked
 *   against the bytes left before anything is allocated, nesting is bounded.
 * - One module-level writer buffer is reused across calls (no per-call growth or garbage); the
 *   encoder copies the finished frame out of it.
 *
 * Why: msgpackr's generic pack/unpack of the positional form cost ~1.7 / 1.5 µs per connection
 * plus the wire arrays (toWire/fromWire); this is a fraction of that (docs/checkpoint.md, Costs).
 */
import { err, type Checkpoint, type CheckpointApp, type CheckpointMeta, type ConnectionCheckpoint, type TcpByteRange, type TcpCheckpointSection, type TcpCongestionState, type UdpCheckpointSection } from '@hastack/stack';

const KIND_TCP = 1;
const KIND_UDP = 2;
const KIND_BUNDLE = 3;

// ----------------------------------------------------------------------------------------------
// Writer

/**
 * A growable output buffer. `pos` is the write position; `start` where the current frame began
 * (growth keeps only [start, pos), rebased to 0).
 */
export class Writer {
  buf: Buffer;
  view: DataView;
  pos = 0;
  start = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafeSlow(size);
    this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
  }

  /** Make room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const used = this.pos - this.start;
    let size = Math.max(4096, this.buf.length);
    while (size < used + n) size *= 2;
    const b = Buffer.allocUnsafeSlow(size);
    b.set(this.buf.subarray(this.start, this.pos), 0);
    this.buf = b;
    this.view = new DataView(b.buffer, b.byteOffset, b.byteLength);
    this.start = 0;
    this.pos = used;
  }
}

function wNil(w: Writer): void {
  w.ensure(1);
  w.buf[w.pos++] = 0xc0;
}

function wBool(w: Writer, v: boolean): void {
  w.ensure(1);
  w.buf[w.pos++] = v ? 0xc3 : 0xc2;
}

/** A number, as msgpackr writes it: the smallest int form for 32-bit integers, else float64. */
function wNum(w: Writer, v: number): void {
  w.ensure(9);
  const b = w.buf;
  let p = w.pos;
  if (v >>> 0 === v) {
    if (v < 0x80) b[p++] = v;
    else if (v < 0x100) {
      b[p++] = 0xcc;
      b[p++] = v;
    } else if (v < 0x10000) {
      b[p++] = 0xcd;
      b[p++] = v >> 8;
      b[p++] = v & 0xff;
    } else {
      b[p++] = 0xce;
      b[p++] = v >>> 24;
      b[p++] = (v >>> 16) & 0xff;
      b[p++] = (v >>> 8) & 0xff;
      b[p++] = v & 0xff;
    }
  } else if (v >> 0 === v) {
    if (v >= -0x20) b[p++] = 0x100 + v;
    else if (v >= -0x80) {
      b[p++] = 0xd0;
      b[p++] = v + 0x100;
    } else if (v >= -0x8000) {
      b[p++] = 0xd1;
      b[p++] = (v >> 8) & 0xff;
      b[p++] = v & 0xff;
    } else {
      b[p++] = 0xd2;
      b[p++] = (v >>> 24) & 0xff;
      b[p++] = (v >>> 16) & 0xff;
      b[p++] = (v >>> 8) & 0xff;
      b[p++] = v & 0xff;
    }
  } else {
    b[p++] = 0xcb;
    w.view.setFloat64(p, v);
    p += 8;
  }
  w.pos = p;
}

/** A number or nil (for optional fields: undefined and null are both nil). */
function wOptNum(w: Writer, v: number | null | undefined): void {
  if (v === undefined || v === null) wNil(w);
  else wNum(w, v);
}

function wOptBool(w: Writer, v: boolean | undefined): void {
  if (v === undefined) wNil(w);
  else wBool(w, v);
}

function wArr(w: Writer, n: number): void {
  w.ensure(5);
  const b = w.buf;
  if (n < 0x10) b[w.pos++] = 0x90 | n;
  else if (n < 0x10000) {
    b[w.pos++] = 0xdc;
    b[w.pos++] = n >> 8;
    b[w.pos++] = n & 0xff;
  } else {
    b[w.pos++] = 0xdd;
    w.view.setUint32(w.pos, n);
    w.pos += 4;
  }
}

/**
 * A string, as msgpackr writes it: short strings (< 64 UTF-16 units) encoded by hand (a lone
 * surrogate becomes its 3-byte form), longer ones with Buffer's UTF-8 encoder; header by byte
 * length (fixstr, str8, str16, str32).
 */
function wStr(w: Writer, s: string): void {
  const n = s.length;
  if (n < 0x40) {
    w.ensure(2 + n * 3);
    const b = w.buf;
    const hdr = n < 0x20 ? 1 : 2;
    let p = w.pos + hdr;
    for (let i = 0; i < n; i++) {
      let c1 = s.charCodeAt(i);
      let c2: number;
      if (c1 < 0x80) b[p++] = c1;
      else if (c1 < 0x800) {
        b[p++] = (c1 >> 6) | 0xc0;
        b[p++] = (c1 & 0x3f) | 0x80;
      } else if ((c1 & 0xfc00) === 0xd800 && ((c2 = s.charCodeAt(i + 1)) & 0xfc00) === 0xdc00) {
        c1 = 0x10000 + ((c1 & 0x03ff) << 10) + (c2 & 0x03ff);
        i++;
        b[p++] = (c1 >> 18) | 0xf0;
        b[p++] = ((c1 >> 12) & 0x3f) | 0x80;
        b[p++] = ((c1 >> 6) & 0x3f) | 0x80;
        b[p++] = (c1 & 0x3f) | 0x80;
      } else {
        b[p++] = (c1 >> 12) | 0xe0;
        b[p++] = ((c1 >> 6) & 0x3f) | 0x80;
        b[p++] = (c1 & 0x3f) | 0x80;
      }
    }
    const len = p - w.pos - hdr;
    if (len < 0x20) {
      if (hdr === 2) b.copyWithin(w.pos + 1, w.pos + 2, p);
      b[w.pos] = 0xa0 | len;
      w.pos += 1 + len;
    } else {
      if (hdr === 1) b.copyWithin(w.pos + 2, w.pos + 1, p);
      b[w.pos] = 0xd9;
      b[w.pos + 1] = len;
      w.pos += 2 + len;
    }
    return;
  }
  const len = Buffer.byteLength(s, 'utf8');
  w.ensure(5 + len);
  const b = w.buf;
  if (len < 0x20) b[w.pos++] = 0xa0 | len;
  else if (len < 0x100) {
    b[w.pos++] = 0xd9;
    b[w.pos++] = len;
  } else if (len < 0x10000) {
    b[w.pos++] = 0xda;
    b[w.pos++] = len >> 8;
    b[w.pos++] = len & 0xff;
  } else {
    b[w.pos++] = 0xdb;
    w.view.setUint32(w.pos, len);
    w.pos += 4;
  }
  w.pos += b.write(s, w.pos, len, 'utf8');
}

function wBin(w: Writer, d: Uint8Array): void {
  const len = d.byteLength;
  w.ensure(5 + len);
  const b = w.buf;
  if (len < 0x100) {
    b[w.pos++] = 0xc4;
    b[w.pos++] = len;
  } else if (len < 0x10000) {
    b[w.pos++] = 0xc5;
    b[w.pos++] = len >> 8;
    b[w.pos++] = len & 0xff;
  } else {
    b[w.pos++] = 0xc6;
    w.view.setUint32(w.pos, len);
    w.pos += 4;
  }
  b.set(d, w.pos);
  w.pos += len;
}

/** 6-byte MAC as a 48-bit integer (wire.ts: a number is cheaper than a 6-byte bin). */
function wMac(w: Writer, m: Uint8Array): void {
  wNum(w, m[0] * 0x10000000000 + m[1] * 0x100000000 + (((m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5]) >>> 0));
}

const hasOwn = Object.prototype.hasOwnProperty;

/** Free-form plain data (app.state), as msgpackr's generic pack writes it. */
function wAny(w: Writer, v: unknown): void {
  switch (typeof v) {
    case 'string':
      return wStr(w, v);
    case 'number':
      return wNum(w, v);
    case 'boolean':
      return wBool(w, v);
    case 'undefined':
      // msgpackr: fixext 1, type 0, data 0.
      w.ensure(3);
      w.buf[w.pos++] = 0xd4;
      w.buf[w.pos++] = 0;
      w.buf[w.pos++] = 0;
      return;
    case 'object': {
      if (v === null) return wNil(w);
      if (v instanceof Uint8Array) return wBin(w, v);
      if (Array.isArray(v)) {
        wArr(w, v.length);
        for (let i = 0; i < v.length; i++) wAny(w, v[i]);
        return;
      }
      // A plain object (validated): always map16 with the count patched afterwards.
      const o = v as Record<string, unknown>;
      w.ensure(3);
      w.buf[w.pos] = 0xde;
      const at = w.pos + 1;
      w.pos += 3;
      let size = 0;
      const checkOwn = typeof (o as { hasOwnProperty?: unknown }).hasOwnProperty === 'function';
      for (const k in o) {
        if (checkOwn && !hasOwn.call(o, k)) continue;
        wStr(w, k);
        wAny(w, o[k]);
        size++;
      }
      if (size > 0xffff) throw err('ERR_CHECKPOINT_INVALID', 'app.state: a map with more than 65535 keys', { info: { field: 'app.state', reason: 'map too large' } });
      w.buf[at] = size >> 8;
      w.buf[at + 1] = size & 0xff;
      return;
    }
    default:
      throw err('ERR_CHECKPOINT_INVALID', `app.state: cannot encode a ${typeof v}`, { info: { field: 'app.state', reason: 'not plain data' } });
  }
}

function wMeta(w: Writer, m: CheckpointMeta): void {
  wArr(w, 4);
  wNum(w, m.version);
  wStr(w, m.nodeId);
  wNum(w, m.takenAt);
  wNum(w, m.takenAtMono);
}

function wApp(w: Writer, a: CheckpointApp | undefined): void {
  if (a === undefined) return wNil(w);
  const hasState = a.state !== undefined;
  wArr(w, hasState ? 3 : 2);
  wStr(w, a.protocol);
  const objs = a.objects;
  wArr(w, objs.length * 4);
  for (let i = 0; i < objs.length; i++) {
    const o = objs[i];
    wStr(w, o.id);
    wNum(w, o.seq);
    wNum(w, o.offset);
    wNum(w, o.length);
  }
  if (hasState) wAny(w, a.state);
}

function wRanges(w: Writer, r: TcpByteRange[]): void {
  wArr(w, r.length * 2);
  for (let i = 0; i < r.length; i++) {
    wNum(w, r[i].seq);
    wBin(w, r[i].data);
  }
}

function wCc(w: Writer, c: TcpCongestionState): void {
  wArr(w, 8);
  wStr(w, c.algorithm);
  wNum(w, c.cwnd);
  wNum(w, c.ssthresh);
  wNum(w, c.srtt);
  wNum(w, c.rttvar);
  wNum(w, c.rto);
  wOptNum(w, c.recover);
  const q = c.cubic;
  if (q === undefined) wNil(w);
  else {
    wArr(w, 6);
    wNum(w, q.wMax);
    wOptNum(w, q.wLastMax);
    wNum(w, q.k);
    wOptNum(w, q.epochStart);
    wOptNum(w, q.wEst);
    wOptNum(w, q.cwndEpoch);
  }
}

function wTcp(w: Writer, t: TcpCheckpointSection): void {
  wArr(w, 33);
  wStr(w, t.state);
  wNum(w, t.localPort);
  wNum(w, t.remotePort);
  wNum(w, t.iss);
  wNum(w, t.irs);
  wNum(w, t.sndUna);
  wNum(w, t.sndNxt);
  wNum(w, t.sndMax);
  wNum(w, t.sndWnd);
  wNum(w, t.sndWl1);
  wNum(w, t.sndWl2);
  wNum(w, t.rcvNxt);
  wNum(w, t.rcvWnd);
  wNum(w, t.sndWscale);
  wNum(w, t.rcvWscale);
  wNum(w, t.sndMss);
  wNum(w, t.rcvMss);
  wBool(w, t.sackPermitted);
  wBool(w, t.timestamps);
  wNum(w, t.tsOffset);
  wNum(w, t.tsRecent);
  wNum(w, t.tsRecentAge);
  wNum(w, t.tsLastSent);
  wCc(w, t.cc);
  wBool(w, t.finSent);
  wBool(w, t.finReceived);
  wOptNum(w, t.finSeq);
  const tm = t.timers;
  wArr(w, 4);
  wOptNum(w, tm.rtx);
  wOptNum(w, tm.delack);
  wOptNum(w, tm.persist);
  wOptNum(w, tm.keepalive);
  const o = t.options;
  wArr(w, 10);
  wOptBool(w, o.noDelay);
  wOptBool(w, o.keepAlive);
  wOptNum(w, o.keepAliveInitialDelay);
  wOptNum(w, o.keepAliveInterval);
  wOptNum(w, o.keepAliveProbes);
  wOptNum(w, o.userTimeout);
  wOptNum(w, o.sendBufferSize);
  wOptNum(w, o.receiveBufferSize);
  wOptNum(w, o.timeWait);
  wOptBool(w, o.allowHalfOpen);
  wNum(w, t.sendLength);
  wRanges(w, t.sendRanges);
  if (t.recvBuffer.length === 0) wNil(w);
  else wBin(w, t.recvBuffer);
  if (t.recvOutOfOrder === undefined) wNil(w);
  else wRanges(w, t.recvOutOfOrder);
}

function wUdp(w: Writer, u: UdpCheckpointSection): void {
  wArr(w, 4);
  wNum(w, u.localPort);
  wNum(w, u.remotePort);
  const ms = u.multicast;
  wArr(w, ms.length * 2);
  for (let i = 0; i < ms.length; i++) {
    wNum(w, ms[i].group);
    wNum(w, ms[i].interfaceAddress);
  }
  const o = u.options;
  wArr(w, 7);
  wOptBool(w, o.broadcast);
  wOptNum(w, o.multicastTtl);
  wOptBool(w, o.multicastLoopback);
  wOptNum(w, o.multicastInterface);
  wOptNum(w, o.recvBufferSize);
  wOptNum(w, o.sendBufferSize);
  wOptBool(w, o.reuseAddr);
}

function wConn(w: Writer, c: ConnectionCheckpoint): void {
  wArr(w, 6);
  wNum(w, c.kind === 'tcp' ? KIND_TCP : KIND_UDP);
  wMeta(w, c.meta);
  wArr(w, 2);
  wMac(w, c.link.localMac);
  if (c.link.peerMac === null) wNil(w);
  else wMac(w, c.link.peerMac);
  const ip = c.ip;
  wArr(w, 4);
  wNum(w, ip.localAddress);
  wNum(w, ip.remoteAddress);
  wNum(w, ip.ttl);
  wNum(w, ip.tos);
  if (c.kind === 'tcp') wTcp(w, c.tcp);
  else wUdp(w, c.udp);
  wApp(w, c.app);
}

/** Append the msgpack body of a validated checkpoint (byte-identical to msgpackr of toWire(cp)). */
export function writeCheckpointBody(w: Writer, cp: Checkpoint): void {
  if (cp.kind === 'bundle') {
    wArr(w, 4);
    wNum(w, KIND_BUNDLE);
    wMeta(w, cp.meta);
    const ms = cp.members;
    wArr(w, ms.length);
    for (let i = 0; i < ms.length; i++) wConn(w, ms[i]);
    wApp(w, cp.app);
    return;
  }
  wConn(w, cp);
}

/** The array header of a batch body (followed by that many checkpoint bodies). */
export function writeArrayHeader(w: Writer, n: number): void {
  wArr(w, n);
}

// ----------------------------------------------------------------------------------------------
// Reader

function bad(field: string, reason: string): never {
  throw err('ERR_CHECKPOINT_INVALID', `${field}: ${reason}`, { info: { field, reason } });
}

/** A refusal that names no field (the frame or the batch as a whole). */
function refuse(reason: string): never {
  throw err('ERR_CHECKPOINT_INVALID', reason, { info: { reason, field: '' } });
}

function malformed(reason: string): never {
  const r = `malformed msgpack body: ${reason}`;
  throw err('ERR_CHECKPOINT_INVALID', r, { info: { reason: r, field: '' } });
}

/** Nesting bound for free-form values while parsing (the validator's maxStateDepth is 32). */
const MAX_PARSE_DEPTH = 64;

// Floats are assembled from their big-endian words in a scratch buffer (no per-call allocation):
// two uint32 stores and a float64 load on a little-endian host, a DataView otherwise.
const scratchView = new DataView(new ArrayBuffer(8));
const f64 = new Float64Array(1);
const f64w = new Uint32Array(f64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const TWO_48 = 281474976710656;

/** Parse state: the source, its Buffer view (for string decoding), the position and the end. */
class Reader {
  src: Uint8Array = new Uint8Array(0);
  b: Buffer = Buffer.alloc(0);
  pos = 0;
  end = 0;

  reset(src: Uint8Array, start: number, end: number): void {
    this.src = src;
    this.b = Buffer.isBuffer(src) ? src : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
    this.pos = start;
    this.end = end;
  }

  /** Drop the references to the caller's bytes. */
  clear(): void {
    this.src = EMPTY;
    this.b = EMPTY_BUF;
  }
}

const EMPTY = new Uint8Array(0);
const EMPTY_BUF = Buffer.alloc(0);
const r = new Reader();

function need(n: number): void {
  if (r.pos + n > r.end) malformed(`unexpected end of data at byte ${r.pos}`);
}

function u8(): number {
  if (r.pos >= r.end) malformed(`unexpected end of data at byte ${r.pos}`);
  return r.src[r.pos++];
}

function u16(): number {
  need(2);
  const s = r.src;
  const p = r.pos;
  r.pos = p + 2;
  return (s[p] << 8) | s[p + 1];
}

function u32(): number {
  need(4);
  const s = r.src;
  const p = r.pos;
  r.pos = p + 4;
  return ((s[p] << 24) | (s[p + 1] << 16) | (s[p + 2] << 8) | s[p + 3]) >>> 0;
}

function f64be(): number {
  need(8);
  const s = r.src;
  const p = r.pos;
  r.pos = p + 8;
  const hi = ((s[p] << 24) | (s[p + 1] << 16) | (s[p + 2] << 8) | s[p + 3]) >>> 0;
  const lo = ((s[p + 4] << 24) | (s[p + 5] << 16) | (s[p + 6] << 8) | s[p + 7]) >>> 0;
  if (LITTLE_ENDIAN) {
    f64w[0] = lo;
    f64w[1] = hi;
    return f64[0];
  }
  scratchView.setUint32(0, hi);
  scratchView.setUint32(4, lo);
  return scratchView.getFloat64(0);
}

function f32be(): number {
  scratchView.setUint32(0, u32());
  return scratchView.getFloat32(0);
}

// Short ASCII strings repeat from checkpoint to checkpoint (node ids, states, algorithms,
// protocols, object ids). Each string field of the wire form remembers the last string it
// decoded (`strAt(slot)`); equal bytes return that string instead of building a new one.
const S_NODE = 0;
const S_STATE = 1;
const S_ALGO = 2;
const S_PROTO = 3;
const S_ID = 4;
const lastStr: string[] = ['', '', '', '', ''];

function str(len: number): string {
  need(len);
  const p = r.pos;
  r.pos = p + len;
  return r.b.toString('utf8', p, p + len);
}

/** A string field at a fixed position (`slot`): the last value when the bytes are equal; else as `val()`. */
function strAt(slot: number): unknown {
  const p = r.pos;
  if (p < r.end) {
    const s = r.src;
    const t = s[p];
    if (t >= 0xa0 && t < 0xc0) {
      const len = t & 0x1f;
      const q = p + 1;
      if (q + len <= r.end) {
        const last = lastStr[slot];
        if (last.length === len) {
          let i = 0;
          while (i < len && last.charCodeAt(i) === s[q + i]) i++;
          if (i === len) {
            r.pos = q + len;
            return last;
          }
        }
        r.pos = q + len;
        let ascii = true;
        for (let i = 0; i < len; i++) if (s[q + i] >= 0x80) ascii = false;
        if (!ascii) return r.b.toString('utf8', q, q + len);
        // Only ASCII strings are remembered: for them characters and bytes correspond one to one.
        const out = r.b.toString('latin1', q, q + len);
        lastStr[slot] = out;
        return out;
      }
    }
  }
  return val();
}

/** A copy of `len` bytes (a decoded checkpoint never aliases the caller's buffer). */
function bin(len: number): Uint8Array {
  need(len);
  const p = r.pos;
  r.pos = p + len;
  // Like msgpackr with copyBuffers: a Buffer for a Buffer input, else a Uint8Array.
  const out = r.src === r.b ? Buffer.allocUnsafeSlow(len) : new Uint8Array(len);
  out.set(r.src.subarray(p, p + len), 0);
  return out;
}

/** Any msgpack value as plain data (maps → objects, bin → copied bytes, fixext 1/0 → undefined). */
function readAny(depth: number): unknown {
  const t = u8();
  if (t < 0x80) return t;
  if (t >= 0xe0) return t - 0x100;
  if (t < 0x90) return readMap(t & 0x0f, depth);
  if (t < 0xa0) return readArr(t & 0x0f, depth);
  if (t < 0xc0) return str(t & 0x1f);
  switch (t) {
    case 0xc0: return null;
    case 0xc2: return false;
    case 0xc3: return true;
    case 0xc4: return bin(u8());
    case 0xc5: return bin(u16());
    case 0xc6: return bin(u32());
    case 0xca: return f32be();
    case 0xcb: return f64be();
    case 0xcc: return u8();
    case 0xcd: return u16();
    case 0xce: return u32();
    case 0xcf: {
      const hi = u32();
      return hi * 0x100000000 + u32();
    }
    case 0xd0: return (u8() << 24) >> 24;
    case 0xd1: return (u16() << 16) >> 16;
    case 0xd2: return u32() | 0;
    case 0xd3: {
      const hi = u32() | 0;
      return hi * 0x100000000 + u32();
    }
    case 0xd4: return ext(1);
    case 0xd5: return ext(2);
    case 0xd6: return ext(4);
    case 0xd7: return ext(8);
    case 0xd8: return ext(16);
    case 0xc7: return ext(u8());
    case 0xc8: return ext(u16());
    case 0xc9: return ext(u32());
    case 0xd9: return str(u8());
    case 0xda: return str(u16());
    case 0xdb: return str(u32());
    case 0xdc: return readArr(u16(), depth);
    case 0xdd: return readArr(u32(), depth);
    case 0xde: return readMap(u16(), depth);
    case 0xdf: return readMap(u32(), depth);
    default:
      return malformed(`unsupported msgpack type 0x${t.toString(16)}`);
  }
}

/** A msgpack extension value that is not plain data (the validator refuses it, naming its type). */
export class MsgpackExtension {
  constructor(readonly type: number, readonly length: number) {}
}

/**
 * An extension of `len` data bytes. fixext 1 type 0 data 0 is msgpackr's `undefined`; type −1 is
 * the msgpack timestamp, decoded to a Date as msgpackr did (so the validator's message names it);
 * anything else becomes a MsgpackExtension. None of these is valid where the validator looks.
 */
function ext(len: number): unknown {
  const type = (u8() << 24) >> 24;
  need(len);
  const s = r.src;
  const p = r.pos;
  r.pos = p + len;
  if (type === 0 && len === 1 && s[p] === 0) return undefined;
  if (type === -1) {
    if (len === 4) return new Date((((s[p] << 24) | (s[p + 1] << 16) | (s[p + 2] << 8) | s[p + 3]) >>> 0) * 1000);
    if (len === 8 || len === 12) return new Date(NaN);
  }
  return new MsgpackExtension(type, len);
}

function readArr(n: number, depth: number): unknown[] {
  if (depth >= MAX_PARSE_DEPTH) malformed('nested too deeply');
  if (n > r.end - r.pos) malformed(`array of ${n} entries longer than the data`);
  const out = new Array(n);
  for (let i = 0; i < n; i++) out[i] = readAny(depth + 1);
  return out;
}

function readMap(n: number, depth: number): Record<string, unknown> {
  if (depth >= MAX_PARSE_DEPTH) malformed('nested too deeply');
  if (n > (r.end - r.pos) / 2) malformed(`map of ${n} entries longer than the data`);
  const out: Record<string, unknown> = {};
  for (let i = 0; i < n; i++) {
    const k = readAny(depth + 1);
    let key: string;
    if (typeof k === 'string') key = k;
    else if (typeof k === 'number') key = String(k);
    else return malformed('map key is not a string or number');
    // As msgpackr did: never let a key reach the prototype.
    if (key === '__proto__') key = '__proto_';
    out[key] = readAny(depth + 1);
  }
  return out;
}

/** Array header: its length, or -1 if the next value is not an array. Consumes the header only if it is one. */
function arrHeader(): number {
  if (r.pos >= r.end) malformed(`unexpected end of data at byte ${r.pos}`);
  const t = r.src[r.pos];
  if (t >= 0x90 && t <= 0x9f) {
    r.pos++;
    return t & 0x0f;
  }
  if (t === 0xdc) {
    r.pos++;
    return u16();
  }
  if (t === 0xdd) {
    r.pos++;
    return u32();
  }
  return -1;
}

/** The next value must be an array of exactly `n` elements (the wire form's fixed tuples). */
function tuple(n: number, p: string, name: string): void {
  const len = arrHeader();
  if (len !== n) bad(p + name, `expected a ${n}-element array in the wire form`);
}

/** Peek for nil (consumes it). */
function isNil(): boolean {
  if (r.pos < r.end && r.src[r.pos] === 0xc0) {
    r.pos++;
    return true;
  }
  return false;
}

/** A scalar field: the usual forms inline, anything else through the generic reader (the validator judges it). */
function val(): unknown {
  const p = r.pos;
  if (p < r.end) {
    const s = r.src;
    const t = s[p];
    if (t < 0x80) {
      r.pos = p + 1;
      return t;
    }
    if (t === 0xce && p + 5 <= r.end) {
      r.pos = p + 5;
      return ((s[p + 1] << 24) | (s[p + 2] << 16) | (s[p + 3] << 8) | s[p + 4]) >>> 0;
    }
    if (t === 0xcd && p + 3 <= r.end) {
      r.pos = p + 3;
      return (s[p + 1] << 8) | s[p + 2];
    }
    if (t === 0xcc && p + 2 <= r.end) {
      r.pos = p + 2;
      return s[p + 1];
    }
    if (t === 0xc2 || t === 0xc3) {
      r.pos = p + 1;
      return t === 0xc3;
    }
    if (t === 0xcb && p + 9 <= r.end) {
      r.pos = p + 1;
      return f64be();
    }
    if (t === 0xc0) {
      r.pos = p + 1;
      return null;
    }
  }
  return readAny(0);
}

function macO(v: unknown, p: string, name: string): Uint8Array {
  if (typeof v !== 'number' || !(v >= 0 && v < TWO_48) || Math.floor(v) !== v) bad(p + name, 'expected a 48-bit MAC number in the wire form');
  const hi = Math.floor(v / 0x100000000);
  const lo = v >>> 0;
  const m = new Uint8Array(6);
  m[0] = hi >>> 8;
  m[1] = hi & 0xff;
  m[2] = lo >>> 24;
  m[3] = (lo >>> 16) & 0xff;
  m[4] = (lo >>> 8) & 0xff;
  m[5] = lo & 0xff;
  return m;
}

function rMeta(p: string): CheckpointMeta {
  tuple(4, p, 'meta');
  const version = val();
  const nodeId = strAt(S_NODE);
  const takenAt = val();
  const takenAtMono = val();
  return { version, nodeId, takenAt, takenAtMono } as CheckpointMeta;
}

function rApp(p: string): CheckpointApp | undefined {
  if (isNil()) return undefined;
  const n = arrHeader();
  if (n !== 2 && n !== 3) {
    if (n < 0) readAny(0);
    bad(p + 'app', 'expected a 2- or 3-element array in the wire form');
  }
  const protocol = strAt(S_PROTO);
  const flat = arrHeader();
  if (flat < 0 || flat % 4 !== 0) bad(p + 'app.objects', 'expected a flat array of 4-tuples');
  if (flat > r.end - r.pos) malformed(`array of ${flat} entries longer than the data`);
  const objects = new Array(flat / 4);
  for (let i = 0; i < objects.length; i++) {
    const id = strAt(S_ID);
    const seq = val();
    const offset = val();
    const length = val();
    objects[i] = { id, seq, offset, length };
  }
  if (n === 3) return { protocol, objects, state: readAny(0) } as CheckpointApp;
  return { protocol, objects } as CheckpointApp;
}

function rRanges(p: string, name: string): TcpByteRange[] {
  const n = arrHeader();
  if (n < 0 || n % 2 !== 0) bad(p + name, 'expected a flat array of (seq, data) pairs');
  if (n > r.end - r.pos) malformed(`array of ${n} entries longer than the data`);
  const out = new Array(n / 2);
  for (let i = 0; i < out.length; i++) {
    const seq = val();
    const data = readAny(0);
    out[i] = { seq, data };
  }
  return out;
}

/** "Absent" while an object is assembled (distinct from every decoded value). */
const NONE: unknown = Symbol('none');

function rCc(p: string): TcpCongestionState {
  tuple(8, p, 'tcp.cc');
  const algorithm = strAt(S_ALGO);
  const cwnd = val();
  const ssthresh = val();
  const srtt = val();
  const rttvar = val();
  const rto = val();
  const recover = isNil() ? NONE : val();
  let cubic: unknown = NONE;
  if (!isNil()) {
    tuple(6, p, 'tcp.cc.cubic');
    const wMax = val();
    const wLastMax = val();
    const k = val();
    const epochStart = val();
    const wEst = val();
    const cwndEpoch = val();
    if (wLastMax !== null && wEst !== null && cwndEpoch !== null) {
      // The usual case (the engine fills every field): one literal, no properties added later.
      cubic = { wMax, k, epochStart, wLastMax, wEst, cwndEpoch };
    } else {
      const q = { wMax, k, epochStart } as NonNullable<TcpCongestionState['cubic']>;
      if (wLastMax !== null) q.wLastMax = wLastMax as number;
      if (wEst !== null) q.wEst = wEst as number;
      if (cwndEpoch !== null) q.cwndEpoch = cwndEpoch as number;
      cubic = q;
    }
  }
  // Objects are built with all their keys in one literal where possible: a key added later goes
  // to a separately allocated property store, slower to build and to read.
  if (recover !== NONE && cubic !== NONE) return { algorithm, cwnd, ssthresh, srtt, rttvar, rto, recover, cubic } as TcpCongestionState;
  const cc = { algorithm, cwnd, ssthresh, srtt, rttvar, rto } as TcpCongestionState;
  if (recover !== NONE) cc.recover = recover as number;
  if (cubic !== NONE) cc.cubic = cubic as TcpCongestionState['cubic'];
  return cc;
}

// Optional fields: nil = absent. Named stores (a keyed store with a variable key into a fresh
// object is a slow generic store).
function rTimers(p: string): Record<string, unknown> {
  tuple(4, p, 'tcp.timers');
  const o: Record<string, unknown> = {};
  if (!isNil()) o.rtx = val();
  if (!isNil()) o.delack = val();
  if (!isNil()) o.persist = val();
  if (!isNil()) o.keepalive = val();
  return o;
}

function rTcpOptions(p: string): Record<string, unknown> {
  tuple(10, p, 'tcp.options');
  // The usual case (a captured connection: every option set, ten non-nil scalars): one literal.
  const at = r.pos;
  const noDelay = val();
  const keepAlive = val();
  const keepAliveInitialDelay = val();
  const keepAliveInterval = val();
  const keepAliveProbes = val();
  const userTimeout = val();
  const sendBufferSize = val();
  const receiveBufferSize = val();
  const timeWait = val();
  const allowHalfOpen = val();
  if (
    noDelay !== null && keepAlive !== null && keepAliveInitialDelay !== null && keepAliveInterval !== null && keepAliveProbes !== null &&
    userTimeout !== null && sendBufferSize !== null && receiveBufferSize !== null && timeWait !== null && allowHalfOpen !== null
  ) {
    return { noDelay, keepAlive, keepAliveInitialDelay, keepAliveInterval, keepAliveProbes, userTimeout, sendBufferSize, receiveBufferSize, timeWait, allowHalfOpen };
  }
  r.pos = at; // some are nil: read them again, adding only the present ones
  const o: Record<string, unknown> = {};
  if (!isNil()) o.noDelay = val();
  if (!isNil()) o.keepAlive = val();
  if (!isNil()) o.keepAliveInitialDelay = val();
  if (!isNil()) o.keepAliveInterval = val();
  if (!isNil()) o.keepAliveProbes = val();
  if (!isNil()) o.userTimeout = val();
  if (!isNil()) o.sendBufferSize = val();
  if (!isNil()) o.receiveBufferSize = val();
  if (!isNil()) o.timeWait = val();
  if (!isNil()) o.allowHalfOpen = val();
  return o;
}

function rUdpOptions(p: string): Record<string, unknown> {
  tuple(7, p, 'udp.options');
  const o: Record<string, unknown> = {};
  if (!isNil()) o.broadcast = val();
  if (!isNil()) o.multicastTtl = val();
  if (!isNil()) o.multicastLoopback = val();
  if (!isNil()) o.multicastInterface = val();
  if (!isNil()) o.recvBufferSize = val();
  if (!isNil()) o.sendBufferSize = val();
  if (!isNil()) o.reuseAddr = val();
  return o;
}

const EMPTY_BYTES = new Uint8Array(0);

function rTcp(p: string): TcpCheckpointSection {
  tuple(33, p, 'tcp');
  const state = strAt(S_STATE);
  const localPort = val();
  const remotePort = val();
  const iss = val();
  const irs = val();
  const sndUna = val();
  const sndNxt = val();
  const sndMax = val();
  const sndWnd = val();
  const sndWl1 = val();
  const sndWl2 = val();
  const rcvNxt = val();
  const rcvWnd = val();
  const sndWscale = val();
  const rcvWscale = val();
  const sndMss = val();
  const rcvMss = val();
  const sackPermitted = val();
  const timestamps = val();
  const tsOffset = val();
  const tsRecent = val();
  const tsRecentAge = val();
  const tsLastSent = val();
  const cc = rCc(p);
  const finSent = val();
  const finReceived = val();
  const finSeq = val();
  const timers = rTimers(p);
  const options = rTcpOptions(p);
  const sendLength = val();
  const sendRanges = rRanges(p, 'tcp.sendRanges');
  const recvBuffer = isNil() ? EMPTY_BYTES : readAny(0);
  if (isNil()) {
    return {
      state, localPort, remotePort, iss, irs, sndUna, sndNxt, sndMax, sndWnd, sndWl1, sndWl2, rcvNxt, rcvWnd,
      sndWscale, rcvWscale, sndMss, rcvMss, sackPermitted, timestamps, tsOffset, tsRecent, tsRecentAge, tsLastSent,
      cc, finSent, finReceived, finSeq, timers, options, sendLength, sendRanges, recvBuffer,
    } as TcpCheckpointSection;
  }
  const recvOutOfOrder = rRanges(p, 'tcp.recvOutOfOrder');
  return {
    state, localPort, remotePort, iss, irs, sndUna, sndNxt, sndMax, sndWnd, sndWl1, sndWl2, rcvNxt, rcvWnd,
    sndWscale, rcvWscale, sndMss, rcvMss, sackPermitted, timestamps, tsOffset, tsRecent, tsRecentAge, tsLastSent,
    cc, finSent, finReceived, finSeq, timers, options, sendLength, sendRanges, recvBuffer, recvOutOfOrder,
  } as TcpCheckpointSection;
}

function rUdp(p: string): UdpCheckpointSection {
  tuple(4, p, 'udp');
  const localPort = val();
  const remotePort = val();
  const n = arrHeader();
  if (n < 0 || n % 2 !== 0) bad(p + 'udp.multicast', 'expected a flat array of (group, interface) pairs');
  if (n > r.end - r.pos) malformed(`array of ${n} entries longer than the data`);
  const multicast = new Array(n / 2);
  for (let i = 0; i < multicast.length; i++) {
    const group = val();
    const interfaceAddress = val();
    multicast[i] = { group, interfaceAddress };
  }
  const options = rUdpOptions(p);
  return { localPort, remotePort, multicast, options } as UdpCheckpointSection;
}

/** One tcp/udp body; `kind` already read by the caller for bundles, else read here. */
function rConn(p: string, kind: unknown): ConnectionCheckpoint {
  const meta = rMeta(p);
  tuple(2, p, 'link');
  const lm = val();
  const localMac = macO(lm, p, 'link.localMac');
  const peerMac = isNil() ? null : macO(val(), p, 'link.peerMac');
  tuple(4, p, 'ip');
  const localAddress = val();
  const remoteAddress = val();
  const ttl = val();
  const tos = val();
  const ip = { localAddress, remoteAddress, ttl, tos } as ConnectionCheckpoint['ip'];
  const link = { localMac, peerMac };
  if (kind === KIND_TCP) {
    const tcp = rTcp(p);
    const app = rApp(p);
    return app === undefined ? { kind: 'tcp', meta, link, ip, tcp } : { kind: 'tcp', meta, link, ip, tcp, app };
  }
  if (kind !== KIND_UDP) bad(p + 'kind', `unknown kind code ${String(kind).slice(0, 16)}`);
  const udp = rUdp(p);
  const app = rApp(p);
  return app === undefined ? { kind: 'udp', meta, link, ip, udp } : { kind: 'udp', meta, link, ip, udp, app };
}

function rCheckpoint(maxMembers: number): Checkpoint {
  const n = arrHeader();
  if (n <= 0) {
    if (n < 0) readAny(0);
    bad('body', 'expected an array');
  }
  const kind = val();
  if (kind !== KIND_BUNDLE) {
    if (n !== 6) bad('body', 'expected a 6-element array in the wire form');
    return rConn('', kind);
  }
  if (n !== 4) bad('body', 'expected a 4-element array in the wire form');
  const meta = rMeta('');
  const m = arrHeader();
  if (m < 0) bad('members', 'expected an array');
  if (m > maxMembers) bad('members', `too many entries: ${m} > ${maxMembers}`);
  const members = new Array(m);
  for (let i = 0; i < m; i++) {
    const p = `members[${i}].`;
    const len = arrHeader();
    if (len < 0) {
      readAny(0);
      bad(`members[${i}]`, 'expected a 6-element array in the wire form');
    }
    if (len === 0) bad(`members[${i}]`, 'expected a 6-element array in the wire form');
    const k = val();
    if (k === KIND_BUNDLE) bad(p + 'kind', "bundle members are 'tcp' or 'udp'");
    if (len !== 6) bad(`members[${i}]`, 'expected a 6-element array in the wire form');
    members[i] = rConn(p, k);
  }
  const out: Checkpoint = { kind: 'bundle', meta, members };
  const app = rApp('');
  if (app !== undefined) out.app = app;
  return out;
}

/**
 * Parse the body `src[start, end)` of a single checkpoint into its object form (not validated
 * yet). Throws ERR_CHECKPOINT_INVALID on a bad shape, malformed msgpack or trailing bytes.
 */
export function readCheckpointBody(src: Uint8Array, start: number, end: number, maxMembers: number): Checkpoint {
  r.reset(src, start, end);
  try {
    const cp = rCheckpoint(maxMembers);
    if (r.pos !== r.end) malformed(`${r.end - r.pos} bytes after the checkpoint`);
    return cp;
  } finally {
    r.clear();
  }
}

/**
 * Parse a batch body: an array of checkpoint bodies. `each(i, cp)` is called with every parsed
 * (not yet validated) checkpoint; `maxCheckpoints` bounds the array before anything is built.
 * Errors inside member i are reported through `wrap(i, e)`.
 */
export function readBatchBody(
  src: Uint8Array,
  start: number,
  end: number,
  maxMembers: number,
  maxCheckpoints: number,
  each: (i: number, cp: Checkpoint) => void,
  wrap: (i: number, e: unknown) => unknown,
): number {
  r.reset(src, start, end);
  try {
    const n = arrHeader();
    if (n < 0) refuse('batch body is not an array');
    if (n > maxCheckpoints) refuse(`batch of ${n} checkpoints, more than ${maxCheckpoints}`);
    if (n > r.end - r.pos) malformed(`array of ${n} entries longer than the data`);
    for (let i = 0; i < n; i++) {
      let cp: Checkpoint;
      try {
        cp = rCheckpoint(maxMembers);
      } catch (e) {
        throw wrap(i, e);
      }
      // The callback validates; it may throw (already wrapped by the caller).
      const save = r.pos;
      const src0 = r.src;
      const b0 = r.b;
      const end0 = r.end;
      each(i, cp);
      r.src = src0;
      r.b = b0;
      r.pos = save;
      r.end = end0;
    }
    if (r.pos !== r.end) malformed(`${r.end - r.pos} bytes after the batch`);
    return n;
  } finally {
    r.clear();
  }
}
