#!/usr/bin/env node
/**
 * ha-http-server command line.
 *
 *   node examples/ha-http-server/dist/cli.js --root DIR [--port N] [mode] [options]
 *
 * Modes:
 *   --kernel [--host 127.0.0.1]        node:net on the host's own TCP (testing; the default)
 *   --memory --address CIDR            a hastack Stack on an in-memory network (with --self-test)
 *   --tap NAME [--netns PATH] [--bridge BR] --address CIDR [--gateway IP] [--mac MAC]
 *                                      a hastack Stack on a TAP device (root)
 * Options: --config FILE (JSON, same keys), --index NAME | --no-index, --etag mtime|sha256,
 *   --idle-timeout MS, --no-gen, --quiet, --self-test BYTES (memory mode: fetch /gen/BYTES through
 *   a second stack and print its SHA-256).
 * Cluster mode: --cluster FILE (a @hastack/cluster config, see docs/cluster.md) with --memory or --tap
 *   runs one cluster node: an HaNode replicates and takes over connections (docs/ha.md).
 *   --no-checkpointing: replicate no checkpoints (a snooper is then the only source of takeover state).
 *   --snoop: watch the segment (a hub or mirror port) with a ConnectionSnooper and resume, on takeover,
 *   connections that have no replicated checkpoint from their snooped state (needs --deterministic on
 *   every node); --resume-snooped: only the latter (states sent by another node's snooper).
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as http from 'node:http';
import * as net from 'node:net';
import { createHttpFileServer, parseGenSize, type HttpFileServer, type NetLike } from './server.js';
import type { Chunks, EtagMode } from './objects.js';

/** Every setting, as flags (kebab-case) or config-file keys (camelCase). */
export interface CliConfig {
  root: string | null;
  port: number;
  mode: 'kernel' | 'memory' | 'tap';
  host: string;
  address: string | null;
  gateway: string | null;
  mac: string | null;
  tap: string | null;
  netns: string | null;
  /** tap mode: enslave the device to this Linux bridge (in the same namespace) and set it up. */
  bridge: string | null;
  index: string | null;
  etag: EtagMode;
  idleTimeout: number;
  generated: boolean;
  /** Byte-identical responses across hosts (no Date/Last-Modified, sha256 ETags). */
  deterministic: boolean;
  quiet: boolean;
  selfTest: number | null;
  /** Cluster mode: a @hastack/cluster config (file path or object); see docs/ha.md. */
  cluster: unknown;
  /** Cluster mode: replicate connection checkpoints (default true; false leaves only snooping). */
  checkpointing: boolean;
  /** Cluster mode: snoop the segment (hub / mirror port) and resume snooped connections on takeover. */
  snoop: boolean;
  /** Cluster mode: resume connections from snooped states sent by other nodes (implied by `snoop`). */
  resumeSnooped: boolean;
  /**
   * Cluster mode: bytes past the snooped SND.MAX a snooped takeover queues (HaNode
   * `snoopMaxQueuedBytes`); the client's ACK is adopted up to there, so it bounds how far a
   * snooper may lag behind the client (default 8 MiB).
   */
  snoopQueue: number;
}

export class UsageError extends Error {}

const USAGE = `usage: ha-http-server --root DIR [--port N] [--kernel [--host IP] | --memory --address CIDR | --tap NAME [--netns PATH] --address CIDR [--gateway IP] [--mac MAC]]
       [--bridge BR] [--config FILE] [--index NAME | --no-index] [--etag mtime|sha256] [--idle-timeout MS] [--no-gen] [--deterministic] [--quiet] [--self-test BYTES]
       [--cluster FILE [--no-checkpointing] [--snoop | --resume-snooped] [--snoop-queue BYTES]]
Cluster mode (--memory or --tap): --cluster FILE runs one @hastack/cluster node (docs/ha.md).
  --no-checkpointing   replicate no connection checkpoints (only a snooper can then save them)
  --snoop              snoop the segment (a hub or mirror port: docs/cluster.md) and resume, on takeover,
                       connections with no replicated checkpoint from their snooped state; needs
                       --deterministic (and every node must serve with --deterministic)
  --resume-snooped     resume from snooped states other nodes send, without snooping here
  --snoop-queue BYTES  a snooped takeover queues this much past what the snooper saw sent (default 8M):
                       the client's ACK is accepted up to there, however far the snooper lagged`;

const DEFAULTS: CliConfig = {
  root: null,
  port: 8080,
  mode: 'kernel',
  host: '127.0.0.1',
  address: null,
  gateway: null,
  mac: null,
  tap: null,
  netns: null,
  bridge: null,
  index: 'index.html',
  etag: 'mtime',
  idleTimeout: 5000,
  generated: true,
  deterministic: false,
  quiet: false,
  selfTest: null,
  cluster: null,
  checkpointing: true,
  snoop: false,
  resumeSnooped: false,
  snoopQueue: 8 * 1024 * 1024,
};

function num(name: string, v: unknown, min: number, max: number): number {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : NaN;
  if (!Number.isInteger(n) || n < min || n > max) throw new UsageError(`${name} must be an integer in ${min}..${max}`);
  return n;
}

function str(name: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new UsageError(`${name} needs a value`);
  return v;
}

/** Apply one setting (from a flag or a config key) to `c`. */
function apply(c: CliConfig, key: string, v: unknown): void {
  switch (key) {
    case 'root':
      c.root = str('root', v);
      break;
    case 'port':
      c.port = num('port', v, 0, 65535);
      break;
    case 'host':
      c.host = str('host', v);
      break;
    case 'mode':
      if (v !== 'kernel' && v !== 'memory' && v !== 'tap') throw new UsageError('mode must be kernel, memory or tap');
      c.mode = v;
      break;
    case 'kernel':
      if (v) c.mode = 'kernel';
      break;
    case 'memory':
      if (v) c.mode = 'memory';
      break;
    case 'tap':
      c.tap = str('tap', v);
      c.mode = 'tap';
      break;
    case 'netns':
      c.netns = str('netns', v);
      break;
    case 'bridge':
      c.bridge = str('bridge', v);
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(c.bridge)) throw new UsageError('bridge must be an interface name');
      break;
    case 'address':
      c.address = str('address', v);
      if (!/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(c.address)) throw new UsageError('address must be in CIDR form, e.g. 198.18.0.10/24');
      break;
    case 'gateway':
      c.gateway = str('gateway', v);
      break;
    case 'mac':
      c.mac = str('mac', v);
      break;
    case 'index':
      c.index = v === null || v === false ? null : str('index', v);
      break;
    case 'noIndex':
      if (v) c.index = null;
      break;
    case 'etag':
      if (v !== 'mtime' && v !== 'sha256') throw new UsageError('etag must be mtime or sha256');
      c.etag = v;
      break;
    case 'idleTimeout':
      c.idleTimeout = num('idle-timeout', v, 0, 86_400_000);
      break;
    case 'generated':
      c.generated = Boolean(v);
      break;
    case 'noGen':
      if (v) c.generated = false;
      break;
    case 'deterministic':
      c.deterministic = Boolean(v);
      break;
    case 'quiet':
      c.quiet = Boolean(v);
      break;
    case 'selfTest': {
      const n = typeof v === 'number' ? v : parseGenSize(String(v));
      if (n === null || !Number.isSafeInteger(n) || n < 0) throw new UsageError('self-test needs a size in bytes (K/M/G suffix allowed)');
      c.selfTest = n;
      break;
    }
    case 'cluster':
      c.cluster = v;
      break;
    case 'checkpointing':
      c.checkpointing = Boolean(v);
      break;
    case 'noCheckpointing':
      if (v) c.checkpointing = false;
      break;
    case 'snoop':
      c.snoop = Boolean(v);
      break;
    case 'resumeSnooped':
      c.resumeSnooped = Boolean(v);
      break;
    case 'snoopQueue': {
      const n = typeof v === 'number' ? v : parseGenSize(String(v));
      if (n === null || !Number.isSafeInteger(n) || n < 0 || n > 2 ** 30) throw new UsageError('snoop-queue needs a size in bytes up to 1G (K/M/G suffix allowed)');
      c.snoopQueue = n;
      break;
    }
    case 'config':
      break;
    default:
      throw new UsageError(`unknown option ${key}`);
  }
}

const BOOLEAN_FLAGS = new Set(['kernel', 'memory', 'noIndex', 'noGen', 'quiet', 'deterministic', 'noCheckpointing', 'snoop', 'resumeSnooped']);

function camel(flag: string): string {
  return flag.replace(/-([a-z])/g, (_, ch: string) => ch.toUpperCase());
}

/** Parse argv (without node and script): config file first, then flags override it. */
export function parseArgs(argv: readonly string[]): CliConfig {
  const c: CliConfig = { ...DEFAULTS };
  const flags: Array<[string, unknown]> = [];
  let configPath: string | null = null;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') throw new UsageError(USAGE);
    if (!a.startsWith('--')) throw new UsageError(`unexpected argument ${a}`);
    let name = a.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const key = camel(name);
    if (BOOLEAN_FLAGS.has(key)) {
      flags.push([key, true]);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${name} needs a value`);
      value = argv[++i];
    }
    if (key === 'config') configPath = value;
    else flags.push([key, value]);
  }
  if (configPath !== null) {
    let obj: unknown;
    try {
      obj = JSON.parse(readFileSync(configPath, 'utf8'));
    } catch (e) {
      throw new UsageError(`cannot read config ${configPath}: ${(e as Error).message}`);
    }
    if (!obj || typeof obj !== 'object' || Array.isArray(obj)) throw new UsageError('config must be a JSON object');
    for (const [k, v] of Object.entries(obj as Record<string, unknown>)) apply(c, camel(k), v);
  }
  for (const [k, v] of flags) apply(c, k, v);
  if (c.mode !== 'kernel' && c.address === null) throw new UsageError(`--address is required in ${c.mode} mode`);
  if (c.mode === 'tap' && c.tap === null) throw new UsageError('--tap NAME is required in tap mode');
  if (c.bridge !== null && c.mode !== 'tap') throw new UsageError('--bridge needs tap mode');
  if (c.root === null && !c.generated) throw new UsageError('nothing to serve: give --root or keep the /gen/ route');
  const clustered = c.cluster !== null && c.cluster !== undefined;
  if ((c.snoop || c.resumeSnooped || !c.checkpointing) && !clustered) throw new UsageError('--snoop, --resume-snooped and --no-checkpointing need --cluster');
  // A snooped takeover replays the request into this server and sends its output in place of the
  // failed node's: both must produce the same bytes (docs/ha-http-server.md, deterministic responses).
  if ((c.snoop || c.resumeSnooped) && !c.deterministic) throw new UsageError('--snoop and --resume-snooped need --deterministic (on every node of the cluster)');
  return c;
}

/** Import a workspace package by name, falling back to its dist/ inside this repository. */
async function importWorkspace(name: 'stack' | 'tap' | 'cluster'): Promise<any> {
  try {
    return await import(`@hastack/${name}`);
  } catch {
    try {
      return await import(new URL(`../../../packages/${name}/dist/index.js`, import.meta.url).href);
    } catch {
      throw new Error(`@hastack/${name} is not available (build it first: npx tsc -b packages/${name})`);
    }
  }
}

/** The hastack Stack as a `net`-like module, or a clear error if its TCP API is not there yet. */
function stackNet(stack: any): NetLike {
  return {
    createServer: (opts, onConnection) => {
      try {
        return stack.createServer(opts, onConnection);
      } catch (e) {
        const err = e as { code?: string; message?: string };
        throw new Error(`hastack TCP servers are not available in this build (${err.code ?? ''} ${err.message ?? ''}).`.replace(/\s+/g, ' '));
      }
    },
  };
}

/** `ip link set DEV master BRIDGE up`, inside the device's namespace when it has one. */
function enslave(dev: string, bridge: string, netns: string | null): void {
  const args = ['link', 'set', dev, 'master', bridge, 'up'];
  // A namespace given as a path is entered with nsenter; a bare name works with `ip -n`.
  const argv = netns === null ? ['ip', ...args] : netns.includes('/') ? ['nsenter', `--net=${netns}`, 'ip', ...args] : ['ip', '-n', netns, ...args];
  const [cmd, ...rest] = argv;
  try {
    execFileSync(cmd, rest, { stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (e) {
    const stderr = (e as { stderr?: Buffer }).stderr?.toString().trim();
    throw new Error(`cannot add ${dev} to bridge ${bridge}: ${stderr || (e as Error).message}`);
  }
}

function log(c: CliConfig, msg: string): void {
  if (!c.quiet) process.stderr.write(`${msg}\n`);
}

export interface Running {
  server: HttpFileServer;
  address: { address: string; port: number };
  stop(): Promise<void>;
  selfTest?: Promise<{ bytes: number; sha256: string; expected: string }>;
}

/** Start the server described by `c`. */
export async function run(c: CliConfig): Promise<Running> {
  // Cluster mode (docs/ha.md): a ClusterNode and an HaNode from @hastack/cluster own the service
  // port; connections are replicated, taken over and resumed through server.resume()/objectSource.
  const clustered = c.cluster !== null && c.cluster !== undefined;
  if (clustered && c.mode === 'kernel') throw new UsageError('cluster mode needs --memory or --tap (a hastack stack)');
  let clusterRaw: unknown = c.cluster;
  if (typeof clusterRaw === 'string') {
    try {
      clusterRaw = JSON.parse(readFileSync(clusterRaw, 'utf8'));
    } catch (e) {
      throw new UsageError(`cannot read cluster config ${c.cluster}: ${(e as Error).message}`);
    }
  }
  const onResponse = c.quiet
    ? undefined
    : (i: { method: string; path: string; status: number; bytes: number; remote: string }) => log(c, `${i.remote} ${i.method} ${i.path} ${i.status} ${i.bytes}`);
  if (c.deterministic) c.etag = 'sha256';
  const common = { root: c.root, index: c.index, etag: c.etag, deterministic: c.deterministic, idleTimeout: c.idleTimeout, generated: c.generated, onResponse };

  if (c.mode === 'kernel') {
    const server = createHttpFileServer({ ...common, net: net as unknown as NetLike });
    const address = await server.listen(c.port, c.host);
    log(c, `serving ${c.root ?? '(generated only)'} on http://${address.address}:${address.port}/ (node:net)`);
    return { server, address, stop: () => server.close() };
  }

  const hs = await importWorkspace('stack');
  const ip = c.address!.split('/')[0];
  let link: any;
  let extra: (() => Promise<void>) | null = null;
  let mem: any = null;
  if (c.mode === 'tap') {
    const tap = await importWorkspace('tap');
    link = new tap.TapLink({ name: c.tap, netns: c.netns ?? undefined, ...(c.mac ? { mac: c.mac } : {}) });
    if (c.bridge !== null) {
      try {
        enslave(link.name as string, c.bridge, c.netns);
      } catch (e) {
        link.close?.();
        throw e;
      }
    }
  } else {
    mem = new hs.MemoryNetwork({});
    link = mem.createPort(c.mac ? { mac: c.mac } : {});
  }
  const stack = new hs.Stack({ link, address: c.address, ...(c.gateway ? { gateway: c.gateway } : {}), ...(c.mac ? { mac: c.mac } : {}) });
  let server: HttpFileServer;
  let address: { address: string; port: number };
  try {
    server = createHttpFileServer({ ...common, net: stackNet(stack), clock: stack.clock });
    if (clustered) {
      const cl = await importWorkspace('cluster');
      let cfg: any;
      try {
        cfg = cl.parseClusterConfig(clusterRaw);
      } catch (e) {
        throw new UsageError(`cluster config: ${(e as Error).message}`);
      }
      const { group, port: cport, ...nodeOpts } = cfg;
      // Snooping (docs/cluster.md "Snooped takeover over TAP"): every frame the link delivers that
      // is not addressed to this stack goes to the snooper; the cluster core points it at the
      // addresses other nodes hold and hands its states to whoever takes over.
      const snooper = c.snoop ? new cl.ConnectionSnooper() : null;
      if (snooper) cl.snoopStack(stack, snooper, stack.clock);
      const node = new cl.ClusterNode({
        ...nodeOpts,
        ...(snooper ? { snooper } : {}),
        clock: cl.wholeMsTimers(stack.clock),
        transport: cl.udpMulticastTransport(stack.createSocket('udp4'), { localAddress: ip, group, port: cport }),
      });
      // The replay of a snooped request runs in a separate server instance (its counters and
      // access log stay those of real traffic).
      const snoopApp =
        c.snoop || c.resumeSnooped
          ? cl.httpSnoopApp(server, { replayServer: createHttpFileServer({ ...common, onResponse: undefined, net: stackNet(stack), clock: stack.clock }) })
          : undefined;
      const ha = new cl.HaNode({ cluster: node, stack, app: server, key: cfg.key, ports: c.port, checkpointing: c.checkpointing, ...(snoopApp ? { snoopApp, snoopMaxQueuedBytes: c.snoopQueue } : {}) });
      if (!c.checkpointing) log(c, 'cluster: checkpoint replication off');
      if (snooper) log(c, 'cluster: snooping the segment');
      const haStats = (): string => {
        const s = ha.stats;
        return `held=${ha.drain?.stats?.held ?? 0} restored=${s.restored} snoopRestored=${s.snoopRestored} replicatedRestored=${s.restored - s.snoopRestored} resumed=${s.resumed} restoreErrors=${s.restoreErrors} checkpoints=${s.checkpoints}`;
      };
      node.on('takeover', (a: any) =>
        log(c, `cluster: takeover (${a.reason}) of ${a.addresses.map((x: any) => x.ip).join(', ')} at epoch ${a.epoch}; restoring ${a.checkpoints.length} connection(s), ${a.snooped.length} snooped state(s)`),
      );
      node.on('snooped', (a: any) => log(c, `cluster: ${a.states.length} snooped state(s) from ${a.from}`));
      if (snooper) {
        node.on('takeover', (a: any) => {
          const st = snooper.stats;
          log(c, `cluster: snooper frames=${st.frames} segments=${st.segments} gaps=${st.gaps} retransmissions=${st.retransmissions} badChecksum=${st.badChecksum} midstreamPickups=${st.midstreamPickups} tracked=${snooper.size}`);
          for (const x of a.snooped) log(c, `cluster: snooped ${x.key} ${x.state} client.ack=${x.client.ack} server.nxt=${x.server.nxt} replay=${x.replay.valid ? x.replay.bytes.length + 'B' : 'invalid'} suppress=${x.suppress}`);
        });
      }
      node.on('release', (a: any) => log(c, `cluster: release (${a.reason}) of ${a.addresses.map((x: any) => x.ip).join(', ')}`));
      node.on('peer', (a: any) => log(c, `cluster: peer ${a.node} ${a.status}`));
      ha.on('resumed', (k: string) => log(c, `cluster: resumed ${k} (ha ${haStats()})`));
      ha.on('restore-error', (k: string, e: Error) => log(c, `cluster: restore of ${k} failed: ${e.message} (ha ${haStats()})`));
      ha.on('connection-error', (k: string, e: Error) => {
        const why = e.cause instanceof Error ? ` (${e.cause.message})` : '';
        log(c, `cluster: restored ${k} ended: ${e.message}${why}`);
      });
      ha.on('warning', (e: Error) => log(c, `cluster: warning: ${e.message}`));
      await ha.start();
      address = { address: '0.0.0.0', port: c.port };
      extra = async () => {
        ha.stop();
        node.close();
      };
    } else address = await server.listen(c.port, ip);
  } catch (e) {
    await stack.close?.();
    throw e;
  }
  log(c, `serving ${c.root ?? '(generated only)'} on http://${ip}:${address.port}/ (hastack, ${c.mode === 'tap' ? `tap ${c.tap}` : 'memory'})`);
  const running: Running = {
    server,
    address,
    stop: async () => {
      await server.close();
      await extra?.();
      await stack.close();
    },
  };
  if (c.mode === 'memory' && c.selfTest !== null) {
    const octets = ip.split('.').map(Number);
    octets[3] = octets[3] === 200 ? 201 : 200;
    const clientStack = new hs.Stack({ link: mem.createPort({}), address: `${octets.join('.')}/${c.address!.split('/')[1]}` });
    extra = () => clientStack.close();
    running.selfTest = fetchViaStack(clientStack, ip, address.port, `/gen/${c.selfTest}?seed=1`).then((r) => {
      const g = server.generated!.open(c.selfTest!, 1);
      return hashObject(g.read.bind(g), g.size).then((expected) => ({ ...r, expected }));
    });
  }
  return running;
}

async function hashObject(read: (s: number, e: number) => Chunks, size: number): Promise<string> {
  const h = createHash('sha256');
  if (size > 0) for await (const c of read(0, size)) h.update(c);
  return h.digest('hex');
}

/** An http.Agent that opens every connection with `connect` (a hastack socket). */
class StackAgent extends http.Agent {
  constructor(private readonly connectFn: () => net.Socket) {
    super({ keepAlive: false });
  }
  override createConnection = ((): net.Socket => this.connectFn()) as unknown as http.Agent['createConnection'];
}

/** GET `path` with Node's http client over a hastack socket. */
export function fetchViaStack(stack: any, host: string, port: number, path: string): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      // An agent whose only way to connect is the hastack stack: Node ignores
      // options.createConnection whenever an agent is in play, and this request must never fall
      // back to the host's own network.
      { host, port, path, agent: new StackAgent(() => stack.connect({ host, port }) as net.Socket) },
      (res) => {
        const h = createHash('sha256');
        let bytes = 0;
        res.on('data', (c: Buffer) => {
          h.update(c);
          bytes += c.length;
        });
        res.on('end', () => resolve({ bytes, sha256: h.digest('hex') }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  let c: CliConfig;
  try {
    c = parseArgs(process.argv.slice(2));
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${e.message}\n`);
      process.exit(e.message === USAGE ? 0 : 2);
    }
    throw e;
  }
  let r: Running;
  try {
    r = await run(c);
  } catch (e) {
    process.stderr.write(`ha-http-server: ${(e as Error).message}\n`);
    process.exit(e instanceof UsageError ? 2 : 1);
  }
  const stop = () => {
    r.stop().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  if (r.selfTest) {
    const t = await r.selfTest.catch((e: Error) => ({ error: e }));
    if ('error' in t) {
      process.stderr.write(`self-test failed: ${t.error.message}\n`);
      await r.stop();
      process.exit(1);
    }
    const ok = t.sha256 === t.expected && t.bytes === c.selfTest;
    process.stdout.write(`self-test: ${t.bytes} bytes, sha256 ${t.sha256} ${ok ? 'OK' : `MISMATCH (expected ${t.expected})`}\n`);
    await r.stop();
    process.exit(ok ? 0 : 1);
  }
}

// Run only as a program, not when imported by tests.
function invokedDirectly(): boolean {
  try {
    return process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
  } catch {
    return false;
  }
}
if (invokedDirectly()) void main();
