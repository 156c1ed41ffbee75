/**
 * Failback 'drain' forwarding (seed 001 claim 5; seed 000 claims 10, 14), as an L4 balancer in
 * direct-server-return mode does it.
 *
 * Read this first:
 * - The returning node R takes the address back (gratuitous ARP), so the clients' frames for it now
 *   reach R — also those of the connections the previous holder H keeps until they close. R has no
 *   such connection and its TCP would answer RST. So R intercepts, before TCP demux, every TCP
 *   segment to a local address whose 4-tuple is in the draining set, and re-sends the IP packet
 *   unchanged in an Ethernet frame to H's MAC (`forward` entries, counted as `forwarded`). A pure
 *   SYN on a draining 4-tuple is a new connection: the entry goes and R serves it. An entry goes when
 *   H reports the connection closed (CHECKPOINT_DROP → 'drain-closed'), when H is declared dead, or
 *   after `idleMs` without a segment from the client.
 * - H keeps the address configured but ARP-silent (`stack.setArpSilent`): it still accepts the
 *   packets R forwards and replies straight to the client from the address, but no longer answers
 *   ARP for it. On the released ports it accepts only segments of its draining connections (`keep`
 *   entries): a new SYN, or any other segment, reaching it by a stale ARP cache is dropped (counted
 *   as `refused`), never answered, so it can neither accept a connection R does not know of nor
 *   reset one of R's. When its last draining connection on an address has closed, the address is
 *   removed.
 * - The same interceptor also *holds* connections a takeover restores in slices (HaNode): until
 *   its turn comes, a segment of such a connection is dropped (counted as `held`) instead of
 *   being answered with RST by a stack that has no connection for it yet. The restore then
 *   solicits the peer's ACK itself.
 * - Lookups allocate nothing: the tables are keyed by a number (remote address × 65536 + remote
 *   port) with a short chain for the local address and port.
 */
import type { IpRx, Stack } from '@hastack/stack';
import type { PortRange } from './ports.js';

/** Counters of one node's drain forwarding (both roles). */
export interface DrainStats {
  /** R: segments of draining connections re-sent to their holder. */
  forwarded: number;
  /** R: forwarding failed (link full, packet larger than the MTU): dropped. */
  forwardFailed: number;
  /** R: entries installed, and those removed on close, on idle, on a new SYN, on holder death. */
  forwardEntries: number;
  closed: number;
  expired: number;
  reusedBySyn: number;
  holderGone: number;
  /** H: connections kept (draining) when an address was given back. */
  kept: number;
  /** H: segments for a given-back address that belong to no draining connection: dropped. */
  refused: number;
  /** H: addresses removed after their last draining connection closed. */
  addressesRemoved: number;
  /** Takeover: segments of connections waiting for their restore, dropped instead of reset. */
  held: number;
}

interface Node<V> {
  la: number;
  lp: number;
  v: V;
  next: Node<V> | null;
}

/** A TCP 4-tuple table: no allocation on lookup. */
export class TupleTable<V> {
  private readonly m = new Map<number, Node<V>>();
  private n = 0;

  get size(): number {
    return this.n;
  }

  private static k(ra: number, rp: number): number {
    return (ra >>> 0) * 65536 + rp;
  }

  get(la: number, lp: number, ra: number, rp: number): V | undefined {
    for (let x: Node<V> | null = this.m.get(TupleTable.k(ra, rp)) ?? null; x; x = x.next) if (x.la === la >>> 0 && x.lp === lp) return x.v;
    return undefined;
  }

  set(la: number, lp: number, ra: number, rp: number, v: V): void {
    const k = TupleTable.k(ra, rp);
    const head = this.m.get(k);
    for (let x: Node<V> | null = head ?? null; x; x = x.next) {
      if (x.la === la >>> 0 && x.lp === lp) {
        x.v = v;
        return;
      }
    }
    this.m.set(k, { la: la >>> 0, lp, v, next: head ?? null });
    this.n++;
  }

  delete(la: number, lp: number, ra: number, rp: number): boolean {
    const k = TupleTable.k(ra, rp);
    let prev: Node<V> | null = null;
    for (let x: Node<V> | null = this.m.get(k) ?? null; x; prev = x, x = x.next) {
      if (x.la !== la >>> 0 || x.lp !== lp) continue;
      if (prev) prev.next = x.next;
      else if (x.next) this.m.set(k, x.next);
      else this.m.delete(k);
      this.n--;
      return true;
    }
    return false;
  }

  *values(): IterableIterator<V> {
    for (const head of this.m.values()) for (let x: Node<V> | null = head; x; x = x.next) yield x.v;
  }
}

/** A parsed TCP connection key `tcp:<local ip>:<port>-<remote ip>:<port>`. */
export interface ConnTuple {
  la: number;
  lp: number;
  ra: number;
  rp: number;
}

const KEY_RE = /^tcp:(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})-(\d{1,3}(?:\.\d{1,3}){3}):(\d{1,5})$/;

export function ipToNum(s: string): number {
  const p = s.split('.').map(Number);
  return ((p[0] << 24) | (p[1] << 16) | (p[2] << 8) | p[3]) >>> 0;
}

/** Parse a TCP connection key (null if it is not one). */
export function parseTcpKey(key: string): ConnTuple | null {
  const m = KEY_RE.exec(key);
  if (!m) return null;
  const lp = Number(m[2]);
  const rp = Number(m[4]);
  if (lp > 65535 || rp > 65535) return null;
  return { la: ipToNum(m[1]), lp, ra: ipToNum(m[3]), rp };
}

function macBytes(mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map((h) => parseInt(h, 16)));
}

interface ForwardEntry {
  key: string;
  holder: string;
  mac: Uint8Array;
  lastSeen: number;
  t: ConnTuple;
}

/** What H keeps of a connection it drains. */
export interface KeepEntry {
  key: string;
  t: ConnTuple;
  /** Whether a close was already reported to the cluster (CHECKPOINT_DROP). */
  reported: boolean;
  /** Live-ness probe: true once the connection is gone. */
  gone(): boolean;
}

interface KeptAddress {
  ip: string;
  released: PortRange[];
  /** The whole address was given back: remove it (and its ARP silence) once drained. */
  whole: boolean;
  count: number;
}

const TCP = 6;
const SYN = 0x02;
const ACK = 0x10;

export interface DrainOptions {
  /** R: drop a forwarding entry after this long without a segment from the client (ms, default 120000). */
  idleMs?: number;
  /** H: a connection closed (report it: CHECKPOINT_DROP). */
  onKeepClosed?(key: string): void;
  /** H: the last draining connection on `ip` closed (the address was removed when `whole`). */
  onAddressDrained?(ip: string, removed: boolean): void;
  /** Whether this node holds ports of `ip` in the cluster again (then the address stays). */
  holds?(ip: string): boolean;
}

/**
 * Both roles of failback 'drain' on one Stack (see the file comment). Owns the stack's IP
 * interceptor while any entry exists.
 */
export class DrainForwarder {
  readonly stats: DrainStats = {
    forwarded: 0,
    forwardFailed: 0,
    forwardEntries: 0,
    closed: 0,
    expired: 0,
    reusedBySyn: 0,
    holderGone: 0,
    kept: 0,
    refused: 0,
    addressesRemoved: 0,
    held: 0,
  };
  private readonly fwd = new TupleTable<ForwardEntry>();
  private readonly fwdByKey = new Map<string, ForwardEntry>();
  private readonly keep = new TupleTable<KeepEntry>();
  private readonly keepByKey = new Map<string, KeepEntry>();
  private readonly keptAddrs = new Map<number, KeptAddress>();
  private readonly holds = new TupleTable<string>();
  private installed = false;
  private readonly idleMs: number;

  constructor(
    private readonly stack: Stack,
    private readonly o: DrainOptions = {},
  ) {
    this.idleMs = o.idleMs ?? 120_000;
  }

  /** Forwarding entries (R) and kept connections (H), for inspection. */
  get forwarding(): number {
    return this.fwd.size;
  }
  get keeping(): number {
    return this.keep.size;
  }
  /** Keys R forwards, and keys H keeps. */
  forwardKeys(): string[] {
    return [...this.fwdByKey.keys()];
  }
  keepKeys(): string[] {
    return [...this.keepByKey.keys()];
  }

  // --- R: the returning node --------------------------------------------------------------------

  /** R: forward the segments of `keys` (held by `holder` at `mac`) until they close. Returns how many were added. */
  forward(holder: string, mac: string, keys: string[], now: number): number {
    const m = macBytes(mac);
    let n = 0;
    for (const key of keys) {
      const t = parseTcpKey(key);
      if (!t || this.fwdByKey.has(key)) continue;
      const e: ForwardEntry = { key, holder, mac: m, lastSeen: now, t };
      this.fwd.set(t.la, t.lp, t.ra, t.rp, e);
      this.fwdByKey.set(key, e);
      this.stats.forwardEntries++;
      n++;
    }
    this.sync();
    return n;
  }

  /** R: the holder reported `key` closed. */
  closed(key: string): void {
    if (this.dropForward(key)) this.stats.closed++;
    this.sync();
  }

  /** R: nothing is left to forward to `holder` (all drained, or it died). */
  holderDone(holder: string, dead: boolean): void {
    for (const e of [...this.fwdByKey.values()]) {
      if (e.holder !== holder) continue;
      this.dropForward(e.key);
      if (dead) this.stats.holderGone++;
    }
    this.sync();
  }

  private dropForward(key: string): boolean {
    const e = this.fwdByKey.get(key);
    if (!e) return false;
    this.fwdByKey.delete(key);
    this.fwd.delete(e.t.la, e.t.lp, e.t.ra, e.t.rp);
    return true;
  }

  // --- H: the previous holder -------------------------------------------------------------------

  /**
   * H: the address `ip` (ports `released`) was given back; keep serving `entries` on it. With
   * `whole`, the address stays configured ARP-silent until they are gone, then is removed.
   */
  keepServing(ip: string, released: PortRange[], whole: boolean, entries: KeepEntry[]): void {
    const a = ipToNum(ip);
    let ka = this.keptAddrs.get(a);
    if (!ka) this.keptAddrs.set(a, (ka = { ip, released, whole, count: 0 }));
    else {
      ka.released = [...ka.released, ...released];
      ka.whole = ka.whole || whole;
    }
    for (const e of entries) {
      if (this.keepByKey.has(e.key)) continue;
      this.keep.set(e.t.la, e.t.lp, e.t.ra, e.t.rp, e);
      this.keepByKey.set(e.key, e);
      ka.count++;
      this.stats.kept++;
    }
    if (whole) {
      try {
        this.stack.setArpSilent(ip, true);
      } catch {
        /* the address is not configured: nothing to keep silent */
      }
    }
    this.sync();
    if (ka.count === 0) this.finishAddress(a, ka);
  }

  /** H: `key` closed (the application saw 'close'): report it once. False when `key` is not kept here. */
  keepClosed(key: string): boolean {
    const e = this.keepByKey.get(key);
    if (!e) return false;
    this.removeKeep(e);
    return true;
  }

  /** H: the address is ours again (a new takeover): stop draining it, answer ARP again. */
  reclaim(ip: string): void {
    const a = ipToNum(ip);
    const ka = this.keptAddrs.get(a);
    if (!ka) return;
    this.keptAddrs.delete(a);
    for (const e of [...this.keepByKey.values()]) {
      if (e.t.la !== a) continue;
      this.keepByKey.delete(e.key);
      this.keep.delete(e.t.la, e.t.lp, e.t.ra, e.t.rp);
    }
    try {
      this.stack.setArpSilent(ip, false);
    } catch {
      /* not configured */
    }
    this.sync();
  }

  private removeKeep(e: KeepEntry): void {
    this.keepByKey.delete(e.key);
    this.keep.delete(e.t.la, e.t.lp, e.t.ra, e.t.rp);
    if (!e.reported) {
      e.reported = true;
      this.o.onKeepClosed?.(e.key);
    }
    const ka = this.keptAddrs.get(e.t.la);
    if (ka && --ka.count <= 0) this.finishAddress(e.t.la, ka);
    this.sync();
  }

  private finishAddress(a: number, ka: KeptAddress): void {
    this.keptAddrs.delete(a);
    let removed = false;
    if (ka.whole && !(this.o.holds?.(ka.ip) ?? false) && !this.stack.closed) {
      try {
        removed = this.stack.removeAddress(ka.ip);
      } catch {
        removed = false;
      }
      if (removed) this.stats.addressesRemoved++;
    }
    this.sync();
    this.o.onAddressDrained?.(ka.ip, removed);
  }

  // --- takeover: connections waiting for their restore -------------------------------------------

  /** Drop (do not reset) segments of `key` until `unhold(key)`: its restore comes in a later slice. */
  hold(key: string): void {
    const t = parseTcpKey(key);
    if (!t) return;
    this.holds.set(t.la, t.lp, t.ra, t.rp, key);
    this.sync();
  }

  /** `key`'s restore is running now (or was given up): deliver its segments again. */
  unhold(key: string): void {
    const t = parseTcpKey(key);
    if (!t) return;
    if (this.holds.delete(t.la, t.lp, t.ra, t.rp)) this.sync();
  }

  /** Connections held for a restore. */
  get holding(): number {
    return this.holds.size;
  }

  // --- both ---------------------------------------------------------------------------------------

  /** Periodic housekeeping: idle forwarding entries (R), connections gone without a 'close' (H). */
  sweep(now: number): void {
    for (const e of [...this.fwdByKey.values()]) {
      if (now - e.lastSeen < this.idleMs) continue;
      this.dropForward(e.key);
      this.stats.expired++;
    }
    for (const e of [...this.keepByKey.values()]) if (e.gone()) this.removeKeep(e);
    this.sync();
  }

  /** Drop everything (the node stops). */
  clear(): void {
    for (const k of [...this.fwdByKey.keys()]) this.dropForward(k);
    this.keepByKey.clear();
    for (const e of [...this.keep.values()]) this.keep.delete(e.t.la, e.t.lp, e.t.ra, e.t.rp);
    this.keptAddrs.clear();
    for (const k of [...this.holds.values()]) this.unhold(k);
    this.sync();
  }

  /** Install the interceptor while there is something to do, remove it when not. */
  private sync(): void {
    const want = this.fwd.size > 0 || this.keptAddrs.size > 0 || this.holds.size > 0;
    if (want === this.installed || this.stack.closed) return;
    this.installed = want;
    this.stack.setIpInterceptor(want ? this.intercept : null);
  }

  private readonly intercept = (pkt: Uint8Array, rx: IpRx, now: number): boolean => {
    if (rx.protocol !== TCP) return false;
    const hl = (pkt[0] & 0x0f) << 2;
    if (pkt.length < hl + 14) return false; // TCP validates (and counts) it
    const sp = (pkt[hl] << 8) | pkt[hl + 1];
    const dp = (pkt[hl + 2] << 8) | pkt[hl + 3];
    const flags = pkt[hl + 13];
    if (this.holds.size > 0 && this.holds.get(rx.dst, dp, rx.src, sp) !== undefined) {
      this.stats.held++;
      return true;
    }
    if (this.fwd.size > 0) {
      const e = this.fwd.get(rx.dst, dp, rx.src, sp);
      if (e !== undefined) {
        if ((flags & SYN) !== 0 && (flags & ACK) === 0) {
          // The client opened a new connection on this 4-tuple: it is ours (R's) now.
          this.dropForward(e.key);
          this.stats.reusedBySyn++;
          this.sync();
          return false;
        }
        e.lastSeen = now;
        if (this.stack.forwardIp(pkt, e.mac, rx.meta)) this.stats.forwarded++;
        else this.stats.forwardFailed++;
        return true;
      }
    }
    if (this.keptAddrs.size > 0) {
      const ka = this.keptAddrs.get(rx.dst);
      if (ka !== undefined && inRanges(dp, ka.released)) {
        if (this.keep.get(rx.dst, dp, rx.src, sp) !== undefined) return false; // still draining here
        this.stats.refused++;
        return true;
      }
    }
    return false;
  };
}

function inRanges(p: number, rs: PortRange[]): boolean {
  for (let i = 0; i < rs.length; i++) if (p >= rs[i].from && p <= rs[i].to) return true;
  return false;
}
