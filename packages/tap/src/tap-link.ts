/**
 * TapLink: a Linux TAP (Ethernet) or TUN (IP) device as a hastack `Link`.
 *
 * Read this first:
 * - Receive: the addon drains up to `rxBatch` frames per wake-up into one ArrayBuffer and calls
 *   `onRx(count)` once; we hand each frame to the handler as a view into that buffer and end with
 *   one `batchEnd()`. By default (`rxHandOver`) the buffer is a slab that batches fill one after
 *   another and that is never rewritten: frames are handed over (`RxMeta.owned`, so TCP keeps
 *   payload as views instead of copying it) and a full slab is replaced by a fresh, unzeroed one
 *   (the old one is freed by the GC once the last view into it dies). With `rxHandOver: false` every
 *   batch reuses the same buffer from offset 0 and frames are valid only during `frame()`.
 * - Transmit: `send()` copies the frame (behind its virtio-net header, when enabled) into one
 *   preallocated transmit buffer used as a ring (bytes) with a ring of (offset, length) slots;
 *   `flush()` (or a microtask, if nobody calls it) writes all queued frames with one native call.
 *   Frames are numbered (`txHead` = oldest not yet written, `txCount` = next to queue; slot =
 *   number % txMaxFrames). Frames the kernel does not take (EAGAIN) stay queued; the fd is then
 *   watched for writability. The ring *is* the bounded queue: when it is full `send()` drops the
 *   frame, counts it and returns false, and `handler.writable()` follows once it drained. With the
 *   writer thread, new frames go into the free part of the ring while the thread writes the older
 *   part, so neither side waits for the other to finish a whole buffer.
 * - Offloads need IFF_VNET_HDR (12-byte header, see vnet.ts). `rxChecksum` turns on TUN_F_CSUM (the
 *   kernel may hand us frames whose checksum is partial or already verified: both are flagged
 *   `csumValid`); `gro` adds TUN_F_TSO4 (TCPv4 super-frames up to 64 KB arrive whole) and implies
 *   `rxChecksum`. `txChecksum` lets us send NEEDS_CSUM frames; `tso` lets us send GSO_TCPV4
 *   super-segments the kernel splits, and implies `txChecksum`.
 * - The station MAC (`link.mac`, what the stack sends from) is NOT the kernel interface's address:
 *   a bridge treats its port's own address as local, so they must differ (see docs/tap.md).
 */
import { randomBytes } from 'node:crypto';
import { markAsUntransferable } from 'node:worker_threads';
import { err, HastackError, type Link, type LinkHandler, type LinkMedium, type LinkOffloads, type RxMeta, type TxMeta } from '@hastack/stack';
import { loadNative, mapCtlError, mapOpenError, NC, type NativeTapDevice } from './native.js';
import {
  emptyVnetHdr,
  encodeVnetHdr,
  fillTxVnetHdr,
  seedPseudoHeaderSum,
  TUN_F_CSUM,
  TUN_F_TSO4,
  VIRTIO_NET_HDR_F_DATA_VALID,
  VIRTIO_NET_HDR_F_NEEDS_CSUM,
  VIRTIO_NET_HDR_GSO_TCPV4,
  VNET_HDR_LEN,
} from './vnet.js';

export type TapMode = 'tap' | 'tun';

export interface TapOffloadOptions {
  rxChecksum?: boolean;
  txChecksum?: boolean;
  tso?: boolean;
  gro?: boolean;
}

export interface TapLinkOptions {
  /** Interface name, 1..15 bytes; may contain one `%d` for the kernel to number it. */
  name: string;
  /** 'tap' (Ethernet frames, default) or 'tun' (bare IP packets). */
  mode?: TapMode;
  /** IP MTU of the device (default 1500). */
  mtu?: number;
  /** TAP: the station MAC the stack uses (default: random, locally administered). */
  mac?: Uint8Array | string;
  /** TAP: the kernel interface's own hardware address (default: the kernel's random one). */
  ifaceMac?: Uint8Array | string;
  /** Create the device inside this network namespace: a path, or a name under /var/run/netns. */
  netns?: string;
  /** `true`: all offloads; `false`/absent: none; or pick each. */
  offloads?: boolean | TapOffloadOptions;
  /** Bring the interface up when opened (default true). */
  up?: boolean;
  /** Most frames read per wake-up (1..1024, default 128). */
  rxBatch?: number;
  /** Most frames queued for transmit (16..65536, default 1024). */
  txQueueFrames?: number;
  /** Bytes of the transmit queue (default 1 MiB, 4 MiB with TSO; at least two largest frames). */
  txQueueBytes?: number;
  /**
   * Length of the kernel's queue of frames towards the stack (the interface's `txqueuelen`,
   * 16..1048576; default 4096, the kernel's own default is 1000). A kernel sender may have a whole
   * receive window in flight; frames beyond this queue are dropped by the tun driver, which the
   * sender sees as loss. 0 keeps the device's current value.
   */
  kernelQueueLen?: number;
  /**
   * Hand received frames over to the stack (`RxMeta.owned`: TCP keeps payload views, no copy):
   * the receive buffer is a slab that is filled once and replaced when full (default true). With
   * false, one buffer is reused for every batch and the stack copies what it keeps.
   */
  rxHandOver?: boolean;
  /**
   * Do the write() syscalls on a native writer thread. A write() to a TAP runs the kernel's
   * bridge/veth/peer path synchronously; with the thread that work overlaps with the stack's
   * JavaScript. Frames are still batched and bounded by the transmit queue. Default: on unless
   * `tso` is on (with TSO there are ~45x fewer writes, and the thread measured no gain there).
   */
  txThread?: boolean;
}

export interface TapLinkStats {
  rxFrames: number;
  rxBytes: number;
  rxBatches: number;
  /** Received frames flagged csumValid (DATA_VALID or NEEDS_CSUM from the kernel). */
  rxCsumValid: number;
  /** Received GSO super-frames (GRO). */
  rxGso: number;
  /** read() failures other than EAGAIN, and poll errors. */
  rxErrors: number;
  /** Frames shorter than the virtio-net header. */
  rxShort: number;
  /** Receive slabs used up and replaced (rxHandOver). */
  rxSlabs: number;
  txFrames: number;
  txBytes: number;
  /** Native writeBatch calls that wrote at least one frame. */
  txBatches: number;
  /** Frames sent with checksum offload (NEEDS_CSUM). */
  txCsumOffload: number;
  /** TSO super-segments sent. */
  txGso: number;
  /** Frames dropped because the transmit queue was full. */
  txDrops: number;
  /** allocFrame() calls that returned ring memory; frames sent from it without a copy. */
  txAllocs: number;
  txInPlace: number;
  /** Frames dropped because they exceed `offloads.maxFrame`, or after close. */
  txOversize: number;
  /** write() failures other than EAGAIN (frame dropped). */
  txErrors: number;
  /** Times a write hit EAGAIN (the kernel queue was full). */
  txEagain: number;
  /** Frames waiting in the transmit queue now. */
  txQueued: number;
  writableEvents: number;
  /** Non-zero once the device failed for good (errno, e.g. 77 EBADFD after its namespace was deleted): receiving stopped. */
  deviceErrno: number;
}

const MAC_RE = /^([0-9a-f]{2})(?::([0-9a-f]{2})){5}$/i;

function parseMac(v: unknown, what: string): Uint8Array {
  if (v instanceof Uint8Array) {
    if (v.length !== 6) throw err('ERR_INVALID_ARG_VALUE', `${what} must be 6 bytes`);
    return new Uint8Array(v);
  }
  if (typeof v === 'string') {
    if (!MAC_RE.test(v)) throw err('ERR_INVALID_ARG_VALUE', `${what} must look like 02:00:00:00:00:01`);
    return Uint8Array.from(v.split(':').map((x) => parseInt(x, 16)));
  }
  throw err('ERR_INVALID_ARG_TYPE', `${what} must be a Uint8Array(6) or a string`);
}

function macString(m: Uint8Array): string {
  return Array.from(m, (b) => b.toString(16).padStart(2, '0')).join(':');
}

/** A random unicast, locally administered MAC (02:..). */
export function randomMac(): Uint8Array {
  const m = new Uint8Array(randomBytes(6));
  m[0] = (m[0] & 0xfc) | 0x02;
  return m;
}

/** Throws ERR_TAP_BAD_NAME unless `name` is a valid Linux interface name (dev_valid_name()). */
export function validateIfName(name: unknown): string {
  if (typeof name !== 'string') throw err('ERR_INVALID_ARG_TYPE', 'name must be a string');
  const bytes = Buffer.byteLength(name);
  if (bytes === 0) throw err('ERR_TAP_BAD_NAME', 'interface name is empty');
  if (bytes > 15) throw err('ERR_TAP_BAD_NAME', `interface name ${JSON.stringify(name)} is longer than 15 bytes`);
  if (name === '.' || name === '..') throw err('ERR_TAP_BAD_NAME', `interface name ${JSON.stringify(name)} is reserved`);
  // eslint-disable-next-line no-control-regex
  if (/[/:\s\x00]/.test(name)) throw err('ERR_TAP_BAD_NAME', `interface name ${JSON.stringify(name)} contains '/', ':', NUL or whitespace`);
  if ((name.match(/%/g) ?? []).length > (name.includes('%d') ? 1 : 0)) {
    throw err('ERR_TAP_BAD_NAME', `interface name ${JSON.stringify(name)}: '%' is only allowed once, as %d`);
  }
  return name;
}

/** Resolves a netns option: a bare name means /var/run/netns/<name>. */
export function netnsPath(netns: unknown): string {
  if (netns === undefined) return '';
  if (typeof netns !== 'string' || netns.length === 0) throw err('ERR_INVALID_ARG_TYPE', 'netns must be a non-empty string');
  if (netns.includes('/')) return netns;
  if (netns === '.' || netns === '..') throw err('ERR_INVALID_ARG_VALUE', 'netns name is invalid');
  return `/var/run/netns/${netns}`;
}

function intOpt(v: unknown, what: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt;
  if (typeof v !== 'number' || !Number.isInteger(v)) throw err('ERR_INVALID_ARG_TYPE', `${what} must be an integer`);
  if (v < min || v > max) throw err('ERR_INVALID_ARG_VALUE', `${what} must be in ${min}..${max}, got ${v}`);
  return v;
}

/** Resolves the offload request to what will be active (gro ⇒ rxChecksum, tso ⇒ txChecksum). */
export function resolveOffloads(o: unknown, linkHdr: number, mtu: number): LinkOffloads {
  let req: TapOffloadOptions;
  if (o === undefined || o === false) req = {};
  else if (o === true) req = { rxChecksum: true, txChecksum: true, tso: true, gro: true };
  else if (typeof o === 'object' && o !== null) {
    for (const [k, v] of Object.entries(o)) {
      if (!['rxChecksum', 'txChecksum', 'tso', 'gro'].includes(k)) throw err('ERR_INVALID_ARG_VALUE', `unknown offload ${k}`);
      if (typeof v !== 'boolean' && v !== undefined) throw err('ERR_INVALID_ARG_TYPE', `offloads.${k} must be a boolean`);
    }
    req = o as TapOffloadOptions;
  } else throw err('ERR_INVALID_ARG_TYPE', 'offloads must be a boolean or an object');
  const gro = !!req.gro;
  const tso = !!req.tso;
  const rxChecksum = !!req.rxChecksum || gro;
  const txChecksum = !!req.txChecksum || tso;
  return Object.freeze({ rxChecksum, txChecksum, tso, gro, maxFrame: tso ? 65535 + linkHdr : mtu + linkHdr });
}

/**
 * Memory the addon keeps a raw pointer to (receive buffers, the transmit ring) must never be
 * detached: received frames and allocFrame() views expose it (`view.buffer`), and a transfer
 * (structuredClone / postMessage) would hand it to another owner — and free it when that owner
 * drops it — while the addon still reads into or writes from it. Untransferable buffers stay
 * attached (a transfer list naming one leaves it in place), as Node does for its Buffer pool.
 */
function pinned(ab: ArrayBuffer): ArrayBuffer {
  markAsUntransferable(ab);
  return ab;
}

/** An unzeroed ArrayBuffer of exactly `n` bytes (every byte is written by read() before it is seen). */
function newSlab(n: number): ArrayBuffer {
  const b = Buffer.allocUnsafeSlow(n);
  return pinned(b.buffer as ArrayBuffer);
}

/** Sizes of the receive buffer for a given largest read. */
function rxBytesFor(readMax: number, rxBatch: number): number {
  const slot = (readMax + 7) & ~7;
  return slot * (slot > 8192 ? Math.min(rxBatch, 16) : rxBatch);
}

export class TapLink implements Link {
  readonly medium: LinkMedium;
  readonly mode: TapMode;
  /** The station MAC the stack should use (TAP only). */
  readonly mac?: Uint8Array;
  private _offloads: LinkOffloads;
  /** The kernel's name of the interface (with `%d` resolved). */
  readonly name: string;
  readonly ifindex: number;
  /** The netns path the device lives in ('' = the caller's). */
  readonly netns: string;

  private dev: NativeTapDevice | null;
  private _mtu: number;
  private readonly linkHdr: number;
  private readonly vnet: number;
  private readonly rxBatch: number;
  private handler: LinkHandler | null = null;
  private closed = false;

  // Receive memory, shared with the addon.
  private rxBuf!: ArrayBuffer;
  private readonly rxMeta: Int32Array;
  private readonly rxStride: number;
  private readonly rxCsum: RxMeta;
  private readonly rxGsoMeta: RxMeta;
  /** Meta of a frame without offload flags: undefined, or { owned } when handing over. */
  private readonly rxPlain: RxMeta | undefined;
  /** Receive buffer handed over frame by frame (see TapLinkOptions.rxHandOver). */
  readonly rxHandOver: boolean;
  /** Bytes of one receive slab (rxHandOver). */
  private rxSlabBytes = 0;
  /**
   * Per batch position, the view handed out last time: frames of equal size land at equal offsets
   * batch after batch, so a bulk flow reuses these instead of allocating a view per frame.
   */
  private rxViews: (Uint8Array | undefined)[] = [];

  // Transmit ring, shared with the addon: frames numbered [txHead, txCount) wait (slot = n % txMaxFrames);
  // the next frame goes at byte txTail (8-aligned) or wraps to 0 (see txReserve).
  private readonly txBuf: ArrayBuffer;
  private readonly txU8: Uint8Array;
  private readonly txMeta: Int32Array;
  private readonly txStride: number;
  private readonly txMaxFrames: number;
  private txHead = 0;
  private txCount = 0;
  private txTail = 0;
  /** Byte offset of the slot allocFrame() handed out (-1: none), and its size. */
  private allocAt = -1;
  private allocLen = 0;
  private flushQueued = false;
  private pollingWritable = false;
  private owesWritable = false;
  private readonly txHdr = emptyVnetHdr();
  /** Writes happen on the addon's writer thread (see TapLinkOptions.txThread). */
  readonly txThread: boolean;

  private readonly counters: Float64Array;
  private readonly s = {
    rxFrames: 0, rxBytes: 0, rxCsumValid: 0, rxGso: 0, pollErrors: 0, deviceErrno: 0, rxSlabs: 0,
    txFrames: 0, txBytes: 0, txBatches: 0, txCsumOffload: 0, txGso: 0, txDrops: 0, txOversize: 0, txAllocs: 0, txInPlace: 0,
  };

  constructor(options: TapLinkOptions) {
    if (typeof options !== 'object' || options === null) throw err('ERR_INVALID_ARG_TYPE', 'TapLink options must be an object');
    const name = validateIfName(options.name);
    const mode = options.mode ?? 'tap';
    if (mode !== 'tap' && mode !== 'tun') throw err('ERR_INVALID_ARG_VALUE', `mode must be 'tap' or 'tun', got ${String(mode)}`);
    const mtu = intOpt(options.mtu, 'mtu', 68, 65521, 1500);
    const rxBatch = intOpt(options.rxBatch, 'rxBatch', 1, 1024, 128);
    const txMaxFrames = intOpt(options.txQueueFrames, 'txQueueFrames', 16, 65536, 1024);
    const ns = netnsPath(options.netns);
    const linkHdr = mode === 'tap' ? 14 : 0;
    if (mode === 'tun' && (options.mac !== undefined || options.ifaceMac !== undefined)) {
      throw err('ERR_INVALID_ARG_VALUE', 'a TUN device has no MAC address');
    }
    const stationMac = mode === 'tap' ? (options.mac !== undefined ? parseMac(options.mac, 'mac') : randomMac()) : undefined;
    const ifaceMac = options.ifaceMac !== undefined ? parseMac(options.ifaceMac, 'ifaceMac') : undefined;
    if (stationMac && ifaceMac && macString(stationMac) === macString(ifaceMac)) {
      throw err('ERR_INVALID_ARG_VALUE', 'mac (the stack\'s) and ifaceMac (the kernel interface\'s) must differ');
    }
    const offloads = resolveOffloads(options.offloads, linkHdr, mtu);
    const useVnet = offloads.rxChecksum || offloads.txChecksum || offloads.tso || offloads.gro;
    const vnet = useVnet ? VNET_HDR_LEN : 0;
    const largest = offloads.tso ? 65535 + linkHdr : mtu + linkHdr;
    const txBytes = intOpt(options.txQueueBytes, 'txQueueBytes', 2 * (largest + vnet + 8), 1 << 28, offloads.tso ? 4 << 20 : 1 << 20);
    if (options.up !== undefined && typeof options.up !== 'boolean') throw err('ERR_INVALID_ARG_TYPE', 'up must be a boolean');
    if (options.txThread !== undefined && typeof options.txThread !== 'boolean') throw err('ERR_INVALID_ARG_TYPE', 'txThread must be a boolean');
    const txThread = options.txThread ?? !offloads.tso;
    if (options.rxHandOver !== undefined && typeof options.rxHandOver !== 'boolean') throw err('ERR_INVALID_ARG_TYPE', 'rxHandOver must be a boolean');
    const rxHandOver = options.rxHandOver ?? true;
    const kernelQueueLen = options.kernelQueueLen === 0 ? 0 : intOpt(options.kernelQueueLen, 'kernelQueueLen', 16, 1 << 20, 4096);

    const native = loadNative();
    let flags = 0;
    if (offloads.rxChecksum) flags |= TUN_F_CSUM;
    if (offloads.gro) flags |= TUN_F_TSO4;
    let dev: NativeTapDevice;
    try {
      dev = new native.TapDevice({ name, tun: mode === 'tun', vnetHdr: vnet, offload: flags, netns: ns });
    } catch (e) {
      throw mapOpenError(e, name, ns);
    }
    this.dev = dev;
    this.name = dev.name;
    this.ifindex = dev.ifindex;
    this.netns = ns;
    this.mode = mode;
    this.medium = mode === 'tap' ? 'ethernet' : 'ip';
    this.linkHdr = linkHdr;
    this.vnet = vnet;
    this.rxBatch = rxBatch;
    this._mtu = mtu;
    this._offloads = offloads;
    if (stationMac) this.mac = stationMac;
    this.rxStride = native.RX_STRIDE;
    this.txStride = native.TX_STRIDE;
    this.rxMeta = new Int32Array(rxBatch * this.rxStride);
    this.txMaxFrames = txMaxFrames;
    this.txBuf = pinned(new ArrayBuffer(txBytes));
    this.txU8 = new Uint8Array(this.txBuf);
    this.txMeta = new Int32Array(txMaxFrames * this.txStride);
    this.counters = new Float64Array(native.COUNTERS);
    this.txThread = txThread;
    this.rxHandOver = rxHandOver;
    this.rxCsum = rxHandOver ? { csumValid: true, owned: true } : { csumValid: true };
    this.rxGsoMeta = rxHandOver ? { csumValid: true, gsoSize: 0, owned: true } : { csumValid: true, gsoSize: 0 };
    this.rxPlain = rxHandOver ? Object.freeze({ owned: true }) : undefined;
    try {
      this.allocRx();
      if (txThread) dev.setTxThread(true);
      dev.setMtu(mtu);
      if (kernelQueueLen > 0) dev.setTxQueueLen(kernelQueueLen);
      if (ifaceMac) dev.setMac(ifaceMac);
      if (stationMac) {
        const cur = new Uint8Array(6);
        dev.getMac(cur);
        // Never share the address with the kernel side (a bridge would keep such frames local).
        if (macString(cur) === macString(stationMac)) throw err('ERR_INVALID_ARG_VALUE', 'mac equals the interface\'s own address');
      }
      if (options.up !== false) dev.setUp(true);
    } catch (e) {
      dev.close();
      this.dev = null;
      this.closed = true;
      if (e instanceof HastackError) throw e;
      throw mapCtlError(e, 'configure', this.name);
    }
  }

  /** Offloads in effect (see the banner: gro implies rxChecksum, tso implies txChecksum). */
  get offloads(): LinkOffloads {
    return this._offloads;
  }

  /** IP MTU of the device. */
  get mtu(): number {
    return this._mtu;
  }

  /** The largest read: virtio-net header + link header + IP packet (64 KB with GRO), + VLAN slack. */
  private readMax(): number {
    const ip = this.offloads.gro ? 65536 : this._mtu;
    return this.vnet + this.linkHdr + ip + 4;
  }

  private allocRx(): void {
    const readMax = this.readMax();
    if (this.rxHandOver) {
      // A slab holds a few batches (GRO: ~7 super-frames; else ~170 full frames at MTU 1500). Kept
      // small on purpose: one unread frame keeps its whole slab alive (see docs/tap.md); 1-2 MiB
      // slabs measured no faster.
      this.rxSlabBytes = Math.max(readMax > 8192 ? 512 << 10 : 256 << 10, 4 * ((readMax + 7) & ~7));
      this.rxBuf = newSlab(this.rxSlabBytes);
    } else {
      this.rxBuf = pinned(new ArrayBuffer(rxBytesFor(readMax, this.rxBatch)));
      this.rxViews = new Array<Uint8Array | undefined>(this.rxBatch).fill(undefined);
    }
    this.dev!.setBuffers(this.rxBuf, this.rxMeta, this.txBuf, this.txMeta, readMax, this.rxBatch, this.rxHandOver);
  }

  /** Gives the addon a fresh slab; the frames in the old one now belong to whoever keeps views. */
  private nextSlab(): void {
    this.rxBuf = newSlab(this.rxSlabBytes);
    this.s.rxSlabs++;
    this.dev!.setRxBuffer(this.rxBuf);
  }

  attach(handler: LinkHandler): void {
    if (this.closed) throw err('ERR_TAP_IO', `${this.name} is closed`);
    if (this.handler) throw err('ERR_INVALID_ARG_VALUE', `${this.name} already has a handler`);
    this.handler = handler;
    this.dev!.start(this.onRx, this.onWritable);
  }

  private readonly onRx = (n: number): void => {
    const h = this.handler;
    if (n < 0) {
      // The addon stopped polling: the fd is unusable (the device or its namespace went away).
      this.s.pollErrors++;
      this.s.deviceErrno = -n;
      return;
    }
    if (!h || this.closed) return;
    if (n === 0) {
      // The addon found the slab used up (normally replaced below, right after a batch).
      if (this.rxHandOver) this.nextSlab();
      return;
    }
    const meta = this.rxMeta;
    const stride = this.rxStride;
    const views = this.rxViews;
    const buf = this.rxBuf;
    const handOver = this.rxHandOver;
    const rxCsum = this.offloads.rxChecksum;
    const gro = this.offloads.gro;
    let bytes = 0;
    for (let i = 0; i < n; i++) {
      const b = i * stride;
      const off = meta[b];
      const len = meta[b + 1];
      bytes += len;
      let m: RxMeta | undefined = this.rxPlain;
      if (rxCsum) {
        const flags = meta[b + 2];
        if ((flags & (VIRTIO_NET_HDR_F_DATA_VALID | VIRTIO_NET_HDR_F_NEEDS_CSUM)) !== 0) {
          this.s.rxCsumValid++;
          m = this.rxCsum;
          if (gro && (meta[b + 3] & 0x7f) === VIRTIO_NET_HDR_GSO_TCPV4 && meta[b + 5] > 0) {
            this.s.rxGso++;
            this.rxGsoMeta.gsoSize = meta[b + 5];
            m = this.rxGsoMeta;
          }
        }
      }
      let v: Uint8Array | undefined;
      if (handOver) {
        v = new Uint8Array(buf, off, len);
      } else {
        v = views[i];
        if (v === undefined || v.byteOffset !== off || v.length !== len) {
          v = new Uint8Array(buf, off, len);
          views[i] = v;
        }
      }
      h.frame(v, m);
      if (this.closed) break;
    }
    this.s.rxFrames += n;
    this.s.rxBytes += bytes;
    if (this.closed) return;
    if (handOver) {
      // Where the addon goes on (8-aligned end of the last frame; its header is in front of it).
      const last = (n - 1) * stride;
      const end = (meta[last] + meta[last + 1] + 7) & ~7;
      if (end + this.readMax() > buf.byteLength) this.nextSlab();
    }
    h.batchEnd();
  };

  private readonly onWritable = (): void => {
    if (this.closed) return;
    this.writePending();
    if (this.txHead === this.txCount) {
      this.setPollWritable(false);
      if (this.owesWritable) {
        this.owesWritable = false;
        this.handler?.writable?.();
      }
    } else if (this.txThread && this.dev) {
      // The writer thread's wake-up is one-shot: ask for the next one (it fires at once if the
      // frames are out by now, so no wake-up is lost).
      this.pollingWritable = true;
      this.dev.pollWritable(true);
    }
  };

  private readonly autoFlush = (): void => {
    this.flushQueued = false;
    if (!this.closed) this.writePending();
  };

  private setPollWritable(on: boolean): void {
    if (this.pollingWritable !== on && this.dev) {
      this.pollingWritable = on;
      this.dev.pollWritable(on);
    }
  }

  /** Writes queued frames until done or EAGAIN; watches writability when some remain. */
  private writePending(): void {
    const pending = this.txCount - this.txHead;
    if (pending === 0 || !this.dev) return;
    const done = this.dev.writeBatch(this.txHead, pending);
    if (done > 0) this.s.txBatches++;
    this.txHead += done;
    if (this.txHead === this.txCount) {
      // Everything is out (the writer thread, too, has finished reading): start the ring over.
      this.txTail = 0;
    } else {
      this.setPollWritable(true);
    }
  }

  /**
   * Where a frame of `need` bytes (virtio-net header included) can go in the byte ring, or -1.
   * Waiting frames occupy [start, txTail) or, wrapped, [start, end) + [0, txTail), where start is
   * the oldest waiting frame's offset; every offset is 8-aligned.
   */
  private txReserve(need: number): number {
    const pending = this.txCount - this.txHead;
    if (pending === this.txMaxFrames) return -1;
    const cap = this.txU8.length;
    if (pending === 0) {
      this.txTail = 0;
      return need <= cap ? 0 : -1;
    }
    const start = this.txMeta[(this.txHead % this.txMaxFrames) * this.txStride];
    const tail = this.txTail;
    if (tail > start) {
      if (tail + need <= cap) return tail;
      return need <= start ? 0 : -1; // wrap to the front
    }
    return tail + need <= start ? tail : -1;
  }

  /** txReserve, after writing what the kernel takes and (writer thread) a bounded wait; or -1. */
  private reserve(need: number): number {
    let at = this.txReserve(need);
    if (at < 0) {
      this.writePending();
      at = this.txReserve(need);
      if (at < 0 && this.txThread && this.dev) {
        // The ring is full of frames the writer has not written yet. Wait until it has written a
        // quarter of them — as the synchronous mode would spend this time inside write() — or is
        // stuck on a full kernel queue (then: drop and writable() later, as there).
        this.dev.txWait(1000, this.txHead + Math.max(1, (this.txCount - this.txHead) >> 2));
        this.writePending();
        at = this.txReserve(need);
      }
    }
    return at;
  }

  /**
   * `n` bytes of the transmit ring for the next frame (Link.allocFrame): build the frame there and
   * `send()` it (or a prefix view of it) before any other send()/allocFrame(); send() then skips
   * its copy. Not zeroed. Null when closed, out of range, or the ring is full.
   */
  allocFrame(n: number): Uint8Array | null {
    if (this.closed || !(n > 0) || n > this.offloads.maxFrame) return null;
    const at = this.reserve(this.vnet + n);
    if (at < 0) return null;
    this.allocAt = at;
    this.allocLen = n;
    this.s.txAllocs++;
    return new Uint8Array(this.txBuf, at + this.vnet, n);
  }

  send(frame: Uint8Array, meta?: TxMeta): boolean {
    const len = frame.length;
    const allocAt = this.allocAt;
    this.allocAt = -1;
    if (this.closed || len > this.offloads.maxFrame || len === 0) {
      this.s.txOversize++;
      return false;
    }
    const need = this.vnet + len;
    const u8 = this.txU8;
    let at: number;
    if (allocAt >= 0 && frame.buffer === this.txBuf && frame.byteOffset === allocAt + this.vnet && len <= this.allocLen) {
      // Built in place by allocFrame(): the space is ours since then (only writes happened).
      at = allocAt;
      this.s.txInPlace++;
    } else {
      at = this.reserve(need);
      if (at < 0) {
        this.s.txDrops++;
        this.owesWritable = true;
        this.setPollWritable(true);
        return false;
      }
      // (set() copies correctly even from another part of this same buffer.)
      u8.set(frame, at + this.vnet);
    }
    if (this.vnet) {
      const h = this.txHdr;
      const ipOff = fillTxVnetHdr(h, frame, this.linkHdr, meta, this.offloads.txChecksum, this.offloads.tso);
      if (h.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) {
        if (!seedPseudoHeaderSum(u8, at + this.vnet, len, ipOff, h.csumStart, h.csumOffset)) {
          // Not IPv4 or inconsistent offsets: the frame's checksum stays as the caller wrote it.
          h.flags = 0;
          h.gsoType = 0;
          h.gsoSize = 0;
          h.hdrLen = 0;
        } else {
          this.s.txCsumOffload++;
          if (h.gsoType === VIRTIO_NET_HDR_GSO_TCPV4) this.s.txGso++;
        }
      }
      encodeVnetHdr(u8, at, h);
    }
    const m = (this.txCount % this.txMaxFrames) * this.txStride;
    this.txMeta[m] = at;
    this.txMeta[m + 1] = need;
    this.txCount++;
    this.txTail = (at + need + 7) & ~7;
    this.s.txFrames++;
    this.s.txBytes += len;
    if (!this.flushQueued) {
      this.flushQueued = true;
      queueMicrotask(this.autoFlush);
    }
    return true;
  }

  /** Writes every queued frame now (one native call). */
  flush(): void {
    if (!this.closed) this.writePending();
  }

  /** Brings the interface up (or down). */
  setUp(up = true): void {
    this.ctl('SIOCSIFFLAGS', (d) => d.setUp(up));
  }

  /** Whether the interface is administratively up. */
  isUp(): boolean {
    return this.ctl('SIOCGIFFLAGS', (d) => d.isUp());
  }

  /** Sets the device's MTU (the kernel's and ours); grows the receive buffer when needed. */
  setMtu(mtu: number): void {
    const v = intOpt(mtu, 'mtu', 68, 65521, 1500);
    this.ctl('SIOCSIFMTU', (d) => d.setMtu(v));
    this._mtu = v;
    if (!this._offloads.tso) this._offloads = Object.freeze({ ...this._offloads, maxFrame: v + this.linkHdr });
    this.allocRx();
  }

  /** The kernel's queue length towards the stack (`txqueuelen`, see TapLinkOptions.kernelQueueLen). */
  kernelQueueLen(): number {
    return this.ctl('SIOCGIFTXQLEN', (d) => d.getTxQueueLen());
  }

  /** Sets the kernel interface's hardware address (not the stack's station MAC, `link.mac`). */
  setMac(mac: Uint8Array | string): void {
    if (this.mode === 'tun') throw err('ENOTSUP', 'a TUN device has no MAC address');
    const m = parseMac(mac, 'mac');
    if (this.mac && macString(this.mac) === macString(m)) throw err('ERR_INVALID_ARG_VALUE', 'the interface address must differ from the stack\'s station MAC');
    this.ctl('SIOCSIFHWADDR', (d) => d.setMac(m));
  }

  /** The kernel interface's hardware address. */
  ifaceMac(): Uint8Array {
    if (this.mode === 'tun') throw err('ENOTSUP', 'a TUN device has no MAC address');
    const out = new Uint8Array(6);
    this.ctl('SIOCGIFHWADDR', (d) => d.getMac(out));
    return out;
  }

  /** Keep (default) or stop keeping the Node event loop alive while the device is open. */
  ref(): this {
    this.dev?.ref();
    return this;
  }

  unref(): this {
    this.dev?.unref();
    return this;
  }

  private ctl<T>(what: string, f: (d: NativeTapDevice) => T): T {
    if (!this.dev) throw err('ERR_TAP_IO', `${this.name} is closed`);
    try {
      return f(this.dev);
    } catch (e) {
      throw mapCtlError(e, what, this.name);
    }
  }

  stats(): TapLinkStats {
    const c = this.counters;
    this.dev?.counters(c);
    const s = this.s;
    return {
      rxFrames: s.rxFrames,
      rxBytes: s.rxBytes,
      rxBatches: c[NC.RxBatches],
      rxCsumValid: s.rxCsumValid,
      rxGso: s.rxGso,
      rxErrors: c[NC.RxErrors] + s.pollErrors,
      rxShort: c[NC.RxShort],
      rxSlabs: s.rxSlabs,
      txFrames: s.txFrames,
      txBytes: s.txBytes,
      txBatches: s.txBatches,
      txCsumOffload: s.txCsumOffload,
      txGso: s.txGso,
      txDrops: s.txDrops,
      txAllocs: s.txAllocs,
      txInPlace: s.txInPlace,
      txOversize: s.txOversize,
      txErrors: c[NC.TxErrors],
      txEagain: c[NC.TxEagain],
      txQueued: this.txCount - this.txHead,
      writableEvents: c[NC.WritableEvents],
      deviceErrno: s.deviceErrno,
    };
  }

  /** Releases the device (the kernel removes it: it is never persistent). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.dev) {
      try {
        this.writePending();
      } catch {
        // closing anyway
      }
      this.dev.counters(this.counters);
      this.dev.close();
    }
    this.dev = null;
    this.handler = null;
    this.allocAt = -1;
    this.txHead = this.txCount;
    this.txTail = 0;
  }
}
