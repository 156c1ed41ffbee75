/** Sample checkpoints and a raw signer for tests (bypasses encodeCheckpoint's validation). */
import { createHmac } from 'node:crypto';
import { Packr } from 'msgpackr';
import type { BundleCheckpoint, TcpCheckpoint, UdpCheckpoint } from '@hastack/stack';
import { CHECKPOINT_MAGIC } from '@hastack/checkpoint';

export const KEY = Buffer.from('0123456789abcdef0123456789abcdef', 'utf8');
export const OTHER_KEY = Buffer.from('fedcba9876543210fedcba9876543210', 'utf8');

const ip = (a: number, b: number, c: number, d: number) => ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

export const SERVER = ip(198, 18, 0, 1);
export const CLIENT = ip(198, 18, 0, 2);

function bytes(n: number, seed: number): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

/** A connection serving an object: header literal, then a mapped file. No payload bytes. */
export function tcpObjectMapped(): TcpCheckpoint {
  const sndUna = 0xfffff000; // close to the 2^32 wrap on purpose
  return {
    kind: 'tcp',
    meta: { version: 1, nodeId: 'node-a', takenAt: 1_763_800_000_123, takenAtMono: 123_456.5 },
    link: { localMac: new Uint8Array([2, 0, 0, 0, 0, 1]), peerMac: new Uint8Array([2, 0, 0, 0, 0, 2]) },
    ip: { localAddress: SERVER, remoteAddress: CLIENT, ttl: 64, tos: 0 },
    tcp: {
      state: 'ESTABLISHED',
      localPort: 80,
      remotePort: 40000,
      iss: 0xffff0000,
      irs: 0x12345678,
      sndUna,
      sndNxt: (sndUna + 64_000) >>> 0,
      sndMax: (sndUna + 64_000) >>> 0,
      sndWnd: 1_048_576,
      sndWl1: 0x12345679 + 120,
      sndWl2: sndUna,
      rcvNxt: 0x12345679 + 120,
      rcvWnd: 4_194_304,
      sndWscale: 7,
      rcvWscale: 7,
      sndMss: 1460,
      rcvMss: 1460,
      sackPermitted: true,
      timestamps: true,
      tsOffset: 0x9abcdef0,
      tsRecent: 777_000,
      tsRecentAge: 3.25,
      tsLastSent: 0x9abcdef0 + 123_456,
      cc: { algorithm: 'cubic', cwnd: 146_000, ssthresh: Infinity, srtt: 1.5, rttvar: 0.75, rto: 200, cubic: { wMax: 200_000, k: 1.5, epochStart: -250 } },
      finSent: false,
      finReceived: false,
      finSeq: null,
      timers: { rtx: 198.5, keepalive: 7_200_000 },
      options: { noDelay: true, keepAlive: true, keepAliveInitialDelay: 7_200_000 },
      sendLength: 1_000_000,
      sendRanges: [],
      recvBuffer: new Uint8Array(0),
    },
    app: {
      protocol: 'http/1.1',
      // The file starts 200 bytes before SND.UNA (its header was acknowledged) and runs on.
      objects: [{ id: '/srv/www/big.iso', seq: (sndUna - 200) >>> 0, offset: 0, length: 1_000_200 }],
      state: { requests: 3, path: '/big.iso', keepAlive: true },
    },
  };
}

/** A full checkpoint: every queued byte literal, data both ways, FIN_WAIT_1 with FIN sent. */
export function tcpFull(): TcpCheckpoint {
  const sndUna = 1000;
  const send = bytes(5000, 7);
  return {
    kind: 'tcp',
    meta: { version: 1, nodeId: 'node-a', takenAt: 1_763_800_000_999, takenAtMono: 5000 },
    link: { localMac: new Uint8Array([2, 0, 0, 0, 0, 1]), peerMac: null },
    ip: { localAddress: SERVER, remoteAddress: CLIENT, ttl: 64, tos: 0x10 },
    tcp: {
      state: 'FIN_WAIT_1',
      localPort: 8080,
      remotePort: 51000,
      iss: 999,
      irs: 0xfffffff0,
      sndUna,
      sndNxt: sndUna + 5001,
      sndMax: sndUna + 5001,
      sndWnd: 65535,
      sndWl1: 0x10,
      sndWl2: sndUna,
      rcvNxt: 0x10,
      rcvWnd: 60000,
      sndWscale: 0,
      rcvWscale: 0,
      sndMss: 536,
      rcvMss: 1460,
      sackPermitted: false,
      timestamps: false,
      tsOffset: 0,
      tsRecent: 0,
      tsRecentAge: 0,
      tsLastSent: 0,
      cc: { algorithm: 'newreno', cwnd: 10 * 536, ssthresh: 65535, srtt: 0, rttvar: 0, rto: 1000, recover: sndUna },
      finSent: true,
      finReceived: false,
      finSeq: sndUna + 5000,
      timers: { rtx: 1000 },
      options: {},
      sendLength: 5000,
      sendRanges: [{ seq: sndUna, data: send }],
      recvBuffer: bytes(300, 9),
      recvOutOfOrder: [{ seq: 0x10 + 1000, data: bytes(100, 11) }],
    },
  };
}

export function udp(): UdpCheckpoint {
  return {
    kind: 'udp',
    meta: { version: 1, nodeId: 'node-a', takenAt: 1_763_800_000_500, takenAtMono: 4000 },
    link: { localMac: new Uint8Array([2, 0, 0, 0, 0, 1]), peerMac: null },
    ip: { localAddress: SERVER, remoteAddress: ip(239, 1, 2, 3), ttl: 64, tos: 0 },
    udp: {
      localPort: 5004,
      remotePort: 5004,
      multicast: [{ group: ip(239, 1, 2, 3), interfaceAddress: SERVER }],
      options: { multicastTtl: 4, multicastLoopback: false, broadcast: false },
    },
    app: { protocol: 'rtp', objects: [], state: { ssrc: 0x11223344, seq: 4242, payload: new Uint8Array([1, 2, 3]) } },
  };
}

/** An RTSP-style session: TCP control connection + UDP data flow to a multicast group. */
export function bundle(): BundleCheckpoint {
  const control = tcpObjectMapped();
  control.tcp.localPort = 554;
  control.app = { protocol: 'rtsp', objects: [] };
  control.tcp.sendLength = 0;
  control.tcp.sndNxt = control.tcp.sndUna;
  control.tcp.sndMax = control.tcp.sndUna;
  const data = udp();
  data.meta = { ...control.meta };
  return {
    kind: 'bundle',
    meta: { ...control.meta },
    members: [control, data],
    app: { protocol: 'rtsp', objects: [], state: { session: 'A1B2C3', cseq: 7 } },
  };
}

/** Build a signed frame around an arbitrary value (or arbitrary body bytes), no validation. */
const rawPackr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false });
export function signBody(body: Uint8Array, key: Uint8Array = KEY, version = 1): Buffer {
  const n = 6 + body.length;
  const out = Buffer.alloc(n + 32);
  out.set(CHECKPOINT_MAGIC, 0);
  out.writeUInt16BE(version, 4);
  out.set(body, 6);
  out.set(createHmac('sha256', key).update(out.subarray(0, n)).digest(), n);
  return out;
}
export function signRaw(value: unknown, key: Uint8Array = KEY, version = 1): Buffer {
  return signBody(rawPackr.pack(value), key, version);
}
export function packRaw(value: unknown): Buffer {
  return rawPackr.pack(value);
}

/** Deterministic PRNG (xorshift32) for sampled/fuzz tests. */
export function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}
