import { describe, expect, it } from 'vitest';
import { SendBuffer } from '../src/tcp/buffers.js';

// SendBuffer.copyOut resumes from a cursor (block index + position) instead of walking from the
// first block; consume() shifts blocks under it. A model check: random appends, acknowledgments
// and reads (forward like new transmissions, anywhere like retransmissions). Byte k of the stream
// is a hash of k, so the model is just the absolute offset of the buffer's front.
const byteAt = (k: number): number => Math.imul(k, 0x9e3779b1) >>> 24;

describe('SendBuffer copyOut cursor', () => {
  it('20,000 random appends / acknowledgments / reads return exactly the stream bytes', () => {
    let seed = 99;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) % n);
    const sb = new SendBuffer(1 << 20);
    let front = 0; // absolute offset of the first held byte
    let end = 0; // absolute offset after the last held byte
    let sent = 0; // forward read position relative to the front, like SND.NXT - SND.UNA
    let bad = 0;
    for (let op = 0; op < 20_000; op++) {
      const r = rnd(10);
      const held = end - front;
      if (r < 3) {
        const n = 1 + rnd(40_000);
        const d = new Uint8Array(n);
        for (let i = 0; i < n; i++) d[i] = byteAt(end + i);
        end += sb.append(d);
      } else if (r < 5) {
        const n = rnd(Math.min(held, 30_000) + 1);
        sb.consume(n);
        front += n;
        sent = Math.max(0, sent - n);
      } else if (held > 0) {
        const off = r < 9 ? Math.min(sent, held - 1) : rnd(held);
        const len = 1 + rnd(Math.min(1448, held - off));
        const out = new Uint8Array(len + 2);
        sb.copyOut(off, len, out, 1);
        for (let i = 0; i < len; i++) if (out[1 + i] !== byteAt(front + off + i)) bad++;
        if (out[0] !== 0 || out[len + 1] !== 0) bad++;
        if (r < 9) sent = off + len;
      }
      if (sb.length !== end - front) bad++;
    }
    expect(bad).toBe(0);
    expect(end - front).toBeGreaterThan(0);
    const all = sb.toBytes();
    let diff = 0;
    for (let i = 0; i < all.length; i++) if (all[i] !== byteAt(front + i)) diff++;
    expect(diff).toBe(0);
  });
});
