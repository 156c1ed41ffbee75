/**
 * UDP socket checkpoints (seed 003 claims 4–7): bound and connected addresses, multicast
 * memberships and options survive a restore on another stack; unbound sockets are refused.
 */
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, type UdpSocket } from '@hastack/stack';
import { validateCheckpoint } from '@hastack/checkpoint';

const MAC = '02:00:00:00:dd:01';

describe('UDP checkpoints', () => {
  it('capture → restore on another stack: same port, peer, groups and options; traffic flows both ways', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 8, delayMs: 1, clock });
    const A = new Stack({ link: net.createPort({ mac: MAC }), address: '198.18.3.1/24', clock, nodeId: 'A' });
    const P = new Stack({ link: net.createPort(), address: '198.18.3.2/24', clock, nodeId: 'P' });
    const peer = P.createSocket('udp4');
    peer.bind(9000);
    const peerGot: string[] = [];
    peer.on('message', (m: Buffer) => peerGot.push(m.toString()));
    const s = A.createSocket({ type: 'udp4', reuseAddr: true });
    expect(() => s.checkpoint()).toThrow(expect.objectContaining({ code: 'ERR_SOCKET_DGRAM_NOT_RUNNING' }));
    s.bind(5555, '198.18.3.1');
    s.connect(9000, '198.18.3.2');
    s.addMembership('239.9.9.9');
    s.setMulticastTTL(7);
    s.setBroadcast(true);
    await clock.runFor(2);
    s.send(Buffer.from('before'));
    await clock.runFor(5);
    const cp = s.checkpoint({ app: { protocol: 'rtp', state: { ssrc: 1234 } } });
    expect(() => validateCheckpoint(cp)).not.toThrow();
    expect(cp.udp).toMatchObject({ localPort: 5555, remotePort: 9000, multicast: [{ group: 0xef090909, interfaceAddress: 0 }] });
    expect(cp.udp.options).toMatchObject({ multicastTtl: 7, broadcast: true, reuseAddr: true });
    expect(cp.ip.localAddress).toBe(0xc6120301);
    A.crash();

    const B = new Stack({ link: net.createPort({ mac: MAC }), address: '198.18.3.1/24', clock, nodeId: 'B' });
    const r: UdpSocket = B.restore(cp);
    const got: string[] = [];
    r.on('message', (m: Buffer) => got.push(m.toString()));
    await clock.runFor(2);
    expect(r.address()).toEqual({ address: '198.18.3.1', family: 'IPv4', port: 5555 });
    expect(r.remoteAddress()).toEqual({ address: '198.18.3.2', family: 'IPv4', port: 9000 });
    r.send(Buffer.from('after'));
    peer.send(Buffer.from('to-b'), 5555, '198.18.3.1');
    // The group membership is back: a datagram to the group reaches B's socket... only from the
    // connected peer (a connected socket filters by source), so the peer sends to the group.
    peer.send(Buffer.from('group'), 5555, '239.9.9.9');
    await clock.runFor(10);
    expect(peerGot).toEqual(['before', 'after']);
    expect(got.sort()).toEqual(['group', 'to-b']);
    // Restoring it twice: the port is taken (no reuse conflict check bypass for a non-reuse socket).
    const again = structuredClone(cp);
    again.udp.options.reuseAddr = false;
    expect(() => B.restore(again)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
  });
});
