/**
 * UDP socket checkpoints (seed 003 claims 4–7, 15–18): a UDP flow is its addresses, its
 * multicast memberships and its options, plus the application's state. Datagrams still queued
 * for the application are not carried (UDP makes no delivery promise; the data flows of an
 * RTSP/FTP-like service tolerate the loss of a takeover's few milliseconds).
 */
import { err } from '../errors.js';
import { CHECKPOINT_VERSION, type CheckpointAppState, type UdpCheckpoint, type UdpMembership } from '../checkpoint-types.js';
import type { Engine } from '../engine/engine.js';
import { formatIp } from '../util/addr.js';
import type { UdpLayer } from './layer.js';
import { UdpSocket } from './socket.js';

export interface UdpCaptureOptions {
  app?: { protocol?: string; state?: CheckpointAppState };
}

/** The internals of a UdpSocket a checkpoint reads (TypeScript-private, read here on purpose). */
interface UdpInternals {
  layer: UdpLayer;
  memberships: Set<number>;
  bindState: number;
  closed: boolean;
}

/** `udpSocket.checkpoint()`: throws ERR_SOCKET_DGRAM_NOT_RUNNING unless the socket is bound and open. */
export function captureUdp(s: UdpSocket, opts: UdpCaptureOptions = {}, now?: number): UdpCheckpoint {
  const i = s as unknown as UdpInternals;
  if (i.closed || s.localPort === 0) throw err('ERR_SOCKET_DGRAM_NOT_RUNNING', 'checkpoint: the socket is not bound');
  const layer = i.layer;
  const eng = layer.host as unknown as Engine;
  const ctx = layer.ctx;
  const multicast: UdpMembership[] = [...i.memberships].map((g) => ({ group: g >>> 0, interfaceAddress: 0 }));
  const remote = s.connectedPort !== 0 ? s.connectedAddr >>> 0 : 0;
  const arp = remote !== 0 ? eng.arpCache?.get(remote) : undefined;
  const mono = now ?? ctx.clock.now();
  const cp: UdpCheckpoint = {
    kind: 'udp',
    meta: { version: CHECKPOINT_VERSION, nodeId: ctx.nodeId, takenAt: Date.now(), takenAtMono: Math.max(0, mono) },
    link: { localMac: Uint8Array.from(eng.mac), peerMac: arp?.mac ? Uint8Array.from(arp.mac) : null },
    ip: { localAddress: s.boundAddr >>> 0, remoteAddress: remote, ttl: s.ttl, tos: 0 },
    udp: {
      localPort: s.localPort,
      remotePort: s.connectedPort,
      multicast,
      options: {
        broadcast: s.broadcast,
        multicastTtl: s.multicastTtl,
        multicastLoopback: s.multicastLoop,
        recvBufferSize: s.recvBufferSize,
        reuseAddr: s.reuseAddr,
      },
    },
  };
  if (opts.app) {
    cp.app = { protocol: opts.app.protocol ?? 'udp', objects: [] };
    if (opts.app.state !== undefined) cp.app.state = opts.app.state;
  }
  return cp;
}

/** What restoring a UDP socket needs from the stack. */
export interface UdpRestoreHost {
  createSocket(opts: { type: 'udp4'; reuseAddr?: boolean; recvBufferSize?: number }): UdpSocket;
}

/**
 * Rebuild a UDP socket from its checkpoint: bound to the same address and port, connected to
 * the same peer, in the same multicast groups. Throws (EADDRINUSE, EADDRNOTAVAIL) with nothing
 * left behind when the port cannot be bound.
 */
export function restoreUdp(host: UdpRestoreHost, cp: UdpCheckpoint): UdpSocket {
  const u = cp.udp;
  const o = u.options;
  const s = host.createSocket({ type: 'udp4', reuseAddr: o.reuseAddr, recvBufferSize: o.recvBufferSize });
  // bind() reports failures as an 'error' event on the next tick: catch that one here.
  let bindError: unknown = null;
  const swallow = (e: unknown): void => {
    bindError = e;
  };
  s.once('error', swallow);
  s.bind(u.localPort, cp.ip.localAddress !== 0 ? formatIp(cp.ip.localAddress) : undefined);
  if (s.localPort === 0) {
    s.destroyNow();
    throw err('EADDRINUSE', `restore: UDP port ${u.localPort} cannot be bound`, { syscall: 'bind', info: { port: u.localPort } });
  }
  s.once('listening', () => {
    if (bindError === null) s.removeListener('error', swallow);
  });
  if (u.remotePort !== 0) s.connect(u.remotePort, formatIp(cp.ip.remoteAddress));
  for (const m of u.multicast) s.addMembership(formatIp(m.group));
  if (o.broadcast !== undefined) s.setBroadcast(o.broadcast);
  if (o.multicastTtl !== undefined) s.setMulticastTTL(o.multicastTtl);
  if (o.multicastLoopback !== undefined) s.setMulticastLoopback(o.multicastLoopback);
  s.setTTL(cp.ip.ttl);
  return s;
}

declare module './socket.js' {
  interface UdpSocket {
    /** Checkpoint this socket (addresses, memberships, options, application state). */
    checkpoint(opts?: UdpCaptureOptions): UdpCheckpoint;
  }
}

UdpSocket.prototype.checkpoint = function checkpoint(this: UdpSocket, opts?: UdpCaptureOptions): UdpCheckpoint {
  return captureUdp(this, opts);
};
