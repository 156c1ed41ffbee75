/**
 * restoreEncoded(stack, bytes, { key, ...restoreOptions }): decode + stack.restore in one call.
 * A server connection is checkpointed mid-transfer, encoded, its stack killed; a fresh stack with
 * the same MAC/IP restores it from the bytes and the transfer completes intact. Wrongly signed or
 * truncated bytes are refused before the stack is touched.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { MemoryNetwork, Stack, VirtualClock, type Socket, type UdpSocket } from '@hastack/stack';
import { encodeCheckpoint, isRestoredBundle, restoreEncoded } from '@hastack/checkpoint';
import { KEY, OTHER_KEY } from './fixtures.js';

const SERVER_MAC = '02:00:00:00:aa:01';
const TOTAL = 300_000;

function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

async function setup() {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 9, delayMs: 1, clock });
  const A = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: '198.18.0.1/24', clock, nodeId: 'A' });
  const C = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, nodeId: 'C' });
  let server: Socket | null = null;
  A.createServer((s: Socket) => {
    server = s;
    s.on('error', () => {});
  }).listen(80, '198.18.0.1');
  await clock.runFor(1);
  const client = C.connect({ port: 80, host: '198.18.0.1' }) as Socket;
  const hash = createHash('sha256');
  let got = 0;
  client.on('data', (d: Buffer) => {
    hash.update(d);
    got += d.length;
  });
  client.on('error', () => {});
  await clock.run(() => server !== null, { maxMs: 1000 });
  const newB = () => new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: '198.18.0.1/24', clock, nodeId: 'B' });
  return { clock, A, C, server: server as unknown as Socket, client, newB, received: () => got, digest: () => hash.digest('hex') };
}

describe('restoreEncoded', () => {
  it('restores a signed checkpoint of a mid-transfer connection; the transfer completes intact', async () => {
    const p = await setup();
    const data = pattern(TOTAL, 5);
    p.server.write(data);
    await p.clock.run(() => p.received() > 50_000, { maxMs: 5000 });
    const bytes = encodeCheckpoint(p.server.checkpoint(), { key: KEY });
    p.A.crash();
    const B = p.newB();
    let readyCb = 0;
    const r = restoreEncoded(B, bytes, { key: [OTHER_KEY, KEY], onReady: () => readyCb++ });
    expect(isRestoredBundle(r)).toBe(false);
    const s = r as Socket;
    let ready = false;
    s.on('ready', () => (ready = true));
    s.on('error', () => {});
    expect(B.tcp.connections().length).toBe(1);
    // Until 'ready' the restored handle needs the checkpoint (refill, FIN); afterwards it lets go
    // of it, so a long-lived restored connection does not keep the checkpoint's buffers alive.
    const handle = s.connection as unknown as { cp: unknown; opts: { onReady?: unknown } };
    expect(handle.cp).not.toBeNull();
    await p.clock.run(() => ready && p.received() === TOTAL, { maxMs: 20_000 });
    expect(handle.cp).toBeNull();
    expect(handle.opts.onReady).toBeUndefined();
    expect(readyCb).toBe(1);
    expect(p.received()).toBe(TOTAL);
    expect(p.digest()).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('a UDP checkpoint comes back as a UdpSocket', async () => {
    const p = await setup();
    const u = p.A.createSocket('udp4');
    let bound = false;
    u.bind(5000, '198.18.0.1', () => (bound = true));
    await p.clock.run(() => bound, { maxMs: 100 });
    const bytes = encodeCheckpoint(u.checkpoint(), { key: KEY });
    p.A.crash();
    const B = p.newB();
    const r = restoreEncoded(B, bytes, { key: KEY }) as UdpSocket;
    expect(isRestoredBundle(r)).toBe(false);
    expect(r.address()).toMatchObject({ address: '198.18.0.1', port: 5000 });
  });

  it('wrong key, truncated or tampered bytes and an expired checkpoint are refused; the stack stays unchanged', async () => {
    const p = await setup();
    p.server.write(pattern(10_000, 6));
    await p.clock.runFor(5);
    const bytes = encodeCheckpoint(p.server.checkpoint(), { key: KEY });
    p.A.crash();
    const B = p.newB();
    const outSegs = B.stats().tcp.outSegs;
    expect(() => restoreEncoded(B, bytes, { key: OTHER_KEY })).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_INVALID' }));
    expect(() => restoreEncoded(B, bytes.subarray(0, bytes.length - 7), { key: KEY })).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_INVALID' }));
    const bad = Uint8Array.from(bytes);
    bad[bad.length >> 1] ^= 0x40;
    expect(() => restoreEncoded(B, bad, { key: KEY })).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_INVALID' }));
    // Decode options pass through: a replay window that the checkpoint is outside of.
    expect(() => restoreEncoded(B, bytes, { key: KEY, maxAgeMs: 1000, now: Date.now() + 60_000 })).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_STALE' }));
    await p.clock.runFor(10);
    expect(B.tcp.connections().length).toBe(0);
    expect(B.stats().tcp.outSegs).toBe(outSegs);
    // The same bytes with the right key still restore afterwards.
    const s = restoreEncoded(B, bytes, { key: KEY }) as Socket;
    s.on('error', () => {});
    expect(B.tcp.connections().length).toBe(1);
  });
});
