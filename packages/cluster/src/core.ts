/**
 * The cluster protocol core, sans-IO. Read this first:
 *
 * - Inputs: `receive(bytes, now)` for every datagram from the cluster transport, `poll(now)` when
 *   `pollAt()` is due, and API calls (`start`, `leave`, `updateCheckpoint`, ...), each with `now`
 *   passed in or taken from the last input. Outputs: `takeOutbound()` (datagrams to multicast)
 *   and `takeActions()` (what the integration layer must do: take over addresses, release them,
 *   hand connections back, ...). The core never reads a clock and never touches a socket.
 * - Membership: every authenticated message refreshes its sender's liveness; heartbeats keep it
 *   fresh. Silence for 1.5 intervals makes a peer 'suspect', for `missedBeats` intervals 'dead'.
 *   IMPENDING_FAILURE makes it 'left' at once; a higher boot id means the old incarnation died.
 * - Ownership: `table` maps each IP to the nodes holding port slices of it, each at an epoch. A
 *   claim wins over an overlapping holding with a lower epoch; equal epochs go to the lower node
 *   id. The loser releases (split-brain model in docs/cluster.md).
 * - Replication: local connections' checkpoints (opaque bytes) go to the successors that would
 *   take the connection over; replicas keep the latest version per connection in a bounded store.
 */
import { err } from '@hastack/stack';
import {
  decodeBody,
  encodeMessage,
  envelopeOverhead,
  FLAG_INNER,
  parseEnvelope,
  ReplayWindow,
  verifyMac,
  type AddressEntry,
  type ClaimReason,
  type ClusterMessage,
  type Envelope,
} from './codec.js';
import {
  ALL_PORTS,
  intersectPorts,
  normalizePorts,
  portInRanges,
  portsOverlap,
  subtractPorts,
  unionPorts,
  type PortRange,
} from './ports.js';
import type { ConnectionSnooper, SnoopedState } from './snooper.js';
import { parseConnectionKey } from './config.js';
import type {
  AddressSpec,
  Application,
  ArpPolicy,
  FailbackMode,
  FailoverPolicy,
  HeldAddress,
  OwnershipInfo,
  ReplicaEntry,
} from './types.js';

export type ReplicationPolicy = 'every-update' | 'schedule' | 'events' | 'impending-failure-only';

export interface ReplicationOptions {
  policy?: ReplicationPolicy;
  /** 'schedule': flush dirty checkpoints every this many ms. Default 100. */
  intervalMs?: number;
  /** How many successors receive each checkpoint. Default 1. */
  replicas?: number;
  /** Default timeout of `whenReplicated`. Default 250 ms. */
  ackTimeoutMs?: number;
  /** While someone waits in `whenReplicated`, resend the checkpoint this often. Default 50 ms. */
  ackRetransmitMs?: number;
  /** Replica store bound: entries. Default 65536. */
  maxEntries?: number;
  /** Replica store bound: bytes. Default 256 MiB. */
  maxBytes?: number;
}

export interface ClusterCoreOptions {
  nodeId: string;
  /** Must grow across restarts of the same node (e.g. wall-clock ms at start). */
  bootId: number;
  /** Cluster key for HMAC-SHA256, at least 16 bytes. */
  key: Uint8Array;
  home?: AddressSpec[];
  failover?: FailoverPolicy;
  applications?: Application[];
  arpPolicy?: ArpPolicy;
  protocols?: string[];
  /** Default 50 ms. */
  heartbeatIntervalMs?: number;
  /** Silence of this many intervals declares a peer dead. Default 4. */
  missedBeats?: number;
  /** How long a booting node listens before claiming its addresses. Default 3 intervals. */
  joinWindowMs?: number;
  replication?: ReplicationOptions;
  /** Largest datagram; bigger messages are fragmented at the message layer. Default 1400. */
  maxDatagram?: number;
  /** Largest reassembled message. Default 8 MiB. */
  maxMessageBytes?: number;
  /** Default timeout for `requestConnection`. Default 500 ms. */
  requestTimeoutMs?: number;
  /** A snooper whose states are sent to whoever takes over a failed node. */
  snooper?: ConnectionSnooper;
}

export type PeerStatus = 'alive' | 'suspect' | 'dead' | 'left';

/** A peer as this node sees it. */
export interface PeerView {
  nodeId: string;
  bootId: number;
  status: PeerStatus;
  lastHeard: number;
  info: OwnershipInfo | null;
}

/** One holder of (a port slice of) an address. */
export interface Holding extends HeldAddress {
  node: string;
}

export interface TakeoverAction {
  type: 'takeover';
  reason: ClaimReason;
  /** The node whose addresses are taken (null for a boot claim). */
  failedNode: string | null;
  /** For failback: the node that handed the addresses back. */
  from: string | null;
  addresses: AddressEntry[];
  /** Union of the ports taken over. */
  portRanges: PortRange[];
  /** Highest epoch among the addresses. */
  epoch: number;
  arpPolicy: ArpPolicy;
  /** True when only some ports of an address are taken (port-range policy): ARP needs care. */
  partial: boolean;
  /** Replicated checkpoints of the connections on the taken slices (remove from the store). */
  checkpoints: ReplicaEntry[];
  /** Snooped states held locally for the taken slices. */
  snooped: SnoopedState[];
  /** Final-checkpoint keys announced by IMPENDING_FAILURE (or migrate keys) not received. */
  missing: string[];
  /**
   * Failback 'drain': connections the previous holder keeps until they close, and the holder's MAC
   * (when it sent one) to forward their frames to.
   */
  draining: { holder: string; keys: string[]; mac?: string } | null;
}

export interface ReleaseAction {
  type: 'release';
  reason: 'conflict' | 'superseded' | 'failback';
  winner: string | null;
  addresses: { ip: string; mac: string; released: PortRange[]; remaining: PortRange[]; epoch: number }[];
  /** For failback: the mode, and the connections kept here until they close ('drain'). */
  mode: FailbackMode | null;
  draining: string[];
}

export interface FailbackAction {
  type: 'failback';
  requestId: number;
  /** The returning node. */
  to: string;
  mode: FailbackMode;
  addresses: AddressEntry[];
  /** Local connections (registered with updateCheckpoint) on those addresses. */
  connections: string[];
}

export type ClusterAction =
  | { type: 'peer'; node: string; status: PeerStatus; reason: string }
  | TakeoverAction
  | ReleaseAction
  | FailbackAction
  | { type: 'snooped'; from: string; failedNode: string; states: SnoopedState[] }
  | { type: 'connection-request'; requestId: number; from: string; key: string }
  /**
   * Failback 'drain' on the returning node: the holder has nothing left to drain — all its kept
   * connections closed, or it died. In the second case `orphaned` holds its latest replicas of the
   * connections still open (removed from the store): restore them here, where the address is.
   */
  | { type: 'drained'; holder: string; orphaned?: ReplicaEntry[] }
  /** Failback 'drain': one connection the previous holder kept has closed (its CHECKPOINT_DROP). */
  | { type: 'drain-closed'; holder: string; key: string };

export interface ClusterStats {
  sent: number;
  sentBytes: number;
  received: number;
  receivedBytes: number;
  rxByType: Record<string, number>;
  dropped: {
    forged: number;
    replayed: number;
    stale: number;
    malformed: number;
    version: number;
    self: number;
    tooLarge: number;
  };
  notForMe: number;
  peersDeclaredDead: number;
  /** Polls that came more than two intervals late (this node was not running). */
  localStalls: number;
  takeovers: number;
  releases: number;
  conflicts: number;
  checkpointsSent: number;
  checkpointsStored: number;
  checkpointsIgnoredOld: number;
  checkpointsEvicted: number;
  checkpointsDropped: number;
  acksSent: number;
  acksReceived: number;
  replicationTimeouts: number;
  checkpointEvents: Record<string, number>;
  fragmentsSent: number;
  messagesReassembled: number;
  reassemblyDrops: number;
}

interface PeerState extends PeerView {
  window: ReplayWindow;
  lastSolicit: number;
  final: { key: string; version: number }[] | null;
}

interface LocalConn {
  key: string;
  ip: string;
  port: number;
  version: number;
  source: Uint8Array | (() => Uint8Array);
  dirty: boolean;
  sentVersion: number;
  lastSentAt: number;
  acks: Map<string, number>;
}

interface Waiter {
  key: string;
  version: number;
  deadline: number;
  resolve: () => void;
  reject: (e: Error) => void;
}

interface Reassembly {
  sender: string;
  count: number;
  got: number;
  bytes: number;
  chunks: (Uint8Array | undefined)[];
  expiresAt: number;
}

interface PendingFailback {
  requestId: number;
  holder: string;
  entries: AddressEntry[];
  mode: FailbackMode;
  nextRetry: number;
  tries: number;
}

const MIN_KEY_LEN = 16;

export class ClusterCore {
  readonly nodeId: string;
  readonly bootId: number;
  readonly stats: ClusterStats = {
    sent: 0,
    sentBytes: 0,
    received: 0,
    receivedBytes: 0,
    rxByType: {},
    dropped: { forged: 0, replayed: 0, stale: 0, malformed: 0, version: 0, self: 0, tooLarge: 0 },
    notForMe: 0,
    peersDeclaredDead: 0,
    localStalls: 0,
    takeovers: 0,
    releases: 0,
    conflicts: 0,
    checkpointsSent: 0,
    checkpointsStored: 0,
    checkpointsIgnoredOld: 0,
    checkpointsEvicted: 0,
    checkpointsDropped: 0,
    acksSent: 0,
    acksReceived: 0,
    replicationTimeouts: 0,
    checkpointEvents: {},
    fragmentsSent: 0,
    messagesReassembled: 0,
    reassemblyDrops: 0,
  };

  private readonly key: Uint8Array;
  private readonly home: AddressSpec[];
  private readonly failover: FailoverPolicy;
  private applications: Application[];
  private readonly arpPolicy: ArpPolicy;
  private readonly protocols: string[];
  private readonly interval: number;
  private readonly missedBeats: number;
  private readonly joinWindow: number;
  private readonly repl: Required<ReplicationOptions>;
  private readonly maxDatagram: number;
  private readonly maxMessageBytes: number;
  private readonly requestTimeout: number;
  private readonly snooper: ConnectionSnooper | null;

  private state: 'idle' | 'joining' | 'active' | 'leaving' | 'stopped' = 'idle';
  private now = 0;
  private lastPoll = 0;
  private counter = 0;
  private infoVersion = 0;
  private nextHeartbeat = Infinity;
  private joinEnds = Infinity;
  private nextFlush = Infinity;
  private announceDue = false;
  private snoopSig = '';
  private outbox: Uint8Array[] = [];
  private actions: ClusterAction[] = [];
  private readonly peers = new Map<string, PeerState>();
  private readonly table = new Map<string, Map<string, Holding>>();
  private readonly local = new Map<string, LocalConn>();
  private waiters: Waiter[] = [];
  /** Replica store, keyed origin + '\0' + key; Map order = least recently updated first. */
  private readonly replicas = new Map<string, ReplicaEntry>();
  private replicaBytes = 0;
  private readonly reassembly = new Map<string, Reassembly>();
  private reassemblyBytes = 0;
  private fragmentId = 0;
  private nextRequestId = 1;
  private readonly requests = new Map<number, { deadline: number; resolve: (b: Uint8Array | null) => void }>();
  private readonly pendingFailbacks = new Map<number, PendingFailback>();
  private readonly givingBack = new Map<number, { to: string; entries: AddressEntry[]; mode: FailbackMode }>();
  /** Failback 'drain' on the returning side: keys still held by the previous holder. */
  private readonly draining = new Map<string, Set<string>>();
  /** Failback 'drain' on the holder: kept connection key → the node that took the address back (their replica target). */
  private readonly drainingTo = new Map<string, string>();

  constructor(opts: ClusterCoreOptions) {
    if (typeof opts.nodeId !== 'string' || opts.nodeId.length === 0 || Buffer.byteLength(opts.nodeId) > 64) {
      throw err('ERR_CLUSTER_CONFIG', 'nodeId must be a non-empty string of at most 64 bytes');
    }
    if (!Number.isSafeInteger(opts.bootId) || opts.bootId < 0) throw err('ERR_CLUSTER_CONFIG', 'bootId must be a non-negative safe integer');
    if (!(opts.key instanceof Uint8Array) || opts.key.length < MIN_KEY_LEN) {
      throw err('ERR_CLUSTER_AUTH', `cluster key must be at least ${MIN_KEY_LEN} bytes`);
    }
    this.nodeId = opts.nodeId;
    this.bootId = opts.bootId;
    this.key = Uint8Array.from(opts.key);
    this.home = (opts.home ?? []).map((a) => ({ ip: a.ip, mac: a.mac.toLowerCase(), ports: normalizePorts(a.ports ?? ALL_PORTS) }));
    this.failover = opts.failover ?? { successors: [] };
    this.applications = opts.applications ?? [];
    this.arpPolicy = opts.arpPolicy ?? 'gratuitous-arp';
    this.protocols = opts.protocols ?? ['tcp'];
    this.interval = opts.heartbeatIntervalMs ?? 50;
    this.missedBeats = opts.missedBeats ?? 4;
    if (!(this.interval > 0) || !(this.missedBeats >= 2)) throw err('ERR_CLUSTER_CONFIG', 'heartbeatIntervalMs must be > 0 and missedBeats >= 2');
    this.joinWindow = opts.joinWindowMs ?? 3 * this.interval;
    const r = opts.replication ?? {};
    this.repl = {
      policy: r.policy ?? 'every-update',
      intervalMs: r.intervalMs ?? 100,
      replicas: r.replicas ?? 1,
      ackTimeoutMs: r.ackTimeoutMs ?? 250,
      ackRetransmitMs: r.ackRetransmitMs ?? 50,
      maxEntries: r.maxEntries ?? 65536,
      maxBytes: r.maxBytes ?? 256 * 1024 * 1024,
    };
    this.maxDatagram = opts.maxDatagram ?? 1400;
    if (this.maxDatagram < 512) throw err('ERR_CLUSTER_CONFIG', 'maxDatagram must be at least 512');
    this.maxMessageBytes = opts.maxMessageBytes ?? 8 * 1024 * 1024;
    this.requestTimeout = opts.requestTimeoutMs ?? 500;
    this.snooper = opts.snooper ?? null;
  }

  // ---- lifecycle ------------------------------------------------------------------------------

  /** Boot: announce, solicit everyone, listen for `joinWindowMs`, then claim or ask for failback. */
  start(now: number): void {
    if (this.state !== 'idle') throw err('ERR_CLUSTER_CONFIG', 'cluster node already started');
    this.now = now;
    this.state = 'joining';
    this.lastPoll = now;
    this.infoVersion++;
    this.send({ type: 'announce', info: this.ownershipInfo(), reply: false });
    this.send({ type: 'solicit', target: null });
    this.joinEnds = now + this.joinWindow;
    this.nextHeartbeat = now + this.interval;
    if (this.repl.policy === 'schedule') this.nextFlush = now + this.repl.intervalMs;
  }

  /**
   * Graceful shutdown (seed 004 claims 5, 6, 16): one last synchronous checkpoint of every local
   * connection to its successors, then IMPENDING_FAILURE listing them (the handoff marker), so
   * the successor takes over at once. Resolves when every final checkpoint is acknowledged, or
   * with `acked: false` after the ack timeout. Heartbeats stop.
   */
  leave(now: number, reason = 'shutdown'): Promise<{ acked: boolean }> {
    this.now = now;
    if (this.state === 'stopped' || this.state === 'leaving') return Promise.resolve({ acked: false });
    this.state = 'leaving';
    this.nextHeartbeat = Infinity;
    const final: { key: string; version: number }[] = [];
    const waits: Promise<void>[] = [];
    for (const lc of this.local.values()) {
      this.sendCheckpoint(lc, { final: true });
      final.push({ key: lc.key, version: lc.version });
      waits.push(this.whenReplicated(lc.key, lc.version));
    }
    this.infoVersion++;
    this.send({ type: 'impending-failure', reason, final });
    return Promise.all(waits).then(
      () => ({ acked: true }),
      () => ({ acked: false }),
    );
  }

  /** Stop everything: no more output; pending promises are rejected. */
  stop(): void {
    this.state = 'stopped';
    this.nextHeartbeat = this.joinEnds = this.nextFlush = Infinity;
    const e = err('ERR_STACK_CLOSED', 'cluster node stopped');
    for (const w of this.waiters) w.reject(e);
    this.waiters = [];
    for (const r of this.requests.values()) r.resolve(null);
    this.requests.clear();
  }

  /** The current lifecycle state. */
  get lifecycle(): string {
    return this.state;
  }

  // ---- I/O surface ----------------------------------------------------------------------------

  /** Datagrams to multicast, in order. */
  takeOutbound(): Uint8Array[] {
    const o = this.outbox;
    this.outbox = [];
    return o;
  }

  /** Actions for the integration layer, in order. */
  takeActions(): ClusterAction[] {
    const a = this.actions;
    this.actions = [];
    return a;
  }

  /** When a silent peer becomes 'suspect' (1.5 heartbeat intervals after it was last heard). */
  private suspectAt(p: PeerState): number {
    return p.lastHeard + 1.5 * this.interval;
  }

  /** When a silent peer is declared dead (`missedBeats` intervals after it was last heard). */
  private deadAt(p: PeerState): number {
    return p.lastHeard + this.missedBeats * this.interval;
  }

  /** The earliest time `poll` has work to do (Infinity when none). */
  pollAt(): number {
    if (this.state === 'stopped' || this.state === 'idle') return Infinity;
    let t = Math.min(this.nextHeartbeat, this.joinEnds, this.nextFlush);
    for (const p of this.peers.values()) {
      if (p.status === 'alive') t = Math.min(t, this.suspectAt(p));
      else if (p.status === 'suspect') t = Math.min(t, this.deadAt(p));
    }
    for (const w of this.waiters) {
      t = Math.min(t, w.deadline);
      const lc = this.local.get(w.key);
      if (lc) t = Math.min(t, lc.lastSentAt + this.repl.ackRetransmitMs);
    }
    for (const r of this.requests.values()) t = Math.min(t, r.deadline);
    for (const f of this.pendingFailbacks.values()) t = Math.min(t, f.nextRetry);
    for (const r of this.reassembly.values()) t = Math.min(t, r.expiresAt);
    return t;
  }

  /** Run timers due at `now`. */
  poll(now: number): void {
    this.now = now;
    if (this.state === 'stopped' || this.state === 'idle') return;
    // A local stall (GC pause, blocked event loop): the heartbeat timer guarantees a poll at least
    // every interval, so a longer gap means *we* were not running and the peers' datagrams are
    // still queued unread. Give every peer one more interval instead of declaring it dead.
    if (now - this.lastPoll > 2 * this.interval) {
      this.stats.localStalls++;
      for (const p of this.peers.values()) {
        if (p.status === 'alive' || p.status === 'suspect') p.lastHeard = Math.max(p.lastHeard, now - this.interval);
      }
    }
    this.lastPoll = now;
    // Failure detection (checked before sending our own beat).
    for (const p of [...this.peers.values()]) {
      if (p.status !== 'alive' && p.status !== 'suspect') continue;
      const silent = now - p.lastHeard;
      // Compare against the very deadline pollAt() returned (same arithmetic): with fractional
      // times `now - lastHeard` can come out a hair below the threshold at that deadline
      // (59.99999999999999), and the core would ask for the same instant forever.
      if (now >= this.deadAt(p)) this.peerFailed(p, 'failure');
      else if (p.status === 'alive' && now >= this.suspectAt(p)) {
        p.status = 'suspect';
        this.actions.push({ type: 'peer', node: p.nodeId, status: 'suspect', reason: `silent ${silent} ms` });
      }
    }
    if (now >= this.joinEnds) {
      this.joinEnds = Infinity;
      this.finishJoin();
    }
    if (now >= this.nextHeartbeat) {
      this.send({ type: 'heartbeat', infoVersion: this.infoVersion });
      this.nextHeartbeat = Math.max(this.nextHeartbeat + this.interval, now + this.interval / 2);
    }
    if (now >= this.nextFlush) {
      for (const lc of this.local.values()) if (lc.dirty) this.sendCheckpoint(lc, {});
      this.nextFlush = Math.max(this.nextFlush + this.repl.intervalMs, now + 1);
    }
    // ackAfterReplica: resend while someone waits; give up at the deadline.
    if (this.waiters.length > 0) {
      const keep: Waiter[] = [];
      for (const w of this.waiters) {
        if (now >= w.deadline) {
          this.stats.replicationTimeouts++;
          w.reject(err('ETIMEDOUT', `checkpoint ${w.key} v${w.version} not acknowledged by its replicas in time`));
          continue;
        }
        keep.push(w);
      }
      this.waiters = keep;
      for (const w of keep) {
        const lc = this.local.get(w.key);
        if (lc && now >= lc.lastSentAt + this.repl.ackRetransmitMs) this.sendCheckpoint(lc, {});
      }
    }
    for (const [id, r] of this.requests) {
      if (now >= r.deadline) {
        this.requests.delete(id);
        r.resolve(null);
      }
    }
    for (const f of this.pendingFailbacks.values()) {
      if (now < f.nextRetry) continue;
      if (f.tries >= 5) {
        this.pendingFailbacks.delete(f.requestId);
        continue;
      }
      f.tries++;
      f.nextRetry = now + 2 * this.interval;
      this.send({ type: 'failback-request', to: f.holder, requestId: f.requestId, mode: f.mode, entries: f.entries });
    }
    for (const [id, r] of this.reassembly) {
      if (now >= r.expiresAt) {
        this.stats.reassemblyDrops++;
        this.dropReassembly(id);
      }
    }
    this.flushAnnounce();
  }

  /** Handle one datagram from the transport. Never throws on bad input: it counts and drops. */
  receive(bytes: Uint8Array, now: number): void {
    this.now = now;
    this.stats.received++;
    this.stats.receivedBytes += bytes.length;
    if (this.state === 'stopped' || this.state === 'idle') return;
    this.receiveInner(bytes, false, null);
    this.flushAnnounce();
  }

  private receiveInner(bytes: Uint8Array, inner: boolean, fragmentSender: string | null): void {
    const env = parseEnvelope(bytes);
    if (env === 'malformed') {
      this.stats.dropped.malformed++;
      return;
    }
    if (env === 'version' || env.version !== 1) {
      this.stats.dropped.version++;
      return;
    }
    if (!verifyMac(this.key, bytes, env)) {
      this.stats.dropped.forged++;
      return;
    }
    if (env.nodeId === this.nodeId) {
      this.stats.dropped.self++;
      return;
    }
    const isInner = (env.flags & FLAG_INNER) !== 0;
    if (isInner !== inner || (inner && env.nodeId !== fragmentSender)) {
      // An inner message lifted out of its fragments and sent alone is a replay attempt.
      this.stats.dropped.malformed++;
      return;
    }
    let peer = this.peers.get(env.nodeId);
    if (!inner) {
      const window = peer?.window ?? new ReplayWindow();
      if (window.check(env.bootId, env.counter) !== 'ok') {
        this.stats.dropped.replayed++;
        return;
      }
      if (!peer) peer = this.addPeer(env.nodeId, env.bootId, window);
    }
    if (!peer) {
      this.stats.dropped.malformed++;
      return;
    }
    const msg = decodeBody(bytes, env);
    if (msg === 'malformed') {
      this.stats.dropped.malformed++;
      return;
    }
    this.stats.rxByType[msg.type] = (this.stats.rxByType[msg.type] ?? 0) + 1;
    this.refreshPeer(peer, env);
    this.handle(peer, env, msg);
  }

  // ---- membership -----------------------------------------------------------------------------

  private addPeer(nodeId: string, bootId: number, window: ReplayWindow): PeerState {
    const p: PeerState = { nodeId, bootId, status: 'alive', lastHeard: this.now, info: null, window, lastSolicit: -Infinity, final: null };
    this.peers.set(nodeId, p);
    this.actions.push({ type: 'peer', node: nodeId, status: 'alive', reason: 'discovered' });
    return p;
  }

  private refreshPeer(p: PeerState, env: Envelope): void {
    if (env.bootId > p.bootId) {
      // A new incarnation: the old one failed (its connections are gone with its process).
      if (p.status === 'alive' || p.status === 'suspect') this.peerFailed(p, 'reboot');
      p.bootId = env.bootId;
      p.info = null;
      p.final = null;
      p.status = 'alive';
      this.actions.push({ type: 'peer', node: p.nodeId, status: 'alive', reason: 'rejoined' });
      this.announceDue = true;
    } else if (p.status === 'dead') {
      // Same incarnation heard again after we declared it dead: a partition healed. Exchange
      // ownership so overlapping claims get resolved (higher epoch wins).
      p.status = 'alive';
      this.actions.push({ type: 'peer', node: p.nodeId, status: 'alive', reason: 'partition healed' });
      this.announceDue = true;
      this.solicit(p);
    } else if (p.status === 'suspect') {
      p.status = 'alive';
      this.actions.push({ type: 'peer', node: p.nodeId, status: 'alive', reason: 'heard again' });
    }
    p.lastHeard = this.now;
  }

  private solicit(p: PeerState): void {
    if (this.now - p.lastSolicit < this.interval) return;
    p.lastSolicit = this.now;
    this.send({ type: 'solicit', target: p.nodeId });
  }

  /** Peers as this node sees them. */
  peerViews(): PeerView[] {
    return [...this.peers.values()].map((p) => ({ nodeId: p.nodeId, bootId: p.bootId, status: p.status, lastHeard: p.lastHeard, info: p.info }));
  }

  /** One peer's status, or undefined. */
  peerStatus(nodeId: string): PeerStatus | undefined {
    return this.peers.get(nodeId)?.status;
  }

  private isEligible(nodeId: string): boolean {
    if (nodeId === this.nodeId) return this.state === 'active' || this.state === 'joining';
    const p = this.peers.get(nodeId);
    return !!p && (p.status === 'alive' || p.status === 'suspect') && p.info?.state !== 'leaving';
  }

  // ---- ownership ------------------------------------------------------------------------------

  /** This node's ownership information (seed 001 claim 3). */
  ownershipInfo(): OwnershipInfo {
    const held = this.heldBy(this.nodeId).map(({ node: _n, ...h }) => h);
    let ports: PortRange[] = [];
    for (const h of held) ports = unionPorts(ports, h.ports);
    const macs = [...new Set(held.map((h) => h.mac))];
    return {
      nodeId: this.nodeId,
      bootId: this.bootId,
      version: this.infoVersion,
      state: this.state === 'leaving' || this.state === 'stopped' ? 'leaving' : this.state === 'joining' ? 'joining' : 'active',
      failover: this.failover,
      home: this.home,
      held,
      portRanges: ports,
      applications: this.applications,
      arpPolicy: this.arpPolicy,
      protocols: this.protocols,
      macs,
    };
  }

  /** Everything this node believes about who holds what. */
  ownershipTable(): Holding[] {
    const out: Holding[] = [];
    for (const m of this.table.values()) for (const h of m.values()) out.push({ ...h, ports: h.ports.map((r) => ({ ...r })) });
    return out;
  }

  /** Holders of `ip` (optionally only those serving `port`). */
  holdersOf(ip: string, port?: number): Holding[] {
    const m = this.table.get(ip);
    if (!m) return [];
    return [...m.values()].filter((h) => port === undefined || portInRanges(port, h.ports));
  }

  private heldBy(node: string): Holding[] {
    const out: Holding[] = [];
    for (const m of this.table.values()) {
      const h = m.get(node);
      if (h) out.push(h);
    }
    return out;
  }

  private maxEpoch(ip: string): number {
    let e = 0;
    for (const h of this.table.get(ip)?.values() ?? []) e = Math.max(e, h.epoch);
    return e;
  }

  private myMaxEpoch(): number {
    let e = 0;
    for (const h of this.heldBy(this.nodeId)) e = Math.max(e, h.epoch);
    return e;
  }

  /** Policy of an address: its home node's (when known), else its holder's. */
  private policyFor(home: string, holder: string): FailoverPolicy {
    if (home === this.nodeId) return this.failover;
    const hp = this.peers.get(home)?.info?.failover;
    if (hp) return hp;
    if (holder === this.nodeId) return this.failover;
    return this.peers.get(holder)?.info?.failover ?? { successors: [] };
  }

  private arpPolicyOf(node: string): ArpPolicy {
    if (node === this.nodeId) return this.arpPolicy;
    return this.peers.get(node)?.info?.arpPolicy ?? this.arpPolicy;
  }

  /**
   * Split a holding into slices by the failover policy (first matching rule wins, the rest goes
   * to the default list) and pick for each slice the first eligible candidate that is not
   * `exclude`. Candidates: the rule's list, then the home node's default list, then the holder's,
   * then the home node itself (an address whose interim holder dies goes home if nobody else can
   * take it).
   */
  private slices(h: Holding, exclude: string, count = 1): { ports: PortRange[]; successors: string[] }[] {
    const policy = this.policyFor(h.home, h.node);
    const holderPolicy = h.node !== h.home ? this.policyFor(h.node, h.node) : policy;
    const out: { ports: PortRange[]; successors: string[] }[] = [];
    let rest = normalizePorts(h.ports);
    const pick = (lists: string[][]): string[] => {
      const seen = new Set<string>();
      const res: string[] = [];
      for (const l of lists) {
        for (const n of l) {
          if (seen.has(n) || n === exclude) continue;
          seen.add(n);
          if (this.isEligible(n)) res.push(n);
          if (res.length >= count) return res;
        }
      }
      return res;
    };
    for (const rule of policy.rules ?? []) {
      const part = intersectPorts(rest, rule.ports);
      if (part.length === 0) continue;
      out.push({ ports: part, successors: pick([rule.successors, policy.successors, holderPolicy.successors, [h.home]]) });
      rest = subtractPorts(rest, part);
    }
    if (rest.length > 0) out.push({ ports: rest, successors: pick([policy.successors, holderPolicy.successors, [h.home]]) });
    return out;
  }

  private peerFailed(p: PeerState, reason: 'failure' | 'impending-failure' | 'reboot'): void {
    p.status = reason === 'impending-failure' ? 'left' : 'dead';
    this.stats.peersDeclaredDead++;
    this.actions.push({ type: 'peer', node: p.nodeId, status: p.status, reason });
    // Failback 'drain': a dead holder serves its draining connections no more. Nothing is left to
    // forward to it; its replicas of the ones still open (it kept replicating them here) are
    // handed over for a restore.
    const left = this.draining.get(p.nodeId);
    if (left) {
      this.draining.delete(p.nodeId);
      const orphaned: ReplicaEntry[] = [];
      for (const key of left) {
        const k = p.nodeId + '\0' + key;
        const r = this.replicas.get(k);
        if (!r) continue;
        orphaned.push(r);
        this.deleteReplica(k);
      }
      this.actions.push({ type: 'drained', holder: p.nodeId, orphaned });
    }
    // Waiters whose only replica was this peer can never be satisfied by it.
    this.recheckWaiters();
    this.takeOrphans(p.nodeId, reason);
  }

  /**
   * Claim every slice held by a dead or departed node for which this node is now the first
   * eligible successor. Runs for the node that just failed first (with `reason`), then for older
   * orphans whose chosen successor has died since (cascading failures, partitions).
   */
  private takeOrphans(first: string | null, reason: ClaimReason): void {
    if (this.state !== 'active') return;
    const failed = [...this.peers.values()].filter((q) => q.status === 'dead' || q.status === 'left').map((q) => q.nodeId);
    failed.sort((a, b) => (a === first ? -1 : b === first ? 1 : a < b ? -1 : 1));
    for (const id of failed) {
      const p = this.peers.get(id)!;
      const mine: AddressEntry[] = [];
      for (const h of this.heldBy(id)) {
        for (const s of this.slices(h, id)) {
          if (s.successors[0] !== this.nodeId) continue;
          mine.push({ ip: h.ip, mac: h.mac, ports: s.ports, epoch: this.maxEpoch(h.ip) + 1, home: h.home });
        }
      }
      if (mine.length === 0) continue;
      const missing: string[] = [];
      if (p.final) {
        for (const f of p.final) {
          const r = this.replicas.get(id + '\0' + f.key);
          if (!r || r.version < f.version) missing.push(f.key);
        }
      }
      const why: ClaimReason = id === first ? reason : p.status === 'left' ? 'impending-failure' : 'failure';
      this.claim(mine, why, id, null, missing, null);
    }
  }

  /** Claim entries for this node, tell the cluster, and emit the takeover action. */
  private claim(
    entries: AddressEntry[],
    reason: ClaimReason,
    failed: string | null,
    from: string | null,
    missing: string[],
    draining: { holder: string; keys: string[]; mac?: string } | null,
  ): void {
    const checkpoints: ReplicaEntry[] = [];
    const snooped: SnoopedState[] = [];
    for (const e of entries) {
      this.applyHolding(this.nodeId, e);
      // Collect the replicas of the connections on this slice (from the failed node, or migrated
      // back by the previous holder on failback).
      for (const [k, r] of this.replicas) {
        if (r.ip !== e.ip || !portInRanges(r.port, e.ports)) continue;
        if (r.origin !== failed && !(from !== null && r.origin === from && r.migrate)) continue;
        checkpoints.push(r);
        this.deleteReplica(k);
      }
      if (this.snooper && failed) snooped.push(...this.snooper.states({ ip: e.ip, ports: e.ports }));
    }
    this.infoVersion++;
    this.send({ type: 'claim', failed, reason, entries }, Math.max(...entries.map((e) => e.epoch)));
    this.announceDue = true;
    this.stats.takeovers++;
    let portRanges: PortRange[] = [];
    for (const e of entries) portRanges = unionPorts(portRanges, e.ports);
    const partial = entries.some((e) => {
      const spec = this.homeSpecOf(e.home, e.ip);
      return subtractPorts(spec, e.ports).length > 0;
    });
    this.actions.push({
      type: 'takeover',
      reason,
      failedNode: failed,
      from,
      addresses: entries,
      portRanges,
      epoch: Math.max(...entries.map((e) => e.epoch)),
      arpPolicy: this.arpPolicyOf(entries[0].home),
      partial,
      checkpoints,
      snooped,
      missing,
      draining,
    });
  }

  private homeSpecOf(home: string, ip: string): PortRange[] {
    const specs = home === this.nodeId ? this.home : this.peers.get(home)?.info?.home;
    const s = specs?.find((a) => a.ip === ip);
    return s?.ports ? normalizePorts(s.ports) : [...ALL_PORTS];
  }

  /**
   * Apply `node` holding entry `e` to the table with conflict resolution. Returns false (stale)
   * when an overlapping holding by another node wins: higher epoch, or same epoch and lower id.
   */
  private applyHolding(node: string, e: AddressEntry): boolean {
    let m = this.table.get(e.ip);
    if (!m) this.table.set(e.ip, (m = new Map()));
    for (const [other, h] of m) {
      if (other === node || !portsOverlap(h.ports, e.ports)) continue;
      if (h.epoch > e.epoch || (h.epoch === e.epoch && other < node)) {
        if (other === this.nodeId) this.announceDue = true; // re-assert so the other side releases
        if (h.epoch === e.epoch) this.stats.conflicts++;
        return false;
      }
    }
    for (const [other, h] of [...m]) {
      if (other === node || !portsOverlap(h.ports, e.ports)) continue;
      const released = intersectPorts(h.ports, e.ports);
      const remaining = subtractPorts(h.ports, e.ports);
      if (other === this.nodeId) {
        const conflict = h.epoch === e.epoch || this.isEligibleHolderOf(node);
        this.stats.releases++;
        if (conflict) this.stats.conflicts++;
        this.infoVersion++;
        this.announceDue = true;
        this.actions.push({
          type: 'release',
          reason: h.epoch === e.epoch ? 'conflict' : 'superseded',
          winner: node,
          addresses: [{ ip: e.ip, mac: h.mac, released, remaining, epoch: e.epoch }],
          mode: null,
          draining: [],
        });
      }
      if (remaining.length === 0) m.delete(other);
      else h.ports = remaining;
    }
    const cur = m.get(node);
    if (cur) {
      cur.ports = unionPorts(cur.ports, e.ports);
      cur.epoch = Math.max(cur.epoch, e.epoch);
      cur.mac = e.mac;
    } else {
      m.set(node, { node, ip: e.ip, mac: e.mac, ports: normalizePorts(e.ports), epoch: e.epoch, home: e.home });
    }
    return true;
  }

  private isEligibleHolderOf(node: string): boolean {
    return node !== this.nodeId && this.isEligible(node);
  }

  private finishJoin(): void {
    if (this.state !== 'joining') return;
    this.state = 'active';
    this.infoVersion++;
    this.announceDue = true;
    const mode: FailbackMode = this.failover.failback ?? 'migrate';
    const claims: AddressEntry[] = [];
    const asks = new Map<string, AddressEntry[]>();
    for (const spec of this.home) {
      let free = normalizePorts(spec.ports ?? ALL_PORTS);
      for (const h of this.table.get(spec.ip)?.values() ?? []) {
        if (h.node === this.nodeId || !this.isEligible(h.node)) continue;
        const overlap = intersectPorts(free, h.ports);
        if (overlap.length === 0) continue;
        free = subtractPorts(free, overlap);
        if (mode === 'none') continue;
        const list = asks.get(h.node) ?? [];
        list.push({ ip: spec.ip, mac: spec.mac, ports: overlap, epoch: h.epoch, home: this.nodeId });
        asks.set(h.node, list);
      }
      if (free.length > 0) claims.push({ ip: spec.ip, mac: spec.mac, ports: free, epoch: this.maxEpoch(spec.ip) + 1, home: this.nodeId });
    }
    if (claims.length > 0) this.claim(claims, 'boot', null, null, [], null);
    for (const [holder, entries] of asks) this.requestFailbackFrom(holder, entries, mode);
    this.takeOrphans(null, 'failure');
  }

  private requestFailbackFrom(holder: string, entries: AddressEntry[], mode: FailbackMode): number {
    const requestId = this.nextRequestId++;
    this.pendingFailbacks.set(requestId, { requestId, holder, entries, mode, nextRetry: this.now + 2 * this.interval, tries: 1 });
    this.send({ type: 'failback-request', to: holder, requestId, mode, entries });
    return requestId;
  }

  /**
   * Ask the current holders of this node's home addresses to hand them back (seed 001 claim 5),
   * e.g. after a partition healed against us. Done automatically at the end of the join window.
   */
  requestFailback(now: number, mode: FailbackMode = this.failover.failback ?? 'migrate'): number {
    this.now = now;
    let n = 0;
    for (const spec of this.home) {
      for (const h of this.table.get(spec.ip)?.values() ?? []) {
        if (h.node === this.nodeId || !this.isEligible(h.node)) continue;
        const overlap = intersectPorts(spec.ports ?? ALL_PORTS, h.ports);
        if (overlap.length === 0) continue;
        this.requestFailbackFrom(h.node, [{ ip: spec.ip, mac: spec.mac, ports: overlap, epoch: h.epoch, home: this.nodeId }], mode);
        n++;
      }
    }
    return n;
  }

  /**
   * The integration layer finished a failback it was asked for (a 'failback' action): for
   * 'migrate', `migrated` holds the checkpoints of the connections it froze; for 'drain',
   * `draining` lists the connections it keeps until they close. This sends the checkpoints, then
   * FAILBACK_GRANT, and gives the addresses up (a 'release' action follows).
   */
  completeFailback(
    requestId: number,
    result: { migrated?: { key: string; ip: string; port: number; bytes: Uint8Array; version?: number }[]; draining?: string[]; drainMac?: string } = {},
    now = this.now,
  ): void {
    this.now = now;
    const g = this.givingBack.get(requestId);
    if (!g) throw err('ERR_INVALID_ARG_VALUE', `no failback in progress with id ${requestId}`);
    this.givingBack.delete(requestId);
    const migrated: string[] = [];
    for (const c of result.migrated ?? []) {
      const h = this.table.get(c.ip)?.get(this.nodeId);
      // Newer than anything replicated before, so the returning node never prefers an old replica.
      const version = c.version ?? (this.local.get(c.key)?.version ?? 0) + 1;
      this.send(
        { type: 'checkpoint', to: [g.to], key: c.key, ip: c.ip, port: c.port, version, final: false, migrate: true, bytes: c.bytes },
        h?.epoch ?? 0,
      );
      this.stats.checkpointsSent++;
      migrated.push(c.key);
      this.local.delete(c.key);
    }
    const draining = result.draining ?? [];
    // Kept connections go on replicating to the returning node, which can restore them if this
    // node dies before they close.
    if (g.mode === 'drain') for (const k of draining) this.drainingTo.set(k, g.to);
    const entries: AddressEntry[] = [];
    const released: ReleaseAction['addresses'] = [];
    for (const e of g.entries) {
      const m = this.table.get(e.ip);
      const h = m?.get(this.nodeId);
      if (!m || !h) continue;
      const give = intersectPorts(h.ports, e.ports);
      if (give.length === 0) continue;
      const remaining = subtractPorts(h.ports, give);
      entries.push({ ip: e.ip, mac: h.mac, ports: give, epoch: h.epoch, home: h.home });
      released.push({ ip: e.ip, mac: h.mac, released: give, remaining, epoch: h.epoch });
      if (remaining.length === 0) m.delete(this.nodeId);
      else h.ports = remaining;
    }
    const drainMac = draining.length > 0 && result.drainMac ? result.drainMac.toLowerCase() : undefined;
    this.send({ type: 'failback-grant', to: g.to, requestId, mode: g.mode, entries, migrated, draining, ...(drainMac ? { drainMac } : {}) }, this.myMaxEpoch());
    this.infoVersion++;
    this.announceDue = true;
    this.stats.releases++;
    this.actions.push({ type: 'release', reason: 'failback', winner: g.to, addresses: released, mode: g.mode, draining });
    this.flushAnnounce();
  }

  // ---- message handling -----------------------------------------------------------------------

  private handle(p: PeerState, env: Envelope, msg: ClusterMessage): void {
    switch (msg.type) {
      case 'heartbeat':
        if (!p.info || p.info.version !== msg.infoVersion) this.solicit(p);
        return;
      case 'solicit':
        if (msg.target === null || msg.target === this.nodeId) this.announceDue = true;
        return;
      case 'announce':
        this.onAnnounce(p, msg.info);
        return;
      case 'claim': {
        let stale = false;
        for (const e of msg.entries) if (!this.applyHolding(p.nodeId, e)) stale = true;
        if (stale) this.stats.dropped.stale++;
        // Not ours: the claimer restores the failed node's connections. A snooper sends its
        // states for the claimed slices; replicas of them here are obsolete.
        if (msg.failed && msg.failed !== this.nodeId) {
          for (const e of msg.entries) {
            for (const [k, r] of this.replicas) if (r.origin === msg.failed && r.ip === e.ip && portInRanges(r.port, e.ports)) this.deleteReplica(k);
          }
          if (this.snooper) {
            for (const e of msg.entries) this.snooper.enqueue({ ip: e.ip, ports: e.ports });
            const states = this.snooper.takeOutput();
            if (states.length > 0) this.send({ type: 'snoop-state', to: p.nodeId, failed: msg.failed, states });
          }
        }
        return;
      }
      case 'release': {
        const m0 = msg.entries;
        for (const e of m0) {
          const h = this.table.get(e.ip)?.get(p.nodeId);
          if (!h) continue;
          h.ports = subtractPorts(h.ports, e.ports);
          if (h.ports.length === 0) this.table.get(e.ip)!.delete(p.nodeId);
        }
        return;
      }
      case 'impending-failure':
        p.final = msg.final;
        if (p.status === 'alive' || p.status === 'suspect') this.peerFailed(p, 'impending-failure');
        return;
      case 'checkpoint':
        this.onCheckpoint(p, env, msg);
        return;
      case 'checkpoint-drop': {
        const k = p.nodeId + '\0' + msg.key;
        if (this.replicas.has(k)) {
          this.deleteReplica(k);
          this.stats.checkpointsDropped++;
        }
        const d = this.draining.get(p.nodeId);
        if (d?.delete(msg.key)) {
          this.actions.push({ type: 'drain-closed', holder: p.nodeId, key: msg.key });
          if (d.size === 0) {
            this.draining.delete(p.nodeId);
            this.actions.push({ type: 'drained', holder: p.nodeId });
          }
        }
        return;
      }
      case 'checkpoint-ack': {
        if (msg.to !== this.nodeId) return;
        this.stats.acksReceived++;
        const lc = this.local.get(msg.key);
        if (!lc) return;
        if ((lc.acks.get(p.nodeId) ?? 0) < msg.version) lc.acks.set(p.nodeId, msg.version);
        this.recheckWaiters(msg.key);
        return;
      }
      case 'request-connection':
        if (msg.to !== null && msg.to !== this.nodeId) return;
        if (!this.local.has(msg.key)) return;
        this.actions.push({ type: 'connection-request', requestId: msg.requestId, from: p.nodeId, key: msg.key });
        return;
      case 'connection-reply': {
        if (msg.to !== this.nodeId) return;
        const r = this.requests.get(msg.requestId);
        if (!r) return;
        this.requests.delete(msg.requestId);
        r.resolve(msg.bytes);
        return;
      }
      case 'snoop-state':
        if (msg.to !== this.nodeId) {
          this.stats.notForMe++;
          return;
        }
        this.actions.push({ type: 'snooped', from: p.nodeId, failedNode: msg.failed, states: msg.states });
        return;
      case 'failback-request': {
        if (msg.to !== this.nodeId) return;
        if ([...this.givingBack.values()].some((g) => g.to === p.nodeId)) return; // retry of one in progress
        const entries: AddressEntry[] = [];
        for (const e of msg.entries) {
          const h = this.table.get(e.ip)?.get(this.nodeId);
          if (!h) continue;
          const give = intersectPorts(h.ports, e.ports);
          if (give.length > 0) entries.push({ ip: e.ip, mac: h.mac, ports: give, epoch: h.epoch, home: h.home });
        }
        if (entries.length === 0) return;
        this.givingBack.set(msg.requestId, { to: p.nodeId, entries, mode: msg.mode });
        const connections = [...this.local.values()]
          .filter((c) => entries.some((e) => e.ip === c.ip && portInRanges(c.port, e.ports)))
          .map((c) => c.key);
        this.actions.push({ type: 'failback', requestId: msg.requestId, to: p.nodeId, mode: msg.mode, addresses: entries, connections });
        return;
      }
      case 'failback-grant': {
        if (msg.to !== this.nodeId) return;
        const pending = this.pendingFailbacks.get(msg.requestId);
        this.pendingFailbacks.delete(msg.requestId);
        if (!pending && this.state !== 'active') return;
        const entries = msg.entries.map((e) => ({ ...e, epoch: Math.max(this.maxEpoch(e.ip), e.epoch) + 1 }));
        if (entries.length === 0) return;
        // The previous holder gave these up; drop its holding before claiming.
        for (const e of msg.entries) {
          const h = this.table.get(e.ip)?.get(p.nodeId);
          if (h) {
            h.ports = subtractPorts(h.ports, e.ports);
            if (h.ports.length === 0) this.table.get(e.ip)!.delete(p.nodeId);
          }
        }
        const missing = msg.migrated.filter((k) => {
          const r = this.replicas.get(p.nodeId + '\0' + k);
          return !r || !r.migrate;
        });
        const draining =
          msg.mode === 'drain' && msg.draining.length > 0 ? { holder: p.nodeId, keys: msg.draining, ...(msg.drainMac ? { mac: msg.drainMac } : {}) } : null;
        if (draining) this.draining.set(p.nodeId, new Set(draining.keys));
        this.claim(entries, 'failback', null, p.nodeId, missing, draining);
        return;
      }
      case 'fragment':
        this.onFragment(p, env, msg);
        return;
    }
  }

  private onAnnounce(p: PeerState, info: OwnershipInfo): void {
    if (info.nodeId !== p.nodeId || info.bootId !== p.bootId) {
      this.stats.dropped.malformed++;
      return;
    }
    // The replay window accepts reordered datagrams: an older ANNOUNCE must not roll back a
    // newer view of the same incarnation.
    if (p.info && info.version < p.info.version) {
      this.stats.dropped.stale++;
      return;
    }
    p.info = info;
    // The announcer's held list is authoritative for it: replace its holdings, resolving conflicts.
    for (const m of this.table.values()) m.delete(p.nodeId);
    let stale = false;
    for (const h of info.held) if (!this.applyHolding(p.nodeId, h)) stale = true;
    if (stale) this.stats.dropped.stale++;
    if (info.state === 'leaving' && (p.status === 'alive' || p.status === 'suspect')) this.peerFailed(p, 'impending-failure');
  }

  /**
   * Point an attached snooper at every address slice other nodes hold: those are the
   * connections this node may have to hand to a takeover host.
   */
  private syncSnooper(): void {
    if (!this.snooper) return;
    const list: { ip: string; ports: PortRange[] }[] = [];
    for (const [ip, m] of this.table) {
      let ports: PortRange[] = [];
      for (const h of m.values()) if (h.node !== this.nodeId) ports = unionPorts(ports, h.ports);
      if (ports.length > 0) list.push({ ip, ports });
    }
    const sig = JSON.stringify(list);
    if (sig === this.snoopSig) return;
    this.snoopSig = sig;
    this.snooper.setWatched(list);
  }

  /** Change the applications announced in the ownership information. */
  setApplications(apps: Application[], now = this.now): void {
    this.now = now;
    this.applications = apps.map((a) => ({ ...a, ports: normalizePorts(a.ports) }));
    this.infoVersion++;
    this.announceDue = true;
    this.flushAnnounce();
  }

  private flushAnnounce(): void {
    this.syncSnooper();
    if (!this.announceDue || this.state === 'stopped' || this.state === 'idle') return;
    this.announceDue = false;
    this.send({ type: 'announce', info: this.ownershipInfo(), reply: true });
  }

  // ---- replication ----------------------------------------------------------------------------

  /**
   * Register or update a local connection's checkpoint, named by `{ key, ip, port }` or by a
   * `@hastack/checkpoint` connection key alone. `source` is the checkpoint bytes or a
   * function producing them (called only when the policy sends). Returns the version recorded.
   * 'every-update' sends now; 'schedule' on the next flush; 'events' on `checkpointEvent`;
   * 'impending-failure-only' only in `leave()`.
   */
  updateCheckpoint(
    connOrKey: { key: string; ip: string; port: number } | string,
    source: Uint8Array | (() => Uint8Array),
    version?: number,
    now = this.now,
  ): number {
    this.now = now;
    let conn: { key: string; ip: string; port: number };
    if (typeof connOrKey === 'string') {
      const at = parseConnectionKey(connOrKey);
      if (!at) throw err('ERR_INVALID_ARG_VALUE', `not a connection key: ${connOrKey}`);
      conn = { key: connOrKey, ...at };
    } else conn = connOrKey;
    let lc = this.local.get(conn.key);
    if (!lc) {
      lc = { key: conn.key, ip: conn.ip, port: conn.port, version: 0, source, dirty: false, sentVersion: 0, lastSentAt: -Infinity, acks: new Map() };
      this.local.set(conn.key, lc);
    }
    lc.version = version ?? lc.version + 1;
    lc.source = source;
    lc.dirty = true;
    if (this.repl.policy === 'every-update') this.sendCheckpoint(lc, {});
    return lc.version;
  }

  /** 'events' policy: an event worth a checkpoint happened on `key` (seed 004 claim 15). */
  checkpointEvent(key: string, reason: string, now = this.now): void {
    this.now = now;
    this.stats.checkpointEvents[reason] = (this.stats.checkpointEvents[reason] ?? 0) + 1;
    const lc = this.local.get(key);
    if (lc && lc.dirty) this.sendCheckpoint(lc, {});
  }

  /** A local connection closed: replicas drop it (CHECKPOINT_DROP); waiters for it resolve. */
  connectionClosed(key: string, now = this.now): void {
    this.now = now;
    this.local.delete(key);
    this.drainingTo.delete(key);
    this.send({ type: 'checkpoint-drop', key }, this.myMaxEpoch());
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      if (w.key === key) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  /**
   * Resolves when every current replica target acknowledged `version` (or newer) of `key`;
   * rejects with ETIMEDOUT after `timeoutMs`. Pushes the checkpoint out now if the policy has
   * not sent it yet. Resolves at once when there is no live successor to wait for.
   */
  whenReplicated(key: string, version?: number, timeoutMs = this.repl.ackTimeoutMs): Promise<void> {
    const lc = this.local.get(key);
    if (!lc) return Promise.reject(err('ERR_INVALID_ARG_VALUE', `unknown connection ${key}`));
    const v = version ?? lc.version;
    if (this.isReplicated(lc, v)) return Promise.resolve();
    if (lc.sentVersion < v) this.sendCheckpoint(lc, {});
    return new Promise<void>((resolve, reject) => {
      this.waiters.push({ key, version: v, deadline: this.now + timeoutMs, resolve, reject });
    });
  }

  private isReplicated(lc: LocalConn, version: number): boolean {
    const targets = this.replicaTargets(lc.ip, lc.port);
    return targets.every((t) => (lc.acks.get(t) ?? 0) >= version);
  }

  private recheckWaiters(key?: string): void {
    if (this.waiters.length === 0) return;
    const keep: Waiter[] = [];
    for (const w of this.waiters) {
      const lc = this.local.get(w.key);
      if ((key === undefined || w.key === key) && (!lc || this.isReplicated(lc, w.version))) w.resolve();
      else keep.push(w);
    }
    this.waiters = keep;
  }

  /** The successors a connection on (ip, port) replicates to: those that would take it over. */
  replicaTargets(ip: string, port: number): string[] {
    const h = this.table.get(ip)?.get(this.nodeId);
    if (!h || !portInRanges(port, h.ports)) return [];
    const one: Holding = { ...h, ports: [{ from: port, to: port }] };
    return this.slices(one, this.nodeId, this.repl.replicas)[0]?.successors ?? [];
  }

  private sendCheckpoint(lc: LocalConn, flags: { final?: boolean }): void {
    let to = this.replicaTargets(lc.ip, lc.port);
    if (to.length === 0 && this.drainingTo.size > 0) {
      const d = this.drainingTo.get(lc.key);
      const ps = d === undefined ? undefined : this.peers.get(d)?.status;
      if (d !== undefined && (ps === 'alive' || ps === 'suspect')) to = [d];
    }
    lc.dirty = false;
    lc.lastSentAt = this.now;
    if (to.length === 0) {
      lc.sentVersion = lc.version;
      return;
    }
    const bytes = typeof lc.source === 'function' ? lc.source() : lc.source;
    const epoch = this.table.get(lc.ip)?.get(this.nodeId)?.epoch ?? 0;
    this.send({ type: 'checkpoint', to, key: lc.key, ip: lc.ip, port: lc.port, version: lc.version, final: flags.final ?? false, migrate: false, bytes }, epoch);
    lc.sentVersion = lc.version;
    this.stats.checkpointsSent++;
  }

  private onCheckpoint(p: PeerState, env: Envelope, msg: Extract<ClusterMessage, { type: 'checkpoint' }>): void {
    if (!msg.to.includes(this.nodeId)) {
      this.stats.notForMe++;
      return;
    }
    // Stale: the sender acts under an epoch someone else has superseded for this address — except
    // the connections a failback 'drain' left on it (it gave the address to us and keeps them).
    const drained = this.draining.get(p.nodeId)?.has(msg.key) ?? false;
    for (const h of drained ? [] : this.table.get(msg.ip)?.values() ?? []) {
      if (h.node !== p.nodeId && h.epoch > env.epoch && portInRanges(msg.port, h.ports)) {
        this.stats.dropped.stale++;
        return;
      }
    }
    const k = p.nodeId + '\0' + msg.key;
    const old = this.replicas.get(k);
    // A migrate checkpoint is an explicit handoff: it replaces whatever replica was there.
    if (old && old.version > msg.version && !msg.migrate) {
      this.stats.checkpointsIgnoredOld++;
    } else {
      if (old) this.deleteReplica(k);
      const entry: ReplicaEntry = {
        origin: p.nodeId,
        key: msg.key,
        ip: msg.ip,
        port: msg.port,
        version: msg.version,
        epoch: env.epoch,
        bytes: msg.bytes,
        final: msg.final,
        migrate: msg.migrate,
        receivedAt: this.now,
      };
      this.replicas.set(k, entry);
      this.replicaBytes += msg.bytes.length;
      this.stats.checkpointsStored++;
      // Bounded store: evict the least recently updated entries.
      for (const [ek] of this.replicas) {
        if (this.replicas.size <= this.repl.maxEntries && this.replicaBytes <= this.repl.maxBytes) break;
        if (ek === k) continue;
        this.deleteReplica(ek);
        this.stats.checkpointsEvicted++;
      }
    }
    const version = this.replicas.get(k)?.version ?? msg.version;
    this.send({ type: 'checkpoint-ack', to: p.nodeId, key: msg.key, version }, this.myMaxEpoch());
    this.stats.acksSent++;
  }

  private deleteReplica(k: string): void {
    const r = this.replicas.get(k);
    if (!r) return;
    this.replicas.delete(k);
    this.replicaBytes -= r.bytes.length;
  }

  /** Replicas held here (for inspection and tests). */
  replicaEntries(origin?: string): ReplicaEntry[] {
    return [...this.replicas.values()].filter((r) => origin === undefined || r.origin === origin);
  }

  /** Local connections registered for replication, with their versions. */
  localConnections(): { key: string; ip: string; port: number; version: number; sentVersion: number }[] {
    return [...this.local.values()].map((c) => ({ key: c.key, ip: c.ip, port: c.port, version: c.version, sentVersion: c.sentVersion }));
  }

  // ---- connection requests (seed 001 claim 10) --------------------------------------------------

  /** Ask the holder of a connection for its checkpoint. Resolves null on timeout or refusal. */
  requestConnection(key: string, to: string | null = null, timeoutMs = this.requestTimeout, now = this.now): Promise<Uint8Array | null> {
    this.now = now;
    const requestId = this.nextRequestId++;
    return new Promise((resolve) => {
      this.requests.set(requestId, { deadline: this.now + timeoutMs, resolve });
      this.send({ type: 'request-connection', to, key, requestId });
    });
  }

  /** Answer a 'connection-request' action (null refuses). */
  replyConnection(to: string, requestId: number, key: string, bytes: Uint8Array | null, now = this.now): void {
    this.now = now;
    this.send({ type: 'connection-reply', to, requestId, key, bytes });
  }

  /** Send snooped states to a takeover host (normally automatic when a CLAIM is seen). */
  sendSnoopedStates(to: string, failed: string, states: SnoopedState[], now = this.now): void {
    this.now = now;
    if (states.length > 0) this.send({ type: 'snoop-state', to, failed, states });
  }

  // ---- sending and fragmentation ----------------------------------------------------------------

  private send(msg: ClusterMessage, epoch = this.myMaxEpoch()): void {
    if (this.state === 'stopped' || this.state === 'idle') return;
    const counter = ++this.counter;
    let bytes = encodeMessage(this.key, { nodeId: this.nodeId, bootId: this.bootId, counter, epoch }, msg);
    if (bytes.length <= this.maxDatagram) {
      this.emit(bytes);
      return;
    }
    // Too big for one datagram: re-encode as an INNER message and send it as FRAGMENTs, each
    // authenticated and counted on its own.
    bytes = encodeMessage(this.key, { nodeId: this.nodeId, bootId: this.bootId, counter, epoch, flags: FLAG_INNER }, msg);
    if (bytes.length > this.maxMessageBytes) {
      this.stats.dropped.tooLarge++;
      return;
    }
    const chunk = this.maxDatagram - envelopeOverhead(Buffer.byteLength(this.nodeId)) - 48;
    const count = Math.ceil(bytes.length / chunk);
    const id = ++this.fragmentId;
    for (let i = 0; i < count; i++) {
      const part = bytes.subarray(i * chunk, Math.min(bytes.length, (i + 1) * chunk));
      const c = ++this.counter;
      this.emit(encodeMessage(this.key, { nodeId: this.nodeId, bootId: this.bootId, counter: c, epoch }, { type: 'fragment', id, index: i, count, bytes: part }));
      this.stats.fragmentsSent++;
    }
  }

  private emit(bytes: Uint8Array): void {
    this.outbox.push(bytes);
    this.stats.sent++;
    this.stats.sentBytes += bytes.length;
  }

  private onFragment(p: PeerState, env: Envelope, msg: Extract<ClusterMessage, { type: 'fragment' }>): void {
    const id = `${p.nodeId}\0${env.bootId}\0${msg.id}`;
    let r = this.reassembly.get(id);
    if (!r) {
      if (this.reassembly.size >= 64) {
        const oldest = this.reassembly.keys().next().value as string;
        this.stats.reassemblyDrops++;
        this.dropReassembly(oldest);
      }
      r = { sender: p.nodeId, count: msg.count, got: 0, bytes: 0, chunks: new Array(msg.count), expiresAt: this.now + Math.max(1000, 20 * this.interval) };
      this.reassembly.set(id, r);
    }
    if (r.count !== msg.count || r.chunks[msg.index]) {
      this.stats.dropped.malformed++;
      return;
    }
    if (r.bytes + msg.bytes.length > this.maxMessageBytes || this.reassemblyBytes + msg.bytes.length > 2 * this.maxMessageBytes) {
      this.stats.reassemblyDrops++;
      this.dropReassembly(id);
      return;
    }
    r.chunks[msg.index] = msg.bytes;
    r.got++;
    r.bytes += msg.bytes.length;
    this.reassemblyBytes += msg.bytes.length;
    if (r.got < r.count) return;
    const whole = new Uint8Array(r.bytes);
    let off = 0;
    for (const c of r.chunks) {
      whole.set(c!, off);
      off += c!.length;
    }
    this.dropReassembly(id);
    this.stats.messagesReassembled++;
    this.receiveInner(whole, true, p.nodeId);
  }

  private dropReassembly(id: string): void {
    const r = this.reassembly.get(id);
    if (!r) return;
    this.reassembly.delete(id);
    this.reassemblyBytes -= r.bytes;
  }
}

