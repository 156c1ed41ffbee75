/**
 * Plain-data types shared by the cluster core, its messages and its actions.
 * Addresses are dotted-quad IPv4 strings, MACs are "aa:bb:cc:dd:ee:ff" strings.
 */
import type { PortRange } from './ports.js';

/** How a takeover host makes the network deliver an address's frames to it. */
export type ArpPolicy = 'gratuitous-arp' | 'shared-mac';

/** What happens to existing connections when the home node of an address returns. */
export type FailbackMode = 'drain' | 'migrate' | 'none';

/** A failover rule: the ports it covers and who takes them, in order of preference. */
export interface FailoverRule {
  ports: PortRange[];
  successors: string[];
}

/**
 * Failover policy (seed 001 claim 3): an ordered successor list, optionally overridden per port
 * range (first matching rule wins, the remainder goes to `successors`), and the failback mode
 * for when this node returns.
 */
export interface FailoverPolicy {
  successors: string[];
  rules?: FailoverRule[];
  failback?: FailbackMode;
}

/** An address a node owns by configuration ("home" address). */
export interface AddressSpec {
  ip: string;
  mac: string;
  /** Ports of this address the node serves; default all. */
  ports?: PortRange[];
}

/** An address (or a port slice of it) a node currently holds, at an ownership epoch. */
export interface HeldAddress {
  ip: string;
  mac: string;
  ports: PortRange[];
  epoch: number;
  /** The node that owns this address by configuration. */
  home: string;
}

/** An application running on a node. */
export interface Application {
  name: string;
  protocol: string;
  ports: PortRange[];
}

/** Ownership information (seed 001 claim 3; seed 000 claim 9), announced by multicast. */
export interface OwnershipInfo {
  nodeId: string;
  bootId: number;
  /** Incremented on every change; heartbeats carry it so peers notice they are out of date. */
  version: number;
  state: 'joining' | 'active' | 'leaving';
  failover: FailoverPolicy;
  /** Addresses owned by configuration. */
  home: AddressSpec[];
  /** Addresses (or port slices) held right now, with their epochs. */
  held: HeldAddress[];
  /** Union of the ports held. */
  portRanges: PortRange[];
  applications: Application[];
  arpPolicy: ArpPolicy;
  protocols: string[];
  /** MACs tied to the held addresses. */
  macs: string[];
}

/** A replicated connection checkpoint as a replica holds it. The bytes are opaque here. */
export interface ReplicaEntry {
  /** The node the checkpoint came from. */
  origin: string;
  key: string;
  ip: string;
  port: number;
  version: number;
  epoch: number;
  bytes: Uint8Array;
  /** Sent as part of a graceful shutdown's final synchronous checkpoint. */
  final: boolean;
  /** Sent back to a returning node by failback 'migrate'. */
  migrate: boolean;
  /** When it arrived (core time). */
  receivedAt: number;
}
