/**
 * Small glue between a ClusterNode and a hastack Stack, for the common case. Applications with
 * connections to restore still handle 'takeover' themselves (checkpoints, snooped states); these
 * helpers only move addresses and feed the snooper.
 */
import type { Clock, TimerHandle } from '@hastack/stack';
import type { ClusterNode } from './node.js';
import type { ReleaseAction, TakeoverAction } from './core.js';
import type { ConnectionSnooper } from './snooper.js';
import { parseConnectionKey } from './config.js';

/** The address-management part of a Stack. */
export interface AddressStack {
  addAddress(cidr: string): void;
  removeAddress(ip: string): boolean;
  gratuitousArp(ip?: string): void;
  addresses?(): string[];
  /** Keep an address but stop answering ARP for it (failback 'drain' on the previous holder). */
  setArpSilent?(ip: string, silent?: boolean): void;
}

export interface ManageAddressesOptions {
  /** Prefix length of taken-over addresses. Default 24. */
  prefixLength?: number;
  /** Called with errors from the stack (default: rethrown asynchronously is avoided; ignored). */
  onError?: (e: unknown) => void;
  /**
   * Gratuitous ARP announcements per taken-over address (default 3): the first at once, the others
   * `announceIntervalMs` apart. One lost announcement otherwise leaves the peers sending to the
   * dead node's MAC, so a restored connection's peer never answers its solicitation. RFC 5227 §2.3
   * announces twice; failover tools repeat (keepalived's garp_master_repeat).
   */
  announcements?: number;
  /** Time between repeated announcements (ms, default 200). */
  announceIntervalMs?: number;
}

/**
 * Follow the cluster's decisions on `stack`: on 'takeover' add each address and, under the
 * gratuitous-ARP policy for whole addresses, announce it (RFC 5227 §3); on 'release' remove an
 * address once no ports of it are left here. A whole address given back by failback 'drain' with
 * draining connections on it stays configured but ARP-silent (`stack.setArpSilent`), so the
 * returning node alone answers ARP for it; whoever keeps those connections removes it when they
 * are gone (HaNode does, see drain.ts). Returns an unsubscribe.
 */
export function manageAddresses(node: ClusterNode, stack: AddressStack, opts: ManageAddressesOptions = {}): () => void {
  const prefix = opts.prefixLength ?? 24;
  const announcements = Math.max(1, Math.min(10, Math.floor(opts.announcements ?? 3)));
  const interval = Math.max(1, opts.announceIntervalMs ?? 200);
  const clock = node.clock;
  const has = (ip: string): boolean => !!stack.addresses?.().some((a) => a.split('/')[0] === ip);
  // Pending repeats (bounded: at most `announcements - 1` per address, cancelled on unsubscribe
  // and when the address is released).
  const timers = new Map<TimerHandle, string>();
  let stopped = false;
  const announce = (ip: string, left: number): void => {
    if (stopped || left <= 0) return;
    const h = clock.setTimer(clock.now() + interval, () => {
      timers.delete(h);
      // Only while the address is still ours.
      if (stopped || (stack.addresses && !has(ip))) return;
      try {
        stack.gratuitousArp(ip);
      } catch (e) {
        opts.onError?.(e);
        return;
      }
      announce(ip, left - 1);
    });
    timers.set(h, ip);
  };
  const cancelAnnouncements = (ip: string): void => {
    for (const [h, x] of [...timers]) {
      if (x !== ip) continue;
      clock.clearTimer(h);
      timers.delete(h);
    }
  };
  const onTakeover = (a: TakeoverAction): void => {
    for (const x of a.addresses) {
      try {
        if (!has(x.ip)) stack.addAddress(`${x.ip}/${prefix}`);
        else stack.setArpSilent?.(x.ip, false); // ours again (it may still have been draining)
        if (a.arpPolicy === 'gratuitous-arp' && !a.partial) {
          stack.gratuitousArp(x.ip);
          announce(x.ip, announcements - 1);
        }
      } catch (e) {
        opts.onError?.(e);
      }
    }
  };
  const onRelease = (a: ReleaseAction): void => {
    for (const x of a.addresses) {
      if (x.remaining.length > 0) continue;
      cancelAnnouncements(x.ip);
      try {
        if (a.draining.some((k) => parseConnectionKey(k)?.ip === x.ip)) {
          // Failback 'drain': existing connections still live on this address here. Keep it,
          // but let the returning node alone answer ARP for it.
          if (stack.setArpSilent && has(x.ip)) stack.setArpSilent(x.ip, true);
          continue;
        }
        stack.removeAddress(x.ip);
      } catch (e) {
        opts.onError?.(e);
      }
    }
  };
  node.on('takeover', onTakeover);
  node.on('release', onRelease);
  return () => {
    stopped = true;
    for (const h of timers.keys()) clock.clearTimer(h);
    timers.clear();
    node.off('takeover', onTakeover);
    node.off('release', onRelease);
  };
}

/** The hub-mode hook of a Stack. */
export interface ForeignFrameSource {
  onForeignFrame(fn: ((frame: Uint8Array, meta?: { csumValid?: boolean }) => void) | null): void;
}

/** Feed every frame the stack sees but that is not addressed to it into `snooper`. */
export function snoopStack(stack: ForeignFrameSource, snooper: ConnectionSnooper, clock: Clock): () => void {
  stack.onForeignFrame((frame, meta) => snooper.receiveFrame(frame, clock.now(), meta));
  return () => stack.onForeignFrame(null);
}
