import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { parseSctp, type SctpRepr } from '@hastack/wire';
import { SimNet, ip } from './sctp-harness.js';
import type { SctpAssociation } from '../src/sctp/index.js';
import type { SctpLayerOptions } from '../src/sctp/layer.js';

const A1 = '198.18.1.1';
const A2 = '198.18.2.1';

async function multihomed(clientOpts: SctpLayerOptions = {}) {
  const net = new SimNet({ delay: 5, seed: 5 });
  const client = net.node('client', ['198.18.0.1'], clientOpts);
  const server = net.node('server', [A1, A2]);
  const got: Uint8Array[] = [];
  let srv: SctpAssociation | null = null;
  server.layer.createServer({ port: 7, addresses: [A1, A2] }, (a) => {
    srv = a;
    a.on('message', (d: Uint8Array) => got.push(d));
  }).listen();
  const c = client.layer.connect({ host: A1, port: 7 });
  const changes: Array<{ t: number; address: string; state: string }> = [];
  c.on('path-change', (e: { address: string; state: string }) => changes.push({ t: net.clock.now(), ...e }));
  await net.until(() => c.state === 'ESTABLISHED' && srv !== null);
  // Let the heartbeat confirm A2 (§5.4).
  await net.until(() => c.paths().every((p) => p.state === 'active'));
  return { net, client, server, c, got, changes, srv: srv! };
}

/** Time (ms after `t0`) of the first DATA chunk sent to `dst` whose TSN was never sent before (new data, not a retransmission). */
function firstNewDataTo(net: SimNet, dst: string, t0: number, seenTsns: Set<number>): number {
  const seen = new Set(seenTsns);
  for (const p of net.log) {
    if (p.at < t0) continue;
    const r = parseSctp(p.bytes) as SctpRepr;
    for (const k of r.chunks) {
      if (k.kind !== 'data') continue;
      if (!seen.has(k.tsn) && p.dst === ip(dst)) return p.at - t0;
      seen.add(k.tsn);
    }
  }
  return -1;
}

function tsnsBefore(net: SimNet, t0: number): Set<number> {
  const s = new Set<number>();
  for (const p of net.log) {
    if (p.at >= t0) break;
    const r = parseSctp(p.bytes) as SctpRepr;
    for (const k of r.chunks) if (k.kind === 'data') s.add(k.tsn);
  }
  return s;
}

describe('SCTP multihoming (RFC 9260 §6.4, §8.2; RFC 7829)', () => {
  it('the server announces both addresses in INIT ACK; the client confirms A2 by heartbeat', async () => {
    const { c } = await multihomed();
    expect(c.remoteAddresses).toEqual([A1, A2]);
    const ps = c.paths();
    expect(ps.map((p) => [p.address, p.state, p.primary])).toEqual([
      [A1, 'active', true],
      [A2, 'active', false],
    ]);
  });

  async function failover(pf: boolean) {
    const env = await multihomed(pf ? {} : { pfMaxRetrans: Infinity });
    const { net, c, got, changes } = env;
    net.keepLog = true;
    const sent: Uint8Array[] = [];
    let i = 0;
    // Steady stream: one 1000-byte message every 10 ms for 100 s of virtual time.
    const tick = (): void => {
      if (i >= 10_000 || c.state !== 'ESTABLISHED') return;
      const m = new Uint8Array(1000).fill(i & 0xff);
      m[0] = i >> 8;
      sent.push(m);
      c.send(m);
      i++;
      net.clock.setTimer(net.clock.now() + 10, tick);
    };
    tick();
    await net.clock.runFor(2000);
    const t0 = net.clock.now();
    const seen = tsnsBefore(net, t0);
    net.blackholed.add(ip(A1));
    await net.until(() => changes.some((x) => x.address === A1 && x.state === 'inactive'), 120_000);
    const failedAt = changes.find((x) => x.address === A1 && x.state === 'inactive')!.t - t0;
    const movedAfter = firstNewDataTo(net, A2, t0, seen);
    i = 10_000; // stop the source
    await net.until(() => got.length === sent.length, 120_000);
    const hash = (l: Uint8Array[]) => createHash('sha256').update(Buffer.concat(l)).digest('hex');
    expect(hash(got)).toBe(hash(sent));
    return { movedAfter, failedAt, changes, t0 };
  }

  it('with PF (PFMR 0): new data moves to A2 after one RTO; A1 fails after PMR+1 timeouts; data intact', async () => {
    const r = await failover(true);
    // RTO is RTO.Min (1 s) with a 10 ms RTT: the first T3 on A1 makes it PF and data moves at once.
    expect(r.movedAfter).toBeGreaterThanOrEqual(1000);
    expect(r.movedAfter).toBeLessThan(1100);
    expect(r.changes.find((x) => x.address === A1)!.state).toBe('pf');
    console.log(`[sctp multihome] PF on: new data on A2 after ${r.movedAfter} ms; A1 inactive after ${r.failedAt} ms`);
  });

  it('without PF (plain RFC 9260): new data stays on A1 until it is declared inactive (~63 s)', async () => {
    const r = await failover(false);
    // 6 consecutive T3 timeouts with doubling RTO: 1+2+4+8+16+32 = 63 s.
    expect(r.failedAt).toBeGreaterThanOrEqual(63_000);
    expect(r.failedAt).toBeLessThan(64_000);
    expect(r.movedAfter).toBeGreaterThanOrEqual(63_000);
    expect(r.changes.every((x) => x.state !== 'pf')).toBe(true);
    console.log(`[sctp multihome] PF off: new data on A2 after ${r.movedAfter} ms; A1 inactive after ${r.failedAt} ms`);
  }, 60_000);

  it('a failed primary that answers heartbeats again becomes active and primary again', async () => {
    const { net, c, changes } = await multihomed({ hbInterval: 2000 });
    net.blackholed.add(ip(A1));
    c.send(new Uint8Array(100));
    await net.until(() => c.paths()[0].state !== 'active', 30_000);
    c.send(new Uint8Array(100));
    await net.clock.runFor(3000);
    expect(c.paths()[0].state).not.toBe('active');
    net.blackholed.delete(ip(A1));
    await net.until(() => c.paths()[0].state === 'active', 60_000);
    expect(changes.at(-1)).toMatchObject({ address: A1, state: 'active' });
    const before = c.paths()[0].flight;
    c.send(new Uint8Array(100));
    await net.clock.runFor(1);
    expect(c.paths()[0].flight).toBeGreaterThan(before);
  });

  it('all paths dead: the association error counter passes AMR and the association aborts with ETIMEDOUT', async () => {
    const { net, c } = await multihomed({ assocMaxRetrans: 4, rtoMax: 4000 });
    net.blackholed.add(ip(A1));
    net.blackholed.add(ip(A2));
    let e: { code?: string } | null = null;
    c.on('error', (x) => (e = x));
    c.send(new Uint8Array(10));
    await net.until(() => e !== null, 120_000);
    expect(e!.code).toBe('ETIMEDOUT');
    expect(c.state).toBe('CLOSED');
  });
});

describe('SCTP local multihoming on the client side', () => {
  it('localAddresses are announced in INIT; the server gets a path per client address', async () => {
    const net = new SimNet({ delay: 5, seed: 2 });
    const client = net.node('client', ['198.18.0.1', '198.18.3.1']);
    const server = net.node('server', ['198.18.0.2']);
    let srv: SctpAssociation | null = null;
    server.layer.createServer({ port: 7 }, (a) => (srv = a)).listen();
    const c = client.layer.connect({ host: '198.18.0.2', port: 7, localAddresses: ['198.18.0.1', '198.18.3.1'] });
    await net.until(() => srv !== null && srv.paths().every((p) => p.state === 'active'));
    expect(c.localAddresses).toEqual(['198.18.0.1', '198.18.3.1']);
    expect(srv!.remoteAddresses).toEqual(['198.18.0.1', '198.18.3.1']);
    expect(srv!.paths().map((p) => p.state)).toEqual(['active', 'active']);
  });
});
