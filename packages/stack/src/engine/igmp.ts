/**
 * IGMPv2 (RFC 2236) host state. The message format lives in @hastack/wire (IgmpPacket).
 */
export { IGMP_LEN, IgmpType, IPV4_ROUTER_ALERT as ROUTER_ALERT, IPV4_ALL_SYSTEMS as ALL_SYSTEMS, IPV4_ALL_ROUTERS as ALL_ROUTERS } from '@hastack/wire';

/** Per-group membership state: plain data. */
export interface GroupState {
  group: number;
  /** Sockets (or API users) that joined. */
  refs: number;
  /** When to send a delayed report in answer to a query; Infinity when none is pending. */
  reportAt: number;
}
