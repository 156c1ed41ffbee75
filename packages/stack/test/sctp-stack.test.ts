import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { MemoryNetwork, Stack, VirtualClock, type SctpAssociation, type SctpMessageInfo } from '@hastack/stack';

describe('stack.sctp over a MemoryNetwork (full IPv4/Ethernet path)', () => {
  it('echo server: 300 messages over 4 streams with 2% loss come back intact; counters in stack.stats()', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, seed: 3, loss: 0.02, delayMs: 2 });
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

  it('stack.close() shuts SCTP associations down gracefully; stack.crash() drops them silently', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock, seed: 4, delayMs: 1 });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
    const c3 = new Stack({ link: net.createPort(), address: '198.18.0.3/24', clock });
    const peers: SctpAssociation[] = [];
    b.sctp.createServer({ port: 9 }, (as) => peers.push(as)).listen();
    const c = a.sctp.connect({ host: '198.18.0.2', port: 9 });
    const d = c3.sctp.connect({ host: '198.18.0.2', port: 9 });
    await clock.run(() => c.state === 'ESTABLISHED' && d.state === 'ESTABLISHED' && peers.length === 2, { maxMs: 10_000 });
    let closedClean = false;
    c.on('close', (hadError: boolean) => (closedClean = !hadError));
    let done = false;
    void a.close().then(() => (done = true));
    expect(await clock.run(() => done && closedClean, { maxMs: 30_000 })).toBe(true);
    expect(peers[0].state).toBe('CLOSED');
    // Crash: the peer hears nothing; its association stays up until it notices by itself.
    c3.crash();
    await clock.runFor(100);
    expect(peers[1].state).toBe('ESTABLISHED');
    expect(d.state).toBe('CLOSED');
  });
});
