/**
 * Connections per second and memory per idle established connection (10,000 connections).
 * hastack: two stacks on an in-memory network in one child process. Reference: the same peer
 * program on node:net over the kernel's loopback, inside the lab's client namespace (skipped
 * without the lab). Alternating runs.
 */
import { measurement, skippedMeasurement, Samples } from '../lib/scenario.mjs';
import { runPeer } from '../lib/proc.mjs';

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
  const notes = [
    'Memory is measured in the peer process after forced GCs: (heapUsed + external growth) / (2 × connections), as both endpoints live in the process. The node:net reference counts only the JS objects; its kernel socket memory is not in the process.',
  ];
  if (refSkip) notes.push(`Reference skipped: ${refSkip}.`);
  return { measurements: ms, notes };
}
