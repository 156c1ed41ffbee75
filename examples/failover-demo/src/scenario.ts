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
import { MemoryNetwork, RealClock, Stack, VirtualClock, type Clock, type ObjectSource, type Socket } from '@hastack/stack';
import { ClusterNode, HaNode, udpMulticastTransport, type HaApplication } from '@hastack/cluster';

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
  wallMs: number;
  downloads: DownloadResult[];
  takeover: { restored: number; resumed: number; restoreErrors: number; detectedMs: number | null };
  checkpoints: number;
}

export const VIP = '198.18.0.100';
const KEY = Buffer.from('hastack-failover-demo-cluster-key!!', 'utf8');

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

interface Node {
  id: string;
  stack: Stack;
  cluster: ClusterNode;
  ha: HaNode;
  http: HttpServerLike;
}

async function makeNode(
  deps: ScenarioDeps,
  net: MemoryNetwork,
  clock: Clock,
  id: string,
  ip: string,
  mac: string,
  peers: string[],
  opts: ScenarioOptions,
): Promise<Node> {
  const stack = new Stack({ link: net.createPort({ mac }), address: `${ip}/24`, clock, nodeId: id });
  const cluster = new ClusterNode({
    nodeId: id,
    key: KEY,
    clock,
    bootId: 1,
    heartbeatIntervalMs: opts.heartbeatIntervalMs,
    missedBeats: opts.missedBeats,
    home: id === 'A' ? [{ ip: VIP, mac, ports: [{ from: 80, to: 80 }] }] : [],
    failover: { successors: peers, failback: 'none' },
    applications: [{ name: 'http/1.1', protocol: 'tcp', ports: [{ from: 80, to: 80 }] }],
    transport: udpMulticastTransport(stack.createSocket('udp4'), { localAddress: ip }),
  });
  const http = deps.createHttpFileServer({ root: null, net: stack as never, clock, idleTimeout: 0 });
  const app: HaApplication = {
    handleConnection: (s) => http.handleConnection(s as never),
    connectionState: (s) => http.connectionState(s as never),
    resume: (s, st, o) => http.resume(s as never, st as never, o),
    objectSource: http.objectSource as ObjectSource,
  };
  const ha = new HaNode({ cluster, stack, app, key: KEY, ports: 80, mode: opts.mode ?? 'mapped' });
  await ha.start();
  return { id, stack, cluster, ha, http };
}

interface Dl {
  res: DownloadResult;
  hash: ReturnType<typeof createHash>;
  head: Buffer | null;
  bodyBytes: number;
  done: boolean;
}

function startDownload(client: Stack, path: string, expected: number, expectedSha: string, onBody: (n: number, total: number) => void): Dl {
  const dl: Dl = {
    res: { bytes: 0, expected, sha256: '', expectedSha256: expectedSha, ok: false, status: 0, error: null },
    hash: createHash('sha256'),
    head: Buffer.alloc(0),
    bodyBytes: 0,
    done: false,
  };
  const s = client.connect({ host: VIP, port: 80 }) as unknown as Socket;
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

/** Run the scenario (see the file comment). */
export async function runFailover(deps: ScenarioDeps, opts: ScenarioOptions = {}): Promise<ScenarioResult> {
  const size = opts.size ?? 256 * 1024 * 1024;
  const seed = opts.seed ?? 1;
  const nconn = opts.connections ?? 1;
  const log = opts.log ?? (() => {});
  const rnd = seeded(seed);
  const crashFrac = opts.crashAt ?? 0.2 + 0.6 * rnd();
  const crashAtBytes = Math.floor(size * crashFrac);
  const virtual = (opts.clock ?? 'virtual') === 'virtual';
  const clock: Clock = virtual ? new VirtualClock(0) : new RealClock();
  const vclock = virtual ? (clock as VirtualClock) : null;
  const wallStart = Date.now();
  const wallBound = opts.wallMs ?? 120_000;
  // A 1 Gbit/s segment with 100 µs of one-way delay, so that times mean something.
  const net = new MemoryNetwork({ seed, clock, rateMbps: opts.rateMbps ?? 1000, delayMs: opts.delayMs ?? 0.1, queueBytes: 1 << 20 });
  const expectedSha = expectedSha256(deps, seed, size);

  const a = await makeNode(deps, net, clock, 'A', '198.18.0.1', '02:00:00:00:00:0a', ['B'], opts);
  const b = await makeNode(deps, net, clock, 'B', '198.18.0.2', '02:00:00:00:00:0b', ['A'], opts);
  const client = new Stack({ link: net.createPort({ mac: '02:00:00:00:00:0c' }), address: '198.18.0.3/24', clock, nodeId: 'client' });

  /** Run until `cond` (virtual: drive the clock; real: poll). */
  const until = async (cond: () => boolean, maxMs: number): Promise<boolean> => {
    if (vclock) return vclock.run(cond, { maxMs, wallMs: Math.max(1000, wallBound - (Date.now() - wallStart)) });
    const end = Date.now() + Math.min(maxMs, Math.max(0, wallBound - (Date.now() - wallStart)));
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 2));
    return cond();
  };

  // The virtual IP comes up on A after the cluster's join window.
  const vipOn = (s: Stack) => s.addresses().includes(`${VIP}/24`);
  if (!(await until(() => vipOn(a.stack), 5000))) throw new Error('the virtual IP never came up on A');
  log(`cluster up: ${VIP} on A (198.18.0.1); B (198.18.0.2) is the successor`);

  let crashed = false;
  let crashTime = -1;
  let firstAfter = -1;
  let detected: number | null = null;
  let resumedAt = -1;
  b.ha.on('resumed', () => {
    if (crashed && resumedAt < 0) resumedAt = clock.now();
  });
  let lastRx = -1;
  let maxGap = 0;
  let nextPct = 10;
  b.cluster.on('takeover', () => {
    if (crashed && detected === null) detected = clock.now() - crashTime;
  });
  const t0 = clock.now();
  const dls: Dl[] = [];
  for (let i = 0; i < nconn; i++) {
    const first = i === 0;
    dls.push(
      startDownload(client, `/gen/${size}?seed=${seed}`, size, expectedSha, (n, total) => {
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
          // Power cut: the HaNode, the cluster node and the stack stop at once, sending nothing.
          a.ha.stop();
          a.cluster.close();
          a.stack.crash();
        }
      }),
    );
  }
  await until(() => dls.every((d) => d.done), 10 * 60_000);
  const elapsed = clock.now() - t0;
  for (const d of dls) if (!d.done) d.res.error = d.res.error ?? `timed out after ${d.bodyBytes} of ${size} bytes`;
  const result: ScenarioResult = {
    ok: dls.every((d) => d.done && d.res.ok),
    size,
    seed,
    crashed,
    crashAtBytes,
    stallMs: crashed && firstAfter >= 0 ? firstAfter - crashTime : null,
    maxGapMs: maxGap,
    elapsedMs: elapsed,
    wallMs: Date.now() - wallStart,
    downloads: dls.map((d) => {
      if (!d.done) return { ...d.res, bytes: d.bodyBytes, sha256: '' };
      return d.res;
    }),
    takeover: { restored: b.ha.stats.restored, resumed: b.ha.stats.resumed, restoreErrors: b.ha.stats.restoreErrors, detectedMs: detected },
    checkpoints: a.ha.stats.checkpoints,
  };
  // Tear down.
  for (const n of [a, b]) {
    n.ha.stop();
    n.cluster.close();
    n.stack.crash();
  }
  client.crash();
  net.close();
  return result;
}
