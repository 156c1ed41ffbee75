// A stand-in for the hastack_tap addon that follows its memory contract (rx packing, metadata
// layout, writeBatch semantics), so the JavaScript side can be tested without a device.
import { setNativeForTesting, type NativeModule, type NativeOpenOptions, type NativeTapDevice } from '../src/native.js';
import { TapLink, type TapLinkOptions } from '../src/index.js';
import { encodeVnetHdr, type VnetHdr } from '../src/vnet.js';

export class FakeDevice implements NativeTapDevice {
  readonly fd = 99;
  readonly name: string;
  readonly ifindex = 7;
  rx!: Uint8Array;
  rxMeta!: Int32Array;
  tx!: Uint8Array;
  txMeta!: Int32Array;
  readMax = 0;
  rxBatch = 0;
  onRx: ((n: number) => void) | null = null;
  onWritable: (() => void) | null = null;
  pollingWritable = false;
  /** Copies of what was written (virtio-net header included when enabled). */
  written: Uint8Array[] = [];
  writeBatchCalls = 0;
  /** Writes allowed before EAGAIN. */
  writeBudget = Infinity;
  eagain = 0;
  mtu = 0;
  up = false;
  closed = false;
  ifMac = new Uint8Array([0x0e, 1, 2, 3, 4, 5]);

  constructor(readonly opts: NativeOpenOptions) {
    this.name = opts.name;
  }

  /** Moving receive mode (see NativeTapDevice.setBuffers): where the next batch starts. */
  rxMoving = false;
  rxPos = 0;
  rxBuffersGiven = 0;
  setBuffers(rx: ArrayBuffer, rxMeta: Int32Array, tx: ArrayBuffer, txMeta: Int32Array, readMax: number, rxBatch: number, moving?: boolean): void {
    this.rxMoving = moving === true;
    this.rxPos = 0;
    this.rx = new Uint8Array(rx);
    this.rxMeta = rxMeta;
    this.tx = new Uint8Array(tx);
    this.txMeta = txMeta;
    this.readMax = readMax;
    this.rxBatch = rxBatch;
  }
  setRxBuffer(rx: ArrayBuffer): void {
    if (rx.byteLength < this.readMax) throw new Error('setRxBuffer: smaller than the largest read');
    this.rx = new Uint8Array(rx);
    this.rxMoving = true;
    this.rxPos = 0;
    this.rxBuffersGiven++;
  }
  start(onRx: (n: number) => void, onWritable: () => void): void {
    this.onRx = onRx;
    this.onWritable = onWritable;
  }
  pollWritable(on: boolean): void {
    this.pollingWritable = on;
    if (this.txThread) {
      // The addon's writer: one wake-up once everything submitted is written (at once if it is).
      this.wNotify = false;
      if (on && this.wDone >= this.wTarget) this.pendingWake = true;
      else this.wNotify = on;
    }
  }
  /** Metadata slot of frame number `seq` (the addon's ring). */
  slot(seq: number): number {
    return (seq % (this.txMeta.length / 2)) * 2;
  }
  writeBatch(start: number, n: number): number {
    this.writeBatchCalls++;
    if (n > this.txMeta.length / 2) throw new Error('writeBatch: range');
    if (this.txThread) {
      if (start > this.wDone || start + n < this.wTarget) throw new Error('writeBatch: submission does not continue the writer queue');
      const done = this.wDone - start;
      if (start + n > this.wTarget) this.wTarget = start + n;
      return done;
    }
    let done = 0;
    for (; done < n; done++) {
      if (this.writeBudget <= 0) {
        this.eagain++;
        break;
      }
      this.writeBudget--;
      const off = this.txMeta[this.slot(start + done)];
      const len = this.txMeta[this.slot(start + done) + 1];
      this.written.push(this.tx.slice(off, off + len));
    }
    return done;
  }
  // Writer-thread mode (setTxThread(true)): writeBatch() only submits; pump() plays the thread.
  txThread = false;
  wDone = 0;
  wTarget = 0;
  wNotify = false;
  /** A writer wake-up (uv_async) is due; wake() delivers it. */
  pendingWake = false;
  /** txWait() lets the "thread" write everything it can before returning. */
  txWaitPumps = true;
  txWaitCalls = 0;
  /** The `until` argument of the last txWait() call. */
  txWaitUntil: number | undefined;
  setTxThread(on: boolean): void {
    this.txThread = on;
  }
  txWait(_ms: number, until?: number): boolean {
    this.txWaitCalls++;
    this.txWaitUntil = until;
    if (this.txWaitPumps) this.pump(until === undefined ? Infinity : Math.max(0, until - this.wDone));
    return this.wDone >= this.wTarget;
  }
  /** The writer thread writes up to `k` submitted frames (stops at the write budget, like EAGAIN). */
  pump(k = Infinity): number {
    let n = 0;
    while (this.wDone < this.wTarget && n < k) {
      if (this.writeBudget <= 0) {
        this.eagain++;
        break;
      }
      this.writeBudget--;
      const off = this.txMeta[this.slot(this.wDone)];
      const len = this.txMeta[this.slot(this.wDone) + 1];
      this.written.push(this.tx.slice(off, off + len));
      this.wDone++;
      n++;
    }
    if (this.wDone >= this.wTarget && this.wNotify) {
      this.wNotify = false;
      this.pendingWake = true;
    }
    return n;
  }
  /** Delivers a due writer wake-up to JavaScript. */
  wake(): boolean {
    if (!this.pendingWake) return false;
    this.pendingWake = false;
    this.onWritable!();
    return true;
  }
  readNow(): number {
    return 0;
  }
  setMtu(mtu: number): void {
    this.mtu = mtu;
  }
  getMtu(): number {
    return this.mtu;
  }
  txQueueLen = 1000;
  setTxQueueLen(n: number): void {
    this.txQueueLen = n;
  }
  getTxQueueLen(): number {
    return this.txQueueLen;
  }
  setMac(mac: Uint8Array): void {
    this.ifMac = new Uint8Array(mac);
  }
  getMac(out: Uint8Array): void {
    out.set(this.ifMac);
  }
  setUp(up: boolean): void {
    this.up = up;
  }
  isUp(): boolean {
    return this.up;
  }
  setOffload(): void {}
  counters(out: Float64Array): void {
    out.fill(0);
    out[6] = this.eagain;
  }
  ref(): void {}
  unref(): void {}
  close(): void {
    this.closed = true;
  }

  /**
   * Delivers frames as one batch, packed as the addon does (8-byte aligned, header first). In the
   * moving mode the batch continues where the last ended and stops, like read(), where the rest of
   * the buffer cannot hold `readMax` bytes (returns how many frames were delivered; when none fit,
   * onRx(0) asks for a new buffer, as the addon does).
   */
  deliver(frames: { data: Uint8Array; hdr?: VnetHdr }[]): number {
    const vnet = this.opts.vnetHdr;
    let off = this.rxMoving ? this.rxPos : 0;
    let n = 0;
    for (const f of frames) {
      if (this.rxMoving && off + this.readMax > this.rx.length) break;
      if (vnet) encodeVnetHdr(this.rx, off, f.hdr ?? { flags: 0, gsoType: 0, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 });
      this.rx.set(f.data, off + vnet);
      const m = n * 8;
      const h = f.hdr;
      this.rxMeta.set([off + vnet, f.data.length, h?.flags ?? 0, h?.gsoType ?? 0, h?.hdrLen ?? 0, h?.gsoSize ?? 0, h?.csumStart ?? 0, h?.csumOffset ?? 0], m);
      off += (vnet + f.data.length + 7) & ~7;
      n++;
    }
    if (this.rxMoving) this.rxPos = off;
    this.onRx!(n);
    return n;
  }

  fireWritable(): void {
    if (this.pollingWritable) this.onWritable!();
  }
}

export function fakeNative(): { mod: NativeModule; devices: FakeDevice[] } {
  const devices: FakeDevice[] = [];
  const mod: NativeModule = {
    TapDevice: class {
      constructor(opts: NativeOpenOptions) {
        const d = new FakeDevice(opts);
        devices.push(d);
        return d;
      }
    } as unknown as NativeModule['TapDevice'],
    RX_STRIDE: 8,
    TX_STRIDE: 2,
    COUNTERS: 11,
  };
  return { mod, devices };
}

/**
 * A TapLink on a fresh fake device. Unless a test asks for the writer thread, it uses the
 * synchronous write path.
 */
export function openFakeLink(opts: Partial<TapLinkOptions> = {}): { link: TapLink; dev: FakeDevice } {
  const { mod, devices } = fakeNative();
  setNativeForTesting(mod);
  const link = new TapLink({ name: 'fake0', txThread: false, ...opts });
  return { link, dev: devices[0] };
}

/** An IPv4-typed Ethernet frame of `n` bytes filled with `fill`. */
export function ipv4Frame(n: number, fill: number): Uint8Array {
  const f = new Uint8Array(n).fill(fill);
  f[12] = 0x08;
  f[13] = 0x00;
  return f;
}
