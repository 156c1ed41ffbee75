/**
 * Shared by the HA-over-TAP lab tests: paths, the cluster key, the expected body of a generated
 * object, and starting one ha-http-server process in cluster mode on its own TAP device.
 */
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { labUnavailableReason, missingTools, type Lab } from '@hastack/tap';
import { generateRange } from '../../../../examples/ha-http-server/src/objects.js';

export const skipReason = labUnavailableReason() ?? (missingTools(['curl']).length > 0 ? 'curl missing' : null);
export const root = fileURLToPath(new URL('../../../../', import.meta.url));
const cli = join(root, 'examples/ha-http-server/dist/cli.js');
const KEY = 'hex:' + '5a'.repeat(32);

/**
 * The CLI runs from dist/ (separate processes): build what it needs. HA_LAB_NO_BUILD=1 uses the
 * dist/ files as they are (e.g. built with tsc -p while other packages are mid-edit).
 */
export function buildCli(): void {
  if (process.env.HA_LAB_NO_BUILD) return;
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-b', 'packages/cluster', 'examples/ha-http-server'], { cwd: root, stdio: 'inherit' });
}

/** SHA-256 of `/gen/<size>?seed=<seed>` computed from the generator, independently of any server. */
export function expectedSha(seed: number, size: number): string {
  const h = createHash('sha256');
  for (const c of generateRange(seed, 0, size)) h.update(c);
  return h.digest('hex');
}

export interface HaNodeStart {
  lab: Lab;
  /** Scratch directory for the config file. */
  dir: string;
  vip: string;
  /** 'A' homes the virtual IP; 'B' is its successor; any other id (e.g. 'C') is a plain member. */
  id: 'A' | 'B' | 'C';
  /** Host octet of the node's own address. */
  host: number;
  /** Output so far per node id (filled as the process writes). */
  logs: Record<string, string>;
  /** Where to register the process for cleanup. */
  procs: ChildProcess[];
  /** Extra cluster config keys (e.g. heartbeatIntervalMs, missedBeats). */
  config?: Record<string, unknown>;
  /** Node options before the CLI path (e.g. ['--import', preload]). */
  nodeArgs?: string[];
  /** Called after each chunk of output is appended to logs[id]. */
  onOutput?: (log: string) => void;
  /** Extra CLI flags after the usual ones (e.g. ['--deterministic', '--snoop']). */
  cliArgs?: string[];
}

/**
 * Start node `id` as a separate process in cluster mode (A homes the virtual IP, B is its
 * successor); resolves when its cluster is up (A claimed the address; B is serving and has had a
 * few heartbeats to see A).
 */
export function startHaNode(o: HaNodeStart): Promise<ChildProcess> {
  const { lab, id, logs } = o;
  const mac = `02:00:00:00:01:0${o.host}`;
  const cfg = {
    nodeId: id,
    key: KEY,
    home: id === 'A' ? [{ ip: o.vip, mac }] : [],
    failover: { successors: [id === 'A' ? 'B' : 'A'], failback: 'none' },
    ...o.config,
    applications: [{ name: 'http/1.1', protocol: 'tcp', ports: ['80'] }],
  };
  const f = join(o.dir, `${id}.json`);
  writeFileSync(f, JSON.stringify(cfg));
  const args = [cli, '--tap', `${lab.suffix}n${id.toLowerCase()}`, '--netns', lab.nsPath('switch'), '--bridge', lab.bridge, '--address', `${lab.addr(o.host)}/24`, '--mac', mac, '--port', '80', '--cluster', f, ...(o.cliArgs ?? [])];
  const p = spawn(process.execPath, [...(o.nodeArgs ?? []), ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  o.procs.push(p);
  logs[id] = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${id} did not come up:\n${logs[id]}`)), 15_000);
    const onData = (b: Buffer) => {
      logs[id] += b.toString();
      o.onOutput?.(logs[id]);
      if ((id === 'A' && /takeover \(boot\)/.test(logs[id])) || (id !== 'A' && /serving/.test(logs[id]))) {
        clearTimeout(timer);
        setTimeout(() => resolve(p), id !== 'A' ? 500 : 0);
      }
    };
    p.stderr!.on('data', onData);
    p.stdout!.on('data', onData);
    p.once('exit', (code) => reject(new Error(`node ${id} exited (${code}):\n${logs[id]}`)));
  });
}

/**
 * Preloaded into server processes (`--import`): samples the event-loop delay and prints
 * `LAG max=.. p99=.. worst=.. t=..` lines on stderr whenever a 250 ms window saw more than 40 ms.
 */
const LAG_MONITOR = `
import { monitorEventLoopDelay } from 'node:perf_hooks';
const h = monitorEventLoopDelay({ resolution: 5 }); h.enable();
let worst = 0;
const t = setInterval(() => { const m = h.max / 1e6; worst = Math.max(worst, m);
  if (m > 40) process.stderr.write('LAG max=' + m.toFixed(0) + ' p99=' + (h.percentile(99) / 1e6).toFixed(0) + ' worst=' + worst.toFixed(0) + ' t=' + Date.now() + '\\n');
  h.reset(); }, 250); t.unref();
`;

/** Write the lag monitor into `dir`; returns its path for `--import`. */
export function writeLagMonitor(dir: string): string {
  const path = join(dir, 'monitor.mjs');
  writeFileSync(path, LAG_MONITOR);
  return path;
}

/** After each test: SIGKILL the processes still running, tear the lab down, remove the run's directory. */
export async function endRun(procs: ChildProcess[], lab: Lab | undefined, dir: string | undefined): Promise<void> {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  await lab?.destroy();
  if (dir) rmSync(dir, { recursive: true, force: true });
}
