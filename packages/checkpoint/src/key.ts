/**
 * Connection keys: the name a checkpoint is stored under, built from its addresses and ports.
 *   tcp:1.2.3.4:80-5.6.7.8:40000     a TCP connection (local first)
 *   udp:1.2.3.4:5004-5.6.7.8:6000    a connected UDP socket
 *   udp:0.0.0.0:5004-*               an unconnected UDP socket (remote unknown)
 *   bundle:<key of the first member> a bundle, named after its control connection
 */
import type { Checkpoint, ConnectionCheckpoint } from '@hastack/stack';

function ip(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

function memberKey(cp: ConnectionCheckpoint): string {
  if (cp.kind === 'tcp') {
    return `tcp:${ip(cp.ip.localAddress)}:${cp.tcp.localPort}-${ip(cp.ip.remoteAddress)}:${cp.tcp.remotePort}`;
  }
  const remote = cp.udp.remotePort === 0 ? '*' : `${ip(cp.ip.remoteAddress)}:${cp.udp.remotePort}`;
  return `udp:${ip(cp.ip.localAddress)}:${cp.udp.localPort}-${remote}`;
}

/** The store key of a checkpoint (see the file comment for the forms). */
export function connectionKey(cp: Checkpoint): string {
  if (cp.kind === 'bundle') return `bundle:${memberKey(cp.members[0])}`;
  return memberKey(cp);
}
