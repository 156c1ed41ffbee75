/**
 * Takeover from snooped state only (seed 000 claim 7; seed 001 claim 8; issue 6 item 6).
 *
 * Read this first:
 * - The primary never checkpointed the connection. All the takeover host has is a `SnoopedState`
 *   from a `ConnectionSnooper` that watched the segment in hub mode: the ISNs and handshake
 *   options, both directions' sequence numbers, acknowledgments and timestamps, and the client's
 *   bytes since the start of its last request (the "replay base", `replay.clientSeq`/`serverSeq`).
 * - `snoopedToCheckpoint()` turns that into an ordinary `TcpCheckpoint` of the server end with NO
 *   literal send bytes. The send queue from SND.UNA (the client's latest ACK) is covered by one
 *   object ref (split in < 2^31-byte pieces if needed) whose object is "the deterministic
 *   application's output stream from the replay base": stream offset 0 is sequence number
 *   `replay.serverSeq` (ISS + 1 for the first request of a connection). The ref starts AT SND.UNA
 *   with offset `SND.UNA − serverSeq`, so it never begins before SND.UNA (what the checkpoint
 *   validator of @hastack/checkpoint expects: acknowledged bytes are pruned).
 * - `takeoverFromSnoop()` replays the kept client bytes into a fresh instance of a deterministic
 *   application (`DeterministicApp.replay`), which regenerates its output; `stack.restore()` then
 *   asks the object source for bytes from the client's ACK on only — the output the client
 *   already acknowledged is suppressed by construction. The restored (unready) socket is handed
 *   to the application (`adopt`) for any further requests.
 * - `httpSnoopApp(server)` is that application for the HA HTTP server example in deterministic
 *   mode (byte-identical responses on every host): the request is replayed into the server's own
 *   code path over an in-memory recorder socket, the response head is taken as written and the
 *   body is read again from the server's object source at any offset, so nothing of a large body
 *   is held in memory.
 *
 * Limits (documented in docs/cluster.md "Takeover from snooped state"): the server must not have
 * sent its FIN (states ESTABLISHED / CLOSE_WAIT only); the replay must be valid (handshake or a
 * request boundary seen, no gap); congestion state restarts from the initial window (RFC 6928)
 * with RTO 1 s (RFC 6298 §2.1) because the snooper cannot see the primary's estimators.
 */
import type { Duplex } from 'node:stream';
import { Duplex as DuplexImpl } from 'node:stream';
import {
  CHECKPOINT_VERSION,
  err,
  type CheckpointObjectRef,
  type ObjectBytes,
  type Socket,
  type Stack,
  type TcpCheckpoint,
} from '@hastack/stack';
import { ipFromString, type SnoopedState } from './snooper.js';

const u32 = (x: number): number => x >>> 0;
/** a − b as a signed 32-bit sequence distance (RFC 9293 §3.4). */
const seqDiff = (a: number, b: number): number => (a - b) | 0;
/** Largest length of one object ref (checkpoint-types.ts). */
const MAX_REF = 2 ** 31 - 1;

export interface SnoopedCheckpointOptions {
  /** Bytes of output the replayed input produces, from `replay.serverSeq` (the whole response). */
  outputLength: number;
  /** Object id of the output stream in the checkpoint's object map (default `snoop:<key>`). */
  objectId?: string;
  /**
   * Most bytes the checkpoint's send queue covers beyond what is in flight (SND.MAX − SND.UNA);
   * the application writes the rest itself after 'ready' (default: the whole output).
   */
  maxQueuedBytes?: number;
  /** Replayed input bytes the application consumed; the rest become unread received bytes. Default: all. */
  consumed?: number;
  /** Application protocol name for the app section (default 'tcp'). */
  protocol?: string;
  /** Node id written in meta (default 'snooper'). */
  nodeId?: string;
  /** Monotonic `now` of the restoring stack (meta.takenAtMono; default 0). */
  now?: number;
  /** MAC written as link.localMac (default zeros: restore does not use it). */
  localMac?: Uint8Array;
  /** The client's next-hop MAC when known (default null: ARP resolves it). */
  peerMac?: Uint8Array | null;
}

/**
 * Build the server end's TCP checkpoint from a snooped connection (see the module comment).
 * Throws ERR_CHECKPOINT_UNSUPPORTED_STATE when the state cannot be resumed from snooping alone
 * (handshake not seen, replay invalid, server FIN sent) and ERR_CHECKPOINT_INVALID when the
 * regenerated output is shorter than what the server was seen sending (not deterministic).
 */
export function snoopedToCheckpoint(state: SnoopedState, opts: SnoopedCheckpointOptions): TcpCheckpoint {
  const s = state.server;
  const c = state.client;
  if (s.isn === null || c.isn === null) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', `snooped ${state.key}: the handshake was not seen (ISNs unknown)`);
  if (state.state !== 'established' && state.state !== 'closing') throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', `snooped ${state.key}: state ${state.state} is not synchronized`);
  if (!state.replay.valid) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', `snooped ${state.key}: the client's bytes since the replay base are incomplete`);
  if (s.fin) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', `snooped ${state.key}: the server already sent its FIN`);
  if (!Number.isSafeInteger(opts.outputLength) || opts.outputLength < 0) throw err('ERR_INVALID_ARG_VALUE', 'outputLength must be a non-negative safe integer');
  const iss = u32(s.isn);
  const irs = u32(c.isn);
  const base = u32(state.replay.serverSeq);
  // SND.UNA: the client's latest ACK (ISS + 1 before any ACK of data).
  const sndUna = c.ack === null ? u32(iss + 1) : u32(c.ack);
  // SND.MAX: the highest server sequence number seen.
  const sndMax = seqDiff(s.nxt, sndUna) > 0 ? u32(s.nxt) : sndUna;
  const acked = seqDiff(sndUna, base);
  if (acked < 0) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', `snooped ${state.key}: the client's ACK lies before the replay base`);
  const outputLeft = opts.outputLength - acked;
  const inFlight = seqDiff(sndMax, sndUna);
  if (outputLeft < inFlight) {
    throw err('ERR_CHECKPOINT_INVALID', `snooped ${state.key}: the replayed output (${opts.outputLength} bytes) is shorter than what the server sent (${seqDiff(sndMax, base)}): not deterministic?`);
  }
  const sendLength = Math.min(outputLeft, inFlight + Math.max(0, opts.maxQueuedBytes ?? Infinity));
  // SND.MAX as the restore sees it: the end of the regenerated send queue, not the highest server
  // sequence number seen. A snooper on a real segment misses frames (its receive queue overflows
  // under load: counted as `gaps`), so the client may have acknowledged server bytes the snooper
  // never saw; the restore must adopt that ACK rather than call it stale. Any ACK within the queue
  // is safe: the output is a pure function of the replayed input, so those are exactly the bytes
  // the failed server sent (the same widening HaNode applies to mapped checkpoints).
  const queueEnd = u32(sndUna + sendLength);
  // RCV.NXT: the highest client byte seen (its FIN included) or acknowledged by the server.
  const rcvNxt = s.ack !== null && seqDiff(s.ack, c.nxt) > 0 ? u32(s.ack) : u32(c.nxt);
  const consumed = opts.consumed ?? state.replay.bytes.length;
  const recvBuffer = state.replay.bytes.slice(Math.min(consumed, state.replay.bytes.length));
  const ws = s.wscale !== null && c.wscale !== null; // RFC 7323 §2.2: both SYNs carried it
  const ts = s.timestamps && c.timestamps; // RFC 7323 §3.2
  const sndMss = Math.max(1, Math.min(65535, c.mss ?? 536)); // RFC 9293 §3.7.1 default 536
  const id = opts.objectId ?? `snoop:${state.key}`;
  const objects: CheckpointObjectRef[] = [];
  for (let done = 0; done < sendLength; ) {
    const length = Math.min(MAX_REF, sendLength - done);
    objects.push({ id, seq: u32(sndUna + done), offset: acked + done, length });
    done += length;
  }
  return {
    kind: 'tcp',
    meta: { version: CHECKPOINT_VERSION, nodeId: opts.nodeId ?? 'snooper', takenAt: Date.now(), takenAtMono: opts.now ?? 0 },
    link: { localMac: opts.localMac ?? new Uint8Array(6), peerMac: opts.peerMac ?? null },
    ip: { localAddress: ipFromString(s.ip), remoteAddress: ipFromString(c.ip), ttl: 64, tos: 0 },
    tcp: {
      state: c.fin ? 'CLOSE_WAIT' : 'ESTABLISHED',
      localPort: s.port,
      remotePort: c.port,
      iss,
      irs,
      sndUna,
      sndNxt: sndMax,
      sndMax: queueEnd,
      sndWnd: c.window,
      sndWl1: rcvNxt,
      sndWl2: sndUna,
      rcvNxt,
      rcvWnd: Math.max(s.window, 1),
      sndWscale: ws ? Math.min(14, c.wscale!) : 0,
      rcvWscale: ws ? Math.min(14, s.wscale!) : 0,
      sndMss,
      rcvMss: Math.max(1, Math.min(65535, s.mss ?? 536)),
      sackPermitted: s.sackPermitted && c.sackPermitted,
      timestamps: ts,
      tsOffset: 0,
      // TS.Recent from the client's last TSval; the restored TSval continues above the last seen server TSval (PAWS, RFC 7323 §5).
      tsRecent: ts ? u32(c.tsval ?? 0) : 0,
      tsRecentAge: 0,
      tsLastSent: ts ? u32(s.tsval ?? 0) : 0,
      // The primary's estimators are invisible on the wire: restart from the initial window (RFC 6928) and RTO 1 s (RFC 6298 §2.1).
      cc: { algorithm: 'newreno', cwnd: 10 * sndMss, ssthresh: Infinity, srtt: 0, rttvar: 0, rto: 1000 },
      finSent: false,
      finReceived: c.fin,
      finSeq: null,
      timers: {},
      options: { allowHalfOpen: true, noDelay: true },
      sendLength,
      sendRanges: [],
      recvBuffer,
    },
    app: { protocol: opts.protocol ?? 'tcp', objects, state: null },
  };
}

/** What a deterministic application regenerates from the replayed input. */
export interface ReplayedOutput {
  /** Bytes of output the replayed input produces, from the replay base. */
  length: number;
  /** Output bytes from stream offset `offset` (0 ≤ offset < length) on. */
  read(offset: number): ObjectBytes | Promise<ObjectBytes>;
  /** Input bytes the replay consumed (the rest is handed to `adopt`'s socket as unread data). Default: all. */
  consumed?: number;
  /** The application closes the connection after this output. */
  close?: boolean;
  /** Application protocol name (checkpoint app section). */
  protocol?: string;
  /**
   * The application can continue writing this output itself from any stream offset (`adopt`'s
   * `queuedEnd`); then the checkpoint's send queue stays bounded (SnoopTakeoverOptions.maxQueuedBytes).
   */
  resumable?: boolean;
}

/** An application whose output is a pure function of its input (seed 000 claim 7). */
export interface DeterministicApp {
  /** Feed `input` (the client's bytes since the replay base) into a fresh instance; describe its output. */
  replay(input: Uint8Array, state: SnoopedState): Promise<ReplayedOutput> | ReplayedOutput;
  /**
   * Serve the restored (still unready) socket. The restore sends output stream bytes up to
   * `queuedEnd` (stream offset); a resumable output continues from there itself, then further requests.
   */
  adopt(socket: Socket, output: ReplayedOutput, queuedEnd: number): void;
}

export interface SnoopTakeoverOptions {
  /** Give up when the client does not answer the solicitation for this long, ms (default 30 s). */
  readyTimeout?: number;
  /** Node id written in the synthetic checkpoint. */
  nodeId?: string;
  /**
   * For resumable outputs: most bytes beyond those in flight the restored send queue holds (the
   * stack buffers the whole queue while refilling it). Default 1 MiB; Infinity: the whole output.
   */
  maxQueuedBytes?: number;
}

export interface SnoopTakeoverResult {
  socket: Socket;
  checkpoint: TcpCheckpoint;
  output: ReplayedOutput;
}

/**
 * Resume a connection the primary never checkpointed, from `state` alone, on `stack` (which
 * must already own the server address: `addAddress` + `gratuitousArp`). The application's output
 * is regenerated by replay; only bytes from the client's ACK on are sent.
 */
export async function takeoverFromSnoop(stack: Stack, state: SnoopedState, app: DeterministicApp, opts: SnoopTakeoverOptions = {}): Promise<SnoopTakeoverResult> {
  const output = await app.replay(state.replay.bytes, state);
  const id = `snoop:${state.key}`;
  const checkpoint = snoopedToCheckpoint(state, {
    outputLength: output.length,
    objectId: id,
    consumed: output.consumed,
    protocol: output.protocol,
    maxQueuedBytes: output.resumable ? (opts.maxQueuedBytes ?? 1024 * 1024) : Infinity,
    nodeId: opts.nodeId,
    now: stack.clock.now(),
  });
  const socket = stack.restore(checkpoint, {
    objectSource: (oid, offset) => {
      if (oid !== id) throw new RangeError(`unknown object ${oid}`);
      return output.read(offset);
    },
    readyTimeout: opts.readyTimeout ?? 30_000,
  });
  const queuedEnd = ((checkpoint.tcp.sndUna - state.replay.serverSeq) >>> 0) + checkpoint.tcp.sendLength;
  app.adopt(socket, output, queuedEnd);
  return { socket, checkpoint, output };
}

// ------------------------------------------------------------------------------------------------
// The HA HTTP server example as a DeterministicApp
// ------------------------------------------------------------------------------------------------

/** The part of examples/ha-http-server's HttpFileServer (deterministic mode) the replay uses. */
export interface DeterministicHttpServer {
  handleConnection(socket: Duplex): void;
  connectionState(socket: Duplex): {
    response: HttpConnectionState['response'];
    parser: { pending: Uint8Array };
  } | null;
  objectSource(id: string, offset: number): ObjectBytes | Promise<ObjectBytes>;
  /** HttpFileServer.resume: continue a response on a restored socket from a ConnectionState. */
  resume?(socket: Duplex, state: HttpConnectionState, opts: { sendEndSeq?: number }): void;
}

/** The ConnectionState of examples/ha-http-server (v 1) as far as a snooped takeover builds one. */
export interface HttpConnectionState {
  v: 1;
  requests: number;
  parser: { pending: Uint8Array; skip: number };
  response: { id: string; path: string; etag: string; status: 200 | 206; start: number; end: number; written: number; seq: number | null; pieceOffset: number; close: boolean; head: string } | null;
  peerEnded: boolean;
}

export interface HttpSnoopAppOptions {
  /** A separate server instance to replay into (default: the serving one; its counters then include replays). */
  replayServer?: DeterministicHttpServer;
  /** Event-loop turns to wait for the replayed response before giving up (default: no turn limit, `maxWaitMs` bounds it). */
  maxTurns?: number;
  /**
   * Wall-clock time to wait for the replayed response before giving up, ms (default 10000). A
   * file's response needs real I/O first (open, fstat, a sha256 ETag over the whole file), which
   * a count of event-loop turns does not bound: 5000 idle turns pass in a few hundred ms.
   */
  maxWaitMs?: number;
}

const HEAD_END = Buffer.from('\r\n\r\n');
/** process.nextTick yields a replay takes before it waits on event-loop turns (see replay). */
const FAST_YIELDS = 64;
/** setImmediate turns before the replay waits with 1 ms timers instead (no busy loop on slow I/O). */
const IMMEDIATE_TURNS = 200;

/**
 * `DeterministicApp` for the HA HTTP server (deterministic mode). The kept request bytes are
 * replayed over an in-memory recorder socket; the server writes its response head (recorded)
 * and starts its body, which the recorder stalls after the first chunk. The output stream is
 * head + object[start, end), read again from the server's object source at any offset.
 * Responses without an object body (errors, 304, HEAD) are recorded whole.
 * One response per replay: the snooper's replay base is the last request (no pipelining).
 */
export function httpSnoopApp(server: DeterministicHttpServer, opts: HttpSnoopAppOptions = {}): DeterministicApp {
  const replaySrv = opts.replayServer ?? server;
  const maxTurns = opts.maxTurns ?? Infinity;
  const maxWaitMs = opts.maxWaitMs ?? 10_000;
  return {
    async replay(input: Uint8Array, state: SnoopedState): Promise<ReplayedOutput> {
      const recorded: Buffer[] = [];
      let recordedLen = 0;
      const fake: Duplex = new DuplexImpl({
        read() {},
        write(chunk: Buffer, _enc, cb) {
          // Record what the server writes before its object body; stall the body (never call back).
          if (replaySrv.connectionState(fake)?.response) return;
          recorded.push(Buffer.from(chunk));
          recordedLen += chunk.length;
          cb();
        },
      });
      Object.assign(fake, { remoteAddress: 'snoop-replay', remotePort: 0 });
      replaySrv.handleConnection(fake);
      fake.push(Buffer.from(input.buffer, input.byteOffset, input.byteLength));
      let response: HttpConnectionState['response'] = null;
      let pending = 0;
      let stable = 0;
      let lastLen = -1;
      // First without leaving the current event-loop turn (process.nextTick and promise jobs
      // only): the takeover host already owns the address, and a client segment read from the
      // link before the connection is restored would be answered with RST (RFC 9293 §3.10.7.1),
      // killing the connection we are about to resume. A response with no I/O on its path (a
      // generated object, a cached one) is complete within these yields; only then does the
      // replay wait on event-loop turns (files: fs I/O).
      for (let tick = 0; tick < FAST_YIELDS; tick++) {
        await new Promise<void>((r) => process.nextTick(r));
        const st = replaySrv.connectionState(fake);
        if (st?.response) {
          response = { ...st.response };
          pending = st.parser.pending.length;
          break;
        }
      }
      const deadline = Date.now() + maxWaitMs;
      for (let turn = 0; !response && turn < maxTurns && Date.now() < deadline; turn++) {
        if (turn < IMMEDIATE_TURNS) await new Promise<void>((r) => setImmediate(r));
        else await new Promise<void>((r) => setTimeout(r, 1));
        const st = replaySrv.connectionState(fake);
        if (st?.response) {
          response = { ...st.response };
          pending = st.parser.pending.length;
          break;
        }
        if (st) pending = st.parser.pending.length;
        // A literal response (no object body): done once the recording stops growing.
        if (recordedLen > 0 && recordedLen === lastLen) {
          if (++stable >= 20) break;
        } else stable = 0;
        lastLen = recordedLen;
      }
      fake.destroy();
      const consumed = input.length - pending;
      if (response) {
        const head = Buffer.from(response.head, 'latin1');
        const r = response;
        const bodyLen = r.end - r.start;
        const out: HttpReplayedOutput = {
          length: head.length + bodyLen,
          consumed,
          close: r.close,
          protocol: 'http/1.1',
          resumable: typeof server.resume === 'function',
          response: r,
          headLength: head.length,
          serverSeq: state.replay.serverSeq,
          read: (offset) => (offset < head.length ? headThenBody(head.subarray(offset), server, r.id, r.start, bodyLen) : server.objectSource(r.id, r.start + offset - head.length)),
        };
        return out;
      }
      if (recordedLen === 0) throw err('ERR_CHECKPOINT_UNSUPPORTED_STATE', 'replayed request produced no response (incomplete request?)');
      const out = Buffer.concat(recorded, recordedLen);
      const h = out.indexOf(HEAD_END);
      const headText = (h >= 0 ? out.subarray(0, h) : out).toString('latin1');
      return {
        length: out.length,
        consumed,
        close: /\r\nconnection:\s*close/i.test(headText),
        protocol: 'http/1.1',
        read: (offset) => out.subarray(offset),
      };
    },
    adopt(socket: Socket, output: ReplayedOutput, queuedEnd: number): void {
      const o = output as HttpReplayedOutput;
      if (queuedEnd < output.length && o.response && server.resume) {
        // The restored queue ends at stream offset `queuedEnd`: the server continues the response
        // from there with its own resume path (object-mapped, with backpressure), then serves
        // further requests. Sequence numbers: stream offset 0 is replay.serverSeq.
        const base = o.serverSeq!;
        const st: HttpConnectionState = {
          v: 1,
          requests: 1,
          parser: { pending: new Uint8Array(0), skip: 0 },
          response: { ...o.response, written: 0, seq: u32(base + o.headLength!), pieceOffset: o.response.start },
          peerEnded: false,
        };
        server.resume(socket as unknown as Duplex, st, { sendEndSeq: u32(base + queuedEnd) });
        return;
      }
      if (output.close) {
        // The response ends the connection: send our FIN after it (held until the refill is done).
        socket.on('error', () => socket.destroy());
        socket.on('end', () => socket.destroy());
        socket.resume();
        socket.end();
        return;
      }
      server.handleConnection(socket as unknown as Duplex);
    },
  };
}

/** What httpSnoopApp's replay returns for a response with an object body. */
interface HttpReplayedOutput extends ReplayedOutput {
  response?: NonNullable<HttpConnectionState['response']>;
  headLength?: number;
  serverSeq?: number;
}

/** The tail of a response head followed by its body read from the object source. */
async function* headThenBody(head: Uint8Array, server: DeterministicHttpServer, id: string, start: number, length: number): AsyncGenerator<Uint8Array> {
  if (head.length > 0) yield head;
  if (length <= 0) return;
  const src = await server.objectSource(id, start);
  if (src instanceof Uint8Array) {
    yield src.subarray(0, length);
    return;
  }
  let left = length;
  for await (const c of src as AsyncIterable<Uint8Array>) {
    if (c.length >= left) {
      yield c.subarray(0, left);
      return;
    }
    left -= c.length;
    yield c;
  }
}
