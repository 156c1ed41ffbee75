/**
 * Scale through the public API: 10,000 concurrent connections between two stacks (all
 * established, data exchanged on each, all closed cleanly), and a SYN flood of 10,000 spoofed
 * SYNs (random source addresses and ports, injected as raw frames from an extra MemoryNetwork
 * port) during which a legitimate client still connects and exchanges data.
 */
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, parseMac, parseIp } from '@hastack/stack';
import { emitEthernet, emitIpv4, emitTcp, emptyTcpOptions, tcpHeaderLength, TcpFlags } from '@hastack/wire';
import type { Socket } from '../src/tcp/socket.js';

type TcpStats = {
  currEstab: number;
  connections: Record<string, number>;
  synCookiesSent: number;
  synCookiesValid: number;
  passiveOpens: number;
  drops: Record<string, number>;
};
const tcpStats = (s: Stack): TcpStats => (s.stats() as { tcp: TcpStats }).tcp;

/** Deterministic generator for the flood (xorshift32). */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

describe('10,000 concurrent connections', () => {
  it('all establish, exchange data on each, and close cleanly', async () => {
    const N = 10_000;
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 501, delayMs: 1, clock, maxPending: 1 << 20 });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock, seed: 1 });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, seed: 2 });
    let accepted = 0;
    let serverClosed = 0;
    let serverErrors = 0;
    const server = b.createServer((s: Socket) => {
      accepted++;
      // Echo, then end after the client's end (allowHalfOpen false does it for us).
      s.on('data', (d: Buffer) => s.write(d));
      s.on('error', () => serverErrors++);
      s.on('close', (hadError: boolean) => {
        serverClosed++;
        if (hadError) serverErrors++;
      });
    });
    server.listen(80, '198.18.0.2', 16_384);
    await clock.run(() => server.listening, { maxMs: 10 });

    const clients: Socket[] = [];
    let connected = 0;
    let echoed = 0;
    let closedClean = 0;
    const errors: string[] = [];
    for (let i = 0; i < N; i++) {
      const c = a.connect(80, '198.18.0.2');
      const msg = `hello ${i}`;
      let got = '';
      c.on('connect', () => connected++);
      c.on('data', (d: Buffer) => {
        got += d;
        if (got === msg) echoed++;
      });
      c.on('error', (e: { code?: string }) => errors.push(String(e.code)));
      c.on('close', (hadError: boolean) => {
        if (!hadError && got === msg) closedClean++;
      });
      clients.push(c);
    }
    // (The first SYNs overflow the bounded ARP queue and are retransmitted after the 1 s RTO.)
    await clock.run(() => (connected === N && accepted === N) || errors.length > 0, { maxMs: 30_000 });
    expect(errors).toEqual([]);
    expect(connected).toBe(N);
    expect(accepted).toBe(N);
    expect(tcpStats(a).currEstab).toBe(N);
    expect(tcpStats(b).currEstab).toBe(N);
    expect(new Set(clients.map((c) => c.localPort)).size).toBe(N);
    expect(await new Promise<number>((r) => server.getConnections((_e, n) => r(n)))).toBe(N);

    for (let i = 0; i < N; i++) clients[i].write(`hello ${i}`);
    await clock.run(() => echoed === N || errors.length > 0, { maxMs: 30_000 });
    expect(echoed).toBe(N);

    for (const c of clients) c.end();
    await clock.run(() => (closedClean === N && serverClosed === N) || errors.length > 0, { maxMs: 30_000 });
    expect(errors).toEqual([]);
    expect(serverErrors).toBe(0);
    expect(closedClean).toBe(N);
    expect(serverClosed).toBe(N);
    await clock.runFor(1000);
    const sa = tcpStats(a);
    const sb = tcpStats(b);
    expect(sa.currEstab + sb.currEstab).toBe(0);
    // Clients closed first: they hold TIME_WAIT; the server side is gone entirely.
    expect(sa.connections.TIME_WAIT).toBe(N);
    expect(sb.connections.LAST_ACK + sb.connections.CLOSE_WAIT + sb.connections.FIN_WAIT_1 + sb.connections.FIN_WAIT_2).toBe(0);
    expect(sb.connections.TIME_WAIT).toBe(0);
    await clock.runFor(61_000);
    expect(tcpStats(a).connections.TIME_WAIT).toBe(0);
  }, 120_000);
});

describe('SYN flood', () => {
  it('10,000 spoofed SYNs: the half-open queue stays bounded, SYN cookies answer, a real client connects', async () => {
    const FLOOD = 10_000;
    const BACKLOG = 128;
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 502, delayMs: 1, clock, maxPending: 1 << 20 });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/16', clock, seed: 1 });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/16', clock, seed: 2 });
    const attacker = net.createPort();
    attacker.attach({ frame() {}, batchEnd() {} });

    let served = 0;
    b.createServer((s: Socket) => {
      served++;
      s.pipe(s);
    }).listen(80, '198.18.0.2', BACKLOG);

    const serverMac = parseMac(b.mac);
    const serverIp = parseIp('198.18.0.2');
    const rand = rng(0xf1009);
    const opts = emptyTcpOptions();
    opts.mss = 1460;
    opts.sackPermitted = true;
    opts.windowScale = 7;
    const tcpLen = tcpHeaderLength({ options: opts });
    const empty = new Uint8Array(0);
    let sent = 0;
    let maxHalfOpen = 0;
    /** One spoofed SYN: random source MAC, address in 198.18.0.0/16 (not .0.1/.0.2), port, ISN. */
    const spoof = (): void => {
      const frame = new Uint8Array(14 + 20 + tcpLen);
      const mac = new Uint8Array(6);
      for (let i = 0; i < 6; i++) mac[i] = (rand() * 256) | 0;
      mac[0] = (mac[0] & 0xfe) | 0x02;
      const src = (0xc6120000 + 256 + ((rand() * 65000) | 0)) >>> 0;
      emitEthernet({ dst: serverMac, src: mac, ethertype: 0x0800 }, frame, 0);
      emitIpv4({ src, dst: serverIp, protocol: 6, ttl: 64, tos: 0, ident: sent & 0xffff, dontFragment: true, moreFragments: false, fragmentOffset: 0, payloadLength: tcpLen }, frame, 14);
      emitTcp(
        { srcPort: 1024 + ((rand() * 60000) | 0), dstPort: 80, seq: (rand() * 4294967296) >>> 0, ack: 0, flags: TcpFlags.SYN, window: 65535, urgent: 0, options: opts, payload: empty },
        frame,
        34,
        src,
        serverIp,
      );
      attacker.send(frame);
      sent++;
    };
    // 200 SYNs every millisecond of virtual time: the whole flood takes 50 ms.
    const burst = (): void => {
      for (let i = 0; i < 200 && sent < FLOOD; i++) spoof();
      maxHalfOpen = Math.max(maxHalfOpen, tcpStats(b).connections.SYN_RECEIVED);
      if (sent < FLOOD) clock.setTimer(clock.now() + 1, burst);
    };
    burst();

    // In the middle of the flood, a legitimate client connects and talks.
    await clock.runFor(20);
    expect(sent).toBeGreaterThan(2000);
    expect(sent).toBeLessThan(FLOOD);
    const c = a.connect(80, '198.18.0.2');
    let echo = '';
    const errors: string[] = [];
    c.on('connect', () => c.write('legit'));
    c.on('data', (d: Buffer) => (echo += d));
    c.on('error', (e: { code?: string }) => errors.push(String(e.code)));
    await clock.run(() => echo === 'legit' || errors.length > 0, { maxMs: 10_000 });
    expect(errors).toEqual([]);
    expect(echo).toBe('legit');
    expect(served).toBe(1);
    await clock.run(() => sent >= FLOOD, { maxMs: 1000 });
    expect(sent).toBe(FLOOD);

    const st = tcpStats(b);
    // The half-open queue never grew past the backlog; the overflow was answered statelessly.
    expect(maxHalfOpen).toBeLessThanOrEqual(BACKLOG);
    expect(st.connections.SYN_RECEIVED).toBeLessThanOrEqual(BACKLOG);
    expect(st.synCookiesSent).toBeGreaterThan(FLOOD - 2 * BACKLOG);
    expect(st.passiveOpens).toBeLessThanOrEqual(BACKLOG + 1);
    expect(st.currEstab).toBe(1);

    // The spoofed half-open connections give up (SYN-ACK retries) and the queue drains.
    await clock.runFor(300_000);
    expect(tcpStats(b).connections.SYN_RECEIVED).toBe(0);
    c.destroy();
  }, 120_000);
});
