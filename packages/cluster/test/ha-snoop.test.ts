/**
 * HaNode takeover from snooped state only (issue 6 acceptance: "the same where only the snooper
 * saw the connections (primary checkpointing off)"). Primary A serves the virtual IP with HaNode
 * checkpointing OFF; backup B watches the hub segment with a ConnectionSnooper (`snoopStack`)
 * attached to its cluster node. A crashes mid-download; B's cluster emits `takeover` with no
 * replicated checkpoint but a snooped state, and HaNode (option `snoopApp`) resumes it by replay.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, type ObjectSource, type Socket } from '@hastack/stack';
import { ClusterNode, ConnectionSnooper, HaNode, httpSnoopApp, snoopStack, udpMulticastTransport, type HaApplication } from '@hastack/cluster';
import { createHttpFileServer, generateRange, type NetLike } from '../../../examples/ha-http-server/src/index.js';

const VIP = '198.18.0.100';
const KEY = new Uint8Array(32).fill(7);
const genSha = (seed: number, size: number): string => {
  const h = createHash('sha256');
  for (const c of generateRange(seed, 0, size)) h.update(c);
  return h.digest('hex');
};

async function node(net: MemoryNetwork, clock: VirtualClock, id: string, host: number, opts: { home: boolean; successor: string; snoop: boolean; snoopApp?: boolean }) {
  const ip = `198.18.0.${host}`;
  const mac = `02:00:00:00:00:0${host}`;
  const port = net.createPort({ mac });
  const stack = new Stack({ link: port, address: `${ip}/24`, clock, nodeId: id });
  const sn = opts.snoop ? new ConnectionSnooper({ maxBytesPerConnection: 16 * 1024 }) : undefined;
  if (sn) snoopStack(stack, sn, clock);
  const cluster = new ClusterNode({
    nodeId: id,
    key: KEY,
    clock,
    home: opts.home ? [{ ip: VIP, mac, ports: [{ from: 80, to: 80 }] }] : [],
    failover: { successors: [opts.successor], failback: 'none' },
    applications: [{ name: 'http/1.1', protocol: 'tcp', ports: [{ from: 80, to: 80 }] }],
    transport: udpMulticastTransport(stack.createSocket('udp4'), { localAddress: ip }),
    snooper: sn,
  });
  const http = createHttpFileServer({ root: null, net: stack as unknown as NetLike, deterministic: true, clock, serverName: null, idleTimeout: 0 });
  const replay = createHttpFileServer({ root: null, net: stack as unknown as NetLike, deterministic: true, clock, serverName: null, idleTimeout: 0 });
  const app: HaApplication = {
    handleConnection: (s) => http.handleConnection(s as never),
    connectionState: (s) => http.connectionState(s as never),
    resume: (s, st, o) => http.resume(s as never, st as never, o),
    objectSource: http.objectSource as ObjectSource,
  };
  const ha = new HaNode({ cluster, stack, app, key: KEY, ports: 80, checkpointing: false, snoopApp: opts.snoopApp ?? opts.snoop ? httpSnoopApp(http, { replayServer: replay }) : undefined });
  await ha.start();
  return { id, stack, port, cluster, ha, http, sn };
}

async function scenario(third: boolean) {
    const clock = new VirtualClock(0);
    const net = new MemoryNetwork({ seed: third ? 22 : 21, clock, hub: true, delayMs: 1, rateMbps: 200 });
    const a = await node(net, clock, 'A', 1, { home: true, successor: 'B', snoop: false });
    // B snoops itself, or only takes over and gets the state from C's snooper by SNOOP_STATE.
    const b = await node(net, clock, 'B', 2, { home: false, successor: 'A', snoop: !third, snoopApp: true });
    const c = third ? await node(net, clock, 'C', 3, { home: false, successor: 'A', snoop: true, snoopApp: false }) : null;
    const client = new Stack({ link: net.createPort(), address: '198.18.0.200/24', clock });
    expect(await clock.run(() => a.stack.addresses().includes(`${VIP}/24`), { maxMs: 3000 })).toBe(true);
    await clock.runFor(500);

    const size = 2 * 1024 * 1024;
    const h = createHash('sha256');
    let head: Buffer | null = Buffer.alloc(0);
    let body = 0;
    let ended = false;
    const s: Socket = client.connect({ host: VIP, port: 80 });
    s.on('data', (d: Buffer) => {
      if (head) {
        head = Buffer.concat([head, d]);
        const e = head.indexOf('\r\n\r\n');
        if (e < 0) return;
        expect(head.subarray(0, e).toString('latin1')).toMatch(/^HTTP\/1\.1 200/);
        d = head.subarray(e + 4);
        head = null;
      }
      h.update(d);
      body += d.length;
    });
    s.on('end', () => (ended = true));
    s.write(`GET /gen/${size}?seed=5 HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n`);
    expect(await clock.run(() => body > size / 3, { maxMs: 10_000 })).toBe(true);
    // A never checkpointed anything; B holds no replica.
    expect(a.ha.stats.checkpoints).toBe(0);
    expect(a.ha.stats.tracked).toBe(0);
    // Power cut on A mid-download: no FIN, no RST, no checkpoint.
    a.ha.stop();
    a.cluster.close();
    a.stack.crash();
    const atCrash = body;
    expect(atCrash).toBeLessThan(size);
    const takeovers: { checkpoints: number; snooped: number }[] = [];
    let snoopedFromC = 0;
    // While a snooped connection is being replayed, HaNode holds its 4-tuple (segments dropped,
    // not reset); HaNode's listeners run first, so these see the hold of the restore in progress.
    const holding: number[] = [];
    b.cluster.on('snooped', (x: { from: string; states: unknown[] }) => {
      if (x.from === 'C') snoopedFromC += x.states.length;
      holding.push(b.ha.drain.holding);
    });
    b.cluster.on('takeover', (x: { checkpoints: unknown[]; snooped: unknown[] }) => {
      takeovers.push({ checkpoints: x.checkpoints.length, snooped: x.snooped.length });
      holding.push(b.ha.drain.holding);
    });
    expect(await clock.run(() => ended, { maxMs: 60_000 })).toBe(true);
    expect(takeovers).toEqual([{ checkpoints: 0, snooped: third ? 0 : 1 }]);
    expect(snoopedFromC).toBe(third ? 1 : 0);
    expect(Math.max(...holding)).toBe(1);
    expect(b.ha.drain.holding).toBe(0);
    expect(b.ha.stats.snoopRestored).toBe(1);
    expect(b.ha.stats.resumed).toBe(1);
    expect(b.ha.stats.restoreErrors).toBe(0);
    expect(body).toBeGreaterThan(atCrash);
    expect(body).toBe(size);
    expect(h.digest('hex')).toBe(genSha(5, size));
    s.destroy();
    b.ha.stop();
    b.cluster.close();
    b.stack.crash();
    if (c) {
      expect(c.ha.stats.restored).toBe(0); // C only snooped
      c.ha.stop();
      c.cluster.close();
      c.stack.crash();
    }
    client.crash();
    net.close();
}

describe('HaNode: takeover from snooped state only (primary checkpointing off)', () => {
  it('B resumes a download A never checkpointed, from its own hub-mode snooper; the SHA-256 is right', () => scenario(false), 60_000);
  it('B resumes it from the state a third node C snooped and handed over by SNOOP_STATE; the SHA-256 is right', () => scenario(true), 60_000);
});
