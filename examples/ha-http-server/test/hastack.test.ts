/**
 * The server on a hastack Stack over a MemoryNetwork (VirtualClock), with Node's own http client
 * running over hastack sockets (`createConnection`) and raw hastack sockets for pipelining.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryNetwork, Stack, VirtualClock } from '@hastack/stack';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFileServer, generateRange, type HttpFileServer, type NetLike } from '../src/index.js';
import { sha256, splitResponses } from './helpers.js';

const SERVER_IP = '198.18.0.10';
const PORT = 80;
let dir: string;
let root: string;
let big: Buffer;
let clock: VirtualClock;
let serverStack: Stack;
let clientStack: Stack;
let server: HttpFileServer;

/**
 * Run the virtual clock until `p` settles, 1 ms of virtual time per step. File I/O happens on
 * real threads: small steps keep virtual time from racing ahead (firing a 120 s send timeout)
 * while the server waits for a real fs.open().
 */
async function drive<T>(p: Promise<T>, wallMs = 30_000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  const end = Date.now() + wallMs;
  while (!done && Date.now() < end) await clock.runFor(1);
  return p;
}

const conn = () => clientStack.connect({ host: SERVER_IP, port: PORT }) as unknown as net.Socket;

/**
 * An http.Agent whose every connection is a hastack socket: the client can never reach the
 * host's own network (Node ignores `createConnection` in request options when an agent is set).
 */
class HastackAgent extends http.Agent {
  override createConnection = conn as unknown as http.Agent['createConnection'];
}

function get(path: string, opts: { method?: string; headers?: Record<string, string>; agent?: http.Agent } = {}) {
  return drive(
    new Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer; reused: boolean }>((resolve, reject) => {
      const req = http.request(
        { host: SERVER_IP, port: PORT, path, method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? new HastackAgent({ keepAlive: false }) },
        (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(parts), reused: req.reusedSocket }));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end();
    }),
  );
}

/** Raw bytes over a hastack socket until the server closes. */
function rawHastack(text: string, halfClose = false): Promise<Buffer> {
  return drive(
    new Promise<Buffer>((resolve, reject) => {
      const s = conn();
      const parts: Buffer[] = [];
      s.on('data', (c: Buffer) => parts.push(c));
      s.on('end', () => {
        s.end();
        resolve(Buffer.concat(parts));
      });
      s.on('error', reject);
      s.write(text);
      if (halfClose) s.end();
    }),
  );
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ha-hs-'));
  root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  writeFileSync(join(root, 'a.txt'), 'hello over hastack\n');
  writeFileSync(join(root, 'sub', 'index.html'), '<p>i</p>\n');
  writeFileSync(join(dir, 'outside.txt'), 'outside\n');
  big = randomBytes(2 * 1024 * 1024 + 7);
  writeFileSync(join(root, 'big.bin'), big);
  clock = new VirtualClock();
  const mem = new MemoryNetwork({ seed: 1, clock });
  serverStack = new Stack({ link: mem.createPort(), address: `${SERVER_IP}/24`, clock });
  clientStack = new Stack({ link: mem.createPort(), address: '198.18.0.20/24', clock });
  server = createHttpFileServer({ root, net: serverStack as unknown as NetLike, idleTimeout: 5000 });
  await drive(server.listen(PORT, SERVER_IP));
});

afterAll(async () => {
  if (server) await drive(server.close(500));
  await drive(Promise.all([serverStack?.close(), clientStack?.close()]));
  rmSync(dir, { recursive: true, force: true });
});

describe('HTTP over hastack TCP (MemoryNetwork)', () => {
  it('GET and HEAD', async () => {
    const r = await get('/a.txt');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('hello over hastack\n');
    expect(r.headers['server']).toBe('hastack-ha-http');
    expect(r.headers['etag']).toBeDefined();
    const h = await get('/a.txt', { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe('19');
    expect(h.body.length).toBe(0);
  });

  it('304, ranges, 416, 404 and traversal', async () => {
    const etag = (await get('/a.txt')).headers['etag'] as string;
    expect((await get('/a.txt', { headers: { 'If-None-Match': etag } })).status).toBe(304);
    const r = await get('/a.txt', { headers: { Range: 'bytes=6-10' } });
    expect(r.status).toBe(206);
    expect(r.body.toString()).toBe('over ');
    expect(r.headers['content-range']).toBe('bytes 6-10/19');
    expect((await get('/a.txt', { headers: { Range: 'bytes=-4' } })).body.toString()).toBe('ack\n');
    expect((await get('/a.txt', { headers: { Range: 'bytes=15-' } })).body.toString()).toBe('ack\n');
    expect((await get('/a.txt', { headers: { Range: 'bytes=19-' } })).status).toBe(416);
    expect((await get('/nope')).status).toBe(404);
    expect((await get('/../outside.txt')).status).toBe(403);
    expect((await get('/%2e%2e/outside.txt')).status).toBe(403);
  });

  it('a 2 MiB file and a 4 MiB generated object arrive intact', async () => {
    const f = await get('/big.bin');
    expect(f.body.length).toBe(big.length);
    expect(sha256(f.body)).toBe(sha256(big));
    const g = await get('/gen/4M?seed=21');
    expect(sha256(g.body)).toBe(sha256(Buffer.concat([...generateRange(21, 0, 4 * 1024 * 1024)])));
    const g2 = await get('/gen/4M?seed=22');
    expect(sha256(g2.body)).not.toBe(sha256(g.body));
  });

  it('pipelined requests on one hastack connection, answered in order', async () => {
    const out = await rawHastack('GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /sub/ HTTP/1.1\r\nHost: x\r\n\r\nGET /gen/70000?seed=1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const rs = splitResponses(out, ['GET', 'HEAD', 'GET']);
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(rs[0].body.toString()).toBe('hello over hastack\n');
    expect(rs[2].body.equals(Buffer.concat([...generateRange(1, 0, 70000)]))).toBe(true);
  });

  it('a client that half-closes after pipelined requests gets every response (allowHalfOpen)', async () => {
    const out = await rawHastack('GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /gen/300000?seed=4 HTTP/1.1\r\nHost: x\r\n\r\n', true);
    const rs = splitResponses(out, ['GET', 'GET']);
    expect(rs.map((r) => r.status)).toEqual([200, 200]);
    expect(rs[1].body.equals(Buffer.concat([...generateRange(4, 0, 300000)]))).toBe(true);
  });

  it('keep-alive: one connection for several requests through an Agent', async () => {
    const agent = new HastackAgent({ keepAlive: true, maxSockets: 1 });
    const before = server.stats().connections;
    const a = await get('/a.txt', { agent });
    const b = await get('/sub/', { agent });
    const c = await get('/a.txt', { agent, headers: { Range: 'bytes=0-4' } });
    agent.destroy();
    expect([a.status, b.status, c.status]).toEqual([200, 200, 206]);
    expect(b.reused && c.reused).toBe(true);
    expect(server.stats().connections - before).toBe(1);
  });

  it('idle keep-alive connections are closed on the virtual clock', async () => {
    const closed = await drive(
      new Promise<number>((resolve, reject) => {
        const s = conn();
        let t0 = 0;
        s.on('data', () => {
          if (t0 === 0) t0 = clock.now();
        });
        s.on('end', () => {
          s.end();
          resolve(clock.now() - t0);
        });
        s.on('error', reject);
        s.write('GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n');
      }),
    );
    // Closed by the server's 5 s idle timeout (virtual time), not earlier.
    expect(closed).toBeGreaterThanOrEqual(4900);
    expect(closed).toBeLessThan(7000);
  });
});

describe('HTTP over a lossy, reordering hastack segment', () => {
  it('a pipelined file + 2 MiB generated download arrive intact with 2% loss, reordering and 5 ms delay', async () => {
    const c2 = new VirtualClock();
    const mem = new MemoryNetwork({ seed: 7, clock: c2, loss: 0.02, reorder: 0.02, delayMs: 5 });
    const sStack = new Stack({ link: mem.createPort(), address: '198.18.1.10/24', clock: c2 });
    const cStack = new Stack({ link: mem.createPort(), address: '198.18.1.20/24', clock: c2 });
    const srv = createHttpFileServer({ root, net: sStack as unknown as NetLike, clock: c2, serverName: null });
    let done = false;
    const listening = srv.listen(80, '198.18.1.10');
    listening.then(() => (done = true));
    while (!done) await c2.runFor(1);
    const size = 2 * 1024 * 1024;
    const p = new Promise<Buffer>((resolve, reject) => {
      const s = cStack.connect({ host: '198.18.1.10', port: 80 });
      const parts: Buffer[] = [];
      s.on('data', (c: Buffer) => parts.push(c));
      s.on('end', () => {
        s.end();
        resolve(Buffer.concat(parts));
      });
      s.on('error', reject);
      s.write(`GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /gen/${size}?seed=3 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
    });
    let finished = false;
    p.then(
      () => (finished = true),
      () => (finished = true),
    );
    const wallEnd = Date.now() + 40_000;
    while (!finished && Date.now() < wallEnd) await c2.runFor(5);
    const out = await p;
    const rs = splitResponses(out, ['GET', 'GET']);
    expect(rs.map((r) => r.status)).toEqual([200, 200]);
    expect(sha256(rs[0].body)).toBe(sha256(big));
    expect(sha256(rs[1].body)).toBe(sha256(Buffer.concat([...generateRange(3, 0, size)])));
    let closed = false;
    srv.close(100).then(() => (closed = true));
    while (!closed) await c2.runFor(5);
    let stopped = false;
    Promise.all([sStack.close(), cStack.close()]).then(() => (stopped = true));
    while (!stopped) await c2.runFor(50);
  });
});
