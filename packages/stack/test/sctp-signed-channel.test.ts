import { describe, it, expect } from 'vitest';
import { signedChannel, type ReplicationChannel } from '@hastack/stack';

/** Two ends of an in-memory pipe; `tap` sees (and may rewrite) every frame on the wire. */
function pipe(tap: (f: Uint8Array) => Uint8Array | null = (f) => f) {
  const handlers: { a: ((m: Uint8Array) => void)[]; b: ((m: Uint8Array) => void)[] } = { a: [], b: [] };
  const wire: Uint8Array[] = [];
  const end = (me: 'a' | 'b', peer: 'a' | 'b'): ReplicationChannel => ({
    send: (m) => {
      wire.push(m);
      const f = tap(m);
      if (f) for (const h of handlers[peer]) h(f);
    },
    onMessage: (fn) => handlers[me].push(fn),
  });
  return { a: end('a', 'b'), b: end('b', 'a'), wire, inject: (to: 'a' | 'b', f: Uint8Array) => handlers[to].forEach((h) => h(f)) };
}

const KEY = 'a-cluster-key-of-32-bytes-000000';

describe('signedChannel (authenticated SCTP replication channel)', () => {
  it('delivers messages between ends sharing the key', () => {
    const p = pipe();
    const a = signedChannel(p.a, { key: KEY });
    const b = signedChannel(p.b, { key: KEY });
    const got: string[] = [];
    b.onMessage((m) => got.push(Buffer.from(m).toString()));
    a.send(Buffer.from('snapshot 1'));
    a.send(Buffer.from('snapshot 2'));
    expect(got).toEqual(['snapshot 1', 'snapshot 2']);
    expect(b.dropped).toEqual({ badMac: 0, replayed: 0, malformed: 0 });
  });

  it('drops forged, tampered, replayed and truncated frames, and counts them', () => {
    const p = pipe();
    const a = signedChannel(p.a, { key: KEY });
    const b = signedChannel(p.b, { key: KEY });
    const rogue = signedChannel(pipe().a, { key: 'another-key-that-is-long-enough' });
    const got: string[] = [];
    b.onMessage((m) => got.push(Buffer.from(m).toString()));
    a.send(Buffer.from('genuine'));
    const genuine = p.wire[0];
    // Tampered: one payload bit flipped.
    const tampered = genuine.slice();
    tampered[9] ^= 1;
    p.inject('b', tampered);
    // Replayed: the genuine frame again.
    p.inject('b', genuine);
    // Forged: a frame signed with another key.
    let forged: Uint8Array | null = null;
    const rp = pipe((f) => ((forged = f), null));
    signedChannel(rp.a, { key: 'another-key-that-is-long-enough' }).send(Buffer.from('evil'));
    p.inject('b', forged!);
    // Truncated below the header + MAC.
    p.inject('b', genuine.subarray(0, 20));
    expect(got).toEqual(['genuine']);
    expect(b.dropped).toEqual({ badMac: 2, replayed: 1, malformed: 1 });
    expect(rogue.dropped.badMac).toBe(0);
  });

  it('refuses short keys', () => {
    expect(() => signedChannel(pipe().a, { key: 'short' })).toThrow(/at least 16 bytes/);
  });
});
