import { describe, expect, it } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock } from '@hastack/stack';

function pair(opts: { loss?: number; seed?: number; mtu?: number } = {}) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ clock, seed: opts.seed ?? 1, loss: opts.loss, mtu: opts.mtu });
  const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock });
  const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
  return { clock, net, a, b };
}

async function settle<T>(clock: VirtualClock, p: Promise<T>, maxMs = 60_000): Promise<T> {
  let done = false;
  p.then(
    () => (done = true),
    () => (done = true),
  );
  await clock.run(() => done, { maxMs });
  return p;
}

describe('ping over a MemoryNetwork', () => {
  it('two stacks ping each other and report the RTT', async () => {
    const { clock, a, b } = pair();
    const rtt1 = await settle(clock, a.ping('198.18.0.2'));
    const rtt2 = await settle(clock, b.ping('198.18.0.1'));
    expect(rtt1).toBeGreaterThanOrEqual(0);
    expect(rtt2).toBeGreaterThanOrEqual(0);
    const sa = a.stats();
    const sb = b.stats();
    expect(sa.icmp.txEchoRequests).toBe(1);
    expect(sa.icmp.rxEchoReplies).toBe(1);
    expect(sa.icmp.rxEchoRequests).toBe(1);
    expect(sb.icmp.txEchoReplies).toBe(1);
    expect(sa.arp.txRequests).toBe(1); // b learned a from a's request, so b needed no ARP
    expect(sb.arp.txRequests).toBe(0);
  });
});
