/**
 * Test harness for the TCP engine without the Stack: fake IP layers, a virtual clock, two
 * TcpLayers wired back to back (with per-segment drop/delay hooks), and a scripted peer that
 * injects hand-built segments and reads back exactly what the engine emitted.
 */
import { emitTcp, emptyTcpOptions, parseTcp, TcpFlags, type TcpOptionsRepr, type TcpRepr, WireError } from '@hastack/wire';
import { VirtualClock } from '../src/clock.js';
import type { IpLayer, IpTx, TransportContext } from '../src/engine/types.js';
import { NO_OFFLOADS, type LinkOffloads } from '../src/link.js';
import { TcpLayer, type TcpOptions } from '../src/tcp/index.js';
import type { TcpConnectionEvents, TcpConnectionHandle } from '../src/tcp/contract.js';
import type { HastackError } from '../src/errors.js';

export const A = 0xc6120001; // 198.18.0.1
export const B = 0xc6120002; // 198.18.0.2
export const { FIN, SYN, RST, PSH, ACK } = TcpFlags;

export interface Sent {
  seg: Uint8Array;
  tx: IpTx;
}

export class FakeIp implements IpLayer {
  headroom = 34;
  offloads: LinkOffloads = { ...NO_OFFLOADS };
  mtu = 1500;
  sent: Sent[] = [];
  constructor(public addrs: number[]) {}
  sendIp(buf: Uint8Array, len: number, tx: IpTx): boolean {
    if (buf.length !== this.headroom + len) throw new Error('frame size mismatch');
    this.sent.push({ seg: buf.subarray(this.headroom, this.headroom + len), tx });
    return true;
  }
  sourceFor(_dst: number): number | null {
    return this.addrs[0];
  }
  mtuFor(_dst: number): number {
    return this.mtu;
  }
  isLocalAddress(addr: number): boolean {
    return this.addrs.includes(addr);
  }
  sendUnreachable(): void {}
}

export interface Node {
  tcp: TcpLayer;
  ip: FakeIp;
  addr: number;
}

export const KEY = Uint8Array.from({ length: 16 }, (_, i) => i + 1);

export function makeNode(clock: VirtualClock, addr: number, opts: TcpOptions = {}): Node {
  const ip = new FakeIp([addr]);
  const ctx: TransportContext = { ip, clock, wake: () => {}, nodeId: `n${addr & 255}` };
  return { tcp: new TcpLayer(ctx, { secretKey: KEY, ...opts }), ip, addr };
}

/** Records everything a connection reports. */
export class Recorder implements TcpConnectionEvents {
  established = 0;
  chunks: Uint8Array[] = [];
  bytes = 0;
  fin = 0;
  closed = 0;
  error: HastackError | undefined;
  sendSpace = 0;
  handle: TcpConnectionHandle | null = null;
  onDataHook?: (c: Uint8Array) => void;
  onEstablished(): void {
    this.established++;
  }
  onData(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.onDataHook?.(chunk);
  }
  onFin(): void {
    this.fin++;
  }
  onSendSpace(): void {
    this.sendSpace++;
  }
  onClosed(error?: HastackError): void {
    this.closed++;
    this.error = error;
  }
  data(): Uint8Array {
    const out = new Uint8Array(this.bytes);
    let o = 0;
    for (const c of this.chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
  text(): string {
    return new TextDecoder().decode(this.data());
  }
}

interface InFlight {
  at: number;
  n: number;
  to: Node;
  from: Node;
  seg: Uint8Array;
  /** Sent with checksum offload: delivered as GRO would (csumValid). */
  offloaded: boolean;
}

/** What a filter decides for one segment: deliver (optionally later) or drop. */
export type Verdict = 'deliver' | 'drop' | { delay: number };

/** Two TcpLayers back to back over a virtual wire with a one-way delay. */
export class Pair {
  clock = new VirtualClock(0);
  a: Node;
  b: Node;
  delay = 1;
  inflight: InFlight[] = [];
  n = 0;
  /** Every segment that crossed (parsed), in order of sending. */
  log: Array<{ t: number; from: 'a' | 'b'; r: TcpRepr; dropped: boolean }> = [];
  logEnabled = true;
  filter?: (r: TcpRepr, from: 'a' | 'b', seg: Uint8Array) => Verdict;

  constructor(optsA: TcpOptions = {}, optsB: TcpOptions = {}) {
    this.a = makeNode(this.clock, A, optsA);
    this.b = makeNode(this.clock, B, optsB);
  }

  get now(): number {
    return this.clock.now();
  }

  private collect(from: Node, to: Node, name: 'a' | 'b'): void {
    const sent = from.ip.sent;
    if (sent.length === 0) return;
    from.ip.sent = [];
    for (const s of sent) {
      let v: Verdict = 'deliver';
      let r: TcpRepr | null = null;
      if (this.filter || this.logEnabled) {
        const p = parseTcp(s.seg, s.tx.src, s.tx.dst, { verifyChecksum: !s.tx.tx });
        if (p instanceof WireError) throw new Error(`engine emitted a bad segment: ${p}`);
        r = p;
        if (this.filter) v = this.filter(r, name, s.seg);
      }
      if (this.logEnabled && r) this.log.push({ t: this.now, from: name, r, dropped: v === 'drop' });
      if (v === 'drop') continue;
      const extra = typeof v === 'object' ? v.delay : 0;
      this.inflight.push({ at: this.now + this.delay + extra, n: this.n++, to, from, seg: s.seg, offloaded: !!s.tx.tx });
    }
  }

  /** Poll both, deliver what is due. True when something moved. */
  step(): boolean {
    const now = this.now;
    this.a.tcp.poll(now);
    this.b.tcp.poll(now);
    this.collect(this.a, this.b, 'a');
    this.collect(this.b, this.a, 'b');
    const due = this.inflight.filter((p) => p.at <= now).sort((x, y) => x.at - y.at || x.n - y.n);
    if (due.length === 0) return false;
    this.inflight = this.inflight.filter((p) => p.at > now);
    for (const p of due) {
      const rx = { src: p.from.addr, dst: p.to.addr, protocol: 6, ttl: 64, tos: 0, nonUnicast: false, meta: p.offloaded ? { csumValid: true } : undefined };
      p.to.tcp.receive(rx, p.seg, p.seg, now);
    }
    return true;
  }

  /** Run until `until()` or `maxMs` of virtual time passes. */
  run(until: () => boolean = () => false, maxMs = 60_000): boolean {
    const end = this.now + maxMs;
    for (let guard = 0; guard < 5_000_000; guard++) {
      while (this.step()) if (until()) return true;
      this.a.tcp.poll(this.now);
      this.b.tcp.poll(this.now);
      this.collect(this.a, this.b, 'a');
      this.collect(this.b, this.a, 'b');
      if (until()) return true;
      let next = Math.min(this.a.tcp.pollAt(), this.b.tcp.pollAt());
      for (const p of this.inflight) if (p.at < next) next = p.at;
      if (next <= this.now) continue;
      if (next === Infinity || next > end) {
        if (end > this.now) this.clock.advanceSync(end - this.now);
        return until();
      }
      this.clock.advanceSync(next - this.now);
    }
    throw new Error('run: too many steps');
  }

  /** Open a listener on b and connect from a. */
  connect(listenOpts: Partial<import('../src/tcp/contract.js').TcpListenOptions> = {}, openOpts: Partial<import('../src/tcp/contract.js').TcpOpenOptions> = {}) {
    const client = new Recorder();
    const server = new Recorder();
    let serverHandle: TcpConnectionHandle | null = null;
    this.b.tcp.listen({
      localAddress: 0,
      localPort: 80,
      ...listenOpts,
      onConnection: (h) => {
        serverHandle = h;
        server.handle = h;
        h.setEvents(server);
      },
    });
    const ch = this.a.tcp.open({ remoteAddress: B, remotePort: 80, ...openOpts }, client);
    client.handle = ch;
    this.run(() => client.established > 0 && serverHandle !== null, 10_000);
    if (!serverHandle) throw new Error('handshake did not complete');
    return { client, server, ch, sh: serverHandle as TcpConnectionHandle };
  }

  segs(from: 'a' | 'b'): TcpRepr[] {
    return this.log.filter((l) => l.from === from).map((l) => l.r);
  }
}

/** A scripted peer: one engine, segments injected by the test, output read back parsed. */
export class Scripted {
  clock = new VirtualClock(0);
  node: Node;
  peer = B;
  constructor(opts: TcpOptions = {}) {
    this.node = makeNode(this.clock, A, opts);
  }
  get tcp(): TcpLayer {
    return this.node.tcp;
  }
  /** Inject a segment from the peer. */
  inject(f: { sport?: number; dport: number; seq: number; ack?: number; flags: number; window?: number; options?: Partial<TcpOptionsRepr>; payload?: Uint8Array | string; src?: number }): void {
    const options = { ...emptyTcpOptions(), ...(f.options ?? {}) };
    if (!options.sack) options.sack = [];
    const payload = typeof f.payload === 'string' ? new TextEncoder().encode(f.payload) : (f.payload ?? new Uint8Array(0));
    const repr: TcpRepr = { srcPort: f.sport ?? 40000, dstPort: f.dport, seq: f.seq >>> 0, ack: (f.ack ?? 0) >>> 0, flags: f.flags, window: f.window ?? 65535, urgent: 0, options, payload };
    const buf = new Uint8Array(60 + payload.length);
    const src = f.src ?? this.peer;
    const n = emitTcp(repr, buf, 0, src, A);
    const seg = buf.subarray(0, n);
    this.tcp.receive({ src, dst: A, protocol: 6, ttl: 64, tos: 0, nonUnicast: false }, seg, seg, this.clock.now());
  }
  /** Poll at the current time and return what was emitted since the last call. */
  out(): TcpRepr[] {
    this.tcp.poll(this.clock.now());
    const s = this.node.ip.sent;
    this.node.ip.sent = [];
    return s.map((x) => {
      const r = parseTcp(x.seg, x.tx.src, x.tx.dst, { verifyChecksum: !x.tx.tx });
      if (r instanceof WireError) throw new Error(String(r));
      return r;
    });
  }
  /** Advance to `t` firing engine timers on the way; returns everything emitted. */
  advance(ms: number): TcpRepr[] {
    const all: TcpRepr[] = [];
    if (!Number.isFinite(ms)) return this.out();
    const end = this.clock.now() + ms;
    for (;;) {
      all.push(...this.out());
      const next = this.tcp.pollAt();
      if (next > end) break;
      if (next > this.clock.now()) this.clock.advanceSync(next - this.clock.now());
    }
    if (end > this.clock.now()) this.clock.advanceSync(end - this.clock.now());
    all.push(...this.out());
    return all;
  }
}

export function flagsOf(r: TcpRepr): string {
  const n: string[] = [];
  if (r.flags & SYN) n.push('SYN');
  if (r.flags & RST) n.push('RST');
  if (r.flags & FIN) n.push('FIN');
  if (r.flags & PSH) n.push('PSH');
  if (r.flags & ACK) n.push('ACK');
  return n.join('|');
}

/** Deterministic PRNG (mulberry32). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pattern(n: number, seed = 1): Uint8Array {
  const r = rng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (r() * 256) | 0;
  return b;
}

/**
 * Scripted passive open on port 80 from B:40000 with peer ISN 1000. Returns the accepted
 * handle, its recorder, our ISS, and the peer's next sequence number (1001).
 */
export function establish(
  s: Scripted,
  o: { ts?: boolean; sack?: boolean; ws?: number | null; window?: number; mss?: number; listen?: Partial<import('../src/tcp/contract.js').TcpListenOptions> } = {},
) {
  let h: TcpConnectionHandle | null = null;
  const rec = new Recorder();
  s.tcp.listen({ localAddress: 0, localPort: 80, ...(o.listen ?? {}), onConnection: (c) => { h = c; rec.handle = c; c.setEvents(rec); } });
  const ts = o.ts ?? true;
  const options: Partial<TcpOptionsRepr> = { mss: o.mss ?? 1460, sackPermitted: o.sack ?? true };
  if (o.ws !== null) options.windowScale = o.ws ?? 0;
  if (ts) (options.tsVal = 100), (options.tsEcr = 0);
  s.inject({ dport: 80, seq: 1000, flags: SYN, options });
  const [sa] = s.out();
  s.inject({ dport: 80, seq: 1001, ack: sa.seq + 1, flags: ACK, window: o.window ?? 65535, options: ts ? { tsVal: 101, tsEcr: sa.options.tsVal } : {} });
  if (!h) throw new Error('not established');
  return { h: h as TcpConnectionHandle, rec, iss: sa.seq, una: (sa.seq + 1) >>> 0, rcv: 1001, tsEcr: sa.options.tsVal ?? 0 };
}
