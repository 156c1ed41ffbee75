/**
 * The HTTP/1.1 static file server of the HA demo.
 *
 * Read this first:
 * - It is written against a minimal `net`-like module (`NetLike`): `node:net` itself, or a
 *   hastack Stack (whose `createServer()` returns a net.Server look-alike with Duplex sockets).
 *   Nothing else about the transport is assumed; `mapObject` is feature-detected on each socket.
 * - One connection answers its requests strictly in order (pipelining, RFC 9112 §9.3.2): the next
 *   request is parsed only when the previous response has been written. Input read meanwhile is
 *   bounded (`maxPipelineBytes`), after which the socket is paused (TCP backpressure).
 * - Bodies are objects (objects.ts). Right before the first body byte the server calls
 *   `socket.mapObject(id, { offset, length })` when the socket has it, so a checkpoint of the
 *   connection refers to the object instead of carrying its bytes (seed 003 claim 22).
 * - The per-connection state is plain data (`ConnectionState`): the parser's pending bytes and
 *   the response in progress (object id, path, ETag, range, bytes written). `connectionState()`
 *   gives it for an application checkpoint section; `resume()` continues it on another socket.
 */
import { isParseError, formatResponseHead, httpDate, ifNoneMatchMatches, ifRangeMatches, parseHttpDate, parseRange, RequestParser, type HeaderList, type HttpRequest, type ParserLimits, type ParserSnapshot } from './http.js';
import { combinedObjectSource, FileObjectSource, GeneratedObjectSource, MAX_GENERATED, resolveRequestPath, type EtagMode, type Chunks, type ObjectBytes, type ObjectSourceFn, type OpenedObject } from './objects.js';
import type { Duplex } from 'node:stream';

// ---------------------------------------------------------------------------------------------
// What the server needs from the transport
// ---------------------------------------------------------------------------------------------

/** Options of a hastack object map (issue 5 item 2). */
export interface MapObjectOptions {
  /** Offset in the object of the first mapped byte (default 0). */
  offset?: number;
  /** Number of mapped bytes. */
  length: number;
  /** Stream position of the first mapped byte (default: the next byte written). */
  at?: number;
}

/** A connected socket: a Duplex stream plus a few optional `net.Socket` methods. */
export interface NetSocketLike extends Duplex {
  setTimeout?(ms: number, callback?: () => void): unknown;
  setNoDelay?(noDelay?: boolean): unknown;
  readonly remoteAddress?: string;
  readonly remotePort?: number;
  /**
   * hastack sockets: bind the next `length` bytes written to object `id` from `offset`; returns
   * the TCP sequence number of the first of them.
   */
  mapObject?(id: string, opts: MapObjectOptions): number;
}

/** A listening server, as `net.Server`. */
export interface NetServerLike {
  listen(port: number, host: string, callback: () => void): unknown;
  close(callback?: (err?: Error) => void): unknown;
  address(): { address: string; port: number } | string | null;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

/** The part of `node:net` the server uses: `net.createServer(options, onConnection)`. */
export interface NetLike {
  createServer(options: { allowHalfOpen?: boolean }, onConnection: (socket: NetSocketLike) => void): NetServerLike;
}

// ---------------------------------------------------------------------------------------------
// Plain-data state (application checkpoint section)
// ---------------------------------------------------------------------------------------------

/** The response being written on a connection. */
export interface ResponseState {
  /** Object id (objects.ts). */
  id: string;
  /** Request path as received (for logs). */
  path: string;
  etag: string;
  status: 200 | 206;
  /** Body range [start, end) of the object. */
  start: number;
  end: number;
  /** Body bytes handed to the socket so far. */
  written: number;
  /** Sequence number returned by mapObject for the current mapped piece, or null. */
  seq: number | null;
  /** Object offset of the current mapped piece's first byte (meaningful when seq is set). */
  pieceOffset: number;
  /** Close the connection after this response. */
  close: boolean;
  /** The response head as sent (latin1), so a resume can complete a head cut short. ~300 bytes. */
  head: string;
}

/**
 * `ResumeOptions.sendEndSeq` from a hastack checkpoint's TCP section: the send queue a restore
 * re-sends is [SND.UNA, SND.UNA + sendLength) (checkpoint-types.ts), so the application goes on
 * with the byte after it.
 */
export function sendEndSeqOf(tcp: { sndUna: number; sendLength: number }): number {
  return (tcp.sndUna + tcp.sendLength) >>> 0;
}

/** How `resume()` finds its resume point. */
export interface ResumeOptions {
  /**
   * The sequence number just past the last byte the restored socket will (re)send by itself: the
   * checkpoint's SND.UNA + its send-buffer length — or, if the stack streams a whole object
   * reference from the object source, the end of that reference (seq + length). With the
   * response's mapped `seq`, the resume point is exact whatever was still queued in the old
   * socket's Writable. Without it (or without a mapped seq) the response continues at
   * `start + written`.
   */
  sendEndSeq?: number;
}

/** Everything a connection needs to continue elsewhere (msgpack-able plain data). */
export interface ConnectionState {
  v: 1;
  requests: number;
  parser: ParserSnapshot;
  response: ResponseState | null;
  peerEnded: boolean;
}

// ---------------------------------------------------------------------------------------------
// Options and stats
// ---------------------------------------------------------------------------------------------

export interface HttpFileServerOptions {
  /** Directory to serve (null: only the generated route). */
  root: string | null;
  /** The transport: `node:net` or a hastack Stack. */
  net: NetLike;
  /** Index file of directories (default 'index.html'; null: none). */
  index?: string | null;
  /** ETag mode of files (default 'mtime'), see FileObjectSource. */
  etag?: EtagMode;
  /** Serve `/gen/<bytes>?seed=<n>` (default true). */
  generated?: boolean;
  /** Idle time of a kept-alive connection between requests, ms (default 5000; 0: none). */
  idleTimeout?: number;
  /** No progress while sending a response for this long closes the connection, ms (default 120000). */
  sendTimeout?: number;
  /** Most time from the first byte of a request head to its end, ms (default 30000): 408 after. */
  headersTimeout?: number;
  /** Clock for headersTimeout (default Date): pass the hastack Stack's clock to run on virtual time. */
  clock?: { now(): number };
  /** Pipelined input buffered while a response is written before the socket is paused (default 64 KiB). */
  maxPipelineBytes?: number;
  /** Largest piece of an object mapped at once (default 2^30; hastack maps < 2^31 per ref). */
  maxMapLength?: number;
  /** Parser limits (default 16 KiB head, 8 KiB request line, 100 fields). */
  limits?: ParserLimits;
  /**
   * Byte-identical responses on every host holding the same content (default false): no Date and
   * no Last-Modified (they differ between hosts and runs), ETags by content hash ('sha256').
   * Snooped takeover (seed 000 claim 7) replays a client's requests into a fresh server and
   * suppresses the output the client already acknowledged, which needs exactly this. Such a
   * server behaves as an origin without a clock (RFC 9110 §6.6.1).
   */
  deterministic?: boolean;
  /** Server header value (default 'hastack-ha-http'; null: none). */
  serverName?: string | null;
  /** Called after each response (access log). */
  onResponse?: (info: { method: string; path: string; status: number; bytes: number; remote: string }) => void;
}

export interface HttpServerStats {
  connections: number;
  activeConnections: number;
  requests: number;
  responses: Record<string, number>;
  bodyBytes: number;
  parseErrors: number;
  mappedObjects: number;
  mapErrors: number;
  bodyErrors: number;
  timeouts: number;
  resumed: number;
  internalErrors: number;
}

const DEFAULT_MAX_MAP = 2 ** 30;

/** Parse `/gen/<bytes>` sizes: decimal, optionally with K/M/G (binary) suffix. */
export function parseGenSize(s: string): number | null {
  const m = /^(\d{1,13})([KMG]?)$/i.exec(s);
  if (!m) return null;
  const mult = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2].toLowerCase() as '' | 'k' | 'm' | 'g'];
  const n = Number(m[1]) * mult;
  return Number.isSafeInteger(n) && n <= MAX_GENERATED ? n : null;
}

function queryParam(query: string, name: string): string | undefined {
  for (const kv of query.split('&')) {
    const eq = kv.indexOf('=');
    if ((eq < 0 ? kv : kv.slice(0, eq)) === name) return eq < 0 ? '' : kv.slice(eq + 1);
  }
  return undefined;
}

/** Body bytes a pump writes before it lets the event loop run (timers, I/O). */
const PUMP_SLICE = 256 * 1024;

/** Thrown out of a body pump when the connection went away. */
const GONE = Symbol('gone');

export class HttpFileServer {
  readonly files: FileObjectSource | null;
  readonly generated: GeneratedObjectSource | null;
  /** The object source a hastack restore takes (`stack.restore(cp, { objectSource })`). */
  readonly objectSource: ObjectSourceFn;
  private readonly opts: Required<Omit<HttpFileServerOptions, 'root' | 'net' | 'index' | 'etag' | 'onResponse' | 'limits' | 'serverName'>> & {
    limits: ParserLimits;
    serverName: string | null;
    onResponse: HttpFileServerOptions['onResponse'];
  };
  private readonly net: NetLike;
  private listener: NetServerLike | null = null;
  private readonly conns = new Map<NetSocketLike, HttpConnection>();
  private closing = false;
  private readonly counters: HttpServerStats = {
    connections: 0,
    activeConnections: 0,
    requests: 0,
    responses: {},
    bodyBytes: 0,
    parseErrors: 0,
    mappedObjects: 0,
    mapErrors: 0,
    bodyErrors: 0,
    timeouts: 0,
    resumed: 0,
    internalErrors: 0,
  };

  constructor(options: HttpFileServerOptions) {
    if (!options || typeof options !== 'object') throw new TypeError('options must be an object');
    if (!options.net || typeof options.net.createServer !== 'function') throw new TypeError('options.net must provide createServer()');
    this.net = options.net;
    if (options.deterministic && options.etag === 'mtime') throw new TypeError("deterministic responses need etag 'sha256'");
    const etag = options.deterministic ? 'sha256' : options.etag;
    this.files = options.root ? new FileObjectSource({ root: options.root, index: options.index, etag }) : null;
    this.generated = options.generated === false ? null : new GeneratedObjectSource();
    this.objectSource = combinedObjectSource(this.files, this.generated);
    this.opts = {
      generated: options.generated !== false,
      idleTimeout: options.idleTimeout ?? 5000,
      sendTimeout: options.sendTimeout ?? 120_000,
      maxPipelineBytes: options.maxPipelineBytes ?? 64 * 1024,
      maxMapLength: Math.min(options.maxMapLength ?? DEFAULT_MAX_MAP, 2 ** 31 - 1),
      limits: options.limits ?? {},
      serverName: options.serverName === undefined ? 'hastack-ha-http' : options.serverName,
      deterministic: options.deterministic === true,
      headersTimeout: options.headersTimeout ?? 30_000,
      clock: options.clock ?? Date,
      onResponse: options.onResponse,
    };
  }

  /** Listen on `port` (0: any) at `host`; resolves with the bound address. */
  listen(port: number, host = '127.0.0.1'): Promise<{ address: string; port: number }> {
    if (this.listener) throw new Error('already listening');
    const srv = this.net.createServer({ allowHalfOpen: true }, (s) => this.handleConnection(s));
    this.listener = srv;
    return new Promise((resolve, reject) => {
      srv.on('error', reject);
      srv.listen(port, host, () => {
        const a = srv.address();
        resolve(typeof a === 'object' && a !== null ? { address: a.address, port: a.port } : { address: String(a), port });
      });
    });
  }

  /** Serve an accepted socket (from our listener, or handed over by a cluster layer). */
  handleConnection(socket: NetSocketLike): void {
    this.attach(socket, null);
  }

  /**
   * Continue a connection from its `ConnectionState` on `socket` (a restored hastack socket):
   * the response in progress resumes at `start + written` — bytes before that are the stack's
   * (its checkpoint's object map) — then pipelined requests are answered.
   */
  resume(socket: NetSocketLike, state: ConnectionState, opts: ResumeOptions = {}): void {
    if (!state || state.v !== 1) throw new TypeError('unsupported connection state');
    if (opts.sendEndSeq !== undefined && !(Number.isInteger(opts.sendEndSeq) && opts.sendEndSeq >= 0 && opts.sendEndSeq <= 0xffffffff)) {
      throw new RangeError('sendEndSeq must be a uint32');
    }
    this.counters.resumed++;
    this.attach(socket, state, opts);
  }

  /** The plain-data state of a connection (null if the socket is not ours). */
  connectionState(socket: NetSocketLike): ConnectionState | null {
    return this.conns.get(socket)?.state() ?? null;
  }

  /** Sockets currently served. */
  sockets(): NetSocketLike[] {
    return [...this.conns.keys()];
  }

  stats(): HttpServerStats {
    return { ...this.counters, responses: { ...this.counters.responses }, activeConnections: this.conns.size };
  }

  /**
   * Stop accepting; idle connections end now, busy ones after their current response; whatever
   * is still open after `graceMs` is destroyed.
   */
  async close(graceMs = 2000): Promise<void> {
    this.closing = true;
    const l = this.listener;
    this.listener = null;
    const closed = l ? new Promise<void>((r) => l.close(() => r())) : Promise.resolve();
    for (const c of this.conns.values()) c.shutdown();
    const deadline = Date.now() + graceMs;
    while (this.conns.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    for (const c of [...this.conns.values()]) c.destroy();
    await closed;
  }

  private attach(socket: NetSocketLike, state: ConnectionState | null, opts: ResumeOptions = {}): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    this.counters.connections++;
    const c = new HttpConnection(this, socket, state, opts.sendEndSeq);
    this.conns.set(socket, c);
    c.start();
  }

  // --- used by HttpConnection -----------------------------------------------------------------

  /** @internal */ get o() {
    return this.opts;
  }
  /** @internal */ get c() {
    return this.counters;
  }
  /** @internal */ now(): number {
    return this.opts.clock.now();
  }
  /** @internal */ get isClosing(): boolean {
    return this.closing;
  }
  /** @internal */ forget(socket: NetSocketLike): void {
    this.conns.delete(socket);
  }
  /** @internal */ countResponse(status: number): void {
    const k = String(status);
    this.counters.responses[k] = (this.counters.responses[k] ?? 0) + 1;
  }
}

/** Create the server (call `listen()` on it, or hand it sockets with `handleConnection()`). */
export function createHttpFileServer(options: HttpFileServerOptions): HttpFileServer {
  return new HttpFileServer(options);
}

interface Prepared {
  status: number;
  headers: HeaderList;
  /** Body: an object range, a small literal buffer, or nothing. */
  object?: { obj: OpenedObject; start: number; end: number };
  literal?: Buffer;
  close: boolean;
}

class HttpConnection {
  private readonly parser: RequestParser;
  private busy = false;
  private driving = false;
  private peerEnded = false;
  private dead = false;
  private closeAfter = false;
  /** We ended our side (FIN) and wait for the peer's. */
  private ending = false;
  private requests = 0;
  /** When the first byte of the request head now buffered arrived (server clock), or -1. */
  private headSince = -1;
  private response: ResponseState | null = null;
  private drainWaiter: (() => void) | null = null;
  private readonly remote: string;

  constructor(
    private readonly server: HttpFileServer,
    private readonly socket: NetSocketLike,
    private readonly resumeState: ConnectionState | null,
    private readonly resumeSendEnd?: number,
  ) {
    this.parser = resumeState ? RequestParser.restore(resumeState.parser, server.o.limits) : new RequestParser(server.o.limits);
    if (resumeState) {
      this.requests = resumeState.requests;
      this.peerEnded = resumeState.peerEnded;
    }
    this.remote = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
  }

  start(): void {
    const s = this.socket;
    s.setNoDelay?.(true);
    s.on('data', (chunk: Buffer) => {
      this.parser.push(chunk);
      if (this.busy && this.parser.buffered > this.server.o.maxPipelineBytes) s.pause();
      this.drive();
    });
    s.on('end', () => {
      this.peerEnded = true;
      this.drive();
    });
    s.on('drain', () => this.wake());
    s.on('error', () => this.destroy());
    s.on('close', () => {
      this.dead = true;
      this.wake();
      this.server.forget(s);
    });
    s.on('timeout', () => {
      this.server.c.timeouts++;
      // Ended by us but the peer keeps its half open: do not hold the socket forever.
      if (this.ending) s.destroy();
      else if (this.busy || this.parser.buffered > 0) this.destroy();
      else this.endGracefully();
    });
    const r = this.resumeState?.response;
    if (r) {
      this.busy = true;
      this.setTimer(this.server.o.sendTimeout);
      this.continueResponse(r).then(
        () => this.afterResponse(r.close),
        () => this.destroy(),
      );
    } else {
      this.drive();
    }
  }

  state(): ConnectionState {
    return {
      v: 1,
      requests: this.requests,
      parser: this.parser.snapshot(),
      response: this.response ? { ...this.response } : null,
      peerEnded: this.peerEnded,
    };
  }

  /** End after the current response (server closing). */
  shutdown(): void {
    this.closeAfter = true;
    if (!this.busy) this.endGracefully();
  }

  destroy(): void {
    if (this.dead) return;
    this.dead = true;
    this.socket.destroy();
    this.wake();
  }

  private endGracefully(): void {
    if (this.dead) return;
    this.dead = true;
    this.ending = true;
    this.socket.end();
    // Our FIN is sent; give the peer the idle time to close its side, then destroy.
    this.setTimer(this.server.o.idleTimeout > 0 ? this.server.o.idleTimeout : 5000);
    this.wake();
  }

  private wake(): void {
    const w = this.drainWaiter;
    this.drainWaiter = null;
    w?.();
  }

  private setTimer(ms: number): void {
    this.socket.setTimeout?.(ms);
  }

  /** Answer complete requests in order while not busy. */
  private drive(): void {
    if (this.driving || this.busy || this.dead) return;
    this.driving = true;
    try {
      const req = this.parser.next();
      if (req === null) {
        if (this.peerEnded) {
          this.endGracefully();
          return;
        }
        // A head that trickles in byte by byte keeps the idle timer alive; bound its total time.
        if (this.parser.buffered > 0) {
          const now = this.server.now();
          if (this.headSince < 0) this.headSince = now;
          else if (now - this.headSince > this.server.o.headersTimeout) {
            this.server.c.timeouts++;
            this.busy = true;
            this.send('-', '-', errorResponse(408, 'request head took too long', true), false).then(
              () => this.afterResponse(true),
              () => this.destroy(),
            );
            return;
          }
        } else {
          this.headSince = -1;
        }
        if (this.socket.isPaused()) this.socket.resume();
        this.setTimer(this.server.o.idleTimeout);
        return;
      }
      this.headSince = -1;
      this.busy = true;
      this.setTimer(this.server.o.sendTimeout);
      if (isParseError(req)) {
        this.server.c.parseErrors++;
        const p = errorResponse(req.status, req.reason, true);
        this.send('-', '-', p, false).then(
          () => this.afterResponse(true),
          () => this.destroy(),
        );
        return;
      }
      this.requests++;
      this.server.c.requests++;
      this.handle(req).then(
        (close) => this.afterResponse(close),
        () => this.destroy(),
      );
    } finally {
      this.driving = false;
    }
  }

  private afterResponse(close: boolean): void {
    this.busy = false;
    this.response = null;
    if (close || this.closeAfter || this.server.isClosing) {
      this.endGracefully();
      return;
    }
    this.drive();
  }

  /** Answer one request; resolves with whether the connection closes after it. */
  private async handle(req: HttpRequest): Promise<boolean> {
    const head = req.method === 'HEAD';
    let p: Prepared;
    if (req.method !== 'GET' && !head) {
      p = errorResponse(405, 'method not allowed', !req.keepAlive);
      p.headers.push(['Allow', 'GET, HEAD']);
    } else if (req.path === '') {
      p = errorResponse(400, 'unsupported request-target form', !req.keepAlive);
    } else {
      try {
        p = await this.route(req);
      } catch {
        // An unexpected failure before the head is written (EMFILE, EIO...): answer 500.
        this.server.c.internalErrors++;
        p = errorResponse(500, 'internal error', !req.keepAlive);
      }
    }
    await this.send(req.method, req.path, p, head);
    return p.close;
  }

  private async route(req: HttpRequest): Promise<Prepared> {
    const close = !req.keepAlive;
    const srv = this.server;
    if (srv.generated && req.path.startsWith('/gen/')) {
      const size = parseGenSize(req.path.slice(5));
      const seedStr = queryParam(req.query, 'seed') ?? '1';
      const seed = /^\d{1,10}$/.test(seedStr) ? Number(seedStr) : -1;
      if (size === null || seed < 0 || seed > 0xffffffff) return errorResponse(400, 'usage: /gen/<bytes>[K|M|G]?seed=<uint32>', close);
      return this.prepareObject(req, srv.generated.open(size, seed), close);
    }
    if (!srv.files) return errorResponse(404, 'not found', close);
    const rp = resolveRequestPath(req.path);
    if (!rp.ok) return errorResponse(rp.status, rp.reason, close);
    const r = await srv.files.open(rp.segments, rp.trailingSlash);
    if (!r.ok) {
      if (r.status === 301) {
        const p = errorResponse(301, 'moved', close);
        p.headers.push(['Location', `${req.path}/${req.query ? `?${req.query}` : ''}`]);
        return p;
      }
      return errorResponse(r.status, r.reason, close);
    }
    return this.prepareObject(req, r.object, close);
  }

  /** Validators, conditionals and ranges (RFC 9110 §13, §14) for one object. */
  private prepareObject(req: HttpRequest, obj: OpenedObject, close: boolean): Prepared {
    const h = req.headers;
    const lastModified = obj.mtimeMs !== null && !this.server.o.deterministic ? httpDate(obj.mtimeMs) : null;
    const headers: HeaderList = [['ETag', obj.etag]];
    if (lastModified) headers.push(['Last-Modified', lastModified]);
    // RFC 9110 §13.2.2: If-None-Match first; If-Modified-Since only without it.
    let notModified = false;
    if (h['if-none-match'] !== undefined) {
      notModified = ifNoneMatchMatches(h['if-none-match'], obj.etag);
    } else if (h['if-modified-since'] !== undefined && lastModified !== null && obj.mtimeMs !== null) {
      const ims = parseHttpDate(h['if-modified-since']);
      notModified = !Number.isNaN(ims) && Math.floor(obj.mtimeMs / 1000) * 1000 <= ims;
    }
    if (notModified) {
      obj.close();
      return { status: 304, headers, close };
    }
    headers.push(['Accept-Ranges', 'bytes']);
    // Range applies to GET only (RFC 9110 §14.2), and only if If-Range (when present) matches.
    let range = parseRange(req.method === 'GET' ? h['range'] : undefined, obj.size);
    if (range.kind !== 'none' && h['if-range'] !== undefined && !ifRangeMatches(h['if-range'], obj.etag, lastModified)) range = { kind: 'none' };
    if (range.kind === 'unsatisfiable') {
      obj.close();
      const p = errorResponse(416, 'range not satisfiable', close);
      p.headers.push(['Content-Range', `bytes */${obj.size}`], ...headers);
      return p;
    }
    headers.push(['Content-Type', obj.contentType]);
    if (range.kind === 'single') {
      headers.push(['Content-Range', `bytes ${range.start}-${range.end - 1}/${obj.size}`], ['Content-Length', range.end - range.start]);
      return { status: 206, headers, object: { obj, start: range.start, end: range.end }, close };
    }
    // 'multi' is answered with the whole representation (allowed: a server may ignore Range).
    headers.push(['Content-Length', obj.size]);
    return { status: 200, headers, object: { obj, start: 0, end: obj.size }, close };
  }

  /** Write the head and body of a prepared response. */
  private async send(method: string, path: string, p: Prepared, head: boolean): Promise<void> {
    const srv = this.server;
    const headers: HeaderList = srv.o.deterministic ? [] : [['Date', httpDate(Date.now())]];
    if (srv.o.serverName) headers.push(['Server', srv.o.serverName]);
    headers.push(...p.headers);
    if (p.close || srv.isClosing || this.closeAfter) {
      p.close = true;
      headers.push(['Connection', 'close']);
    } else {
      headers.push(['Connection', 'keep-alive']);
      if (srv.o.idleTimeout > 0) headers.push(['Keep-Alive', `timeout=${Math.max(1, Math.floor(srv.o.idleTimeout / 1000))}`]);
    }
    if (this.dead) {
      p.object?.obj.close();
      throw GONE;
    }
    const headBytes = formatResponseHead(p.status, headers);
    this.socket.write(headBytes);
    let bytes = 0;
    if (p.object) {
      const { obj, start, end } = p.object;
      if (head || end <= start) {
        obj.close();
      } else {
        const r: ResponseState = {
          id: obj.id,
          path,
          etag: obj.etag,
          status: p.status as 200 | 206,
          start,
          end,
          written: 0,
          seq: null,
          pieceOffset: start,
          close: p.close,
          head: headBytes.toString('latin1'),
        };
        this.response = r;
        await this.pump(obj.read(start, end), r);
        bytes = r.written;
      }
    } else if (p.literal && !head) {
      this.socket.write(p.literal);
      bytes = p.literal.length;
    }
    srv.countResponse(p.status);
    srv.o.onResponse?.({ method, path, status: p.status, bytes, remote: this.remote });
  }

  /** Resume a response from a ConnectionState (see HttpFileServer.resume). */
  private async continueResponse(r: ResponseState): Promise<void> {
    let from = r.start + r.written;
    const sendEnd = this.resumeSendEnd;
    if (sendEnd !== undefined && r.seq !== null) {
      // Exact resume point from the sequence space: the restored stack resends everything up to
      // sendEnd itself; we continue with the byte after it. Bytes we had handed to the socket
      // but that never reached the TCP send buffer (a Writable's own queue) are re-sent here.
      const bodyStartSeq = (r.seq - (r.pieceOffset - r.start)) >>> 0;
      const d = (sendEnd - bodyStartSeq) | 0; // signed distance (RFC 9293 §3.4 arithmetic)
      if (d < 0) {
        // Even part of the head is missing: send its tail, then the body from its start.
        const head = Buffer.from(r.head, 'latin1');
        if (-d > head.length) throw new RangeError('sendEndSeq is before this response');
        this.socket.write(head.subarray(head.length + d));
        from = r.start;
      } else {
        from = r.start + Math.min(d, r.end - r.start);
      }
    }
    this.response = { ...r, written: from - r.start };
    if (from >= r.end) return;
    const src = this.server.objectSource(r.id, from);
    // The old host mapped its current piece to its end; map again from here on (a stack that
    // restored that map already may refuse the overlap — then its map stands).
    this.response.seq = null;
    await this.pump(limitBytes(src, r.end - from), this.response);
  }

  /**
   * Copy body chunks to the socket with backpressure (the `pipe(socket, { end: false })` of this
   * server, with object mapping and byte accounting between chunks).
   */
  private async pump(src: Chunks, r: ResponseState): Promise<void> {
    const srv = this.server;
    const s = this.socket;
    const canMap = typeof s.mapObject === 'function';
    const maxPiece = srv.o.maxMapLength;
    // Object position where the next piece gets mapped (pieces are ≤ maxPiece bytes).
    let nextMapAt = r.start + r.written;
    let sinceYield = 0;
    try {
      for await (const chunk0 of src) {
        let chunk = chunk0;
        while (chunk.length > 0) {
          if (this.dead) throw GONE;
          const pos = r.start + r.written;
          let piece = chunk;
          if (canMap) {
            if (pos >= nextMapAt) {
              // A new piece starts here: map it right before its first byte is written.
              const length = Math.min(maxPiece, r.end - pos);
              nextMapAt = pos + length;
              try {
                r.seq = s.mapObject!(r.id, { offset: pos, length }) >>> 0;
                r.pieceOffset = pos;
                srv.c.mappedObjects++;
              } catch {
                // Not mappable now (e.g. the stack refuses): these bytes stay literal in checkpoints.
                srv.c.mapErrors++;
                r.seq = null;
              }
            }
            if (nextMapAt - pos < piece.length) piece = chunk.subarray(0, nextMapAt - pos);
          }
          const ok = s.write(piece);
          r.written += piece.length;
          srv.c.bodyBytes += piece.length;
          chunk = chunk.subarray(piece.length);
          if (!ok) {
            await new Promise<void>((res) => {
              this.drainWaiter = res;
            });
            sinceYield = 0;
          } else if ((sinceYield += piece.length) >= PUMP_SLICE) {
            // Bounded work per event-loop turn: an empty send buffer (4 MiB by default) would
            // otherwise be filled in one run of microtasks, and 20 new downloads at once stall
            // the event loop — timers, cluster heartbeats — for hundreds of milliseconds.
            sinceYield = 0;
            await new Promise<void>((res) => setImmediate(res));
          }
        }
      }
    } catch (e) {
      if (e !== GONE) srv.c.bodyErrors++;
      throw e;
    }
    if (r.written !== r.end - r.start) {
      srv.c.bodyErrors++;
      throw new Error('object ended early');
    }
  }
}

/** The first `n` bytes of an object source's output. */
async function* limitBytes(src: ObjectBytes, n: number): AsyncGenerator<Uint8Array> {
  if (src instanceof Uint8Array) {
    if (src.length > 0) yield src.subarray(0, n);
    return;
  }
  let left = n;
  for await (const c of src as AsyncIterable<Uint8Array>) {
    if (c.length >= left) {
      yield c.subarray(0, left);
      return;
    }
    left -= c.length;
    yield c;
  }
}

function errorResponse(status: number, reason: string, close: boolean): Prepared {
  const body = Buffer.from(`${status} ${reason}\n`, 'utf8');
  return {
    status,
    headers: [
      ['Content-Type', 'text/plain; charset=utf-8'],
      ['Content-Length', body.length],
    ],
    literal: body,
    close,
  };
}
