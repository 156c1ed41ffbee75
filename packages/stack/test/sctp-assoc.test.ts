import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { parseSctp, emitSctp, sctpPacketLength, type SctpRepr } from '@hastack/wire';
import { SimNet, ip } from './sctp-harness.js';
import type { SctpAssociation, SctpMessageInfo } from '../src/sctp/index.js';

function pair(o: ConstructorParameters<typeof SimNet>[0] = {}, serverOpts = {}, clientOpts = {}) {
  const net = new SimNet(o);
  const a = net.node('client', ['198.18.0.1'], clientOpts);
  const b = net.node('server', ['198.18.0.2'], serverOpts);
  return { net, a, b };
}

function sha(parts: Uint8Array[]): string {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest('hex');
}

function pattern(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

describe('SCTP handshake (RFC 9260 §5.1)', () => {
  it('four-way handshake establishes both ends and exchanges a message each way', async () => {
    const { net, a, b } = pair({ delay: 10 });
    net.keepLog = true;
    let server: SctpAssociation | null = null;
    const got: string[] = [];
    b.layer.createServer({ port: 5000 }, (as) => {
      server = as;
      as.on('message', (d: Uint8Array, info: SctpMessageInfo) => {
        got.push(`server:${new TextDecoder().decode(d)}:${info.stream}:${info.ppid}`);
        as.send('pong', { stream: 1, ppid: 7 });
      });
    }).listen();
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    let connectedAt = -1;
    c.on('connect', () => {
      connectedAt = net.clock.now();
      c.send('ping', { stream: 2, ppid: 51 });
    });
    c.on('message', (d: Uint8Array, info: SctpMessageInfo) => got.push(`client:${new TextDecoder().decode(d)}:${info.stream}:${info.ppid}`));
    expect(await net.until(() => got.length === 2)).toBe(true);
    expect(got).toEqual(['server:ping:2:51', 'client:pong:1:7']);
    expect(c.state).toBe('ESTABLISHED');
    expect(server!.state).toBe('ESTABLISHED');
    // INIT, INIT ACK, COOKIE ECHO, COOKIE ACK: connected after two round trips (40 ms).
    expect(connectedAt).toBe(40);
    const kinds = net.log.slice(0, 4).map((p) => (parseSctp(p.bytes) as SctpRepr).chunks[0].kind);
    expect(kinds).toEqual(['init', 'init-ack', 'cookie-echo', 'cookie-ack']);
    // INIT carries verification tag 0 (§8.5.1 A); the INIT ACK carries the INIT's initiate tag.
    const init = parseSctp(net.log[0].bytes) as SctpRepr;
    const initAck = parseSctp(net.log[1].bytes) as SctpRepr;
    expect(init.verificationTag).toBe(0);
    expect(initAck.verificationTag).toBe((init.chunks[0] as { initiateTag: number }).initiateTag);
  });

  it('INIT to a port nobody listens on is answered by ABORT: ECONNREFUSED', async () => {
    const { net, a } = pair();
    const c = a.layer.connect({ host: '198.18.0.2', port: 9 });
    let e: { code?: string } | null = null;
    c.on('error', (x) => (e = x));
    await net.until(() => e !== null);
    expect(e!.code).toBe('ECONNREFUSED');
    expect(c.state).toBe('CLOSED');
  });

  it('no answer: INIT retransmitted with doubling T1 until Max.Init.Retransmits, then ETIMEDOUT', async () => {
    const { net, a } = pair({}, {}, { maxInitRetrans: 3 });
    net.keepLog = true;
    net.blackholed.add(ip('198.18.0.2'));
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    let e: { code?: string } | null = null;
    c.on('error', (x) => (e = x));
    await net.until(() => e !== null, 120_000);
    expect(e!.code).toBe('ETIMEDOUT');
    // INIT at 0, then 1 s, 2 s, 4 s later (RTO.Initial 1 s doubling); gave up at 15 s.
    expect(net.log.map((p) => p.at)).toEqual([0, 1000, 3000, 7000]);
    expect(net.clock.now()).toBe(15000);
  });

  it('a COOKIE ECHO with a forged signature is dropped; a stale one gets a Stale Cookie ERROR', async () => {
    const { net, a, b } = pair({ delay: 10 }, { cookieLife: 5000 });
    b.layer.createServer({ port: 5000 }).listen();
    net.keepLog = true;
    // Hold every COOKIE ECHO: we replay it by hand.
    const echoes: Uint8Array[] = [];
    net.dropIf = (p) => {
      const r = parseSctp(p.bytes) as SctpRepr;
      if (r.chunks[0].kind === 'cookie-echo') {
        echoes.push(p.bytes);
        return true;
      }
      return false;
    };
    a.layer.connect({ host: '198.18.0.2', port: 5000 });
    await net.until(() => echoes.length > 0);
    const good = echoes[0];
    // Forged: flip a byte inside the cookie (the signed body).
    const forged = good.slice();
    forged[12 + 4 + 10] ^= 1;
    const r = parseSctp(forged, { verifyChecksum: false }) as SctpRepr;
    const fixed = new Uint8Array(sctpPacketLength(r));
    emitSctp(r, fixed);
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), fixed);
    expect(b.layer.stats()).toMatchObject({ badCookie: 1, associations: 0 });
    // Stale: deliver the genuine cookie 6 s after it was made (life 5 s).
    net.clock.advanceSync(6000);
    const before = net.log.length;
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), good);
    await net.clock.runFor(1);
    expect(b.layer.stats()).toMatchObject({ staleCookie: 1, associations: 0 });
    const err = net.log.slice(before).map((p) => parseSctp(p.bytes) as SctpRepr).find((x) => x.chunks[0].kind === 'error');
    expect(err?.chunks[0]).toMatchObject({ kind: 'error', causes: [{ code: 3 }] });
  });

  it('after a Stale Cookie error the client restarts with a cookie preservative and connects', async () => {
    const { net, a, b } = pair({ delay: 10 }, { cookieLife: 5000 }, { rtoInitial: 20_000 });
    b.layer.createServer({ port: 5000 }).listen();
    // Delay the first COOKIE ECHO by 6 s so it arrives stale.
    let delayed = false;
    net.dropIf = (p) => {
      const r = parseSctp(p.bytes) as SctpRepr;
      if (r.chunks[0].kind === 'cookie-echo' && !delayed) {
        delayed = true;
        net.clock.setTimer(net.clock.now() + 6000, () => b.deliver(p.src, p.dst, p.bytes));
        return true;
      }
      return false;
    };
    // RTO.Initial 20 s on the client: no T1 retransmission of the cookie gets in the way.
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    let connected = false;
    c.on('connect', () => (connected = true));
    expect(await net.until(() => connected, 30_000)).toBe(true);
    expect(net.clock.now()).toBeLessThan(7000);
    expect(b.layer.stats()).toMatchObject({ staleCookie: 1, associations: 1 });
  });
});

describe('SCTP INIT ACK parameters (§3.2.1)', () => {
  it('an unknown INIT ACK parameter with the report bit comes back in an ERROR bundled with the COOKIE ECHO', async () => {
    const { net, a } = pair({ delay: 1 });
    net.keepLog = true;
    net.blackholed.add(ip('198.18.0.2')); // nobody answers: we play the server by hand
    a.layer.connect({ host: '198.18.0.2', port: 5000 });
    await net.clock.runFor(1);
    const init = parseSctp(net.log[0].bytes) as SctpRepr;
    const ic = init.chunks[0] as { initiateTag: number; initialTsn: number };
    net.blackholed.clear();
    const ack: SctpRepr = {
      srcPort: 5000,
      dstPort: init.srcPort,
      verificationTag: ic.initiateTag,
      chunks: [
        {
          kind: 'init-ack',
          initiateTag: 0x01020304,
          aRwnd: 65536,
          outboundStreams: 2,
          inboundStreams: 2,
          initialTsn: 1,
          params: [
            { kind: 'cookie', cookie: new Uint8Array([1, 2, 3, 4]) },
            { kind: 'unknown', type: 0xc123, value: new Uint8Array([9, 9]) },
            { kind: 'unknown', type: 0x8124, value: new Uint8Array(0) },
          ],
        },
      ],
    };
    const bytes = new Uint8Array(sctpPacketLength(ack));
    emitSctp(ack, bytes);
    const before = net.log.length;
    a.deliver(ip('198.18.0.2'), ip('198.18.0.1'), bytes);
    await net.clock.runFor(1);
    const echo = net.log.slice(before).map((p) => parseSctp(p.bytes) as SctpRepr)[0];
    expect(echo.verificationTag).toBe(0x01020304);
    expect(echo.chunks.map((c) => c.kind)).toEqual(['cookie-echo', 'error']);
    const e = echo.chunks[1] as { causes: Array<{ code: number; info: Uint8Array }> };
    expect(e.causes[0].code).toBe(8);
    // Only the 0xc123 parameter (report bit set) is reported, padded: c123 0006 0909 0000.
    expect([...e.causes[0].info]).toEqual([0xc1, 0x23, 0, 6, 9, 9, 0, 0]);
  });
});

describe('SCTP data transfer', () => {
  async function transfer(o: { loss?: number; jitter?: number; seed?: number; msgs: number; size: (i: number) => number; streams?: number; unorderedEvery?: number }) {
    const { net, a, b } = pair({ delay: 5, loss: o.loss ?? 0, jitter: o.jitter ?? 0, seed: o.seed ?? 7 });
    const rx = new Map<number, Uint8Array[]>();
    const rxUnordered: Uint8Array[] = [];
    let rxCount = 0;
    b.layer.createServer({ port: 5000, streams: o.streams ?? 4 }, (as) => {
      as.on('message', (d: Uint8Array, info: SctpMessageInfo) => {
        rxCount++;
        if (info.unordered) rxUnordered.push(d);
        else {
          if (!rx.has(info.stream)) rx.set(info.stream, []);
          rx.get(info.stream)!.push(d);
        }
      });
    }).listen();
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000, streams: o.streams ?? 4 });
    const sent = new Map<number, Uint8Array[]>();
    const sentUnordered: Uint8Array[] = [];
    let i = 0;
    const pump = (): void => {
      while (i < o.msgs) {
        const stream = i % (o.streams ?? 4);
        const unordered = o.unorderedEvery ? i % o.unorderedEvery === 0 : false;
        const m = pattern(o.size(i), i + 1);
        if (unordered) sentUnordered.push(m);
        else {
          if (!sent.has(stream)) sent.set(stream, []);
          sent.get(stream)!.push(m);
        }
        i++;
        if (!c.send(m, { stream, unordered, ppid: i })) return;
      }
    };
    c.on('connect', pump);
    c.on('drain', pump);
    const ok = await net.until(() => rxCount === o.msgs, 600_000);
    return { ok, net, c, a, b, rx, sent, rxUnordered, sentUnordered };
  }

  it('1 MB in 1000-byte messages, no loss: every stream arrives in order (SHA-256)', async () => {
    const r = await transfer({ msgs: 1000, size: () => 1000 });
    expect(r.ok).toBe(true);
    for (const [s, list] of r.sent) expect(sha(r.rx.get(s)!)).toBe(sha(list));
  });

  it('fragmentation: messages up to 100 kB are split into DATA chunks and reassembled', async () => {
    const r = await transfer({ msgs: 30, size: (i) => 1 + ((i * 7919) % 100_000) });
    expect(r.ok).toBe(true);
    for (const [s, list] of r.sent) {
      expect(r.rx.get(s)!.map((x) => x.length)).toEqual(list.map((x) => x.length));
      expect(sha(r.rx.get(s)!)).toBe(sha(list));
    }
    expect(r.c.stats().dataChunksOut).toBeGreaterThan(30 * 10);
  });

  it('5% loss + reordering: 2 MB intact per stream, with fast retransmits and SACK gap blocks', async () => {
    const r = await transfer({ msgs: 700, size: (i) => 500 + ((i * 131) % 5000), loss: 0.05, jitter: 8, seed: 3 });
    expect(r.ok).toBe(true);
    for (const [s, list] of r.sent) expect(sha(r.rx.get(s)!)).toBe(sha(list));
    const st = r.c.stats();
    expect(st.retransmits).toBeGreaterThan(0);
    expect(st.fastRetransmits).toBeGreaterThan(0);
    expect(r.b.layer.stats()).toMatchObject({ badChecksum: 0, malformed: 0 });
  });

  it('many streams, ordered and unordered mixed: ordered per stream, unordered complete', async () => {
    const r = await transfer({ msgs: 600, size: (i) => 100 + (i % 3000), streams: 20, unorderedEvery: 3, loss: 0.03, jitter: 10, seed: 11 });
    expect(r.ok).toBe(true);
    for (const [s, list] of r.sent) expect(sha(r.rx.get(s)!)).toBe(sha(list));
    const key = (x: Uint8Array) => Buffer.from(x).toString('base64');
    expect(r.rxUnordered.map(key).sort()).toEqual(r.sentUnordered.map(key).sort());
  });

  it('delayed SACK: a single DATA packet is acknowledged after 200 ms, two at once', async () => {
    const { net, a, b } = pair({ delay: 1 });
    net.keepLog = true;
    b.layer.createServer({ port: 5000 }).listen();
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    await net.until(() => c.state === 'ESTABLISHED');
    await net.clock.runFor(50);
    const t0 = net.clock.now();
    const start = net.log.length;
    c.send('x');
    await net.clock.runFor(500);
    const sackAt = net.log.slice(start).find((p) => (parseSctp(p.bytes) as SctpRepr).chunks.some((k) => k.kind === 'sack'))!.at;
    // DATA leaves at t0, arrives at t0+1, SACK 200 ms later.
    expect(sackAt - t0).toBe(201);
  });

  it('send() reports backpressure and emits drain', async () => {
    const { net, a, b } = pair({ delay: 5 }, {}, { sendBuffer: 10_000 });
    b.layer.createServer({ port: 5000 }).listen();
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    await net.until(() => c.state === 'ESTABLISHED');
    let r = true;
    let n = 0;
    while (r) {
      r = c.send(new Uint8Array(3000));
      n++;
    }
    expect(n).toBe(4);
    let drained = false;
    c.on('drain', () => (drained = true));
    expect(await net.until(() => drained)).toBe(true);
    expect(c.bufferedAmount).toBeLessThan(10_000);
  });

  it('API misuse throws typed errors', async () => {
    const { net, a, b } = pair();
    b.layer.createServer({ port: 5000, streams: 2 }).listen();
    expect(() => b.layer.createServer({ port: 5000 }).listen()).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000, streams: 4 });
    await net.until(() => c.state === 'ESTABLISHED');
    expect(c.outboundStreams).toBe(2);
    expect(() => c.send('x', { stream: 2 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => c.send(new Uint8Array(0))).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_VALUE' }));
    expect(() => a.layer.connect({ host: 'nope', port: 1 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_IP_ADDRESS' }));
  });
});

describe('SCTP shutdown and abort (§9)', () => {
  it('graceful shutdown delivers queued data first, then SHUTDOWN / SHUTDOWN ACK / SHUTDOWN COMPLETE', async () => {
    const { net, a, b } = pair({ delay: 5 });
    net.keepLog = true;
    let server: SctpAssociation | null = null;
    let got = 0;
    let peerShutdown = false;
    let serverClosed = false;
    b.layer.createServer({ port: 5000 }, (as) => {
      server = as;
      as.on('message', () => got++);
      as.on('shutdown', () => (peerShutdown = true));
      as.on('close', () => (serverClosed = true));
    }).listen();
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    let clientClosed = false;
    c.on('close', (hadError: boolean) => (clientClosed = !hadError));
    c.on('connect', () => {
      for (let i = 0; i < 50; i++) c.send(pattern(2000, i));
      c.shutdown();
      expect(() => c.send('late')).toThrow(expect.objectContaining({ code: 'EPIPE' }));
    });
    expect(await net.until(() => clientClosed && serverClosed)).toBe(true);
    expect(got).toBe(50);
    expect(peerShutdown).toBe(true);
    expect(server!.state).toBe('CLOSED');
    const kinds = net.log.map((p) => (parseSctp(p.bytes) as SctpRepr).chunks.map((k) => k.kind)).flat();
    const tail = kinds.filter((k) => k.startsWith('shutdown'));
    expect(tail).toEqual(['shutdown', 'shutdown-ack', 'shutdown-complete']);
    expect(a.layer.stats()).toMatchObject({ associations: 0 });
    expect(b.layer.stats()).toMatchObject({ associations: 0 });
  });

  it('abort: the peer gets ECONNRESET at once', async () => {
    const { net, a, b } = pair();
    let e: { code?: string } | null = null;
    b.layer.createServer({ port: 5000 }, (as) => as.on('error', (x) => (e = x))).listen();
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    await net.until(() => c.state === 'ESTABLISHED');
    c.abort();
    expect(c.state).toBe('CLOSED');
    await net.until(() => e !== null);
    expect(e!.code).toBe('ECONNRESET');
  });
});

describe('SCTP verification tags (§8.5, §8.4)', () => {
  async function established() {
    const { net, a, b } = pair({ delay: 2 });
    net.keepLog = true;
    let server: SctpAssociation | null = null;
    b.layer.createServer({ port: 5000 }, (as) => (server = as)).listen();
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    await net.until(() => c.state === 'ESTABLISHED' && server !== null);
    return { net, a, b, c, server: server! };
  }
  const pkt = (r: SctpRepr) => {
    const b = new Uint8Array(sctpPacketLength(r));
    emitSctp(r, b);
    return b;
  };

  it('a packet with the wrong tag is dropped and counted', async () => {
    const { net, b, c, server } = await established();
    const myTagOfServer = (server as unknown as { engine: { s: { myTag: number } } }).engine.s.myTag;
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), pkt({ srcPort: c.localPort, dstPort: 5000, verificationTag: (myTagOfServer + 1) >>> 0, chunks: [{ kind: 'data', unordered: false, beginning: true, ending: true, immediate: false, tsn: 1, streamId: 0, ssn: 0, ppid: 0, data: new Uint8Array(1) }] }));
    await net.clock.runFor(10);
    expect(b.layer.stats()).toMatchObject({ badVtag: 1 });
    expect(server.stats().messagesIn).toBe(0);
  });

  it('ABORT is accepted with our tag, or with the T bit and the peer tag; otherwise ignored', async () => {
    const { net, b, c, server } = await established();
    const s = (server as unknown as { engine: { s: { myTag: number; peerTag: number } } }).engine.s;
    const abort = (tag: number, tBit: boolean) => b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), pkt({ srcPort: c.localPort, dstPort: 5000, verificationTag: tag, chunks: [{ kind: 'abort', tBit, causes: [] }] }));
    abort(s.peerTag, false); // T clear needs our tag
    abort(s.myTag, true); // T set needs the peer's tag
    await net.clock.runFor(5);
    expect(server.state).toBe('ESTABLISHED');
    abort(s.peerTag, true);
    await net.clock.runFor(5);
    expect(server.state).toBe('CLOSED');
  });

  it('out of the blue: DATA gets ABORT with T bit and the same tag; SHUTDOWN ACK gets SHUTDOWN COMPLETE (T)', async () => {
    const { net, a, b } = pair();
    net.keepLog = true;
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), pkt({ srcPort: 1, dstPort: 2, verificationTag: 0xabcdef, chunks: [{ kind: 'data', unordered: false, beginning: true, ending: true, immediate: false, tsn: 1, streamId: 0, ssn: 0, ppid: 0, data: new Uint8Array(1) }] }));
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), pkt({ srcPort: 1, dstPort: 2, verificationTag: 0x1234, chunks: [{ kind: 'shutdown-ack' }] }));
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), pkt({ srcPort: 1, dstPort: 2, verificationTag: 0x1234, chunks: [{ kind: 'abort', tBit: false, causes: [] }] }));
    await net.clock.runFor(1);
    const out = net.log.map((p) => parseSctp(p.bytes) as SctpRepr);
    expect(out).toHaveLength(2);
    expect(out[0]).toMatchObject({ verificationTag: 0xabcdef, chunks: [{ kind: 'abort', tBit: true }] });
    expect(out[1]).toMatchObject({ verificationTag: 0x1234, chunks: [{ kind: 'shutdown-complete', tBit: true }] });
    void a;
  });

  it('INIT with a non-zero verification tag is discarded (§8.5.1 A)', async () => {
    const { net, b } = pair();
    net.keepLog = true;
    b.layer.createServer({ port: 5000 }).listen();
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), pkt({ srcPort: 1, dstPort: 5000, verificationTag: 5, chunks: [{ kind: 'init', initiateTag: 9, aRwnd: 10000, outboundStreams: 1, inboundStreams: 1, initialTsn: 1, params: [] }] }));
    await net.clock.runFor(1);
    expect(net.log).toHaveLength(0);
  });

  it('unknown chunk types: 0x80 skipped silently, 0xc0 skipped and reported, 0x40 stops the packet with a report', async () => {
    const { net, b, c, server } = await established();
    const s = (server as unknown as { engine: { s: { myTag: number; cumTsn: number } } }).engine.s;
    const data = (tsn: number) => ({ kind: 'data' as const, unordered: false, beginning: true, ending: true, immediate: true, tsn, streamId: 0, ssn: 0, ppid: 0, data: new Uint8Array([1]) });
    const start = net.log.length;
    const base = s.cumTsn;
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), pkt({ srcPort: c.localPort, dstPort: 5000, verificationTag: s.myTag, chunks: [{ kind: 'unknown', type: 0x80, flags: 0, value: new Uint8Array(0) }, { kind: 'unknown', type: 0xc0, flags: 0, value: new Uint8Array(0) }, data((base + 1) >>> 0)] }));
    await net.clock.runFor(1);
    expect(server.stats().messagesIn).toBe(1);
    b.deliver(ip('198.18.0.1'), ip('198.18.0.2'), pkt({ srcPort: c.localPort, dstPort: 5000, verificationTag: s.myTag, chunks: [{ kind: 'unknown', type: 0x40, flags: 0, value: new Uint8Array(0) }, { ...data((base + 2) >>> 0), ssn: 1 }] }));
    await net.clock.runFor(1);
    expect(server.stats().messagesIn).toBe(1);
    const errs = net.log.slice(start).map((p) => parseSctp(p.bytes) as SctpRepr).filter((r) => r.chunks.some((k) => k.kind === 'error'));
    expect(errs).toHaveLength(2);
  });
});
