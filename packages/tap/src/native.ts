/**
 * Loads the `hastack_tap` N-API addon (built by `pnpm --filter @hastack/tap run build:native` into
 * `packages/tap/build/Release/`) and maps its system errors to typed `HastackError`s.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { err, type HastackError } from '@hastack/stack';

/** Options of the native constructor (validated by TapLink first). */
export interface NativeOpenOptions {
  name: string;
  tun: boolean;
  /** 0 (no IFF_VNET_HDR), 10 or 12. */
  vnetHdr: number;
  /** TUNSETOFFLOAD flags (TUN_F_*). */
  offload: number;
  /** Path of a network namespace file, or '' for the caller's namespace. */
  netns: string;
}

/** One open TUN/TAP fd (see native/tap.cc). */
export interface NativeTapDevice {
  readonly fd: number;
  readonly name: string;
  readonly ifindex: number;
  /**
   * `moving`: each batch continues in `rx` where the last one ended, and bytes once read are never
   * written again (JS may hand frames over); when the rest cannot hold `readMax` bytes JS must call
   * setRxBuffer() (a wake-up then calls onRx(0) instead of reading). Otherwise every batch starts at 0.
   */
  setBuffers(rx: ArrayBuffer, rxMeta: Int32Array, tx: ArrayBuffer, txMeta: Int32Array, readMax: number, rxBatch: number, moving?: boolean): void;
  /** A fresh receive buffer for the moving mode; the next batch starts at its offset 0. */
  setRxBuffer(rx: ArrayBuffer): void;
  start(onRx: (count: number) => void, onWritable: () => void): void;
  pollWritable(on: boolean): void;
  /**
   * Frames are numbered (0, 1, 2, ... < 2^53); frame n is described by tx metadata slot
   * n % (txMeta.length / TX_STRIDE). Synchronous mode: write()s frames start..start+count-1 until
   * EAGAIN, returns how many were consumed. Writer-thread mode: submits them to the thread (start
   * must not be past the first unwritten frame) and returns how many of them are written so far
   * (their bytes must stay untouched until then).
   */
  writeBatch(start: number, count: number): number;
  /** Starts the writer thread (true); cannot be stopped except by close(). */
  setTxThread(on: boolean): void;
  /**
   * Waits up to `ms` for the writer thread to write the frames before number `until` (default:
   * everything submitted) or to block on a full kernel queue. True when everything submitted is written.
   */
  txWait(ms: number, until?: number): boolean;
  readNow(): number;
  setMtu(mtu: number): void;
  getMtu(): number;
  /** SIOCSIFTXQLEN / SIOCGIFTXQLEN: the kernel's queue of frames towards us. */
  setTxQueueLen(n: number): void;
  getTxQueueLen(): number;
  setMac(mac: Uint8Array): void;
  getMac(out: Uint8Array): void;
  setUp(up: boolean): void;
  isUp(): boolean;
  setOffload(flags: number): void;
  counters(out: Float64Array): void;
  ref(): void;
  unref(): void;
  close(): void;
}

export interface NativeModule {
  TapDevice: new (opts: NativeOpenOptions) => NativeTapDevice;
  RX_STRIDE: number;
  TX_STRIDE: number;
  COUNTERS: number;
}

/** Indices into the native counters array. */
export const NC = {
  RxReads: 0,
  RxBatches: 1,
  RxEagain: 2,
  RxErrors: 3,
  RxShort: 4,
  TxWrites: 5,
  TxEagain: 6,
  TxErrors: 7,
  LastRxErrno: 8,
  LastTxErrno: 9,
  WritableEvents: 10,
} as const;

let cached: NativeModule | null = null;
let override: NativeModule | null = null;

/**
 * Replaces the addon with a stand-in (tests of the JavaScript side: batching, backpressure, offload
 * metadata) — `null` restores the real one. Not part of the package's public API.
 */
export function setNativeForTesting(mod: NativeModule | null): void {
  override = mod;
}

/** Where the addon binary is looked for (the package root's build/ directory). */
export function addonPaths(): string[] {
  const root = fileURLToPath(new URL('..', import.meta.url));
  return [`${root}build/Release/hastack_tap.node`, `${root}build/Debug/hastack_tap.node`];
}

/** True when the addon binary exists (it may still fail to load on a foreign platform). */
export function addonBuilt(): boolean {
  return addonPaths().some((p) => existsSync(p));
}

/** Loads the addon once; throws ERR_TAP_IO with instructions when it is not built. */
export function loadNative(): NativeModule {
  if (override) return override;
  if (cached) return cached;
  if (process.platform !== 'linux') throw err('ENOTSUP', 'TUN/TAP devices are supported on Linux only');
  const path = addonPaths().find((p) => existsSync(p));
  if (!path) {
    throw err('ERR_TAP_IO', 'the hastack_tap native addon is not built: run `npx pnpm --filter @hastack/tap run build:native` (needs a C++ compiler and Node headers)');
  }
  const require = createRequire(import.meta.url);
  cached = require(path) as NativeModule;
  return cached;
}

interface SysError extends Error {
  errno?: number;
  code?: string;
  syscall?: string;
  exists?: boolean;
}

/** Maps a system error thrown by the addon while opening `name` to a typed HastackError. */
export function mapOpenError(e: unknown, name: string, netns: string): HastackError {
  const se = e as SysError;
  const code = se?.code ?? '';
  const syscall = se?.syscall ?? '';
  const info = { name, errno: code, ...(netns ? { netns } : {}) };
  const opts = { syscall, info, cause: e };
  const onDevice = syscall === 'open' && se.message?.startsWith('open /dev/net/tun');
  if (code === 'EPERM' || code === 'EACCES') {
    return err('ERR_TAP_PERMISSION', `${syscall} failed with ${code}: opening TUN/TAP devices needs CAP_NET_ADMIN (run as root, or grant the capability)`, opts);
  }
  if (onDevice) {
    if (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO') {
      return err('ERR_TAP_NO_DEVICE', `/dev/net/tun is not available (${code}): load the tun module or run with --device /dev/net/tun`, opts);
    }
    return err('ERR_TAP_IO', `open /dev/net/tun failed: ${se.message}`, opts);
  }
  if (netns && (syscall === 'setns' || syscall === 'open')) {
    return err('ERR_INVALID_ARG_VALUE', `netns ${netns} is not a usable network namespace (${code})`, opts);
  }
  if (syscall === 'TUNSETIFF') {
    if (code === 'EBUSY') return err('ERR_TAP_BUSY', `device ${name} is already open by another process or fd`, opts);
    if (code === 'EINVAL') {
      return se.exists
        ? err('ERR_TAP_BUSY', `the name ${name} is taken by a device of another kind or mode`, opts)
        : err('ERR_TAP_BAD_NAME', `the kernel refused the device name ${JSON.stringify(name)}`, opts);
    }
    if (code === 'ENFILE' || code === 'ENOMEM' || code === 'ENOSPC') return err('ERR_TAP_IO', `cannot create ${name}: ${se.message}`, opts);
  }
  return err('ERR_TAP_IO', se?.message ?? String(e), opts);
}

/** Maps a failed control operation (MTU, MAC, flags) to a typed error. */
export function mapCtlError(e: unknown, what: string, name: string): HastackError {
  const se = e as SysError;
  const code = se?.code ?? '';
  const opts = { syscall: se?.syscall ?? what, info: { name, errno: code }, cause: e };
  if (code === 'EPERM' || code === 'EACCES') return err('ERR_TAP_PERMISSION', `${what} on ${name} needs CAP_NET_ADMIN`, opts);
  if (code === 'EINVAL' || code === 'EADDRNOTAVAIL' || code === 'ERANGE') return err('ERR_INVALID_ARG_VALUE', `${what} on ${name}: the kernel refused the value (${code})`, opts);
  if (code === 'EBADF') return err('ERR_TAP_IO', `${what}: ${name} is closed`, opts);
  return err('ERR_TAP_IO', `${what} on ${name}: ${se?.message ?? String(e)}`, opts);
}
