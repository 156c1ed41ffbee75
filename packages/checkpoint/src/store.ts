/**
 * Checkpoint stores: where encoded (signed) checkpoints wait for a takeover.
 *
 * A store holds opaque bytes under a connection key, plus the node id and capture time needed to
 * list "everything node X owned" without verifying or decoding anything. Stores never decode:
 * `loadCheckpoint()` does, with the caller's key, so a store (a replica on another host, a
 * directory) is never trusted with the HMAC key.
 *
 * Bounds: MemoryCheckpointStore has a byte and an entry limit and refuses (ENOBUFS) rather than
 * silently evicting, unless told to evict the oldest: losing a checkpoint means losing the
 * connection at failover, which the caller should hear about. FileCheckpointStore writes each
 * entry to a temporary file and renames it into place (rename(2) is atomic within a directory),
 * so a reader sees the old entry or the new one, never a torn one.
 */
import { open, readdir, readFile, rename, unlink, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, randomBytes } from 'node:crypto';
import { err, type Checkpoint } from '@hastack/stack';
import { encodeCheckpoint, decodeCheckpoint, type DecodeOptions, type EncodeOptions } from './format.js';
import { connectionKey } from './key.js';

/** What a store knows about an entry without decoding it. */
export interface CheckpointEntryInfo {
  key: string;
  nodeId: string;
  /** meta.takenAt of the checkpoint (ms since the epoch). */
  takenAt: number;
  /** Encoded size in bytes. */
  size: number;
}

export interface CheckpointPutMeta {
  nodeId: string;
  takenAt: number;
}

export interface CheckpointStore {
  /** Store (or replace) the encoded checkpoint under `key`. */
  put(key: string, bytes: Uint8Array, meta: CheckpointPutMeta): Promise<void>;
  /** The encoded checkpoint under `key` (a copy), or undefined. */
  get(key: string): Promise<Uint8Array | undefined>;
  /** Remove `key`; true if it existed. */
  delete(key: string): Promise<boolean>;
  /** Entries, optionally only those of one node, sorted by key. */
  list(filter?: { nodeId?: string }): Promise<CheckpointEntryInfo[]>;
  /** Remove every entry of `nodeId` (after a completed takeover); returns how many. */
  deleteNode(nodeId: string): Promise<number>;
}

const MAX_KEY_LENGTH = 512;
const MAX_NODE_ID_LENGTH = 256;

function checkKey(key: unknown): asserts key is string {
  if (typeof key !== 'string') throw err('ERR_INVALID_ARG_TYPE', 'checkpoint store key must be a string');
  if (key.length === 0 || key.length > MAX_KEY_LENGTH) throw err('ERR_INVALID_ARG_VALUE', `checkpoint store key must be 1..${MAX_KEY_LENGTH} characters`);
}

function checkPut(key: unknown, bytes: unknown, meta: unknown): asserts meta is CheckpointPutMeta {
  checkKey(key);
  if (!(bytes instanceof Uint8Array)) throw err('ERR_INVALID_ARG_TYPE', 'checkpoint bytes must be a Uint8Array');
  const m = meta as CheckpointPutMeta;
  if (m === null || typeof m !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'put needs { nodeId, takenAt }');
  if (typeof m.nodeId !== 'string' || m.nodeId.length === 0 || m.nodeId.length > MAX_NODE_ID_LENGTH) {
    throw err('ERR_INVALID_ARG_VALUE', `nodeId must be 1..${MAX_NODE_ID_LENGTH} characters`);
  }
  if (typeof m.takenAt !== 'number' || !Number.isFinite(m.takenAt)) throw err('ERR_INVALID_ARG_VALUE', 'takenAt must be a finite number');
}

export interface MemoryCheckpointStoreOptions {
  /** Max number of entries. Default 100 000. */
  maxEntries?: number;
  /** Max total encoded bytes. Default 256 MiB. */
  maxBytes?: number;
  /** When full: 'reject' (throw ENOBUFS, the default) or 'evict-oldest' (by takenAt). */
  onFull?: 'reject' | 'evict-oldest';
}

interface MemEntry {
  info: CheckpointEntryInfo;
  bytes: Uint8Array;
}

/** A bounded in-process store (tests, a single-host standby, a replication target). */
export class MemoryCheckpointStore implements CheckpointStore {
  readonly maxEntries: number;
  readonly maxBytes: number;
  readonly onFull: 'reject' | 'evict-oldest';
  private readonly entries = new Map<string, MemEntry>();
  private bytesUsed = 0;

  constructor(opts: MemoryCheckpointStoreOptions = {}) {
    this.maxEntries = opts.maxEntries ?? 100_000;
    this.maxBytes = opts.maxBytes ?? 256 * 1024 * 1024;
    this.onFull = opts.onFull ?? 'reject';
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1) throw err('ERR_INVALID_ARG_VALUE', 'maxEntries must be a positive integer');
    if (!Number.isInteger(this.maxBytes) || this.maxBytes < 1) throw err('ERR_INVALID_ARG_VALUE', 'maxBytes must be a positive integer');
    if (this.onFull !== 'reject' && this.onFull !== 'evict-oldest') throw err('ERR_INVALID_ARG_VALUE', "onFull must be 'reject' or 'evict-oldest'");
  }

  /** Number of entries. */
  get size(): number {
    return this.entries.size;
  }

  /** Total encoded bytes held. */
  get bytes(): number {
    return this.bytesUsed;
  }

  async put(key: string, bytes: Uint8Array, meta: CheckpointPutMeta): Promise<void> {
    this.putSync(key, bytes, meta);
  }

  /** Synchronous put (the async API only wraps it). */
  putSync(key: string, bytes: Uint8Array, meta: CheckpointPutMeta): void {
    checkPut(key, bytes, meta);
    if (bytes.length > this.maxBytes) throw err('ENOBUFS', `checkpoint of ${bytes.length} bytes exceeds the store limit of ${this.maxBytes}`);
    const old = this.entries.get(key);
    const oldSize = old ? old.bytes.length : 0;
    const addEntries = old ? 0 : 1;
    // Make room first, or refuse; the store is unchanged when this throws.
    if (this.entries.size + addEntries > this.maxEntries || this.bytesUsed - oldSize + bytes.length > this.maxBytes) {
      if (this.onFull === 'reject') {
        throw err('ENOBUFS', `checkpoint store full (${this.entries.size}/${this.maxEntries} entries, ${this.bytesUsed}/${this.maxBytes} bytes)`);
      }
      this.evictFor(key, addEntries, bytes.length - oldSize);
    }
    const copy = new Uint8Array(bytes); // a plain copy, whatever the caller passed
    this.entries.set(key, { info: { key, nodeId: meta.nodeId, takenAt: meta.takenAt, size: copy.length }, bytes: copy });
    this.bytesUsed += copy.length - oldSize;
  }

  private evictFor(keep: string, addEntries: number, addBytes: number): void {
    const victims = [...this.entries.values()].filter((e) => e.info.key !== keep).sort((a, b) => a.info.takenAt - b.info.takenAt);
    let i = 0;
    while (
      (this.entries.size + addEntries > this.maxEntries || this.bytesUsed + addBytes > this.maxBytes) &&
      i < victims.length
    ) {
      const v = victims[i++];
      this.entries.delete(v.info.key);
      this.bytesUsed -= v.bytes.length;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    checkKey(key);
    const e = this.entries.get(key);
    return e ? new Uint8Array(e.bytes) : undefined;
  }

  async delete(key: string): Promise<boolean> {
    checkKey(key);
    const e = this.entries.get(key);
    if (!e) return false;
    this.entries.delete(key);
    this.bytesUsed -= e.bytes.length;
    return true;
  }

  async list(filter: { nodeId?: string } = {}): Promise<CheckpointEntryInfo[]> {
    const out: CheckpointEntryInfo[] = [];
    for (const e of this.entries.values()) {
      if (filter.nodeId === undefined || e.info.nodeId === filter.nodeId) out.push({ ...e.info });
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async deleteNode(nodeId: string): Promise<number> {
    let n = 0;
    for (const e of [...this.entries.values()]) {
      if (e.info.nodeId === nodeId) {
        this.entries.delete(e.info.key);
        this.bytesUsed -= e.bytes.length;
        n++;
      }
    }
    return n;
  }
}

// ----------------------------------------------------------------------------------------------

/** File entry header: 'HSCS' | u16 BE metadata length | metadata JSON | checkpoint bytes. */
const FILE_MAGIC = Buffer.from('HSCS', 'latin1');
const FILE_SUFFIX = '.ckpt';

export interface FileCheckpointStoreOptions {
  /** fsync each file before the rename (durable across a machine crash, slower). Default false. */
  fsync?: boolean;
  /** Largest entry accepted (bytes). Default 256 MiB. */
  maxEntryBytes?: number;
}

/**
 * One file per entry in a directory shared by the nodes that may take over (a local disk for a
 * process restart, a shared filesystem for another host). Atomic replacement via rename.
 */
export class FileCheckpointStore implements CheckpointStore {
  readonly dir: string;
  readonly fsync: boolean;
  readonly maxEntryBytes: number;
  private ready: Promise<void> | null = null;

  constructor(dir: string, opts: FileCheckpointStoreOptions = {}) {
    if (typeof dir !== 'string' || dir.length === 0) throw err('ERR_INVALID_ARG_TYPE', 'FileCheckpointStore needs a directory path');
    this.dir = dir;
    this.fsync = opts.fsync ?? false;
    this.maxEntryBytes = opts.maxEntryBytes ?? 256 * 1024 * 1024;
  }

  private ensureDir(): Promise<void> {
    if (!this.ready) {
      this.ready = mkdir(this.dir, { recursive: true }).then(() => undefined);
      this.ready.catch(() => (this.ready = null));
    }
    return this.ready;
  }

  /**
   * File name of a key: percent-encoded (no '/', no leading '.'), with a fixed suffix; a key
   * whose encoding would pass NAME_MAX (255) is named `%%sha256-<hex>` instead (no percent-encoding
   * starts with "%%", so the two forms never collide). The full key is in
   * the file header either way, and get() checks it.
   */
  fileName(key: string): string {
    checkKey(key);
    const enc = encodeURIComponent(key).replace(/^\./, '%2E').replace(/\*/g, '%2A');
    if (enc.length <= 200) return enc + FILE_SUFFIX;
    return `%%sha256-${createHash('sha256').update(key, 'utf8').digest('hex')}${FILE_SUFFIX}`;
  }

  async put(key: string, bytes: Uint8Array, meta: CheckpointPutMeta): Promise<void> {
    checkPut(key, bytes, meta);
    if (bytes.length > this.maxEntryBytes) throw err('ENOBUFS', `checkpoint of ${bytes.length} bytes exceeds maxEntryBytes ${this.maxEntryBytes}`);
    await this.ensureDir();
    const header = Buffer.from(JSON.stringify({ key, nodeId: meta.nodeId, takenAt: meta.takenAt }), 'utf8');
    const pre = Buffer.allocUnsafe(6);
    FILE_MAGIC.copy(pre, 0);
    pre.writeUInt16BE(header.length, 4);
    const final = join(this.dir, this.fileName(key));
    const tmp = join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    try {
      const fh = await open(tmp, 'wx', 0o600);
      try {
        await fh.writev([pre, header, bytes]);
        if (this.fsync) await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, final);
    } catch (e) {
      await unlink(tmp).catch(() => undefined);
      throw e;
    }
  }

  private parse(file: Buffer): { info: CheckpointEntryInfo; body: Buffer } | null {
    if (file.length < 6 || !file.subarray(0, 4).equals(FILE_MAGIC)) return null;
    const hlen = file.readUInt16BE(4);
    if (file.length < 6 + hlen) return null;
    try {
      const h = JSON.parse(file.subarray(6, 6 + hlen).toString('utf8')) as { key: unknown; nodeId: unknown; takenAt: unknown };
      if (typeof h.key !== 'string' || typeof h.nodeId !== 'string' || typeof h.takenAt !== 'number') return null;
      const body = file.subarray(6 + hlen);
      return { info: { key: h.key, nodeId: h.nodeId, takenAt: h.takenAt, size: body.length }, body };
    } catch {
      return null;
    }
  }

  private async readEntry(name: string): Promise<{ info: CheckpointEntryInfo; body: Buffer } | null> {
    try {
      return this.parse(await readFile(join(this.dir, name)));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  async get(key: string): Promise<Uint8Array | undefined> {
    const e = await this.readEntry(this.fileName(key));
    return e && e.info.key === key ? new Uint8Array(e.body.buffer, e.body.byteOffset, e.body.length) : undefined;
  }

  async delete(key: string): Promise<boolean> {
    try {
      await unlink(join(this.dir, this.fileName(key)));
      return true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw e;
    }
  }

  private async names(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((n) => n.endsWith(FILE_SUFFIX) && !n.startsWith('.'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
  }

  async list(filter: { nodeId?: string } = {}): Promise<CheckpointEntryInfo[]> {
    const out: CheckpointEntryInfo[] = [];
    for (const name of await this.names()) {
      const e = await this.readEntry(name);
      if (!e) continue; // removed meanwhile, or not ours
      if (filter.nodeId === undefined || e.info.nodeId === filter.nodeId) out.push(e.info);
    }
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async deleteNode(nodeId: string): Promise<number> {
    let n = 0;
    for (const info of await this.list({ nodeId })) if (await this.delete(info.key)) n++;
    return n;
  }
}

// ----------------------------------------------------------------------------------------------

/** Encode, sign and store `cp` under connectionKey(cp); returns the key. */
export async function saveCheckpoint(store: CheckpointStore, cp: Checkpoint, opts: EncodeOptions): Promise<string> {
  const bytes = encodeCheckpoint(cp, opts);
  const key = connectionKey(cp);
  await store.put(key, bytes, { nodeId: cp.meta.nodeId, takenAt: cp.meta.takenAt });
  return key;
}

/** Fetch, verify and decode the checkpoint under `key`; undefined if there is none. */
export async function loadCheckpoint(store: CheckpointStore, key: string, opts: DecodeOptions): Promise<Checkpoint | undefined> {
  const bytes = await store.get(key);
  return bytes === undefined ? undefined : decodeCheckpoint(bytes, opts);
}
