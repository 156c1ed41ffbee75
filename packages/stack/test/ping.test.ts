import { describe, expect, it } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock } from '@hastack/stack';
import { lan, outcome, settle } from './helpers.js';

describe('ping', () => {
  it('two stacks ping each other and report the RTT', async () => {
    const { clock, stacks: [a, b] } = lan(2);
    const rtt1 = await settle(clock, a.ping('198.18.0.2'));
    const rtt2 = await settle(clock, b.ping('198.18.0.1', { size: 1000 }));
    expect(rtt1).toBeGreaterThanOrEqual(0);
    expect(rtt2).toBeGreaterThanOrEqual(0);
    const sa = a.stats();
    const sb = b.stats();
    expect(sa.icmp.txEchoRequests).toBe(1);
    expect(sa.icmp.rxEchoReplies).toBe(1);
    expect(sa.icmp.rxEchoRequests).toBe(1);
    expect(sb.icmp.txEchoReplies).toBe(1);
    // b learned a from a's ARP request (RFC 826), so b never had to ask
    expect(sa.arp.txRequests).toBe(1);
    expect(sb.arp.txRequests).toBe(0);
  });

  it('the RTT reflects the link delay', async () => {
    const { clock, stacks: [a] } = lan(2, { delayMs: 5 });
    await settle(clock, a.ping('198.18.0.2')); // includes ARP
    expect(await settle(clock, a.ping('198.18.0.2'))).toBe(10);
  });

  it('with 20% loss the ping API reports loss instead of hanging', async () => {
    const { clock, stacks: [a] } = lan(2, { loss: 0.2, seed: 7 });
    const results: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await outcome(clock, a.ping('198.18.0.2', { timeout: 500 }));
      results.push(r.ok ? 'ok' : r.code);
    }
    const ok = results.filter((r) => r === 'ok').length;
    const lost = results.filter((r) => r === 'ETIMEDOUT').length;
    // a lost ARP exchange may also fail a ping with EHOSTUNREACH after the ARP retries
    const unreachable = results.filter((r) => r === 'EHOSTUNREACH').length;
    expect(ok + lost + unreachable, results.join(',')).toBe(40);
    expect(ok).toBeGreaterThan(15);
    expect(lost).toBeGreaterThan(3);
    expect(clock.now()).toBeLessThan(40 * 500 + 1000);
  });

  it('an on-link host that does not answer ARP: 3 requests 1 s apart, then EHOSTUNREACH', async () => {
    const { clock, stacks: [a] } = lan(1);
    const t0 = clock.now();
    const r = await outcome(clock, a.ping('198.18.0.99', { timeout: 10_000 }));
    expect(r).toEqual({ ok: false, code: 'EHOSTUNREACH' });
    expect(clock.now() - t0).toBe(3000);
    const s = a.stats();
    expect(s.arp.txRequests).toBe(3);
    expect(s.arp.resolveFailed).toBe(1);
    expect(s.drops.txArpFailed).toBe(1);
    expect(s.arp.entries).toBe(0);
  });

  it('off-link without a gateway: EHOSTUNREACH at once; bad input throws typed errors', async () => {
    const { clock, stacks: [a] } = lan(1);
    expect(await outcome(clock, a.ping('203.0.113.1'))).toEqual({ ok: false, code: 'EHOSTUNREACH' });
    expect(await outcome(clock, a.ping('1.2.3'))).toEqual({ ok: false, code: 'ERR_INVALID_IP_ADDRESS' });
    expect(await outcome(clock, a.ping('198.18.0.2', { size: 70000 }))).toEqual({ ok: false, code: 'ERR_INVALID_ARG_VALUE' });
  });

  it('routes off-link destinations through the gateway', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ clock });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', gateway: '198.18.0.254', clock });
    // The "router" owns the gateway address and also answers for the far address (a trick: it has both).
    const r = new Stack({ link: net.createPort(), address: ['198.18.0.254/24', '198.19.5.5/24'], clock });
    expect(await settle(clock, a.ping('198.19.5.5'))).toBeGreaterThanOrEqual(0);
    expect(r.stats().icmp.rxEchoRequests).toBe(1);
  });

  it('crash() is a power cut: nothing more is sent, pings to it time out, its API is closed', async () => {
    const { clock, net, stacks: [a, b] } = lan(2);
    await settle(clock, a.ping('198.18.0.2'));
    const bTx = net.ports()[1].stats().txFrames;
    const sock = b.createSocket('udp4');
    sock.bind(1234);
    b.crash();
    expect(net.ports()).toHaveLength(1); // detached
    expect(await outcome(clock, a.ping('198.18.0.2', { timeout: 300 }))).toEqual({ ok: false, code: 'ETIMEDOUT' });
    expect(await outcome(clock, b.ping('198.18.0.1'))).toEqual({ ok: false, code: 'ERR_STACK_CLOSED' });
    expect(() => b.createSocket('udp4')).toThrow(expect.objectContaining({ code: 'ERR_STACK_CLOSED' }));
    expect(b.stats().link.txFrames).toBe(bTx);
    expect(clock.pending).toBe(0); // no timer left behind by either stack or the network
  });

  it('close() is graceful: sockets close, the link is detached, the API refuses further use', async () => {
    const { clock, net, stacks: [a] } = lan(2);
    const s = a.createSocket('udp4');
    s.bind(1000);
    let closedEvt = false;
    s.on('close', () => (closedEvt = true));
    await settle(clock, a.close());
    await clock.runFor(1);
    expect(closedEvt).toBe(true);
    expect(a.closed).toBe(true);
    expect(net.ports()).toHaveLength(1);
    expect(() => a.addAddress('198.18.0.9/24')).toThrow(expect.objectContaining({ code: 'ERR_STACK_CLOSED' }));
  });
});
