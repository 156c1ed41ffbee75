/**
 * The positional wire form of a checkpoint body (format version 1).
 *
 * Read this first: msgpack maps spend most of their bytes and most of the encode/decode time on
 * key strings (measured: a 40-field map packs ~6x and unpacks ~15x slower than the same values in
 * an array). The body therefore encodes every fixed-schema section as a msgpack ARRAY whose
 * positions are defined here, once, for this format version. Optional fields occupy their slot
 * as nil. Only `app.state` (the application's free-form data) stays a msgpack map.
 *
 * `fromWire` checks only the shape it needs to build objects (arrays of the right lengths);
 * the caller then runs `validateCheckpoint` on the result for every type, range and
 * cross-field rule. Changing any position below requires a new format version.
 *
 *   body        = [1, meta, link, ip, tcp, app|nil]           kind tcp
 *               | [2, meta, link, ip, udp, app|nil]           kind udp
 *               | [3, meta, [member...], app|nil]              kind bundle (members are tcp/udp bodies)
 *   meta        = [version, nodeId, takenAt, takenAtMono]
 *   link        = [localMac, peerMac|nil]      MACs as 48-bit integers (a msgpack number is ~4x
 *                                              cheaper to pack than a 6-byte bin)
 *   ip          = [localAddress, remoteAddress, ttl, tos]
 *   app         = [protocol, [id, seq, offset, length, ...], state?]   (length 2: no state)
 *   tcp         = [state, localPort, remotePort, iss, irs, sndUna, sndNxt, sndMax, sndWnd, sndWl1,
 *                  sndWl2, rcvNxt, rcvWnd, sndWscale, rcvWscale, sndMss, rcvMss, sackPermitted,
 *                  timestamps, tsOffset, tsRecent, tsRecentAge, tsLastSent, cc, finSent,
 *                  finReceived, finSeq|nil, timers, options, sendLength, [seq, data, ...],
 *                  recvBuffer|nil, [seq, data, ...]|nil]   (recvBuffer nil = empty, the usual case)
 *   cc          = [algorithm, cwnd, ssthresh, srtt, rttvar, rto, recover|nil, cubic|nil]
 *   cubic       = [wMax, wLastMax|nil, k, epochStart|nil, wEst|nil, cwndEpoch|nil]
 *   timers      = [rtx, delack, persist, keepalive]   (nil = not armed)
 *   tcpOptions  = [noDelay, keepAlive, keepAliveInitialDelay, keepAliveInterval, keepAliveProbes,
 *                  userTimeout, sendBufferSize, receiveBufferSize, timeWait, allowHalfOpen] (nil = unset)
 *   udp         = [localPort, remotePort, [group, interfaceAddress, ...], udpOptions]
 *   udpOptions  = [broadcast, multicastTtl, multicastLoopback, multicastInterface, recvBufferSize,
 *                  sendBufferSize, reuseAddr]   (nil = unset)
 */
import {
  err,
  type Checkpoint,
  type CheckpointApp,
  type CheckpointMeta,
  type ConnectionCheckpoint,
  type TcpByteRange,
  type TcpCheckpointSection,
  type TcpCongestionState,
  type UdpCheckpointSection,
} from '@hastack/stack';

const KIND_TCP = 1;
const KIND_UDP = 2;
const KIND_BUNDLE = 3;

type W = unknown[];

function bad(field: string, reason: string): never {
  throw err('ERR_CHECKPOINT_INVALID', `${field}: ${reason}`, { info: { field, reason } });
}

function tuple(v: unknown, n: number, field: string): W {
  if (!Array.isArray(v) || v.length !== n) bad(field, `expected a ${n}-element array in the wire form`);
  return v;
}

/** nil on the wire ↔ undefined (absent) in the object form. */
const opt = (v: unknown): unknown => (v === null ? undefined : v);
const nil = (v: unknown): unknown => (v === undefined ? null : v);

// ---------------------------------------------------------------------------------------------
// object → wire (input already validated)

/** 6-byte MAC ↔ 48-bit integer (exact in a float64). */
function macW(m: Uint8Array): number {
  return m[0] * 0x10000000000 + m[1] * 0x100000000 + (((m[2] << 24) | (m[3] << 16) | (m[4] << 8) | m[5]) >>> 0);
}

function macO(v: unknown, field: string): Uint8Array {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v >= 2 ** 48) bad(field, 'expected a 48-bit MAC number in the wire form');
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

/** Shared zero-length buffer for the (usual) empty recvBuffer: it has no bytes to mutate. */
const EMPTY_BYTES = new Uint8Array(0);

function metaW(m: CheckpointMeta): W {
  return [m.version, m.nodeId, m.takenAt, m.takenAtMono];
}

function appW(a: CheckpointApp | undefined): W | null {
  if (a === undefined) return null;
  const objs: unknown[] = [];
  for (let i = 0; i < a.objects.length; i++) {
    const o = a.objects[i];
    objs.push(o.id, o.seq, o.offset, o.length);
  }
  return a.state === undefined ? [a.protocol, objs] : [a.protocol, objs, a.state];
}

function rangesW(r: TcpByteRange[]): W {
  const out: unknown[] = [];
  for (let i = 0; i < r.length; i++) out.push(r[i].seq, r[i].data);
  return out;
}

function ccW(c: TcpCongestionState): W {
  const q = c.cubic;
  return [
    c.algorithm, c.cwnd, c.ssthresh, c.srtt, c.rttvar, c.rto, nil(c.recover),
    q === undefined ? null : [q.wMax, nil(q.wLastMax), q.k, q.epochStart, nil(q.wEst), nil(q.cwndEpoch)],
  ];
}

function tcpW(t: TcpCheckpointSection): W {
  const tm = t.timers;
  const o = t.options;
  return [
    t.state, t.localPort, t.remotePort, t.iss, t.irs, t.sndUna, t.sndNxt, t.sndMax, t.sndWnd, t.sndWl1,
    t.sndWl2, t.rcvNxt, t.rcvWnd, t.sndWscale, t.rcvWscale, t.sndMss, t.rcvMss, t.sackPermitted,
    t.timestamps, t.tsOffset, t.tsRecent, t.tsRecentAge, t.tsLastSent, ccW(t.cc), t.finSent,
    t.finReceived, t.finSeq,
    [nil(tm.rtx), nil(tm.delack), nil(tm.persist), nil(tm.keepalive)],
    [
      nil(o.noDelay), nil(o.keepAlive), nil(o.keepAliveInitialDelay), nil(o.keepAliveInterval), nil(o.keepAliveProbes),
      nil(o.userTimeout), nil(o.sendBufferSize), nil(o.receiveBufferSize), nil(o.timeWait), nil(o.allowHalfOpen),
    ],
    t.sendLength, rangesW(t.sendRanges), t.recvBuffer.length === 0 ? null : t.recvBuffer,
    t.recvOutOfOrder === undefined ? null : rangesW(t.recvOutOfOrder),
  ];
}

function udpW(u: UdpCheckpointSection): W {
  const ms: unknown[] = [];
  for (let i = 0; i < u.multicast.length; i++) ms.push(u.multicast[i].group, u.multicast[i].interfaceAddress);
  const o = u.options;
  return [
    u.localPort, u.remotePort, ms,
    [nil(o.broadcast), nil(o.multicastTtl), nil(o.multicastLoopback), nil(o.multicastInterface), nil(o.recvBufferSize), nil(o.sendBufferSize), nil(o.reuseAddr)],
  ];
}

function connW(c: ConnectionCheckpoint): W {
  const head = [
    metaW(c.meta),
    [macW(c.link.localMac), c.link.peerMac === null ? null : macW(c.link.peerMac)],
    [c.ip.localAddress, c.ip.remoteAddress, c.ip.ttl, c.ip.tos],
  ];
  return c.kind === 'tcp'
    ? [KIND_TCP, head[0], head[1], head[2], tcpW(c.tcp), appW(c.app)]
    : [KIND_UDP, head[0], head[1], head[2], udpW(c.udp), appW(c.app)];
}

/** The positional form of a validated checkpoint. */
export function toWire(cp: Checkpoint): W {
  if (cp.kind === 'bundle') return [KIND_BUNDLE, metaW(cp.meta), cp.members.map(connW), appW(cp.app)];
  return connW(cp);
}

// ---------------------------------------------------------------------------------------------
// wire → object (shape only; validateCheckpoint does the rest)

function metaO(v: unknown, p: string): CheckpointMeta {
  const m = tuple(v, 4, p + 'meta');
  return { version: m[0], nodeId: m[1], takenAt: m[2], takenAtMono: m[3] } as CheckpointMeta;
}

function appO(v: unknown, p: string): CheckpointApp | undefined {
  if (v === null) return undefined;
  if (!Array.isArray(v) || (v.length !== 2 && v.length !== 3)) bad(p + 'app', 'expected a 2- or 3-element array in the wire form');
  const flat = v[1];
  if (!Array.isArray(flat) || flat.length % 4 !== 0) bad(p + 'app.objects', 'expected a flat array of 4-tuples');
  const objects = new Array(flat.length / 4);
  for (let i = 0, j = 0; j < flat.length; i++, j += 4) objects[i] = { id: flat[j], seq: flat[j + 1], offset: flat[j + 2], length: flat[j + 3] };
  const app = { protocol: v[0], objects } as CheckpointApp;
  if (v.length === 3) app.state = v[2];
  return app;
}

function rangesO(v: unknown, field: string): TcpByteRange[] {
  if (!Array.isArray(v) || v.length % 2 !== 0) bad(field, 'expected a flat array of (seq, data) pairs');
  const out = new Array(v.length / 2);
  for (let i = 0, j = 0; j < v.length; i++, j += 2) out[i] = { seq: v[j], data: v[j + 1] };
  return out;
}

function ccO(v: unknown, p: string): TcpCongestionState {
  const c = tuple(v, 8, p + 'tcp.cc');
  const cc = { algorithm: c[0], cwnd: c[1], ssthresh: c[2], srtt: c[3], rttvar: c[4], rto: c[5] } as TcpCongestionState;
  if (c[6] !== null) cc.recover = c[6] as number;
  if (c[7] !== null) {
    const q = tuple(c[7], 6, p + 'tcp.cc.cubic');
    const cubic = { wMax: q[0], k: q[2], epochStart: q[3] } as NonNullable<TcpCongestionState['cubic']>;
    if (q[1] !== null) cubic.wLastMax = q[1] as number;
    if (q[4] !== null) cubic.wEst = q[4] as number;
    if (q[5] !== null) cubic.cwndEpoch = q[5] as number;
    cc.cubic = cubic;
  }
  return cc;
}

function setOpt(o: Record<string, unknown>, k: string, v: unknown): void {
  if (v !== null) o[k] = v;
}

function tcpO(v: unknown, p: string): TcpCheckpointSection {
  const t = tuple(v, 33, p + 'tcp');
  const tw = tuple(t[27], 4, p + 'tcp.timers');
  const timers: Record<string, unknown> = {};
  setOpt(timers, 'rtx', tw[0]);
  setOpt(timers, 'delack', tw[1]);
  setOpt(timers, 'persist', tw[2]);
  setOpt(timers, 'keepalive', tw[3]);
  const ow = tuple(t[28], 10, p + 'tcp.options');
  const options: Record<string, unknown> = {};
  setOpt(options, 'noDelay', ow[0]);
  setOpt(options, 'keepAlive', ow[1]);
  setOpt(options, 'keepAliveInitialDelay', ow[2]);
  setOpt(options, 'keepAliveInterval', ow[3]);
  setOpt(options, 'keepAliveProbes', ow[4]);
  setOpt(options, 'userTimeout', ow[5]);
  setOpt(options, 'sendBufferSize', ow[6]);
  setOpt(options, 'receiveBufferSize', ow[7]);
  setOpt(options, 'timeWait', ow[8]);
  setOpt(options, 'allowHalfOpen', ow[9]);
  const tcp = {
    state: t[0], localPort: t[1], remotePort: t[2], iss: t[3], irs: t[4], sndUna: t[5], sndNxt: t[6], sndMax: t[7],
    sndWnd: t[8], sndWl1: t[9], sndWl2: t[10], rcvNxt: t[11], rcvWnd: t[12], sndWscale: t[13], rcvWscale: t[14],
    sndMss: t[15], rcvMss: t[16], sackPermitted: t[17], timestamps: t[18], tsOffset: t[19], tsRecent: t[20],
    tsRecentAge: t[21], tsLastSent: t[22], cc: ccO(t[23], p), finSent: t[24], finReceived: t[25], finSeq: t[26],
    timers, options, sendLength: t[29], sendRanges: rangesO(t[30], p + 'tcp.sendRanges'),
    recvBuffer: (t[31] === null ? EMPTY_BYTES : t[31]) as Uint8Array,
  } as TcpCheckpointSection;
  if (t[32] !== null) tcp.recvOutOfOrder = rangesO(t[32], p + 'tcp.recvOutOfOrder');
  return tcp;
}

function udpO(v: unknown, p: string): UdpCheckpointSection {
  const u = tuple(v, 4, p + 'udp');
  const flat = u[2];
  if (!Array.isArray(flat) || flat.length % 2 !== 0) bad(p + 'udp.multicast', 'expected a flat array of (group, interface) pairs');
  const multicast = new Array(flat.length / 2);
  for (let i = 0, j = 0; j < flat.length; i++, j += 2) multicast[i] = { group: flat[j], interfaceAddress: flat[j + 1] };
  const ow = tuple(u[3], 7, p + 'udp.options');
  const options: Record<string, unknown> = {};
  setOpt(options, 'broadcast', ow[0]);
  setOpt(options, 'multicastTtl', ow[1]);
  setOpt(options, 'multicastLoopback', ow[2]);
  setOpt(options, 'multicastInterface', ow[3]);
  setOpt(options, 'recvBufferSize', ow[4]);
  setOpt(options, 'sendBufferSize', ow[5]);
  setOpt(options, 'reuseAddr', ow[6]);
  return { localPort: u[0], remotePort: u[1], multicast, options } as UdpCheckpointSection;
}

function connO(v: unknown, p: string): ConnectionCheckpoint {
  const c = tuple(v, 6, p === '' ? 'body' : p.slice(0, -1));
  const l = tuple(c[2], 2, p + 'link');
  const ip = tuple(c[3], 4, p + 'ip');
  const meta = metaO(c[1], p);
  const link = { localMac: macO(l[0], p + 'link.localMac'), peerMac: l[1] === null ? null : macO(l[1], p + 'link.peerMac') };
  const ipO = { localAddress: ip[0], remoteAddress: ip[1], ttl: ip[2], tos: ip[3] } as ConnectionCheckpoint['ip'];
  let out: ConnectionCheckpoint;
  if (c[0] === KIND_TCP) out = { kind: 'tcp', meta, link, ip: ipO, tcp: tcpO(c[4], p) };
  else if (c[0] === KIND_UDP) out = { kind: 'udp', meta, link, ip: ipO, udp: udpO(c[4], p) };
  else bad(p + 'kind', `unknown kind code ${String(c[0]).slice(0, 16)}`);
  const app = appO(c[5], p);
  if (app !== undefined) out.app = app;
  return out;
}

/** Build the object form from a decoded wire body. Throws ERR_CHECKPOINT_INVALID on a bad shape. */
export function fromWire(v: unknown, maxMembers: number): Checkpoint {
  if (!Array.isArray(v) || v.length === 0) bad('body', 'expected an array');
  if (v[0] !== KIND_BUNDLE) return connO(v, '');
  const b = tuple(v, 4, 'body');
  const ms = b[2];
  if (!Array.isArray(ms)) bad('members', 'expected an array');
  if (ms.length > maxMembers) bad('members', `too many entries: ${ms.length} > ${maxMembers}`);
  const members = new Array(ms.length);
  for (let i = 0; i < ms.length; i++) {
    const p = `members[${i}].`;
    const m = ms[i];
    if (Array.isArray(m) && m[0] === KIND_BUNDLE) bad(p + 'kind', "bundle members are 'tcp' or 'udp'");
    members[i] = connO(m, p);
  }
  const out: Checkpoint = { kind: 'bundle', meta: metaO(b[1], ''), members };
  const app = appO(b[3], '');
  if (app !== undefined) out.app = app;
  return out;
}
