import { describe, expect, it } from 'vitest';
import { CuttableLink, MemoryNetwork, Stack, VirtualClock } from '@hastack/stack';
import { ClusterNode, ConnectionSnooper, manageAddresses, snoopStack, udpMulticastTransport, type DgramLike, type ReleaseAction, type TakeoverAction } from '@hastack/cluster';
import { KEY, MAC_A, VIP as SNOOP_VIP } from './harness.js';
import { handshake, key } from './frames.js';

describe('udpMulticastTransport', () => {
  it('binds, joins the group on the local address, queues until bound, sends to the group', () => {
    const calls: unknown[][] = [];
    let onBound: (() => void) | undefined;
    let onMsg: ((m: Uint8Array) => void) | undefined;
    const fake: DgramLike = {
      bind: (port, address, cb) => (calls.push(['bind', port, address]), (onBound = cb)),
      addMembership: (g, i) => void calls.push(['addMembership', g, i]),
      setMulticastLoopback: (f) => calls.push(['loopback', f]),
      setMulticastTTL: (t) => calls.push(['ttl', t]),
      send: (msg, port, address) => void calls.push(['send', msg.length, port, address]),
      on: ((ev: string, l: (m: Uint8Array) => void) => {
        if (ev === 'message') onMsg = l;
      }) as DgramLike['on'],
      close: () => calls.push(['close']),
    };
    const t = udpMulticastTransport(fake, { localAddress: '198.18.0.1' });
    const got: number[] = [];
    t.onMessage((b) => got.push(b.length));
    t.send(new Uint8Array(3));
    expect(calls.filter((c) => c[0] === 'send')).toHaveLength(0);
    onBound!();
    expect(calls).toEqual([
      ['bind', 7777, undefined],
      ['addMembership', '239.255.77.77', '198.18.0.1'],
      ['loopback', false],
      ['ttl', 1],
      ['send', 3, 7777, '239.255.77.77'],
    ]);
    onMsg!(new Uint8Array(5));
    expect(got).toEqual([5]);
    t.close!();
    expect(calls[calls.length - 1]).toEqual(['close']);
  });

  it('runs the cluster over hastack UDP multicast: takeover moves a virtual IP between stacks', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 1, clock });
    const VIP = '198.18.0.100';
    const mk = (i: number) => new Stack({ link: net.createPort(), address: `198.18.0.${i}/24`, clock });
    const [sa, sb, sc] = [mk(1), mk(2), mk(3)];
    const nodes: ClusterNode[] = [];
    const takeovers: Record<string, TakeoverAction[]> = { A: [], B: [] };
    for (const [id, stack, ip] of [
      ['A', sa, '198.18.0.1'],
      ['B', sb, '198.18.0.2'],
    ] as const) {
      const node = new ClusterNode({
        nodeId: id,
        key: KEY,
        clock,
        bootId: 1,
        heartbeatIntervalMs: 20,
        missedBeats: 3,
        home: id === 'A' ? [{ ip: VIP, mac: MAC_A }] : [],
        failover: { successors: id === 'A' ? ['B'] : ['A'], failback: 'none' },
        transport: udpMulticastTransport(stack.createSocket('udp4'), { localAddress: ip }),
      });
      // The integration layer: own the address on this stack and announce it.
      manageAddresses(node, stack);
      node.on('takeover', (a: TakeoverAction) => takeovers[id].push(a));
      nodes.push(node.start());
    }
    await clock.run(() => sa.addresses().includes(`${VIP}/24`), { maxMs: 1000 });
    expect(sa.addresses()).toContain(`${VIP}/24`);
    expect(takeovers.A.map((t) => t.reason)).toEqual(['boot']);
    const rtt1 = await (async () => {
      const p = sc.ping(VIP);
      let v = -1;
      p.then((x) => (v = x));
      await clock.run(() => v >= 0, { maxMs: 1000 });
      return v;
    })();
    expect(rtt1).toBeGreaterThanOrEqual(0);
    // Crash A: its cluster node and its stack go silent.
    nodes[0].close();
    await sa.close();
    await clock.run(() => takeovers.B.length > 0, { maxMs: 1000 });
    expect(takeovers.B[0]).toMatchObject({ reason: 'failure', failedNode: 'A', epoch: 2 });
    expect(sb.addresses()).toContain(`${VIP}/24`);
    // The client reaches the virtual IP again, now on B (gratuitous ARP updated its cache).
    let ok = false;
    sc.ping(VIP).then(() => (ok = true), () => {});
    await clock.run(() => ok, { maxMs: 2000 });
    expect(ok).toBe(true);
    expect(nodes[1].core.stats.dropped.forged + nodes[1].core.stats.dropped.malformed).toBe(0);
    nodes[1].close();
    await sb.close();
    await sc.close();
  });
});

describe('integration helpers', () => {
  it('manageAddresses: split brain over hastack UDP, then the heal removes the loser\'s address', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 2, clock });
    const VIP = '198.18.0.100';
    const links = [1, 2].map(() => new CuttableLink(net.createPort()));
    const stacks = links.map((l, i) => new Stack({ link: l, address: `198.18.0.${i + 1}/24`, clock }));
    const releases: ReleaseAction[] = [];
    const nodes = ['A', 'B'].map((id, i) => {
      const n = new ClusterNode({
        nodeId: id,
        key: KEY,
        clock,
        bootId: 1,
        heartbeatIntervalMs: 20,
        missedBeats: 3,
        home: id === 'A' ? [{ ip: VIP, mac: MAC_A }] : [],
        failover: { successors: id === 'A' ? ['B'] : ['A'], failback: 'none' },
        transport: udpMulticastTransport(stacks[i].createSocket('udp4'), { localAddress: `198.18.0.${i + 1}` }),
      });
      manageAddresses(n, stacks[i]);
      n.on('release', (a: ReleaseAction) => releases.push(a));
      return n.start();
    });
    const holds = (i: number) => stacks[i].addresses().includes(`${VIP}/24`);
    await clock.run(() => holds(0), { maxMs: 1000 });
    links[0].cut = true; // A's cable is pulled: both sides keep running
    await clock.run(() => holds(1), { maxMs: 1000 });
    expect(holds(0) && holds(1)).toBe(true); // split brain
    links[0].cut = false;
    await clock.run(() => !holds(0), { maxMs: 1000 });
    expect(holds(1)).toBe(true);
    expect(releases).toHaveLength(1);
    expect(releases[0]).toMatchObject({ reason: 'superseded', winner: 'B' });
    expect(nodes[0].core.holdersOf(VIP).map((h) => [h.node, h.epoch])).toEqual([['B', 2]]);
    nodes.forEach((n) => n.close());
    await Promise.all(stacks.map((s) => s.close()));
  });

  it('snoopStack feeds a hub-mode stack\'s foreign frames to the snooper', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 3, clock, hub: true });
    const s1 = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock });
    const s2 = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
    const sn = new ConnectionSnooper();
    sn.watch(SNOOP_VIP);
    snoopStack(s2, sn, clock);
    // Frames of a conversation between two other hosts, put on the segment by s1.
    const frames: Uint8Array[] = [];
    const capture = { receiveFrame: (f: Uint8Array) => frames.push(Uint8Array.from(f)) } as unknown as ConnectionSnooper;
    handshake(capture);
    for (const f of frames) {
      f.set([0x02, 0, 0, 0, 0, 0x99], 0); // to some other host's MAC
      s1.sendRawFrame(f);
    }
    await clock.run(() => sn.size > 0 && sn.get(key())?.state === 'established', { maxMs: 100 });
    expect(sn.get(key())).toMatchObject({ state: 'established', client: { isn: 1000 }, server: { isn: 5000 } });
    await s1.close();
    await s2.close();
  });
});

describe('snooping a real hastack TCP conversation', () => {
  it('tracks handshake options, both directions and the last request from the packets alone', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 4, clock, hub: true });
    const mk = (i: number) => new Stack({ link: net.createPort(), address: `198.18.0.${i}/24`, clock });
    const [server, snooperHost, client] = [mk(1), mk(2), mk(3)];
    const sn = new ConnectionSnooper();
    sn.watch('198.18.0.1', [{ from: 8080, to: 8080 }]);
    snoopStack(snooperHost, sn, clock);
    const RESP = [3000, 7000];
    let served = 0;
    const srv = server.createServer((s: { on: (e: string, f: (d: Buffer) => void) => void; write: (b: Buffer) => void }) => {
      let buf = '';
      s.on('data', (d: Buffer) => {
        buf += d.toString('latin1');
        while (buf.includes('\r\n\r\n')) {
          buf = buf.slice(buf.indexOf('\r\n\r\n') + 4);
          s.write(Buffer.alloc(RESP[served++ % 2], 0x61));
        }
      });
    });
    let listening = false;
    srv.listen(8080, () => (listening = true));
    await clock.run(() => listening, { maxMs: 1000 });
    let got = 0;
    const c = client.connect(8080, '198.18.0.1');
    c.on('data', (d: Buffer) => (got += d.length));
    const req1 = 'GET /one HTTP/1.1\r\nHost: vip\r\n\r\n';
    const req2 = 'GET /two HTTP/1.1\r\nHost: vip\r\n\r\n';
    c.write(req1);
    await clock.run(() => got >= RESP[0], { maxMs: 5000 });
    await clock.runFor(500); // let the last ACKs pass
    c.write(req2);
    await clock.run(() => got >= RESP[0] + RESP[1], { maxMs: 5000 });
    await clock.runFor(500);
    const states = sn.states();
    expect(states).toHaveLength(1);
    const st = states[0];
    expect(st.key).toMatch(/^tcp:198\.18\.0\.1:8080-198\.18\.0\.3:\d+$/);
    expect(st.state).toBe('established');
    expect(st.client.isn).not.toBeNull();
    expect(st.server.isn).not.toBeNull();
    expect(st.client.mss).toBeGreaterThan(0);
    expect(st.server.mss).toBeGreaterThan(0);
    // Both directions: every byte counted (SYN + data).
    expect((st.client.nxt - st.client.isn! - 1) >>> 0).toBe(req1.length + req2.length);
    expect((st.server.nxt - st.server.isn! - 1) >>> 0).toBe(RESP[0] + RESP[1]);
    // The replay holds only the last request; its whole response is acknowledged by the client.
    expect(Buffer.from(st.replay.bytes).toString()).toBe(req2);
    expect(st.replay.valid).toBe(true);
    expect(st.suppress).toBe(RESP[1]);
    expect(sn.stats.gaps + sn.stats.badChecksum + sn.stats.malformed).toBe(0);
    c.destroy();
    // stack.close() is graceful (FINs, waits for their ACKs or closeTimeout): on a VirtualClock
    // the clock has to keep running until it resolves, or the awaited close never ends.
    let closed = false;
    const closing = Promise.all([server, snooperHost, client].map((s) => s.close())).then(() => (closed = true));
    expect(await clock.run(() => closed, { maxMs: 10_000 })).toBe(true);
    await closing;
  });
});
