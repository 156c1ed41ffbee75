/**
 * netsim: connection life-cycle through the public API between two stacks on a MemoryNetwork
 * (VirtualClock, fixed seeds): half-close, simultaneous open and close, RST cases, keepalive
 * detecting a dead peer, zero window with a paused reader, a slow reader, idle timeouts.
 */
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import type { Socket } from '../src/tcp/socket.js';
import { pair, PatternSource, pump, Sink, MiB } from './tcp-netsim-harness.js';
import { settle } from './helpers.js';

type TcpStats = { connections: Record<string, number>; outRsts: number; passiveOpens: number; activeOpens: number; drops: Record<string, number> };
const tcpStats = (s: { stats(): unknown }): TcpStats => (s.stats() as { tcp: TcpStats }).tcp;

function events(s: Socket): string[] {
  const out: string[] = [];
  for (const n of ['connect', 'end', 'finish', 'timeout']) s.on(n, () => out.push(n));
  s.on('error', (e: { code?: string; syscall?: string }) => out.push(`error:${e.code}:${e.syscall}`));
  s.on('close', (h: boolean) => out.push(`close:${h}`));
  return out;
}

describe('netsim: half-close', () => {
  it('client ends after its request; the server (allowHalfOpen) streams a reply, then both close cleanly', async () => {
    const { clock, a, b } = pair({ delayMs: 5, seed: 401 });
    let serverSock!: Socket;
    let serverStateAtEnd = '';
    let clientStateAtServerEnd = '';
    let client!: Socket;
    const reqHash = createHash('sha256');
    let reqBytes = 0;
    const reply = new PatternSource(99);
    b.createServer({ allowHalfOpen: true }, (s: Socket) => {
      serverSock = s;
      s.on('data', (d: Buffer) => {
        reqHash.update(d);
        reqBytes += d.length;
      });
      s.on('end', () => {
        serverStateAtEnd = s.tcpState;
        clientStateAtServerEnd = client.tcpState;
        expect(s.readyState).toBe('writeOnly');
        pump(s, reply, 1 * MiB);
      });
    }).listen(80);
    client = a.connect(80, '198.18.0.2');
    const cev = events(client);
    const sink = new Sink(clock, client);
    const req = new PatternSource(7);
    client.on('connect', () => pump(client, req, 512 * 1024));
    await clock.run(() => cev.some((e) => e.startsWith('close')) && serverSock?.destroyed, { maxMs: 60_000 });
    expect(reqBytes).toBe(512 * 1024);
    expect(reqHash.digest('hex')).toBe(req.hash.digest('hex'));
    expect(serverStateAtEnd).toBe('CLOSE_WAIT');
    expect(['FIN_WAIT_2', 'FIN_WAIT_1']).toContain(clientStateAtServerEnd);
    expect(sink.bytes).toBe(1 * MiB);
    expect(sink.digest()).toBe(reply.hash.digest('hex'));
    expect(cev).toEqual(['connect', 'finish', 'end', 'close:false']);
    await clock.runFor(100); // the last ACK reaches the server
    // The active closer waits in TIME_WAIT; the passive closer is gone.
    expect(client.tcpState).toBe('TIME_WAIT');
    expect(tcpStats(a).connections.TIME_WAIT).toBe(1);
    expect(tcpStats(b).connections.ESTABLISHED + tcpStats(b).connections.LAST_ACK + tcpStats(b).connections.CLOSE_WAIT).toBe(0);
  });
});

describe('netsim: simultaneous open and close', () => {
  it('two active opens that cross on the wire make one connection (RFC 9293 §3.5)', async () => {
    const { clock, a, b } = pair({ delayMs: 5, seed: 402 });
    // Warm ARP so both SYNs leave at the same instant.
    await settle(clock, a.ping('198.18.0.2'));
    const s1 = a.connect({ host: '198.18.0.2', port: 6000, localPort: 5000 });
    const s2 = b.connect({ host: '198.18.0.1', port: 5000, localPort: 6000 });
    const e1 = events(s1);
    const e2 = events(s2);
    let got1 = '';
    let got2 = '';
    s1.on('data', (d: Buffer) => (got1 += d));
    s2.on('data', (d: Buffer) => (got2 += d));
    s1.on('connect', () => s1.write('from a'));
    s2.on('connect', () => s2.write('from b'));
    await clock.run(() => got1 === 'from b' && got2 === 'from a', { maxMs: 10_000 });
    expect(e1[0]).toBe('connect');
    expect(e2[0]).toBe('connect');
    expect(tcpStats(a).passiveOpens + tcpStats(b).passiveOpens).toBe(0);
    expect(tcpStats(a).activeOpens).toBe(1);
    expect(tcpStats(b).activeOpens).toBe(1);

    // Simultaneous close: both FINs cross; both sides go through CLOSING to TIME_WAIT.
    const states: string[] = [];
    s1.on('end', () => states.push(s1.tcpState));
    s2.on('end', () => states.push(s2.tcpState));
    s1.end();
    s2.end();
    await clock.run(() => s1.destroyed && s2.destroyed, { maxMs: 10_000 });
    expect(e1).toEqual(['connect', 'finish', 'end', 'close:false']);
    expect(e2).toEqual(['connect', 'finish', 'end', 'close:false']);
    // Each FIN arrived in FIN_WAIT_1: CLOSING on both sides (RFC 9293 §3.6, case 2).
    expect(states).toEqual(['CLOSING', 'CLOSING']);
    await clock.runFor(100);
    expect(s1.tcpState).toBe('TIME_WAIT');
    expect(s2.tcpState).toBe('TIME_WAIT');
    // TIME_WAIT lasts 2·MSL (60 s by default), then the connection is gone.
    await clock.runFor(61_000);
    expect(s1.tcpState).toBe('CLOSED');
    expect(tcpStats(a).connections.TIME_WAIT).toBe(0);
  });
});

describe('netsim: RST cases', () => {
  it('connect to a closed port: ECONNREFUSED, the peer counts an RST', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 403 });
    const s = a.connect(9, '198.18.0.2');
    const ev = events(s);
    await clock.run(() => s.destroyed, { maxMs: 5000 });
    expect(ev).toEqual(['error:ECONNREFUSED:connect', 'close:true']);
    expect(tcpStats(b).outRsts).toBeGreaterThanOrEqual(1);
  });

  it('peer resetAndDestroy(): ECONNRESET (syscall read), no end event', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 404 });
    b.createServer((s: Socket) => s.once('data', () => s.resetAndDestroy())).listen(80);
    const s = a.connect(80, '198.18.0.2', () => s.write('x'));
    const ev = events(s);
    await clock.run(() => s.destroyed, { maxMs: 5000 });
    expect(ev).toEqual(['connect', 'error:ECONNRESET:read', 'close:true']);
  });

  it('destroy() with unread data held by the engine resets the connection (as Linux close() does)', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 405 });
    let srv!: Socket;
    b.createServer({ pauseOnConnect: true }, (s: Socket) => (srv = s)).listen(80);
    const s = a.connect(80, '198.18.0.2', () => s.write(Buffer.alloc(100_000)));
    const ev = events(s);
    s.resume();
    await clock.run(() => (srv?.tcpInfo()?.heldBytes as number) > 0, { maxMs: 5000 });
    srv.destroy();
    await clock.run(() => s.destroyed, { maxMs: 5000 });
    expect(ev).toEqual(['connect', 'error:ECONNRESET:read', 'close:true']);
  });

  it('data sent to a socket the peer destroyed is answered with RST', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 406 });
    b.createServer({ allowHalfOpen: true }, (s: Socket) => s.destroy()).listen(80);
    const s = a.connect({ host: '198.18.0.2', port: 80, allowHalfOpen: true });
    const ev = events(s);
    s.resume();
    // The server's FIN arrives ('end'); we keep writing into the half-open connection.
    s.on('end', () => s.write('anyone there?'));
    await clock.run(() => s.destroyed, { maxMs: 5000 });
    expect(ev[0]).toBe('connect');
    expect(ev).toContain('end');
    expect(ev.some((e) => e === 'error:ECONNRESET:read' || e === 'error:EPIPE:write')).toBe(true);
    expect(ev[ev.length - 1]).toBe('close:true');
    expect(tcpStats(b).outRsts).toBeGreaterThanOrEqual(1);
  });

  it('connect to a host that never answers: ETIMEDOUT after the user timeout', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 407 });
    await settle(clock, a.ping('198.18.0.2')); // ARP resolved, then the peer dies
    b.crash();
    const s = a.connect({ host: '198.18.0.2', port: 80, userTimeout: 10_000 });
    const ev = events(s);
    const t0 = clock.now();
    await clock.run(() => s.destroyed, { maxMs: 60_000 });
    expect(ev).toEqual(['error:ETIMEDOUT:connect', 'close:true']);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(10_000);
    expect(clock.now() - t0).toBeLessThan(30_000);
  });
});

describe('netsim: keepalive', () => {
  it('detects a dead peer: ETIMEDOUT after idle + probes × interval', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 408 });
    b.createServer(() => {}).listen(80);
    const s = a.connect({ host: '198.18.0.2', port: 80, keepAlive: true, keepAliveInitialDelay: 2000, keepAliveInterval: 1000, keepAliveProbes: 3 });
    const ev = events(s);
    await clock.run(() => ev.includes('connect'), { maxMs: 1000 });
    // An idle connection with a live peer survives many keepalive rounds.
    await clock.runFor(20_000);
    expect(s.destroyed).toBe(false);
    b.crash();
    const t0 = clock.now();
    await clock.run(() => s.destroyed, { maxMs: 60_000 });
    expect(ev).toEqual(['connect', 'error:ETIMEDOUT:read', 'close:true']);
    // Last answered probe ≤ 2 s before the crash; 3 unanswered probes 1 s apart.
    expect(clock.now() - t0).toBeLessThanOrEqual(2000 + 3 * 1000 + 100);
    expect(clock.now() - t0).toBeGreaterThanOrEqual(3 * 1000);
  });

  // Regression: engine `_setKeepAlive` once scheduled the keepalive deadline without
  // `ctx.wake()`, so on an otherwise idle stack the runtime's timer was never re-armed.
  it('setKeepAlive(true, delay) on an open socket arms it', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 409 });
    b.createServer(() => {}).listen(80);
    const s = a.connect({ host: '198.18.0.2', port: 80, keepAliveInterval: 500, keepAliveProbes: 2 });
    const ev = events(s);
    await clock.run(() => ev.includes('connect'), { maxMs: 1000 });
    b.crash();
    await clock.runFor(30_000);
    expect(s.destroyed).toBe(false); // keepalive is off by default: nothing notices
    s.setKeepAlive(true, 1000);
    await clock.run(() => s.destroyed, { maxMs: 10_000 });
    expect(ev).toEqual(['connect', 'error:ETIMEDOUT:read', 'close:true']);
  });
});

describe('netsim: zero window and slow readers', () => {
  it('a paused reader closes the window to 0; the sender probes; resuming completes the transfer intact', async () => {
    const { clock, a, b } = pair({ delayMs: 5, seed: 410 });
    let srv!: Socket;
    let sink!: Sink;
    b.createServer({ pauseOnConnect: true, receiveBufferSize: 64 * 1024 }, (s: Socket) => {
      srv = s;
      sink = new Sink(clock, s); // attaching 'data' does not resume a pauseOnConnect socket
    }).listen(80);
    const c = a.connect({ host: '198.18.0.2', port: 80 });
    const src = new PatternSource(5);
    c.on('connect', () => pump(c, src, 8 * MiB));
    await clock.runFor(5000);
    // Reader paused for 5 s: the window is 0 on both ends, the sender is blocked and probing.
    const si = srv.tcpInfo()!;
    const ci = c.tcpInfo()!;
    expect(si.rcvWnd).toBe(0);
    expect(si.heldBytes as number).toBeGreaterThan(0);
    expect(ci.sndWnd).toBe(0);
    expect(Number.isFinite((ci.timers as Record<string, number | null>).persist ?? Infinity)).toBe(true);
    expect(c.writableLength).toBeGreaterThan(0);
    expect(sink.bytes).toBe(0);
    srv.resume();
    await clock.run(() => sink.ended, { maxMs: 120_000 });
    expect(sink.bytes).toBe(8 * MiB);
    expect(sink.digest()).toBe(src.hash.digest('hex'));
  });

  it('a slow reader (reads a little, pauses 50 ms, repeats) gets every byte; its window follows it', async () => {
    const { clock, a, b } = pair({ delayMs: 2, seed: 411 });
    let minWnd = Infinity;
    let sink!: Sink;
    b.createServer({ receiveBufferSize: 128 * 1024 }, (s: Socket) => {
      sink = new Sink(clock, s);
      s.on('data', () => {
        s.pause();
        clock.setTimer(clock.now() + 50, () => {
          minWnd = Math.min(minWnd, s.tcpInfo()!.rcvWnd as number);
          s.resume();
        });
      });
    }).listen(80);
    const c = a.connect({ host: '198.18.0.2', port: 80 });
    const src = new PatternSource(6);
    c.on('connect', () => pump(c, src, 2 * MiB));
    const t0 = clock.now();
    await clock.run(() => !!sink?.ended, { maxMs: 300_000 });
    expect(sink.bytes).toBe(2 * MiB);
    expect(sink.digest()).toBe(src.hash.digest('hex'));
    // While the reader paused the window closed (below one segment: the sender's SWS
    // avoidance, RFC 9293 §3.8.6.2.1, does not fill the last sliver).
    expect(minWnd).toBeLessThan(1460);
    // The reader, not the network, set the pace: far slower than the link.
    expect(clock.now() - t0).toBeGreaterThan(1000);
  });
});

describe('netsim: per-connection options reach the engine', () => {
  it('timestamps, window scaling and SACK can be turned off per socket; buffers set the window', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 414 });
    let srv!: Socket;
    b.createServer({ receiveBufferSize: 32 * 1024 }, (s: Socket) => (srv = s)).listen(80);
    const c = a.connect({ host: '198.18.0.2', port: 80, timestamps: false, windowScale: false, sack: false, congestionControl: 'newreno', noDelay: true });
    await clock.run(() => !!srv && c.tcpState === 'ESTABLISHED', { maxMs: 1000 });
    expect(c.tcpInfo()).toMatchObject({ tsOk: false, wsOk: false, sackOk: false, cc: 'newreno' });
    expect(srv.tcpInfo()).toMatchObject({ tsOk: false, wsOk: false, sackOk: false });
    // The server's 32 KiB receive buffer is what the client sees as its send window.
    expect(c.tcpInfo()!.sndWnd).toBeLessThanOrEqual(32 * 1024);
    const d = a.connect({ host: '198.18.0.2', port: 80 });
    await clock.run(() => d.tcpState === 'ESTABLISHED', { maxMs: 1000 });
    expect(d.tcpInfo()).toMatchObject({ tsOk: true, wsOk: true, sackOk: true, cc: 'cubic' });
    c.destroy();
    d.destroy();
  });
});

describe('netsim: received data outlives the connection', () => {
  // Regression: when a connection reaches CLOSED (our FIN acknowledged after the peer's) while
  // the reader is paused, the bytes the engine holds for the reader — already acknowledged to
  // the peer — and the peer's FIN must still be delivered when it resumes, as on Linux.
  it('a paused reader that ends first still reads every byte and the FIN after CLOSED', async () => {
    const { clock, a, b } = pair({ delayMs: 2, seed: 413 });
    let srv!: Socket;
    b.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => (srv = s)).listen(80);
    const c = a.connect(80, '198.18.0.2');
    c.on('connect', () => c.end(Buffer.alloc(100_000, 3)));
    c.resume();
    await clock.run(() => (srv?.tcpInfo()?.heldBytes as number) > 0 && c.writableFinished, { maxMs: 5000 });
    await clock.runFor(1000);
    srv.end(); // our FIN while the peer's data and FIN wait for the reader
    await clock.runFor(1000);
    expect(srv.tcpState).toBe('CLOSED');
    let got = 0;
    let ended = false;
    srv.on('data', (d: Buffer) => (got += d.length));
    srv.on('end', () => (ended = true));
    srv.resume();
    await clock.run(() => ended, { maxMs: 5000 });
    expect(got).toBe(100_000);
    expect(ended).toBe(true);
  });
});

describe('netsim: setTimeout', () => {
  it("emits 'timeout' after idle on the stack clock and keeps the connection", async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 412 });
    b.createServer((s: Socket) => s.pipe(s)).listen(80);
    const s = a.connect(80, '198.18.0.2');
    const ev = events(s);
    s.setTimeout(3000);
    s.resume();
    await clock.run(() => ev.includes('connect'), { maxMs: 1000 });
    const t0 = clock.now();
    await clock.run(() => ev.includes('timeout'), { maxMs: 10_000 });
    expect(clock.now() - t0).toBeGreaterThanOrEqual(2990);
    expect(clock.now() - t0).toBeLessThanOrEqual(3010);
    expect(s.destroyed).toBe(false);
    s.write('still alive');
    let echoed = '';
    s.on('data', (d: Buffer) => (echoed += d));
    await clock.run(() => echoed === 'still alive', { maxMs: 1000 });
    expect(echoed).toBe('still alive');
    s.destroy();
  });
});
