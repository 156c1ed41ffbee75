import { describe, expect, it } from 'vitest';
import type { RemoteInfo, UdpSocket } from '@hastack/stack';
import { lan, settle } from './helpers.js';

function collect(sock: UdpSocket): { msgs: { msg: Buffer; rinfo: RemoteInfo }[] } {
  const out = { msgs: [] as { msg: Buffer; rinfo: RemoteInfo }[] };
  sock.on('message', (msg, rinfo) => out.msgs.push({ msg, rinfo }));
  return out;
}

function code(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
}

describe('UDP sockets (dgram.Socket look-alike)', () => {
  it('bind, listening, send and message with rinfo; reply to the sender', async () => {
    const { clock, stacks: [a, b] } = lan(2);
    const server = b.createSocket('udp4');
    let listening = false;
    server.bind(7000, () => (listening = true));
    server.on('message', (msg, rinfo) => server.send(Buffer.concat([Buffer.from('echo:'), msg]), rinfo.port, rinfo.address));
    const client = a.createSocket({ type: 'udp4' });
    const got = collect(client);
    let sentBytes = -1;
    client.send('hello', 7000, '198.18.0.2', (e, n) => {
      expect(e).toBeNull();
      sentBytes = n;
    });
    await clock.run(() => got.msgs.length > 0);
    expect(listening).toBe(true);
    expect(sentBytes).toBe(5);
    expect(got.msgs[0].msg.toString()).toBe('echo:hello');
    expect(got.msgs[0].rinfo).toEqual({ address: '198.18.0.2', family: 'IPv4', port: 7000, size: 10 });
    const port = client.address().port;
    expect(port).toBeGreaterThanOrEqual(49152);
    expect(port).toBeLessThanOrEqual(65535);
    expect(server.address()).toEqual({ address: '0.0.0.0', family: 'IPv4', port: 7000 });
    // offset/length form and a list of buffers
    client.send(Buffer.from('xxabcxx'), 2, 3, 7000, '198.18.0.2');
    client.send([Buffer.from('p'), 'q', new Uint8Array([0x72])], 7000, '198.18.0.2');
    await clock.run(() => got.msgs.length >= 3);
    expect(got.msgs.map((m) => m.msg.toString()).slice(1).sort()).toEqual(['echo:abc', 'echo:pqr']);
    let closed = false;
    client.close(() => (closed = true));
    await clock.run(() => closed);
    expect(code(() => client.send('x', 7000, '198.18.0.2'))).toBe('ERR_SOCKET_DGRAM_NOT_RUNNING');
    expect(code(() => client.close())).toBe('ERR_SOCKET_DGRAM_NOT_RUNNING');
  });

  it('a 60,000-byte datagram crosses MTU 1500 fragmented and reassembled intact', async () => {
    const { clock, stacks: [a, b] } = lan(2, { mtu: 1500 });
    const rx = b.createSocket('udp4');
    rx.bind(9000);
    const got = collect(rx);
    const payload = Buffer.alloc(60_000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + (i >> 8)) & 0xff;
    const tx = a.createSocket('udp4');
    tx.send(payload, 9000, '198.18.0.2');
    await clock.run(() => got.msgs.length > 0);
    expect(got.msgs).toHaveLength(1);
    expect(Buffer.compare(got.msgs[0].msg, payload)).toBe(0);
    const fragments = Math.ceil((60_000 + 8) / 1480);
    expect(a.stats().ip.txFragments).toBe(fragments);
    expect(a.stats().ip.fragmented).toBe(1);
    expect(b.stats().ip.rxFragments).toBe(fragments);
    expect(b.stats().ip.reassembled).toBe(1);
    expect(b.stats().ip.reasmInProgress).toBe(0);
    expect(b.stats().ip.reasmBytes).toBe(0);
    // every frame on the wire fit the MTU
    expect(a.stats().link.sizeDrops).toBe(0);
  });

  it('a datagram to a closed port yields ICMP port unreachable; a connected socket gets ECONNREFUSED', async () => {
    const { clock, stacks: [a, b] } = lan(2);
    const s = a.createSocket('udp4');
    s.send('nobody home', 4444, '198.18.0.2');
    await clock.run(() => a.stats().icmp.rxErrors > 0);
    expect(b.stats().drops.udpNoPort).toBe(1);
    expect(b.stats().icmp.txUnreachable).toBe(1);
    expect(a.stats().icmp.rxErrors).toBe(1);
    // unconnected socket: no error surfaced (as on Linux)
    const c = a.createSocket('udp4');
    const errors: { code?: string }[] = [];
    c.on('error', (e) => errors.push(e as { code?: string }));
    let connected = false;
    c.connect(4445, '198.18.0.2', () => (connected = true));
    await clock.run(() => connected);
    expect(c.remoteAddress()).toEqual({ address: '198.18.0.2', family: 'IPv4', port: 4445 });
    c.send('hello?');
    await clock.run(() => errors.length > 0);
    expect(errors[0].code).toBe('ECONNREFUSED');
    expect(code(() => c.send('x', 0, 1, 1, '198.18.0.2'))).toBe('ERR_SOCKET_DGRAM_IS_CONNECTED');
    expect(code(() => c.connect(5000, '198.18.0.2'))).toBe('ERR_SOCKET_DGRAM_IS_CONNECTED');
    c.disconnect();
    expect(code(() => c.disconnect())).toBe('ERR_SOCKET_DGRAM_NOT_CONNECTED');
    expect(code(() => c.remoteAddress())).toBe('ERR_SOCKET_DGRAM_NOT_CONNECTED');
  });

  it('ICMP port unreachable is rate limited by a token bucket', async () => {
    const { clock, stacks: [a, b] } = lan(2, {}, { icmpRateLimit: { ratePerSec: 1, burst: 3 } });
    const s = a.createSocket('udp4');
    for (let i = 0; i < 10; i++) s.send('x', 5555, '198.18.0.2');
    await clock.runFor(10);
    expect(b.stats().drops.udpNoPort).toBe(10);
    expect(b.stats().icmp.txUnreachable).toBe(3);
    expect(b.stats().icmp.rateLimited).toBe(7);
    await clock.runFor(2000);
    s.send('x', 5555, '198.18.0.2');
    await clock.runFor(10);
    expect(b.stats().icmp.txUnreachable).toBe(4);
  });

  it('a multicast datagram reaches every member and no one else; IGMP reports on join, leave on leave', async () => {
    const { clock, stacks } = lan(5);
    const [sender, m1, m2, other, m3] = stacks;
    const group = '239.1.2.3';
    const members = [m1, m2, m3].map((st) => {
      const s = st.createSocket({ type: 'udp4', reuseAddr: true });
      s.bind(5353);
      s.addMembership(group);
      return collect(s);
    });
    // a member of the stack but not of the group, on the same port: gets nothing
    const bystander = m1.createSocket({ type: 'udp4', reuseAddr: true });
    bystander.bind(5353);
    const bystanderGot = collect(bystander);
    // another stack bound to the port without joining: gets nothing
    const o = other.createSocket('udp4');
    o.bind(5353);
    const otherGot = collect(o);
    await clock.runFor(10);
    for (const st of [m1, m2, m3]) expect(st.stats().igmp.txReports).toBe(1);
    const tx = sender.createSocket('udp4');
    tx.send('to the group', 5353, group);
    await clock.run(() => members.every((m) => m.msgs.length > 0));
    await clock.runFor(10);
    for (const m of members) {
      expect(m.msgs).toHaveLength(1);
      expect(m.msgs[0].msg.toString()).toBe('to the group');
      expect(m.msgs[0].rinfo.address).toBe('198.18.0.1');
    }
    expect(bystanderGot.msgs).toHaveLength(0);
    expect(otherGot.msgs).toHaveLength(0);
    expect(other.stats().drops.ipNotForUs).toBeGreaterThanOrEqual(1);
    // never an ICMP error for multicast
    for (const st of stacks) expect(st.stats().icmp.txUnreachable).toBe(0);
    // leave: IGMP leave sent, no more delivery
    const s3 = m3.createSocket('udp4');
    s3.bind(6000);
    s3.addMembership('239.9.9.9');
    s3.dropMembership('239.9.9.9');
    expect(m3.stats().igmp.txLeaves).toBe(1);
    expect(code(() => s3.dropMembership('239.9.9.9'))).toBe('EADDRNOTAVAIL');
    expect(code(() => s3.addMembership('198.18.0.9'))).toBe('EINVAL');
    expect(code(() => s3.addMembership('not-an-ip'))).toBe('ERR_INVALID_IP_ADDRESS');
  });

  it('broadcast needs setBroadcast(true) and reaches every socket on the port, without ICMP errors', async () => {
    const { clock, stacks: [a, b, c] } = lan(3);
    const rb = collect(b.createSocket('udp4').bind(6767));
    const rc = collect(c.createSocket('udp4').bind(6767));
    const s = a.createSocket('udp4');
    const errors: string[] = [];
    s.send('hi all', 6767, '198.18.0.255', (e) => errors.push((e as { code?: string } | null)?.code ?? 'ok'));
    await clock.runFor(10);
    expect(errors).toEqual(['EACCES']);
    s.setBroadcast(true);
    s.send('hi all', 6767, '198.18.0.255');
    s.send('hi all again', 6767, '255.255.255.255');
    await clock.run(() => rb.msgs.length >= 2 && rc.msgs.length >= 2);
    expect(rb.msgs.map((m) => m.msg.toString())).toEqual(['hi all', 'hi all again']);
    expect(rc.msgs.map((m) => m.msg.toString())).toEqual(['hi all', 'hi all again']);
    // a broadcast to a port nobody listens on: no ICMP
    s.send('void', 1234, '198.18.0.255');
    await clock.runFor(10);
    expect(b.stats().icmp.txUnreachable).toBe(0);
    expect(b.stats().drops.udpNoPort).toBe(1);
  });

  it('Node error codes for misuse', async () => {
    const { clock, stacks: [a] } = lan(1);
    const s = a.createSocket('udp4');
    expect(code(() => s.send('x', 0, '198.18.0.2'))).toBe('ERR_SOCKET_BAD_PORT');
    expect(code(() => s.send('x', 70000, '198.18.0.2'))).toBe('ERR_SOCKET_BAD_PORT');
    expect(code(() => s.send(42 as unknown as string, 1000, '198.18.0.2'))).toBe('ERR_INVALID_ARG_TYPE');
    expect(code(() => s.send('x', 1000, '198.18.0.999'))).toBe('ERR_INVALID_IP_ADDRESS');
    expect(code(() => s.bind(-1))).toBe('ERR_SOCKET_BAD_PORT');
    expect(code(() => a.createSocket('udp6' as 'udp4'))).toBe('ERR_SOCKET_BAD_TYPE');
    const sizes: (string | null)[] = [];
    s.send(Buffer.alloc(65508), 1000, '198.18.0.2', (e) => sizes.push((e as { code?: string } | null)?.code ?? null));
    s.send(Buffer.alloc(65507), 1000, '198.18.0.3', (e) => sizes.push((e as { code?: string } | null)?.code ?? null));
    await clock.runFor(10);
    expect(sizes).toEqual(['EMSGSIZE', null]);
    const x = a.createSocket('udp4');
    x.bind(8000);
    const y = a.createSocket('udp4');
    const errs: string[] = [];
    y.on('error', (e) => errs.push((e as { code?: string }).code!));
    y.bind(8000);
    await clock.runFor(1);
    expect(errs).toEqual(['EADDRINUSE']);
    expect(code(() => x.bind(8001))).toBe('ERR_SOCKET_ALREADY_BOUND');
    // reuseAddr on both: allowed
    const r1 = a.createSocket({ type: 'udp4', reuseAddr: true });
    const r2 = a.createSocket({ type: 'udp4', reuseAddr: true });
    r1.bind(8100);
    r2.bind(8100);
    await clock.runFor(1);
    expect(r2.address().port).toBe(8100);
    // binding an address we do not own
    const z = a.createSocket('udp4');
    const zerr: string[] = [];
    z.on('error', (e) => zerr.push((e as { code?: string }).code!));
    z.bind(8200, '198.18.0.77');
    await clock.runFor(1);
    expect(zerr).toEqual(['EADDRNOTAVAIL']);
  });

  it('the receive queue is bounded: excess datagrams are dropped and counted', async () => {
    const { clock, stacks: [a, b] } = lan(2, {}, { udp: { recvQueueLen: 8 } });
    const rx = b.createSocket('udp4');
    rx.bind(9100);
    const got = collect(rx);
    const tx = a.createSocket('udp4');
    for (let i = 0; i < 50; i++) tx.send(`m${i}`, 9100, '198.18.0.2');
    await clock.runFor(50);
    const st = b.stats();
    expect(got.msgs.length + st.drops.udpQueueFull).toBe(50);
    expect(st.drops.udpQueueFull).toBeGreaterThan(0);
    expect(st.udp.queued).toBe(0);
  });

  it('loopback: a stack can send to its own address', async () => {
    const { clock, stacks: [a] } = lan(1);
    const rx = collect(a.createSocket('udp4').bind(4000));
    a.createSocket('udp4').send('me', 4000, '198.18.0.1');
    await clock.run(() => rx.msgs.length > 0);
    expect(rx.msgs[0].msg.toString()).toBe('me');
    expect(await settle(clock, a.ping('198.18.0.1'))).toBeGreaterThanOrEqual(0);
  });
});

describe('UDP loopback of broadcast and multicast', () => {
  it('local listeners hear our own broadcasts; multicast loop follows setMulticastLoopback', async () => {
    const { clock, stacks: [a, b] } = lan(2);
    const local: string[] = [];
    const la = a.createSocket('udp4');
    la.bind(6000);
    la.addMembership('239.3.3.3');
    la.on('message', (m) => local.push(m.toString()));
    const remote: string[] = [];
    const lb = b.createSocket('udp4');
    lb.bind(6000);
    lb.addMembership('239.3.3.3');
    lb.on('message', (m) => remote.push(m.toString()));
    const tx = a.createSocket('udp4');
    tx.setBroadcast(true);
    tx.send('bcast', 6000, '255.255.255.255');
    tx.send('mcast-loop', 6000, '239.3.3.3');
    await clock.runFor(5);
    tx.setMulticastLoopback(false);
    tx.send('mcast-noloop', 6000, '239.3.3.3');
    await clock.runFor(5);
    expect(local.sort()).toEqual(['bcast', 'mcast-loop']);
    expect(remote.sort()).toEqual(['bcast', 'mcast-loop', 'mcast-noloop']);
  });
});
