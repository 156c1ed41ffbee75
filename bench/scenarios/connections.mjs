/**
 * Connections per second and memory per idle established connection (10,000 connections).
 * hastack: two stacks on an in-memory network in one child process. Reference: the same peer
 * program on node:net over the kernel's loopback, inside the lab's client namespace (skipped
 * without the lab). Alternating runs.
 */
import { measurement, skippedMeasurement, Samples } from '../lib/scenario.mjs';
import { BENCH_DIR, runCmd, runPeer } from '../lib/proc.mjs';

export const id = 'connections';
export const title = 'Connections';
export const targets = ['≥ 10,000 new connections/s', '≤ 16 KiB per idle established connection'];

export async function run(ctx) {
  const { quick, reps, log } = ctx;
  let netns = null;
  let refSkip = null;
  try {
    netns = (await ctx.getLab()).clientNs;
  } catch (e) {
    refSkip = `reference needs the lab (kernel loopback inside a namespace): ${e.message.split('\n')[0]}`;
  }
  const S = new Samples();
  const extra = {};
  const secs = quick ? 2 : 5;
  const N = 10_000;
  for (let r = 0; r < reps; r++) {
    for (const impl of netns ? ['kernel', 'hastack'] : ['hastack']) {
      const opts = impl === 'kernel' ? { netns } : {};
      let t = performance.now();
      try {
        const x = await runPeer('conn.mjs', ['--mode', 'rate', '--impl', impl, '--secs', String(secs), '--max', '60000', '--concurrency', '32'], { ...opts, timeoutMs: 60_000 });
        if (x.failed > 0) log(`  connections ${impl}: ${x.failed} failed (${x.firstError})`);
        S.add(`${impl}-rate`, x.perSec);
      } catch (e) {
        S.fail(`${impl}-rate`, e);
      }
      log(`  ${impl} rate: ${((performance.now() - t) / 1000).toFixed(1)} s`);
      t = performance.now();
      // Memory per connection barely moves between runs: quick mode measures it in the first repetition only.
      if (quick && r > 0) continue;
      try {
        const x = await runPeer('conn.mjs', ['--mode', 'idle', '--impl', impl, '--n', String(N)], { ...opts, nodeArgs: ['--expose-gc'], timeoutMs: 90_000 });
        if (x.established !== N) throw new Error(`only ${x.established} of ${N} connections established`);
        S.add(`${impl}-idle`, x.perEndpoint / 1024);
        S.add(`${impl}-rss`, x.rssPerConnection / 1024);
        extra[impl] = x;
      } catch (e) {
        S.fail(`${impl}-idle`, e);
        S.fail(`${impl}-rss`, e);
      }
      log(`  ${impl} idle: ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    log(`  connections rep ${r + 1}/${reps} done`);
  }
  // bench/tcp-idle-memory.mjs (the TCP engineer's script): virtual clock, one message each way per
  // connection before measuring, heap per endpoint.
  const tim = { id: 'idle-mem-data', name: `memory per idle connection endpoint at ${N.toLocaleString('en-US')} after one message each (bench/tcp-idle-memory.mjs, JS heap)`, unit: 'KiB', better: 'lower', target: { kind: 'absolute', op: '<=', value: 16, text: '≤ 16 KiB' } };
  const T = new Samples();
  {
    const { mkdtempSync, readFileSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = mkdtempSync(join(tmpdir(), 'hastack-bench-idle-'));
    try {
      for (let r = 0; r < (quick ? 1 : Math.min(reps, 3)); r++) {
        const out = join(dir, `r${r}.json`);
        const res = await runCmd(process.execPath, ['--expose-gc', join(BENCH_DIR, 'tcp-idle-memory.mjs'), '--n', String(N), '--json', out], { timeoutMs: 120_000 });
        try {
          if (res.code !== 0) throw new Error(`tcp-idle-memory.mjs exit ${res.code}: ${res.stderr.trim().slice(-300)}`);
          const j = JSON.parse(readFileSync(out, 'utf8'));
          if (j.established?.client !== N || j.established?.server !== N) throw new Error(`not all ${N} connections established: ${JSON.stringify(j.established)}`);
          T.add('heap', j.bytesPerEndpoint.heapUsed / 1024);
        } catch (e) {
          T.fail('heap', e);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  const ref = (k, label) => (S.has(`kernel-${k}`) ? { label, samples: S.get(`kernel-${k}`) } : null);
  const defs = [
    { k: 'rate', id: 'conn-rate', name: 'new connections/s (connect, server closes, client closes; 32 in parallel)', unit: 'conn/s', better: 'higher', target: { kind: 'absolute', op: '>=', value: 10_000, text: '≥ 10,000/s' }, refLabel: 'node:net, kernel loopback' },
    { k: 'idle', id: 'idle-mem', name: `memory per idle established connection endpoint at ${N.toLocaleString('en-US')} connections (JS heap + external)`, unit: 'KiB', better: 'lower', target: { kind: 'absolute', op: '<=', value: 16, text: '≤ 16 KiB' }, refLabel: 'node:net (JS side only)' },
    { k: 'rss', id: 'idle-rss', name: `process RSS growth per connection (both endpoints) at ${N.toLocaleString('en-US')}`, unit: 'KiB', better: 'lower', refLabel: 'node:net (JS side only)' },
  ];
  const ms = defs.map(({ k, refLabel, ...d }) => {
    if (!S.has(`hastack-${k}`)) return skippedMeasurement(d, `every hastack run failed: ${S.error(`hastack-${k}`)}`);
    return measurement({ ...d, subject: { label: 'hastack ↔ hastack in memory', samples: S.get(`hastack-${k}`) }, reference: ref(k, refLabel) });
  });
  ms.push(T.has('heap') ? measurement({ ...tim, subject: { label: 'hastack ↔ hastack in memory', samples: T.get('heap') } }) : skippedMeasurement(tim, `every run failed: ${T.error('heap')}`));
  const notes = [
    'Memory is measured in the peer process after forced GCs: (heapUsed + external growth) / (2 × connections), as both endpoints live in the process. The node:net reference counts only the JS objects; its kernel socket memory is not in the process.',
  ];
  if (refSkip) notes.push(`Reference skipped: ${refSkip}.`);
  return { measurements: ms, notes };
}
