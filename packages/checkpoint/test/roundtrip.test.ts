import { describe, expect, it } from 'vitest';
import {
  CHECKPOINT_VERSION,
  CHECKPOINTABLE_TCP_STATES,
  isCheckpointableTcpState,
  connectionKey,
  decodeCheckpoint,
  encodeCheckpoint,
  objectRangeForSeq,
  peekCheckpointVersion,
  validateCheckpoint,
  type Checkpoint,
} from '@hastack/checkpoint';
import { HastackError } from '@hastack/stack';
import { bundle, KEY, OTHER_KEY, tcpFull, tcpObjectMapped, udp } from './fixtures.js';

/** Structural equality that treats Buffer and Uint8Array with the same bytes as equal. */
function normalize(v: unknown): unknown {
  if (v instanceof Uint8Array) return { bytes: Buffer.from(v).toString('hex') };
  if (Array.isArray(v)) return v.map(normalize);
  if (v && typeof v === 'object') {
    const o: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) if (x !== undefined) o[k] = normalize(x);
    return o;
  }
  return v;
}

const cases: [string, () => Checkpoint][] = [
  ['tcp full', tcpFull],
  ['tcp object-mapped', tcpObjectMapped],
  ['udp', udp],
  ['bundle', bundle],
];

describe('encode/decode round trip', () => {
  for (const [name, make] of cases) {
    it(`${name}: decode(encode(cp)) equals cp, byte for byte deterministic`, () => {
      const cp = make();
      const a = encodeCheckpoint(cp, { key: KEY });
      const b = encodeCheckpoint(make(), { key: KEY });
      expect(Buffer.compare(a, b)).toBe(0); // deterministic encoding
      expect(peekCheckpointVersion(a)).toBe(CHECKPOINT_VERSION);
      const back = decodeCheckpoint(a, { key: KEY });
      expect(normalize(back)).toEqual(normalize(cp));
      expect(validateCheckpoint(back)).toBe(back);
      // Re-encoding the decoded value gives the same bytes.
      expect(Buffer.compare(encodeCheckpoint(back, { key: KEY }), a)).toBe(0);
    });
  }

  it('decoded byte fields are copies that do not alias the input', () => {
    const enc = encodeCheckpoint(tcpFull(), { key: KEY });
    const cp = decodeCheckpoint(enc, { key: KEY });
    if (cp.kind !== 'tcp') throw new Error('kind');
    const before = cp.tcp.recvBuffer[0];
    enc.fill(0);
    expect(cp.tcp.recvBuffer[0]).toBe(before);
    expect(cp.tcp.sendRanges[0].data.length).toBe(5000);
  });

  it('Infinity ssthresh, fractional times and near-wrap sequence numbers survive', () => {
    const cp = decodeCheckpoint(encodeCheckpoint(tcpObjectMapped(), { key: KEY }), { key: KEY });
    if (cp.kind !== 'tcp') throw new Error('kind');
    expect(cp.tcp.cc.ssthresh).toBe(Infinity);
    expect(cp.meta.takenAtMono).toBe(123_456.5);
    expect(cp.tcp.sndUna).toBe(0xfffff000);
    expect(cp.tcp.sndNxt).toBe((0xfffff000 + 64_000) >>> 0);
  });

  it('accepts a string key and key rotation lists', () => {
    const k = 'a string key of enough length';
    const enc = encodeCheckpoint(udp(), { key: k });
    expect(decodeCheckpoint(enc, { key: k }).kind).toBe('udp');
    expect(decodeCheckpoint(enc, { key: [OTHER_KEY, k] }).kind).toBe('udp');
    expect(() => decodeCheckpoint(enc, { key: [OTHER_KEY] })).toThrow(/bad signature/);
  });

  it('refuses short keys and bad arguments with ERR_INVALID_ARG_*', () => {
    const expectCode = (f: () => unknown, code: string) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(HastackError);
        expect((e as HastackError).code).toBe(code);
        return;
      }
      throw new Error('did not throw');
    };
    expectCode(() => encodeCheckpoint(udp(), { key: 'short' }), 'ERR_INVALID_ARG_VALUE');
    expectCode(() => encodeCheckpoint(udp(), { key: Buffer.alloc(15) }), 'ERR_INVALID_ARG_VALUE');
    expectCode(() => encodeCheckpoint(udp(), { key: 42 as unknown as string }), 'ERR_INVALID_ARG_TYPE');
    expectCode(() => decodeCheckpoint('abc' as unknown as Uint8Array, { key: KEY }), 'ERR_INVALID_ARG_TYPE');
    expectCode(() => decodeCheckpoint(Buffer.alloc(100), { key: [] }), 'ERR_INVALID_ARG_VALUE');
  });

  it('encodeCheckpoint refuses an invalid checkpoint (never emits what decode refuses)', () => {
    const cp = tcpFull();
    cp.tcp.sndWscale = 15;
    expect(() => encodeCheckpoint(cp, { key: KEY })).toThrow(/ERR_CHECKPOINT_INVALID: tcp.sndWscale/);
  });

  it('maxAgeMs refuses an old checkpoint with ERR_CHECKPOINT_STALE', () => {
    const cp = udp();
    const enc = encodeCheckpoint(cp, { key: KEY });
    expect(decodeCheckpoint(enc, { key: KEY, maxAgeMs: 1000, now: cp.meta.takenAt + 999 }).kind).toBe('udp');
    try {
      decodeCheckpoint(enc, { key: KEY, maxAgeMs: 1000, now: cp.meta.takenAt + 1001 });
      throw new Error('accepted');
    } catch (e) {
      expect((e as HastackError).code).toBe('ERR_CHECKPOINT_STALE');
    }
  });
});

describe('connectionKey', () => {
  it('names connections by their 4-tuple', () => {
    expect(connectionKey(tcpObjectMapped())).toBe('tcp:198.18.0.1:80-198.18.0.2:40000');
    expect(connectionKey(udp())).toBe('udp:198.18.0.1:5004-239.1.2.3:5004');
    const u = udp();
    u.ip.remoteAddress = 0;
    u.udp.remotePort = 0;
    u.ip.localAddress = 0;
    expect(connectionKey(u)).toBe('udp:0.0.0.0:5004-*');
    expect(connectionKey(bundle())).toBe('bundle:tcp:198.18.0.1:554-198.18.0.2:40000');
  });
});

describe('objectRangeForSeq', () => {
  const objects = [
    { id: 'a', seq: 0xffffff00, offset: 0, length: 0x200 }, // wraps past 2^32
    { id: 'b', seq: 0x100, offset: 1000, length: 50 },
  ];
  it('finds the object and offset of a sequence number, across the wrap', () => {
    expect(objectRangeForSeq(objects, 0xffffff00)).toMatchObject({ index: 0, offset: 0 });
    expect(objectRangeForSeq(objects, 0xffffffff)).toMatchObject({ index: 0, offset: 0xff });
    expect(objectRangeForSeq(objects, 0)).toMatchObject({ index: 0, offset: 0x100 });
    expect(objectRangeForSeq(objects, 0xff)).toMatchObject({ index: 0, offset: 0x1ff });
    expect(objectRangeForSeq(objects, 0x100)).toMatchObject({ index: 1, offset: 1000 });
    expect(objectRangeForSeq(objects, 0x131)).toMatchObject({ index: 1, offset: 1049, object: objects[1] });
  });
  it('returns null outside every object', () => {
    expect(objectRangeForSeq(objects, 0x132)).toBeNull();
    expect(objectRangeForSeq(objects, 0xfffffeff)).toBeNull();
    expect(objectRangeForSeq([], 5)).toBeNull();
  });
});

describe('checkpointable states', () => {
  it('are exactly the synchronized, live states', () => {
    expect([...CHECKPOINTABLE_TCP_STATES].sort()).toEqual(['CLOSE_WAIT', 'CLOSING', 'ESTABLISHED', 'FIN_WAIT_1', 'FIN_WAIT_2', 'LAST_ACK']);
    for (const s of ['CLOSED', 'LISTEN', 'SYN_SENT', 'SYN_RECEIVED', 'TIME_WAIT']) expect(isCheckpointableTcpState(s)).toBe(false);
    for (const s of CHECKPOINTABLE_TCP_STATES) expect(isCheckpointableTcpState(s)).toBe(true);
  });
  it('every checkpointable state round-trips with consistent FIN bookkeeping', () => {
    for (const state of CHECKPOINTABLE_TCP_STATES) {
      const cp = tcpFull(); // FIN_WAIT_1, FIN sent, 5000 bytes queued
      const t = cp.tcp;
      t.state = state;
      const weClosed = state !== 'ESTABLISHED' && state !== 'CLOSE_WAIT';
      t.finReceived = state === 'CLOSE_WAIT' || state === 'CLOSING' || state === 'LAST_ACK';
      if (t.finReceived) delete t.recvOutOfOrder;
      if (!weClosed) {
        t.finSent = false;
        t.finSeq = null;
        t.sndNxt = t.sndMax = t.sndUna + 5000;
      } else if (state === 'FIN_WAIT_2') {
        t.sndUna = t.sndNxt = t.sndMax;
        t.sendLength = 0;
        t.sendRanges = [];
      }
      const back = decodeCheckpoint(encodeCheckpoint(cp, { key: KEY }), { key: KEY });
      expect(back.kind === 'tcp' && back.tcp.state).toBe(state);
    }
  });
});
