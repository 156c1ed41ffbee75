/**
 * Contracts between the IP layer and the transports (UDP, TCP, SCTP, ICMP users).
 * Addresses inside the engine are IPv4 addresses as unsigned 32-bit numbers (`>>> 0`);
 * strings appear only at the public API edge.
 */
import type { Clock } from '../clock.js';
import type { LinkOffloads, RxMeta, TxMeta } from '../link.js';

/**
 * What the IP layer tells a transport about a received datagram. The engine reuses one IpRx
 * object for every datagram (no per-packet allocation): copy the fields you keep.
 */
export interface IpRx {
  src: number;
  dst: number;
  protocol: number;
  ttl: number;
  tos: number;
  /** dst was a broadcast or multicast address rather than one of ours. */
  nonUnicast: boolean;
  /** Link receive metadata (checksum already verified, GRO super-segment). */
  meta?: RxMeta;
}

/** Options for sending one transport packet. */
export interface IpTx {
  src: number;
  dst: number;
  protocol: number;
  ttl?: number;
  tos?: number;
  /** Set DF; a packet larger than the MTU is then dropped (counted) instead of fragmented. */
  dontFragment?: boolean;
  /** For a multicast destination we are a member of: also deliver a copy locally (default true). */
  multicastLoop?: boolean;
  /**
   * Offload request with offsets relative to the start of the *transport* header; the IP layer
   * rebases them onto the frame. Only set what `IpLayer.offloads` says the link supports.
   * `csumStart`/`csumOffset`: the checksum field holds the folded pseudo-header sum (Linux
   * CHECKSUM_PARTIAL); the IP layer completes it itself when it must (fragments, loopback).
   * `gsoSize` (+ `hdrLen` = transport header length): a TSO super-segment, passed to the link
   * unfragmented when the link does TSO and it fits `offloads.maxFrame`.
   */
  tx?: TxMeta;
}

/** The IP layer as a transport sees it. */
export interface IpLayer {
  /** Bytes a transport must leave free in front of its header for IP and link headers. */
  readonly headroom: number;
  /** Offloads of the (first) link, so transports can skip checksum work. */
  readonly offloads: LinkOffloads;
  /**
   * Send a packet whose transport bytes are at `buf[headroom .. headroom + len)`. The IP and
   * link headers are written in place into the headroom; ownership of `buf` passes to the IP
   * layer. Fragments when needed (unless DF). Returns false when it could not be sent now
   * (no route: counted; ARP pending: queued, bounded — still returns true).
   */
  sendIp(buf: Uint8Array, len: number, tx: IpTx): boolean;
  /** The source address to use towards `dst`, or null when there is no route. */
  sourceFor(dst: number): number | null;
  /** IP MTU of the interface that routes to `dst`. */
  mtuFor(dst: number): number;
  /** Whether `addr` is one of our unicast addresses (now). */
  isLocalAddress(addr: number): boolean;
  /** Send ICMP destination unreachable (type 3, `code`) quoting `ipPacket`; rate limited. */
  sendUnreachable(code: number, ipPacket: Uint8Array): void;
}

/** Everything a transport gets from the stack that owns it. */
export interface TransportContext {
  readonly ip: IpLayer;
  readonly clock: Clock;
  /** Ask the runtime to call `poll()` soon (after the current batch, or on the next tick). */
  wake(): void;
  /** Stable node identity, recorded in checkpoints. */
  readonly nodeId: string;
}

/** A protocol above IPv4. */
export interface TransportProtocol {
  /** Name under which `stats()` appears in `stack.stats()` ('udp', 'tcp', 'sctp'). */
  readonly name: string;
  /** IANA protocol number. */
  readonly protocol: number;
  /**
   * One validated, reassembled datagram. `payload` (the transport header onwards) and
   * `ipPacket` are valid only during the call. Never throws: bad input is counted and dropped.
   */
  receive(rx: IpRx, payload: Uint8Array, ipPacket: Uint8Array, now: number): void;
  /** An ICMP error quoting a packet we sent (`quoted` starts at its IP header). */
  icmpError?(type: number, code: number, quoted: Uint8Array, now: number): void;
  /** Run due timers and emit pending output through `ip.sendIp`. */
  poll(now: number): void;
  /** Earliest time `poll()` must run again; Infinity when nothing is pending. */
  pollAt(): number;
  /** Counters for stack.stats(). */
  stats(): Record<string, unknown>;
  /** Stop at once: forget all state, send nothing (stack.crash()). */
  crash?(): void;
  /** Begin a graceful close of everything (stack.close()); resolves when done. */
  close?(now: number): Promise<void> | void;
}
