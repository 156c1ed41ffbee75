import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { MemoryNetwork, Stack, VirtualClock, type SctpAssociation, type SctpMessageInfo } from '@hastack/stack';

describe('stack.sctp over a MemoryNetwork (full IPv4/Ethernet path)', () => {
  it('echo server: 300 messages over 4 streams with 2% loss come back intact; counters in stack.stats()', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, seed: 3, loss: 0.02, delay: 2 });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
    b.sctp
      .createServer({ port: 9 }, (as: SctpAssociation) => {
        as.on('message', (d: Uint8Array, info: SctpMessageInfo) => as.send(d, { stream: info.stream, ppid: info.ppid }));
      })
      .listen();
    const c = a.sctp.connect({ host: '198.18.0.2', port: 9, streams: 4 });
    const sent: Buffer[][] = [[], [], [], []];
    const got: Buffer[][] = [[], [], [], []];
    let n = 0;
    c.on('connect', () => {
      for (let i = 0; i < 300; i++) {
        const m = createHash('sha256').update(String(i)).digest();
        const payload = Buffer.concat(Array.from({ length: 1 + (i % 40) }, () => m));
        sent[i % 4].push(payload);
        c.send(payload, { stream: i % 4, ppid: 42 });
      }
    });
    c.on('message', (d: Uint8Array, info: SctpMessageInfo) => {
      expect(info.ppid).toBe(42);
      got[info.stream].push(Buffer.from(d));
      n++;
    });
    expect(await clock.run(() => n === 300, { maxMs: 120_000 })).toBe(true);
    for (let s = 0; s < 4; s++) expect(Buffer.concat(got[s]).equals(Buffer.concat(sent[s]))).toBe(true);
    const st = a.stats() as Record<string, Record<string, number>>;
    expect(st.sctp.packetsOut).toBeGreaterThan(0);
    expect(st.sctp.associations).toBe(1);
    c.shutdown();
    expect(await clock.run(() => c.state === 'CLOSED', { maxMs: 60_000 })).toBe(true);
  });
});
