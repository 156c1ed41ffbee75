/**
 * `restoreEncoded()`: the receiving end of a takeover in one call — verify and decode signed
 * checkpoint bytes (`decodeCheckpoint`: HMAC, version, field-by-field validation), then
 * `stack.restore()` them. A refused checkpoint (ERR_CHECKPOINT_INVALID, ERR_CHECKPOINT_STALE)
 * throws before the stack is touched; `stack.restore()`'s own refusals (EADDRINUSE,
 * EADDRNOTAVAIL) also change nothing.
 */
import type { RestoreOptions, RestoredBundle, Socket, Stack, UdpSocket } from '@hastack/stack';
import { decodeCheckpoint, type DecodeOptions } from './format.js';

/** Decode options (`key` is required) plus the options of `stack.restore()`. */
export interface RestoreEncodedOptions extends DecodeOptions, RestoreOptions {}

/** What `stack.restore()` returns: a TCP Socket, a UdpSocket, or a bundle's members. */
export type Restored = Socket | UdpSocket | RestoredBundle;

/**
 * Decode `bytes` (signed with `opts.key`) and restore the checkpoint on `stack`. Returns the
 * restored Socket (unready until the peer answers: wait for 'ready'), UdpSocket or bundle.
 */
export function restoreEncoded(stack: Stack, bytes: Uint8Array, opts: RestoreEncodedOptions): Restored {
  const { key, limits, maxBytes, maxAgeMs, now, ...restoreOpts } = opts;
  const dec: DecodeOptions = { key };
  if (limits !== undefined) dec.limits = limits;
  if (maxBytes !== undefined) dec.maxBytes = maxBytes;
  if (maxAgeMs !== undefined) dec.maxAgeMs = maxAgeMs;
  if (now !== undefined) dec.now = now;
  const cp = decodeCheckpoint(bytes, dec);
  // Just validated field by field: the stack need not check the structure again.
  return stack.restore(cp, { ...restoreOpts, validated: true });
}

/** Whether a `restoreEncoded()` result is a bundle (its `members` in checkpoint order). */
export function isRestoredBundle(r: Restored): r is RestoredBundle {
  return !!r && typeof r === 'object' && Array.isArray((r as RestoredBundle).members);
}

