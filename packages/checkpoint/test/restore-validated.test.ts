/**
 * `stack.restore(cp, { validated: true })` skips the stack's own structural check for a
 * checkpoint @hastack/checkpoint just validated field by field (restoreEncoded sets it); without
 * the option the check runs.
 */
import { describe, expect, it } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, type Socket, type TcpCheckpoint } from '@hastack/stack';
import { decodeCheckpoint, encodeCheckpoint, restoreEncoded } from '@hastack/checkpoint';
import { KEY } from './fixtures.js';

async function capturedBytes(): Promise<Buffer> {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 3, clock });
  const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock, nodeId: 'a' });
  const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, nodeId: 'b' });
  let served: Socket | null = null;
  b.createServer((s: Socket) => (served = s)).listen(80);
  await clock.runFor(1);
  a.connect(80, '198.18.0.2').on('error', () => {});
  await clock.run(() => served !== null, { maxMs: 5_000 });
  const bytes = encodeCheckpoint((served as unknown as Socket).checkpoint({ mode: 'mapped', app: { protocol: 'test' } }), { key: KEY });
  a.crash();
  b.crash();
  return bytes;
}

function code(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  throw new Error('expected a refusal');
}

describe('restore of an already validated checkpoint', () => {
  it('skips the structural check only when told, and the engine still refuses what it cannot restore', async () => {
    const bytes = await capturedBytes();
    const net = new MemoryNetwork({ seed: 4, clock: new VirtualClock() });
    const b2 = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock: new VirtualClock(), nodeId: 'b2' });
    const broken = (): TcpCheckpoint => {
      const cp = decodeCheckpoint(bytes, { key: KEY }) as TcpCheckpoint;
      (cp.tcp as { state: string }).state = 'LISTEN';
      return cp;
    };
    // Default: the stack's structural check refuses it.
    expect(code(() => b2.restore(broken()))).toBe('ERR_CHECKPOINT_INVALID');
    // validated: true skips that check (the caller vouches); the engine still refuses the state
    // before creating anything.
    expect(code(() => b2.restore(broken(), { validated: true }))).toBe('ERR_CHECKPOINT_UNSUPPORTED_STATE');
    expect(b2.tcp.connections().length).toBe(0);
    // A decoded, unchanged checkpoint restores with it, as through restoreEncoded.
    b2.restore(decodeCheckpoint(bytes, { key: KEY }) as TcpCheckpoint, { validated: true }).on('error', () => {});
    expect(b2.tcp.connections().length).toBe(1);
    const b3 = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock: new VirtualClock(), nodeId: 'b3' });
    (restoreEncoded(b3, bytes, { key: KEY }) as Socket).on('error', () => {});
    expect(b3.tcp.connections().length).toBe(1);
    b2.crash();
    b3.crash();
  });
});
