/**
 * An object-mapped checkpoint copies only the literal part of the send queue. A download whose
 * 4 MiB queue is all mapped body bytes (the HA HTTP server's case) used to have the whole queue
 * copied on every capture and then cut away: about 2 ms per progress checkpoint, most of what
 * replication cost a download (docs/ha.md, "Replication cost").
 */
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, engineConnOf, type Socket, type TcpCheckpoint } from '@hastack/stack';
import { SERVER_IP, SERVER_MAC, CLIENT_IP, PORT, pattern } from './checkpoint-harness.js';

/** Literal bytes of `cp` outside its objects, as [offset from SND.UNA, byte] pairs in one string. */
function literalOutsideObjects(cp: TcpCheckpoint): string {
  const una = cp.tcp.sndUna;
  const objs = (cp.app?.objects ?? []).map((o) => [(o.seq - una) | 0, ((o.seq - una) | 0) + o.length]);
  const out: string[] = [];
  for (const r of cp.tcp.sendRanges) {
    const s = (r.seq - una) | 0;
    for (let i = 0; i < r.data.length; i++) {
      const p = s + i;
      if (!objs.some(([a, b]) => p >= a && p < b)) out.push(`${p}:${r.data[i]}`);
    }
  }
  return out.join(',');
}

describe('socket.checkpoint({ mode: "mapped" }): the send queue', () => {
  it('copies only the unmapped bytes, and they are the ones a full capture has outside the objects', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 3, delayMs: 1, clock });
    const A = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'A' });
    // A small receive window and a paused reader keep the server's queue full.
    const C = new Stack({ link: net.createPort(), address: `${CLIENT_IP}/24`, clock, nodeId: 'C', tcp: { receiveBufferSize: 65536 } });
    const mid = new Uint8Array(4000).fill(0x4d);
    const tail = new Uint8Array(5000).fill(0x54);
    let server: Socket | null = null;
    A.createServer((s: Socket) => {
      server = s;
      s.on('error', () => {});
      s.write(new Uint8Array(300).fill(0x48)); // a header: literal, soon acknowledged
      s.mapObject('one', { length: 1_500_000 });
      s.write(pattern(1_500_000, 1));
      s.write(mid); // literal between two objects
      s.mapObject('two', { length: 1_000_000 });
      s.write(pattern(1_000_000, 2));
      s.write(tail); // literal after them
    }).listen(PORT, SERVER_IP);
    await clock.runFor(1);
    const client = C.connect({ port: PORT, host: SERVER_IP }) as Socket;
    client.pause();
    await clock.runFor(50);
    try {
      const srv = server as unknown as Socket;
      const q = engineConnOf(srv)!.tcb.sendBuf as unknown as { length: number; copyOut(o: number, n: number, d: Uint8Array, x: number): void };
      expect(q.length).toBeGreaterThan(2_000_000);
      let copied = 0;
      const orig = q.copyOut.bind(q);
      q.copyOut = (o, n, d, x) => {
        copied += n;
        orig(o, n, d, x);
      };
      const cp = srv.checkpoint({ mode: 'mapped' });
      expect(copied).toBe(mid.length + tail.length);
      expect(cp.tcp.sendRanges.map((r) => r.data.length)).toEqual([mid.length, tail.length]);
      expect(cp.app?.objects.map((o) => o.id)).toEqual(['one', 'two']);
      // The same literal bytes at the same places as a full capture outside the objects.
      copied = 0;
      const full = srv.checkpoint({ mode: 'full' });
      expect(copied).toBe(q.length);
      expect(literalOutsideObjects(cp)).toBe(literalOutsideObjects(full));
      // Capturing does not disturb the connection: the rest arrives intact.
      let got = 0;
      client.on('data', (c: Buffer) => (got += c.length));
      client.resume();
      await clock.run(() => got >= q.length, { maxMs: 20_000 });
      expect(got).toBeGreaterThanOrEqual(q.length);
    } finally {
      A.crash();
      C.crash();
      net.close();
    }
  });
});
