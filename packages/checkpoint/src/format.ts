/**
 * The signed checkpoint frame.
 *
 *   offset  size  field
 *   0       4     magic 'H' 'S' 'C' 'K' (0x48 0x53 0x43 0x4b)
 *   4       2     format version, big-endian (= meta.version; CHECKPOINT_VERSION today)
 *   6       n     body: msgpack (msgpackr) of the checkpoint's positional wire form (wire.ts):
 *                 arrays for the fixed-schema sections, a map only for app.state
 *   6+n     32    HMAC-SHA256(key, bytes[0 .. 6+n))  (RFC 2104, FIPS 180-4)
 *
 * Decoding checks, in order: type, length, magic, version (a future version is refused), the
 * HMAC (constant-time compare, before any msgpack parsing), then msgpack, then the field-by-field
 * validator. Every refusal is HastackError ERR_CHECKPOINT_INVALID with a `reason`; nothing else
 * escapes (a msgpack parser error is wrapped). A checkpoint is a capability to take over a
 * connection, so an unsigned or wrongly signed one is never parsed.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Packr, Unpackr, RESET_BUFFER_MODE } from 'msgpackr';
import { CHECKPOINT_VERSION, err, HastackError, type Checkpoint } from '@hastack/stack';
import { DEFAULT_CHECKPOINT_LIMITS, validateCheckpoint, type CheckpointLimits } from './validate.js';
import { fromWire, toWire } from './wire.js';

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

// Deterministic, self-contained msgpack: plain maps with string keys (no records, no shared
// structures, no bundled strings, no structured-clone references), float64 for non-integers,
// Uint8Array as msgpack bin. The same object always encodes to the same bytes.
const packr = new Packr({
  useRecords: false,
  structuredClone: false,
  moreTypes: false,
  bundleStrings: false,
  useFloat32: 0,
});
// Decoding: maps as plain objects (msgpackr renames a '__proto__' key), bin copied out of the
// input (the checkpoint must not alias the caller's buffer), 64-bit ints as numbers.
const unpackr = new Unpackr({
  useRecords: false,
  structuredClone: false,
  mapsAsObjects: true,
  copyBuffers: true,
  int64AsType: 'number',
});

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

function mac(key: Uint8Array, signed: Uint8Array): Buffer {
  return createHmac('sha256', key).update(signed).digest();
}

/** Frame `body` as magic | version | body | HMAC. */
function frame(magic: Uint8Array, body: Uint8Array, key: Uint8Array): Buffer {
  const n = CHECKPOINT_HEADER_LEN + body.length;
  const out = Buffer.allocUnsafe(n + CHECKPOINT_MAC_LEN);
  out.set(magic, 0);
  out[4] = (CHECKPOINT_VERSION >>> 8) & 0xff;
  out[5] = CHECKPOINT_VERSION & 0xff;
  out.set(body, CHECKPOINT_HEADER_LEN);
  out.set(mac(key, out.subarray(0, n)), n);
  return out;
}

/**
 * Check length, magic, version and HMAC (in that order; nothing of the body is parsed before the
 * tag verified), then msgpack-decode the body. Returns the decoded value and the frame version.
 */
function unframe(bytes: Uint8Array, magic: Uint8Array, what: string, opts: DecodeOptions): { value: unknown; version: number } {
  if (opts === null || typeof opts !== 'object') throw err('ERR_INVALID_ARG_TYPE', `decoding a ${what} needs { key }`);
  const keys: Uint8Array[] = Array.isArray(opts.key) ? opts.key.map(keyBytes) : [keyBytes(opts.key)];
  if (keys.length === 0) throw err('ERR_INVALID_ARG_VALUE', `decoding a ${what} needs at least one key`);
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
  const signed = bytes.subarray(0, n);
  const tag = bytes.subarray(n);
  let ok = false;
  for (let i = 0; i < keys.length && !ok; i++) {
    // Constant-time compare (both are 32 bytes), so the tag cannot be guessed byte by byte.
    ok = timingSafeEqual(mac(keys[i], signed), tag);
  }
  if (!ok) throw invalid('bad signature (unsigned, tampered, or signed with another key)');
  try {
    // A fresh view per call: msgpackr caches a DataView on the source object it is given.
    return { value: unpackr.unpack(bytes.subarray(CHECKPOINT_HEADER_LEN, n)), version };
  } catch (e) {
    throw invalid(`malformed msgpack body: ${e instanceof Error ? e.message.slice(0, 120) : String(e)}`, e);
  }
}

/** Wire form → validated Checkpoint, with the frame-version and age checks. */
function finish(value: unknown, version: number, opts: DecodeOptions): Checkpoint {
  let cp: Checkpoint;
  try {
    cp = validateCheckpoint(fromWire(value, opts.limits?.maxMembers ?? DEFAULT_CHECKPOINT_LIMITS.maxMembers), opts.limits);
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
  const key = keyBytes(opts.key);
  validateCheckpoint(cp, opts.limits);
  // RESET_BUFFER_MODE: reuse the packer's buffer; frame() copies the body out right away.
  return frame(CHECKPOINT_MAGIC, packr.pack(toWire(cp), RESET_BUFFER_MODE), key);
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
  const { value, version } = unframe(bytes, CHECKPOINT_MAGIC, 'checkpoint', opts);
  return finish(value, version, opts);
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
  const key = keyBytes(opts.key);
  const wires = new Array(cps.length);
  for (let i = 0; i < cps.length; i++) {
    try {
      validateCheckpoint(cps[i], opts.limits);
    } catch (e) {
      throw prefixField(e, i);
    }
    wires[i] = toWire(cps[i]);
  }
  return frame(CHECKPOINT_BATCH_MAGIC, packr.pack(wires, RESET_BUFFER_MODE), key);
}

/**
 * Verify and decode a batch. The whole batch is refused (ERR_CHECKPOINT_INVALID, the `field`
 * prefixed with `[i].`) if any member is invalid; with `maxAgeMs`, a stale member throws
 * ERR_CHECKPOINT_STALE.
 */
export function decodeCheckpointBatch(bytes: Uint8Array, opts: DecodeBatchOptions): Checkpoint[] {
  const { value, version } = unframe(bytes, CHECKPOINT_BATCH_MAGIC, 'checkpoint batch', opts);
  if (!Array.isArray(value)) throw invalid('batch body is not an array');
  const max = opts.maxCheckpoints ?? DEFAULT_MAX_BATCH;
  if (value.length > max) throw invalid(`batch of ${value.length} checkpoints, more than ${max}`);
  const out = new Array<Checkpoint>(value.length);
  for (let i = 0; i < value.length; i++) {
    try {
      out[i] = finish(value[i], version, opts);
    } catch (e) {
      throw prefixField(e, i);
    }
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
