/**
 * Packet capture in the classic libpcap format (https://www.tcpdump.org/manpages/pcap-savefile.5.txt),
 * readable by tcpdump, tshark and Wireshark.
 *
 * - PcapWriter: appends records to an in-memory buffer and writes it to the file synchronously
 *   when it passes 64 KiB, on `flush()` and on `close()` (so a crash loses at most one buffer).
 * - PcapTap: a Link wrapper that records every frame in both directions, then passes it on.
 *
 * LINKTYPE_ETHERNET (1) for Ethernet links, LINKTYPE_RAW (101) for 'ip' (TUN) links.
 * Frames sent with checksum offload carry unfinished checksums, as on a real NIC: capture below
 * the offloading link, or turn offload off, when you want tshark to verify checksums.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { RealClock, type Clock } from '../clock.js';
import type { Link, LinkHandler, LinkMedium, LinkOffloads, RxMeta, TxMeta } from '../link.js';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101;

export interface PcapWriterOptions {
  /** 'ethernet' (default) or 'ip' (raw IPv4 packets, LINKTYPE_RAW). */
  medium?: LinkMedium;
  /** Nanosecond timestamps (magic 0xa1b23c4d, default) or microseconds (0xa1b2c3d4). */
  nanosecond?: boolean;
  /** Bytes kept per record (default 262144). */
  snaplen?: number;
  /** Wall-clock ms (Unix epoch) corresponding to time 0 of the timestamps passed to write(). */
  epochMs?: number;
}

const FLUSH_AT = 64 * 1024;

export class PcapWriter {
  readonly linkType: number;
  readonly nanosecond: boolean;
  readonly snaplen: number;
  private fd: number | null;
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private epochMs: number;
  /** Records written. */
  records = 0;

  constructor(readonly path: string, options: PcapWriterOptions = {}) {
    this.linkType = options.medium === 'ip' ? LINKTYPE_RAW : LINKTYPE_ETHERNET;
    this.nanosecond = options.nanosecond ?? true;
    this.snaplen = options.snaplen ?? 262144;
    this.epochMs = options.epochMs ?? Date.now();
    this.fd = openSync(path, 'w');
    const h = new Uint8Array(24);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, this.nanosecond ? 0xa1b23c4d : 0xa1b2c3d4, true);
    dv.setUint16(4, 2, true); // version 2.4
    dv.setUint16(6, 4, true);
    dv.setInt32(8, 0, true); // thiszone
    dv.setUint32(12, 0, true); // sigfigs
    dv.setUint32(16, this.snaplen, true);
    dv.setUint32(20, this.linkType, true);
    this.push(h);
  }

  /** Record one frame captured at `timeMs` (ms since `epochMs`, e.g. a Clock's now()). */
  write(frame: Uint8Array, timeMs: number): void {
    if (this.fd === null) return;
    const caplen = Math.min(frame.length, this.snaplen);
    const rec = new Uint8Array(16 + caplen);
    const dv = new DataView(rec.buffer);
    const totalMs = this.epochMs + timeMs;
    let sec = Math.floor(totalMs / 1000);
    let frac = Math.round((totalMs - sec * 1000) * (this.nanosecond ? 1e6 : 1e3));
    const unit = this.nanosecond ? 1e9 : 1e6;
    if (frac >= unit) {
      sec++;
      frac -= unit;
    }
    dv.setUint32(0, sec >>> 0, true);
    dv.setUint32(4, frac, true);
    dv.setUint32(8, caplen, true);
    dv.setUint32(12, frame.length, true);
    rec.set(frame.subarray(0, caplen), 16);
    this.records++;
    this.push(rec);
  }

  /** Write buffered records to the file. */
  flush(): void {
    if (this.fd === null || this.buffered === 0) return;
    const all = new Uint8Array(this.buffered);
    let off = 0;
    for (const c of this.chunks) {
      all.set(c, off);
      off += c.length;
    }
    this.chunks = [];
    this.buffered = 0;
    let done = 0;
    while (done < all.length) done += writeSync(this.fd, all, done, all.length - done);
  }

  /** Flush and close the file. Idempotent. */
  close(): void {
    if (this.fd === null) return;
    this.flush();
    closeSync(this.fd);
    this.fd = null;
  }

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.buffered += b.length;
    if (this.buffered >= FLUSH_AT) this.flush();
  }
}

export interface PcapTapOptions extends PcapWriterOptions {
  /** Clock for timestamps (default: a RealClock). Use the stack's clock. */
  clock?: Clock;
}

/** A Link wrapper that records both directions into a pcap file. Closing the tap closes the writer if the tap opened it. */
export class PcapTap implements Link {
  readonly medium: LinkMedium;
  readonly mtu: number;
  readonly mac?: Uint8Array;
  readonly offloads: LinkOffloads;
  readonly writer: PcapWriter;
  private readonly ownsWriter: boolean;
  private readonly clock: Clock;
  private handler: LinkHandler | null = null;
  private readonly innerHandler: LinkHandler;

  constructor(readonly inner: Link, writer: PcapWriter | string, options: PcapTapOptions = {}) {
    this.medium = inner.medium;
    this.mtu = inner.mtu;
    if (inner.mac) this.mac = inner.mac;
    this.offloads = inner.offloads;
    this.clock = options.clock ?? new RealClock();
    if (typeof writer === 'string') {
      this.writer = new PcapWriter(writer, { ...options, medium: inner.medium, epochMs: options.epochMs ?? Date.now() - this.clock.now() });
      this.ownsWriter = true;
    } else {
      this.writer = writer;
      this.ownsWriter = false;
    }
    this.innerHandler = {
      frame: (data: Uint8Array, meta?: RxMeta) => {
        this.writer.write(data, this.clock.now());
        this.handler?.frame(data, meta);
      },
      batchEnd: () => this.handler?.batchEnd(),
      writable: () => this.handler?.writable?.(),
    };
  }

  attach(handler: LinkHandler): void {
    this.handler = handler;
    this.inner.attach(this.innerHandler);
  }

  send(frame: Uint8Array, meta?: TxMeta): boolean {
    this.writer.write(frame, this.clock.now());
    return this.inner.send(frame, meta);
  }

  flush(): void {
    this.inner.flush?.();
  }

  close(): void {
    this.inner.close();
    this.handler = null;
    if (this.ownsWriter) this.writer.close();
    else this.writer.flush();
  }
}
