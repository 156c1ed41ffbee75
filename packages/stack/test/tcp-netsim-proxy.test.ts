/**
 * netsim: a TCP proxy written the node:net way — on 'connection' it connects onward and pipes
 * both directions — between three stacks on a lossy MemoryNetwork. The proxy's upstream
 * connect happens inside an engine callback (re-entrancy), and pipe() couples the backpressure
 * of two connections: a slow backend must slow the client down without the proxy buffering
 * more than its stream and TCP buffers.
 */
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock } from '@hastack/stack';
import type { Socket } from '../src/tcp/socket.js';
import { PatternSource, pump, Sink, MiB } from './tcp-netsim-harness.js';

describe('netsim: proxy', () => {
  // Regression (see tcp-netsim-conn "received data outlives the connection"): the proxy ends its
  // client-side socket when the backend's reply is done, while that socket's reader is paused
  // by pipe() backpressure; the connection reaches CLOSED and the held request bytes must still
  // reach the reader, or the transfer stalls.
  it('client -> proxy -> slow backend and back, 8 MiB each way intact, proxy memory bounded', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 601, delayMs: 2, loss: 0.005, clock });
    const client = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock, seed: 1 });
    const proxy = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, seed: 2 });
    const backend = new Stack({ link: net.createPort(), address: '198.18.0.3/24', clock, seed: 3 });
    const BYTES = 8 * MiB;
    const BUF = 256 * 1024;

    // Backend: hashes what it receives (reading slowly), and streams its own 8 MiB back.
    const reply = new PatternSource(31);
    let backendSink!: Sink;
    backend
      .createServer({ allowHalfOpen: true, receiveBufferSize: BUF }, (s: Socket) => {
        backendSink = new Sink(clock, s);
        s.on('data', () => {
          s.pause();
          clock.setTimer(clock.now() + 5, () => s.resume());
        });
        pump(s, reply, BYTES);
      })
      .listen(9000);

    // Proxy: the classic node:net two-liner.
    let maxProxyBuffered = 0;
    const pairs: Array<[Socket, Socket]> = [];
    proxy
      .createServer({ allowHalfOpen: true, sendBufferSize: BUF, receiveBufferSize: BUF }, (down: Socket) => {
        const up = proxy.connect({ host: '198.18.0.3', port: 9000, allowHalfOpen: true, sendBufferSize: BUF, receiveBufferSize: BUF });
        down.pipe(up);
        up.pipe(down);
        pairs.push([down, up]);
      })
      .listen(8000);
    const sample = (): void => {
      for (const [d, u] of pairs) {
        const held = d.readableLength + d.writableLength + u.readableLength + u.writableLength;
        maxProxyBuffered = Math.max(maxProxyBuffered, held);
      }
      clock.setTimer(clock.now() + 10, sample);
    };
    sample();

    const c = client.connect({ host: '198.18.0.2', port: 8000, allowHalfOpen: true });
    const request = new PatternSource(17);
    const clientSink = new Sink(clock, c);
    c.on('connect', () => pump(c, request, BYTES));
    const finished = await clock.run(() => clientSink.ended && !!backendSink?.ended, { maxMs: 120_000 });
    expect(finished).toBe(true);

    expect(backendSink.bytes).toBe(BYTES);
    expect(backendSink.digest()).toBe(request.hash.digest('hex'));
    expect(clientSink.bytes).toBe(BYTES);
    expect(clientSink.digest()).toBe(reply.hash.digest('hex'));
    // Two pipes' stream buffers (64 KiB high-water marks, plus one chunk each) — not megabytes.
    expect(maxProxyBuffered).toBeLessThanOrEqual(4 * 64 * 1024 + 4 * 64 * 1024);
  });
});
