/**
 * Takeover from snooped state only (issue 6 item 6; seed 000 claim 7): the primary never
 * checkpoints; a hub-mode snooper watches; the primary crashes mid-download; another stack takes
 * the address over from the snooped state alone, replaying the request into a deterministic HTTP
 * server and sending only the output the client has not acknowledged.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, type Socket } from '@hastack/stack';
import { ConnectionSnooper, httpSnoopApp, snoopedToCheckpoint, snoopStack, takeoverFromSnoop, validateSnoopedState, type SnoopedState } from '@hastack/cluster';
import { createHttpFileServer, generateRange, type NetLike } from '../../../examples/ha-http-server/src/index.js';

const VIP = '198.18.0.100';
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const genSha = (seed: number, size: number): string => {
  const h = createHash('sha256');
  for (const c of generateRange(seed, 0, size)) h.update(c);
  return h.digest('hex');
};

/** Split a byte stream into HTTP/1.1 responses with Content-Length bodies. */
function responses(buf: Buffer): { status: number; head: string; body: Buffer }[] {
  const out: { status: number; head: string; body: Buffer }[] = [];
  let p = 0;
  while (p < buf.length) {
    const e = buf.indexOf('\r\n\r\n', p);
    if (e < 0) break;
    const head = buf.subarray(p, e).toString('latin1');
    const len = Number(/\r\ncontent-length:\s*(\d+)/i.exec(head)?.[1] ?? 0);
    if (e + 4 + len > buf.length) break;
    out.push({ status: Number(head.split(' ')[1]), head, body: buf.subarray(e + 4, e + 4 + len) });
    p = e + 4 + len;
  }
  return out;
}

async function setup(seed: number) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed, clock, hub: true, delayMs: 1, rateMbps: 200 });
  const portA = net.createPort();
  const a = new Stack({ link: portA, address: '198.18.0.1/24', clock });
  const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
  const c = new Stack({ link: net.createPort(), address: '198.18.0.3/24', clock });
  const client = new Stack({ link: net.createPort(), address: '198.18.0.4/24', clock });
  a.addAddress(`${VIP}/24`);
  // Primary: deterministic HA HTTP server, NO checkpointing at all.
  const srvA = createHttpFileServer({ root: null, net: a as unknown as NetLike, deterministic: true, clock, serverName: null, idleTimeout: 0 });
  let up = false;
  srvA.listen(80, VIP).then(() => (up = true));
  await clock.run(() => up, { maxMs: 1000 });
  // Snooper C in hub mode, watching the virtual IP.
  const sn = new ConnectionSnooper({ maxBytesPerConnection: 16 * 1024 });
  sn.watch(VIP, [{ from: 80, to: 80 }]);
  snoopStack(c, sn, clock);
  // Backup B's server (its sockets arrive by takeover, not by listening).
  const srvB = createHttpFileServer({ root: null, net: b as unknown as NetLike, deterministic: true, clock, serverName: null, idleTimeout: 0 });
  const replayB = createHttpFileServer({ root: null, net: b as unknown as NetLike, deterministic: true, clock, serverName: null, idleTimeout: 0 });
  const closeAll = async () => {
    let done = false;
    const p = Promise.all([a, b, c, client].map((s) => s.close())).then(() => (done = true));
    await clock.run(() => done, { maxMs: 30_000 });
    await p;
  };
  return { clock, net, portA, a, b, c, client, srvA, srvB, replayB, sn, closeAll };
}

/** Drive the virtual clock (with real event-loop turns for the replay's fs-free async work) until `cond`. */
async function runUntil(clock: VirtualClock, cond: () => boolean, maxMs: number): Promise<boolean> {
  const end = clock.now() + maxMs;
  while (!cond() && clock.now() < end) await clock.runFor(2);
  return cond();
}

async function takeover(env: Awaited<ReturnType<typeof setup>>, maxQueuedBytes?: number): Promise<{ state: SnoopedState; socket: Socket }> {
  const { b, sn, srvB, replayB } = env;
  // The snooper's output queue is what travels to the takeover host: round-trip it through the validator.
  expect(sn.enqueue({ ip: VIP })).toBe(1);
  const [raw] = sn.takeOutput();
  const state = validateSnoopedState(JSON.parse(JSON.stringify(raw, (_k, v) => (v instanceof Uint8Array ? { $b: [...v] } : v)), (_k, v) => (v && Array.isArray(v.$b) ? Uint8Array.from(v.$b) : v)));
  expect(state).not.toBeNull();
  expect(state!.replay.valid).toBe(true);
  b.addAddress(`${VIP}/24`);
  b.gratuitousArp(VIP);
  // The replay of a generated response needs no event-loop turn: the connection is restored
  // before any macrotask queued ahead of it runs — in a real process, before the stack reads
  // another frame from its link (a client segment for the 4-tuple would get an RST).
  let restored = false;
  let restoredAtNextTurn: boolean | null = null;
  setImmediate(() => (restoredAtNextTurn = restored));
  const pending = takeoverFromSnoop(b, state!, httpSnoopApp(srvB, { replayServer: replayB }), { maxQueuedBytes }).then((r) => {
    restored = true;
    return r;
  });
  const { socket } = await pending;
  await new Promise((r) => setImmediate(r));
  expect(restoredAtNextTurn).toBe(true);
  return { state: state!, socket };
}

/** Everything a client socket receives, and whether it ended. */
function received(s: Socket): { parts: Buffer[]; got: number; ended: boolean } {
  const r = { parts: [] as Buffer[], got: 0, ended: false };
  s.on('data', (d: Buffer) => {
    r.parts.push(d);
    r.got += d.length;
  });
  s.on('end', () => (r.ended = true));
  return r;
}

describe('takeover from snooped state only (primary checkpointing off)', () => {
  it('a download interrupted by a primary crash completes from the snooped state with the right SHA-256', async () => {
    const env = await setup(11);
    const { clock, client, portA } = env;
    const size = 2 * 1024 * 1024;
    const s = client.connect({ host: VIP, port: 80 });
    const r = received(s);
    s.write(`GET /gen/${size}?seed=5 HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n`);
    expect(await runUntil(clock, () => r.got > size / 3, 10_000)).toBe(true);
    // Crash: A vanishes from the segment mid-download (no FIN, no RST, no checkpoint).
    portA.detach();
    const gotAtCrash = r.got;
    expect(gotAtCrash).toBeLessThan(size); // really mid-download
    await clock.runFor(100); // failure detection time
    // A bounded restored queue (64 KiB beyond the bytes in flight): the server's resume path writes the rest.
    const { state, socket } = await takeover(env, 64 * 1024);
    // Only the unacknowledged part of the response is regenerated: SND.UNA is the client's ACK.
    expect(state.suppress).toBeGreaterThan(0);
    let ready = false;
    socket.on('ready', () => (ready = true));
    expect(await runUntil(clock, () => r.ended, 30_000)).toBe(true);
    expect(ready).toBe(true);
    expect(r.got).toBeGreaterThan(gotAtCrash);
    expect(env.srvB.stats().resumed).toBe(1);
    const rs = responses(Buffer.concat(r.parts));
    expect(rs).toHaveLength(1);
    expect(rs[0].status).toBe(200);
    expect(rs[0].body.length).toBe(size);
    expect(sha(rs[0].body)).toBe(genSha(5, size));
    expect(r.got).toBe(rs[0].head.length + 4 + size); // nothing duplicated, nothing trailing
    s.destroy();
    await env.closeAll();
  }, 60_000);

  it('the snooper missed the last frames before the crash (its queue overflowed): the client ACK past what it saw is adopted, SHA-256 right', async () => {
    const env = await setup(13);
    const { clock, client, portA, c, sn } = env;
    const size = 2 * 1024 * 1024;
    const s = client.connect({ host: VIP, port: 80 });
    const r = received(s);
    s.write(`GET /gen/${size}?seed=6 HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n`);
    expect(await runUntil(clock, () => r.got > size / 4, 10_000)).toBe(true);
    // The snooper stops seeing frames (as when a real TAP's receive queue overflows) while A keeps
    // sending and the client keeps acknowledging; then A crashes.
    c.onForeignFrame(null);
    const gotBlind = r.got;
    expect(await runUntil(clock, () => r.got > gotBlind + 128 * 1024, 10_000)).toBe(true);
    portA.detach();
    expect(r.got).toBeLessThan(size);
    await clock.runFor(100);
    const { state, socket } = await takeover(env);
    // The client has acknowledged server bytes the snooper never saw.
    const clientAckSeen = state.client.ack!;
    expect(((state.server.nxt - clientAckSeen) | 0) < 128 * 1024).toBe(true);
    let ready = false;
    socket.on('ready', () => (ready = true));
    socket.on('error', () => {});
    expect(await runUntil(clock, () => r.ended, 30_000)).toBe(true);
    expect(ready).toBe(true);
    expect(sn.stats.frames).toBeGreaterThan(0);
    const rs = responses(Buffer.concat(r.parts));
    expect(rs).toHaveLength(1);
    expect(rs[0].body.length).toBe(size);
    expect(sha(rs[0].body)).toBe(genSha(6, size));
    expect(r.got).toBe(rs[0].head.length + 4 + size);
    s.destroy();
    await env.closeAll();
  }, 60_000);

  it('keep-alive: the second request crashes mid-response, resumes from the snooped replay base, and a third request after the takeover is served by the backup', async () => {
    const env = await setup(12);
    const { clock, client, portA, srvB } = env;
    const size1 = 100_000;
    const size2 = 1536 * 1024;
    const size3 = 300_000;
    const parts: Buffer[] = [];
    let got = 0;
    const s = client.connect({ host: VIP, port: 80 });
    s.on('data', (d: Buffer) => {
      parts.push(d);
      got += d.length;
    });
    const total = () => responses(Buffer.concat(parts));
    s.write(`GET /gen/${size1}?seed=1 HTTP/1.1\r\nHost: vip\r\n\r\n`);
    expect(await runUntil(clock, () => total().length === 1, 10_000)).toBe(true);
    await clock.runFor(200); // last ACKs pass: the next request moves the replay base
    s.write(`GET /gen/${size2}?seed=2 HTTP/1.1\r\nHost: vip\r\n\r\n`);
    const before = got;
    expect(await runUntil(clock, () => got - before > size2 / 2, 10_000)).toBe(true);
    expect(got - before).toBeLessThan(size2); // really mid-response
    portA.detach();
    await clock.runFor(100);
    // Whole remaining response in the restored queue, refilled from the replay's object source.
    const { state } = await takeover(env, Infinity);
    // The replay holds only the second request; the first response is not regenerated.
    expect(Buffer.from(state.replay.bytes).toString()).toBe(`GET /gen/${size2}?seed=2 HTTP/1.1\r\nHost: vip\r\n\r\n`);
    expect(await runUntil(clock, () => total().length === 2, 30_000)).toBe(true);
    // Third request on the same connection, after the takeover: B's server answers it.
    const servedBefore = srvB.stats().requests;
    s.write(`GET /gen/${size3}?seed=3 HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n`);
    expect(await runUntil(clock, () => total().length === 3, 30_000)).toBe(true);
    expect(srvB.stats().requests).toBe(servedBefore + 1);
    expect(srvB.stats().resumed).toBe(0); // the whole response came from the restored queue
    const rs = total();
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(sha(rs[0].body)).toBe(genSha(1, size1));
    expect(sha(rs[1].body)).toBe(genSha(2, size2));
    expect(sha(rs[2].body)).toBe(genSha(3, size3));
    // Nothing was duplicated or lost: the byte count is exactly the three responses.
    expect(got).toBe(rs.reduce((n, r) => n + r.head.length + 4 + r.body.length, 0));
    s.destroy();
    await env.closeAll();
  }, 60_000);

  it('an idle keep-alive connection (last response fully acknowledged) is taken over with an empty queue and serves the next request', async () => {
    const env = await setup(13);
    const { clock, client, portA, srvB } = env;
    const parts: Buffer[] = [];
    const s = client.connect({ host: VIP, port: 80 });
    s.on('data', (d: Buffer) => parts.push(d));
    const total = () => responses(Buffer.concat(parts));
    s.write(`GET /gen/50000?seed=8 HTTP/1.1\r\nHost: vip\r\n\r\n`);
    expect(await runUntil(clock, () => total().length === 1, 10_000)).toBe(true);
    await clock.runFor(200);
    portA.detach();
    await clock.runFor(100);
    const { state } = await takeover(env);
    expect(state.suppress).toBe(total()[0].head.length + 4 + 50000); // all of it acknowledged
    s.write(`GET /gen/70000?seed=9 HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n`);
    expect(await runUntil(clock, () => total().length === 2, 30_000)).toBe(true);
    const rs = total();
    expect(sha(rs[1].body)).toBe(genSha(9, 70000));
    expect(srvB.stats().requests).toBe(1);
    s.destroy();
    await env.closeAll();
  }, 60_000);

  it('httpSnoopApp replays a request for a large file (sha256 ETag and file reads take many event-loop turns) and reads the body back at any offset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'snoop-replay-'));
    try {
      const size = 48 * 1024 * 1024;
      const body = Buffer.concat([...generateRange(3, 0, size)]);
      writeFileSync(join(dir, 'big.bin'), body);
      const srv = createHttpFileServer({ root: dir, net: { createServer: () => { throw new Error('unused'); } } as unknown as NetLike, deterministic: true, serverName: null, idleTimeout: 0 });
      const replay = createHttpFileServer({ root: dir, net: { createServer: () => { throw new Error('unused'); } } as unknown as NetLike, deterministic: true, serverName: null, idleTimeout: 0 });
      const app = httpSnoopApp(srv, { replayServer: replay });
      const req = Buffer.from('GET /big.bin HTTP/1.1\r\nHost: vip\r\n\r\n');
      const st = { replay: { valid: true, clientSeq: 1, serverSeq: 1001, bytes: req } } as unknown as SnoopedState;
      const out = await app.replay(req, st);
      expect(out.consumed).toBe(req.length);
      const chunks: Buffer[] = [];
      const src = await out.read(out.length - 1000);
      for await (const c of src as AsyncIterable<Uint8Array>) chunks.push(Buffer.from(c));
      expect(Buffer.concat(chunks).equals(body.subarray(size - 1000))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('snoopedToCheckpoint: SND.UNA is the client ACK, one object ref from SND.UNA, options from the handshake', () => {
    const st: SnoopedState = {
      key: 'tcp:198.18.0.100:80-198.18.0.4:40000',
      state: 'established',
      server: { ip: '198.18.0.100', port: 80, isn: 1000, nxt: 1000 + 1 + 5000, ack: 5000 + 1 + 20, window: 65535 << 2, mss: 1460, wscale: 2, sackPermitted: true, timestamps: true, tsval: 777, tsecr: 55, fin: false },
      client: { ip: '198.18.0.4', port: 40000, isn: 5000, nxt: 5000 + 1 + 20, ack: 1000 + 1 + 3000, window: 1 << 20, mss: 1400, wscale: 7, sackPermitted: true, timestamps: true, tsval: 56, tsecr: 770, fin: false },
      replay: { valid: true, clientSeq: 5001, serverSeq: 1001, bytes: new Uint8Array(20).fill(65) },
      suppress: 3000,
      lastSeen: 0,
    };
    const cp = snoopedToCheckpoint(st, { outputLength: 9000, consumed: 15 });
    expect(cp.tcp.iss).toBe(1000);
    expect(cp.tcp.irs).toBe(5000);
    expect(cp.tcp.sndUna).toBe(4001);
    // SND.NXT: the highest server byte seen; SND.MAX: the end of the regenerated queue, so a client
    // ACK for server bytes the snooper missed is still adopted.
    expect(cp.tcp.sndNxt).toBe(6001);
    expect(cp.tcp.sndMax).toBe(10001);
    expect(cp.tcp.rcvNxt).toBe(5021);
    expect(cp.tcp.sendLength).toBe(6000);
    const bounded = snoopedToCheckpoint(st, { outputLength: 9000, maxQueuedBytes: 1000 });
    expect(bounded.tcp.sendLength).toBe(3000); // 2000 in flight + 1000
    expect(bounded.tcp.sndMax).toBe(7001);
    expect(cp.tcp.sendRanges).toEqual([]);
    expect(cp.app!.objects).toEqual([{ id: `snoop:${st.key}`, seq: 4001, offset: 3000, length: 6000 }]);
    expect(cp.tcp.sndWscale).toBe(7);
    expect(cp.tcp.rcvWscale).toBe(2);
    expect(cp.tcp.sndMss).toBe(1400);
    expect(cp.tcp.tsRecent).toBe(56);
    expect(cp.tcp.tsLastSent).toBe(777);
    expect(Buffer.from(cp.tcp.recvBuffer).toString()).toBe('AAAAA');
    // A replay that regenerates less than the server was seen sending is refused.
    expect(() => snoopedToCheckpoint(st, { outputLength: 4000 })).toThrow(/shorter/);
    expect(() => snoopedToCheckpoint({ ...st, replay: { ...st.replay, valid: false } }, { outputLength: 9000 })).toThrow(/incomplete/);
  });
});
