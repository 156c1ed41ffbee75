/**
 * `stack.restore()` on mutated checkpoint objects (not through decode, which would refuse most):
 * every outcome is either a restored socket or a typed HastackError — never a TypeError, never
 * a half-registered connection — and the stack keeps working afterwards.
 */
import { describe, it, expect } from 'vitest';
import { HastackError, MemoryNetwork, Stack, VirtualClock, engineConnOf, Random, type Socket, type TcpCheckpoint } from '@hastack/stack';
import { SERVER_IP, SERVER_MAC, CLIENT_IP, PORT, pattern } from './checkpoint-harness.js';

const WEIRD: unknown[] = [undefined, null, -1, 0, 1, 0xffffffff, 2 ** 32, 2 ** 53, NaN, Infinity, -Infinity, 1.5, '', 'x', true, {}, [], new Uint8Array(0), new Uint8Array(7)];

function paths(v: unknown, prefix: string[] = [], out: string[][] = []): string[][] {
  if (v instanceof Uint8Array || v === null || typeof v !== 'object') return out;
  for (const k of Object.keys(v as object)) {
    const p = [...prefix, k];
    out.push(p);
    paths((v as Record<string, unknown>)[k], p, out);
  }
  return out;
}

describe('restore of mutated checkpoints', () => {
  it('2000 mutations: a socket or a typed error, the stack intact', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 12, delayMs: 1, clock });
    const A = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'A' });
    const C = new Stack({ link: net.createPort(), address: `${CLIENT_IP}/24`, clock, nodeId: 'C' });
    let server: Socket | null = null;
    A.createServer((s: Socket) => (server = s)).listen(PORT, SERVER_IP);
    await clock.runFor(1);
    const c = C.connect({ port: PORT, host: SERVER_IP }) as Socket;
    c.on('error', () => {});
    await clock.run(() => server !== null, { maxMs: 1000 });
    const srv = server as unknown as Socket;
    srv.mapObject('o', { length: 5000 });
    srv.write(pattern(8000, 1));
    c.write(pattern(3000, 2));
    await clock.runFor(3);
    const base = srv.checkpoint({ mode: 'mapped', app: { protocol: 'p', state: { a: [1, 2] } } });
    A.crash();
    const B = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'B' });
    const all = paths(base);
    const rng = new Random(99);
    let restored = 0;
    const codes = new Map<string, number>();
    for (let i = 0; i < 2000; i++) {
      const cp = structuredClone(base) as unknown as Record<string, unknown>;
      const n = 1 + rng.int(3);
      for (let k = 0; k < n; k++) {
        const p = all[rng.int(all.length)];
        let o = cp as Record<string, unknown>;
        for (let j = 0; j < p.length - 1 && o && typeof o === 'object'; j++) o = o[p[j]] as Record<string, unknown>;
        if (!o || typeof o !== 'object') continue;
        const key = p[p.length - 1];
        const cur = o[key];
        o[key] = rng.next() < 0.5 || typeof cur !== 'number' ? WEIRD[rng.int(WEIRD.length)] : (cur + rng.int(2000) - 1000) >>> 0;
      }
      try {
        const s = B.restore(cp as unknown as TcpCheckpoint, { objectSource: () => pattern(10000, 3) });
        s.on('error', () => {});
        restored++;
        const conn = engineConnOf(s);
        if (conn && !conn.removed) B.tcp._forget(conn);
        s.destroy();
      } catch (e) {
        expect(e).toBeInstanceOf(HastackError);
        const code = (e as HastackError).code;
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
      if (i % 100 === 0) await clock.runFor(5);
    }
    expect(restored).toBeGreaterThan(0);
    expect(codes.get('ERR_CHECKPOINT_INVALID') ?? 0).toBeGreaterThan(500);
    expect(B.tcp.connections()).toHaveLength(0);
    // Still a working stack: a new connection to it works. (The original connection cannot be
    // resumed any more: while it was not registered, B answered the client's retransmissions
    // with RSTs — a takeover host restores before it receives for the address.)
    B.createServer((x: Socket) => x.on('data', (d: Buffer) => x.write(d))).listen(PORT + 1, SERVER_IP);
    await clock.runFor(1);
    const c2 = C.connect({ port: PORT + 1, host: SERVER_IP }) as Socket;
    let echoed = '';
    c2.setEncoding('latin1');
    c2.on('data', (d: string) => (echoed += d));
    c2.on('connect', () => c2.write('ping'));
    await clock.run(() => echoed === 'ping', { maxMs: 5000 });
    expect(echoed).toBe('ping');
  });
});
