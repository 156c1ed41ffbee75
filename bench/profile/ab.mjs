#!/usr/bin/env node
/**
 * A/B comparison of dist snapshots (see snapshot.sh), interleaved so machine load hits both alike:
 *   node bench/profile/ab.mjs --rounds 5 out/base/dist out/new/dist -- --mtu 1500 --mib 64
 * Prints median and best Gbit/s (wall) and Gbit/s per CPU-second for each.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const argv = process.argv.slice(2);
const ri = argv.indexOf('--rounds');
const rounds = ri >= 0 ? Number(argv.splice(ri, 2)[1]) : 5;
const sep = argv.indexOf('--');
const dists = sep >= 0 ? argv.slice(0, sep) : argv;
const rest = sep >= 0 ? argv.slice(sep + 1) : [];
const script = fileURLToPath(new URL(rest.includes('--script') ? rest[rest.indexOf('--script') + 1] : './mem-bulk.mjs', import.meta.url));
const res = new Map(dists.map((d) => [d, []]));
for (let r = 0; r < rounds; r++) {
  for (const d of dists) {
    const p = spawnSync(process.execPath, [script, '--dist', d, ...rest], { encoding: 'utf8', timeout: 300_000 });
    const lines = p.stdout.trim().split('\n');
    // With --reps N the script prints a summary (medians of its reps): use that; else the one run.
    const sum = lines.find((l) => l.includes('"summary"'));
    const line = lines.find((l) => l.includes('"gbps"'));
    if (sum && rest.includes('--reps')) {
      const s = JSON.parse(sum);
      res.get(d).push({ gbps: s.medianGbps, gbpsPerCpu: s.medianGbpsPerCpu });
      continue;
    }
    if (!line) { console.error(d, 'failed', p.stderr.slice(-500)); continue; }
    res.get(d).push(JSON.parse(line));
  }
}
const med = (a) => { const s = [...a].sort((x, y) => x - y); return s[(s.length - 1) >> 1]; };
for (const [d, runs] of res) {
  console.log(JSON.stringify({ dist: d, n: runs.length, medGbps: med(runs.map((r) => r.gbps)), medGbpsPerCpu: med(runs.map((r) => r.gbpsPerCpu)), bestGbpsPerCpu: Math.max(...runs.map((r) => r.gbpsPerCpu)) }));
}
