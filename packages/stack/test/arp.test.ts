import { describe, expect, it } from 'vitest';
import { parseIp } from '@hastack/stack';
import { lan, outcome, settle } from './helpers.js';

describe('ARP', () => {
  it('cache entries go stale (unicast probe) and expire (fresh broadcast resolution)', async () => {
    const { clock, stacks: [a, b] } = lan(2, {}, { arp: { reachableMs: 1000, staleMs: 2000 } });
    const bIp = parseIp('198.18.0.2');
    await settle(clock, a.ping('198.18.0.2'));
    expect(a.stats().arp.txRequests).toBe(1);
    const e = a.engine.arpCache.get(bIp)!;
    expect(e.mac).not.toBeNull();
    const confirmed = e.confirmedAt;
    // stale: still used, and a unicast probe goes out; b's reply re-confirms the entry
    await clock.runFor(1500);
    await settle(clock, a.ping('198.18.0.2'));
    expect(a.stats().arp.txRequests).toBe(2);
    await clock.runFor(10);
    expect(a.engine.arpCache.get(bIp)!.confirmedAt).toBeGreaterThan(confirmed);
    // expired (> reachable + stale since the last confirmation): resolved afresh
    await clock.runFor(5000);
    const before = a.stats().arp.txRequests;
    await settle(clock, a.ping('198.18.0.2'));
    expect(a.stats().arp.txRequests).toBe(before + 1);
    expect(b.stats().arp.txReplies).toBeGreaterThanOrEqual(3);
  });

  it('answers only for addresses it owns', async () => {
    const { clock, stacks: [a, b, c] } = lan(3);
    await outcome(clock, a.ping('198.18.0.50', { timeout: 5000 }));
    expect(b.stats().arp.rxRequests).toBe(3);
    expect(b.stats().arp.txReplies).toBe(0);
    expect(c.stats().arp.txReplies).toBe(0);
    // and does not learn from requests that are not for it (RFC 826: only merge existing entries)
    expect(b.stats().arp.entries).toBe(0);
  });

  it('the queue of packets awaiting resolution is bounded (drop-oldest, counted)', async () => {
    const { clock, stacks: [a] } = lan(1, {}, { arp: { queueLen: 4 } });
    const s = a.createSocket('udp4');
    for (let i = 0; i < 10; i++) s.send(`p${i}`, 9, '198.18.0.40');
    await clock.runFor(1);
    expect(a.stats().arp.queuedPackets).toBe(4);
    expect(a.stats().drops.txArpQueueFull).toBe(6);
    await clock.runFor(5000);
    expect(a.stats().arp.queuedPackets).toBe(0);
    expect(a.stats().drops.txArpFailed).toBe(4);
  });

  it('addresses move at run time; a gratuitous ARP updates the peer cache (takeover)', async () => {
    const { clock, stacks: [a, b, c] } = lan(3);
    b.addAddress('198.18.0.10/24');
    expect(b.addresses()).toEqual(['198.18.0.2/24', '198.18.0.10/24']);
    await settle(clock, a.ping('198.18.0.10'));
    expect(b.stats().icmp.rxEchoRequests).toBe(1);
    const reqs = a.stats().arp.txRequests;
    // b gives the address up, c takes it over
    expect(b.removeAddress('198.18.0.10')).toBe(true);
    expect(b.removeAddress('198.18.0.10')).toBe(false);
    c.addAddress('198.18.0.10/24');
    // without an announcement a still sends to b's MAC, and b no longer answers
    expect(await outcome(clock, a.ping('198.18.0.10', { timeout: 200 }))).toEqual({ ok: false, code: 'ETIMEDOUT' });
    expect(b.stats().drops.ipNotForUs).toBeGreaterThanOrEqual(1);
    c.gratuitousArp('198.18.0.10');
    await clock.runFor(1);
    expect(c.stats().arp.txGratuitous).toBe(1);
    expect(await settle(clock, a.ping('198.18.0.10'))).toBeGreaterThanOrEqual(0);
    expect(c.stats().icmp.rxEchoRequests).toBe(1);
    expect(a.stats().arp.txRequests).toBe(reqs); // the cache was updated by the announcement
    expect(() => c.gratuitousArp('198.18.0.77')).toThrow(expect.objectContaining({ code: 'EADDRNOTAVAIL' }));
  });
});
