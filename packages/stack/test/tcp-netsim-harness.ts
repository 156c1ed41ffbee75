/**
 * Shared harness of the TCP netsim tests: two stacks on a seeded MemoryNetwork driven by a
 * VirtualClock, talking only through the public node:net-shaped API.
 *
 * `bidirectionalTransfer()` sends `bytes` from client to server and `bytes` from server to
 * client at the same time, each direction a deterministic pseudo-random stream checked with
 * SHA-256, and records progress over virtual time so a test can assert the transfer finished
 * within what the link allows and never stalled.
 */
import { createHash } from 'node:crypto';
import { MemoryNetwork, Stack, VirtualClock, type MemoryNetworkOptions, type StackOptions } from '@hastack/stack';
import type { Socket } from '../src/tcp/socket.js';

export interface Pair {
  clock: VirtualClock;
  net: MemoryNetwork;
  a: Stack;
  b: Stack;
}

/** Two stacks 198.18.0.1 (a, client) and 198.18.0.2 (b, server) on one MemoryNetwork. */
export function pair(netOpts: Omit<MemoryNetworkOptions, 'clock'> = {}, stackOpts: Partial<StackOptions> = {}): Pair {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 1, ...netOpts, clock });
  const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock, seed: 11, ...stackOpts });
  const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, seed: 22, ...stackOpts });
  return { clock, net, a, b };
}

/** A deterministic byte stream (xorshift32 per 32-bit word), generated chunk by chunk. */
export class PatternSource {
  private x: number;
  readonly hash = createHash('sha256');
  produced = 0;
  constructor(seed: number) {
    this.x = seed >>> 0 || 1;
  }
  /** The next `n` bytes (n a multiple of 4). A fresh buffer: the engine may keep it. */
  next(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    const w = new Uint32Array(b.buffer, b.byteOffset, n >>> 2);
    let x = this.x;
    for (let i = 0; i < w.length; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      w[i] = x;
    }
    this.x = x >>> 0;
    this.hash.update(b);
    this.produced += n;
    return b;
  }
}

/** Write `total` bytes from `src` to `sock`, respecting backpressure, then end(). */
export function pump(sock: Socket, src: PatternSource, total: number, chunk = 64 * 1024): void {
  const step = (): void => {
    while (src.produced < total) {
      const n = Math.min(chunk, total - src.produced);
      if (!sock.write(src.next(n))) {
        sock.once('drain', step);
        return;
      }
    }
    sock.end();
  };
  step();
}

/** Receiving side of a transfer: hash, count, and record progress gaps over virtual time. */
export class Sink {
  readonly hash = createHash('sha256');
  bytes = 0;
  ended = false;
  /** Virtual time of the first and the last data. */
  firstAt = -1;
  lastAt = -1;
  /** Longest time without new data between the first byte and the end. */
  maxGap = 0;
  maxGapAt = 0;
  constructor(
    private readonly clock: VirtualClock,
    sock: Socket,
  ) {
    sock.on('data', (d: Buffer) => {
      const now = clock.now();
      if (this.firstAt < 0) this.firstAt = now;
      else if (now - this.lastAt > this.maxGap) {
        this.maxGap = now - this.lastAt;
        this.maxGapAt = now;
      }
      this.lastAt = now;
      this.bytes += d.length;
      this.hash.update(d);
    });
    sock.on('end', () => (this.ended = true));
  }
  digest(): string {
    return this.hash.digest('hex');
  }
}

export interface TransferResult {
  ok: boolean;
  /** Virtual ms from connect() to both directions complete. */
  duration: number;
  /** Per direction: client→server (up), server→client (down). */
  up: { bytes: number; hashOk: boolean; maxGap: number; maxGapAt: number; duration: number };
  down: { bytes: number; hashOk: boolean; maxGap: number; maxGapAt: number; duration: number };
  clientInfo: Record<string, unknown> | undefined;
  serverInfo: Record<string, unknown> | undefined;
  errors: string[];
  wallMs: number;
}

export interface TransferOptions {
  bytes: number;
  /** Virtual time limit (ms). */
  maxMs?: number;
  /** Options for both sockets' engine connections (buffer sizes, congestion control...). */
  socketOptions?: Record<string, unknown>;
}

/** Transfer `bytes` each way at once between p.a (client) and p.b (server), checked by SHA-256. */
export async function bidirectionalTransfer(p: Pair, o: TransferOptions): Promise<TransferResult> {
  const { clock, a, b } = p;
  const wall0 = Date.now();
  const errors: string[] = [];
  const upSrc = new PatternSource(0x1234567);
  const downSrc = new PatternSource(0x7654321);
  let upSink: Sink | undefined;
  let serverSock: Socket | undefined;
  // allowHalfOpen: the direction that finishes first must not end the other (Node semantics).
  const server = b.createServer({ allowHalfOpen: true, ...o.socketOptions }, (s: Socket) => {
    serverSock = s;
    upSink = new Sink(clock, s);
    s.on('error', (e) => errors.push(`server:${(e as { code?: string }).code}`));
    pump(s, downSrc, o.bytes);
  });
  server.listen(5001);
  const t0 = clock.now();
  const client = a.connect({ host: '198.18.0.2', port: 5001, allowHalfOpen: true, ...o.socketOptions });
  const downSink = new Sink(clock, client);
  client.on('error', (e) => errors.push(`client:${(e as { code?: string }).code}`));
  client.on('connect', () => pump(client, upSrc, o.bytes));
  let upDone = -1;
  let downDone = -1;
  const done = (): boolean => {
    if (upDone < 0 && upSink?.ended) upDone = clock.now();
    if (downDone < 0 && downSink.ended) downDone = clock.now();
    return (upDone >= 0 && downDone >= 0) || errors.length > 0;
  };
  await clock.run(done, { maxMs: o.maxMs ?? 600_000, wallMs: 120_000 });
  const clientInfo = client.tcpInfo();
  const serverInfo = serverSock?.tcpInfo();
  const upHash = upSrc.hash.digest('hex');
  const downHash = downSrc.hash.digest('hex');
  const up = { bytes: upSink?.bytes ?? 0, hashOk: !!upSink && upSink.bytes === o.bytes && upSink.digest() === upHash, maxGap: upSink?.maxGap ?? -1, maxGapAt: upSink?.maxGapAt ?? -1, duration: upDone - t0 };
  const down = { bytes: downSink.bytes, hashOk: downSink.bytes === o.bytes && downSink.digest() === downHash, maxGap: downSink.maxGap, maxGapAt: downSink.maxGapAt, duration: downDone - t0 };
  // Tidy up: both sides have ended; let the close handshakes finish.
  server.close();
  await clock.run(() => client.destroyed && (!serverSock || serverSock.destroyed), { maxMs: 30_000 });
  return {
    ok: upDone >= 0 && downDone >= 0 && errors.length === 0,
    duration: Math.max(upDone, downDone) - t0,
    up,
    down,
    clientInfo,
    serverInfo,
    errors,
    wallMs: Date.now() - wall0,
  };
}

/**
 * Mathis et al. (1997) steady-state bound of a loss-limited TCP flow:
 * rate ≤ (MSS / RTT) · C / √p with C = √(3/2) ≈ 1.22 — bytes per ms here.
 */
export function mathisRate(mss: number, rttMs: number, p: number): number {
  return (mss / rttMs) * (Math.sqrt(1.5) / Math.sqrt(p));
}

export const MiB = 1024 * 1024;

/** Payload bytes per segment with timestamps on (MSS 1460 − 12 bytes of TS option). */
export const SEG_PAYLOAD = 1448;
/** Default send/receive buffer (the window a lossless transfer is limited by). */
export const DEFAULT_WINDOW = 4 * MiB;

/**
 * What a lossless link allows: one window per RTT, plus ~30 RTTs of slow start, handshake and
 * close (generous, but a stalled or window-mismanaging transfer is far slower).
 */
export function windowLimitedMs(bytes: number, rttMs: number, window = DEFAULT_WINDOW): number {
  return (bytes / window) * rttMs + 30 * rttMs;
}

/** What a lossy link allows: the larger of the window limit and the Mathis bound for loss `p`. */
export function allowedMs(bytes: number, rttMs: number, p: number, window = DEFAULT_WINDOW): number {
  const w = windowLimitedMs(bytes, rttMs, window);
  if (p <= 0) return w;
  return Math.max(w, bytes / mathisRate(SEG_PAYLOAD, rttMs, p));
}

/** One line for the test log: how the transfer went. */
export function summary(name: string, r: TransferResult, allowed: number): string {
  return `${name}: ${r.ok ? 'ok' : 'FAILED'} ${(r.duration / 1000).toFixed(2)} s virtual (allowed ${(allowed / 1000).toFixed(2)} s), maxGap up ${r.up.maxGap} ms / down ${r.down.maxGap} ms, wall ${r.wallMs} ms, errors [${r.errors.join(',')}]`;
}
