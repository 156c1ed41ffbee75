/**
 * The HTTP example end to end (issue 5): a client downloads from examples/ha-http-server on stack
 * A; mid-download A's connection is checkpointed with its object map (one object ref, no payload
 * bytes), A is killed, stack B (same MAC/IP) restores it with `server.objectSource` and
 * `server.resume`, and the client's download completes with the right SHA-256.
 */
import { createHash } from 'node:crypto';
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, type Socket } from '@hastack/stack';
import { decodeCheckpoint, encodeCheckpoint } from '@hastack/checkpoint';
import { createHttpFileServer, generateRange, sendEndSeqOf, type ConnectionState, type NetLike } from '../../../examples/ha-http-server/src/index.js';

const MAC = '02:00:00:00:ee:01';
const IP = '198.18.2.1';
const KEY = 'http-takeover-test-key-0123456789';

function expectedSha(seed: number, size: number): string {
  const h = createHash('sha256');
  for (const c of generateRange(seed, 0, size)) h.update(c);
  return h.digest('hex');
}

describe('HTTP example: download survives a takeover (object-mapped checkpoint)', () => {
  for (const net0 of [{}, { loss: 0.01, reorder: 0.03, jitterMs: 1 }]) {
    it(`4 MiB /gen/ download ${Object.keys(net0).length ? 'on a lossy, reordering segment' : ''}`, async () => {
      const size = 4 << 20;
      const seed = 42;
      const clock = new VirtualClock();
      const net = new MemoryNetwork({ seed: 9, delayMs: 1, ...net0, clock });
      const A = new Stack({ link: net.createPort({ mac: MAC }), address: `${IP}/24`, clock, nodeId: 'A', tcp: { sendBufferSize: 256 << 10 } });
      const C = new Stack({ link: net.createPort(), address: '198.18.2.2/24', clock, nodeId: 'C' });
      const srvA = createHttpFileServer({ root: null, net: A as unknown as NetLike, clock: A.clock, deterministic: true });
      const listening = srvA.listen(80, IP);
      await clock.runFor(2);
      await listening;

      const client = C.connect({ port: 80, host: IP }) as Socket;
      const parts: Buffer[] = [];
      let got = 0;
      let ended = false;
      client.on('data', (c: Buffer) => {
        parts.push(c);
        got += c.length;
      });
      client.on('end', () => (ended = true));
      client.on('error', () => {});
      client.write(`GET /gen/${size}?seed=${seed} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      await clock.run(() => got > 1_500_000, { maxMs: 60_000 });
      expect(ended).toBe(false);

      const [sockA] = srvA.sockets() as unknown as Socket[];
      const state = srvA.connectionState(sockA as never) as ConnectionState;
      const cp = sockA.checkpoint({ app: { protocol: 'http/1.1', state: state as never } });
      // One object reference, no payload bytes (claims 8, 22).
      expect(cp.app!.objects).toHaveLength(1);
      expect(cp.app!.objects[0].id).toBe(`gen:1:${size}:${seed}`);
      expect(cp.tcp.sendRanges).toEqual([]);
      expect(cp.tcp.sendLength).toBeGreaterThan(0);
      const bytes = encodeCheckpoint(cp, { key: KEY });
      expect(bytes.length).toBeLessThan(2000);
      A.crash();
      await clock.runFor(500);

      const B = new Stack({ link: net.createPort({ mac: MAC }), address: `${IP}/24`, clock, nodeId: 'B' });
      const srvB = createHttpFileServer({ root: null, net: B as unknown as NetLike, clock: B.clock, deterministic: true });
      const cpB = decodeCheckpoint(bytes, { key: KEY });
      if (cpB.kind !== 'tcp') throw new Error('kind');
      const sockB = B.restore(cpB, { objectSource: srvB.objectSource as never });
      srvB.resume(sockB as never, cpB.app!.state as unknown as ConnectionState, { sendEndSeq: sendEndSeqOf(cpB.tcp) });
      await clock.run(() => ended, { maxMs: 120_000 });
      expect(ended).toBe(true);
      const all = Buffer.concat(parts);
      const headEnd = all.indexOf('\r\n\r\n');
      expect(all.subarray(0, headEnd).toString('latin1')).toMatch(/^HTTP\/1\.1 200 OK/);
      const body = all.subarray(headEnd + 4);
      expect(body.length).toBe(size);
      expect(createHash('sha256').update(body).digest('hex')).toBe(expectedSha(seed, size));
      expect(srvB.stats().resumed).toBe(1);
    });
  }

  it('two takeovers in a row (A → B → D), each from an object-mapped checkpoint', async () => {
    const size = 6 << 20;
    const seed = 5;
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 10, delayMs: 1, clock });
    const mk = (id: string) => new Stack({ link: net.createPort({ mac: MAC }), address: `${IP}/24`, clock, nodeId: id, tcp: { sendBufferSize: 256 << 10 } });
    const A = mk('A');
    const C = new Stack({ link: net.createPort(), address: '198.18.2.2/24', clock, nodeId: 'C' });
    const srvA = createHttpFileServer({ root: null, net: A as unknown as NetLike, clock: A.clock, deterministic: true });
    const l = srvA.listen(80, IP);
    await clock.runFor(2);
    await l;
    const client = C.connect({ port: 80, host: IP }) as Socket;
    const parts: Buffer[] = [];
    let got = 0;
    let ended = false;
    client.on('data', (c: Buffer) => {
      parts.push(c);
      got += c.length;
    });
    client.on('end', () => (ended = true));
    client.on('error', () => {});
    client.write(`GET /gen/${size}?seed=${seed} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);

    let srv = srvA;
    let host = A;
    for (const [next, at] of [['B', 1_500_000], ['D', 4_000_000]] as const) {
      await clock.run(() => got > at, { maxMs: 60_000 });
      const [sock] = srv.sockets() as unknown as Socket[];
      const cp = sock.checkpoint({ app: { protocol: 'http/1.1', state: srv.connectionState(sock as never) as never } });
      expect(cp.tcp.sendRanges).toEqual([]);
      expect(cp.app!.objects.length).toBeGreaterThanOrEqual(1);
      const bytes = encodeCheckpoint(cp, { key: KEY });
      host.crash();
      await clock.runFor(300);
      host = mk(next);
      srv = createHttpFileServer({ root: null, net: host as unknown as NetLike, clock: host.clock, deterministic: true });
      // The takeover host also serves new connections on the same port.
      void srv.listen(80, IP);
      const back = decodeCheckpoint(bytes, { key: KEY });
      if (back.kind !== 'tcp') throw new Error('kind');
      const s2 = host.restore(back, { objectSource: srv.objectSource as never });
      srv.resume(s2 as never, back.app!.state as unknown as ConnectionState, { sendEndSeq: sendEndSeqOf(back.tcp) });
    }
    await clock.run(() => ended, { maxMs: 120_000 });
    // A new connection to the takeover host's listener works alongside the restored one.
    const c2 = C.connect({ port: 80, host: IP }) as Socket;
    let small = '';
    c2.setEncoding('latin1');
    c2.on('data', (d: string) => (small += d));
    c2.write('GET /gen/10?seed=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await clock.run(() => /\r\n\r\n[\s\S]{10}$/.test(small), { maxMs: 5000 });
    expect(small).toMatch(/^HTTP\/1\.1 200 OK/);
    const all = Buffer.concat(parts);
    const body = all.subarray(all.indexOf('\r\n\r\n') + 4);
    expect(body.length).toBe(size);
    expect(createHash('sha256').update(body).digest('hex')).toBe(expectedSha(seed, size));
  });
});
