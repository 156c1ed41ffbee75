/**
 * Fuzz: mutated copies of real packets (checksum recomputed so they get past the CRC) thrown at
 * live associations. The engine must never throw, must count what it drops, and the genuine
 * association must keep working afterwards.
 */
import { describe, expect, it } from 'vitest';
import { sctpFillChecksum } from '@hastack/wire';
import { SimNet, mulberry } from './sctp-harness.js';
import type { SctpAssociation } from '../src/sctp/index.js';

describe('SCTP fuzz', () => {
  it('20000 mutated packets: no throw, drops counted, nothing leaks, the layers keep working', async () => {
    const net = new SimNet({ delay: 2, seed: 9 });
    net.keepLog = true;
    const a = net.node('a', ['198.18.0.1']);
    const b = net.node('b', ['198.18.0.2']);
    let server: SctpAssociation | null = null;
    let got = 0;
    b.layer.createServer({ port: 5000 }, (as) => {
      server = as;
      as.on('message', () => got++);
      as.on('error', () => {});
    }).listen();
    const c = a.layer.connect({ host: '198.18.0.2', port: 5000 });
    c.on('error', () => {});
    await net.until(() => c.state === 'ESTABLISHED' && server !== null);
    for (let i = 0; i < 50; i++) c.send(new Uint8Array(100 + i * 37).fill(i), { stream: i % 3, unordered: i % 4 === 0 });
    await net.until(() => got === 50);
    const corpus = net.log.map((p) => p);
    net.keepLog = false;
    const r = mulberry(42);
    const rnd = (n: number) => Math.floor(r() * n);
    for (let k = 0; k < 20000; k++) {
      const src = corpus[rnd(corpus.length)];
      const m = src.bytes.slice();
      const flips = 1 + rnd(4);
      for (let f = 0; f < flips; f++) {
        const at = 12 + rnd(Math.max(1, m.length - 12));
        if (at < m.length) m[at] = rnd(256);
      }
      // Sometimes truncate or extend.
      const cut = rnd(10) === 0 ? m.subarray(0, 12 + rnd(m.length - 11)) : m;
      sctpFillChecksum(cut, 0, cut.length);
      // Deliver to whichever end the original went to, but keep the genuine tags: only chunk bytes mutate.
      const to = src.dst === b.addrs[0] ? b : a;
      expect(() => to.deliver(src.src, src.dst, cut)).not.toThrow();
      if (k % 100 === 0) await net.clock.runFor(1);
    }
    await net.clock.runFor(100);
    const stats = b.layer.stats() as Record<string, number>;
    expect(stats.packetsIn).toBeGreaterThan(10000);
    expect(stats.malformed).toBeGreaterThan(0);
    // Nothing leaks: at most a handful of associations (replayed COOKIE ECHOs may legitimately
    // create some within the cookie lifetime), no standby records.
    expect(stats.associations).toBeLessThanOrEqual(3);
    expect(stats.standbys).toBe(0);
    // Whatever the fuzz did to the first association (a mutated chunk may be a valid ABORT), the
    // layers still work: a new association on another port delivers.
    let fresh = 0;
    b.layer.createServer({ port: 6000 }, (as) => as.on('message', () => fresh++)).listen();
    const c2 = a.layer.connect({ host: '198.18.0.2', port: 6000 });
    c2.on('connect', () => c2.send('after the storm'));
    await net.until(() => fresh === 1, 30_000);
    expect(fresh).toBe(1);
  }, 60_000);
});
