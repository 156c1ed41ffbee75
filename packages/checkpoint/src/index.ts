/**
 * @hastack/checkpoint — the checkpoint format: versioned msgpack encoding, field-by-field
 * validation, HMAC-SHA256 signing, and stores. The checkpoint data model itself (types,
 * CHECKPOINT_VERSION, objectRangeForSeq) lives in @hastack/stack, which produces checkpoints;
 * it is re-exported here for convenience. See docs/checkpoint.md.
 */
export {
  CHECKPOINT_VERSION,
  CHECKPOINTABLE_TCP_STATES,
  TCP_TIMER_KINDS,
  isCheckpointableTcpState,
  objectRangeForSeq,
} from '@hastack/stack';
export type {
  Checkpoint,
  TcpCheckpoint,
  UdpCheckpoint,
  BundleCheckpoint,
  ConnectionCheckpoint,
  CheckpointObjectRef,
  CheckpointMeta,
  CheckpointLink,
  CheckpointIp,
  CheckpointApp,
  CheckpointAppState,
  TcpCheckpointSection,
  TcpCongestionState,
  TcpByteRange,
  TcpTimerKind,
  TcpTimerDeadlines,
  TcpCheckpointOptions,
  UdpCheckpointSection,
  UdpCheckpointOptions,
  UdpMembership,
  CheckpointableTcpState,
  ObjectRangeHit,
} from '@hastack/stack';
export {
  encodeCheckpoint,
  decodeCheckpoint,
  encodeCheckpointBatch,
  decodeCheckpointBatch,
  peekCheckpointVersion,
  CHECKPOINT_MAGIC,
  CHECKPOINT_BATCH_MAGIC,
  DEFAULT_MAX_BATCH,
  CHECKPOINT_HEADER_LEN,
  CHECKPOINT_MAC_LEN,
  MIN_KEY_BYTES,
  DEFAULT_MAX_ENCODED_BYTES,
  type CheckpointKey,
  type EncodeOptions,
  type DecodeOptions,
  type DecodeBatchOptions,
} from './format.js';
export { validateCheckpoint, DEFAULT_CHECKPOINT_LIMITS, MAX_RELATIVE_MS, type CheckpointLimits } from './validate.js';
export { connectionKey } from './key.js';
export {
  MemoryCheckpointStore,
  FileCheckpointStore,
  saveCheckpoint,
  loadCheckpoint,
  type CheckpointStore,
  type CheckpointEntryInfo,
  type CheckpointPutMeta,
  type MemoryCheckpointStoreOptions,
  type FileCheckpointStoreOptions,
} from './store.js';
export { restoreEncoded, isRestoredBundle, type RestoreEncodedOptions, type Restored } from './restore.js';
