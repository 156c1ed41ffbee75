import { describe, expect, it } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock } from '@hastack/stack';
import { ClusterNode, udpMulticastTransport, type DgramLike, type TakeoverAction } from '@hastack/cluster';
import { KEY, MAC_A } from './harness.js';

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
      node.on('takeover', (a: TakeoverAction) => {
        takeovers[id].push(a);
        for (const x of a.addresses) {
          stack.addAddress(`${x.ip}/24`);
          stack.gratuitousArp(x.ip);
        }
      });
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
