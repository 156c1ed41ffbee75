/** Engine-level tests: TCP checkpoint capture and unready restore (ARCHITECTURE §5, issue 5). */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { A, B, Pair, Recorder, makeNode, pattern } from './tcp-engine-harness.js';
import type { TcpConnectionHandle } from '../src/tcp/contract.js';

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A server on b streaming `data` to a client on a; returns the pieces. */
function download(p: Pair, data: Uint8Array) {
  const { client, server, ch, sh } = p.connect();
  const st = { off: 0, h: sh as TcpConnectionHandle };
  const pump = () => {
    while (st.off < data.length) {
      const n = st.h.send(data.subarray(st.off, st.off + 65536));
      if (n === 0) break;
      st.off += n;
    }
  };
  return { client, server, ch, st, pump };
}

describe('checkpoint capture / unready restore', () => {
  it('full checkpoint mid-transfer: crash, restore on a fresh engine, the client gets every byte', () => {
    const p = new Pair();
    const data = pattern(1 << 20, 21);
    const { client, st, pump } = download(p, data);
    pump();
    p.run(() => {
      pump();
      return client.bytes >= 300_000;
    });
    const sec = p.b.tcp.captureTcp(st.h, p.now);
    expect(sec.state).toBe('ESTABLISHED');
    expect(sec.sendRanges[0].seq).toBe(sec.sndUna);
    expect(sec.sendLength).toBe(st.off - ((sec.sndUna - sec.iss - 1) >>> 0));
    const lastTs = Math.max(...p.segs('b').map((r) => r.options.tsVal ?? 0));
    // The serving engine dies; a fresh one with the same address takes over.
    p.b.tcp.crash();
    p.b = makeNode(p.clock, B, { secretKey: new Uint8Array(16).fill(3) });
    const rec = new Recorder();
    let ready = 0;
    rec.onEstablished = () => {};
    (rec as unknown as { onReady: () => void }).onReady = () => ready++;
    const h2 = p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
    expect(h2.info().unready).toBe(true);
    st.h = h2;
    const logFrom = p.log.length;
    p.run(() => {
      if (ready) pump();
      return client.bytes >= data.length;
    }, 60_000);
    expect(ready).toBe(1);
    expect(sha(client.data())).toBe(sha(data));
    // The first segment of the new host is the solicitation: out-of-window ACK, no data.
    const after = p.log.slice(logFrom).filter((l) => l.from === 'b').map((l) => l.r);
    expect(after[0].payload.length).toBe(0);
    expect(after[0].seq).toBe((sec.sndUna - 1) >>> 0);
    // PAWS: TSval never goes backwards across the restore (RFC 7323 §5).
    expect(after.every((r) => ((r.options.tsVal! - lastTs) | 0) > 0)).toBe(true);
  });

  it('object-mapped checkpoint: no send bytes captured; the application resupplies from sendTailSeq', () => {
    const p = new Pair();
    const data = pattern(600_000, 22);
    const { client, st, pump } = download(p, data);
    pump();
    p.run(() => {
      pump();
      return client.bytes >= 200_000;
    });
    const sec = p.b.tcp.captureTcp(st.h, p.now, { sendData: false });
    expect(sec.sendRanges).toEqual([]);
    const streamStart = (sec.iss + 1) >>> 0;
    p.b.tcp.crash();
    p.b = makeNode(p.clock, B);
    let ready = 0;
    const rec = new Recorder();
    (rec as unknown as { onReady: () => void }).onReady = () => {
      ready++;
      // The app maps sequence numbers to its object: byte (seq − streamStart).
      const tail = h2.info().sendTailSeq as number;
      st.off = (tail - streamStart) >>> 0;
      const owe = h2.info().fillRemaining as number;
      expect(owe).toBeGreaterThan(0);
    };
    const h2 = p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
    st.h = h2;
    p.run(() => {
      if (ready) pump();
      return client.bytes >= data.length;
    }, 60_000);
    expect(sha(client.data())).toBe(sha(data));
  });

  it('upload: unread received bytes travel in the checkpoint and reach the new owner first', () => {
    const p = new Pair();
    const { ch, server, sh } = p.connect();
    const data = pattern(100_000, 23);
    sh.setReceivePaused(true);
    let off = 0;
    const pump = () => {
      while (off < data.length) {
        const n = ch.send(data.subarray(off, off + 8192));
        if (n === 0) break;
        off += n;
      }
    };
    pump();
    p.run(() => (sh.info().heldBytes as number) >= 40_000, 5000);
    const sec = p.b.tcp.captureTcp(sh, p.now);
    expect(sec.recvBuffer.length).toBeGreaterThanOrEqual(40_000);
    expect(server.bytes).toBe(0);
    p.b.tcp.crash();
    p.b = makeNode(p.clock, B);
    const rec = new Recorder();
    p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
    p.run(() => {
      pump();
      return rec.bytes >= data.length;
    }, 60_000);
    expect(sha(rec.data())).toBe(sha(data));
  });

  it('a peer ACK beyond the checkpoint (stale checkpoint) aborts with ERR_CHECKPOINT_STALE', () => {
    const p = new Pair();
    const data = pattern(500_000, 24);
    const { client, st, pump } = download(p, data);
    pump();
    p.run(() => {
      pump();
      return client.bytes >= 100_000;
    });
    const sec = p.b.tcp.captureTcp(st.h, p.now);
    // The old host keeps going after the checkpoint: the client acknowledges more.
    p.run(() => {
      pump();
      return client.bytes >= 300_000;
    });
    p.b.tcp.crash();
    p.b = makeNode(p.clock, B);
    const rec = new Recorder();
    p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
    p.run(() => rec.closed > 0, 10_000);
    expect(rec.error?.code).toBe('ERR_CHECKPOINT_STALE');
    expect(p.b.tcp.connections().length).toBe(0);
  });

  it('a peer that never answers: ETIMEDOUT after userTimeout', () => {
    const p = new Pair({}, { userTimeout: 3000 });
    const { st } = download(p, pattern(10, 1));
    const sec = p.b.tcp.captureTcp(st.h, p.now);
    p.b.tcp.crash();
    p.b = makeNode(p.clock, B);
    p.filter = (_r, from) => (from === 'a' ? 'drop' : 'deliver');
    const rec = new Recorder();
    const t0 = p.now;
    p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
    p.run(() => rec.closed > 0, 60_000);
    expect(rec.error?.code).toBe('ETIMEDOUT');
    expect(p.now - t0).toBeGreaterThanOrEqual(3000);
    const solicits = p.segs('b').filter((r) => r.seq === ((sec.sndUna - 1) >>> 0));
    expect(solicits.length).toBeGreaterThanOrEqual(3);
  });

  it('FIN_WAIT_1 and CLOSE_WAIT connections restore and finish their close', () => {
    for (const which of ['FIN_WAIT_1', 'CLOSE_WAIT'] as const) {
      const p = new Pair();
      const { client, server, ch, sh } = p.connect({}, {});
      if (which === 'CLOSE_WAIT') {
        ch.shutdown();
        p.run(() => server.fin > 0, 1000);
      } else {
        p.filter = (_r, from) => (from === 'a' ? 'drop' : 'deliver'); // keep B in FIN_WAIT_1
        sh.send(new TextEncoder().encode('last words'));
        sh.shutdown();
        p.run(() => false, 5);
      }
      expect(sh.state).toBe(which);
      const sec = p.b.tcp.captureTcp(sh, p.now);
      p.b.tcp.crash();
      p.b = makeNode(p.clock, B);
      p.filter = undefined;
      const rec = new Recorder();
      const h2 = p.b.tcp.restoreTcp(sec, { localAddress: B, remoteAddress: A, events: rec, now: p.now });
      if (which === 'CLOSE_WAIT') {
        p.run(() => !h2.info().unready, 5000);
        h2.shutdown();
        p.run(() => rec.closed > 0 && client.closed > 0, 5000);
        expect(rec.error).toBeUndefined();
      } else {
        p.run(() => client.fin > 0, 5000);
        expect(client.text()).toBe('last words');
        ch.shutdown();
        p.run(() => rec.closed > 0, 5000);
        expect(h2.state).toBe('TIME_WAIT');
      }
    }
  });

  it('capture is refused outside the supported states', () => {
    const p = new Pair();
    const h = p.a.tcp.open({ remoteAddress: B, remotePort: 9 }, new Recorder());
    expect(() => p.a.tcp.captureTcp(h, p.now)).toThrow(/ERR_CHECKPOINT_UNSUPPORTED_STATE/);
  });
});
