/**
 * Encoding a checkpoint the stack captured (socket.checkpoint()) skips only the plain-object and
 * unknown-key checks (format.ts, validateForEncode): every value, app.state in full and every
 * cross-field rule is still checked, and what is encoded always decodes. A checkpoint built by
 * hand keeps the strict rules.
 */
import { describe, expect, it } from 'vitest';
import { isEngineCapturedCheckpoint, MemoryNetwork, Stack, VirtualClock, type Socket, type TcpCheckpoint } from '@hastack/stack';
import { decodeCheckpoint, encodeCheckpoint } from '@hastack/checkpoint';
import { KEY } from './fixtures.js';

async function captured(): Promise<{ cp: () => TcpCheckpoint }> {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 3, clock });
  const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock, nodeId: 'a' });
  const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, nodeId: 'b' });
  let served: Socket | null = null;
  b.createServer((s: Socket) => (served = s)).listen(80);
  await clock.runFor(1);
  a.connect(80, '198.18.0.2').on('error', () => {});
  await clock.run(() => served !== null, { maxMs: 5_000 });
  const s = served as unknown as Socket;
  return { cp: () => s.checkpoint({ mode: 'mapped', app: { protocol: 'test', state: { n: 1 } } }) };
}

function refusal(f: () => unknown): { code?: string; field?: string } {
  try {
    f();
  } catch (e) {
    return e as { code?: string; field?: string };
  }
  throw new Error('expected a refusal');
}

describe('encoding engine-captured checkpoints', () => {
  it('marks what socket.checkpoint() returns, and nothing else', async () => {
    const { cp } = await captured();
    const c = cp();
    expect(isEngineCapturedCheckpoint(c)).toBe(true);
    expect(isEngineCapturedCheckpoint({ ...c })).toBe(false);
    expect(isEngineCapturedCheckpoint(null)).toBe(false);
    expect(isEngineCapturedCheckpoint(42)).toBe(false);
    const back = decodeCheckpoint(encodeCheckpoint(c, { key: KEY }), { key: KEY });
    expect(back).toEqual(c);
  });

  it('an unknown key added to a captured checkpoint is not encoded; a hand-built copy is refused', async () => {
    const { cp } = await captured();
    const c = cp();
    (c.tcp as unknown as Record<string, unknown>).extra = 1;
    (c as unknown as Record<string, unknown>).other = 'x';
    const back = decodeCheckpoint(encodeCheckpoint(c, { key: KEY }), { key: KEY }) as TcpCheckpoint;
    expect((back.tcp as unknown as Record<string, unknown>).extra).toBeUndefined();
    expect((back as unknown as Record<string, unknown>).other).toBeUndefined();
    expect(back.tcp.sndUna).toBe(c.tcp.sndUna);
    // The same object rebuilt by hand: strict rules.
    const copy = { ...c, tcp: { ...c.tcp } };
    expect(refusal(() => encodeCheckpoint(copy, { key: KEY })).code).toBe('ERR_CHECKPOINT_INVALID');
  });

  it('every value of a captured checkpoint is still validated', async () => {
    const { cp } = await captured();
    const bad: Array<[string, (c: TcpCheckpoint) => void]> = [
      ['tcp.sndUna', (c) => ((c.tcp as { sndUna: unknown }).sndUna = -1)],
      ['tcp.sndWscale', (c) => (c.tcp.sndWscale = 15)],
      ['tcp.cc.cwnd', (c) => ((c.tcp.cc as { cwnd: unknown }).cwnd = 'big')],
      ['tcp.timers.rtx', (c) => (c.tcp.timers.rtx = 2 ** 40)],
      ['meta.nodeId', (c) => (c.meta.nodeId = '')],
      ['link.localMac', (c) => (c.link.localMac = new Uint8Array(5))],
      ['ip.ttl', (c) => (c.ip.ttl = 0)],
      // app.state keeps the full plain-data check (a Date would encode as an empty map).
      ['app.state', (c) => ((c.app as { state: unknown }).state = { when: new Date(0) })],
      ['app.state', (c) => ((c.app as { state: unknown }).state = new Map())],
    ];
    for (const [field, mutate] of bad) {
      const c = cp();
      mutate(c);
      const e = refusal(() => encodeCheckpoint(c, { key: KEY }));
      expect(e.code, field).toBe('ERR_CHECKPOINT_INVALID');
      expect(e.field, field).toBe(field);
    }
  });

  it('a section replaced by a non-plain object still encodes only valid values', async () => {
    const { cp } = await captured();
    const c = cp();
    class Ip {
      constructor(readonly localAddress: number, readonly remoteAddress: number, readonly ttl: number, readonly tos: number) {}
    }
    c.ip = new Ip(c.ip.localAddress, c.ip.remoteAddress, 7, 0);
    const back = decodeCheckpoint(encodeCheckpoint(c, { key: KEY }), { key: KEY });
    expect(back.kind === 'tcp' && back.ip).toEqual({ localAddress: c.ip.localAddress, remoteAddress: c.ip.remoteAddress, ttl: 7, tos: 0 });
    c.ip = new Ip(c.ip.localAddress, c.ip.remoteAddress, 300, 0);
    expect(refusal(() => encodeCheckpoint(c, { key: KEY })).field).toBe('ip.ttl');
  });
});

describe('decoded checkpoints and stack.restore()', () => {
  it("a decoded checkpoint skips the stack's structural check (already validated); other objects do not", async () => {
    const { cp } = await captured();
    const bytes = encodeCheckpoint(cp(), { key: KEY });
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 4, clock });
    const b2 = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, nodeId: 'b2' });
    // A hand-built copy with an unsupported state: the stack's own check refuses it.
    const copy = decodeCheckpoint(bytes, { key: KEY }) as TcpCheckpoint;
    const handBuilt = { ...copy, tcp: { ...copy.tcp, state: 'LISTEN' } } as unknown as TcpCheckpoint;
    expect(refusal(() => b2.restore(handBuilt)).code).toBe('ERR_CHECKPOINT_INVALID');
    // The decoded object, changed after decoding: no second structural check, but the engine
    // still refuses the state before creating anything.
    (copy.tcp as { state: string }).state = 'LISTEN';
    expect(refusal(() => b2.restore(copy)).code).toBe('ERR_CHECKPOINT_UNSUPPORTED_STATE');
    expect(b2.tcp.connections().length).toBe(0);
    // Untouched, it restores.
    const s = b2.restore(decodeCheckpoint(bytes, { key: KEY }) as TcpCheckpoint);
    s.on('error', () => {});
    expect(b2.tcp.connections().length).toBe(1);
    b2.crash();
  });
});
