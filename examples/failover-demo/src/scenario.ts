/**
 * The failover scenario, on one in-memory network (no root needed):
 *
 *   client 198.18.0.3 ──┐
 *   node A 198.18.0.1 ──┼── MemoryNetwork (switch)      virtual IP 198.18.0.100 homed on A
 *   node B 198.18.0.2 ──┘
 *
 * A and B each run a hastack Stack, a ClusterNode (cluster traffic on hastack's own UDP multicast),
 * the HA HTTP server and an HaNode joining them. The client downloads `/gen/<size>?seed=<seed>`
 * from the virtual IP over hastack TCP; at a seeded random point A crashes (`stack.crash()`: no
 * FIN, no RST, nothing). B notices the missed heartbeats, claims the virtual IP (gratuitous ARP),
 * restores A's replicated checkpoint as an unready socket, and resumes the response. The client
 * sees a pause. The result holds the stall (crash → first byte after it), the longest receive gap,
 * and the SHA-256 of what arrived against one computed independently from the generator.
 *
 * The HTTP server comes in as `deps` so the demo (package imports) and the tests (sources) share
 * this file.
 */
import { createHash } from 'node:crypto';
import { CuttableLink, MemoryNetwork, RealClock, Stack, VirtualClock, type Clock, type ObjectSource, type Socket } from '@hastack/stack';
/** Re-exported: the demo's nodes use it to simulate a vanished host. */
export { CuttableLink } from '@hastack/stack';
import { ClusterNode, HaNode, udpMulticastTransport, type FailbackMode, type HaApplication } from '@hastack/cluster';

export interface HttpServerLike {
  handleConnection(socket: never): void;
  connectionState(socket: never): unknown;
  resume(socket: never, state: never, opts: { sendEndSeq?: number }): void;
  readonly objectSource: unknown;
  stats(): { resumed: number };
}

export interface ScenarioDeps {
  createHttpFileServer(o: { root: null; net: never; clock?: { now(): number }; idleTimeout?: number; quiet?: boolean }): HttpServerLike;
  generateRange(seed: number, start: number, end: number): Iterable<Uint8Array>;
}

export interface ScenarioOptions {
  /** Bytes per download (default 256 MiB). */
  size?: number;
  /** Seed of the crash point and of the object (default 1). */
  seed?: number;
  /** Concurrent downloads (default 1). */
  connections?: number;
  /** Crash point as a fraction of the first download (default: seeded in 0.2..0.8). */
  crashAt?: number;
  /** 'virtual' (default; deterministic) or 'real' time. */
  clock?: 'virtual' | 'real';
  /** Checkpoint mode (default 'mapped'). */
  mode?: 'mapped' | 'full';
  /** Crash at all (default true). */
  crash?: boolean;
  /**
   * Replicate checkpoints from A to B (default true). Off, a crash cannot be survived; with
   * `crash: false` it measures what replication costs the transfer.
   */
  replication?: boolean;
  /** Heartbeat interval / missed beats (cluster defaults 50 / 4). */
  heartbeatIntervalMs?: number;
  missedBeats?: number;
  /** Link rate (Mbit/s, default 1000) and one-way delay (ms, default 0.1). */
  rateMbps?: number;
  delayMs?: number;
  /** Progress lines (default none). */
  log?: (line: string) => void;
  /** Wall-clock bound (default 120 s). */
  wallMs?: number;
}

export interface DownloadResult {
  bytes: number;
  expected: number;
  sha256: string;
  expectedSha256: string;
  ok: boolean;
  status: number;
  error: string | null;
}

export interface ScenarioResult {
  ok: boolean;
  size: number;
  seed: number;
  crashed: boolean;
  crashAtBytes: number;
  /** Time from the crash to the first body byte the takeover node sent (ms, on the scenario's clock). */
  stallMs: number | null;
  /** Longest gap between two received chunks of the first download (ms). */
  maxGapMs: number;
  /** Virtual or real ms the whole transfer took. */
  elapsedMs: number;
  /**
   * CPU time of this process (user + system, ms) during the transfer: all nodes and the client run
   * in it, so with `--clock real` this is what the transfer cost, less noisy than `elapsedMs` on a
   * shared machine (the SHA-256 precomputation and start-up are outside it).
   */
  cpuMs: number;
  wallMs: number;
  downloads: DownloadResult[];
  takeover: {
    restored: number;
    resumed: number;
    restoreErrors: number;
    detectedMs: number | null;
    /** Why restored connections on B ended before or after 'ready' (error codes and messages), in order. */
    connectionErrors: string[];
  };
  checkpoints: number;
}

export const VIP = '198.18.0.100';
export const KEY = Buffer.from('hastack-failover-demo-cluster-key!!', 'utf8');

/** A seeded PRNG in [0, 1) (mulberry32). */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** SHA-256 of the generated object, computed from the generator (no network). */
export function expectedSha256(deps: ScenarioDeps, seed: number, size: number): string {
  const h = createHash('sha256');
  for (const b of deps.generateRange(seed, 0, size)) h.update(b);
  return h.digest('hex');
}

/** One cluster node of the lab: its Stack, ClusterNode, HTTP server and HaNode. */
export interface LabNode {
  id: string;
  ip: string;
  mac: string;
  stack: Stack;
  link: CuttableLink;
  cluster: ClusterNode;
  ha: HaNode;
  http: HttpServerLike;
}

export interface NodeSpec {
  id: string;
  /** Last octet of 198.18.0.x. */
  host: number;
  /** Owns the virtual IP by configuration. */
  home?: boolean;
  successors: string[];
  failback?: FailbackMode;
}

export interface LabOptions extends Pick<ScenarioOptions, 'clock' | 'mode' | 'heartbeatIntervalMs' | 'missedBeats' | 'rateMbps' | 'delayMs' | 'wallMs'> {
  seed?: number;
  nodes?: NodeSpec[];
  /** HaNode checkpointing (default true). */
  checkpointing?: boolean;
}

/** A download in progress (see `FailoverLab.download`). */
export interface Download {
  res: DownloadResult;
  bodyBytes: number;
  done: boolean;
  socket: Socket;
}

/**
 * The in-memory HA lab: nodes (default A home of the virtual IP, B its successor), a client
 * stack, a shared clock, and helpers to download, crash, cut cables and restart nodes.
 */
export class FailoverLab {
  readonly clock: Clock;
  readonly vclock: VirtualClock | null;
  readonly net: MemoryNetwork;
  readonly nodes = new Map<string, LabNode>();
  readonly client: Stack;
  private readonly wallStart = Date.now();
  private boots = new Map<string, number>();

  private constructor(
    readonly deps: ScenarioDeps,
    readonly opts: LabOptions,
  ) {
    const virtual = (opts.clock ?? 'virtual') === 'virtual';
    this.clock = virtual ? new VirtualClock(0) : new RealClock();
    this.vclock = virtual ? (this.clock as VirtualClock) : null;
    // A 1 Gbit/s segment with 100 µs of one-way delay, so that times mean something.
    this.net = new MemoryNetwork({ seed: opts.seed ?? 1, clock: this.clock, rateMbps: opts.rateMbps ?? 1000, delayMs: opts.delayMs ?? 0.1, queueBytes: 1 << 20 });
    this.client = new Stack({ link: this.net.createPort({ mac: '02:00:00:00:00:c0' }), address: '198.18.0.200/24', clock: this.clock, nodeId: 'client' });
  }

  static async create(deps: ScenarioDeps, opts: LabOptions = {}): Promise<FailoverLab> {
    const lab = new FailoverLab(deps, opts);
    const specs = opts.nodes ?? [
      { id: 'A', host: 1, home: true, successors: ['B'], failback: 'none' },
      { id: 'B', host: 2, successors: ['A'], failback: 'none' },
    ];
    for (const sp of specs) await lab.startNode(sp);
    return lab;
  }

  private specs = new Map<string, NodeSpec>();

  /** Start (or restart, with a higher boot id and the same MAC and address) a node. */
  async startNode(sp: NodeSpec): Promise<LabNode> {
    this.specs.set(sp.id, sp);
    const boot = (this.boots.get(sp.id) ?? 0) + 1;
    this.boots.set(sp.id, boot);
    const ip = `198.18.0.${sp.host}`;
    const mac = `02:00:00:00:00:${sp.host.toString(16).padStart(2, '0')}`;
    const clock = this.clock;
    const link = new CuttableLink(this.net.createPort({ mac }));
    const stack = new Stack({ link, address: `${ip}/24`, clock, nodeId: sp.id });
    const cluster = new ClusterNode({
      nodeId: sp.id,
      key: KEY,
      clock,
      bootId: boot,
      heartbeatIntervalMs: this.opts.heartbeatIntervalMs,
      missedBeats: this.opts.missedBeats,
      home: sp.home ? [{ ip: VIP, mac, ports: [{ from: 80, to: 80 }] }] : [],
      failover: { successors: sp.successors, failback: sp.failback ?? 'none' },
      applications: [{ name: 'http/1.1', protocol: 'tcp', ports: [{ from: 80, to: 80 }] }],
      transport: udpMulticastTransport(stack.createSocket('udp4'), { localAddress: ip }),
    });
    const http = this.deps.createHttpFileServer({ root: null, net: stack as never, clock, idleTimeout: 0 });
    const app: HaApplication = {
      handleConnection: (s) => http.handleConnection(s as never),
      connectionState: (s) => http.connectionState(s as never),
      resume: (s, st, o) => http.resume(s as never, st as never, o),
      objectSource: http.objectSource as ObjectSource,
    };
    const ha = new HaNode({ cluster, stack, app, key: KEY, ports: 80, mode: this.opts.mode ?? 'mapped', checkpointing: this.opts.checkpointing ?? true });
    await ha.start();
    const n: LabNode = { id: sp.id, ip, mac, stack, link, cluster, ha, http };
    this.nodes.set(sp.id, n);
    return n;
  }

  node(id: string): LabNode {
    const n = this.nodes.get(id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  /** Restart a crashed node (new boot id). */
  restart(id: string): Promise<LabNode> {
    return this.startNode(this.specs.get(id)!);
  }

  /** Power cut: the HaNode, the cluster node and the stack stop at once, sending nothing. */
  crash(id: string): void {
    const n = this.node(id);
    n.ha.stop();
    n.cluster.close();
    n.stack.crash();
  }

  /** Whether `id` has the virtual IP configured. */
  hasVip(id: string): boolean {
    const n = this.nodes.get(id);
    return !!n && !n.stack.closed && n.stack.addresses().includes(`${VIP}/24`);
  }

  /** Run until `cond` (virtual: drive the clock; real: poll), at most `maxMs`. */
  async until(cond: () => boolean, maxMs: number): Promise<boolean> {
    const wallBound = this.opts.wallMs ?? 120_000;
    const left = Math.max(1000, wallBound - (Date.now() - this.wallStart));
    if (this.vclock) return this.vclock.run(cond, { maxMs, wallMs: left });
    const end = Date.now() + Math.min(maxMs, left);
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    return cond();
  }

  /** Run for `ms` on the lab's clock. */
  async runFor(ms: number): Promise<void> {
    const end = this.clock.now() + ms;
    await this.until(() => this.clock.now() >= end, ms + 1);
    if (this.vclock) await this.vclock.runFor(Math.max(0, end - this.clock.now()));
  }

  /** GET /gen/<size>?seed=<seed> from the virtual IP; `onBody(n, total)` per chunk. */
  download(size: number, seed: number, onBody: (n: number, total: number) => void = () => {}, expectedSha = expectedSha256(this.deps, seed, size)): Download {
    return startDownload(this.client, `/gen/${size}?seed=${seed}`, size, expectedSha, onBody);
  }

  close(): void {
    for (const n of this.nodes.values()) {
      n.ha.stop();
      n.cluster.close();
      n.stack.crash();
    }
    this.client.crash();
    this.net.close();
  }
}

interface Dl extends Download {
  hash: ReturnType<typeof createHash>;
  head: Buffer | null;
}

function startDownload(client: Stack, path: string, expected: number, expectedSha: string, onBody: (n: number, total: number) => void): Dl {
  const s = client.connect({ host: VIP, port: 80 }) as unknown as Socket;
  const dl: Dl = {
    res: { bytes: 0, expected, sha256: '', expectedSha256: expectedSha, ok: false, status: 0, error: null },
    hash: createHash('sha256'),
    head: Buffer.alloc(0),
    bodyBytes: 0,
    done: false,
    socket: s,
  };
  const finish = (error: string | null) => {
    if (dl.done) return;
    dl.done = true;
    dl.res.bytes = dl.bodyBytes;
    dl.res.sha256 = dl.hash.digest('hex');
    dl.res.error = error;
    dl.res.ok = error === null && dl.res.status === 200 && dl.bodyBytes === expected && dl.res.sha256 === expectedSha;
    s.destroy();
  };
  s.on('connect', () => s.write(`GET ${path} HTTP/1.1\r\nHost: ${VIP}\r\nConnection: close\r\n\r\n`));
  s.on('data', (c: Buffer) => {
    let body = c;
    if (dl.head) {
      const all = Buffer.concat([dl.head, c]);
      const i = all.indexOf('\r\n\r\n');
      if (i < 0) {
        dl.head = all;
        return;
      }
      const m = /^HTTP\/1\.1 (\d{3})/.exec(all.subarray(0, i).toString('latin1'));
      dl.res.status = m ? Number(m[1]) : 0;
      dl.head = null;
      body = all.subarray(i + 4);
    }
    if (body.length === 0) return;
    dl.hash.update(body);
    dl.bodyBytes += body.length;
    onBody(body.length, dl.bodyBytes);
    if (dl.bodyBytes >= expected) finish(null);
  });
  s.on('end', () => finish(dl.bodyBytes === expected ? null : `connection ended after ${dl.bodyBytes} of ${expected} bytes`));
  s.on('error', (e: Error) => finish(`${(e as { code?: string }).code ?? 'error'}: ${e.message}`));
  return dl;
}

/** Final result of a download (marks an unfinished one). */
export function downloadResult(d: Download): DownloadResult {
  if (d.done) return d.res;
  return { ...d.res, bytes: d.bodyBytes, sha256: '', ok: false, error: d.res.error ?? `unfinished after ${d.bodyBytes} of ${d.res.expected} bytes` };
}

/** Run the scenario (see the file comment). */
export async function runFailover(deps: ScenarioDeps, opts: ScenarioOptions = {}): Promise<ScenarioResult> {
  const size = opts.size ?? 256 * 1024 * 1024;
  const seed = opts.seed ?? 1;
  const nconn = opts.connections ?? 1;
  const log = opts.log ?? (() => {});
  const rnd = seeded(seed);
  const crashFrac = opts.crashAt ?? 0.2 + 0.6 * rnd();
  const crashAtBytes = Math.floor(size * crashFrac);
  const wall0 = Date.now();
  const expectedSha = expectedSha256(deps, seed, size);
  const lab = await FailoverLab.create(deps, { ...opts, seed, checkpointing: opts.replication ?? true });
  const clock = lab.clock;
  const a = lab.node('A');
  const b = lab.node('B');
  try {
    // The virtual IP comes up on A after the cluster's join window.
    if (!(await lab.until(() => lab.hasVip('A'), 5000))) throw new Error('the virtual IP never came up on A');
    log(`cluster up: ${VIP} on A (${a.ip}); B (${b.ip}) is the successor`);
    let crashed = false;
    let crashTime = -1;
    let firstAfter = -1;
    let detected: number | null = null;
    let resumedAt = -1;
    let lastRx = -1;
    let maxGap = 0;
    let nextPct = 10;
    b.ha.on('resumed', () => {
      if (crashed && resumedAt < 0) resumedAt = clock.now();
    });
    // A restore that never becomes ready (stale replica, unanswered solicitation) ends silently for
    // the client: keep the reason so a hung run says why.
    const connectionErrors: string[] = [];
    const noteError = (what: string) => (key: string, e: unknown) => {
      const x = e as { code?: string; message?: string } | undefined;
      if (connectionErrors.length < 20) connectionErrors.push(`${what} ${key} t=${clock.now().toFixed(1)}: ${x?.code ?? 'error'}: ${x?.message ?? String(e)}`);
    };
    b.ha.on('connection-error', noteError('connection-error'));
    b.ha.on('restore-error', noteError('restore-error'));
    b.cluster.on('takeover', () => {
      if (crashed && detected === null) detected = clock.now() - crashTime;
    });
    const t0 = clock.now();
    const cpu0 = process.cpuUsage();
    const dls: Download[] = [];
    for (let i = 0; i < nconn; i++) {
      const first = i === 0;
      dls.push(
        lab.download(
          size,
          seed,
          (_n, total) => {
            if (!first) return;
            const now = clock.now();
            if (lastRx >= 0) maxGap = Math.max(maxGap, now - lastRx);
            lastRx = now;
            if (resumedAt >= 0 && firstAfter < 0) firstAfter = now;
            while (total * 100 >= size * nextPct && nextPct <= 100) {
              log(`${String(nextPct).padStart(3)}%  ${(total / 1048576).toFixed(1).padStart(7)} MiB  t=${((now - t0) / 1000).toFixed(3)} s${crashed ? '  (served by B)' : ''}`);
              nextPct += 10;
            }
            if (!crashed && opts.crash !== false && total >= crashAtBytes) {
              crashed = true;
              crashTime = now;
              log(`*** crashing node A at ${(total / 1048576).toFixed(1)} MiB (${(crashFrac * 100).toFixed(1)}%): stack.crash(), no FIN, no RST ***`);
              lab.crash('A');
            }
          },
          expectedSha,
        ),
      );
    }
    await lab.until(() => dls.every((d) => d.done), 10 * 60_000);
    const cpu = process.cpuUsage(cpu0);
    const downloads = dls.map(downloadResult);
    return {
      ok: downloads.every((d) => d.ok),
      size,
      seed,
      crashed,
      crashAtBytes,
      stallMs: crashed && firstAfter >= 0 ? firstAfter - crashTime : null,
      maxGapMs: maxGap,
      elapsedMs: clock.now() - t0,
      cpuMs: (cpu.user + cpu.system) / 1000,
      wallMs: Date.now() - wall0,
      downloads,
      takeover: { restored: b.ha.stats.restored, resumed: b.ha.stats.resumed, restoreErrors: b.ha.stats.restoreErrors, detectedMs: detected, connectionErrors },
      checkpoints: a.ha.stats.checkpoints,
    };
  } finally {
    lab.close();
  }
}
