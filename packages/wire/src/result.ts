/**
 * Errors as values: every parser in @hastack/wire returns either its repr or a `WireError`.
 * Parsers never throw on any input and never read out of bounds; the engine counts the
 * `reason` and drops the packet (ARCHITECTURE §2.9).
 */

/** Why a packet was rejected. Stable strings: the engine uses them as drop-counter keys. */
export type WireErrorReason =
  /** The buffer ends before a fixed header (or a length the header names) is complete. */
  | 'truncated'
  /** A version field holds a value other than the one this parser handles. */
  | 'bad-version'
  /** A header-length field is too small or points past the data (IPv4 IHL, TCP data offset). */
  | 'bad-header-length'
  /** A total/datagram length field is inconsistent with the header or the buffer. */
  | 'bad-length'
  /** The checksum does not verify. */
  | 'bad-checksum'
  /** A field holds a value the protocol forbids (e.g. ARP hlen 5). */
  | 'bad-field'
  /** An option is malformed (TCP/IP options). */
  | 'bad-option'
  /** A chunk is malformed (SCTP). */
  | 'bad-chunk'
  /** A textual address could not be parsed. */
  | 'bad-address'
  /** Well-formed but outside what hastack implements (VLAN tag, non-Ethernet ARP, ICMP redirect...). */
  | 'unsupported';

/** A parse failure: a reason (for counters) and an optional human-readable detail. */
export class WireError {
  constructor(
    readonly reason: WireErrorReason,
    readonly detail?: string,
  ) {}

  toString(): string {
    return this.detail === undefined ? `WireError(${this.reason})` : `WireError(${this.reason}: ${this.detail})`;
  }
}

/** Type guard for the `Repr | WireError` results of every parser. */
export function isWireError(x: unknown): x is WireError {
  return x instanceof WireError;
}
