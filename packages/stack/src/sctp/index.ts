/**
 * SCTP (RFC 9260) for hastack: the transport layer, the association API and the seed 004
 * replicated association. See docs/sctp.md and docs/sctp-replication.md.
 */
export { SctpLayer, type SctpLayerOptions, type SctpConnectOptions, type SctpStandbyRecord } from './layer.js';
export { SctpAssociation, SctpServer, type SctpSendOptions, type SctpMessageInfo, type SctpServerOptions } from './api.js';
export { SCTP_DEFAULTS, type SctpSnapshot, type SctpPathInfo, type SctpStateName, type SctpPathStateName, type SctpProtocolOptions, type AssocState } from './types.js';
export {
  SctpReplicator,
  SctpStandby,
  SctpSnapshotStore,
  sctpChannel,
  signedChannel,
  type SctpSyncPolicy,
  type ReplicationChannel,
  type SctpReplicatorOptions,
  type SctpStandbyOptions,
} from './replication.js';
