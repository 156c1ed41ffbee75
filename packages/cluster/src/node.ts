/**
 * ClusterNode: the cluster core bound to a Clock and a transport. It feeds received datagrams to
 * the core, keeps one timer armed at `core.pollAt()`, sends what the core emits, and re-emits the
 * core's actions as events:
 *
 *   node.on('takeover', (a: TakeoverAction) => ...)   // add addresses, restore connections
 *   node.on('release',  (a: ReleaseAction) => ...)    // remove addresses (or drain)
 *   node.on('failback', (a: FailbackAction) => ...)   // hand addresses back; then completeFailback()
 *   node.on('peer' | 'snooped' | 'connection-request' | 'drained', ...)
 *   node.on('action', (a: ClusterAction) => ...)     // every action
 */
import { EventEmitter } from 'node:events';
import { RealClock, type Clock, type TimerHandle } from '@hastack/stack';
import { ClusterCore, type ClusterAction, type ClusterCoreOptions } from './core.js';
import type { ClusterTransport } from './transport.js';
import type { SnoopedState } from './snooper.js';
import type { Application, FailbackMode } from './types.js';

export interface ClusterNodeOptions extends Omit<ClusterCoreOptions, 'bootId'> {
  transport: ClusterTransport;
  clock?: Clock;
  /** Default: wall-clock based, so it grows across restarts. */
  bootId?: number;
}

export class ClusterNode extends EventEmitter {
  readonly core: ClusterCore;
  readonly clock: Clock;
  private readonly transport: ClusterTransport;
  private timer: TimerHandle | null = null;
  private timerAt = Infinity;
  private closed = false;

  constructor(opts: ClusterNodeOptions) {
    super();
    const { transport, clock, bootId, ...core } = opts;
    this.transport = transport;
    this.clock = clock ?? new RealClock();
    // Wall-clock milliseconds scaled, plus randomness: grows across restarts, stays < 2^53.
    const boot = bootId ?? Date.now() * 1024 + Math.floor(Math.random() * 1024);
    this.core = new ClusterCore({ ...core, bootId: boot });
    transport.onMessage((bytes) => {
      if (this.closed) return;
      this.core.receive(bytes, this.clock.now());
      this.flush();
    });
  }

  get nodeId(): string {
    return this.core.nodeId;
  }

  /** Join the cluster. */
  start(): this {
    this.core.start(this.clock.now());
    this.flush();
    return this;
  }

  /** Graceful shutdown with the final synchronous checkpoint; see ClusterCore.leave. */
  async leave(reason?: string): Promise<{ acked: boolean }> {
    const p = this.core.leave(this.clock.now(), reason);
    this.flush();
    return p;
  }

  /** Stop without a word (tests use it to simulate a crash together with the transport). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.core.stop();
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.transport.close?.();
  }

  updateCheckpoint(conn: { key: string; ip: string; port: number } | string, source: Uint8Array | (() => Uint8Array), version?: number): number {
    const v = this.core.updateCheckpoint(conn, source, version, this.clock.now());
    this.flush();
    return v;
  }

  checkpointEvent(key: string, reason: string): void {
    this.core.checkpointEvent(key, reason, this.clock.now());
    this.flush();
  }

  connectionClosed(key: string): void {
    this.core.connectionClosed(key, this.clock.now());
    this.flush();
  }

  whenReplicated(key: string, version?: number, timeoutMs?: number): Promise<void> {
    const p = this.core.whenReplicated(key, version, timeoutMs);
    this.flush();
    return p;
  }

  requestConnection(key: string, to: string | null = null, timeoutMs?: number): Promise<Uint8Array | null> {
    const p = this.core.requestConnection(key, to, timeoutMs, this.clock.now());
    this.flush();
    return p;
  }

  replyConnection(to: string, requestId: number, key: string, bytes: Uint8Array | null): void {
    this.core.replyConnection(to, requestId, key, bytes, this.clock.now());
    this.flush();
  }

  requestFailback(mode?: FailbackMode): number {
    const n = this.core.requestFailback(this.clock.now(), mode);
    this.flush();
    return n;
  }

  completeFailback(
    requestId: number,
    result?: { migrated?: { key: string; ip: string; port: number; bytes: Uint8Array; version?: number }[]; draining?: string[]; drainMac?: string },
  ): void {
    this.core.completeFailback(requestId, result, this.clock.now());
    this.flush();
  }

  setApplications(apps: Application[]): void {
    this.core.setApplications(apps, this.clock.now());
    this.flush();
  }

  sendSnoopedStates(to: string, failed: string, states: SnoopedState[]): void {
    this.core.sendSnoopedStates(to, failed, states, this.clock.now());
    this.flush();
  }

  /** Send what the core produced, emit its actions, re-arm the timer. */
  private flush(): void {
    if (this.closed) return;
    for (const b of this.core.takeOutbound()) this.transport.send(b);
    const actions = this.core.takeActions();
    for (const a of actions) this.dispatch(a);
    this.arm();
  }

  private dispatch(a: ClusterAction): void {
    this.emit('action', a);
    this.emit(a.type, a);
  }

  private arm(): void {
    const at = this.core.pollAt();
    if (at === this.timerAt && this.timer) return;
    if (this.timer) this.clock.clearTimer(this.timer);
    this.timer = null;
    this.timerAt = at;
    if (at === Infinity) return;
    this.timer = this.clock.setTimer(at, () => {
      this.timer = null;
      this.timerAt = Infinity;
      if (this.closed) return;
      this.core.poll(this.clock.now());
      this.flush();
    });
  }
}
