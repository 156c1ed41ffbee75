/**
 * TCP engine entry points called from the API, on an otherwise idle stack: every change of a
 * deadline or of pending output must make the runtime re-arm (ctx.wake()), and data received
 * while the reader is paused stays readable after the connection has ended (CLOSED, TIME_WAIT).
 */
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock } from '@hastack/stack';
import type { Link, LinkHandler, TxMeta } from '../src/link.js';
import type { Socket } from '../src/tcp/socket.js';
import { pair } from './tcp-netsim-harness.js';

/** A link that sends nothing until flush() — like a TAP writer that batches its frames. */
function flushOnly(inner: Link): Link & { queued: number } {
  const q: Array<[Uint8Array, TxMeta | undefined]> = [];
  const link = {
    medium: inner.medium,
    mtu: inner.mtu,
    mac: inner.mac,
    offloads: inner.offloads,
    get queued(): number {
      return q.length;
    },
    attach(h: LinkHandler): void {
      inner.attach(h);
    },
    send(frame: Uint8Array, meta?: TxMeta): boolean {
      q.push([frame.slice(), meta]);
      return true;
    },
    flush(): void {
      for (const [f, m] of q.splice(0)) inner.send(f, m);
      inner.flush?.();
    },
    detach(): void {
      (inner as { detach?: () => void }).detach?.();
    },
  };
  return link as unknown as Link & { queued: number };
}

describe('tcp engine entry points wake the runtime', () => {
  it('abort() on an idle stack: the RST leaves the link at once and the peer sees ECONNRESET', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 5, delayMs: 1, clock });
    const link = flushOnly(net.createPort());
    const a = new Stack({ link, address: '198.18.0.1/24', clock, seed: 1 });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, seed: 2 });
    let srv!: Socket;
    let srvErr = '';
    b.createServer((s: Socket) => {
      srv = s;
      s.on('error', (e: { code?: string }) => (srvErr = e.code ?? ''));
    }).listen(80);
    const c = a.connect(80, '198.18.0.2');
    c.on('error', () => {});
    await clock.run(() => !!srv, { maxMs: 1000 });
    await clock.runFor(1000); // idle: no timer left on a
    expect(a.tcp.pollAt()).toBe(Infinity);
    const before = (a.stats() as { tcp: { outRsts: number } }).tcp.outRsts;
    c.resetAndDestroy();
    expect((a.stats() as { tcp: { outRsts: number } }).tcp.outRsts).toBe(before + 1);
    await clock.runFor(100);
    expect(link.queued).toBe(0);
    expect(srvErr).toBe('ECONNRESET');
    expect(srv.destroyed).toBe(true);
  });

  it('setKeepAlive(true) with a short delay on an idle stack sends probes and they are answered', async () => {
    const { clock, a, b } = pair({ delayMs: 1, seed: 77 });
    b.createServer(() => {}).listen(80);
    const s = a.connect({ host: '198.18.0.2', port: 80 });
    await clock.run(() => !!s.remotePort && s.tcpState === 'ESTABLISHED', { maxMs: 1000 });
    await clock.runFor(5000);
    expect(a.tcp.pollAt()).toBe(Infinity);
    const out0 = (a.stats() as { tcp: { outSegs: number } }).tcp.outSegs;
    s.setKeepAlive(true, 1000);
    expect(a.tcp.pollAt()).toBeLessThanOrEqual(clock.now());
    await clock.runFor(3500);
    // Probes went out and were answered: the connection lives on.
    expect((a.stats() as { tcp: { outSegs: number } }).tcp.outSegs).toBeGreaterThan(out0);
    expect(s.destroyed).toBe(false);
    expect(s.tcpState).toBe('ESTABLISHED');
    s.setKeepAlive(false);
    const out1 = (a.stats() as { tcp: { outSegs: number } }).tcp.outSegs;
    await clock.runFor(10_000);
    expect((a.stats() as { tcp: { outSegs: number } }).tcp.outSegs).toBe(out1);
    s.destroy();
  });
});

describe('tcp engine: held data after the connection ended', () => {
  it('TIME_WAIT: a paused reader that closed first reads every byte and the FIN; resuming sends nothing', async () => {
    const { clock, a, b } = pair({ delayMs: 2, seed: 78 });
    let srv!: Socket;
    b.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => (srv = s)).listen(80);
    const c = a.connect({ host: '198.18.0.2', port: 80, allowHalfOpen: true });
    c.resume();
    await clock.run(() => !!srv, { maxMs: 1000 });
    srv.end(); // we close first: FIN_WAIT_1/2
    await clock.runFor(100);
    c.end(Buffer.alloc(50_000, 7)); // the peer's data and FIN arrive while we are paused
    await clock.run(() => srv.tcpState === 'TIME_WAIT', { maxMs: 5000 });
    await clock.runFor(100);
    expect(srv.tcpInfo()?.heldBytes).toBe(50_000);
    const out0 = (b.stats() as { tcp: { outSegs: number } }).tcp.outSegs;
    let got = 0;
    let ended = false;
    srv.on('data', (d: Buffer) => (got += d.length));
    srv.on('end', () => (ended = true));
    srv.resume();
    await clock.run(() => ended, { maxMs: 1000 });
    expect(got).toBe(50_000);
    await clock.runFor(100);
    // No window update from TIME_WAIT (the peer has sent its FIN).
    expect((b.stats() as { tcp: { outSegs: number } }).tcp.outSegs).toBe(out0);
  });

  it('a reset connection drops what it held (nobody can read it)', async () => {
    const { clock, a, b } = pair({ delayMs: 2, seed: 79 });
    let srv!: Socket;
    let srvErr = '';
    b.createServer({ pauseOnConnect: true }, (s: Socket) => {
      srv = s;
      s.on('error', (e: { code?: string }) => (srvErr = e.code ?? ''));
    }).listen(80);
    const c = a.connect(80, '198.18.0.2');
    c.on('connect', () => c.write(Buffer.alloc(20_000, 1)));
    await clock.run(() => (srv?.tcpInfo()?.heldBytes as number) === 20_000, { maxMs: 5000 });
    const conn = b.tcp.connections()[0];
    c.resetAndDestroy();
    await clock.run(() => srvErr !== '', { maxMs: 1000 });
    expect(srvErr).toBe('ECONNRESET');
    expect(conn.info().heldBytes).toBe(0);
  });
});
