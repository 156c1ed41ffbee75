/**
 * Restore edge cases: a peer ACK that overtakes a slow asynchronous refill of an object-mapped
 * restore, and a stale restore that tells the peer (one RST with SEQ = the peer's ACK).
 */
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, engineConnOf, type Socket, type TcpCheckpoint } from '@hastack/stack';
import { validateCheckpoint } from '@hastack/checkpoint';
import { SERVER_IP, SERVER_MAC, CLIENT_IP, PORT, pattern, sha } from './checkpoint-harness.js';

describe('restore: the peer acknowledges past the queue while it is being refilled', () => {
  it('counts the ACK against the refill; a new capture validates; the download completes intact', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 11, delayMs: 1, clock });
    const tcp = { timestamps: true, sack: true };
    // The old host's frames take 40 ms: when it dies, much of what it sent is still on the way
    // to the peer, which acknowledges it to the new host after it already answered the
    // solicitation with a lower ACK.
    const A = new Stack({ link: net.createPort({ mac: SERVER_MAC, delayMs: 40 }), address: `${SERVER_IP}/24`, clock, nodeId: 'A', tcp });
    const C = new Stack({ link: net.createPort(), address: `${CLIENT_IP}/24`, clock, nodeId: 'C', tcp });
    const data = pattern(400_000, 5);
    let server: Socket | null = null;
    A.createServer((s: Socket) => {
      server = s;
      s.on('error', () => {});
      s.mapObject('blob', { length: data.length });
      s.write(data);
      s.end();
    }).listen(PORT, SERVER_IP);
    await clock.runFor(1);
    const client = C.connect({ port: PORT, host: SERVER_IP }) as Socket;
    const got: Buffer[] = [];
    let gotBytes = 0;
    let ended = false;
    const errors: string[] = [];
    client.on('data', (c: Buffer) => {
      got.push(c);
      gotBytes += c.length;
    });
    client.on('end', () => (ended = true));
    client.on('error', (e) => errors.push(String((e as { code?: string }).code)));
    const ahead = () => {
      const a = engineConnOf(server as unknown as Socket)!.tcb;
      const c = C.tcp.connections()[0] as unknown as { tcb: { rcvNxt: number } };
      return (a.sndMax - c.tcb.rcvNxt) | 0;
    };
    // Crash while a burst of data is on its way to the peer.
    await clock.run(() => gotBytes >= 100_000, { maxMs: 10_000 });
    for (let i = 0; i < 2000 && ahead() < 20_000; i++) clock.advanceSync(0.25);
    expect(ahead()).toBeGreaterThanOrEqual(20_000);
    const srv = server as unknown as Socket;
    const cp: TcpCheckpoint = srv.checkpoint({ mode: 'mapped' });
    const inFlight = (cp.tcp.sndMax - cp.tcp.sndUna) >>> 0;
    expect(inFlight).toBeGreaterThan(20_000);
    A.crash();

    const B = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'B', tcp });
    // A slow object source: 8 KiB chunks, 20 ms apart.
    const objectSource = (id: string, off: number) => {
      expect(id).toBe('blob');
      return (async function* () {
        for (let o = off; o < data.length; o += 8192) {
          await new Promise<void>((r) => clock.setTimer(clock.now() + 20, r));
          yield data.subarray(o, Math.min(data.length, o + 8192));
        }
      })();
    };
    const restored = B.restore(cp, { objectSource });
    let ready = false;
    restored.on('ready', () => (ready = true));
    restored.on('error', (e) => errors.push(`restored ${(e as { code?: string }).code}`));
    const conn = engineConnOf(restored)!;
    const firstAck = await (async () => {
      await clock.run(() => !conn.unready, { maxMs: 5_000 });
      return conn.tcb.sndUna;
    })();
    // The rest of the old host's flight reaches the peer, which acknowledges it to B.
    await clock.run(() => ((conn.tcb.sndUna - firstAck) | 0) > 0, { maxMs: 200 });
    expect((conn.tcb.sndUna - firstAck) | 0).toBeGreaterThan(0);
    expect(ready).toBe(false); // still refilling
    expect(conn.tcb.fillRemaining).toBeGreaterThan(0);
    // Once refilled and released, the connection checkpoints again, with a valid send queue.
    await clock.run(() => ready, { maxMs: 30_000 });
    expect(ready).toBe(true);
    expect(ended).toBe(false);
    const again = restored.checkpoint({ mode: 'mapped' });
    expect(() => validateCheckpoint(again)).not.toThrow();
    expect(again.tcp.sendRanges.every((r) => ((r.seq - again.tcp.sndUna) | 0) >= 0)).toBe(true);
    await clock.run(() => ended, { maxMs: 120_000 });
    expect(errors).toEqual([]);
    expect(gotBytes).toBe(data.length);
    expect(sha(Buffer.concat(got))).toBe(sha(data));
  });
});

/** TCP segments seen on a hub network: [srcPort, flags, seq, ack]. */
function sniffer(net: MemoryNetwork) {
  const segs: { sport: number; flags: number; seq: number; ack: number }[] = [];
  net.createPort().attach({
    frame(d: Uint8Array) {
      if (d[12] !== 0x08 || d[13] !== 0x00 || d[23] !== 6) return;
      const o = 14 + (d[14] & 0x0f) * 4;
      const u32 = (i: number) => ((d[i] << 24) | (d[i + 1] << 16) | (d[i + 2] << 8) | d[i + 3]) >>> 0;
      segs.push({ sport: (d[o] << 8) | d[o + 1], flags: d[o + 13], seq: u32(o + 4), ack: u32(o + 8) });
    },
    batchEnd() {},
  });
  return segs;
}

async function pairOnHub() {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 4, delayMs: 1, clock, hub: true });
  const segs = sniffer(net);
  const A = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'A' });
  const C = new Stack({ link: net.createPort(), address: `${CLIENT_IP}/24`, clock, nodeId: 'C' });
  let server: Socket | null = null;
  A.createServer((s: Socket) => {
    server = s;
    s.on('error', () => {});
  }).listen(PORT, SERVER_IP);
  await clock.runFor(1);
  const client = C.connect({ port: PORT, host: SERVER_IP }) as Socket;
  let clientErr: { code?: string } | null = null;
  client.on('error', (e) => (clientErr = e));
  client.on('data', () => {});
  await clock.run(() => server !== null, { maxMs: 1000 });
  const newB = () => new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'B' });
  return { clock, net, segs, A, C, server: server as unknown as Socket, client, newB, clientErr: () => clientErr };
}

const RST = 0x04;
const ACK = 0x10;

describe('restore: a stale checkpoint resets the peer', () => {
  it('one RST with SEQ = the peer\'s ACK (no ACK flag): the idle peer fails with ECONNRESET', async () => {
    const p = await pairOnHub();
    p.server.write(pattern(10_000, 1));
    await p.clock.runFor(20);
    const cp = p.server.checkpoint();
    p.server.write(pattern(10_000, 2)); // acknowledged after the checkpoint: cp is stale
    await p.clock.runFor(20);
    p.A.crash();
    await p.clock.runFor(100);
    const B = p.newB();
    const from = p.segs.length;
    const s = B.restore(cp);
    let e: { code?: string } | null = null;
    s.on('error', (x) => (e = x));
    await p.clock.run(() => e !== null, { maxMs: 5000 });
    expect(e!.code).toBe('ERR_CHECKPOINT_STALE');
    const peerAck = p.segs.slice(from).find((x) => x.sport !== PORT && x.flags & ACK)!;
    expect(((peerAck.ack - cp.tcp.sndMax) | 0) > 0).toBe(true); // beyond the checkpoint
    await p.clock.run(() => p.clientErr() !== null, { maxMs: 5000 });
    const rsts = p.segs.slice(from).filter((x) => x.sport === PORT && x.flags & RST);
    expect(rsts).toHaveLength(1);
    expect(rsts[0].seq).toBe(peerAck.ack);
    expect(rsts[0].flags & ACK).toBe(0);
    expect(B.stats().tcp.outRsts).toBe(1);
    expect(p.clientErr()?.code).toBe('ECONNRESET');
    expect(p.client.destroyed).toBe(true);
  });

  it('readyTimeout with a widened SND.MAX: the RST (if any) uses the checkpoint\'s SND.UNA, not SND.MAX', async () => {
    const p = await pairOnHub();
    p.server.write(pattern(5000, 1));
    await p.clock.runFor(20);
    const cp = p.server.checkpoint();
    p.A.crash();
    p.C.crash(); // the peer never answers
    // Widened as packages/cluster/src/ha.ts widenForTakeover does: SND.MAX well past anything sent.
    cp.tcp.sendLength += 100_000;
    cp.tcp.sndMax = (cp.tcp.sndMax + 100_000) >>> 0;
    cp.app = { protocol: 'x', state: null, objects: [{ id: 'o', offset: 0, length: 100_000, seq: (cp.tcp.sndUna + cp.tcp.sendRanges.reduce((n, r) => n + r.data.length, 0)) >>> 0 }] } as unknown as TcpCheckpoint['app'];
    const B = p.newB();
    const from = p.segs.length;
    const s = B.restore(cp, { readyTimeout: 3000 });
    let e: { code?: string } | null = null;
    s.on('error', (x) => (e = x));
    await p.clock.run(() => e !== null, { maxMs: 30_000 });
    await p.clock.runFor(10);
    expect(e!.code).toBe('ETIMEDOUT');
    const rsts = p.segs.slice(from).filter((x) => x.sport === PORT && x.flags & RST);
    expect(rsts.length).toBeLessThanOrEqual(1);
    for (const r of rsts) expect(r.seq).toBe(cp.tcp.sndUna);
  });
});
