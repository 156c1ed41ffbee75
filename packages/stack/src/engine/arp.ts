/**
 * The ARP neighbour cache (RFC 826, with the timing of RFC 1122 §2.3.2.1 and Linux's neighbour
 * states simplified to three): plain data, so it can be inspected and checkpointed.
 *
 * - INCOMPLETE: a request is out (broadcast), retried every `retryMs` up to `retries` times;
 *   packets for the address wait in a bounded queue (drop-oldest). When retries run out the
 *   entry is removed and its packets fail (the engine reports host unreachable for them).
 * - REACHABLE: confirmed by a reply or a request from the neighbour less than `reachableMs` ago.
 * - STALE (confirmed longer ago, up to `reachableMs + staleMs`): still used, but the next use
 *   starts a unicast probe (RFC 1122 §2.3.2.1 "unicast poll"); a probe that goes unanswered
 *   `retries` times removes the entry. Past `reachableMs + staleMs` the entry is expired and the
 *   next use resolves afresh with a broadcast request.
 */

export interface ArpOptions {
  /** How long a confirmed entry is used without question (default 60 s). */
  reachableMs?: number;
  /** How long after that a stale entry is still used while being re-probed (default 60 s). */
  staleMs?: number;
  /** Requests sent before giving up (default 3). */
  retries?: number;
  /** Interval between requests (default 1 s). */
  retryMs?: number;
  /** Packets queued per unresolved address (default 64); the oldest is dropped beyond. */
  queueLen?: number;
  /** Bytes queued per unresolved address (default 256 KiB); oldest dropped beyond. */
  queueBytes?: number;
  /** Entries in the cache (default 1024). */
  maxEntries?: number;
}

export interface QueuedPacket {
  /** The whole frame, link header space at the front (the MAC is filled in on resolution). */
  frame: Uint8Array;
  meta: import('../link.js').TxMeta | undefined;
}

export interface ArpEntry {
  ip: number;
  /** Resolved hardware address, null while INCOMPLETE. */
  mac: Uint8Array | null;
  /** When the mapping was last confirmed (ms). */
  confirmedAt: number;
  /** Requests sent in the current resolution or probe. */
  tries: number;
  /** When to retry (or give up); Infinity when no request is outstanding. */
  nextRetryAt: number;
  /** Packets awaiting resolution. */
  queue: QueuedPacket[];
  queueBytes: number;
}

export const ARP_DEFAULTS: Required<ArpOptions> = {
  reachableMs: 60_000,
  staleMs: 60_000,
  retries: 3,
  retryMs: 1_000,
  queueLen: 64,
  queueBytes: 256 * 1024,
  maxEntries: 1024,
};

export class ArpCache {
  readonly opts: Required<ArpOptions>;
  readonly entries = new Map<number, ArpEntry>();
  /** Earliest nextRetryAt over all entries (may be early; recomputed on poll). */
  nextAt = Infinity;

  constructor(opts: ArpOptions = {}) {
    this.opts = { ...ARP_DEFAULTS, ...opts };
  }

  /** Bytes and packets waiting in all queues (for tests and stats). */
  queued(): { packets: number; bytes: number } {
    let packets = 0;
    let bytes = 0;
    for (const e of this.entries.values()) {
      packets += e.queue.length;
      bytes += e.queueBytes;
    }
    return { packets, bytes };
  }

  get(ip: number): ArpEntry | undefined {
    return this.entries.get(ip);
  }

  /** Whether an entry's mapping may be used at `now`. */
  usable(e: ArpEntry, now: number): boolean {
    return e.mac !== null && now < e.confirmedAt + this.opts.reachableMs + this.opts.staleMs;
  }

  /** Whether a usable entry is past its reachable time (needs a probe). */
  stale(e: ArpEntry, now: number): boolean {
    return now >= e.confirmedAt + this.opts.reachableMs;
  }

  /**
   * Create an INCOMPLETE entry, evicting an idle one if the table is full. Returns null when
   * every entry is busy resolving (the caller drops the packet).
   */
  create(ip: number): ArpEntry | null {
    if (this.entries.size >= this.opts.maxEntries && !this.evict()) return null;
    const e: ArpEntry = { ip, mac: null, confirmedAt: -Infinity, tries: 0, nextRetryAt: Infinity, queue: [], queueBytes: 0 };
    this.entries.set(ip, e);
    return e;
  }

  /** Record a confirmed mapping; returns the entry (created when `create` is true). */
  confirm(ip: number, mac: Uint8Array, macOff: number, now: number, create: boolean): ArpEntry | null {
    let e = this.entries.get(ip);
    if (!e) {
      if (!create) return null;
      e = this.create(ip) ?? undefined;
      if (!e) return null;
    }
    if (e.mac === null) e.mac = new Uint8Array(6);
    for (let i = 0; i < 6; i++) e.mac[i] = mac[macOff + i];
    e.confirmedAt = now;
    e.tries = 0;
    e.nextRetryAt = Infinity;
    return e;
  }

  /** Schedule the next request of `e`. */
  schedule(e: ArpEntry, at: number): void {
    e.nextRetryAt = at;
    if (at < this.nextAt) this.nextAt = at;
  }

  /** Recompute `nextAt` after entries changed. */
  recompute(): void {
    let n = Infinity;
    for (const e of this.entries.values()) if (e.nextRetryAt < n) n = e.nextRetryAt;
    this.nextAt = n;
  }

  /** Evict the entry confirmed longest ago that has nothing queued. */
  private evict(): boolean {
    let victim: ArpEntry | null = null;
    for (const e of this.entries.values()) {
      if (e.queue.length > 0 || e.nextRetryAt !== Infinity) continue;
      if (!victim || e.confirmedAt < victim.confirmedAt) victim = e;
    }
    if (!victim) return false;
    this.entries.delete(victim.ip);
    return true;
  }

  clear(): void {
    this.entries.clear();
    this.nextAt = Infinity;
  }
}
