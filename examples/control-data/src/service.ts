/**
 * A control + data streaming service in the style of RTSP or FTP (seed 003 claims 4–7, 15–18),
 * written to show connection *bundles*: one TCP control connection per session and two UDP data
 * flows, one unicast to the client and one to an IP multicast group, checkpointed together and
 * restored together on another host.
 *
 * Read this first:
 * - Control protocol (one line per command, CRLF or LF):
 *     SETUP <client-udp-port>  → "200 OK session=<id> server_port=<p>"
 *     PLAY / PAUSE             → "200 OK"
 *     STATS                    → "200 OK sent=<n> reports=<n>"
 *     TEARDOWN                 → "200 OK", then the session ends
 *   anything else              → "400 Bad Request"
 * - While playing, every `intervalMs` the session sends "U <seq>" to the client's UDP port and
 *   "M <seq>" to the multicast group. Receivers may send "R <text>" reports to the group; the
 *   session's multicast socket is a member of it and counts them.
 * - A session's state is plain data (`SessionState`); `checkpointSession()` bundles the three
 *   sockets with it, `resumeSession()` restores the bundle on another stack and continues the
 *   flows where the checkpoint left them. Timers run on the stack's clock.
 */
import type { BundleCheckpoint, RestoreOptions, Socket, Stack, TimerHandle, UdpSocket } from '@hastack/stack';

export interface SessionState {
  v: 1;
  session: string;
  /** Next data sequence number. */
  seq: number;
  playing: boolean;
  /** Reports received from the group. */
  reports: number;
  /** An incomplete command line read from the control connection. */
  pending: string;
}

export interface StreamServerOptions {
  /** Multicast group and port of the shared flow (e.g. '239.1.2.3', 5004). */
  group: string;
  groupPort: number;
  /** Data interval in ms (default 20). */
  intervalMs?: number;
}

export const PROTOCOL = 'rtsp-lite';

/** One session: the control socket, the two data sockets, the state. */
export class Session {
  unicast: UdpSocket | null = null;
  multicast: UdpSocket | null = null;
  private timer: TimerHandle | null = null;
  closed = false;

  constructor(
    readonly server: StreamServer,
    readonly control: Socket,
    readonly st: SessionState,
  ) {
    control.setEncoding('latin1');
    control.on('data', (s: string) => this.onText(s));
    control.on('end', () => this.close());
    control.on('error', () => this.close());
  }

  /** Attach restored data sockets and pick up the flows. */
  adopt(unicast: UdpSocket | null, multicast: UdpSocket | null): void {
    this.unicast = unicast;
    this.multicast = multicast;
    multicast?.on('message', (m: Buffer) => this.onReport(m));
    if (this.st.playing) this.arm();
  }

  /** Run complete command lines carried over in the state. */
  resumeInput(): void {
    this.onText('');
  }

  private onText(s: string): void {
    this.st.pending += s;
    let i: number;
    while (!this.closed && (i = this.st.pending.indexOf('\n')) >= 0) {
      const line = this.st.pending.slice(0, i).replace(/\r$/, '');
      this.st.pending = this.st.pending.slice(i + 1);
      this.command(line.trim());
    }
    if (this.st.pending.length > 1024) this.close();
  }

  private reply(text: string): void {
    if (!this.control.destroyed && this.control.writable) this.control.write(`${text}\r\n`);
  }

  private command(line: string): void {
    const [verb, arg] = line.split(/\s+/, 2);
    const srv = this.server;
    switch (verb) {
      case 'SETUP': {
        const port = Number(arg);
        if (!Number.isInteger(port) || port < 1 || port > 65535 || this.unicast) return this.reply('400 Bad Request');
        const stack = srv.stack;
        const u = stack.createSocket('udp4');
        u.bind(0);
        u.connect(port, this.control.remoteAddress!);
        const m = stack.createSocket({ type: 'udp4', reuseAddr: true });
        m.bind(srv.opts.groupPort);
        m.addMembership(srv.opts.group);
        m.setMulticastTTL(4);
        // Not connected: a connected socket would only hear the group address itself, and the
        // receivers' reports come from their own addresses.
        this.adopt(u, m);
        return this.reply(`200 OK session=${this.st.session} server_port=${u.address().port}`);
      }
      case 'PLAY':
        if (!this.unicast) return this.reply('455 Method Not Valid In This State');
        this.st.playing = true;
        this.arm();
        return this.reply('200 OK');
      case 'PAUSE':
        this.st.playing = false;
        this.disarm();
        return this.reply('200 OK');
      case 'STATS':
        return this.reply(`200 OK sent=${this.st.seq} reports=${this.st.reports}`);
      case 'TEARDOWN':
        this.reply('200 OK');
        this.control.end();
        this.close();
        return;
      case '':
        return;
      default:
        return this.reply('400 Bad Request');
    }
  }

  private onReport(m: Buffer): void {
    if (m.length > 1 && m[0] === 0x52 /* 'R' */) this.st.reports++;
  }

  private arm(): void {
    if (this.timer || this.closed) return;
    const clock = this.server.stack.clock;
    const tick = (): void => {
      this.timer = null;
      if (!this.st.playing || this.closed) return;
      const seq = this.st.seq++;
      this.unicast?.send(Buffer.from(`U ${seq}`));
      this.multicast?.send(Buffer.from(`M ${seq}`), this.server.opts.groupPort, this.server.opts.group);
      this.timer = clock.setTimer(clock.now() + this.server.intervalMs, tick);
    };
    this.timer = clock.setTimer(clock.now() + this.server.intervalMs, tick);
  }

  private disarm(): void {
    if (this.timer) this.server.stack.clock.clearTimer(this.timer);
    this.timer = null;
  }

  /** Stop everything (the control connection is left to finish its close). */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    try {
      this.unicast?.close();
    } catch {
      /* already closed */
    }
    try {
      this.multicast?.close();
    } catch {
      /* already closed */
    }
    this.server.sessions.delete(this);
  }

  /** Stop without touching the network (the host is being killed). */
  freeze(): void {
    this.closed = true;
    this.disarm();
  }
}

export class StreamServer {
  readonly sessions = new Set<Session>();
  readonly intervalMs: number;
  private nextId = 1;

  constructor(
    readonly stack: Stack,
    readonly opts: StreamServerOptions,
  ) {
    this.intervalMs = opts.intervalMs ?? 20;
  }

  /** Accept control connections on `port`. */
  listen(port: number, host: string): Promise<void> {
    const srv = this.stack.createServer({ allowHalfOpen: true }, (s: Socket) => {
      const st: SessionState = { v: 1, session: `${this.stack.nodeId}-${this.nextId++}`, seq: 0, playing: false, reports: 0, pending: '' };
      this.sessions.add(new Session(this, s, st));
    });
    return new Promise((resolve) => srv.listen(port, host, () => resolve()));
  }

  /**
   * Checkpoint a session as one bundle: the control connection first (by convention), then the
   * unicast and multicast data flows, with the session state as the bundle's app section.
   */
  checkpointSession(s: Session): BundleCheckpoint {
    const members = [s.control, ...(s.unicast ? [s.unicast] : []), ...(s.multicast ? [s.multicast] : [])];
    return this.stack.checkpointBundle(members, { app: { protocol: PROTOCOL, state: { ...s.st } } });
  }

  /** Restore a bundle made by `checkpointSession` (on this server's stack) and continue it. */
  resumeSession(b: BundleCheckpoint, opts: RestoreOptions = {}): Session {
    const st = b.app?.state as unknown as SessionState;
    if (!st || st.v !== 1 || b.app?.protocol !== PROTOCOL) throw new TypeError('not a session bundle');
    const { members } = this.stack.restore(b, opts);
    const [control, unicast, multicast] = members as [Socket, UdpSocket | undefined, UdpSocket | undefined];
    const s = new Session(this, control, { ...st });
    s.adopt(unicast ?? null, multicast ?? null);
    this.sessions.add(s);
    // Commands read on the old host but not yet answered.
    if (s.st.pending.includes('\n')) s.resumeInput();
    return s;
  }
}
