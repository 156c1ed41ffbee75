/**
 * HaNode: the integration layer that makes a TCP service highly available end to end. It joins
 * a ClusterNode (who owns which address, who is alive), a hastack Stack (the connections) and an
 * application (the protocol state) — see docs/ha.md.
 *
 * Read this first:
 * - Serving: the HaNode listens on the service port(s) of the Stack on every address. Each
 *   connection to a cluster-managed (held) address is tracked: it is checkpointed
 *   (`socket.checkpoint()` in object-mapped mode, plus `app.connectionState(socket)` as the
 *   application section), signed (`encodeCheckpoint`) and handed to the cluster, which replicates
 *   it to the successor per the replication policy (ARCHITECTURE.md §5–6; seed 004 claims 13–16).
 * - When: right after the application maps a response body (`socket.mapObject`, one checkpoint
 *   per response, O(1) in its size — seed 003 claim 22), after request bytes arrive, and when the
 *   peer has acknowledged `progressBytes` more since the last one (checked every
 *   `progressCheckMs`). The checkpoint is built lazily: the cluster calls the source function only
 *   when its policy actually sends.
 * - Restore window: a restored connection adopts the peer's ACK only inside [SND.UNA, SND.MAX] of
 *   its checkpoint. Between two checkpoints the primary keeps sending, so the peer's ACK can be
 *   past the replica's SND.MAX. For object-mapped bytes the takeover host knows the bytes beyond
 *   SND.MAX (they come from the object), so before restoring it widens the send queue up to
 *   `restoreAheadBytes` past SND.MAX, within the mapped object (`widenForTakeover`). The stack then
 *   refills the queue from the object source from the adopted ACK on, and the application resumes
 *   at the queue's end (`sendEndSeq`).
 * - Takeover: `manageAddresses` adds the addresses and sends gratuitous ARP; then every replicated
 *   checkpoint is verified and decoded, widened, restored as an unready socket
 *   (`stack.restore(cp, { objectSource })`), and on 'ready' handed to `app.resume(socket, state,
 *   { sendEndSeq })`. Restored connections are tracked (and replicated onward) like new ones.
 * - Graceful shutdown (`leave()`): the cluster sends a final synchronous checkpoint of every
 *   connection (seed 004 claims 5, 6, 16), then this node stops sending (its stack is crashed, so
 *   no FIN or RST reaches the peers) and the successor takes over at once.
 * - Failback 'migrate': the holder checkpoints the connections, forgets them without a word to the
 *   peer, and the returning node restores them. 'drain': the holder keeps serving them until they
 *   close, from the address kept ARP-silent; the returning node forwards their segments to the
 *   holder's MAC (direct server return, drain.ts), until each is reported closed.
 */
import { EventEmitter } from 'node:events';
import {
  engineConnOf,
  type Clock,
  type ObjectBytes,
  type ObjectSource,
  type Socket,
  type Stack,
  type TcpCheckpoint,
  type TimerHandle,
} from '@hastack/stack';
import { decodeCheckpoint, encodeCheckpoint, type CheckpointKey } from '@hastack/checkpoint';
import type { ClusterNode } from './node.js';
import type { ClusterAction, FailbackAction, ReleaseAction, TakeoverAction } from './core.js';
import { manageAddresses } from './integration.js';
import { takeoverFromSnoop, type DeterministicApp } from './snoop-takeover.js';
import { DrainForwarder, parseTcpKey, type KeepEntry } from './drain.js';
import { portInRanges } from './ports.js';
import type { SnoopedState } from './snooper.js';
import type { ReplicaEntry } from './types.js';

type SnoopedAction = Extract<ClusterAction, { type: 'snooped' }>;

/** What the HaNode needs from the application (the HA HTTP server satisfies it). */
export interface HaApplication {
  /** Serve a new (or migrated-in, ready) connection. */
  handleConnection(socket: Socket): void;
  /** Plain data for the checkpoint's application section (null: nothing to add). */
  connectionState?(socket: Socket): unknown;
  /** Continue a restored connection from its application state. */
  resume?(socket: Socket, state: unknown, opts: { sendEndSeq?: number }): void;
  /** Bytes of object-mapped objects, for restores. */
  objectSource?: ObjectSource;
}

export interface HaNodeOptions {
  cluster: ClusterNode;
  stack: Stack;
  app: HaApplication;
  /** Key that signs connection checkpoints (≥ 16 bytes; may be the cluster key). */
  key: CheckpointKey;
  /** TCP port(s) of the service. */
  ports: number | number[];
  /** Checkpoint capture mode: 'mapped' (default; bytes of mapped objects left out) or 'full'. */
  mode?: 'mapped' | 'full';
  /** Application protocol name in checkpoints (default 'http/1.1'). */
  protocol?: string;
  /** Re-checkpoint a connection after the peer acknowledged this many more bytes (default 1 MiB). */
  progressBytes?: number;
  /** How often progress is checked, ms (default 10). */
  progressCheckMs?: number;
  /** How far past a checkpoint's SND.MAX a takeover accepts the peer's ACK for mapped bytes (default 32 MiB). */
  restoreAheadBytes?: number;
  /** A restored connection whose peer does not answer for this long is dropped (ms, default 10000). */
  readyTimeout?: number;
  /** Prefix length of taken-over addresses (default 24). */
  prefixLength?: number;
  /** Don't replicate checkpoints at all (the snooper is then the only source). */
  checkpointing?: boolean;
  /**
   * The application in deterministic mode (e.g. `httpSnoopApp(server)`): on takeover, a
   * connection with no replicated checkpoint but a snooped state is resumed from that state
   * (`takeoverFromSnoop`). Unset: snooped states are ignored (default).
   */
  snoopApp?: DeterministicApp;
  /** Bound of the restored send queue for snooped takeovers of resumable outputs (default 1 MiB). */
  snoopMaxQueuedBytes?: number;
  /**
   * Failback 'drain' on the returning node: forget a forwarding entry after this long without a
   * segment from its client (ms, default 120000) — a fallback for a lost close report.
   */
  drainIdleMs?: number;
  /**
   * Restored connections refill their send queues from the application's object source; the
   * refill yields to the event loop after every this many bytes (default 256 KiB; 0: never), so a
   * takeover of many connections does not stall timers, heartbeats and I/O (see
   * `yieldingObjectSource`).
   */
  refillSliceBytes?: number;
  /**
   * A takeover restores this many connections per turn of the event loop (default 16; 0: all at
   * once). Verifying, decoding and restoring costs about 0.5–2 ms per connection, so hundreds at
   * once would stall timers and heartbeats past failure detection. Segments of the connections
   * still waiting are dropped, not reset (`drain.stats.held`); each restore solicits its peer's
   * ACK anyway.
   */
  restoreSlice?: number;
}

/** Counters. */
export interface HaStats {
  accepted: number;
  tracked: number;
  checkpoints: number;
  checkpointErrors: number;
  restored: number;
  resumed: number;
  restoreErrors: number;
  /** Connections restored from snooped state (no replicated checkpoint). */
  snoopRestored: number;
  migratedOut: number;
  migratedIn: number;
  closed: number;
  /**
   * Object-mapped checkpoints the successor did not acknowledge within the cluster's ack timeout
   * (they were resent meanwhile; see `checkpointNow`).
   */
  unconfirmed: number;
}

interface Tracked {
  socket: Socket;
  key: string;
  ip: string;
  port: number;
  /** SND.UNA at the last checkpoint handed to the cluster. */
  lastUna: number;
  pending: boolean;
  /** Migrated away: no CHECKPOINT_DROP when it goes. */
  gone: boolean;
}

const DEFAULT_RESTORE_AHEAD = 32 * 1024 * 1024;
/** At most this many checkpoints wait for their acknowledgment at once (each wait is a cluster waiter). */
const MAX_CONFIRMING = 256;

function fmtIp(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
function parseIpNum(s: string): number {
  const p = s.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

/**
 * Widen a TCP checkpoint's send queue for a takeover (see the file comment): when the queue ends
 * inside an object-mapped reference and no FIN is queued, extend `sendLength` and `sndMax` up to
 * `ahead` bytes past SND.MAX, within that reference, so that a peer ACK for bytes the old host sent
 * after the checkpoint is adopted and the stack refills from the object source. When the queue ends
 * exactly at the reference's end, only `sndMax` moves (up to the queue's end). When a FIN is queued
 * behind the queue (the application had written the whole response and called end()), only
 * `sndMax` moves too: up to the queue's end and the FIN (`finSeq + 1`), never further. Returns the
 * number of bytes added to the queue. Mutates `cp`.
 */
export function widenForTakeover(cp: TcpCheckpoint, ahead = DEFAULT_RESTORE_AHEAD): number {
  const t = cp.tcp;
  if (ahead <= 0) return 0;
  const maxOff = (t.sndMax - t.sndUna) >>> 0;
  if (t.finSeq !== null) {
    // The whole rest of the stream is queued, FIN included: the old host may have sent queued
    // bytes, and the FIN, past the checkpoint's SND.MAX, and the peer may have acknowledged them.
    // This host has those very bytes (literal in the checkpoint or object-mapped), so such an ACK
    // is not stale: accept it up to the FIN. Without this, a replica taken after end() (a
    // progress checkpoint of a response that fit in the send buffer) refused the client's ACK
    // as stale and reset the connection (issue 6).
    if (t.state !== 'FIN_WAIT_1' && t.state !== 'LAST_ACK' && t.state !== 'CLOSING') return 0;
    const finOff = (t.finSeq - t.sndUna) | 0;
    if (finOff !== t.sendLength) return 0; // the FIN is not right behind the queue: leave it
    const upTo = Math.min(finOff + 1, maxOff + ahead);
    if (upTo > maxOff) t.sndMax = (t.sndUna + upTo) >>> 0;
    // SND.MAX past the queue means the FIN may have gone out (the checkpoint's invariant).
    if (upTo === finOff + 1) t.finSent = true;
    return 0;
  }
  if (t.finSent || (t.state !== 'ESTABLISHED' && t.state !== 'CLOSE_WAIT')) return 0;
  const refs = cp.app?.objects ?? [];
  if (refs.length === 0) return 0;
  const end = t.sendLength;
  // The reference covering the queue's last byte (or starting right at its end).
  let best = 0;
  for (const o of refs) {
    const s = (o.seq - t.sndUna) | 0;
    const e = s + o.length;
    if (s <= end && e >= end) best = Math.max(best, e);
  }
  if (best <= end) {
    // The queue already holds the rest of the reference: nothing to add, but the old host may
    // have sent queued bytes past the checkpoint's SND.MAX — accept a peer ACK for those too.
    const upTo = Math.min(end, maxOff + ahead);
    if (best === end && upTo > maxOff) t.sndMax = (t.sndUna + upTo) >>> 0;
    return 0;
  }
  const target = Math.min(best, maxOff + ahead, 2 ** 31 - 1);
  if (target <= end) return 0;
  const add = target - end;
  t.sendLength = target;
  t.sndMax = (t.sndUna + target) >>> 0;
  return add;
}

/**
 * A Clock for a ClusterNode whose timers fire on whole milliseconds (deadlines rounded up).
 *
 * @deprecated No longer needed: kept for existing callers. It worked around a float busy loop in
 * the core's failure detection (deadline `lastHeard + threshold` but test `now − lastHeard >=
 * threshold`, which could come out 199.99999999997 at that deadline). The core now compares `now`
 * with the deadline it returned, so fractional times are fine with the plain clock.
 */
export function wholeMsTimers(clock: Clock): Clock {
  return {
    now: () => clock.now(),
    setTimer: (at, fn) => clock.setTimer(Number.isFinite(at) && !Number.isInteger(at) ? Math.ceil(at + 1e-6) : at, fn),
    clearTimer: (h) => clock.clearTimer(h),
    defer: (fn) => clock.defer(fn),
  };
}

const immediate = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * An object source whose streamed bytes come in slices of at most `sliceBytes` between turns of
 * the event loop. A restore refills its send queue from the adopted ACK to the queue's end, up to
 * `restoreAheadBytes` per connection; a source that streams (a Readable, a generator) is consumed
 * in one unbroken run of microtasks, so 20 connections restored at once stalled the takeover
 * host's event loop for 0.6–0.8 s over TAP (heartbeats late, the clients' ACKs unread). Byte
 * arrays are passed through unchanged (they are at hand: no work to spread).
 */
export function yieldingObjectSource(src: ObjectSource, sliceBytes = 256 * 1024): ObjectSource {
  return (id, offset) => {
    const r = src(id, offset);
    if (r instanceof Uint8Array) return r;
    return sliced(r, sliceBytes);
  };
}

async function* sliced(r: ObjectBytes | Promise<ObjectBytes>, sliceBytes: number): AsyncGenerator<Uint8Array> {
  const s = await r;
  if (s instanceof Uint8Array) {
    for (let i = 0; i < s.length; i += sliceBytes) {
      if (i > 0) await immediate();
      yield s.subarray(i, i + sliceBytes);
    }
    return;
  }
  let since = 0;
  for await (const c of s as AsyncIterable<Uint8Array | string>) {
    const b = typeof c === 'string' ? Buffer.from(c) : c;
    yield b;
    since += b.length;
    if (since >= sliceBytes) {
      since = 0;
      await immediate();
    }
  }
}

/** `sendEndSeq` for the application's resume: the end of the restored send queue. */
function sendEndOf(cp: TcpCheckpoint): number {
  return (cp.tcp.sndUna + cp.tcp.sendLength) >>> 0;
}

export class HaNode extends EventEmitter {
  readonly cluster: ClusterNode;
  readonly stack: Stack;
  readonly app: HaApplication;
  readonly stats: HaStats = {
    accepted: 0,
    tracked: 0,
    checkpoints: 0,
    checkpointErrors: 0,
    restored: 0,
    resumed: 0,
    restoreErrors: 0,
    snoopRestored: 0,
    migratedOut: 0,
    migratedIn: 0,
    closed: 0,
    unconfirmed: 0,
  };
  /** Failback 'drain' forwarding, both roles (drain.ts); `drain.stats` counts it. */
  readonly drain: DrainForwarder;
  private readonly o: Required<Omit<HaNodeOptions, 'cluster' | 'stack' | 'app' | 'ports' | 'snoopApp' | 'snoopMaxQueuedBytes' | 'drainIdleMs' | 'refillSliceBytes' | 'restoreSlice'>> & { ports: number[] };
  private nextDrainSweep = 0;
  /** Checkpoints waiting for the successor's acknowledgment (bounded: MAX_CONFIRMING). */
  private confirming = 0;
  private readonly restoreSlice: number;
  /** The application's object source as restores use it (yielding, see refillSliceBytes). */
  private readonly refillSource: ObjectSource | undefined;
  private readonly snoopApp: DeterministicApp | null;
  private readonly snoopMaxQueued: number | undefined;
  private readonly clock: Clock;
  private readonly conns = new Map<Socket, Tracked>();
  private readonly byKey = new Map<string, Tracked>();
  /** Restored sockets not ready yet (not tracked until they are). */
  private readonly unready = new Set<Socket>();
  /** Keys of connections restored here (checkpoint or snooped) until they close: no second restore. */
  private readonly restoringKeys = new Set<string>();
  private servers: { close(cb?: () => void): unknown }[] = [];
  private timer: TimerHandle | null = null;
  private unmanage: (() => void) | null = null;
  private stopped = false;

  constructor(opts: HaNodeOptions) {
    super();
    this.cluster = opts.cluster;
    this.stack = opts.stack;
    this.app = opts.app;
    this.clock = opts.stack.clock;
    this.snoopApp = opts.snoopApp ?? null;
    this.snoopMaxQueued = opts.snoopMaxQueuedBytes;
    this.o = {
      key: opts.key,
      ports: Array.isArray(opts.ports) ? opts.ports : [opts.ports],
      mode: opts.mode ?? 'mapped',
      protocol: opts.protocol ?? 'http/1.1',
      progressBytes: opts.progressBytes ?? 1024 * 1024,
      progressCheckMs: opts.progressCheckMs ?? 10,
      restoreAheadBytes: opts.restoreAheadBytes ?? DEFAULT_RESTORE_AHEAD,
      readyTimeout: opts.readyTimeout ?? 10_000,
      prefixLength: opts.prefixLength ?? 24,
      checkpointing: opts.checkpointing ?? true,
    };
    this.restoreSlice = opts.restoreSlice ?? 16;
    const slice = opts.refillSliceBytes ?? 256 * 1024;
    this.refillSource = opts.app.objectSource && slice > 0 ? yieldingObjectSource(opts.app.objectSource, slice) : opts.app.objectSource;
    this.drain = new DrainForwarder(opts.stack, {
      idleMs: opts.drainIdleMs,
      onKeepClosed: (key) => {
        if (this.stopped) return;
        try {
          this.cluster.connectionClosed(key);
        } catch (e) {
          this.emit('warning', e);
        }
      },
      onAddressDrained: (ip, removed) => this.emit('drained', ip, removed),
      holds: (ip) => this.managed(ip),
    });
  }

  /** Listen on the service ports, follow the cluster's decisions, join the cluster. */
  async start(): Promise<this> {
    for (const port of this.o.ports) {
      const srv = this.stack.createServer({ allowHalfOpen: true }, (s: Socket) => this.accept(s));
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen(port, '0.0.0.0', () => resolve());
      });
      this.servers.push(srv);
    }
    // Addresses first (listener order), then connections.
    this.unmanage = manageAddresses(this.cluster, this.stack, { prefixLength: this.o.prefixLength, onError: (e) => this.emit('warning', e) });
    this.cluster.on('takeover', this.onTakeover);
    this.cluster.on('failback', this.onFailback);
    this.cluster.on('release', this.onRelease);
    this.cluster.on('snooped', this.onSnooped);
    this.cluster.on('drain-closed', this.onDrainClosed);
    this.cluster.on('drained', this.onDrained);
    this.cluster.start();
    this.arm();
    return this;
  }

  /** Connections served here, by key. */
  connections(): string[] {
    return [...this.byKey.keys()];
  }

  /**
   * Graceful shutdown: final synchronous checkpoints (whatever the policy), the IMPENDING_FAILURE
   * marker, and once the successor acknowledged (or timed out) this node goes silent: the stack is
   * crashed so the peers never see a FIN or RST from it. Resolves with whether every final
   * checkpoint was acknowledged.
   */
  async leave(reason = 'shutdown'): Promise<{ acked: boolean }> {
    const r = await this.cluster.leave(reason);
    this.stop();
    this.cluster.close();
    this.stack.crash();
    return r;
  }

  /** Stop tracking and timers (the stack and cluster are the caller's). */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.unmanage?.();
    this.cluster.off('takeover', this.onTakeover);
    this.cluster.off('failback', this.onFailback);
    this.cluster.off('release', this.onRelease);
    this.cluster.off('snooped', this.onSnooped);
    this.cluster.off('drain-closed', this.onDrainClosed);
    this.cluster.off('drained', this.onDrained);
    this.drain.clear();
  }

  // --- serving ----------------------------------------------------------------------------------

  private accept(s: Socket): void {
    this.stats.accepted++;
    this.track(s);
    this.app.handleConnection(s);
  }

  /** Whether `ip` is an address the cluster manages here. */
  private managed(ip: string): boolean {
    return this.cluster.core.ownershipInfo().held.some((h) => h.ip === ip);
  }

  private track(s: Socket): void {
    if (!this.o.checkpointing || this.stopped) return;
    const conn = engineConnOf(s);
    if (!conn) return;
    const ip = fmtIp(conn.localAddress);
    if (!this.managed(ip)) return;
    const key = `tcp:${ip}:${conn.localPort}-${fmtIp(conn.remoteAddress)}:${conn.remotePort}`;
    const t: Tracked = { socket: s, key, ip, port: conn.localPort, lastUna: conn.tcb.sndUna, pending: false, gone: false };
    this.conns.set(s, t);
    this.byKey.set(key, t);
    this.stats.tracked++;
    // One checkpoint per response: right after the application maps its body.
    const orig = (s as unknown as { mapObject?: Socket['mapObject'] }).mapObject;
    if (typeof orig === 'function') {
      (s as unknown as { mapObject: Socket['mapObject'] }).mapObject = (id, o) => {
        const seq = orig.call(s, id, o);
        this.soon(t);
        return seq;
      };
    }
    s.on('data', () => this.soon(t));
    // Progress on the send side (the application waits for 'drain' between chunks).
    s.on('drain', () => this.progress(t));
    s.once('close', () => this.untrack(t));
    this.soon(t);
  }

  private untrack(t: Tracked): void {
    if (this.conns.get(t.socket) !== t) return;
    this.conns.delete(t.socket);
    this.byKey.delete(t.key);
    this.stats.closed++;
    // A connection kept by failback 'drain': the drain table reports the close (once).
    if (!t.gone && !this.stopped && this.drain.keepClosed(t.key)) return;
    if (!t.gone && !this.stopped) {
      try {
        this.cluster.connectionClosed(t.key);
      } catch (e) {
        this.emit('warning', e);
      }
    }
  }

  /** Checkpoint `t` after the current synchronous step (coalesced). */
  private soon(t: Tracked): void {
    if (t.pending || this.stopped) return;
    t.pending = true;
    queueMicrotask(() => {
      t.pending = false;
      this.checkpointNow(t);
    });
  }

  private capture(t: Tracked): Uint8Array {
    const state = this.app.connectionState?.(t.socket) ?? undefined;
    const cp = t.socket.checkpoint({ mode: this.o.mode, app: { protocol: this.o.protocol, state: state as never } });
    t.lastUna = cp.tcp.sndUna;
    this.stats.checkpoints++;
    return encodeCheckpoint(cp, { key: this.o.key });
  }

  private checkpointNow(t: Tracked): void {
    if (this.stopped || this.conns.get(t.socket) !== t || t.gone) return;
    const conn = engineConnOf(t.socket);
    if (!conn || conn.removed) return;
    try {
      const sent = this.cluster.core.stats.checkpointsSent;
      // Probe now so an unsupported state is not registered (the source runs again at send time).
      const version = this.cluster.updateCheckpoint({ key: t.key, ip: t.ip, port: t.port }, () => {
        try {
          return this.capture(t);
        } catch (e) {
          this.stats.checkpointErrors++;
          throw e;
        }
      });
      // The cluster channel is datagrams: a checkpoint lost on the way (a full queue under load)
      // left the successor with an older replica, which a takeover then had to refuse as stale.
      // Waiting in whenReplicated makes the cluster resend it until the successor acknowledges it
      // (every ackRetransmitMs, up to ackTimeoutMs). Only when the policy sent it just now (no
      // out-of-policy send), only object-mapped checkpoints (a few hundred bytes: a 'full' one
      // may be megabytes, and resending it into a congested link would make things worse), and
      // bounded in number.
      if (this.o.mode === 'mapped' && this.cluster.core.stats.checkpointsSent !== sent && this.confirming < MAX_CONFIRMING) {
        this.confirming++;
        this.cluster.whenReplicated(t.key, version).then(
          () => this.confirming--,
          (e: { code?: string }) => {
            this.confirming--;
            if (e?.code === 'ETIMEDOUT') this.stats.unconfirmed++;
          },
        );
      }
    } catch (e) {
      this.stats.checkpointErrors++;
      this.emit('warning', e);
    }
  }

  /** Re-checkpoint `t` when the peer acknowledged `progressBytes` more since the last one. */
  private progress(t: Tracked): void {
    const c = engineConnOf(t.socket);
    if (!c || c.removed || t.pending) return;
    if (((c.tcb.sndUna - t.lastUna) >>> 0) >= this.o.progressBytes) this.soon(t);
  }

  /** Progress check: re-checkpoint connections the peer acknowledged `progressBytes` more of. */
  private arm(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimer(this.clock.now() + this.o.progressCheckMs, () => {
      this.timer = null;
      if (this.stopped) return;
      for (const t of this.conns.values()) this.progress(t);
      const now = this.clock.now();
      if (now >= this.nextDrainSweep) {
        this.nextDrainSweep = now + 100;
        this.drain.sweep(now);
      }
      this.arm();
    });
  }

  // --- takeover ---------------------------------------------------------------------------------

  private readonly onTakeover = (a: TakeoverAction): void => {
    // An address we were still draining is ours again: serve it fully.
    for (const x of a.addresses) this.drain.reclaim(x.ip);
    // Failback 'drain' on the returning node: the previous holder keeps these connections; send
    // their segments on to it instead of resetting them (drain.ts).
    // (Under 'shared-mac' the holder sees the frames itself: nothing to forward.)
    if (a.draining && a.arpPolicy === 'gratuitous-arp') {
      if (a.draining.mac) this.drain.forward(a.draining.holder, a.draining.mac, a.draining.keys, this.clock.now());
      else this.emit('warning', new Error(`failback drain from ${a.draining.holder}: no MAC to forward its ${a.draining.keys.length} connection(s) to`));
    }
    this.restoreAll(a.checkpoints);
    // Connections the failed node never checkpointed: resume from snooped state when we can.
    if (this.snoopApp && a.snooped.length > 0) {
      const have = new Set(a.checkpoints.map((e) => e.key));
      for (const st of a.snooped) if (!have.has(st.key)) this.maybeRestoreSnooped(st);
    }
    this.emit('takeover', a);
  };

  /**
   * Restore `list`, `restoreSlice` per turn of the event loop (deterministic: by count, not by
   * time). Until its turn, a connection is held: its segments are dropped, not reset.
   */
  private restoreAll(list: ReplicaEntry[]): void {
    const n = this.restoreSlice > 0 ? this.restoreSlice : Infinity;
    if (list.length <= n) {
      for (const e of list) this.restoreOne(e);
      return;
    }
    const queue = list.slice();
    for (const e of queue.slice(n)) {
      this.drain.hold(e.key);
      this.restoringKeys.add(e.key); // no snooped restore of it meanwhile
    }
    const step = (): void => {
      for (let i = 0; i < n && queue.length > 0; i++) {
        const e = queue.shift()!;
        this.drain.unhold(e.key);
        this.restoringKeys.delete(e.key);
        if (!this.stopped) this.restoreOne(e);
      }
      if (queue.length > 0) setImmediate(step);
    };
    step();
  }

  /** Snooped states sent by another node's snooper (SNOOP_STATE) after our claim. */
  private readonly onSnooped = (a: SnoopedAction): void => {
    if (!this.snoopApp || this.stopped) return;
    for (const st of a.states) {
      const held = this.cluster.core.ownershipInfo().held.some((h) => h.ip === st.server.ip && h.ports.some((r) => st.server.port >= r.from && st.server.port <= r.to));
      if (held) this.maybeRestoreSnooped(st);
    }
  };

  /** Restore `st` unless a connection with its key is already served, restoring or restored here. */
  private maybeRestoreSnooped(st: SnoopedState): void {
    if (!this.snoopApp || this.byKey.has(st.key) || this.restoringKeys.has(st.key)) return;
    this.restoringKeys.add(st.key);
    // The replay may take event-loop turns (a file response: fs I/O); until the restored socket
    // exists, drop (do not reset) the client's segments (RFC 9293 §3.10.7.1 would answer RST).
    this.drain.hold(st.key);
    void this.restoreSnooped(st, this.snoopApp).then((s) => {
      this.drain.unhold(st.key);
      if (!s) this.restoringKeys.delete(st.key);
      else s.once('close', () => this.restoringKeys.delete(st.key));
    });
  }

  /** Resume one snooped connection (no replicated checkpoint) by replay into the deterministic app. */
  private async restoreSnooped(st: SnoopedState, app: DeterministicApp): Promise<Socket | null> {
    let s: Socket;
    try {
      if (!this.stack.addresses().some((x) => x.split('/')[0] === st.server.ip)) {
        throw new Error(`snooped ${st.key}: address ${st.server.ip} not held here`);
      }
      ({ socket: s } = await takeoverFromSnoop(this.stack, st, app, {
        readyTimeout: this.o.readyTimeout,
        nodeId: this.cluster.core.nodeId,
        maxQueuedBytes: this.snoopMaxQueued,
      }));
    } catch (err) {
      this.stats.restoreErrors++;
      this.emit('restore-error', st.key, err);
      return null;
    }
    this.stats.restored++;
    this.stats.snoopRestored++;
    this.unready.add(s);
    s.once('ready', () => {
      this.unready.delete(s);
      this.stats.resumed++;
      this.track(s);
      this.emit('resumed', st.key, s);
    });
    s.once('close', () => this.unready.delete(s));
    s.on('error', (err) => this.emit('connection-error', st.key, err));
    this.emit('restored', st.key, s);
    return s;
  }

  /** Restore one replicated checkpoint as an unready socket and resume it on 'ready'. */
  restoreOne(e: ReplicaEntry | { key: string; bytes: Uint8Array }): Socket | null {
    let cp: TcpCheckpoint;
    try {
      const d = decodeCheckpoint(e.bytes, { key: this.o.key });
      if (d.kind !== 'tcp') throw new Error(`checkpoint ${e.key}: kind ${d.kind} not handled by HaNode`);
      cp = d;
    } catch (err) {
      this.stats.restoreErrors++;
      this.emit('restore-error', e.key, err);
      return null;
    }
    widenForTakeover(cp, this.o.restoreAheadBytes);
    const sendEndSeq = sendEndOf(cp);
    const state = cp.app?.state;
    let s: Socket;
    try {
      if (!this.stack.addresses().some((x) => x.split('/')[0] === fmtIp(cp.ip.localAddress))) {
        // A connection on an address this node does not hold (yet): not ours to restore.
        throw new Error(`checkpoint ${e.key}: address ${fmtIp(cp.ip.localAddress)} not held here`);
      }
      s = this.stack.restore(cp, {
        objectSource: this.refillSource,
        readyTimeout: this.o.readyTimeout,
        onReady: (sock) => {
          this.unready.delete(sock);
          this.stats.resumed++;
          this.track(sock);
          if (state !== undefined && this.app.resume) this.app.resume(sock, state, { sendEndSeq });
          else this.app.handleConnection(sock);
          this.emit('resumed', e.key, sock);
        },
      });
    } catch (err) {
      this.stats.restoreErrors++;
      this.emit('restore-error', e.key, err);
      return null;
    }
    this.stats.restored++;
    this.unready.add(s);
    this.restoringKeys.add(e.key);
    s.once('close', () => {
      this.unready.delete(s);
      this.restoringKeys.delete(e.key);
    });
    s.on('error', (err) => this.emit('connection-error', e.key, err));
    this.emit('restored', e.key, s);
    return s;
  }

  // --- failback ---------------------------------------------------------------------------------

  private readonly onFailback = (a: FailbackAction): void => {
    const keys = a.connections.filter((k) => this.byKey.has(k));
    if (a.mode === 'drain') {
      // Every live connection on the given-back slices keeps running here: tracked ones, restores
      // still waiting for their peer, and any the cluster never saw.
      const drain = new Set(keys);
      for (const c of this.stack.tcp.connections()) {
        if (c.removed || c.state === 'LISTEN' || c.state === 'CLOSED' || c.state === 'TIME_WAIT') continue;
        const ip = fmtIp(c.localAddress);
        if (!a.addresses.some((e) => e.ip === ip && portInRanges(c.localPort, e.ports))) continue;
        drain.add(`tcp:${ip}:${c.localPort}-${fmtIp(c.remoteAddress)}:${c.remotePort}`);
      }
      this.cluster.completeFailback(a.requestId, { draining: [...drain], drainMac: this.stack.mac });
      return;
    }
    const migrated: { key: string; ip: string; port: number; bytes: Uint8Array }[] = [];
    for (const k of keys) {
      const t = this.byKey.get(k)!;
      try {
        const bytes = this.capture(t);
        migrated.push({ key: k, ip: t.ip, port: t.port, bytes });
        t.gone = true;
      } catch (e) {
        this.emit('warning', e);
      }
    }
    this.cluster.completeFailback(a.requestId, { migrated });
    // Forget the migrated connections without a word to the peers: the returning node owns them now.
    for (const m of migrated) {
      const t = this.byKey.get(m.key)!;
      const c = engineConnOf(t.socket);
      if (c && !c.removed) this.stack.tcp._forget(c);
      this.conns.delete(t.socket);
      this.byKey.delete(t.key);
      t.socket.destroy();
      this.stats.migratedOut++;
    }
  };

  /** Failback 'drain' (returning node): the holder reported one kept connection closed. */
  private readonly onDrainClosed = (a: { holder: string; key: string }): void => {
    this.drain.closed(a.key);
  };

  /**
   * Failback 'drain' (returning node): the holder has nothing left — all closed, or it died; then
   * its replicas of the connections still open come along and are restored here, where the address
   * now is (as in a takeover).
   */
  private readonly onDrained = (a: { holder: string; orphaned?: ReplicaEntry[] }): void => {
    this.drain.holderDone(a.holder, true);
    if (a.orphaned && a.orphaned.length > 0 && !this.stopped) this.restoreAll(a.orphaned);
  };

  /** Failback 'drain' (holder): keep serving the connections on the given-back addresses. */
  private keepDraining(a: ReleaseAction): void {
    const wanted = new Set(a.draining);
    const live = new Map<string, { removed: boolean }>();
    for (const c of this.stack.tcp.connections()) {
      const key = `tcp:${fmtIp(c.localAddress)}:${c.localPort}-${fmtIp(c.remoteAddress)}:${c.remotePort}`;
      if (wanted.has(key)) live.set(key, c);
    }
    for (const x of a.addresses) {
      const entries: KeepEntry[] = [];
      for (const key of a.draining) {
        const t = parseTcpKey(key);
        const c = live.get(key);
        if (!t || fmtIp(t.la) !== x.ip || !c) continue;
        entries.push({ key, t, reported: false, gone: () => c.removed });
      }
      this.drain.keepServing(x.ip, x.released, x.remaining.length === 0, entries);
    }
    // A fresh replica of each at the returning node (it restores them should this node die).
    for (const key of a.draining) {
      const t = this.byKey.get(key);
      if (t) this.soon(t);
    }
  }

  private readonly onRelease = (a: ReleaseAction): void => {
    if (a.reason === 'failback') {
      if (a.mode === 'drain') this.keepDraining(a);
      return;
    }
    // Connections on released slices of a lost conflict: forget them (the winner serves the address).
    for (const x of a.addresses) {
      const ipn = parseIpNum(x.ip);
      for (const t of [...this.conns.values()]) {
        const c = engineConnOf(t.socket);
        if (!c || c.localAddress !== ipn) continue;
        if (!x.released.some((r) => t.port >= r.from && t.port <= r.to)) continue;
        t.gone = true;
        if (!c.removed) this.stack.tcp._forget(c);
        this.conns.delete(t.socket);
        this.byKey.delete(t.key);
        t.socket.destroy();
      }
      // Restores still waiting for their peer's ACK on the released ports go too.
      for (const s of [...this.unready]) {
        const c = engineConnOf(s);
        if (!c || c.localAddress !== ipn || !x.released.some((r) => c.localPort >= r.from && c.localPort <= r.to)) continue;
        this.unready.delete(s);
        if (!c.removed) this.stack.tcp._forget(c);
        s.destroy();
      }
    }
  };
}
