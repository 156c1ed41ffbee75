/**
 * drain.ts on its own: the allocation-free 4-tuple table and the two roles of the interceptor
 * (R forwards draining 4-tuples to the holder's MAC; H accepts only its draining 4-tuples on a
 * given-back address), driven with hand-built TCP/IP packets and a recording fake Stack.
 */
import { describe, expect, it } from 'vitest';
import type { IpRx, Stack } from '@hastack/stack';
import { DrainForwarder, TupleTable, ipToNum, parseTcpKey, type KeepEntry } from '../src/drain.js';

const VIP = '198.18.0.100';
const CLIENT = '198.18.0.200';

function fakeStack(addrs: string[] = [VIP]) {
  const calls = { forwarded: [] as { mac: number[]; len: number }[], silent: new Map<string, boolean>(), removed: [] as string[] };
  let hook: ((p: Uint8Array, rx: IpRx, now: number) => boolean) | null = null;
  const stack = {
    closed: false,
    setIpInterceptor: (fn: typeof hook) => void (hook = fn),
    forwardIp: (p: Uint8Array, mac: Uint8Array) => {
      calls.forwarded.push({ mac: [...mac], len: p.length });
      return true;
    },
    setArpSilent: (ip: string, s: boolean) => void calls.silent.set(ip, s),
    removeAddress: (ip: string) => {
      const i = addrs.indexOf(ip);
      if (i < 0) return false;
      addrs.splice(i, 1);
      calls.removed.push(ip);
      return true;
    },
  };
  /** Deliver one TCP segment client:sport -> VIP:dport; returns whether it was consumed (or null: no hook). */
  const deliver = (sport: number, dport: number, flags: number, now = 0): boolean | null => {
    if (!hook) return null;
    const p = new Uint8Array(40);
    p[0] = 0x45;
    p[9] = 6;
    p[20] = sport >>> 8;
    p[21] = sport & 255;
    p[22] = dport >>> 8;
    p[23] = dport & 255;
    p[33] = flags;
    const rx: IpRx = { src: ipToNum(CLIENT), dst: ipToNum(VIP), protocol: 6, ttl: 64, tos: 0, nonUnicast: false };
    return hook(p, rx, now);
  };
  return { stack: stack as unknown as Stack, calls, deliver, hooked: () => hook !== null };
}

const key = (sport: number, lport = 80) => `tcp:${VIP}:${lport}-${CLIENT}:${sport}`;
const ACK = 0x10;
const SYN = 0x02;

describe('TupleTable', () => {
  it('finds, replaces and deletes 4-tuples, also when they share remote address and port', () => {
    const t = new TupleTable<string>();
    const c = ipToNum(CLIENT);
    t.set(ipToNum(VIP), 80, c, 5000, 'a');
    t.set(ipToNum('198.18.0.101'), 80, c, 5000, 'b'); // same remote side, other local address
    t.set(ipToNum(VIP), 443, c, 5000, 'c');
    expect(t.size).toBe(3);
    expect(t.get(ipToNum(VIP), 80, c, 5000)).toBe('a');
    expect(t.get(ipToNum('198.18.0.101'), 80, c, 5000)).toBe('b');
    expect(t.get(ipToNum(VIP), 443, c, 5000)).toBe('c');
    expect(t.get(ipToNum(VIP), 80, c, 5001)).toBeUndefined();
    t.set(ipToNum(VIP), 80, c, 5000, 'a2');
    expect(t.size).toBe(3);
    expect(t.delete(ipToNum('198.18.0.101'), 80, c, 5000)).toBe(true); // middle of a chain
    expect(t.delete(ipToNum('198.18.0.101'), 80, c, 5000)).toBe(false);
    expect([...t.values()].sort()).toEqual(['a2', 'c']);
  });

  it('parses TCP connection keys and refuses others', () => {
    expect(parseTcpKey(key(40000))).toEqual({ la: ipToNum(VIP), lp: 80, ra: ipToNum(CLIENT), rp: 40000 });
    expect(parseTcpKey(`udp:${VIP}:80-${CLIENT}:1`)).toBeNull();
    expect(parseTcpKey(`tcp:${VIP}:80-${CLIENT}:70000`)).toBeNull();
  });
});

describe('DrainForwarder', () => {
  it('R: forwards segments of draining 4-tuples to the holder MAC, lets others through, forgets on close / SYN / idle / holder gone', () => {
    const f = fakeStack();
    const d = new DrainForwarder(f.stack, { idleMs: 1000 });
    expect(f.hooked()).toBe(false);
    expect(d.forward('B', '02:00:00:00:00:0b', [key(1), key(2), key(3), key(4), 'not-a-key'], 0)).toBe(4);
    expect(f.hooked()).toBe(true);
    expect(f.deliver(1, 80, ACK, 10)).toBe(true);
    expect(f.calls.forwarded).toEqual([{ mac: [2, 0, 0, 0, 0, 11], len: 40 }]);
    expect(f.deliver(9, 80, ACK)).toBe(false); // not draining: R's own TCP handles it
    expect(f.deliver(1, 81, ACK)).toBe(false);
    // A fresh SYN on a draining 4-tuple is a new connection for R.
    expect(f.deliver(2, 80, SYN)).toBe(false);
    expect(d.stats.reusedBySyn).toBe(1);
    expect(f.deliver(2, 80, ACK)).toBe(false);
    d.closed(key(3));
    expect(f.deliver(3, 80, ACK)).toBe(false);
    // Idle: key(4) was never seen since 0, key(1) at 10.
    d.sweep(1005);
    expect(d.forwardKeys()).toEqual([key(1)]);
    expect(d.stats.expired).toBe(1);
    d.holderDone('B', true);
    expect(d.stats.holderGone).toBe(1);
    expect(d.forwarding).toBe(0);
    expect(f.hooked()).toBe(false); // nothing left: the interceptor is gone
    expect(d.stats).toMatchObject({ forwarded: 1, forwardEntries: 4, closed: 1 });
  });

  it('H: keeps the address ARP-silent, accepts only draining 4-tuples on released ports, removes the address when the last closes', () => {
    const f = fakeStack();
    const closed: string[] = [];
    const drained: [string, boolean][] = [];
    const d = new DrainForwarder(f.stack, { onKeepClosed: (k) => closed.push(k), onAddressDrained: (ip, r) => drained.push([ip, r]) });
    let gone5 = false;
    const entry = (sport: number, gone: () => boolean): KeepEntry => ({ key: key(sport), t: parseTcpKey(key(sport))!, reported: false, gone });
    d.keepServing(VIP, [{ from: 80, to: 80 }], true, [entry(5, () => gone5), entry(6, () => false)]);
    expect(f.calls.silent.get(VIP)).toBe(true);
    expect(f.deliver(5, 80, ACK)).toBe(false); // one of ours: delivered
    expect(f.deliver(7, 80, SYN)).toBe(true); // a new connection reaching us by a stale ARP cache: refused silently
    expect(f.deliver(7, 80, ACK)).toBe(true);
    expect(f.deliver(7, 22, SYN)).toBe(false); // not a released port
    expect(d.stats.refused).toBe(2);
    // One closes without the app noticing (swept), the other through the app's 'close'.
    gone5 = true;
    d.sweep(0);
    expect(closed).toEqual([key(5)]);
    expect(f.calls.removed).toEqual([]);
    expect(d.keepClosed(key(6))).toBe(true);
    expect(d.keepClosed(key(6))).toBe(false);
    expect(closed).toEqual([key(5), key(6)]);
    expect(f.calls.removed).toEqual([VIP]);
    expect(drained).toEqual([[VIP, true]]);
    expect(f.hooked()).toBe(false);
  });

  it('takeover hold: segments of a connection waiting for its restore are dropped, not delivered (no RST), until unhold', () => {
    const f = fakeStack();
    const d = new DrainForwarder(f.stack);
    d.hold(key(8));
    d.hold('garbage');
    expect(d.holding).toBe(1);
    expect(f.deliver(8, 80, ACK)).toBe(true);
    expect(f.deliver(8, 80, ACK | 0x08)).toBe(true);
    expect(f.deliver(9, 80, ACK)).toBe(false);
    expect(d.stats.held).toBe(2);
    d.unhold(key(8));
    expect(f.hooked()).toBe(false); // nothing held: no interceptor, segments go to TCP
    expect(f.deliver(8, 80, ACK)).toBeNull();
    d.hold(key(8));
    d.clear();
    expect(d.holding).toBe(0);
    expect(f.hooked()).toBe(false);
  });

  it('H: an address taken back (new takeover) stops draining and answers ARP again', () => {
    const f = fakeStack();
    const d = new DrainForwarder(f.stack, { holds: () => true });
    d.keepServing(VIP, [{ from: 0, to: 65535 }], true, [{ key: key(5), t: parseTcpKey(key(5))!, reported: false, gone: () => false }]);
    d.reclaim(VIP);
    expect(f.calls.silent.get(VIP)).toBe(false);
    expect(d.keeping).toBe(0);
    expect(f.hooked()).toBe(false);
    expect(f.calls.removed).toEqual([]);
  });
});
