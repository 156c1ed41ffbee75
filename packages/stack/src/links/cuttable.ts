/**
 * CuttableLink: a link wrapper whose cable can be pulled. While `cut` is true nothing goes out
 * (sends are swallowed and reported as accepted, as a NIC with a dead cable would) and nothing
 * comes in (received frames are dropped before the handler sees them). Used to simulate a
 * network partition or a host that vanished without a word, in tests and in the failover demo.
 */
import type { Link, LinkHandler, TxMeta } from '../link.js';

export class CuttableLink implements Link {
  /** Pull (true) or plug back (false) the cable. */
  cut = false;
  /** Frames dropped in either direction while cut. */
  dropped = 0;

  constructor(private readonly inner: Link) {}

  get medium() {
    return this.inner.medium;
  }
  get mtu() {
    return this.inner.mtu;
  }
  get mac() {
    return this.inner.mac;
  }
  get offloads() {
    return this.inner.offloads;
  }

  attach(h: LinkHandler): void {
    this.inner.attach({
      frame: (d, m) => {
        if (this.cut) this.dropped++;
        else h.frame(d, m);
      },
      batchEnd: () => h.batchEnd(),
      writable: () => h.writable?.(),
    });
  }

  send(frame: Uint8Array, meta?: TxMeta): boolean {
    if (!this.cut) return this.inner.send(frame, meta);
    this.dropped++;
    return true;
  }

  close(): void {
    this.inner.close();
  }
}
