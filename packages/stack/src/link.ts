/**
 * The link interface: the one seam between the protocol engine and whatever carries frames
 * (a MemoryNetwork port, a TAP/TUN device, a wrapper such as FaultyLink or PcapTap).
 *
 * Read this first:
 * - A link delivers frames in *batches*: it calls `handler.frame()` once per frame and then
 *   `handler.batchEnd()` once. The runtime processes the frames and only after `batchEnd` lets the
 *   engine emit its output, so replies to a burst of input leave as one burst.
 * - A received frame is a view into memory the link may reuse after `frame()` returns: a receiver
 *   that keeps bytes beyond the call must copy them (TCP's receive buffer does).
 * - `send()` takes ownership of the frame: the caller must not touch it again. It returns false
 *   when the link's queue is full (the frame was dropped); the link then calls
 *   `handler.writable()` once it has room again.
 */

/** What the medium carries: Ethernet frames (TAP, MemoryNetwork) or bare IP packets (TUN). */
export type LinkMedium = 'ethernet' | 'ip';

/** Offloads a link performs, so the engine can skip work (smoltcp's ChecksumCapabilities). */
export interface LinkOffloads {
  /** Received frames flagged `csumValid` need no transport checksum verification. */
  rxChecksum: boolean;
  /** The link completes transport checksums for frames sent with `TxMeta.csumStart`. */
  txChecksum: boolean;
  /** The link splits TCP super-segments (TSO/GSO) sent with `TxMeta.gsoSize`. */
  tso: boolean;
  /** The link may deliver TCP super-segments (GRO/LRO) larger than the MTU. */
  gro: boolean;
  /** Largest frame the link accepts from `send()` when `tso` is on (else the MTU + link header). */
  maxFrame: number;
}

/** Per-frame receive metadata (from a virtio-net header, or set by MemoryNetwork). */
export interface RxMeta {
  /** The transport checksum was verified (or the frame came from a trusted local sender). */
  csumValid?: boolean;
  /** The frame is a super-segment made of `gsoSize`-byte TCP segments (GRO). */
  gsoSize?: number;
  /**
   * The receiver owns the frame's memory: it may keep views into it beyond the `frame()` call
   * (TCP then queues payload as a subarray instead of copying it). Links that reuse receive
   * buffers (TAP) never set it; MemoryNetwork does, since every receiver gets its own frame.
   */
  owned?: boolean;
}

/** Per-frame transmit metadata, understood by links that declare the matching offload. */
export interface TxMeta {
  /** Byte offset (within the frame) where checksumming starts: the transport header. */
  csumStart?: number;
  /** Offset from csumStart of the 16-bit checksum field to fill in. */
  csumOffset?: number;
  /** Segment the frame's TCP payload into segments of this many bytes (TSO). */
  gsoSize?: number;
  /** Length of Ethernet+IP+TCP headers of a TSO frame. */
  hdrLen?: number;
}

/** Callbacks a link drives. */
export interface LinkHandler {
  /** One received frame; `data` is valid only during this call. */
  frame(data: Uint8Array, meta?: RxMeta): void;
  /** The end of a batch of `frame()` calls. */
  batchEnd(): void;
  /** The link's transmit queue has room again after a `send()` returned false. */
  writable?(): void;
}

/** A network attachment. */
export interface Link {
  readonly medium: LinkMedium;
  /** IP MTU: the largest IP packet the link carries in one frame (1500 on standard Ethernet). */
  readonly mtu: number;
  /** The link's own hardware address, if it imposes one (MemoryNetwork ports have one). */
  readonly mac?: Uint8Array;
  readonly offloads: LinkOffloads;
  /** Start delivering frames to `handler`. A link has at most one handler. */
  attach(handler: LinkHandler): void;
  /** Queue one frame for transmission; ownership passes to the link. False: dropped, queue full. */
  send(frame: Uint8Array, meta?: TxMeta): boolean;
  /**
   * Optional: `n` bytes of the link's own transmit memory for the next frame, so the caller builds
   * the frame in place and `send()` skips its copy (TapLink: a slot in the ring the addon writes
   * from). The bytes are NOT zeroed: write every byte you send. Pass the frame (or a view of its
   * first bytes, starting at the same offset) to `send()` before any other `send()` or
   * `allocFrame()` call; a caller that cannot send it at once (an ARP queue, loopback) must copy
   * it out first. Returns null when there is no room (build the frame in ordinary memory instead).
   */
  allocFrame?(n: number): Uint8Array | null;
  /** Push out frames queued by `send()` (links that batch writes do it here). */
  flush?(): void;
  /** Detach and release the link. Idempotent. */
  close(): void;
}

/** Offloads of a link that does none. */
export const NO_OFFLOADS: Readonly<LinkOffloads> = Object.freeze({
  rxChecksum: false,
  txChecksum: false,
  tso: false,
  gro: false,
  maxFrame: 1514,
});
