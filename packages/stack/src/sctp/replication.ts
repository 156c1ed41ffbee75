/**
 * The replicated SCTP association of seed 004.
 *
 * Read this first:
 * - A primary instance (host 1) serves an association whose endpoint announces two addresses:
 *   A1 (host 1) and A2 (host 2). `SctpReplicator` copies the association state (plus opaque
 *   application state, captured at the same instant) over an intra-cluster channel to an
 *   `SctpStandby` on host 2 — or to an `SctpSnapshotStore` on a third host, from which the standby
 *   reads it at failover (claims 7, 18).
 * - The standby answers the peer's HEARTBEATs to A2 with the replicated tags, so the peer keeps
 *   A2 confirmed and active; it detects the primary's death by missing keepalives and then
 *   `adopt()`s the latest snapshot. The peer's own path failover (RFC 9260 §6.4 / RFC 7829 PF)
 *   moves traffic to A2 where the association continues: one association, two addresses.
 * - Consistency: the primary never shows the peer anything the replica could contradict. Output
 *   is gated by the last snapshot the replica acknowledged: SACKs report at most its cumulative
 *   TSN and gap blocks, and DATA is sent only for TSNs it holds. So whatever the peer has seen
 *   acknowledged or received, the secondary knows; whatever it has not, the peer retransmits to
 *   A2. Policies differ only in *when* snapshots are taken (claims 13–16, 5–6, 22):
 *     'every-update'      after every state change (coalesced while one snapshot is in flight)
 *     'schedule'          every `intervalMs`
 *     'events'            on application-visible events: a delivered message, a send, a path change
 *     'impending-failure' once, when `impendingFailure()` is called: the primary freezes its
 *                         output, takes one snapshot and hands over (no gating before that)
 * - Channels carry bytes (v8-serialised messages); `sctpChannel()` runs one over an SCTP
 *   association on the intra-cluster network.
 */
import { EventEmitter } from 'node:events';
import { serialize, deserialize } from 'node:v8';
import { createHmac, timingSafeEqual } from 'node:crypto';
import type { Clock, TimerHandle } from '../clock.js';
import { err } from '../errors.js';
import type { SctpAssociation } from './api.js';
import type { SctpLayer, SctpStandbyRecord } from './layer.js';
import type { SctpSnapshot } from './types.js';

/** When the primary replicates. */
export type SctpSyncPolicy =
  | { kind: 'every-update' }
  | { kind: 'schedule'; intervalMs: number }
  | { kind: 'events' }
  | { kind: 'impending-failure' };

/** A message pipe between cluster members. */
export interface ReplicationChannel {
  send(msg: Uint8Array): void;
  onMessage(fn: (msg: Uint8Array) => void): void;
}

/** A ReplicationChannel over an SCTP association (reliable, ordered, message framed). */
export function sctpChannel(a: SctpAssociation, stream = 0): ReplicationChannel {
  return {
    send: (m) => {
      if (a.state === 'ESTABLISHED') a.send(m, { stream });
    },
    // (A send on a dead channel is dropped: the far side's failure detector notices.)
    onMessage: (fn) => a.on('message', (d: Uint8Array) => fn(d)),
  };
}

/**
 * Authenticate a ReplicationChannel: a replicated association is a capability to speak for the
 * endpoint, so the secondary must accept state only from the primary. Each message is framed as
 * [8-byte counter][payload][HMAC-SHA256 over counter+payload] under a shared cluster key; frames
 * with a bad MAC, or a counter not above the last one accepted (replays), are dropped and counted.
 * Use it on both ends with the same key.
 */
export function signedChannel(inner: ReplicationChannel, opts: { key: Uint8Array | string }): ReplicationChannel & { readonly dropped: { badMac: number; replayed: number; malformed: number } } {
  const key = typeof opts.key === 'string' ? Buffer.from(opts.key) : Buffer.from(opts.key);
  if (key.length < 16) throw err('ERR_INVALID_ARG_VALUE', 'signedChannel key must be at least 16 bytes');
  // Counters start from the wall clock (µs) so a restarted sender stays above what it sent before.
  let sendCounter = BigInt(Date.now()) * 1000n;
  let lastSeen = -1n;
  const dropped = { badMac: 0, replayed: 0, malformed: 0 };
  return {
    dropped,
    send(msg) {
      const frame = new Uint8Array(8 + msg.length + 32);
      const dv = new DataView(frame.buffer);
      dv.setBigUint64(0, ++sendCounter);
      frame.set(msg, 8);
      frame.set(createHmac('sha256', key).update(frame.subarray(0, 8 + msg.length)).digest(), 8 + msg.length);
      inner.send(frame);
    },
    onMessage(fn) {
      inner.onMessage((frame) => {
        if (frame.length < 8 + 32) {
          dropped.malformed++;
          return;
        }
        const body = frame.subarray(0, frame.length - 32);
        const mac = createHmac('sha256', key).update(body).digest();
        if (!timingSafeEqual(mac, frame.subarray(frame.length - 32))) {
          dropped.badMac++;
          return;
        }
        const counter = new DataView(frame.buffer, frame.byteOffset, 8).getBigUint64(0);
        if (counter <= lastSeen) {
          dropped.replayed++;
          return;
        }
        lastSeen = counter;
        fn(frame.subarray(8, frame.length - 32));
      });
    },
  };
}

type Msg =
  | { t: 'standby'; key: string; record: SctpStandbyRecord }
  | { t: 'alive'; key: string }
  | { t: 'snap'; key: string; seq: number; snap: SctpSnapshot }
  | { t: 'ack'; key: string; seq: number }
  | { t: 'get'; key: string }
  | { t: 'got'; key: string; snap: SctpSnapshot | null }
  | { t: 'handover'; key: string };

function enc(m: Msg): Uint8Array {
  return new Uint8Array(serialize(m));
}
function dec(b: Uint8Array): Msg | null {
  try {
    const m = deserialize(b) as Msg;
    return m && typeof m === 'object' && typeof m.t === 'string' ? m : null;
  } catch {
    return null;
  }
}

export interface SctpReplicatorOptions {
  /** Channel to the standby (keepalives, standby record; snapshots too unless `store` is set). */
  channel: ReplicationChannel;
  /** Third-host variant: snapshots go to this store instead of the standby. */
  store?: ReplicationChannel;
  policy: SctpSyncPolicy;
  clock: Clock;
  /** Application state captured atomically with each snapshot. */
  appState?: () => unknown;
  /** Keepalive period towards the standby (ms, default 50). */
  aliveIntervalMs?: number;
  /** Name of this replicated association (default `${localPort}`). */
  key?: string;
  /**
   * Hold all output of the association (the COOKIE ACK included) until the standby acknowledges
   * the standby record (default true).
   */
  holdUntilStandby?: boolean;
}

/**
 * Primary side. Events: 'snapshot' (seq, bytes), 'acked' (seq), 'handover-ready' (after
 * `impendingFailure()` once the replica holds the final snapshot).
 */
export class SctpReplicator extends EventEmitter {
  readonly key: string;
  private readonly a: SctpAssociation;
  private readonly o: SctpReplicatorOptions;
  private inFlight: { seq: number; gate: { cumTsn: number; rcvdAbove: number[]; nextTsn: number } } | null = null;
  private lastVersion = -1;
  private eventPending = true;
  private timer: TimerHandle | null = null;
  private aliveTimer: TimerHandle | null = null;
  private stopped = false;
  private handover = false;
  readonly counters = { snapshots: 0, snapshotBytes: 0, acks: 0, maxSnapshotBytes: 0 };

  constructor(association: SctpAssociation, opts: SctpReplicatorOptions) {
    super();
    this.a = association;
    this.o = opts;
    const e = association.engine;
    const s = e.s;
    this.key = opts.key ?? String(s.localPort);
    const record: SctpStandbyRecord = { localPort: s.localPort, remotePort: s.remotePort, peerAddrs: s.paths.map((p) => p.addr), peerTag: s.peerTag, myTag: s.myTag };
    // Nothing of this association leaves (not even the COOKIE ACK) until the standby has the
    // record: otherwise the peer's first HEARTBEAT to A2 could arrive before the standby can
    // answer it, and A2 would stay unconfirmed at the peer (no failover target) for a long time.
    if (opts.holdUntilStandby !== false) e.holdOutput = true;
    opts.channel.send(enc({ t: 'standby', key: this.key, record }));
    const onMsg = (b: Uint8Array): void => this.onMessage(b);
    opts.channel.onMessage(onMsg);
    if (opts.store) opts.store.onMessage(onMsg);
    if (opts.policy.kind !== 'impending-failure') {
      // Gate output at what the peer has already seen (the handshake) until a replica acknowledges.
      e.setGate({ cumTsn: s.cumTsn, rcvdAbove: [...s.rcvdAbove], nextTsn: s.nextTsn });
      e.hooks = { beforeEmit: () => this.maybeSnapshot() };
      if (opts.policy.kind === 'events') {
        for (const ev of ['message', 'path-change', 'connect', 'shutdown']) association.on(ev, () => (this.eventPending = true));
      }
      if (opts.policy.kind === 'schedule') this.arm();
      this.takeSnapshot();
    }
    association.on('close', () => this.stop());
    this.alive();
  }

  private alive(): void {
    // The association is gone (closed, or its stack crashed): the replicator dies with it.
    if (this.a.engine.closed) this.stop();
    if (this.stopped) return;
    this.o.channel.send(enc({ t: 'alive', key: this.key }));
    const c = this.o.clock;
    this.aliveTimer = c.setTimer(c.now() + (this.o.aliveIntervalMs ?? 50), () => this.alive());
  }

  private arm(): void {
    if (this.stopped || this.o.policy.kind !== 'schedule') return;
    const c = this.o.clock;
    this.timer = c.setTimer(c.now() + this.o.policy.intervalMs, () => {
      this.timer = null;
      if (this.a.engine.version !== this.lastVersion && !this.inFlight) this.takeSnapshot();
      this.arm();
    });
  }

  /** The beforeEmit hook: decide by policy whether to snapshot now. */
  private maybeSnapshot(): void {
    if (this.stopped || this.inFlight || this.handover) return;
    const e = this.a.engine;
    const s = e.s;
    const gate = e.gate;
    switch (this.o.policy.kind) {
      case 'every-update':
        if (e.version !== this.lastVersion) this.takeSnapshot();
        break;
      case 'events': {
        // Application-visible events, plus the two things the gate would otherwise stall on:
        // queued DATA the replica does not hold, and received DATA it has not acknowledged.
        const stalled = !!gate && (gate.nextTsn !== s.nextTsn || gate.cumTsn !== s.cumTsn || gate.rcvdAbove.length !== s.rcvdAbove.length);
        if (this.eventPending || stalled) this.takeSnapshot();
        break;
      }
      default:
        break;
    }
  }

  private takeSnapshot(): void {
    const e = this.a.engine;
    const s = e.s;
    const app = this.o.appState?.();
    const snap = this.a.snapshot(app);
    const bytes = enc({ t: 'snap', key: this.key, seq: snap.seq, snap });
    this.lastVersion = e.version;
    this.eventPending = false;
    this.inFlight = { seq: snap.seq, gate: { cumTsn: s.cumTsn, rcvdAbove: [...s.rcvdAbove], nextTsn: s.nextTsn } };
    this.counters.snapshots++;
    this.counters.snapshotBytes += bytes.length;
    this.counters.maxSnapshotBytes = Math.max(this.counters.maxSnapshotBytes, bytes.length);
    (this.o.store ?? this.o.channel).send(bytes);
    this.emit('snapshot', snap.seq, bytes.length);
  }

  private onMessage(b: Uint8Array): void {
    const m = dec(b);
    if (!m || m.key !== this.key || m.t !== 'ack') return;
    if (m.seq === 0) {
      // The standby holds the record: the handshake may complete.
      if (this.a.engine.holdOutput) {
        this.a.engine.holdOutput = false;
        this.a.kick();
      }
      return;
    }
    if (!this.inFlight || m.seq !== this.inFlight.seq) return;
    this.counters.acks++;
    const g = this.inFlight.gate;
    this.inFlight = null;
    const e = this.a.engine;
    if (this.handover) {
      // The replica (or the store) holds the final snapshot: tell the standby to take over.
      this.o.channel.send(enc({ t: 'handover', key: this.key }));
      this.emit('handover-ready');
      return;
    }
    if (this.o.policy.kind !== 'impending-failure') e.setGate(g);
    this.emit('acked', m.seq);
    // Wake the stack so the newly allowed output (and a pending snapshot) goes out.
    e.kick();
    this.a.kick();
  }

  /**
   * Claim 5/6: failure of the primary is imminent. Freeze output (answer heartbeats only), take
   * one final snapshot, send it; 'handover-ready' follows once the replica holds it.
   */
  impendingFailure(): void {
    if (this.handover) return;
    this.handover = true;
    this.a.engine.frozen = true;
    this.inFlight = null;
    this.takeSnapshot();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) this.o.clock.clearTimer(this.timer);
    if (this.aliveTimer) this.o.clock.clearTimer(this.aliveTimer);
    this.a.engine.hooks = null;
  }
}

export interface SctpStandbyOptions {
  /** Channel from the primary. */
  channel: ReplicationChannel;
  /** Third-host variant: read the snapshot from this store at takeover. */
  store?: ReplicationChannel;
  clock: Clock;
  /** Declare the primary dead after this long without a message from it (ms, default 300). */
  failureTimeoutMs?: number;
  /** Take over automatically on detected failure (default true). */
  autoTakeover?: boolean;
  /**
   * The service port on the primary. Until takeover, out-of-the-blue packets to it are dropped
   * silently rather than answered with ABORT: the peer's first HEARTBEAT to A2 may arrive before
   * the standby record does, and an ABORT would tear the peer's association down.
   */
  port?: number;
}

/**
 * Secondary side. Events: 'ready' (standby record registered), 'snapshot' (seq),
 * 'primary-failed', 'takeover' (association, appState), 'error'.
 */
export class SctpStandby extends EventEmitter {
  latest: SctpSnapshot | null = null;
  record: SctpStandbyRecord | null = null;
  key = '';
  association: SctpAssociation | null = null;
  /** Virtual/real time the failure was declared, and when the association was adopted. */
  failedAt = -1;
  adoptedAt = -1;
  private readonly layer: SctpLayer;
  private readonly o: SctpStandbyOptions;
  private detector: TimerHandle | null = null;
  private lastHeard = 0;
  private handover = false;
  private fetching = false;
  private quietPort = -1;
  /** The handover was announced by the primary (planned), not detected. */
  get planned(): boolean {
    return this.handover;
  }

  constructor(layer: SctpLayer, opts: SctpStandbyOptions) {
    super();
    this.layer = layer;
    this.o = opts;
    opts.channel.onMessage((b) => this.onPrimary(b));
    if (opts.store) opts.store.onMessage((b) => this.onStore(b));
    if (opts.port !== undefined) layer.setQuietPort(opts.port, true);
  }

  private onPrimary(b: Uint8Array): void {
    const m = dec(b);
    if (!m || this.association) return;
    this.lastHeard = this.o.clock.now();
    switch (m.t) {
      case 'standby':
        this.key = m.key;
        this.record = m.record;
        this.layer.standby(m.record);
        this.o.channel.send(enc({ t: 'ack', key: m.key, seq: 0 }));
        if (this.o.port === undefined) {
          // Without a configured port, stay quiet on the record's port from now on at least.
          this.layer.setQuietPort(m.record.localPort, true);
          this.quietPort = m.record.localPort;
        }
        this.arm();
        this.emit('ready');
        break;
      case 'snap':
        if (!this.latest || m.snap.seq > this.latest.seq) this.latest = m.snap;
        this.o.channel.send(enc({ t: 'ack', key: m.key, seq: m.seq }));
        this.emit('snapshot', m.seq);
        break;
      case 'handover':
        // Planned handover (claims 5/6): the final snapshot is here (or in the store).
        this.handover = true;
        this.takeover();
        break;
      default:
        break;
    }
  }

  private onStore(b: Uint8Array): void {
    const m = dec(b);
    if (!m || m.t !== 'got' || m.key !== this.key || !this.fetching) return;
    this.fetching = false;
    if (!m.snap) {
      this.emit('error', err('ERR_CHECKPOINT_INVALID', 'the store holds no snapshot'));
      return;
    }
    this.latest = m.snap;
    this.adoptLatest();
  }

  private arm(): void {
    const c = this.o.clock;
    const timeout = this.o.failureTimeoutMs ?? 300;
    if (this.detector) c.clearTimer(this.detector);
    this.detector = c.setTimer(c.now() + timeout / 3, () => {
      this.detector = null;
      if (this.association) return;
      if (c.now() - this.lastHeard >= timeout) {
        this.failedAt = c.now();
        this.emit('primary-failed');
        if (this.o.autoTakeover !== false) this.takeover();
      } else this.arm();
    });
  }

  /** Take over now: adopt the latest snapshot (from the store in the third-host variant). */
  takeover(): void {
    if (this.association || this.fetching) return;
    if (this.failedAt < 0) this.failedAt = this.o.clock.now();
    if (this.o.store) {
      this.fetching = true;
      this.o.store.send(enc({ t: 'get', key: this.key }));
      return;
    }
    this.adoptLatest();
  }

  private adoptLatest(): void {
    if (!this.latest) {
      this.emit('error', err('ERR_CHECKPOINT_INVALID', 'no snapshot received from the primary'));
      return;
    }
    if (this.record) this.layer.unstandby(this.record);
    this.association = this.layer.adopt(this.latest);
    if (this.o.port !== undefined) this.layer.setQuietPort(this.o.port, false);
    if (this.quietPort >= 0) this.layer.setQuietPort(this.quietPort, false);
    this.quietPort = -1;
    this.adoptedAt = this.o.clock.now();
    this.emit('takeover', this.association, this.latest.app);
  }
}

/** Claims 7/18: a third host that stores the latest snapshot per key and serves it on request. */
export class SctpSnapshotStore {
  private readonly snaps = new Map<string, SctpSnapshot>();
  readonly counters = { puts: 0, gets: 0 };

  /** Serve one client channel (a primary writing, a standby reading). */
  serve(ch: ReplicationChannel): void {
    ch.onMessage((b) => {
      const m = dec(b);
      if (!m) return;
      if (m.t === 'snap') {
        const cur = this.snaps.get(m.key);
        if (!cur || m.snap.seq > cur.seq) this.snaps.set(m.key, m.snap);
        this.counters.puts++;
        ch.send(enc({ t: 'ack', key: m.key, seq: m.seq }));
      } else if (m.t === 'get') {
        this.counters.gets++;
        ch.send(enc({ t: 'got', key: m.key, snap: this.snaps.get(m.key) ?? null }));
      }
    });
  }

  get(key: string): SctpSnapshot | undefined {
    return this.snaps.get(key);
  }
}
