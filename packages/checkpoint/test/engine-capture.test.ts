/**
 * The TCP engine's own capture (TcpLayer.captureTcp, a projection of its TCB) must produce
 * sections this package accepts: validate, sign, decode, in the states a real connection goes
 * through. Two Stacks on a MemoryNetwork with a VirtualClock; the sections are wrapped with the
 * meta/link/ip sections the socket layer adds.
 */
import { describe, expect, it } from 'vitest';
import {
  MemoryNetwork,
  Stack,
  VirtualClock,
  type Socket,
  type TcpCheckpoint,
  type TcpCheckpointSection,
} from '@hastack/stack';
import { decodeCheckpoint, encodeCheckpoint, validateCheckpoint } from '@hastack/checkpoint';
import { KEY } from './fixtures.js';

const A = ((198 << 24) | (18 << 16) | 1) >>> 0;
const B = ((198 << 24) | (18 << 16) | 2) >>> 0;

function wrap(sec: TcpCheckpointSection, now: number): TcpCheckpoint {
  return {
    kind: 'tcp',
    meta: { version: 1, nodeId: 'b', takenAt: 1_763_800_000_000 + now, takenAtMono: now },
    link: { localMac: new Uint8Array([2, 0, 0, 0, 0, 2]), peerMac: new Uint8Array([2, 0, 0, 0, 0, 1]) },
    ip: { localAddress: B, remoteAddress: A, ttl: 64, tos: 0 },
    tcp: sec,
  };
}

function roundTrip(cp: TcpCheckpoint): TcpCheckpoint {
  expect(validateCheckpoint(cp)).toBe(cp);
  const back = decodeCheckpoint(encodeCheckpoint(cp, { key: KEY }), { key: KEY }) as TcpCheckpoint;
  expect(back.tcp.state).toBe(cp.tcp.state);
  expect(back.tcp.sndUna).toBe(cp.tcp.sndUna);
  expect(back.tcp.sendLength).toBe(cp.tcp.sendLength);
  return back;
}

describe('engine capture satisfies the checkpoint validator', () => {
  it('mid-transfer (data queued both ways, unread bytes), then FIN_WAIT_1, and object-mapped', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 1, clock });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
    let served: Socket | null = null;
    const data = Buffer.alloc(12 << 20, 7); // more than the peer's receive buffer and our send buffer
    const srv = b.createServer((s: Socket) => {
      served = s;
      s.write(data);
    });
    let listening = false;
    srv.listen(80, () => (listening = true));
    await clock.run(() => listening, { maxMs: 5_000 });
    const c = a.connect(80, '198.18.0.2');
    c.pause(); // the client reads nothing: the server's queue and the peer window fill up
    let connected = false;
    c.on('connect', () => {
      connected = true;
      c.write(Buffer.alloc(10_000, 1)); // bytes the server has received but not read yet
    });
    await clock.run(() => connected && served !== null, { maxMs: 5_000 });
    (served as unknown as Socket).pause();
    await clock.run(() => false, { maxMs: 2_000 });

    const conn = (served as unknown as { connection: Parameters<typeof b.tcp.captureTcp>[0] }).connection;
    const sec = b.tcp.captureTcp(conn, clock.now());
    expect(sec.state).toBe('ESTABLISHED');
    expect(sec.sendLength).toBeGreaterThan(0);
    roundTrip(wrap(sec, clock.now()));

    // Object-mapped: no literal bytes, one object covering the queue.
    const mapped = b.tcp.captureTcp(conn, clock.now(), { sendData: false });
    expect(mapped.sendRanges).toEqual([]);
    const cp = wrap(mapped, clock.now());
    expect(() => validateCheckpoint(cp)).toThrow(/neither literal nor object-mapped/);
    cp.app = { protocol: 'test', objects: [{ id: 'blob', seq: mapped.sndUna, offset: 1234, length: mapped.sendLength }] };
    const back = roundTrip(cp);
    expect(back.app!.objects[0].offset).toBe(1234);

    // CLOSE on the engine connection (RFC 9293 §3.10.4): FIN_WAIT_1, the FIN queued behind the data.
    (conn as unknown as { shutdown(): void }).shutdown();
    await clock.run(() => false, { maxMs: 500 });
    const fw1 = b.tcp.captureTcp(conn, clock.now());
    expect(fw1.state).toBe('FIN_WAIT_1');
    expect(fw1.finSeq).toBe((fw1.sndUna + fw1.sendLength) >>> 0);
    roundTrip(wrap(fw1, clock.now()));
  });

  it('closing states: FIN_WAIT_2, CLOSE_WAIT with unread bytes, LAST_ACK with the FIN queued', async () => {
    const clock = new VirtualClock();
    const net = new MemoryNetwork({ seed: 2, clock });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
    let served: Socket | null = null;
    const srv = b.createServer((s: Socket) => {
      served = s;
      s.end(Buffer.alloc(200_000, 9)); // all of it fits in the buffers, then our FIN
    });
    let listening = false;
    srv.listen(80, () => (listening = true));
    await clock.run(() => listening, { maxMs: 5_000 });
    const c = a.connect(80, '198.18.0.2');
    c.pause(); // unread: the bytes stay in the client's buffers
    await clock.run(() => false, { maxMs: 3_000 });
    type Conn = Parameters<typeof b.tcp.captureTcp>[0];
    const sconn = (served as unknown as { connection: Conn }).connection;
    const cconn = (c as unknown as { connection: Conn }).connection;

    const fw2 = b.tcp.captureTcp(sconn, clock.now());
    expect(fw2.state).toBe('FIN_WAIT_2');
    expect(fw2.finSent).toBe(true);
    roundTrip(wrap(fw2, clock.now()));

    const cw = a.tcp.captureTcp(cconn, clock.now());
    expect(cw.state).toBe('CLOSE_WAIT');
    expect(cw.finReceived).toBe(true);
    expect(cw.recvBuffer.length).toBeGreaterThan(0);
    const cwCp = wrap(cw, clock.now());
    cwCp.ip = { localAddress: A, remoteAddress: B, ttl: 64, tos: 0 };
    const back = roundTrip(cwCp);
    expect(Buffer.compare(Buffer.from(back.tcp.recvBuffer), Buffer.from(cw.recvBuffer))).toBe(0);

    (cconn as unknown as { shutdown(): void }).shutdown();
    const la = a.tcp.captureTcp(cconn, clock.now());
    expect(la.state).toBe('LAST_ACK');
    const laCp = wrap(la, clock.now());
    laCp.ip = cwCp.ip;
    roundTrip(laCp);
  });
});
