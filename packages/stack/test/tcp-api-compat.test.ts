/**
 * node:net compatibility: each scenario is written once against a `net`-like module and run
 * twice — on node:net over the kernel's loopback (127.0.0.1) and on hastack (two stacks on a
 * MemoryNetwork, virtual clock). Both runs must produce the same events, the same bytes and the
 * same error codes. This is the acceptance check "a program written for node:net runs on
 * hastack by swapping the import".
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { mkdtempSync, writeFileSync, rmSync, createReadStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VirtualClock } from '@hastack/stack';
import { lan } from './helpers.js';

/** The part of node:net the scenarios use. */
interface NetLike {
  createServer(...args: any[]): any;
  connect(...args: any[]): any;
}

interface Env {
  name: string;
  serverNet: NetLike;
  clientNet: NetLike;
  /** Address the server listens on and the client connects to. */
  host: string;
  /** Wait for `p`, advancing whatever clock the environment runs on. */
  drive<T>(p: Promise<T>): Promise<T>;
  /** A promise that resolves after `ms` on the environment's clock. */
  sleep(ms: number): Promise<'timeout'>;
}

/** Resolve with the arguments of the next `name` event (unlike events.once, 'error' does not reject). */
function once(em: any, name: string): Promise<unknown[]> {
  return new Promise((resolve) => em.once(name, (...args: unknown[]) => resolve(args)));
}

/** Events in order without the 'data' events: how data and 'finish' interleave depends on timing. */
function withoutData(events: string[]): string[] {
  return events.filter((e) => e !== 'data');
}

/** Record a socket's events; consecutive 'data' events collapse into one (chunking differs). */
function recordSocket(s: any, out: string[]): void {
  for (const name of ['connect', 'ready', 'data', 'end', 'finish', 'timeout']) {
    s.on(name, () => {
      if (name === 'data' && out[out.length - 1] === 'data') return;
      out.push(name);
    });
  }
  s.on('error', (e: any) => out.push(`error:${e.code}:${e.syscall}`));
  s.on('close', (hadError: boolean) => out.push(`close:${hadError}`));
}

function nodeEnv(): Env {
  return {
    name: 'node:net',
    serverNet: net,
    clientNet: net,
    host: '127.0.0.1',
    drive: <T>(p: Promise<T>) => withWallTimeout(p, 20_000),
    sleep: (ms: number) => new Promise((r) => setTimeout(() => r('timeout'), ms)),
  };
}

function hastackEnv(): Env & { clock: VirtualClock } {
  const { clock, stacks } = lan(2);
  const [a, b] = stacks;
  return {
    name: 'hastack',
    clock,
    serverNet: { createServer: (...args: any[]) => b.createServer(...args), connect: (...args: any[]) => b.connect(...args) },
    clientNet: { createServer: (...args: any[]) => a.createServer(...args), connect: (...args: any[]) => a.connect(...args) },
    host: '198.18.0.2',
    drive: <T>(p: Promise<T>) => driveVirtual(clock, p),
    sleep: (ms: number) => new Promise((r) => clock.setTimer(clock.now() + ms, () => r('timeout'))),
  };
}

function withWallTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let t: NodeJS.Timeout;
  return Promise.race([p, new Promise<T>((_r, rej) => (t = setTimeout(() => rej(new Error('timed out')), ms)))]).finally(() => clearTimeout(t));
}

/** Run the virtual clock until `p` settles; real I/O (fs streams) gets real time in between. */
async function driveVirtual<T>(clock: VirtualClock, p: Promise<T>): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  const end = Date.now() + 20_000;
  while (!done && Date.now() < end) {
    await clock.run(() => done, { maxMs: 30_000, wallMs: 10_000 });
    if (!done) await new Promise((r) => setTimeout(r, 1));
  }
  return withWallTimeout(p, 1);
}

// ------------------------------------------------------------------------------------- scenarios

/** An echo server; a client pipes a file through it and hashes what comes back. */
async function echoFile(env: Env, file: string) {
  const serverEvents: string[] = [];
  const sockEvents: string[] = [];
  const server = env.serverNet.createServer((sock: any) => {
    serverEvents.push('connection');
    recordSocket(sock, sockEvents);
    sock.pipe(sock);
  });
  server.on('listening', () => serverEvents.push('listening'));
  server.on('close', () => serverEvents.push('close'));
  server.listen(0, env.host);
  await env.drive(once(server, 'listening'));
  const addr = server.address();
  const port = addr.port;
  const clientEvents: string[] = [];
  const hash = createHash('sha256');
  let bytes = 0;
  const client = env.clientNet.connect({ port, host: env.host });
  recordSocket(client, clientEvents);
  let remote: unknown;
  client.on('connect', () => (remote = { family: client.remoteFamily, port: client.remotePort === port, address: client.remoteAddress === env.host, local: client.address().family }));
  client.on('data', (d: Buffer) => {
    hash.update(d);
    bytes += d.length;
  });
  client.on('connect', () => createReadStream(file).pipe(client));
  await env.drive(once(client, 'close'));
  server.close();
  await env.drive(once(server, 'close'));
  return {
    addressShape: { family: addr.family, address: addr.address === env.host, portOk: port > 0 },
    serverEvents,
    sockEvents,
    clientEvents,
    digest: hash.digest('hex'),
    bytes,
    clientBytes: { read: client.bytesRead, written: client.bytesWritten },
    remote,
  };
}

/** Connecting to a port nobody listens on. */
async function refused(env: Env) {
  // Find a closed port the portable way: listen on 0, note the port, close.
  const probe = env.serverNet.createServer();
  probe.listen(0, env.host);
  await env.drive(once(probe, 'listening'));
  const port = probe.address().port;
  probe.close();
  await env.drive(once(probe, 'close'));
  const events: string[] = [];
  const client = env.clientNet.connect(port, env.host);
  recordSocket(client, events);
  let error: any;
  client.on('error', (e: any) => (error = e));
  await env.drive(once(client, 'close'));
  return { events, code: error.code, errno: error.errno, syscall: error.syscall, address: error.address === env.host, port: error.port === port, message: error.message === `connect ECONNREFUSED ${env.host}:${port}` };
}

/** The server resets the connection after the first bytes. */
async function reset(env: Env) {
  const server = env.serverNet.createServer((sock: any) => {
    sock.once('data', () => sock.resetAndDestroy());
  });
  server.listen(0, env.host);
  await env.drive(once(server, 'listening'));
  const events: string[] = [];
  const client = env.clientNet.connect(server.address().port, env.host);
  recordSocket(client, events);
  let error: any;
  client.on('error', (e: any) => (error = e));
  client.write('hello');
  await env.drive(once(client, 'close'));
  server.close();
  await env.drive(once(server, 'close'));
  return { events, code: error.code, errno: error.errno, syscall: error.syscall };
}

/** Listening twice on one port. */
async function addrInUse(env: Env) {
  const a = env.serverNet.createServer();
  a.listen(0, env.host);
  await env.drive(once(a, 'listening'));
  const port = a.address().port;
  const b = env.serverNet.createServer();
  const events: string[] = [];
  b.on('listening', () => events.push('listening'));
  b.on('error', (e: any) => events.push(`error:${e.code}:${e.syscall}:${e.port === port}:${b.listening}`));
  b.listen(port, env.host);
  events.push('after-listen');
  await env.drive(new Promise((r) => b.once('error', r)));
  a.close();
  await env.drive(once(a, 'close'));
  return events;
}

/** Half-close: the client sends a request and ends; the server (allowHalfOpen) replies after 'end'. */
async function halfClose(env: Env) {
  const serverEvents: string[] = [];
  const server = env.serverNet.createServer({ allowHalfOpen: true }, (sock: any) => {
    recordSocket(sock, serverEvents);
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('end', () => {
      serverEvents.push(`readyState:${sock.readyState}`);
      sock.end(`got ${Buffer.concat(chunks).length} bytes`);
    });
  });
  server.listen(0, env.host);
  await env.drive(once(server, 'listening'));
  const clientEvents: string[] = [];
  const client = env.clientNet.connect(server.address().port, env.host);
  recordSocket(client, clientEvents);
  let reply = '';
  client.on('data', (d: Buffer) => (reply += d.toString()));
  client.on('finish', () => clientEvents.push(`readyState:${client.readyState}`));
  client.end(Buffer.alloc(100_000, 1));
  await env.drive(once(client, 'close'));
  server.close();
  await env.drive(once(server, 'close'));
  return { serverEvents, clientEvents, reply };
}

/**
 * Backpressure: against a paused reader, write until write() returns false and no 'drain' comes
 * for a while (every buffer on the way is full); then the reader resumes, 'drain' follows and
 * every byte arrives.
 */
async function backpressure(env: Env) {
  let serverSock: any;
  const server = env.serverNet.createServer({ pauseOnConnect: true }, (sock: any) => (serverSock = sock));
  server.listen(0, env.host);
  await env.drive(once(server, 'listening'));
  const client = env.clientNet.connect(server.address().port, env.host);
  await env.drive(once(client, 'connect'));
  const chunk = Buffer.alloc(64 * 1024, 7);
  let written = 0;
  let stalled = false;
  // Bounded: 64 MiB is far more than the buffers of either stack.
  while (written < 64 * 1024 * 1024) {
    const ok = client.write(chunk);
    written += chunk.length;
    if (!ok) {
      const r = await env.drive(Promise.race([once(client, 'drain').then(() => 'drain'), env.sleep(300)]));
      if (r === 'timeout') {
        stalled = true;
        break;
      }
    }
  }
  let received = 0;
  const drained = once(client, 'drain');
  serverSock.on('data', (d: Buffer) => (received += d.length));
  serverSock.resume();
  await env.drive(drained);
  client.resume();
  client.end();
  await env.drive(once(serverSock, 'end'));
  await env.drive(once(client, 'close'));
  server.close();
  await env.drive(once(server, 'close'));
  return { stalled, complete: received === written, bytesWritten: client.bytesWritten === written, bounded: written < 64 * 1024 * 1024 };
}

/** The client destroys its socket mid-stream: the server sees a clean end (FIN), not an error. */
async function clientDestroy(env: Env) {
  const serverEvents: string[] = [];
  let received = 0;
  const server = env.serverNet.createServer((sock: any) => {
    recordSocket(sock, serverEvents);
    sock.on('data', (d: Buffer) => (received += d.length));
  });
  server.listen(0, env.host);
  await env.drive(once(server, 'listening'));
  const clientEvents: string[] = [];
  const client = env.clientNet.connect(server.address().port, env.host);
  recordSocket(client, clientEvents);
  client.on('connect', () => client.write(Buffer.alloc(1000, 1), () => client.destroy()));
  await env.drive(once(client, 'close'));
  await env.drive(new Promise((r) => waitClose(serverEvents, r)));
  server.close();
  await env.drive(once(server, 'close'));
  return { serverEvents: withoutData(serverEvents), clientEvents, received };
}

/** Resolve once `events` contains a close entry (polled on every turn of the event loop). */
function waitClose(events: string[], resolve: (v: unknown) => void): void {
  const check = (): void => {
    if (events.some((e) => e.startsWith('close'))) resolve(0);
    else setImmediate(check);
  };
  check();
}

/** An idle server socket times out ('timeout' does not close) and the server then ends it. */
async function idleTimeout(env: Env) {
  const serverEvents: string[] = [];
  const server = env.serverNet.createServer((sock: any) => {
    recordSocket(sock, serverEvents);
    sock.setTimeout(200);
    sock.on('timeout', () => {
      serverEvents.push(`destroyed:${sock.destroyed}`);
      sock.end();
    });
  });
  server.listen(0, env.host);
  await env.drive(once(server, 'listening'));
  const clientEvents: string[] = [];
  const client = env.clientNet.connect(server.address().port, env.host);
  recordSocket(client, clientEvents);
  client.resume();
  await env.drive(once(client, 'close'));
  server.close();
  await env.drive(once(server, 'close'));
  return { serverEvents, clientEvents };
}

/** server.close() with a connection open: 'close' waits for that connection to end. */
async function closeWhileConnected(env: Env) {
  const order: string[] = [];
  const server = env.serverNet.createServer((sock: any) => {
    order.push('connection');
    server.close(() => order.push('close-callback'));
    order.push(`listening:${server.listening}`);
    sock.on('close', () => order.push('socket-close'));
    sock.resume();
  });
  server.on('close', () => order.push('server-close'));
  server.listen(0, env.host);
  await env.drive(once(server, 'listening'));
  const client = env.clientNet.connect(server.address().port, env.host);
  await env.drive(once(client, 'connect'));
  await env.drive(new Promise((r) => (order.includes('connection') ? r(0) : server.once('connection', () => setImmediate(r)))));
  order.push('client-end');
  client.end();
  client.resume();
  await env.drive(once(server, 'close'));
  return order;
}

/** maxConnections: the connection over the limit is accepted and closed; 'drop' on the server. */
async function maxConnections(env: Env) {
  const drops: string[] = [];
  const kept: any[] = [];
  const server = env.serverNet.createServer((sock: any) => {
    kept.push(sock);
    sock.resume();
  });
  server.maxConnections = 1;
  server.on('drop', (d: any) => drops.push(`${d.localFamily}:${d.remoteFamily}:${d.localPort === server.address().port}`));
  server.listen(0, env.host);
  await env.drive(once(server, 'listening'));
  const port = server.address().port;
  const first = env.clientNet.connect(port, env.host);
  await env.drive(once(first, 'connect'));
  await env.drive(new Promise((r) => (kept.length ? r(0) : server.once('connection', r))));
  const events: string[] = [];
  const second = env.clientNet.connect(port, env.host);
  recordSocket(second, events);
  second.resume();
  await env.drive(once(second, 'close'));
  const count = await env.drive(new Promise((r) => server.getConnections((_e: unknown, n: number) => r(n))));
  first.destroy();
  server.close();
  await env.drive(once(server, 'close'));
  return { events, drops, count, kept: kept.length };
}

// ------------------------------------------------------------------------------------- tests

let dir: string;
let file: string;
let fileDigest: string;
const FILE_SIZE = 3 * 1024 * 1024 + 12345;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'hastack-compat-'));
  file = join(dir, 'payload.bin');
  const data = Buffer.alloc(FILE_SIZE);
  let x = 12345;
  for (let i = 0; i < data.length; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    data[i] = x >>> 24;
  }
  writeFileSync(file, data);
  fileDigest = createHash('sha256').update(data).digest('hex');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('node:net compatibility (same program, node:net vs hastack)', () => {
  it('echo server + client piping a file: same events, same bytes', async () => {
    const ref = await echoFile(nodeEnv(), file);
    const ours = await echoFile(hastackEnv(), file);
    expect(ref.digest).toBe(fileDigest);
    expect(ref.bytes).toBe(FILE_SIZE);
    expect(ours.digest).toBe(fileDigest);
    expect(withoutData(ours.clientEvents)).toEqual(withoutData(ref.clientEvents));
    expect(withoutData(ours.sockEvents)).toEqual(withoutData(ref.sockEvents));
    expect(ours.clientEvents.includes('data') && ours.sockEvents.includes('data')).toBe(true);
    expect(ours.serverEvents).toEqual(ref.serverEvents);
    expect(ours.clientBytes).toEqual(ref.clientBytes);
    expect(ours.addressShape).toEqual(ref.addressShape);
    expect(ours.remote).toEqual(ref.remote);
    expect(withoutData(ref.clientEvents)).toEqual(['connect', 'ready', 'finish', 'end', 'close:false']);
  });

  it('connection refused: same error code, errno, syscall, address, port, message', async () => {
    const ref = await refused(nodeEnv());
    const ours = await refused(hastackEnv());
    expect(ref.code).toBe('ECONNREFUSED');
    expect(ours).toEqual(ref);
  });

  it('peer reset: ECONNRESET with syscall read, close(true)', async () => {
    const ref = await reset(nodeEnv());
    const ours = await reset(hastackEnv());
    expect(ref.code).toBe('ECONNRESET');
    expect(ours).toEqual(ref);
  });

  it('EADDRINUSE: emitted asynchronously with syscall listen', async () => {
    const ref = await addrInUse(nodeEnv());
    const ours = await addrInUse(hastackEnv());
    expect(ref).toEqual(['after-listen', 'error:EADDRINUSE:listen:true:false']);
    expect(ours).toEqual(ref);
  });

  it('half-close with allowHalfOpen: the reply arrives after the client ended its side', async () => {
    const ref = await halfClose(nodeEnv());
    const ours = await halfClose(hastackEnv());
    expect(ref.reply).toBe('got 100000 bytes');
    expect(ours).toEqual(ref);
  });

  it('backpressure: write() turns false against a paused reader, drain follows resume', async () => {
    const ref = await backpressure(nodeEnv());
    const ours = await backpressure(hastackEnv());
    expect(ref).toEqual({ stalled: true, complete: true, bytesWritten: true, bounded: true });
    expect(ours).toEqual(ref);
  });

  it('client destroy() mid-stream: the server sees end, not an error', async () => {
    const ref = await clientDestroy(nodeEnv());
    const ours = await clientDestroy(hastackEnv());
    expect(ref.serverEvents).toEqual(['end', 'finish', 'close:false']);
    expect(ours).toEqual(ref);
  });

  it("setTimeout: 'timeout' on an idle socket does not close it", async () => {
    const ref = await idleTimeout(nodeEnv());
    const ours = await idleTimeout(hastackEnv());
    expect(ref.serverEvents.slice(0, 2)).toEqual(['timeout', 'destroyed:false']);
    expect(ours).toEqual(ref);
  });

  it("server.close() with an open connection: 'close' after that connection ends", async () => {
    const ref = await closeWhileConnected(nodeEnv());
    const ours = await closeWhileConnected(hastackEnv());
    // Node: the server's 'close' (nextTick from the socket's destroy) precedes the socket's own 'close'.
    expect(ref).toEqual(['connection', 'listening:false', 'client-end', 'server-close', 'close-callback', 'socket-close']);
    expect(ours).toEqual(ref);
  });

  it('maxConnections: the extra connection is accepted then closed, with a drop event', async () => {
    const ref = await maxConnections(nodeEnv());
    const ours = await maxConnections(hastackEnv());
    expect(ref.drops).toEqual(['IPv4:IPv4:true']);
    expect(ours).toEqual(ref);
  });
});
