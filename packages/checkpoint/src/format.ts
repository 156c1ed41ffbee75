/**
 * The signed checkpoint frame.
 *
 *   offset  size  field
 *   0       4     magic 'H' 'S' 'C' 'K' (0x48 0x53 0x43 0x4b)
 *   4       2     format version, big-endian (= meta.version; CHECKPOINT_VERSION today)
 *   6       n     body: msgpack of the checkpoint's positional wire form (wire.ts): arrays for
 *                 the fixed-schema sections, a map only for app.state. Written and read by the
 *                 hand-written codec (codec.ts), byte-identical to what msgpackr wrote before.
 *   6+n     32    HMAC-SHA256(key, bytes[0 .. 6+n))  (RFC 2104, FIPS 180-4)
 *
 * Decoding checks, in order: type, length, magic, version (a future version is refused), the
 * HMAC (constant-time compare, before any msgpack parsing; mac.ts), then msgpack, then the
 * field-by-field validator. Every refusal is HastackError ERR_CHECKPOINT_INVALID with a
 * `reason`; nothing else escapes (a parser error is wrapped). A checkpoint is a capability to take over a
 * connection, so an unsigned or wrongly signed one is never parsed.
 */
import { CHECKPOINT_VERSION, err, HastackError, type Checkpoint } from '@hastack/stack';
import { DEFAULT_CHECKPOINT_LIMITS, validateCheckpoint, validateParsedCheckpoint, type CheckpointLimits } from './validate.js';
import { readBatchBody, readCheckpointBody, writeArrayHeader, writeCheckpointBody, Writer } from './codec.js';
import { MAC_PREFIX, macFrame, macKey, macPrefixed, putTag, tagEquals, type MacKey } from './mac.js';

/** 'HSCK'. */
export const CHECKPOINT_MAGIC: Uint8Array = new Uint8Array([0x48, 0x53, 0x43, 0x4b]);
export const CHECKPOINT_HEADER_LEN = 6;
export const CHECKPOINT_MAC_LEN = 32;
/** Minimum key length in bytes (HMAC keys shorter than the tag weaken it; RFC 2104 §3). */
export const MIN_KEY_BYTES = 16;
/** Default largest encoded checkpoint decodeCheckpoint accepts. */
export const DEFAULT_MAX_ENCODED_BYTES = 256 * 1024 * 1024;

export type CheckpointKey = string | Uint8Array;

export interface EncodeOptions {
  /** HMAC key: ≥ 16 bytes (a string counts its UTF-8 bytes). */
  key: CheckpointKey;
  /** Validator limits (the encoder validates first, so it never emits what decode would refuse). */
  limits?: Partial<CheckpointLimits>;
}

export interface DecodeOptions {
  /** HMAC key, or several (key rotation: the first that verifies wins). */
  key: CheckpointKey | readonly CheckpointKey[];
  limits?: Partial<CheckpointLimits>;
  /** Refuse input longer than this many bytes. Default 256 MiB. */
  maxBytes?: number;
  /**
   * Replay window: refuse with ERR_CHECKPOINT_STALE a checkpoint whose meta.takenAt is more than
   * this many ms before `now` (wall/cluster clock, default Date.now()).
   */
  maxAgeMs?: number;
  now?: number;
}

// The encoder's output buffer, reused by every call: [MAC_PREFIX bytes for the HMAC inner pad |
// header | body]. A frame is copied out of it (measured: cheaper than handing out views of a
// slab), so callers never see it. Kept if it grew to at most 1 MiB (a checkpoint carrying large
// buffers gets a one-off buffer instead).
const WRITER_KEEP = 1 << 20;
let writer = new Writer(16 * 1024);
let writerBusy = false;

function invalid(reason: string, cause?: unknown): HastackError {
  return err('ERR_CHECKPOINT_INVALID', reason, { info: { reason, field: '' }, cause });
}

let lastStringKey = '';
let lastStringKeyBytes: Buffer | null = null;

/** Key bytes; throws ERR_INVALID_ARG_TYPE / ERR_INVALID_ARG_VALUE (API misuse, not bad input). */
function keyBytes(key: unknown): Uint8Array {
  if (typeof key === 'string') {
    if (key === lastStringKey && lastStringKeyBytes) return lastStringKeyBytes;
    const b = Buffer.from(key, 'utf8');
    if (b.length < MIN_KEY_BYTES) throw err('ERR_INVALID_ARG_VALUE', `checkpoint key must be at least ${MIN_KEY_BYTES} bytes`);
    lastStringKey = key;
    lastStringKeyBytes = b;
    return b;
  }
  if (key instanceof Uint8Array) {
    if (key.length < MIN_KEY_BYTES) throw err('ERR_INVALID_ARG_VALUE', `checkpoint key must be at least ${MIN_KEY_BYTES} bytes`);
    return key;
  }
  throw err('ERR_INVALID_ARG_TYPE', 'checkpoint key must be a string, Buffer or Uint8Array');
}

function writeBatchBody(w: Writer, cps: readonly Checkpoint[]): void {
  writeArrayHeader(w, cps.length);
  for (let i = 0; i < cps.length; i++) writeCheckpointBody(w, cps[i]);
}

/**
 * Write a frame: magic | version | body (written by `body`) | HMAC. The body is written straight
 * into the reused buffer after room for the HMAC inner pad, so signing copies nothing.
 */
function frame<T>(magic: Uint8Array, key: MacKey, body: (w: Writer, what: T) => void, what: T): Buffer {
  // Re-entrant use (a getter in app.state calling encode) gets its own buffer.
  const w = writerBusy ? new Writer(4096) : writer;
  const shared = w === writer;
  writerBusy = true;
  try {
    w.start = 0;
    w.pos = MAC_PREFIX + CHECKPOINT_HEADER_LEN;
    body(w, what);
    const n = w.pos - MAC_PREFIX;
    const b = w.buf;
    b[MAC_PREFIX] = magic[0];
    b[MAC_PREFIX + 1] = magic[1];
    b[MAC_PREFIX + 2] = magic[2];
    b[MAC_PREFIX + 3] = magic[3];
    b[MAC_PREFIX + 4] = (CHECKPOINT_VERSION >>> 8) & 0xff;
    b[MAC_PREFIX + 5] = CHECKPOINT_VERSION & 0xff;
    const tag = macPrefixed(key, b, 0, n);
    // The tag goes behind the frame in the working buffer, then one copy of the whole frame
    // through a cached view (Buffer#copy builds a view per call).
    w.pos = MAC_PREFIX + n;
    w.ensure(CHECKPOINT_MAC_LEN);
    const wb = w.buf;
    putTag(wb, MAC_PREFIX + n, tag);
    const out = Buffer.allocUnsafe(n + CHECKPOINT_MAC_LEN);
    out.set(frameView(wb, n + CHECKPOINT_MAC_LEN), 0);
    return out;
  } finally {
    if (shared) {
      writerBusy = false;
      if (writer.buf.length > WRITER_KEEP) writer = new Writer(16 * 1024);
    }
  }
}

// Views wb[MAC_PREFIX, MAC_PREFIX + len) of the working buffer, by length (frames of one
// application come in a few sizes). Only for the shared writer's buffer (bounded: 256 lengths).
let viewsOf: Buffer | null = null;
const views = new Map<number, Buffer>();

function frameView(wb: Buffer, len: number): Buffer {
  if (wb !== writer.buf) return wb.subarray(MAC_PREFIX, MAC_PREFIX + len);
  if (wb !== viewsOf) {
    viewsOf = wb;
    views.clear();
  }
  let v = views.get(len);
  if (v === undefined) {
    if (views.size >= 256) views.clear();
    v = wb.subarray(MAC_PREFIX, MAC_PREFIX + len);
    views.set(len, v);
  }
  return v;
}

let unframedVersion = 0;

/**
 * Check length, magic, version and HMAC (in that order; nothing of the body is parsed before the
 * tag verified). Returns the end of the body (the tag's offset); the frame version is left in
 * `unframedVersion` (no result object per call).
 */
function unframe(bytes: Uint8Array, magic: Uint8Array, what: string, opts: DecodeOptions): number {
  if (opts === null || typeof opts !== 'object') throw err('ERR_INVALID_ARG_TYPE', `decoding a ${what} needs { key }`);
  const keyOpt = opts.key;
  const many = Array.isArray(keyOpt);
  const first = many ? undefined : keyBytes(keyOpt);
  const keys: Uint8Array[] | null = many ? (keyOpt as readonly CheckpointKey[]).map(keyBytes) : null;
  if (keys !== null && keys.length === 0) throw err('ERR_INVALID_ARG_VALUE', `decoding a ${what} needs at least one key`);
  if (!(bytes instanceof Uint8Array)) throw err('ERR_INVALID_ARG_TYPE', `${what} bytes must be a Buffer or Uint8Array`);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_ENCODED_BYTES;
  const len = bytes.length;
  // The smallest body is one msgpack byte.
  if (len < CHECKPOINT_HEADER_LEN + 1 + CHECKPOINT_MAC_LEN) throw invalid(`truncated: ${len} bytes`);
  if (len > maxBytes) throw invalid(`too large: ${len} bytes > ${maxBytes}`);
  for (let i = 0; i < 4; i++) if (bytes[i] !== magic[i]) throw invalid(`bad magic (not a hastack ${what})`);
  const version = (bytes[4] << 8) | bytes[5];
  if (version === 0) throw invalid('bad format version 0');
  if (version > CHECKPOINT_VERSION) throw invalid(`future format version ${version} (this build reads up to ${CHECKPOINT_VERSION})`);

  const n = len - CHECKPOINT_MAC_LEN;
  // Constant-time compare (mac.ts), so the tag cannot be guessed byte by byte.
  let ok = false;
  if (keys === null) ok = tagEquals(macFrame(macKey(first as Uint8Array), bytes, n), bytes, n);
  else for (let i = 0; i < keys.length && !ok; i++) ok = tagEquals(macFrame(macKey(keys[i]), bytes, n), bytes, n);
  if (!ok) throw invalid('bad signature (unsigned, tampered, or signed with another key)');
  unframedVersion = version;
  return n;
}

/** A parser failure that is not already a refusal (a bug on hostile input) is still a refusal. */
function asInvalid(e: unknown): unknown {
  if (e instanceof HastackError) return e;
  return invalid(`malformed msgpack body: ${e instanceof Error ? e.message.slice(0, 120) : String(e)}`, e);
}

/** Parsed checkpoint → validated Checkpoint, with the frame-version and age checks. */
function finish(parsed: Checkpoint, version: number, opts: DecodeOptions): Checkpoint {
  let cp: Checkpoint;
  try {
    cp = validateParsedCheckpoint(parsed, opts.limits);
  } catch (e) {
    if (e instanceof HastackError) throw e;
    // A validator bug on hostile input must still surface as a refusal, never as a crash.
    throw invalid(`validation failed: ${e instanceof Error ? e.message : String(e)}`, e);
  }
  if (cp.meta.version !== version) throw invalid(`meta.version ${cp.meta.version} differs from the frame version ${version}`);
  if (opts.maxAgeMs !== undefined) {
    const now = opts.now ?? Date.now();
    if (now - cp.meta.takenAt > opts.maxAgeMs) {
      throw err('ERR_CHECKPOINT_STALE', `checkpoint taken ${Math.round(now - cp.meta.takenAt)} ms ago, older than maxAgeMs ${opts.maxAgeMs}`);
    }
  }
  return cp;
}

/**
 * Validate, msgpack-encode and sign a checkpoint. Throws ERR_CHECKPOINT_INVALID if `cp` does not
 * validate (so every encoded checkpoint decodes), ERR_INVALID_ARG_* for a bad key.
 */
export function encodeCheckpoint(cp: Checkpoint, opts: EncodeOptions): Buffer {
  if (opts === null || typeof opts !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'encodeCheckpoint needs { key }');
  const key = macKey(keyBytes(opts.key));
  validateCheckpoint(cp, opts.limits);
  return frame(CHECKPOINT_MAGIC, key, writeCheckpointBody, cp);
}

/** Read the format version of an encoded checkpoint (or batch) without verifying it (null if not one). */
export function peekCheckpointVersion(bytes: Uint8Array): number | null {
  if (!(bytes instanceof Uint8Array) || bytes.length < CHECKPOINT_HEADER_LEN) return null;
  let single = true;
  let batch = true;
  for (let i = 0; i < 4; i++) {
    if (bytes[i] !== CHECKPOINT_MAGIC[i]) single = false;
    if (bytes[i] !== CHECKPOINT_BATCH_MAGIC[i]) batch = false;
  }
  return single || batch ? (bytes[4] << 8) | bytes[5] : null;
}

/**
 * Verify, decode and validate a signed checkpoint. Anything malformed, truncated, from a future
 * version, unsigned or wrongly signed throws ERR_CHECKPOINT_INVALID (with `reason`); an expired
 * one (maxAgeMs) ERR_CHECKPOINT_STALE. Returns a fresh object that shares no memory with `bytes`.
 */
export function decodeCheckpoint(bytes: Uint8Array, opts: DecodeOptions): Checkpoint {
  const end = unframe(bytes, CHECKPOINT_MAGIC, 'checkpoint', opts);
  const version = unframedVersion;
  let parsed: Checkpoint;
  try {
    parsed = readCheckpointBody(bytes, CHECKPOINT_HEADER_LEN, end, opts.limits?.maxMembers ?? DEFAULT_CHECKPOINT_LIMITS.maxMembers);
  } catch (e) {
    throw asInvalid(e);
  }
  return finish(parsed, version, opts);
}

// ----------------------------------------------------------------------------------------------
// Batches: many checkpoints under one HMAC (bulk replication, migrating every connection of a
// node). Same frame with magic 'HSCB'; the body is a msgpack array of wire forms. The one tag
// covers all of them, so a batch is accepted or refused as a whole.

/** 'HSCB'. */
export const CHECKPOINT_BATCH_MAGIC: Uint8Array = new Uint8Array([0x48, 0x53, 0x43, 0x42]);
/** Default largest number of checkpoints in a batch. */
export const DEFAULT_MAX_BATCH = 100_000;

export interface DecodeBatchOptions extends DecodeOptions {
  /** Refuse a batch with more checkpoints than this. Default 100 000. */
  maxCheckpoints?: number;
}

/** Validate, encode and sign many checkpoints as one frame (one HMAC for all of them). */
export function encodeCheckpointBatch(cps: readonly Checkpoint[], opts: EncodeOptions): Buffer {
  if (opts === null || typeof opts !== 'object') throw err('ERR_INVALID_ARG_TYPE', 'encodeCheckpointBatch needs { key }');
  if (!Array.isArray(cps)) throw err('ERR_INVALID_ARG_TYPE', 'encodeCheckpointBatch needs an array of checkpoints');
  const key = macKey(keyBytes(opts.key));
  for (let i = 0; i < cps.length; i++) {
    try {
      validateCheckpoint(cps[i], opts.limits);
    } catch (e) {
      throw prefixField(e, i);
    }
  }
  return frame(CHECKPOINT_BATCH_MAGIC, key, writeBatchBody, cps);
}

/**
 * Verify and decode a batch. The whole batch is refused (ERR_CHECKPOINT_INVALID, the `field`
 * prefixed with `[i].`) if any member is invalid; with `maxAgeMs`, a stale member throws
 * ERR_CHECKPOINT_STALE.
 */
export function decodeCheckpointBatch(bytes: Uint8Array, opts: DecodeBatchOptions): Checkpoint[] {
  const end = unframe(bytes, CHECKPOINT_BATCH_MAGIC, 'checkpoint batch', opts);
  const version = unframedVersion;
  const max = opts.maxCheckpoints ?? DEFAULT_MAX_BATCH;
  const out: Checkpoint[] = [];
  try {
    readBatchBody(
      bytes,
      CHECKPOINT_HEADER_LEN,
      end,
      opts.limits?.maxMembers ?? DEFAULT_CHECKPOINT_LIMITS.maxMembers,
      max,
      (i, parsed) => {
        try {
          out.push(finish(parsed, version, opts));
        } catch (e) {
          throw prefixField(e, i);
        }
      },
      (i, e) => prefixField(asInvalid(e), i),
    );
  } catch (e) {
    throw asInvalid(e);
  }
  return out;
}

function prefixField(e: unknown, i: number): unknown {
  if (!(e instanceof HastackError) || e.code !== 'ERR_CHECKPOINT_INVALID') return e;
  const info = e as HastackError & { field?: string; reason?: string };
  const field = `[${i}].${info.field ?? ''}`;
  const reason = info.reason ?? e.message;
  return err('ERR_CHECKPOINT_INVALID', `${field}: ${reason}`, { info: { field, reason }, cause: e });
}
