/**
 * @hastack/cluster — high availability for hastack: ownership announcements, failure detection,
 * takeover and failback, checkpoint replication, connection snooping. See docs/cluster.md.
 */
export * from './ports.js';
export * from './types.js';
export {
  MsgType,
  CLUSTER_VERSION,
  encodeMessage,
  parseEnvelope,
  verifyMac,
  decodeBody,
  msgTypeName,
  ReplayWindow,
  envelopeOverhead,
  FLAG_INNER,
  type ClusterMessage,
  type AddressEntry,
  type ClaimReason,
  type Envelope,
  type EncodeHeader,
} from './codec.js';
export * from './core.js';
export * from './snooper.js';
export * from './transport.js';
export * from './node.js';
export * from './integration.js';
export * from './config.js';
export * from './ha.js';
export * from './snoop-takeover.js';
export * from './drain.js';
