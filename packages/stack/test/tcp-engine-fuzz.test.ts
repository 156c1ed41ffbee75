/** Fuzz: random and mutated segments against live connections must never throw or corrupt state. */
import { describe, expect, it } from 'vitest';
import { A, B, Pair, Recorder, Scripted, establish, pattern, rng } from './tcp-engine-harness.js';
import { checksum, pseudoHeaderSum } from '@hastack/wire';

describe('fuzz', () => {
  it('20,000 random segments near the window of a live connection: no throw, invariants hold', () => {
    const s = new Scripted();
    const { h, una } = establish(s);
    h.send(pattern(50_000));
    s.out();
    const r = rng(77);
    const rx = { src: B, dst: A, protocol: 6, ttl: 64, tos: 0, nonUnicast: false };
    for (let i = 0; i < 20_000; i++) {
      const optLen = ((r() * 11) | 0) * 4;
      const payLen = r() < 0.5 ? 0 : (r() * 3000) | 0;
      const seg = new Uint8Array(20 + optLen + payLen);
      for (let j = 0; j < seg.length; j++) seg[j] = (r() * 256) | 0;
      seg[0] = 40000 >> 8; seg[1] = 40000 & 255; seg[2] = 0; seg[3] = 80;
      const seq = (1001 + ((r() * 200_000) | 0) - 100_000) >>> 0;
      const ack = (una + ((r() * 200_000) | 0) - 100_000) >>> 0;
      seg[4] = seq >>> 24; seg[5] = seq >>> 16; seg[6] = seq >>> 8; seg[7] = seq;
      seg[8] = ack >>> 24; seg[9] = ack >>> 16; seg[10] = ack >>> 8; seg[11] = ack;
      seg[12] = r() < 0.9 ? ((5 + optLen / 4) << 4) : seg[12];
      seg[13] = r() < 0.7 ? 0x10 | (seg[13] & 0x0d) : seg[13];
      if (r() < 0.9) {
        seg[16] = 0; seg[17] = 0;
        const c = checksum(seg, 0, seg.length, pseudoHeaderSum(B, A, 6, seg.length));
        seg[16] = c >> 8; seg[17] = c & 255;
      }
      s.tcp.receive(rx, seg, seg, s.clock.now());
      if (i % 100 === 0) s.advance(7);
      if (h.state === 'CLOSED') break;
      const info = h.info();
      expect(((info.sndUna as number) - una) | 0).toBeGreaterThanOrEqual(0);
      expect(((info.sndMax as number) - (info.sndUna as number)) | 0).toBeGreaterThanOrEqual(0);
    }
    s.advance(100_000);
    const st = s.tcp.stats() as any;
    expect(st.inSegs).toBeGreaterThan(0);
  });

  it('a lossy, duplicating, corrupting link: transfers still complete intact (bad checksums dropped)', () => {
    const p = new Pair();
    p.logEnabled = false;
    const r = rng(99);
    const dup: Array<{ seg: Uint8Array }> = [];
    void dup;
    p.filter = (_x, _from, seg) => {
      const v = r();
      if (v < 0.01) return 'drop';
      if (v < 0.02) {
        seg[20 + ((r() * (seg.length - 20)) | 0)] ^= 0xff; // corrupt a byte: checksum catches it
        return 'deliver';
      }
      if (v < 0.03) return { delay: 2 };
      return 'deliver';
    };
    const { client, server, ch, sh } = p.connect();
    const up = pattern(1 << 20, 31);
    const down = pattern(1 << 20, 32);
    let o1 = 0;
    let o2 = 0;
    p.run(() => {
      while (o1 < up.length) { const n = ch.send(up.subarray(o1, o1 + 65536)); if (!n) break; o1 += n; }
      while (o2 < down.length) { const n = sh.send(down.subarray(o2, o2 + 65536)); if (!n) break; o2 += n; }
      return server.bytes === up.length && client.bytes === down.length;
    }, 120_000);
    expect(Buffer.from(server.data()).equals(Buffer.from(up))).toBe(true);
    expect(Buffer.from(client.data()).equals(Buffer.from(down))).toBe(true);
    expect((p.b.tcp.stats() as any).drops.badChecksum + (p.a.tcp.stats() as any).drops.badChecksum).toBeGreaterThan(0);
    void Recorder;
  });
});
