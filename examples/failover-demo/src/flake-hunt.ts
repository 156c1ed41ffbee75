#!/usr/bin/env node
/**
 * Repeat the takeover of many concurrent downloads on the REAL clock, optionally under CPU load,
 * and classify each run: every download intact, some hung (with both ends' TCB summary), or some
 * failed (reset: with B's connection errors). This is how issue 6's "1 in 3 runs hang or reset"
 * was reproduced (docs/ha.md, "Issue 6").
 *
 *   node examples/failover-demo/dist/flake-hunt.js [--runs 10] [--size 1MiB] [--connections 20]
 *        [--crash-after 8MiB] [--mode mapped|full] [--load none|proc|busy] [--seed 1000]
 *
 * `--load proc` runs two spinning processes during each run, `busy` spins 5 ms per event-loop turn
 * in this process. Bounded: at most 30 runs, each 30 s after the crash at most, 10 minutes in all.
 * Exits 0 when every run was intact.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHttpFileServer, generateRange } from '@hastack/example-ha-http-server';
import { engineConnOf, type Socket } from '@hastack/stack';
import { FailoverLab, VIP, downloadResult, type Download, type ScenarioDeps } from './scenario.js';

/** `8MiB`, `512KiB`, `3000000` (demo.ts has the same; importing it would run the demo). */
function parseSize(s: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(|kib|mib|gib)$/i.exec(s.trim());
  if (!m) throw new Error(`bad size: ${s}`);
  const mul: Record<string, number> = { '': 1, kib: 1024, mib: 1024 ** 2, gib: 1024 ** 3 };
  return Math.floor(Number(m[1]) * mul[m[2].toLowerCase()]);
}

interface Opts {
  runs: number;
  size: number;
  connections: number;
  crashAfter: number;
  mode: 'mapped' | 'full';
  load: 'none' | 'proc' | 'busy';
  seed: number;
}

function parse(argv: string[]): Opts {
  const o: Opts = { runs: 10, size: 1 << 20, connections: 20, crashAfter: 8 << 20, mode: 'mapped', load: 'none', seed: 1000 };
  for (let i = 0; i < argv.length; i++) {
    const v = argv[++i];
    switch (argv[i - 1]) {
      case '--runs': o.runs = Math.min(30, Math.max(1, Number(v))); break;
      case '--size': o.size = parseSize(v); break;
      case '--connections': o.connections = Math.min(100, Math.max(1, Number(v))); break;
      case '--crash-after': o.crashAfter = parseSize(v); break;
      case '--mode': o.mode = v === 'full' ? 'full' : 'mapped'; break;
      case '--load': o.load = v === 'proc' || v === 'busy' ? v : 'none'; break;
      case '--seed': o.seed = Number(v); break;
      default: throw new Error(`unknown flag ${argv[i - 1]}`);
    }
  }
  return o;
}

type TcbLike = { state: string; tcb: Record<string, number | boolean | number[]> };

function tcbLine(c: TcbLike): string {
  const t = c.tcb;
  const rel = (x: unknown) => ((Number(x) - Number(t.sndUna)) | 0);
  return `${c.state} una=${t.sndUna} nxt=+${rel(t.sndNxt)} max=+${rel(t.sndMax)} rcvNxt=${t.rcvNxt} cwnd=${t.cwnd} wnd=${t.sndWnd} inRecovery=${t.inRecovery} sacked=${(t.sacked as number[]).length / 2} backoff=${t.backoff}`;
}

async function oneRun(o: Opts, run: number): Promise<{ kind: 'intact' | 'hung' | 'failed'; lines: string[] }> {
  const deps = { createHttpFileServer, generateRange } as unknown as ScenarioDeps;
  const lab = await FailoverLab.create(deps, { seed: o.seed + run, clock: 'real', mode: o.mode, wallMs: 60_000 });
  const load: ChildProcess[] = [];
  let busy = false;
  try {
    if (!(await lab.until(() => lab.hasVip('A'), 5000))) return { kind: 'failed', lines: ['the virtual IP never came up on A'] };
    if (o.load === 'proc') for (let i = 0; i < 2; i++) load.push(spawn(process.execPath, ['-e', 'const e=Date.now()+60000;while(Date.now()<e);'], { stdio: 'ignore' }));
    if (o.load === 'busy') {
      busy = true;
      const spin = (): void => {
        if (!busy) return;
        const e = Date.now() + 5;
        while (Date.now() < e);
        setImmediate(spin);
      };
      setImmediate(spin);
    }
    const b = lab.node('B');
    const errors: string[] = [];
    const note = (what: string) => (key: string, e: { code?: string; message?: string }) => errors.push(`${what} ${key}: ${e?.code ?? ''} ${e?.message ?? e}`);
    b.ha.on('connection-error', note('connection-error'));
    b.ha.on('restore-error', note('restore-error'));
    let detected = -1;
    let crashAt = -1;
    b.cluster.on('takeover', () => (detected = crashAt >= 0 ? lab.clock.now() - crashAt : -1));
    let total = 0;
    const dls: Download[] = [];
    for (let i = 0; i < o.connections; i++) {
      dls.push(
        lab.download(o.size + i * 4099, 100 + i, (n) => {
          total += n;
          if (total >= o.crashAfter && crashAt < 0) {
            crashAt = lab.clock.now();
            lab.crash('A');
          }
        }),
      );
    }
    await lab.until(() => dls.every((d) => d.done), 30_000 + o.size / 1000);
    const lines = [`crash at ${crashAt.toFixed(0)} ms, takeover after ${detected.toFixed(1)} ms; B restored ${b.ha.stats.restored}, resumed ${b.ha.stats.resumed}, restore errors ${b.ha.stats.restoreErrors}; A: checkpoints ${lab.node('A').ha.stats.checkpoints}, unconfirmed ${lab.node('A').ha.stats.unconfirmed}`];
    let hung = 0;
    let failed = 0;
    dls.forEach((d, i) => {
      const r = downloadResult(d);
      if (r.ok) return;
      if (d.done) failed++;
      else hung++;
      lines.push(`  download ${i}: ${r.error} (${r.bytes} of ${r.expected} bytes)`);
      const c = engineConnOf(d.socket as Socket) as unknown as (TcbLike & { localPort: number }) | null;
      if (!c) return;
      lines.push(`    client ${tcbLine(c)}`);
      for (const bc of b.stack.tcp.connections() as unknown as (TcbLike & { remotePort: number })[]) if (bc.remotePort === c.localPort) lines.push(`    B      ${tcbLine(bc)}`);
    });
    lines.push(...errors.slice(0, 10).map((e) => `  ${e}`));
    return { kind: failed > 0 ? 'failed' : hung > 0 ? 'hung' : 'intact', lines };
  } finally {
    busy = false;
    for (const p of load) p.kill();
    lab.close();
  }
}

async function main(): Promise<void> {
  const o = parse(process.argv.slice(2));
  const end = Date.now() + 10 * 60_000;
  const counts = { intact: 0, hung: 0, failed: 0 };
  console.log(`${o.runs} runs: ${o.connections} downloads of ${o.size} bytes from ${VIP}, A crashed after ${o.crashAfter} bytes, mode ${o.mode}, load ${o.load}, real clock`);
  for (let run = 0; run < o.runs && Date.now() < end; run++) {
    const t0 = Date.now();
    const r = await oneRun(o, run);
    counts[r.kind]++;
    console.log(`run ${run}: ${r.kind} (${Date.now() - t0} ms wall)`);
    for (const l of r.kind === 'intact' ? r.lines.slice(0, 1) : r.lines) console.log(`  ${l}`);
  }
  console.log(`RESULT: ${JSON.stringify(counts)}`);
  process.exitCode = counts.hung + counts.failed === 0 ? 0 : 1;
}

main().catch((e) => {
  console.error(e);
  process.exit(2);
});
