/**
 * Takeover scenarios for the checkpoint tests: a server on stack A talks to a client on stack C
 * over a MemoryNetwork (VirtualClock); at a chosen moment A's connection is checkpointed, A is
 * crashed (power cut, link detached), a fresh stack B with A's MAC and IP restores the
 * checkpoint, and the transfer must finish with the same SHA-256 in both directions.
 *
 * The server "application" is deterministic and restartable from a tiny state: how many bytes
 * it handed to write(), how many it consumed from the socket, whether it called end().
 */
import { createHash } from 'node:crypto';
import { MemoryNetwork, Stack, VirtualClock, type Socket, type TcpCheckpoint, type MemoryNetworkOptions } from '@hastack/stack';

export const SERVER_MAC = '02:00:00:00:aa:01';
export const SERVER_IP = '198.18.0.1';
export const CLIENT_IP = '198.18.0.2';
export const PORT = 8080;

export function pattern(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    b[i] = x & 0xff;
  }
  return b;
}

export const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

export interface ScenarioOptions {
  /** Bytes the server sends (download). */
  down: number;
  /** Bytes the client sends (upload). */
  up: number;
  mode: 'full' | 'mapped';
  timestamps?: boolean;
  sack?: boolean;
  net?: Omit<MemoryNetworkOptions, 'clock'>;
  /** Checkpoint (and crash) once this returns true; checked after each clock step. */
  when: (s: ScenarioState) => boolean;
  /** Client calls end() right after its upload (default true); else after the download ended. */
  clientEndsEarly?: boolean;
  /** Virtual ms between the crash and the restore (default 300). */
  gapMs?: number;
  /** Server send buffer (bytes); small values keep data in the Writable buffer. */
  sendBufferSize?: number;
  /** The server calls end() right after its last write, even when that write returned false. */
  serverEndsEagerly?: boolean;
  /** The server calls end() only after the client's FIN too (default false). */
  serverWaitsForPeerEnd?: boolean;
  /** Pass an objectSource on restore (default: mode === 'mapped'). */
  objectSource?: boolean;
  seed?: number;
}

export interface ScenarioState {
  server: Socket | null;
  client: Socket;
  clientGot: number;
  serverGot: number;
  serverWritten: number;
  serverEnded: boolean;
  clock: VirtualClock;
}

export interface ScenarioResult {
  cp: TcpCheckpoint;
  stateAtCheckpoint: string;
  downOk: boolean;
  upOk: boolean;
  clientEnded: boolean;
  restored: Socket;
  readyAt: number;
  errors: string[];
  serverB: Stack;
  client: Socket;
  clock: VirtualClock;
  net: MemoryNetwork;
  restoredClosed: boolean;
  clientStack: Stack;
}

/** Server application: write `data` from `from` with backpressure, then end(); count what it reads. */
class ServerApp {
  written = 0;
  ended = false;
  got: Buffer[] = [];
  gotBytes = 0;
  alive = true;
  peerEnded = false;
  constructor(
    readonly data: Buffer,
    readonly sock: Socket,
    from: number,
    endedAlready: boolean,
    mapped: boolean,
    readonly waitPeer = false,
    readonly eager = false,
  ) {
    this.written = from;
    this.ended = endedAlready;
    sock.on('data', (c: Buffer) => {
      if (!this.alive) return;
      this.got.push(c);
      this.gotBytes += c.length;
    });
    sock.on('error', () => {});
    sock.on('end', () => {
      this.peerEnded = true;
      this.pump();
    });
    if (mapped && from < data.length) sock.mapObject('blob', { offset: from, length: data.length - from });
    this.pump();
  }
  pump = (): void => {
    if (!this.alive || this.ended) return;
    const s = this.sock;
    while (this.written < this.data.length) {
      const n = Math.min(16384, this.data.length - this.written);
      const chunk = this.data.subarray(this.written, this.written + n);
      this.written += n;
      if (!s.write(chunk) && !(this.eager && this.written === this.data.length)) {
        s.once('drain', this.pump);
        return;
      }
    }
    if (this.waitPeer && !this.peerEnded) return;
    this.ended = true;
    s.end();
  };
}

export async function runScenario(o: ScenarioOptions): Promise<ScenarioResult> {
  const seed = o.seed ?? 7;
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed, delayMs: 1, ...o.net, clock });
  const tcpOpts = { timestamps: o.timestamps ?? true, sack: o.sack ?? true, sendBufferSize: o.sendBufferSize };
  const A = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'A', tcp: tcpOpts });
  const C = new Stack({ link: net.createPort(), address: `${CLIENT_IP}/24`, clock, nodeId: 'C', tcp: { timestamps: o.timestamps ?? true, sack: o.sack ?? true } });
  const down = pattern(o.down, seed * 3 + 1);
  const up = pattern(o.up, seed * 5 + 2);
  const errors: string[] = [];

  let appA: ServerApp | null = null;
  const srv = A.createServer({ allowHalfOpen: true }, (s: Socket) => {
    appA = new ServerApp(down, s, 0, false, o.mode === 'mapped', o.serverWaitsForPeerEnd, o.serverEndsEagerly);
  });
  srv.listen(PORT, SERVER_IP);
  await clock.runFor(1);

  const client = C.connect({ port: PORT, host: SERVER_IP, allowHalfOpen: true }) as Socket;
  const clientGot: Buffer[] = [];
  let clientGotBytes = 0;
  let clientEnded = false;
  client.on('data', (c: Buffer) => {
    clientGot.push(c);
    clientGotBytes += c.length;
  });
  client.on('end', () => {
    clientEnded = true;
    if (o.clientEndsEarly === false) client.end();
  });
  client.on('error', (e) => errors.push(`client: ${(e as { code?: string }).code}`));
  let upWritten = 0;
  const clientPump = (): void => {
    while (upWritten < up.length) {
      const n = Math.min(16384, up.length - upWritten);
      const chunk = up.subarray(upWritten, upWritten + n);
      upWritten += n;
      if (!client.write(chunk)) {
        client.once('drain', clientPump);
        return;
      }
    }
    if (o.clientEndsEarly !== false) client.end();
  };
  client.on('connect', clientPump);

  const st = (): ScenarioState => ({
    server: appA ? (appA as ServerApp).sock : null,
    client,
    clientGot: clientGotBytes,
    serverGot: appA ? (appA as ServerApp).gotBytes : 0,
    serverWritten: appA ? (appA as ServerApp).written : 0,
    serverEnded: appA ? (appA as ServerApp).ended : false,
    clock,
  });
  // Step the clock in small slices so the predicate sees intermediate states.
  let hit = false;
  for (let i = 0; i < 200_000 && !hit; i++) {
    await clock.run(() => appA !== null && o.when(st()), { maxMs: 1 });
    if (appA !== null && o.when(st())) hit = true;
    else {
      clock.advanceSync(0.25);
      if (appA !== null && o.when(st())) hit = true;
    }
  }
  if (!hit) throw new Error('scenario: checkpoint moment never reached');
  const a = appA as unknown as ServerApp;
  const stateAtCheckpoint = a.sock.tcpState;
  const cp = a.sock.checkpoint({ mode: o.mode, app: { protocol: 'test', state: { written: a.written, consumed: a.gotBytes, ended: a.ended } } });
  const aGot = Buffer.concat(a.got);
  a.alive = false;
  A.crash();

  await clock.runFor(o.gapMs ?? 300);
  const B = new Stack({ link: net.createPort({ mac: SERVER_MAC }), address: `${SERVER_IP}/24`, clock, nodeId: 'B', tcp: tcpOpts });
  const useSource = o.objectSource ?? o.mode === 'mapped';
  const restored = B.restore(cp, useSource ? { objectSource: (id: string, off: number) => (id === 'blob' ? down.subarray(off) : Buffer.alloc(0)) } : {});
  let readyAt = -1;
  let restoredClosed = false;
  restored.on('ready', () => (readyAt = clock.now()));
  restored.on('close', () => (restoredClosed = true));
  restored.on('error', (e) => errors.push(`restored: ${(e as { code?: string }).code}`));
  const state = cp.app!.state as { written: number; consumed: number; ended: boolean };
  const appB = new ServerApp(down, restored, state.written, state.ended, o.mode === 'mapped', o.serverWaitsForPeerEnd, o.serverEndsEagerly);

  await clock.run(() => clientEnded && clientGotBytes >= down.length && appB.gotBytes + aGot.length >= up.length, { maxMs: 300_000 });
  await clock.runFor(2000);
  const downOk = clientGotBytes === down.length && sha(Buffer.concat(clientGot)) === sha(down);
  const upAll = Buffer.concat([aGot, ...appB.got]);
  const upOk = upAll.length === up.length && sha(upAll) === sha(up);
  return { cp, stateAtCheckpoint, downOk, upOk, clientEnded, restored, readyAt, errors, serverB: B, client, clock, net, restoredClosed, clientStack: C };
}
