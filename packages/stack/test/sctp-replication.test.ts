/**
 * Seed 004 in memory: one association whose endpoint spans two hosts.
 *   public network  : peer 198.18.0.10, host 1 = A1 198.18.0.1, host 2 = A2 198.18.0.2
 *   cluster network : host 1 198.19.0.1, host 2 198.19.0.2, store host 198.19.0.3
 * The peer streams numbered messages to an echo service; host 1 (primary) answers, replicating
 * to host 2 (secondary) by one of the policies; host 1 is killed mid-transfer (stack.crash()), the
 * peer's path failover moves to A2 and the secondary continues. Checks: every echo arrives
 * exactly once and in order (SHA-256), the application state replicated with the association
 * counted every message exactly once, and the peer kept one association throughout.
 */
import { describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import {
  MemoryNetwork,
  Stack,
  VirtualClock,
  SctpReplicator,
  SctpStandby,
  SctpSnapshotStore,
  sctpChannel,
  signedChannel,
  type SctpAssociation,
  type SctpSyncPolicy,
  type ReplicationChannel,
  type SctpLayerOptions,
} from '@hastack/stack';

const A1 = '198.18.0.1';
const A2 = '198.18.0.2';

interface AppState {
  count: number;
  hash: number;
}

function fnv(h: number, d: Uint8Array): number {
  let x = h >>> 0;
  for (let i = 0; i < d.length; i++) x = Math.imul(x ^ d[i], 0x01000193) >>> 0;
  return x;
}

/** The replicated service: echo every message; state = count and a running hash. */
class EchoApp {
  constructor(
    readonly a: SctpAssociation,
    readonly state: AppState,
  ) {
    a.on('message', (d: Uint8Array) => {
      this.state.count++;
      this.state.hash = fnv(this.state.hash, d);
      a.send(d);
    });
  }
}

async function connectChannel(clock: VirtualClock, from: Stack, to: Stack, host: string, port: number, onServer: (ch: ReplicationChannel) => void): Promise<ReplicationChannel> {
  let serverCh: ReplicationChannel | null = null;
  to.sctp.createServer({ port }, (a) => {
    // Every replicated failover below runs over authenticated channels (signedChannel).
    serverCh = signedChannel(sctpChannel(a), { key: CLUSTER_KEY });
    onServer(serverCh);
  }).listen();
  const c = from.sctp.connect({ host, port });
  await clock.run(() => c.state === 'ESTABLISHED' && serverCh !== null, { maxMs: 10_000 });
  return signedChannel(sctpChannel(c), { key: CLUSTER_KEY });
}

const CLUSTER_KEY = 'sctp-replication-test-key-0123456789';

interface Run {
  policy: SctpSyncPolicy;
  store?: boolean;
  messages?: number;
  crashAt?: number;
  /** SCTP parameters of the outside peer (RTO.Min, PF...). */
  peerSctp?: SctpLayerOptions;
  failureTimeoutMs?: number;
  /** One-way delay of the cluster network (default 1 ms). */
  clusterDelay?: number;
  /** Give the standby the service port (default true). */
  quietPort?: boolean;
  /** Hold the primary's output until the standby has the record (default true). */
  hold?: boolean;
}

async function replicated(r: Run) {
  const clock = new VirtualClock();
  const pub = new MemoryNetwork({ clock, seed: 1, delayMs: 5 });
  const priv = new MemoryNetwork({ clock, seed: 2, delayMs: r.clusterDelay ?? 1 });
  const peer = new Stack({ link: pub.createPort(), address: '198.18.0.10/24', clock, sctp: r.peerSctp });
  const h1 = new Stack({ link: pub.createPort(), address: `${A1}/24`, clock });
  const h2 = new Stack({ link: pub.createPort(), address: `${A2}/24`, clock });
  const c1 = new Stack({ link: priv.createPort(), address: '198.19.0.1/24', clock });
  const c2 = new Stack({ link: priv.createPort(), address: '198.19.0.2/24', clock });
  const c3 = new Stack({ link: priv.createPort(), address: '198.19.0.3/24', clock });

  // Intra-cluster channels (SCTP associations on the cluster network).
  let standbyCh: ReplicationChannel | null = null;
  const primaryCh = await connectChannel(clock, c1, c2, '198.19.0.2', 7000, (ch) => (standbyCh = ch));
  let storeForPrimary: ReplicationChannel | undefined;
  let storeForStandby: ReplicationChannel | undefined;
  const store = new SctpSnapshotStore();
  if (r.store) {
    storeForPrimary = await connectChannel(clock, c1, c3, '198.19.0.3', 7001, (ch) => store.serve(ch));
    storeForStandby = await connectChannel(clock, c2, c3, '198.19.0.3', 7002, (ch) => store.serve(ch));
  }

  // Host 2: the standby.
  const standby = new SctpStandby(h2.sctp, { channel: standbyCh!, store: storeForStandby, clock, failureTimeoutMs: r.failureTimeoutMs ?? 300, port: r.quietPort === false ? undefined : 5000 });
  let app2: EchoApp | null = null;
  standby.on('takeover', (a: SctpAssociation, app: AppState) => (app2 = new EchoApp(a, { ...app })));

  // Host 1: the primary service, announcing A1 and A2.
  let app1: EchoApp | null = null;
  let rep: SctpReplicator | null = null;
  h1.sctp.createServer({ port: 5000, addresses: [A1, A2] }, (a) => {
    app1 = new EchoApp(a, { count: 0, hash: 0x811c9dc5 });
    rep = new SctpReplicator(a, { channel: primaryCh, store: storeForPrimary, policy: r.policy, clock, appState: () => ({ ...app1!.state }), holdUntilStandby: r.hold !== false });
  }).listen();

  // The peer: one message every 5 ms.
  const n = r.messages ?? 600;
  const c = peer.sctp.connect({ host: A1, port: 5000 });
  const sent: Buffer[] = [];
  const echoes: Buffer[] = [];
  const echoTimes: number[] = [];
  const pathLog: string[] = [];
  let peerError: unknown = null;
  c.on('error', (e) => (peerError = e));
  c.on('path-change', (e: { address: string; state: string }) => pathLog.push(`${clock.now()} ${e.address} ${e.state}`));
  c.on('message', (d: Uint8Array) => {
    echoes.push(Buffer.from(d));
    echoTimes.push(clock.now());
  });
  let i = 0;
  const tick = (): void => {
    if (i >= n || c.state !== 'ESTABLISHED') return;
    const m = createHash('sha256').update(`msg ${i}`).digest();
    const payload = Buffer.concat([m, m, m, m, Buffer.alloc(872, i & 0xff)]);
    sent.push(payload);
    c.send(payload);
    i++;
    clock.setTimer(clock.now() + 5, tick);
  };
  c.on('connect', tick);
  await clock.run(() => c.state === 'ESTABLISHED' && c.paths().every((p) => p.state === 'active'), { maxMs: 10_000 });

  // Run to the crash point, then kill host 1 (public and cluster stacks).
  const crashAt = clock.now() + (r.crashAt ?? 1500);
  await clock.run(() => clock.now() >= crashAt, { maxMs: 10_000 });
  if (r.policy.kind === 'impending-failure') {
    let ready = false;
    rep!.once('handover-ready', () => (ready = true));
    rep!.impendingFailure();
    await clock.run(() => ready, { maxMs: 5_000 });
  }
  const tCrash = clock.now();
  const echoesAtCrash = echoes.length;
  h1.crash();
  c1.crash();
  const done = await clock.run(() => echoes.length >= n, { maxMs: 120_000 });
  // The peer-visible interruption: the longest silence between echoes after the crash.
  let outage = 0;
  let prev = tCrash;
  for (let k = echoesAtCrash; k < echoTimes.length; k++) {
    outage = Math.max(outage, echoTimes[k] - prev);
    prev = echoTimes[k];
  }
  const pfLine = pathLog.find((l) => l.endsWith(`${A1} pf`) || l.endsWith(`${A1} inactive`));
  const movedAfter = pfLine ? Number(pfLine.split(' ')[0]) - tCrash : NaN;
  return { done, sent, echoes, app1: app1!, app2: app2 as EchoApp | null, rep: rep!, standby, c, peer, h2, tCrash, outage, movedAfter, pathLog, peerError: peerError as unknown, store, n };
}

function check(r: Awaited<ReturnType<typeof replicated>>) {
  expect(r.done).toBe(true);
  expect(r.peerError).toBeNull();
  // Every echo exactly once, in order.
  expect(r.echoes.length).toBe(r.n);
  const h = (l: Buffer[]) => createHash('sha256').update(Buffer.concat(l)).digest('hex');
  expect(h(r.echoes)).toBe(h(r.sent));
  // The secondary's application state, carried in the snapshot, counted each message once.
  expect(r.app2).not.toBeNull();
  let want = 0x811c9dc5;
  for (const m of r.sent) want = fnv(want, m);
  expect(r.app2!.state.count).toBe(r.n);
  expect(r.app2!.state.hash).toBe(want);
  // One association throughout: still established; it moved to A2.
  expect(r.c.state).toBe('ESTABLISHED');
  const paths = r.c.paths();
  expect(paths.find((p) => p.address === A2)!.state).toBe('active');
  expect(paths.find((p) => p.address === A1)!.state).not.toBe('active');
  expect(r.standby.association!.state).toBe('ESTABLISHED');
}

const policies: Array<[string, SctpSyncPolicy, boolean]> = [
  ['after every update', { kind: 'every-update' }, false],
  ['on a schedule (20 ms)', { kind: 'schedule', intervalMs: 20 }, false],
  ['on events', { kind: 'events' }, false],
  ['once on impending failure', { kind: 'impending-failure' }, false],
  ['third-host store, every update', { kind: 'every-update' }, true],
];

describe('replicated SCTP association (seed 004)', () => {
  for (const [name, policy, store] of policies) {
    it(`primary killed mid-transfer, secondary continues: ${name}`, async () => {
      const r = await replicated({ policy, store });
      check(r);
      console.log(
        `[sctp replication] ${name}: peer moved off A1 (PF) +${r.movedAfter.toFixed(0)} ms after the crash; longest echo silence ${r.outage.toFixed(0)} ms; standby adopted +${(r.standby.adoptedAt - r.tCrash).toFixed(0)} ms; snapshots ${r.rep.counters.snapshots} (${(r.rep.counters.snapshotBytes / 1024).toFixed(0)} KiB)`,
      );
      if (policy.kind === 'impending-failure') {
        expect(r.rep.counters.snapshots).toBe(1);
        expect(r.standby.planned).toBe(true);
      } else {
        expect(r.rep.counters.snapshots).toBeGreaterThan(10);
      }
      if (store) expect(r.store.counters.gets).toBe(1);
      // With PF (PFMR 0) and RTO.Min 1 s the peer moves after about one RTO.
      expect(r.movedAfter).toBeGreaterThan(900);
      expect(r.movedAfter).toBeLessThan(1200);
      expect(r.outage).toBeLessThan(1500);
    });
  }

  it('a peer with RTO.Min 200 ms (and a 100 ms failure detector) moves in about 200 ms', async () => {
    const r = await replicated({ policy: { kind: 'every-update' }, peerSctp: { rtoMin: 200, rtoInitial: 200 }, failureTimeoutMs: 100 });
    check(r);
    console.log(`[sctp replication] peer RTO.Min 200 ms: moved off A1 +${r.movedAfter.toFixed(0)} ms; longest echo silence ${r.outage.toFixed(0)} ms; standby adopted +${(r.standby.adoptedAt - r.tCrash).toFixed(0)} ms`);
    expect(r.movedAfter).toBeLessThan(300);
  });

  it('a peer without PF (plain RFC 9260 defaults) keeps new data on A1 until it is inactive (~63 s), still intact', async () => {
    const r = await replicated({ policy: { kind: 'schedule', intervalMs: 20 }, peerSctp: { pfMaxRetrans: Infinity } });
    check(r);
    console.log(`[sctp replication] peer without PF: moved off A1 +${r.movedAfter.toFixed(0)} ms; longest echo silence ${r.outage.toFixed(0)} ms`);
    expect(r.movedAfter).toBeGreaterThan(60_000);
    expect(r.movedAfter).toBeLessThan(70_000);
  });

  it('a slow cluster network: the COOKIE ACK waits for the standby record, so no HEARTBEAT to A2 finds the standby unprepared', async () => {
    const r = await replicated({ policy: { kind: 'every-update' }, clusterDelay: 40, messages: 300 });
    check(r);
    const st = r.h2.sctp.stats() as { ootbQuiet: number; ootb: number; standbyHeartbeatAcks: number };
    expect(st.ootbQuiet + st.ootb).toBe(0);
    expect(st.standbyHeartbeatAcks).toBeGreaterThan(0);
  });

  it('without the hold, the early HEARTBEAT to A2 is dropped quietly (not ABORTed) and the association survives', async () => {
    const r = await replicated({ policy: { kind: 'every-update' }, clusterDelay: 40, messages: 300, hold: false });
    check(r);
    expect((r.h2.sctp.stats() as { ootbQuiet: number }).ootbQuiet).toBeGreaterThan(0);
  });

  it('the standby answers heartbeats to A2 before the failure, so the peer sees A2 active', async () => {
    const r = await replicated({ policy: { kind: 'every-update' }, messages: 200, crashAt: 400 });
    expect(r.h2.sctp.stats()).toMatchObject({ standbyHeartbeatAcks: expect.any(Number) });
    expect((r.h2.sctp.stats() as { standbyHeartbeatAcks: number }).standbyHeartbeatAcks).toBeGreaterThan(0);
    check(r);
  });
});

describe('replication gate and snapshots', () => {
  it('without a replica acknowledgement the primary neither SACKs nor sends what the replica does not hold', async () => {
    const clock = new VirtualClock();
    const pub = new MemoryNetwork({ clock, seed: 1, delayMs: 5 });
    const peer = new Stack({ link: pub.createPort(), address: '198.18.0.10/24', clock });
    const h1 = new Stack({ link: pub.createPort(), address: `${A1}/24`, clock });
    // A channel into the void: snapshots are sent, nobody acknowledges them.
    const sentToReplica: Uint8Array[] = [];
    const deadChannel: ReplicationChannel = { send: (m) => sentToReplica.push(m), onMessage: () => {} };
    let delivered = 0;
    h1.sctp.createServer({ port: 5000 }, (a) => {
      a.on('message', (d: Uint8Array) => {
        delivered++;
        a.send(d);
      });
      new SctpReplicator(a, { channel: deadChannel, policy: { kind: 'every-update' }, clock, holdUntilStandby: false });
    }).listen();
    const c = peer.sctp.connect({ host: A1, port: 5000 });
    let echoes = 0;
    c.on('message', () => echoes++);
    await clock.run(() => c.state === 'ESTABLISHED', { maxMs: 5_000 });
    c.send('one');
    c.send('two');
    await clock.runFor(3_000);
    // The primary's application got both messages, but nothing it did reached the peer: no echo,
    // and the peer still holds its DATA unacknowledged (retransmitting it).
    expect(delivered).toBe(2);
    expect(echoes).toBe(0);
    expect(c.bufferedAmount).toBe(6);
    expect(c.stats().retransmits).toBeGreaterThan(0);
    expect(sentToReplica.length).toBeGreaterThan(0);
  });

  it('snapshot is plain data: survives v8 serialisation; adopt rebases deadlines and rejects garbage', async () => {
    const { serialize, deserialize } = await import('node:v8');
    const clock = new VirtualClock(1_000);
    const pub = new MemoryNetwork({ clock, seed: 1, delayMs: 5 });
    const a = new Stack({ link: pub.createPort(), address: '198.18.0.1/24', clock });
    const b = new Stack({ link: pub.createPort(), address: '198.18.0.2/24', clock });
    b.sctp.createServer({ port: 5000 }).listen();
    const c = a.sctp.connect({ host: '198.18.0.2', port: 5000 });
    await clock.run(() => c.state === 'ESTABLISHED', { maxMs: 5_000 });
    c.send(new Uint8Array(5000).fill(7), { stream: 3 });
    const snap = c.snapshot({ note: 'app' });
    const copy = deserialize(serialize(snap));
    expect(copy).toEqual(snap);
    expect(snap.state.out.length).toBeGreaterThan(1);
    expect(snap.state.ssnOut[3]).toBe(1);
    // Adopt on a stack whose clock is 10 s behind: deadlines move with it.
    const clock2 = new VirtualClock(0);
    const net2 = new MemoryNetwork({ clock: clock2, seed: 2 });
    const other = new Stack({ link: net2.createPort(), address: '198.18.0.1/24', clock: clock2 });
    const adopted = other.sctp.adopt(copy);
    expect(adopted.state).toBe('ESTABLISHED');
    expect(adopted.engine.s.myTag).toBe(snap.state.myTag);
    expect(adopted.engine.s.nextTsn).toBe(snap.state.nextTsn);
    const hb = adopted.engine.s.paths[0].hbAt;
    expect(hb).toBeLessThanOrEqual(clock2.now());
    expect(() => other.sctp.adopt({ kind: 'nope' } as never)).toThrow(expect.objectContaining({ code: 'ERR_CHECKPOINT_INVALID' }));
  });
});
