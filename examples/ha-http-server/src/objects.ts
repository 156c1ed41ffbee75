/**
 * Response bodies as "objects" (seed 003 claim 22; ARCHITECTURE.md §5 "Application objects").
 *
 * Read this first:
 * - Every response body is a byte range of an object with a stable id: a file under the root
 *   (`file:<etag>:<path>`) or a generated stream (`gen:1:<size>:<seed>`). The id names the
 *   content exactly (the file's ETag is in it), so a host restoring a connection can ask for
 *   "bytes of object X from offset N" and get the very bytes the failed host was sending — or an
 *   error if its copy differs, never different bytes.
 * - `objectSource(id, offset)` is the callback a hastack restore takes: it returns the object's
 *   bytes from `offset` to its end as a Readable (synchronously; opening and checking the file
 *   happen inside the stream, and failures arrive as a stream error).
 * - Files are read in 64 KiB pieces through streams, never whole.
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import { open, realpath, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { join, sep, extname } from 'node:path';
import { Readable } from 'node:stream';

/** A body as chunks (sync generators are fine: the pump awaits each chunk anyway). */
export type Chunks = AsyncIterable<Uint8Array> | Iterable<Uint8Array>;

/** What an object source may return (the forms a hastack restore accepts). */
export type ObjectBytes = Uint8Array | Readable | AsyncIterable<Uint8Array>;

/** `objectSource(id, offset)`: the object's bytes from `offset` to its end. */
export type ObjectSourceFn = (id: string, offset: number) => ObjectBytes;

/** An object ready to be served. */
export interface OpenedObject {
  id: string;
  /** Strong entity tag, with its quotes. */
  etag: string;
  size: number;
  /** Last-Modified time (ms), or null for generated objects. */
  mtimeMs: number | null;
  contentType: string;
  /** Bytes [start, end) of the object (end exclusive, start < end ≤ size). */
  read(start: number, end: number): Chunks;
  /** Release what `read` was not asked to take over (the file handle). Idempotent. */
  close(): void;
}

/** An error with a Node-style code. */
export class ObjectError extends Error {
  constructor(
    readonly code: 'ERR_OBJECT_NOT_FOUND' | 'ERR_OBJECT_CHANGED' | 'ERR_OBJECT_INVALID' | 'ERR_OBJECT_RANGE',
    message: string,
  ) {
    super(message);
    this.name = 'ObjectError';
  }
}

/** Block size of reads and of the generator. */
export const BLOCK = 64 * 1024;

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.htm': 'text/html; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/markdown; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.xml': 'application/xml',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.ico': 'image/x-icon',
  '.pdf': 'application/pdf',
  '.zip': 'application/zip',
  '.gz': 'application/gzip',
  '.tar': 'application/x-tar',
  '.wasm': 'application/wasm',
  '.mp4': 'video/mp4',
  '.mp3': 'audio/mpeg',
  '.iso': 'application/octet-stream',
};

/** Content-Type by file extension (application/octet-stream when unknown). */
export function contentTypeFor(path: string): string {
  return CONTENT_TYPES[extname(path).toLowerCase()] ?? 'application/octet-stream';
}

// ---------------------------------------------------------------------------------------------
// Request paths
// ---------------------------------------------------------------------------------------------

export type PathResult = { ok: true; segments: string[]; trailingSlash: boolean } | { ok: false; status: 400 | 403 | 404; reason: string };

const utf8 = new TextDecoder('utf-8', { fatal: true });

function hexVal(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  return -1;
}

/** Decode one %-encoded path segment to a string; null when the encoding or UTF-8 is invalid. */
export function decodeSegment(seg: string): string | null {
  if (!seg.includes('%')) return seg;
  const out = new Uint8Array(seg.length);
  let n = 0;
  for (let i = 0; i < seg.length; i++) {
    const c = seg.charCodeAt(i);
    if (c === 0x25) {
      if (i + 2 >= seg.length) return null;
      const h = hexVal(seg.charCodeAt(i + 1));
      const l = hexVal(seg.charCodeAt(i + 2));
      if (h < 0 || l < 0) return null;
      out[n++] = (h << 4) | l;
      i += 2;
    } else {
      if (c > 0x7f) return null;
      out[n++] = c;
    }
  }
  try {
    return utf8.decode(out.subarray(0, n));
  } catch {
    return null;
  }
}

/**
 * Map a raw (still %-encoded) request path to safe path segments under the root. Refuses
 * traversal (`..`, also encoded: 403), encoded separators and NUL (403/400), bad encodings (400)
 * and hidden names starting with '.' (404); drops empty and '.' segments.
 */
export function resolveRequestPath(rawPath: string): PathResult {
  if (rawPath.length === 0 || rawPath[0] !== '/') return { ok: false, status: 400, reason: 'path must start with /' };
  const parts = rawPath.split('/');
  const segments: string[] = [];
  for (let i = 1; i < parts.length; i++) {
    const d = decodeSegment(parts[i]);
    if (d === null) return { ok: false, status: 400, reason: 'bad %-encoding' };
    if (d.includes('\0')) return { ok: false, status: 400, reason: 'NUL in path' };
    if (d.includes('/') || d.includes('\\')) return { ok: false, status: 403, reason: 'encoded separator' };
    if (d === '..') return { ok: false, status: 403, reason: 'path traversal' };
    if (d === '' || d === '.') continue;
    if (d[0] === '.') return { ok: false, status: 404, reason: 'hidden file' };
    segments.push(d);
  }
  return { ok: true, segments, trailingSlash: rawPath.endsWith('/') };
}

// ---------------------------------------------------------------------------------------------
// Files
// ---------------------------------------------------------------------------------------------

export type EtagMode = 'mtime' | 'sha256';

export interface FileObjectSourceOptions {
  /** Directory served. */
  root: string;
  /** Index file of a directory (default 'index.html'; null: none). */
  index?: string | null;
  /**
   * How ETags (and so object ids) are made: 'mtime' (size + mtime; cheap, but hosts must keep
   * mtimes identical, e.g. shared storage or `rsync -t`) or 'sha256' (content hash, computed on
   * first use and cached per (inode, size, mtime); identical on every host with the same bytes).
   */
  etag?: EtagMode;
}

export type FileOpenResult = { ok: true; object: OpenedObject } | { ok: false; status: 301 | 403 | 404; reason: string };

const MAX_HASH_CACHE = 4096;

/** Serves files under a root as objects. */
export class FileObjectSource {
  readonly root: string;
  readonly index: string | null;
  readonly etagMode: EtagMode;
  private realRoot: string | null = null;
  private readonly hashes = new Map<string, string>();

  constructor(opts: FileObjectSourceOptions) {
    if (!opts || typeof opts.root !== 'string' || opts.root === '') throw new TypeError('root must be a directory path');
    this.root = opts.root;
    this.index = opts.index === undefined ? 'index.html' : opts.index;
    this.etagMode = opts.etag ?? 'mtime';
  }

  private async rootReal(): Promise<string> {
    if (this.realRoot === null) this.realRoot = await realpath(this.root);
    return this.realRoot;
  }

  /** Open the file at `segments` (as given by resolveRequestPath). */
  async open(segments: readonly string[], trailingSlash = false): Promise<FileOpenResult> {
    const root = await this.rootReal();
    let rel = segments.join('/');
    let full = segments.length ? join(root, ...segments) : root;
    if (full !== root && !full.startsWith(root + sep)) return { ok: false, status: 403, reason: 'outside root' };
    let real: string;
    try {
      real = await realpath(full);
    } catch {
      return { ok: false, status: 404, reason: 'not found' };
    }
    // A symlink may point anywhere: only what really lies under the root is served.
    if (real !== root && !real.startsWith(root + sep)) return { ok: false, status: 403, reason: 'symlink outside root' };
    let fh: FileHandle;
    try {
      fh = await open(real, fsc.O_RDONLY | fsc.O_NONBLOCK);
    } catch {
      return { ok: false, status: 404, reason: 'cannot open' };
    }
    let st = await fh.stat();
    if (st.isDirectory()) {
      await fh.close();
      if (!trailingSlash && segments.length > 0) return { ok: false, status: 301, reason: 'directory' };
      if (this.index === null) return { ok: false, status: 404, reason: 'no index' };
      rel = rel === '' ? this.index : `${rel}/${this.index}`;
      full = join(real, this.index);
      try {
        const realIdx = await realpath(full);
        if (!realIdx.startsWith(root + sep)) return { ok: false, status: 403, reason: 'symlink outside root' };
        fh = await open(realIdx, fsc.O_RDONLY | fsc.O_NONBLOCK);
      } catch {
        return { ok: false, status: 404, reason: 'no index' };
      }
      st = await fh.stat();
    }
    if (!st.isFile()) {
      await fh.close();
      return { ok: false, status: 404, reason: 'not a regular file' };
    }
    const etag = await this.etagOf(fh, st.ino, st.size, st.mtimeMs);
    return { ok: true, object: fileObject(fh, rel, etag, st.size, st.mtimeMs) };
  }

  private async etagOf(fh: FileHandle, ino: number, size: number, mtimeMs: number): Promise<string> {
    if (this.etagMode === 'mtime') return `"${size.toString(16)}-${Math.floor(mtimeMs * 1000).toString(16)}"`;
    const key = `${ino}:${size}:${mtimeMs}`;
    let h = this.hashes.get(key);
    if (h === undefined) {
      const hash = createHash('sha256');
      // Read through a second stream on the same descriptor, positioned explicitly, not closing it.
      for await (const chunk of fh.createReadStream({ start: 0, autoClose: false, highWaterMark: BLOCK })) hash.update(chunk as Buffer);
      h = hash.digest('base64url').slice(0, 32);
      if (this.hashes.size >= MAX_HASH_CACHE) this.hashes.delete(this.hashes.keys().next().value as string);
      this.hashes.set(key, h);
    }
    return `"${h}"`;
  }

  /** Object id → bytes from `offset`, after checking that the file still has the id's ETag. */
  readonly objectSource: ObjectSourceFn = (id, offset) => {
    return Readable.from(this.readObject(id, offset), { objectMode: false });
  };

  private async *readObject(id: string, offset: number): AsyncGenerator<Uint8Array> {
    const m = /^file:([^:]+):(.*)$/s.exec(id);
    if (!m) throw new ObjectError('ERR_OBJECT_INVALID', `not a file object id: ${id}`);
    const p = resolveRequestPath(`/${m[2].split('/').map(encodeURIComponent).join('/')}`);
    if (!p.ok) throw new ObjectError('ERR_OBJECT_INVALID', `bad path in object id: ${id}`);
    const r = await this.open(p.segments, false);
    if (!r.ok) throw new ObjectError('ERR_OBJECT_NOT_FOUND', `object ${id}: ${r.reason}`);
    const o = r.object;
    if (o.etag !== `"${m[1]}"`) {
      o.close();
      throw new ObjectError('ERR_OBJECT_CHANGED', `object ${id}: file changed (ETag now ${o.etag})`);
    }
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > o.size) {
      o.close();
      throw new ObjectError('ERR_OBJECT_RANGE', `object ${id}: offset ${offset} outside 0..${o.size}`);
    }
    if (offset === o.size) {
      o.close();
      return;
    }
    yield* o.read(offset, o.size);
  }
}

function fileObject(fh: FileHandle, rel: string, etag: string, size: number, mtimeMs: number): OpenedObject {
  let owned = true;
  return {
    id: `file:${etag.slice(1, -1)}:${rel}`,
    etag,
    size,
    mtimeMs,
    contentType: contentTypeFor(rel),
    read(start: number, end: number): Chunks {
      if (!(start >= 0 && start < end && end <= size)) throw new RangeError('bad read range');
      owned = false;
      // The stream takes over the handle and closes it when done, failed or destroyed.
      return fh.createReadStream({ start, end: end - 1, highWaterMark: BLOCK, autoClose: true });
    },
    close(): void {
      if (owned) {
        owned = false;
        fh.close().catch(() => {});
      }
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Generated objects
// ---------------------------------------------------------------------------------------------

/** Largest generated object (1 TiB). */
export const MAX_GENERATED = 2 ** 40;

const BIG_ENDIAN = endianness() === 'BE';

/**
 * Fill `out` (a multiple of 4 bytes, ≤ BLOCK) with block `index` of the stream for `seed`:
 * xorshift128 (Marsaglia 2003) seeded from (seed, index) by a splitmix-style mixer, so any block
 * is produced directly and a restore can start at any offset. Words are little-endian.
 */
export function generateBlock(seed: number, index: number, out: Uint8Array): void {
  const words = new Uint32Array(out.buffer, out.byteOffset, out.length >>> 2);
  let s = (Math.imul(seed >>> 0, 0x9e3779b1) ^ Math.imul(index >>> 0, 0x85ebca6b) ^ Math.imul(Math.floor(index / 2 ** 32), 0xc2b2ae35)) >>> 0;
  const mix = (): number => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
  let x = mix();
  let y = mix();
  let z = mix();
  let w = mix() | 1;
  for (let i = 0; i < words.length; i++) {
    const t = x ^ (x << 11);
    x = y;
    y = z;
    z = w;
    w = w ^ (w >>> 19) ^ (t ^ (t >>> 8));
    words[i] = w;
  }
  if (BIG_ENDIAN) Buffer.from(out.buffer, out.byteOffset, words.length * 4).swap32();
}

/** The generated bytes [start, end) for `seed`, in fresh blocks of at most BLOCK bytes. */
export function* generateRange(seed: number, start: number, end: number): Generator<Uint8Array> {
  let pos = start;
  while (pos < end) {
    const index = Math.floor(pos / BLOCK);
    const blockStart = index * BLOCK;
    const block = Buffer.allocUnsafe(BLOCK);
    generateBlock(seed, index, block);
    const from = pos - blockStart;
    const to = Math.min(BLOCK, end - blockStart);
    yield from === 0 && to === BLOCK ? block : block.subarray(from, to);
    pos = blockStart + to;
  }
}

/** Parse `gen:1:<size>:<seed>`; null if it is not one. */
export function parseGeneratedId(id: string): { size: number; seed: number } | null {
  const m = /^gen:1:(\d{1,16}):(\d{1,10})$/.exec(id);
  if (!m) return null;
  const size = Number(m[1]);
  const seed = Number(m[2]);
  if (size > MAX_GENERATED || seed > 0xffffffff) return null;
  return { size, seed };
}

/** Deterministic pseudo-random objects: `/gen/<bytes>?seed=<n>`. */
export class GeneratedObjectSource {
  /** The object of `size` bytes for `seed` (uint32). */
  open(size: number, seed: number): OpenedObject {
    if (!Number.isSafeInteger(size) || size < 0 || size > MAX_GENERATED) throw new RangeError('size out of range');
    if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) throw new RangeError('seed out of range');
    return {
      id: `gen:1:${size}:${seed}`,
      etag: `"gen1-${size.toString(16)}-${seed.toString(16)}"`,
      size,
      mtimeMs: null,
      contentType: 'application/octet-stream',
      read: (start, end) => {
        if (!(start >= 0 && start < end && end <= size)) throw new RangeError('bad read range');
        return generateRange(seed, start, end);
      },
      close: () => {},
    };
  }

  readonly objectSource: ObjectSourceFn = (id, offset) => {
    const g = parseGeneratedId(id);
    if (!g) throw new ObjectError('ERR_OBJECT_INVALID', `not a generated object id: ${id}`);
    if (!Number.isSafeInteger(offset) || offset < 0 || offset > g.size) throw new ObjectError('ERR_OBJECT_RANGE', `offset ${offset} outside 0..${g.size}`);
    return Readable.from(generateRange(g.seed, offset, g.size), { objectMode: false });
  };
}

/** One `objectSource` over files and generated objects, dispatching on the id's prefix. */
export function combinedObjectSource(files: FileObjectSource | null, gen: GeneratedObjectSource | null): ObjectSourceFn {
  return (id, offset) => {
    if (id.startsWith('gen:') && gen) return gen.objectSource(id, offset);
    if (id.startsWith('file:') && files) return files.objectSource(id, offset);
    throw new ObjectError('ERR_OBJECT_NOT_FOUND', `no source for object ${id}`);
  };
}

/** Collect an object source's output into one Buffer (tests and small objects). */
export async function readAllBytes(bytes: ObjectBytes): Promise<Buffer> {
  if (bytes instanceof Uint8Array) return Buffer.from(bytes);
  const parts: Buffer[] = [];
  for await (const c of bytes as AsyncIterable<Uint8Array>) parts.push(Buffer.from(c));
  return Buffer.concat(parts);
}
