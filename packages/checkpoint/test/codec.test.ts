/**
 * The hand-written codec (src/codec.ts) and HMAC (src/mac.ts) against the implementations they
 * replaced: msgpackr with the old options for the body, createHmac for the tag.
 * - Byte-exactness: `writeCheckpointBody` writes exactly `packr.pack(toWire(cp))` for fixtures,
 *   hundreds of randomized checkpoints (numbers of every msgpack size class, strings across the
 *   fixstr/str8/str16 and the 64-character boundaries, non-ASCII and lone surrogates, bins
 *   across bin8/bin16/bin32, nested app.state) and engine-captured ones. So frames written
 *   before this codec and after it are the same format version 1, with the same bytes.
 * - Decoding: `readCheckpointBody` gives what `fromWire(unpackr.unpack(body))` gave, and
 *   decodeCheckpoint accepts frames signed by the old path (createHmac over msgpackr bytes).
 * - HMAC: equal to createHmac for keys shorter than, equal to and longer than the block, and
 *   messages from empty to beyond the scratch size; any flipped tag bit is refused.
 */
import { describe, expect, it } from 'vitest';
import { createHmac } from 'node:crypto';
import { Packr, Unpackr } from 'msgpackr';
import { MemoryNetwork, Stack, VirtualClock, type Checkpoint, type Socket, type TcpCheckpoint } from '@hastack/stack';
import { decodeCheckpoint, encodeCheckpoint, encodeCheckpointBatch, decodeCheckpointBatch, validateCheckpoint } from '@hastack/checkpoint';
import { readCheckpointBody, writeCheckpointBody, Writer } from '../src/codec.js';
import { mac, macFrame, macKey, macPrefixed, MAC_PREFIX, tagEquals } from '../src/mac.js';
import { fromWire, toWire } from '../src/wire.js';
import { bundle, KEY, rng, signBody, tcpFull, tcpObjectMapped, udp } from './fixtures.js';

// The options format.ts used with msgpackr before the hand-written codec.
const oldPackr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false, useFloat32: 0 });
const oldUnpackr = new Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true, copyBuffers: true, int64AsType: 'number' });

function newBody(cp: Checkpoint): Buffer {
  const w = new Writer(64);
  writeCheckpointBody(w, cp);
  return Buffer.from(w.buf.subarray(0, w.pos));
}

function oldBody(cp: Checkpoint): Buffer {
  return Buffer.from(oldPackr.pack(toWire(cp)));
}

function oldDecode(body: Buffer): Checkpoint {
  return fromWire(oldUnpackr.unpack(body), 256);
}

/**
 * Deep equality, strict about types (Buffer vs Uint8Array, -0 vs 0, own keys incl. undefined
 * values); byte arrays compared natively (vitest's toStrictEqual walks them element by element).
 */
function same(a: unknown, b: unknown, path = ''): void {
  if (a instanceof Uint8Array || b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array && b instanceof Uint8Array) || a.constructor !== b.constructor || !Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length))) {
      throw new Error(`${path}: byte arrays differ`);
    }
    return;
  }
  if (typeof a !== 'object' || a === null || typeof b !== 'object' || b === null) {
    if (!Object.is(a, b)) throw new Error(`${path}: ${String(a)} !== ${String(b)}`);
    return;
  }
  if (Object.getPrototypeOf(a) !== Object.getPrototypeOf(b)) throw new Error(`${path}: prototypes differ`);
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length || ka.some((k) => !Object.prototype.hasOwnProperty.call(b, k))) throw new Error(`${path}: keys differ: ${ka} vs ${kb}`);
  for (const k of ka) same((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${path}.${k}`);
}

/** Same bytes as msgpackr, and the same object back as the old decoder. */
function check(cp: Checkpoint): void {
  const mine = newBody(cp);
  const theirs = oldBody(cp);
  if (!mine.equals(theirs)) {
    let i = 0;
    while (i < mine.length && mine[i] === theirs[i]) i++;
    throw new Error(`bodies differ at byte ${i} (mine ${mine.length} bytes, msgpackr ${theirs.length}): ${mine.subarray(i, i + 12).toString('hex')} vs ${theirs.subarray(i, i + 12).toString('hex')}`);
  }
  const parsed = readCheckpointBody(mine, 0, mine.length, 256);
  same(parsed, oldDecode(theirs));
}

// --------------------------------------------------------------------------------------------
// Randomized checkpoints

const NUMBERS = [
  0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1, 2 ** 32, 2 ** 48 + 3, Number.MAX_SAFE_INTEGER,
  -1, -32, -33, -128, -129, -32768, -32769, -(2 ** 31), -(2 ** 31) - 1, 0.5, -0.25, 1e-9, 3.25, 1e300, Infinity, -Infinity, -0,
];

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function randomString(r: () => number, len: number): string {
  const kinds = r();
  let s = '';
  for (let i = 0; i < len; i++) {
    const k = kinds < 0.4 ? 0 : Math.floor(r() * 5);
    if (k === 0) s += String.fromCharCode(0x20 + Math.floor(r() * 95));
    else if (k === 1) s += String.fromCharCode(0x80 + Math.floor(r() * 0x700)); // 2-byte UTF-8
    else if (k === 2) s += String.fromCharCode(0x800 + Math.floor(r() * 0xc000)); // 3-byte (may be a lone surrogate)
    else if (k === 3) s += '😀'; // a surrogate pair: 4 bytes
    else s += String.fromCharCode(0xd800 + Math.floor(r() * 0x400)); // a lone high surrogate
  }
  return s;
}

const STRING_LENGTHS = [0, 1, 5, 10, 15, 16, 20, 31, 32, 33, 40, 63, 64, 65, 100, 255, 256, 300];

function randomState(r: () => number, depth: number): unknown {
  const k = Math.floor(r() * (depth > 3 ? 6 : 9));
  switch (k) {
    case 0: return pick(r, NUMBERS);
    case 1: return randomString(r, pick(r, STRING_LENGTHS));
    case 2: return r() < 0.5;
    case 3: return null;
    case 4: return new Uint8Array(pick(r, [0, 1, 255, 256, 300])).fill(7);
    case 5: return r() < 0.3 ? undefined : Math.floor(r() * 1e6);
    case 6: return Array.from({ length: Math.floor(r() * 20) }, () => randomState(r, depth + 1));
    default: {
      const o: Record<string, unknown> = {};
      const n = Math.floor(r() * 18);
      for (let i = 0; i < n; i++) o[r() < 0.2 ? String(i) : randomString(r, 1 + Math.floor(r() * 40))] = randomState(r, depth + 1);
      return o;
    }
  }
}

function u32(r: () => number): number {
  return pick(r, [0, 1, 127, 128, 255, 256, 65535, 65536, 0xffffffff, Math.floor(r() * 2 ** 32)]);
}

function randomTcp(r: () => number): TcpCheckpoint {
  const cp = r() < 0.5 ? tcpObjectMapped() : tcpFull();
  const t = cp.tcp;
  cp.meta.nodeId = randomString(r, 1 + Math.floor(r() * 80));
  cp.meta.takenAt = pick(r, [0, 1, 1_763_800_000_123, 2 ** 32 + 0.5, Math.floor(r() * 2 ** 40)]);
  cp.meta.takenAtMono = pick(r, [0, 0.5, 123_456.75, 2 ** 31, Math.floor(r() * 2 ** 32)]);
  cp.ip.ttl = 1 + Math.floor(r() * 255);
  cp.ip.tos = Math.floor(r() * 256);
  cp.ip.localAddress = u32(r) || 1;
  if (r() < 0.5) cp.link.peerMac = null;
  else cp.link.peerMac = Uint8Array.from({ length: 6 }, () => Math.floor(r() * 256));
  cp.link.localMac = Uint8Array.from({ length: 6 }, () => Math.floor(r() * 256));
  t.localPort = 1 + Math.floor(r() * 65535);
  t.remotePort = pick(r, [1, 127, 128, 255, 256, 65535]);
  t.iss = u32(r);
  t.irs = u32(r);
  t.sndWl1 = u32(r);
  t.tsOffset = u32(r);
  t.tsRecent = u32(r);
  t.tsRecentAge = pick(r, NUMBERS.filter((x) => x >= 0));
  t.cc.cwnd = pick(r, [0, 1, 146_000, 2 ** 32, 12.5]);
  t.cc.ssthresh = pick(r, [0, 65535, Infinity, 1e12]);
  t.cc.srtt = pick(r, [0, 1.5, 200, 2 ** 31]);
  if (r() < 0.5) t.cc.recover = u32(r);
  else delete t.cc.recover;
  if (r() < 0.7) t.cc.cubic = { wMax: pick(r, [0, 200_000, 1.5]), k: pick(r, [0, 1.5]), epochStart: pick(r, [null, -250, 0, -0.5]), ...(r() < 0.5 ? { wLastMax: 3, wEst: 4.5, cwndEpoch: 100_000 } : {}) };
  else delete t.cc.cubic;
  t.timers = {};
  for (const k of ['rtx', 'delack', 'persist', 'keepalive'] as const) if (r() < 0.5) t.timers[k] = pick(r, [-5, 0, 198.5, 7_200_000, -(2 ** 31)]);
  t.options = {};
  if (r() < 0.5) t.options.noDelay = r() < 0.5;
  if (r() < 0.5) t.options.keepAlive = r() < 0.5;
  if (r() < 0.5) t.options.keepAliveInitialDelay = pick(r, [0, 7_200_000, 1.5]);
  if (r() < 0.5) t.options.sendBufferSize = pick(r, [1, 4 << 20, 2 ** 31 - 1]);
  if (r() < 0.5) t.options.allowHalfOpen = r() < 0.5;
  if (r() < 0.3) t.recvBuffer = new Uint8Array(pick(r, [0, 1, 255, 256, 300])).fill(3);
  if (r() < 0.3) delete t.recvOutOfOrder;
  else if (r() < 0.5) t.recvOutOfOrder = [];
  if (r() < 0.8) {
    const objects = Array.from({ length: Math.floor(r() * 4) }, (_, i) => ({
      id: randomString(r, 1 + Math.floor(r() * (r() < 0.9 ? 60 : 1000))),
      seq: (t.sndUna + i * 1_000_000) >>> 0,
      offset: pick(r, [0, 1, 2 ** 40, Number.MAX_SAFE_INTEGER - 2 ** 31]),
      length: pick(r, [1, 1_000_000, 2 ** 31 - 1]),
    }));
    cp.app = { protocol: randomString(r, 1 + Math.floor(r() * 64)), objects };
    if (r() < 0.7) cp.app.state = randomState(r, 0) as never;
  } else delete cp.app;
  return cp;
}

describe('hand-written codec is byte-identical to msgpackr (format version 1 unchanged)', () => {
  it('fixtures: object-mapped, full, UDP, bundle', () => {
    for (const cp of [tcpObjectMapped(), tcpFull(), udp(), bundle()]) check(cp);
  });

  it('large fields: str16/str32 strings and bin16/bin32 bytes', () => {
    for (const n of [65535, 65536, 70_000]) {
      const cp = tcpFull();
      cp.tcp.recvBuffer = new Uint8Array(n).fill(9);
      cp.app = { protocol: 'p', objects: [], state: { a: 'x'.repeat(n), b: 'é'.repeat(n >> 1), c: '😀'.repeat(n >> 2) } };
      const mine = newBody(cp);
      expect(mine.equals(oldBody(cp))).toBe(true);
      const back = readCheckpointBody(mine, 0, mine.length, 256) as TcpCheckpoint;
      expect(Buffer.from(back.tcp.recvBuffer).equals(Buffer.from(cp.tcp.recvBuffer))).toBe(true);
      expect(back.app!.state).toEqual(cp.app.state);
    }
  });

  it('1000 randomized checkpoints (every number size class, strings and bins across every header boundary, nested app.state)', () => {
    const r = rng(20261122);
    for (let i = 0; i < 1000; i++) {
      const kind = r();
      if (kind < 0.6) check(randomTcp(r));
      else if (kind < 0.8) {
        const u = udp();
        u.udp.multicast = Array.from({ length: Math.floor(r() * 5) }, () => ({ group: (0xe0000000 + Math.floor(r() * 2 ** 28)) >>> 0, interfaceAddress: u32(r) }));
        u.udp.options = r() < 0.5 ? {} : { broadcast: true, multicastTtl: 255, multicastLoopback: false, multicastInterface: u32(r), recvBufferSize: 65536, sendBufferSize: 1, reuseAddr: true };
        u.app = { protocol: 'rtp', objects: [], state: randomState(r, 0) as never };
        check(u);
      } else {
        const b = bundle();
        b.members = [randomTcp(r), udp()];
        if (r() < 0.5) delete b.app;
        check(b);
      }
    }
  });

  it('engine-captured checkpoints (mapped, full, with data both ways), and signed frames of the old encoder still decode', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 3, clock });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock, nodeId: 'node-a' });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, nodeId: 'node-b' });
    const served: Socket[] = [];
    a.createServer((s: Socket) => {
      served.push(s);
      s.on('error', () => {});
    }).listen(80, '198.18.0.1');
    await clock.runFor(1);
    const clients: Socket[] = [];
    for (let i = 0; i < 20; i++) {
      const c = b.connect({ port: 80, host: '198.18.0.1' });
      c.on('error', () => {});
      c.pause(); // unread bytes stay in the client's buffers
      clients.push(c);
    }
    await clock.run(() => served.length === 20, { maxMs: 5000 });
    for (let i = 0; i < 20; i++) {
      const s = served[i];
      if (i % 2 === 0) s.mapObject(`/obj/${i}`, { length: 1 << 20 });
      s.write(Buffer.alloc(1000 * (i + 1), i));
      clients[i].write(Buffer.alloc(10 * i + 1, 0x55));
    }
    await clock.runFor(5);
    const cps: TcpCheckpoint[] = [];
    for (let i = 0; i < 20; i++) {
      cps.push(served[i].checkpoint({ app: { protocol: 'http/1.1', state: { i, path: `/obj/${i}` } } }));
      cps.push(served[i].checkpoint({ mode: 'full' }));
      cps.push(clients[i].checkpoint());
    }
    for (const cp of cps) {
      check(cp);
      // A frame signed the old way (createHmac over the msgpackr body) decodes to the same object.
      const old = signBody(oldBody(cp));
      expect(encodeCheckpoint(cp, { key: KEY }).equals(old)).toBe(true);
      same(decodeCheckpoint(old, { key: KEY }), validateCheckpoint(oldDecode(oldBody(cp))));
    }
    // Batches too: one array of the same bodies.
    const batch = encodeCheckpointBatch(cps, { key: KEY });
    const back = decodeCheckpointBatch(batch, { key: KEY });
    expect(back.length).toBe(cps.length);
    for (let i = 0; i < cps.length; i++) same(back[i], decodeCheckpoint(encodeCheckpoint(cps[i], { key: KEY }), { key: KEY }));
    a.crash();
    b.crash();
  });

  it('decoded bytes never alias the input, and a Uint8Array input gives Uint8Array fields (as msgpackr did)', () => {
    const cp = tcpFull();
    const enc = encodeCheckpoint(cp, { key: KEY });
    const back = decodeCheckpoint(enc, { key: KEY }) as TcpCheckpoint;
    expect(back.tcp.recvBuffer.buffer).not.toBe(enc.buffer);
    expect(Buffer.isBuffer(back.tcp.recvBuffer)).toBe(true);
    enc.fill(0, 6, enc.length - 32); // scribbling over the input changes nothing decoded
    same(back.tcp.recvBuffer, Buffer.from(cp.tcp.recvBuffer));
    const plain = decodeCheckpoint(new Uint8Array(encodeCheckpoint(cp, { key: KEY })), { key: KEY }) as TcpCheckpoint;
    expect(Buffer.isBuffer(plain.tcp.recvBuffer)).toBe(false);
    expect(plain.tcp.recvBuffer).toBeInstanceOf(Uint8Array);
  });

  it('a remembered string is reused only for the same ASCII bytes (never for other bytes of equal character count)', () => {
    const a = tcpObjectMapped();
    a.meta.nodeId = 'é'; // 1 character, 2 UTF-8 bytes
    expect((decodeCheckpoint(encodeCheckpoint(a, { key: KEY }), { key: KEY }) as TcpCheckpoint).meta.nodeId).toBe('é');
    const b = tcpObjectMapped();
    b.meta.nodeId = 'x';
    const body = oldBody(b);
    const at = body.indexOf(Buffer.from([0xa1, 0x78])); // fixstr(1) 'x'
    expect(at).toBeGreaterThan(0);
    body[at + 1] = 0xe9; // the latin1 code of 'é', not valid UTF-8 on its own
    const back = decodeCheckpoint(signBody(body), { key: KEY }) as TcpCheckpoint;
    expect(back.meta.nodeId).toBe(Buffer.from([0xe9]).toString('utf8'));
    expect(back.meta.nodeId).not.toBe('é');
    // And the ASCII fast path still answers correctly after it.
    expect((decodeCheckpoint(encodeCheckpoint(b, { key: KEY }), { key: KEY }) as TcpCheckpoint).meta.nodeId).toBe('x');
  });

  it('trailing bytes after the body and truncated bodies are refused (re-signed, so only the parser sees them)', () => {
    const body = oldBody(tcpObjectMapped());
    const refused = (b: Uint8Array) => {
      try {
        decodeCheckpoint(signBody(b), { key: KEY });
      } catch (e) {
        return (e as { code?: string }).code;
      }
      return 'accepted';
    };
    expect(refused(Buffer.concat([body, Buffer.from([0xc0])]))).toBe('ERR_CHECKPOINT_INVALID');
    for (let n = 1; n < body.length; n += 7) expect(refused(body.subarray(0, n))).toBe('ERR_CHECKPOINT_INVALID');
  });
});

describe('HMAC-SHA256 without an Hmac object per call (mac.ts)', () => {
  it('equals createHmac for keys of 16..200 bytes and messages of 0..5000 bytes', () => {
    const r = rng(7);
    for (const klen of [16, 32, 63, 64, 65, 100, 200]) {
      const key = Uint8Array.from({ length: klen }, () => Math.floor(r() * 256));
      const k = macKey(key);
      for (const mlen of [0, 1, 55, 56, 63, 64, 119, 120, 300, 1000, 4095, 4096, 4097, 5000]) {
        const m = Buffer.from(Uint8Array.from({ length: mlen }, () => Math.floor(r() * 256)));
        const want = createHmac('sha256', key).update(m).digest();
        expect(Buffer.from(mac(k, m), 'latin1').equals(want)).toBe(true);
        const buf = Buffer.alloc(MAC_PREFIX + mlen);
        m.copy(buf, MAC_PREFIX);
        expect(Buffer.from(macPrefixed(k, buf, 0, mlen), 'latin1').equals(want)).toBe(true);
        // A received frame: the signed part followed by its 32-byte tag.
        expect(Buffer.from(macFrame(k, Buffer.concat([m, want]), mlen), 'latin1').equals(want)).toBe(true);
        expect(Buffer.from(macFrame(k, new Uint8Array(Buffer.concat([m, want, Buffer.alloc(7)])), mlen), 'latin1').equals(want)).toBe(true);
        // Constant-time compare: equal, and every single-bit flip refused.
        expect(tagEquals(mac(k, m), want, 0)).toBe(true);
        const bit = Math.floor(r() * 256);
        const flipped = Buffer.from(want);
        flipped[bit >> 3] ^= 1 << (bit & 7);
        expect(tagEquals(mac(k, m), flipped, 0)).toBe(false);
      }
    }
  });

  it('a key buffer refilled in place is not served from the cache', () => {
    const key = Buffer.from('0123456789abcdef0123456789abcdef');
    const m = Buffer.from('hello');
    const first = mac(macKey(key), m);
    key.fill(0x41);
    expect(mac(macKey(key), m)).toBe(createHmac('sha256', key).update(m).digest('binary'));
    expect(mac(macKey(key), m)).not.toBe(first);
  });

  it('the same key object changed in any byte (word-compared part or tail), aligned or not, is prepared again', () => {
    const m = Buffer.from('hello');
    const backing = Buffer.alloc(64, 0x30);
    for (const key of [backing.subarray(0, 34), backing.subarray(1, 35), backing.subarray(4, 21)]) {
      for (const at of [0, 3, key.length - 2, key.length - 1]) {
        expect(mac(macKey(key), m)).toBe(createHmac('sha256', key).update(m).digest('binary'));
        key[at] ^= 0x5a;
        expect(mac(macKey(key), m)).toBe(createHmac('sha256', key).update(m).digest('binary'));
      }
    }
  });
});
