import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { Pair, pattern, rng, flagsOf } from './tcp-engine-harness.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

describe('smoke', () => {
  it('handshake and small echo', () => {
    const p = new Pair();
    const { client, server, ch, sh } = p.connect();
    expect(ch.state).toBe('ESTABLISHED');
    expect(sh.state).toBe('ESTABLISHED');
    ch.send(new TextEncoder().encode('hello'));
    p.run(() => server.bytes === 5, 1000);
    expect(server.text()).toBe('hello');
    sh.send(new TextEncoder().encode('world!'));
    p.run(() => client.bytes === 6, 1000);
    expect(client.text()).toBe('world!');
    ch.shutdown();
    p.run(() => server.fin > 0, 1000);
    sh.shutdown();
    p.run(() => client.closed > 0 && server.closed > 0, 1000);
    expect(ch.state).toBe('TIME_WAIT');
    expect(sh.state).toBe('CLOSED');
    for (const l of p.log.slice(0, 12)) console.log(l.t, l.from, flagsOf(l.r), l.r.seq, l.r.ack, l.r.window, l.r.payload.length);
  });

  it('bulk 2 MiB with loss', () => {
    const p = new Pair();
    p.logEnabled = false;
    const r = rng(7);
    p.filter = (_r, from) => (from === 'a' && r() < 0.02 ? 'drop' : 'deliver');
    const { server, ch } = p.connect();
    const data = pattern(2 << 20);
    let off = 0;
    const pump = () => {
      while (off < data.length) {
        const n = ch.send(data.subarray(off, off + 65536));
        off += n;
        if (n === 0) break;
      }
    };
    pump();
    p.run(() => { pump(); return server.bytes >= data.length; }, 600_000);
    console.log('t', p.now, 'bytes', server.bytes, p.a.tcp.stats());
    expect(sha(server.data())).toBe(sha(data));
  });
});
