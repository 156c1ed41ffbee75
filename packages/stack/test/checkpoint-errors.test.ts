/**
 * Checkpoint/restore refusals and failures (issue 5): stale checkpoints, silent peers,
 * unsupported states, refused (malformed, tampered, truncated, unsigned, conflicting)
 * checkpoints that leave the stack unchanged, and the object map's rules.
 */
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, engineConnOf, parseIp, type Socket, type TcpCheckpoint } from '@hastack/stack';
import { encodeCheckpoint, decodeCheckpoint, validateCheckpoint } from '@hastack/checkpoint';
import { SERVER_IP, SERVER_MAC, CLIENT_IP, PORT, pattern } from './checkpoint-harness.js';

const KEY = 'k'.repeat(32);

async function pair(opts: { tcp?: Record<string, unknown> } = {}) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 3, delayMs: 1, clock });
  const A = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'A', tcp: opts.tcp });
  const C = new Stack({ link: net.createPort(), address: `${CLIENT_IP}/24`, clock, nodeId: 'C' });
  let server: Socket | null = null;
  A.createServer({ allowHalfOpen: true }, (s: Socket) => {
    server = s;
    s.on('error', () => {});
  }).listen(PORT, SERVER_IP);
  await clock.runFor(1);
  const client = C.connect({ port: PORT, host: SERVER_IP, allowHalfOpen: true }) as Socket;
  const got: Buffer[] = [];
  client.on('data', (c: Buffer) => got.push(c));
  client.on('error', () => {});
  await clock.run(() => server !== null, { maxMs: 1000 });
  const newB = (mac = SERVER_MAC) => new Stack({ link: net.createPort({ mac }), address: `${SERVER_IP}/24`, clock, nodeId: 'B', tcp: opts.tcp });
  return { clock, net, A, C, server: server as unknown as Socket, client, got, newB };
}

function snapshot(s: Stack) {
  const st = s.stats();
  return { conns: s.tcp.connections().length, outSegs: st.tcp.outSegs, udp: st.udp, arp: st.arp.entries };
}

describe('checkpoint capture', () => {
  it('captured checkpoints pass the format validator and encode/decode round-trip', async () => {
    const p = await pair();
    p.server.write(pattern(100_000, 1));
    p.client.write(pattern(5000, 2));
    await p.clock.runFor(5);
    const cp = p.server.checkpoint({ app: { protocol: 'x', state: { a: 1 } } });
    expect(() => validateCheckpoint(cp)).not.toThrow();
    const back = decodeCheckpoint(encodeCheckpoint(cp, { key: KEY }), { key: KEY }) as TcpCheckpoint;
    expect(back.tcp.sndUna).toBe(cp.tcp.sndUna);
    expect(back.meta.nodeId).toBe('A');
    expect(back.link.localMac).toEqual(Uint8Array.from([2, 0, 0, 0, 0xaa, 1]));
    expect(back.link.peerMac).not.toBeNull();
  });

  it('unsupported states are refused with ERR_CHECKPOINT_UNSUPPORTED_STATE', async () => {
    const p = await pair();
    const fresh = p.C.connect({ port: PORT, host: SERVER_IP }) as Socket;
    fresh.on('error', () => {});
    expect(() => fresh.checkpoint()).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_UNSUPPORTED_STATE' }));
    // Both sides close: the server ends in TIME_WAIT or CLOSED, neither checkpointable.
    p.server.end();
    p.client.end();
    await p.clock.runFor(100);
    expect(['TIME_WAIT', 'CLOSED']).toContain(p.server.tcpState);
    expect(() => p.server.checkpoint()).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_UNSUPPORTED_STATE' }));
  });

  it('unread bytes in the Readable buffer (paused reader) are carried', async () => {
    const p = await pair();
    p.server.pause();
    const data = pattern(20_000, 9);
    p.client.write(data);
    await p.clock.runFor(300);
    const cp = p.server.checkpoint();
    expect(Buffer.from(cp.tcp.recvBuffer).equals(data)).toBe(true);
  });

  it('unread bytes of a paused reader with setEncoding() are carried too', async () => {
    const p = await pair();
    p.server.setEncoding('latin1');
    p.server.pause();
    const data = pattern(5000, 10);
    p.client.write(data);
    await p.clock.runFor(300);
    expect(Buffer.from(p.server.checkpoint().tcp.recvBuffer).equals(data)).toBe(true);
  });

  it('mapObject: sequence numbers, at, overlaps, acknowledged positions', async () => {
    const p = await pair();
    const iss = engineConnOf(p.server)!.tcb.iss;
    expect(p.server.mapObject('a', { length: 100 })).toBe((iss + 1) >>> 0);
    expect(p.server.mapObject('b', { offset: 7, length: 50, at: 1000 })).toBe((iss + 1001) >>> 0);
    expect(() => p.server.mapObject('c', { length: 10, at: 50 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => p.server.mapObject('', { length: 10 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    p.server.write(pattern(100, 1));
    await p.clock.runFor(200);
    // Fully acknowledged refs are pruned; the acknowledged position cannot be mapped again.
    const cp = p.server.checkpoint();
    expect(cp.app!.objects.map((o) => o.id)).toEqual(['b']);
    expect(() => p.server.mapObject('d', { length: 10, at: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
  });
});

describe('restore failures', () => {
  it('a stale checkpoint (the peer acknowledged more since) aborts with ERR_CHECKPOINT_STALE and one RST at the peer ACK, so the peer fails fast', async () => {
    const p = await pair();
    p.server.write(pattern(10_000, 1));
    await p.clock.runFor(20);
    const cp = p.server.checkpoint();
    p.server.write(pattern(10_000, 2)); // acknowledged after the checkpoint
    await p.clock.runFor(20);
    p.A.crash();
    await p.clock.runFor(100);
    const B = p.newB();
    const s = B.restore(cp);
    let e: { code?: string } | null = null;
    let ready = false;
    s.on('error', (x) => (e = x));
    s.on('ready', () => (ready = true));
    await p.clock.run(() => e !== null, { maxMs: 5000 });
    expect(e!.code).toBe('ERR_CHECKPOINT_STALE');
    expect(ready).toBe(false);
    // Exactly one RST, with SEQ = the peer's ACK (= its RCV.NXT): the peer accepts it as is
    // (no challenge ACK, RFC 5961 §3) and its socket fails fast with ECONNRESET.
    expect(B.stats().tcp.outRsts).toBe(1);
    expect(B.tcp.connections()).toHaveLength(0);
    let peerErr: { code?: string } | null = null;
    p.client.on('error', (x) => (peerErr = x));
    await p.clock.run(() => peerErr !== null, { maxMs: 1000 });
    expect(peerErr!.code).toBe('ECONNRESET');
    expect(p.C.stats().tcp.challengeAcks).toBe(0);
    expect(p.client.destroyed).toBe(true);
  });

  it('a peer that never answers: ETIMEDOUT after readyTimeout, probes backed off', async () => {
    const p = await pair();
    p.server.write(pattern(1000, 1));
    await p.clock.runFor(20);
    const cp = p.server.checkpoint();
    p.A.crash();
    p.C.crash();
    const B = p.newB();
    const t0 = p.clock.now();
    const s = B.restore(cp, { readyTimeout: 10_000 });
    let e: { code?: string } | null = null;
    s.on('error', (x) => (e = x));
    await p.clock.run(() => e !== null, { maxMs: 60_000 });
    expect(e!.code).toBe('ETIMEDOUT');
    const elapsed = p.clock.now() - t0;
    expect(elapsed).toBeGreaterThanOrEqual(10_000);
    expect(elapsed).toBeLessThan(40_000);
    const probes = B.stats().tcp.outSegs;
    expect(probes).toBeGreaterThanOrEqual(3);
    expect(probes).toBeLessThan(20); // exponential backoff, not a flood
  });

  it('refused checkpoints leave the stack unchanged: malformed, 4-tuple in use, foreign address', async () => {
    const p = await pair();
    p.server.write(pattern(1000, 1));
    await p.clock.runFor(20);
    const cp = p.server.checkpoint();
    p.A.crash();
    const B = p.newB();
    await p.clock.runFor(1);
    const before = snapshot(B);
    const bad = structuredClone(cp) as unknown as { tcp: Record<string, unknown> };
    bad.tcp.sndNxt = (cp.tcp.sndUna - 5) >>> 0;
    expect(() => B.restore(bad as unknown as TcpCheckpoint)).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_INVALID' }));
    expect(() => B.restore({ kind: 'tcp' } as unknown as TcpCheckpoint)).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_INVALID' }));
    const foreign = structuredClone(cp);
    foreign.ip.localAddress = 0xc6120063; // 198.18.0.99, not B's
    expect(() => B.restore(foreign)).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
    expect(snapshot(B)).toEqual(before);
    // The same connection twice: the second is refused, the first unaffected.
    const s1 = B.restore(cp);
    s1.on('error', () => {});
    const mid = snapshot(B);
    expect(() => B.restore(cp)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(snapshot(B)).toEqual(mid);
  });

  it('tampered, truncated and unsigned encoded checkpoints are refused by decode; the stack is unchanged', async () => {
    const p = await pair();
    p.server.write(pattern(3000, 1));
    await p.clock.runFor(20);
    const bytes = encodeCheckpoint(p.server.checkpoint(), { key: KEY });
    p.A.crash();
    const B = p.newB();
    await p.clock.runFor(1);
    const before = snapshot(B);
    const attempts: Uint8Array[] = [];
    for (let i = 0; i < bytes.length; i += Math.max(1, Math.floor(bytes.length / 40))) {
      const t = Buffer.from(bytes);
      t[i] ^= 0x20;
      attempts.push(t);
    }
    attempts.push(bytes.subarray(0, bytes.length - 1), bytes.subarray(0, bytes.length >> 1), bytes.subarray(0, 8));
    const unsigned = Buffer.from(bytes);
    unsigned.fill(0, unsigned.length - 32);
    attempts.push(unsigned, encodeCheckpoint(decodeCheckpoint(bytes, { key: KEY }), { key: 'z'.repeat(32) }));
    for (const a of attempts) {
      let code = 'ok';
      try {
        B.restore(decodeCheckpoint(a, { key: KEY }) as TcpCheckpoint);
      } catch (e) {
        code = (e as { code: string }).code;
      }
      expect(code).toBe('ERR_CHECKPOINT_INVALID');
    }
    expect(snapshot(B)).toEqual(before);
    // The genuine one restores.
    const s = B.restore(decodeCheckpoint(bytes, { key: KEY }) as TcpCheckpoint);
    let ready = false;
    s.on('ready', () => (ready = true));
    await p.clock.run(() => ready, { maxMs: 5000 });
    expect(ready).toBe(true);
  });

  it('writes made before ready wait for it and follow the restored queue', async () => {
    const p = await pair();
    const first = pattern(50_000, 5);
    p.server.write(first);
    await p.clock.runFor(2);
    const cp = p.server.checkpoint();
    p.A.crash();
    await p.clock.runFor(50);
    const B = p.newB();
    const s = B.restore(cp);
    // The peer's MAC from the checkpoint primes the ARP cache: no resolution before the probe.
    expect(B.engine.arpCache.get(parseIp(CLIENT_IP))?.mac).toEqual(cp.link.peerMac);
    const second = pattern(30_000, 6);
    s.write(second); // before 'ready'
    expect(B.stats().tcp.outSegs).toBe(0);
    await p.clock.run(() => Buffer.concat(p.got).length >= 80_000, { maxMs: 10_000 });
    expect(Buffer.concat(p.got).equals(Buffer.concat([first, second]))).toBe(true);
  });

  describe('object sources', () => {
    async function mappedTakeover(source: (id: string, off: number) => unknown) {
      const p = await pair();
      const body = pattern(200_000, 21);
      p.server.mapObject('body', { length: body.length });
      p.server.write(body);
      await p.clock.runFor(3);
      const cp = p.server.checkpoint();
      expect(cp.tcp.sendRanges).toEqual([]);
      p.A.crash();
      await p.clock.runFor(50);
      const B = p.newB();
      const s = B.restore(cp, { objectSource: source as never });
      let e: { code?: string } | null = null;
      s.on('error', (x) => (e = x));
      await p.clock.run(() => e !== null || Buffer.concat(p.got).length >= body.length, { maxMs: 10_000 });
      return { e: e as { code?: string } | null, ok: Buffer.concat(p.got).equals(body), body };
    }
    it('an async generator, a promise of a Buffer', async () => {
      const body = pattern(200_000, 21);
      const gen = async function* (off: number) {
        for (let i = off; i < body.length; i += 7000) yield body.subarray(i, Math.min(body.length, i + 7000));
      };
      const r1 = await mappedTakeover((_id, off) => gen(off));
      expect(r1.e).toBeNull();
      expect(r1.ok).toBe(true);
      const r2 = await mappedTakeover(async (_id, off) => body.subarray(off));
      expect(r2.e).toBeNull();
      expect(r2.ok).toBe(true);
    });
    it('a source that throws, rejects or comes up short aborts with ECONNABORTED', async () => {
      for (const src of [
        () => {
          throw new Error('gone');
        },
        () => Promise.reject(new Error('io')),
        () => Buffer.alloc(10),
      ]) {
        const r = await mappedTakeover(src);
        expect(r.e?.code).toBe('ECONNABORTED');
      }
    });
  });
});
