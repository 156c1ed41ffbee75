/**
 * Unit tests of the node:net-shaped TCP API (tcp/socket.ts, tcp/server.ts) against a fake
 * engine that implements tcp/contract.ts: every engine event is driven by hand, so these tests
 * pin down the API's own behaviour — backpressure, the window following the reader, event
 * order, Node's error shapes and close semantics — independently of the protocol engine.
 */
import { describe, it, expect } from 'vitest';
import { HastackError, VirtualClock, parseIp, err } from '@hastack/stack';
import type {
  TcpConnectionEvents,
  TcpConnectionHandle,
  TcpEngineApi,
  TcpListenOptions,
  TcpListenerHandle,
  TcpOpenOptions,
  TcpStateName,
} from '../src/tcp/contract.js';
import { Socket, Server, connect, createServer, type TcpApiHost } from '../src/tcp/api.js';

const A = parseIp('198.18.0.1');
const B = parseIp('198.18.0.2');

class FakeConn implements TcpConnectionHandle {
  state: TcpStateName = 'SYN_SENT';
  events: TcpConnectionEvents | null = null;
  /** Send buffer capacity and current use. */
  capacity = 1 << 30;
  used = 0;
  sent: Buffer[] = [];
  paused = false;
  pauseCalls: boolean[] = [];
  shutdowns = 0;
  aborts = 0;
  noDelayCalls: boolean[] = [];
  keepAliveCalls: Array<[boolean, number | undefined]> = [];
  constructor(
    public localAddress: number,
    public localPort: number,
    public remoteAddress: number,
    public remotePort: number,
  ) {}
  setEvents(e: TcpConnectionEvents): void {
    this.events = e;
  }
  send(data: Uint8Array): number {
    if (this.shutdowns > 0 || this.aborts > 0) throw err('EPIPE', 'closed');
    const n = Math.min(data.length, this.capacity - this.used);
    if (n > 0) this.sent.push(Buffer.from(data.subarray(0, n)));
    this.used += n;
    return n;
  }
  sendBufferAvailable(): number {
    return this.capacity - this.used;
  }
  get bytesInFlightOrQueued(): number {
    return this.used;
  }
  setReceivePaused(p: boolean): void {
    this.paused = p;
    this.pauseCalls.push(p);
  }
  shutdown(): void {
    this.shutdowns++;
  }
  abort(): void {
    this.aborts++;
    this.state = 'CLOSED';
  }
  setNoDelay(v: boolean): void {
    this.noDelayCalls.push(v);
  }
  setKeepAlive(e: boolean, d?: number): void {
    this.keepAliveCalls.push([e, d]);
  }
  held = 0;
  info(): Record<string, unknown> {
    return { state: this.state, fake: true, heldBytes: this.held };
  }
  // test drivers
  sentBytes(): Buffer {
    return Buffer.concat(this.sent);
  }
  /** The peer acknowledged `n` bytes: free space and tell the API. */
  ack(n: number): void {
    this.used -= n;
    this.events!.onSendSpace();
  }
  establish(): void {
    this.state = 'ESTABLISHED';
    this.events!.onEstablished();
  }
}

class FakeTcp implements TcpEngineApi {
  opened: Array<{ opts: TcpOpenOptions; conn: FakeConn }> = [];
  listeners: Array<{ opts: TcpListenOptions; closed: boolean }> = [];
  openError: HastackError | null = null;
  nextPort = 49152;
  listen(opts: TcpListenOptions): TcpListenerHandle {
    if (this.listeners.some((l) => !l.closed && l.opts.localPort === opts.localPort && opts.localPort !== 0)) throw err('EADDRINUSE', 'in use');
    const rec = { opts, closed: false };
    this.listeners.push(rec);
    const port = opts.localPort || this.nextPort++;
    return {
      localAddress: opts.localAddress,
      localPort: port,
      close() {
        rec.closed = true;
      },
    };
  }
  open(opts: TcpOpenOptions, events: TcpConnectionEvents): TcpConnectionHandle {
    if (this.openError) throw this.openError;
    const conn = new FakeConn(opts.localAddress || A, opts.localPort || this.nextPort++, opts.remoteAddress, opts.remotePort);
    conn.events = events;
    this.opened.push({ opts, conn });
    return conn;
  }
  /** A passive open completes on listener `i`. Returns the conn and what onConnection returned. */
  accept(i = 0, remotePort = 50000): { conn: FakeConn; accepted: boolean | void } {
    const l = this.listeners[i];
    const conn = new FakeConn(B, l.opts.localPort, A, remotePort);
    conn.state = 'ESTABLISHED';
    const accepted = l.opts.onConnection(conn);
    return { conn, accepted };
  }
}

function host(): { tcp: FakeTcp; clock: VirtualClock; h: TcpApiHost } {
  const tcp = new FakeTcp();
  const clock = new VirtualClock();
  return { tcp, clock, h: { tcp, clock } };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

function record(s: Socket | Server, names: string[]): string[] {
  const out: string[] = [];
  for (const n of names) s.on(n, (a: unknown) => out.push(n === 'close' ? `close:${String(a)}` : n === 'error' ? `error:${(a as HastackError).code}` : n));
  return out;
}

async function connected(h: TcpApiHost, tcp: FakeTcp, opts: Record<string, unknown> = {}): Promise<{ s: Socket; conn: FakeConn }> {
  const s = connect(h, { host: '198.18.0.2', port: 80, ...opts });
  await tick();
  const conn = tcp.opened[tcp.opened.length - 1].conn;
  conn.establish();
  return { s, conn };
}

describe('Socket: connect', () => {
  it('opens on the next tick, emits connect then ready, and exposes Node-style addresses', async () => {
    const { tcp, h } = host();
    const s = connect(h, 80, '198.18.0.2');
    const ev = record(s, ['connect', 'ready', 'error']);
    expect(s.connecting).toBe(true);
    expect(s.pending).toBe(true);
    expect(s.readyState).toBe('opening');
    expect(s.remoteAddress).toBeUndefined();
    expect(tcp.opened.length).toBe(0); // like Node, the attempt starts on the next tick
    await tick();
    expect(tcp.opened.length).toBe(1);
    expect(tcp.opened[0].opts.remoteAddress).toBe(B);
    expect(tcp.opened[0].opts.remotePort).toBe(80);
    tcp.opened[0].conn.establish();
    expect(ev).toEqual(['connect', 'ready']);
    expect(s.connecting).toBe(false);
    expect(s.pending).toBe(false);
    expect(s.readyState).toBe('open');
    expect(s.remoteAddress).toBe('198.18.0.2');
    expect(s.remotePort).toBe(80);
    expect(s.remoteFamily).toBe('IPv4');
    expect(s.localAddress).toBe('198.18.0.1');
    expect(s.localPort).toBe(49152);
    expect(s.address()).toEqual({ address: '198.18.0.1', family: 'IPv4', port: 49152 });
  });

  it('queues writes and end() made while connecting and sends them after connect', async () => {
    const { tcp, h } = host();
    const s = connect(h, { host: '198.18.0.2', port: 80 });
    const order: string[] = [];
    s.on('connect', () => order.push(`connect(sent=${tcp.opened[0].conn.sentBytes().length})`));
    s.write('abc');
    s.end('def');
    await tick();
    const conn = tcp.opened[0].conn;
    expect(conn.sent.length).toBe(0);
    conn.establish();
    await tick();
    await tick();
    expect(order).toEqual(['connect(sent=0)']);
    expect(conn.sentBytes().toString()).toBe('abcdef');
    expect(conn.shutdowns).toBe(1);
    expect(s.bytesWritten).toBe(6);
  });

  it('passes engine options and pre-connect setNoDelay/setKeepAlive to open()', async () => {
    const { tcp, h } = host();
    const s = connect(h, { host: '198.18.0.2', port: 80, sendBufferSize: 12345, congestionControl: 'newreno', sack: false, localPort: 4000 });
    s.setNoDelay();
    s.setKeepAlive(true, 5000);
    await tick();
    const o = tcp.opened[0].opts;
    expect(o).toMatchObject({ sendBufferSize: 12345, congestionControl: 'newreno', sack: false, noDelay: true, keepAlive: true, keepAliveInitialDelay: 5000, localPort: 4000 });
    const conn = tcp.opened[0].conn;
    conn.establish();
    s.setNoDelay(false);
    s.setKeepAlive(false);
    expect(conn.noDelayCalls).toEqual([false]);
    expect(conn.keepAliveCalls).toEqual([[false, undefined]]);
  });

  it('validates port and host synchronously like Node', () => {
    const { h } = host();
    expect(() => connect(h, { host: '198.18.0.2', port: 70000 })).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    expect(() => connect(h, { host: '198.18.0.2', port: -1 })).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    expect(() => connect(h, { host: '198.18.0.2' } as never)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
    expect(() => connect(h, { host: 'not-an-ip', port: 80 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }));
    expect(() => connect(h, '/tmp/sock')).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });

  it('new Socket({ stack }).connect() works, and connect() twice throws', async () => {
    const { tcp, h } = host();
    const s = new Socket({ stack: h });
    s.connect(80, '198.18.0.2');
    expect(() => s.connect(81, '198.18.0.2')).toThrow(HastackError);
    await tick();
    expect(tcp.opened.length).toBe(1);
    expect(() => new Socket().connect(80, '198.18.0.2')).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_CLOSED' }));
  });
});

describe('Socket: errors (Node codes, syscall, address, port; error before close)', () => {
  it('ECONNREFUSED while connecting', async () => {
    const { tcp, h } = host();
    const s = connect(h, 81, '198.18.0.2');
    const ev = record(s, ['connect', 'error', 'close']);
    let e: HastackError | undefined;
    s.on('error', (x) => (e = x as HastackError));
    await tick();
    tcp.opened[0].conn.events!.onClosed(err('ECONNREFUSED', 'refused'));
    await tick();
    await tick();
    expect(ev).toEqual(['error:ECONNREFUSED', 'close:true']);
    expect(e).toBeInstanceOf(HastackError);
    expect(e).toMatchObject({ code: 'ECONNREFUSED', errno: -111, syscall: 'connect', address: '198.18.0.2', port: 81 });
    expect(e!.message).toBe('connect ECONNREFUSED 198.18.0.2:81');
    expect(s.destroyed).toBe(true);
    expect(s.readyState).toBe('closed');
  });

  it('ETIMEDOUT while connecting carries syscall connect', async () => {
    const { tcp, h } = host();
    const s = connect(h, 81, '198.18.0.2');
    let e: HastackError | undefined;
    s.on('error', (x) => (e = x as HastackError));
    await tick();
    tcp.opened[0].conn.events!.onClosed(err('ETIMEDOUT', 'timeout'));
    await tick();
    expect(e).toMatchObject({ code: 'ETIMEDOUT', errno: -110, syscall: 'connect', address: '198.18.0.2', port: 81 });
  });

  it('ECONNRESET on an established connection: syscall read', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp);
    const ev = record(s, ['end', 'error', 'close']);
    let e: HastackError | undefined;
    s.on('error', (x) => (e = x as HastackError));
    conn.events!.onClosed(err('ECONNRESET', 'reset'));
    await tick();
    await tick();
    expect(ev).toEqual(['error:ECONNRESET', 'close:true']);
    expect(e).toMatchObject({ code: 'ECONNRESET', errno: -104, syscall: 'read' });
    expect(conn.aborts).toBe(0); // the engine already forgot it
  });

  it('a bind failure from open() is emitted asynchronously with syscall bind', async () => {
    const { tcp, h } = host();
    tcp.openError = err('EADDRINUSE', 'in use');
    const s = connect(h, { host: '198.18.0.2', port: 80, localPort: 5000 });
    let e: HastackError | undefined;
    s.on('error', (x) => (e = x as HastackError)); // attached after connect(): still sees it
    await tick();
    await tick();
    expect(e).toMatchObject({ code: 'EADDRINUSE', syscall: 'bind', address: '0.0.0.0', port: 5000 });
  });

  it('write after the engine refuses (EPIPE) destroys with EPIPE, syscall write', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp);
    conn.shutdowns = 1; // the fake now throws EPIPE from send()
    let e: HastackError | undefined;
    s.on('error', (x) => (e = x as HastackError));
    s.write('x');
    await tick();
    expect(e).toMatchObject({ code: 'EPIPE', syscall: 'write' });
  });

  it('write after end(): ERR_STREAM_WRITE_AFTER_END', async () => {
    const { tcp, h } = host();
    const { s } = await connected(h, tcp);
    s.end();
    let e: { code?: string } | undefined;
    s.on('error', (x: Error) => (e = x as { code?: string }));
    s.write('late');
    await tick();
    expect(e?.code).toBe('ERR_STREAM_WRITE_AFTER_END');
  });
});

describe('Socket: backpressure (write returns false, drain follows the engine)', () => {
  it('holds the write callback until onSendSpace lets the rest in', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp, { writableHighWaterMark: 1000 });
    conn.capacity = 300;
    const payload = Buffer.alloc(5000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    let drains = 0;
    s.on('drain', () => drains++);
    let cbDone = false;
    const ok = s.write(payload, () => (cbDone = true));
    expect(ok).toBe(false); // 5000 > writableHighWaterMark
    expect(conn.sentBytes().length).toBe(300);
    expect(s.writableLength).toBe(5000);
    expect(s.bytesWritten).toBe(5000);
    await tick();
    expect(cbDone).toBe(false);
    expect(drains).toBe(0);
    // The peer acknowledges bit by bit; each onSendSpace lets in what fits.
    let guard = 0;
    while (conn.sentBytes().length < 5000 && guard++ < 100) conn.ack(conn.used);
    await tick();
    expect(conn.sentBytes().equals(payload)).toBe(true);
    expect(cbDone).toBe(true);
    expect(drains).toBe(1);
    expect(s.writableLength).toBe(0);
    expect(s.bytesWritten).toBe(5000);
  });

  it('many small writes: write() turns false at the high-water mark and drain fires once it empties', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp, { writableHighWaterMark: 100 });
    conn.capacity = 50;
    const results: boolean[] = [];
    for (let i = 0; i < 20; i++) results.push(s.write(Buffer.alloc(10, i)));
    expect(results.slice(0, 5).every(Boolean)).toBe(true); // first 5 accepted by the engine at once
    expect(results[results.length - 1]).toBe(false);
    let drained = false;
    s.once('drain', () => (drained = true));
    while (conn.sentBytes().length < 200) {
      conn.ack(conn.used);
      await tick();
    }
    expect(drained).toBe(true);
    const all = conn.sentBytes();
    for (let i = 0; i < 20; i++) expect(all[i * 10]).toBe(i);
  });
});

describe('Socket: receive (window follows the reader)', () => {
  it('delivers data as zero-copy Buffer views and counts bytesRead', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp);
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    await tick();
    const ab = new ArrayBuffer(100);
    const chunk = new Uint8Array(ab, 10, 50).fill(7);
    conn.events!.onData(chunk);
    expect(got.length).toBe(1);
    expect(Buffer.isBuffer(got[0])).toBe(true);
    expect(got[0].buffer).toBe(ab); // a view, not a copy
    expect(got[0].byteOffset).toBe(10);
    expect(s.bytesRead).toBe(50);
  });

  it('pauses the engine when the readable buffer fills, resumes it when the reader reads', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp, { readableHighWaterMark: 1000 });
    s.pause();
    conn.events!.onData(new Uint8Array(600));
    expect(conn.pauseCalls).toEqual([]);
    conn.events!.onData(new Uint8Array(600)); // over the high-water mark
    expect(conn.pauseCalls).toEqual([true]);
    expect(conn.paused).toBe(true);
    // The application reads: the engine is told to resume.
    const d = s.read();
    expect(d.length).toBe(1200);
    await tick();
    expect(conn.pauseCalls).toEqual([true, false]);
    expect(conn.paused).toBe(false);
  });

  it('a flowing reader never pauses the engine; pause() then resume() does', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp, { readableHighWaterMark: 100 });
    let n = 0;
    s.on('data', (d: Buffer) => (n += d.length));
    await tick(); // on('data') starts flowing on the next tick
    for (let i = 0; i < 10; i++) conn.events!.onData(new Uint8Array(500));
    expect(n).toBe(5000);
    expect(conn.pauseCalls).toEqual([]);
    s.pause();
    conn.events!.onData(new Uint8Array(500));
    expect(conn.pauseCalls).toEqual([true]);
    s.resume();
    await tick();
    await tick();
    expect(conn.pauseCalls).toEqual([true, false]);
    expect(n).toBe(5500);
  });

  it('peer FIN: end, then (allowHalfOpen false) the socket ends its side; write after that is EPIPE', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp);
    const ev = record(s, ['end', 'finish', 'close', 'error']);
    s.resume();
    conn.events!.onFin();
    await tick();
    await tick();
    expect(ev.slice(0, 2)).toEqual(['end', 'finish']);
    expect(conn.shutdowns).toBe(1);
    await tick();
    expect(ev).toEqual(['end', 'finish', 'close:false']);
    expect(conn.aborts).toBe(0);
    // Node's writeAfterFIN: EPIPE "This socket has been ended by the other party".
    const { s: s2, conn: c2 } = await connected(h, tcp);
    s2.resume();
    let e: HastackError | undefined;
    s2.on('error', (x) => (e = x as HastackError));
    s2.on('end', () => {
      s2.end(); // what Duplex does for allowHalfOpen false, made synchronous here
      s2.write('too late');
    });
    c2.events!.onFin();
    await tick();
    await tick();
    expect(e?.code).toBe('EPIPE');
    expect(e?.message).toBe('This socket has been ended by the other party');
  });

  it('allowHalfOpen: after the peer FIN the socket stays writable until end()', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp, { allowHalfOpen: true });
    s.resume();
    conn.events!.onFin();
    await tick();
    await tick();
    expect(conn.shutdowns).toBe(0);
    expect(s.readyState).toBe('writeOnly');
    s.write('reply');
    expect(conn.sentBytes().toString()).toBe('reply');
    s.end();
    await tick();
    expect(conn.shutdowns).toBe(1);
  });

  it('a clean onClosed before onFin (TIME_WAIT reached while the reader is paused) keeps the data', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp, { readableHighWaterMark: 10 });
    s.pause();
    conn.events!.onData(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]));
    s.end();
    await tick();
    conn.events!.onClosed(undefined);
    conn.events!.onFin();
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    const closed = new Promise((r) => s.on('close', r));
    s.resume();
    await closed;
    expect(Buffer.concat(got).length).toBe(11);
  });
});

describe('Socket: exceptions from application handlers', () => {
  it('do not unwind through the engine: rethrown on the next tick (an uncaught exception, as with node:net)', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp);
    const boom = new Error('handler bug');
    s.on('data', () => {
      throw boom;
    });
    await tick();
    const orig = process.nextTick;
    const thrown: unknown[] = [];
    process.nextTick = ((fn: (...a: unknown[]) => void, ...args: unknown[]) =>
      orig(() => {
        try {
          fn(...args);
        } catch (e) {
          thrown.push(e);
        }
      })) as typeof process.nextTick;
    try {
      expect(() => conn.events!.onData(new Uint8Array(3))).not.toThrow();
      await tick();
    } finally {
      process.nextTick = orig;
    }
    expect(thrown).toEqual([boom]);
    expect(s.bytesRead).toBe(3);
  });

  it("a throwing 'connection' handler still accepts the connection", async () => {
    const { tcp, h } = host();
    const boom = new Error('connection handler bug');
    createServer(h, () => {
      throw boom;
    }).listen(80);
    const orig = process.nextTick;
    const thrown: unknown[] = [];
    process.nextTick = ((fn: (...a: unknown[]) => void, ...args: unknown[]) =>
      orig(() => {
        try {
          fn(...args);
        } catch (e) {
          thrown.push(e);
        }
      })) as typeof process.nextTick;
    let accepted: boolean | void;
    try {
      accepted = tcp.accept().accepted;
      await tick();
    } finally {
      process.nextTick = orig;
    }
    expect(accepted).toBe(true);
    expect(thrown).toEqual([boom]);
  });
});

describe('Socket: destroy semantics', () => {
  it('destroy() on an established socket sends FIN (shutdown), not RST, and emits close(false)', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp);
    const ev = record(s, ['close', 'error']);
    s.destroy();
    await tick();
    expect(conn.shutdowns).toBe(1);
    expect(conn.aborts).toBe(0);
    expect(ev).toEqual(['close:false']);
    // Data arriving for the closed socket is answered with RST (Linux behaviour).
    conn.events!.onData(new Uint8Array(10));
    expect(conn.aborts).toBe(1);
  });

  it('destroy(err) emits error then close(true)', async () => {
    const { tcp, h } = host();
    const { s } = await connected(h, tcp);
    const ev = record(s, ['close', 'error']);
    s.destroy(Object.assign(new Error('boom'), { code: 'EBOOM' }) as never);
    await tick();
    await tick();
    expect(ev).toEqual(['error:EBOOM', 'close:true']);
  });

  it('destroy() with received data held by the engine (reader paused) aborts with RST', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp, { readableHighWaterMark: 10 });
    s.pause();
    conn.events!.onData(new Uint8Array(20));
    expect(conn.paused).toBe(true);
    conn.held = 5; // the engine holds bytes the reader has not taken
    s.destroy();
    expect(conn.aborts).toBe(1);
  });

  it('destroy() of a paused reader with nothing held closes gracefully (FIN)', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp, { readableHighWaterMark: 10 });
    s.pause();
    conn.events!.onData(new Uint8Array(20));
    expect(conn.paused).toBe(true);
    s.destroy();
    expect(conn.aborts).toBe(0);
    expect(conn.shutdowns).toBe(1);
    expect(conn.pauseCalls).toEqual([true, false]); // drained into the orphan (which RSTs on data)
  });

  it('destroy() while connecting aborts the attempt; before open() it never opens', async () => {
    const { tcp, h } = host();
    const s = connect(h, 80, '198.18.0.2');
    s.destroy();
    await tick();
    expect(tcp.opened.length).toBe(0);
    const s2 = connect(h, 80, '198.18.0.2');
    await tick();
    s2.destroy();
    expect(tcp.opened[0].conn.aborts).toBe(1);
  });

  it('resetAndDestroy() aborts', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp);
    s.resetAndDestroy();
    expect(conn.aborts).toBe(1);
    expect(conn.shutdowns).toBe(0);
  });

  it('destroySoon() ends then destroys after finish', async () => {
    const { tcp, h } = host();
    const { s, conn } = await connected(h, tcp);
    s.write('abc');
    s.destroySoon();
    await tick();
    await tick();
    expect(conn.shutdowns).toBe(1);
    expect(s.destroyed).toBe(true);
    expect(conn.sentBytes().toString()).toBe('abc');
  });
});

describe('Socket: setTimeout (idle timer on the stack clock)', () => {
  it('emits timeout after idle, does not close, re-arms on activity, 0 disables', async () => {
    const { tcp, clock, h } = host();
    const { s, conn } = await connected(h, tcp);
    const times: number[] = [];
    s.on('timeout', () => times.push(clock.now()));
    s.resume();
    s.setTimeout(1000);
    expect(s.timeout).toBe(1000);
    clock.advanceSync(600);
    conn.events!.onData(new Uint8Array(1)); // activity at 600
    clock.advanceSync(900);
    expect(times).toEqual([]);
    clock.advanceSync(200); // 1700 > 600 + 1000
    expect(times).toEqual([1600]);
    expect(s.destroyed).toBe(false);
    clock.advanceSync(5000);
    expect(times).toEqual([1600]); // no repeat without activity
    s.write('x'); // activity re-arms
    const t0 = clock.now();
    clock.advanceSync(1001);
    expect(times).toEqual([1600, t0 + 1000]);
    s.setTimeout(0);
    s.write('y');
    clock.advanceSync(10_000);
    expect(times.length).toBe(2);
  });

  it('connect({ timeout }) arms it while connecting', async () => {
    const { clock, h } = host();
    const s = connect(h, { host: '198.18.0.2', port: 80, timeout: 500 });
    let fired = -1;
    s.on('timeout', () => (fired = clock.now()));
    await tick();
    clock.advanceSync(600);
    expect(fired).toBe(500);
  });
});

describe('Server', () => {
  it('listen: listening is async, address(), ephemeral port, listening property', async () => {
    const { h } = host();
    const srv = createServer(h);
    const ev = record(srv, ['listening', 'error']);
    let cb = false;
    srv.listen(0, '198.18.0.2', () => (cb = true));
    expect(srv.listening).toBe(true);
    expect(ev).toEqual([]);
    await tick();
    expect(ev).toEqual(['listening']);
    expect(cb).toBe(true);
    expect(srv.address()).toEqual({ address: '198.18.0.2', family: 'IPv4', port: 49152 });
    const srv2 = createServer(h).listen({ port: 8080 });
    expect(srv2.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 8080 });
    expect(() => srv2.listen(8081)).toThrow(expect.objectContaining({ code: 'ERR_SERVER_ALREADY_LISTEN' }));
  });

  it('listen argument forms: (port, backlog, cb), (port, host, backlog), options', async () => {
    const { tcp, h } = host();
    createServer(h).listen(1001, 20, () => {});
    createServer(h).listen(1002, '198.18.0.2', 30);
    createServer(h).listen({ port: '1003', host: 'localhost', backlog: 40 });
    createServer(h, { backlog: 50 }).listen(1004);
    expect(tcp.listeners.map((l) => [l.opts.localPort, l.opts.backlog, l.opts.localAddress])).toEqual([
      [1001, 20, 0],
      [1002, 30, B],
      [1003, 40, parseIp('127.0.0.1')],
      [1004, 50, 0],
    ]);
    expect(() => createServer(h).listen(65536)).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_BAD_PORT' }));
  });

  it('EADDRINUSE is emitted asynchronously as Node does', async () => {
    const { h } = host();
    createServer(h).listen(80);
    const srv = createServer(h);
    let e: HastackError | undefined;
    srv.listen(80);
    srv.on('error', (x) => (e = x as HastackError));
    expect(e).toBeUndefined();
    await tick();
    expect(e).toMatchObject({ code: 'EADDRINUSE', errno: -98, syscall: 'listen', address: '0.0.0.0', port: 80 });
    expect(e!.message).toBe('listen EADDRINUSE: address already in use 0.0.0.0:80');
    expect(srv.listening).toBe(false);
    expect(srv.address()).toBeNull();
  });

  it('connection: a Socket bound to the engine connection, with options inherited', async () => {
    const { tcp, h } = host();
    const sockets: Socket[] = [];
    const srv = createServer(h, { allowHalfOpen: true, receiveBufferSize: 65536, noDelay: true }, (s) => sockets.push(s)).listen(80);
    expect(tcp.listeners[0].opts).toMatchObject({ receiveBufferSize: 65536, noDelay: true });
    const { conn, accepted } = tcp.accept(0, 50123);
    expect(accepted).toBe(true);
    expect(conn.events).not.toBeNull();
    expect(sockets.length).toBe(1);
    const s = sockets[0];
    expect(s.allowHalfOpen).toBe(true);
    expect(s.connecting).toBe(false);
    expect(s.remoteAddress).toBe('198.18.0.1');
    expect(s.remotePort).toBe(50123);
    expect(s.localPort).toBe(80);
    expect(s.server).toBe(srv);
    expect(s.tcpInfo()).toMatchObject({ fake: true });
    // data before the application attaches a reader is buffered, not lost
    conn.events!.onData(Buffer.from('hi'));
    const got: string[] = [];
    s.on('data', (d: Buffer) => got.push(d.toString()));
    await tick();
    expect(got).toEqual(['hi']);
  });

  it('pauseOnConnect: the engine is paused at once and resumed by resume()', async () => {
    const { tcp, h } = host();
    let sock: Socket | undefined;
    createServer(h, { pauseOnConnect: true }, (s) => (sock = s)).listen(80);
    const { conn } = tcp.accept();
    expect(conn.pauseCalls).toEqual([true]);
    expect(sock!.isPaused()).toBe(true);
    const got: number[] = [];
    sock!.on('data', (d: Buffer) => got.push(d.length)); // does not resume (flowing is false)
    await tick();
    expect(conn.pauseCalls).toEqual([true]);
    sock!.resume();
    await tick();
    await tick();
    expect(conn.pauseCalls).toEqual([true, false]);
  });

  it('maxConnections: extra connections are accepted and closed at once (Node), with a drop event', async () => {
    const { tcp, h } = host();
    const srv = createServer(h, () => {}).listen(80);
    srv.maxConnections = 1;
    const drops: unknown[] = [];
    srv.on('drop', (d) => drops.push(d));
    const first = tcp.accept(0, 50001);
    expect(first.conn.shutdowns).toBe(0);
    const second = tcp.accept(0, 50002);
    expect(second.accepted).toBe(true);
    expect(second.conn.shutdowns).toBe(1);
    expect(drops).toEqual([{ localAddress: '198.18.0.2', localPort: 80, localFamily: 'IPv4', remoteAddress: '198.18.0.1', remotePort: 50002, remoteFamily: 'IPv4' }]);
    second.conn.events!.onData(new Uint8Array(1));
    expect(second.conn.aborts).toBe(1);
    const count = await new Promise<number>((r) => srv.getConnections((_e, n) => r(n)));
    expect(count).toBe(1);
  });

  it('close(): stops listening at once; close event waits for accepted connections to end', async () => {
    const { tcp, h } = host();
    const sockets: Socket[] = [];
    const srv = createServer(h, (s) => sockets.push(s)).listen(80);
    tcp.accept(0, 50001);
    tcp.accept(0, 50002);
    const ev = record(srv, ['close']);
    let cbArg: unknown = 'not called';
    srv.close((e) => (cbArg = e));
    expect(tcp.listeners[0].closed).toBe(true);
    expect(srv.listening).toBe(false);
    expect(srv.address()).toBeNull();
    await tick();
    expect(ev).toEqual([]);
    sockets[0].destroy();
    await tick();
    await tick();
    expect(ev).toEqual([]);
    sockets[1].destroy();
    await tick();
    await tick();
    expect(ev).toEqual(['close:undefined']);
    expect(cbArg).toBeUndefined();
    // Not running: the callback gets ERR_SERVER_NOT_RUNNING.
    const e = await new Promise<{ code?: string } | undefined>((r) => srv.close((x) => r(x as { code?: string })));
    expect(e?.code).toBe('ERR_SERVER_NOT_RUNNING');
  });

  it('a Server can listen again after close', async () => {
    const { tcp, h } = host();
    const srv = createServer(h).listen(80);
    srv.close();
    srv.listen(80);
    expect(tcp.listeners.length).toBe(2);
    expect(srv.listening).toBe(true);
  });
});
