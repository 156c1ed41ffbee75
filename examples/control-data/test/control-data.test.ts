/**
 * Bundle takeover (seed 003 claims 4–7, 15–18): an RTSP-like session — TCP control connection,
 * unicast UDP flow, multicast UDP flow — is checkpointed as one bundle on host A, A dies, host B
 * (same MAC and IP) restores the bundle, and both data flows and the control connection go on.
 */
import { describe, it, expect } from 'vitest';
import { MemoryNetwork, Stack, VirtualClock, type BundleCheckpoint, type Socket, type UdpSocket } from '@hastack/stack';
import { decodeCheckpoint, encodeCheckpoint } from '@hastack/checkpoint';
import { StreamServer } from '../src/service.js';

const MAC = '02:00:00:00:cc:01';
const SERVER = '198.18.1.1';
const CLIENT = '198.18.1.2';
const LISTENER = '198.18.1.3';
const GROUP = '239.1.2.3';
const GPORT = 5004;
const KEY = 'control-data-test-key-0123456789';

function seqs(list: string[], prefix: string): number[] {
  return list.filter((m) => m.startsWith(prefix)).map((m) => Number(m.slice(2)));
}

describe('examples/control-data: bundle checkpoint and restore', () => {
  it('control connection + unicast and multicast UDP flows continue on the takeover host', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 5, delayMs: 1, clock });
    const A = new Stack({ link: net.createPort({ mac: MAC }), address: `${SERVER}/24`, clock, nodeId: 'A' });
    const C = new Stack({ link: net.createPort(), address: `${CLIENT}/24`, clock, nodeId: 'C' });
    const L = new Stack({ link: net.createPort(), address: `${LISTENER}/24`, clock, nodeId: 'L' });
    const srvA = new StreamServer(A, { group: GROUP, groupPort: GPORT, intervalMs: 10 });
    await srvA.listen(554, SERVER);

    // A multicast-only receiver on another host.
    const groupRx: string[] = [];
    const lsock: UdpSocket = L.createSocket({ type: 'udp4', reuseAddr: true });
    lsock.bind(GPORT);
    lsock.addMembership(GROUP);
    lsock.on('message', (m: Buffer) => groupRx.push(m.toString()));

    // The client: a UDP port for its unicast flow, and the control connection.
    const uniRx: string[] = [];
    const usock = C.createSocket('udp4');
    usock.bind(7000);
    usock.on('message', (m: Buffer) => uniRx.push(m.toString()));
    const ctl = C.connect({ port: 554, host: SERVER }) as Socket;
    ctl.setEncoding('latin1');
    let replies = '';
    ctl.on('data', (s: string) => (replies += s));
    ctl.on('error', () => {});
    const lines = () => replies.split('\r\n').filter(Boolean);
    await clock.run(() => ctl.readyState === 'open', { maxMs: 1000 });
    ctl.write('SETUP 7000\r\nPLAY\r\n');
    await clock.run(() => uniRx.length >= 20 && groupRx.length >= 20, { maxMs: 5000 });
    expect(lines()[0]).toMatch(/^200 OK session=A-1 server_port=\d+$/);

    // Checkpoint the session as a bundle, ship it encoded, kill A.
    const [session] = srvA.sessions;
    const bundle = srvA.checkpointSession(session);
    expect(bundle.members.map((m) => m.kind)).toEqual(['tcp', 'udp', 'udp']);
    const mcast = bundle.members[2];
    expect(mcast.kind === 'udp' && mcast.udp.multicast.map((g) => g.group)).toEqual([0xef010203]);
    const bytes = encodeCheckpoint(bundle, { key: KEY });
    const seqAtCp = (bundle.app!.state as { seq: number }).seq;
    session.freeze();
    A.crash();
    const uniBefore = uniRx.length;
    const groupBefore = groupRx.length;
    await clock.runFor(200);
    expect(uniRx.length).toBe(uniBefore); // A is really gone

    // Host B, same MAC and IP, restores the bundle.
    const B = new Stack({ link: net.createPort({ mac: MAC }), address: `${SERVER}/24`, clock, nodeId: 'B' });
    const srvB = new StreamServer(B, { group: GROUP, groupPort: GPORT, intervalMs: 10 });
    const restored = srvB.resumeSession(decodeCheckpoint(bytes, { key: KEY }) as BundleCheckpoint);
    let ready = false;
    restored.control.on('ready', () => (ready = true));
    await clock.run(() => ready && uniRx.length >= uniBefore + 20 && groupRx.length >= groupBefore + 20, { maxMs: 5000 });
    expect(ready).toBe(true);

    // Both flows continue from the checkpoint's sequence number, in order, without repeats.
    for (const [rx, p] of [[uniRx, 'U '], [groupRx, 'M ']] as const) {
      const after = seqs(rx, p).slice(p === 'U ' ? uniBefore : groupBefore);
      expect(after[0]).toBe(seqAtCp);
      for (let i = 1; i < after.length; i++) expect(after[i]).toBe(after[i - 1] + 1);
    }

    // The multicast membership came back: a receiver's report to the group reaches B.
    lsock.send(Buffer.from('R loss=0'), GPORT, GROUP);
    await clock.runFor(20);
    // The control connection answers on B.
    ctl.write('STATS\r\n');
    await clock.run(() => lines().length >= 3, { maxMs: 2000 });
    const stats = lines()[2];
    const m = /^200 OK sent=(\d+) reports=(\d+)$/.exec(stats);
    expect(m).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(seqAtCp);
    expect(Number(m![2])).toBe(1);

    // TEARDOWN ends the session cleanly.
    let ended = false;
    ctl.on('end', () => (ended = true));
    ctl.write('TEARDOWN\r\n');
    await clock.run(() => ended, { maxMs: 2000 });
    expect(lines()[3]).toBe('200 OK');
    const n = uniRx.length;
    await clock.runFor(200);
    expect(uniRx.length).toBe(n);
  });

  it('a bundle whose UDP port is taken is refused as a whole (nothing restored)', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 6, delayMs: 1, clock });
    const A = new Stack({ link: net.createPort({ mac: MAC }), address: `${SERVER}/24`, clock, nodeId: 'A' });
    const C = new Stack({ link: net.createPort(), address: `${CLIENT}/24`, clock, nodeId: 'C' });
    const srvA = new StreamServer(A, { group: GROUP, groupPort: GPORT });
    await srvA.listen(554, SERVER);
    const ctl = C.connect({ port: 554, host: SERVER }) as Socket;
    ctl.on('error', () => {});
    await clock.run(() => ctl.readyState === 'open', { maxMs: 1000 });
    ctl.write('SETUP 7000\r\n');
    await clock.runFor(50);
    const [session] = srvA.sessions;
    const bundle = srvA.checkpointSession(session);
    session.freeze();
    A.crash();
    const B = new Stack({ link: net.createPort({ mac: MAC }), address: `${SERVER}/24`, clock, nodeId: 'B' });
    const udpMember = bundle.members[1];
    const squatter = B.createSocket('udp4');
    squatter.bind(udpMember.kind === 'udp' ? udpMember.udp.localPort : 1);
    await clock.runFor(1);
    const before = { tcp: B.tcp.connections().length, igmp: B.stats().igmp };
    expect(() => B.restore(bundle)).toThrow(expect.objectContaining({ code: 'EADDRINUSE' }));
    expect(B.tcp.connections().length).toBe(before.tcp);
    await clock.runFor(10);
    // The multicast member was rolled back: its port is free again.
    const probe = B.createSocket({ type: 'udp4', reuseAddr: false });
    let err: unknown = null;
    probe.on('error', (e) => (err = e));
    probe.bind(GPORT);
    await clock.runFor(1);
    expect(err).toBeNull();
  });
});
