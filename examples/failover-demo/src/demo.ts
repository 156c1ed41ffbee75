#!/usr/bin/env node
/**
 * hastack failover demo (the README's main command: `bash scripts/demo.sh`).
 *
 *   node examples/failover-demo/dist/demo.js [--size 256MiB] [--seed N] [--connections N]
 *        [--crash-at FRACTION] [--clock virtual|real] [--mode mapped|full] [--no-crash] [--no-replication] [--json]
 *   node examples/failover-demo/dist/demo.js --tap   (root: separate processes over TAP, curl, SIGKILL)
 *
 * Exits 0 only when every download completed with the right SHA-256.
 */
import { createHttpFileServer, generateRange } from '@hastack/example-ha-http-server';
import { runFailover, VIP, type ScenarioDeps, type ScenarioOptions } from './scenario.js';

const USAGE = `usage: demo [--size BYTES[K|M|G|KiB|MiB|GiB]] [--seed N] [--connections N] [--crash-at 0..1]
            [--clock virtual|real] [--mode mapped|full] [--no-crash] [--no-replication] [--json] [--tap]`;

export function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(|k|m|g|kib|mib|gib|kb|mb|gb)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size: ${s}`);
  const mul: Record<string, number> = { '': 1, k: 1024, kib: 1024, kb: 1024, m: 1024 ** 2, mib: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gib: 1024 ** 3, gb: 1024 ** 3 };
  return Math.floor(Number(m[1]) * mul[m[2].toLowerCase()]);
}

interface Args extends ScenarioOptions {
  json: boolean;
  tap: boolean;
}

function parse(argv: string[]): Args {
  const a: Args = { json: false, tap: false, size: 256 * 1024 * 1024, seed: Number(process.env.HASTACK_DEMO_SEED ?? 0) || ((Date.now() % 100000) + 1) };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const v = (): string => {
      const x = argv[++i];
      if (x === undefined) throw new Error(`${f} needs a value`);
      return x;
    };
    switch (f) {
      case '--size': a.size = parseSize(v()); break;
      case '--seed': a.seed = Number(v()); break;
      case '--connections': a.connections = Number(v()); break;
      case '--crash-at': a.crashAt = Number(v()); break;
      case '--clock': a.clock = v() as 'virtual' | 'real'; break;
      case '--mode': a.mode = v() as 'mapped' | 'full'; break;
      case '--no-crash': a.crash = false; break;
      case '--no-replication': a.replication = false; break;
      case '--json': a.json = true; break;
      case '--tap': a.tap = true; break;
      case '-h': case '--help': console.log(USAGE); process.exit(0); break;
      default: throw new Error(`unknown flag ${f}\n${USAGE}`);
    }
  }
  if (!(Number.isInteger(a.seed) && a.seed! >= 0 && a.seed! <= 0xffffffff)) throw new Error('--seed must be a uint32');
  if (!(a.size! >= 1024 && a.size! <= 4 * 1024 ** 3)) throw new Error('--size must be in 1KiB..4GiB');
  if (a.connections !== undefined && !(Number.isInteger(a.connections) && a.connections >= 1 && a.connections <= 100)) throw new Error('--connections must be 1..100');
  if (a.crashAt !== undefined && !(a.crashAt > 0 && a.crashAt < 1)) throw new Error('--crash-at must be in (0, 1)');
  if (a.clock !== undefined && a.clock !== 'virtual' && a.clock !== 'real') throw new Error('--clock must be virtual or real');
  if (a.mode !== undefined && a.mode !== 'mapped' && a.mode !== 'full') throw new Error('--mode must be mapped or full');
  return a;
}

const mib = (n: number): string => `${(n / 1048576).toFixed(1)} MiB`;

async function main(): Promise<number> {
  let args: Args;
  try {
    args = parse(process.argv.slice(2));
  } catch (e) {
    console.error((e as Error).message);
    return 2;
  }
  if (args.tap) {
    const { runTapDemo } = await import('./tap.js');
    return runTapDemo(args);
  }
  const say = (l: string): void => {
    if (!args.json) console.log(l);
  };
  say(`hastack failover demo: ${args.connections ?? 1} download(s) of ${mib(args.size!)} from ${VIP} (seed ${args.seed}, ${args.clock ?? 'virtual'} clock, ${args.mode ?? 'mapped'} checkpoints)`);
  const deps = { createHttpFileServer, generateRange } as unknown as ScenarioDeps;
  const r = await runFailover(deps, { ...args, log: say });
  if (args.json) {
    console.log(JSON.stringify(r, null, 2));
    return r.ok ? 0 : 1;
  }
  const unit = (args.clock ?? 'virtual') === 'virtual' ? 'ms (virtual time)' : 'ms';
  say('');
  say(`crash:      ${r.crashed ? `node A crashed at ${mib(r.crashAtBytes)}` : 'none'}`);
  if (r.crashed) {
    say(`takeover:   B detected the failure after ${r.takeover.detectedMs?.toFixed(1) ?? '?'} ${unit}; restored ${r.takeover.restored} connection(s), resumed ${r.takeover.resumed}, errors ${r.takeover.restoreErrors}`);
    for (const e of r.takeover.connectionErrors) say(`            ${e}`);
    say(`stall:      ${r.stallMs === null ? 'no byte after the crash' : `${r.stallMs.toFixed(1)} ${unit}`} from the crash to the first byte from B; longest gap in the client's receive ${r.maxGapMs.toFixed(1)} ${unit}`);
  }
  say(`checkpoints: ${r.checkpoints} replicated by A (object-mapped: O(1) each)`);
  for (const [i, d] of r.downloads.entries()) {
    say(`download ${i + 1}: ${d.bytes} of ${d.expected} bytes, HTTP ${d.status}, sha256 ${d.sha256 || '-'} ${d.sha256 === d.expectedSha256 ? '== expected' : `!= expected ${d.expectedSha256}`}${d.error ? `  ERROR ${d.error}` : ''}`);
  }
  say(`time:       ${(r.elapsedMs / 1000).toFixed(3)} s transfer (${args.clock ?? 'virtual'} clock), ${(r.wallMs / 1000).toFixed(1)} s wall, ${(r.cpuMs / 1000).toFixed(3)} s CPU during the transfer`);
  say(r.ok ? 'RESULT: OK — every download completed intact across the failover' : 'RESULT: FAILED');
  return r.ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
