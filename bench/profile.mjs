#!/usr/bin/env node
/**
 * CPU profile of one peer run: runs `node --cpu-prof bench/peers/<peer> ...args` and prints the
 * functions with the most self time (the .cpuprofile is kept in bench/tmp/ for a flame graph in
 * Chrome DevTools or speedscope).
 *
 *   node bench/profile.mjs mem-bulk.mjs --mtu 1500 --bytes 33554432 [--top 25]
 */
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { BENCH_DIR, REPO_DIR } from './lib/proc.mjs';

const args = process.argv.slice(2);
const ti = args.indexOf('--top');
const top = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 25;
const [peer, ...peerArgs] = args;
if (!peer) {
  console.error('usage: node bench/profile.mjs <peer.mjs> [peer args] [--top N]');
  process.exit(2);
}
const dir = join(BENCH_DIR, 'tmp');
mkdirSync(dir, { recursive: true });
const before = new Set(readdirSync(dir));
const r = spawnSync(process.execPath, ['--cpu-prof', '--cpu-prof-dir', dir, join(BENCH_DIR, 'peers', peer), ...peerArgs], { encoding: 'utf8', cwd: REPO_DIR, timeout: 180_000 });
process.stdout.write(r.stdout);
const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile') && !before.has(f));
if (!file) {
  console.error('no profile written', r.stderr);
  process.exit(1);
}
const prof = JSON.parse(readFileSync(join(dir, file), 'utf8'));
const dt = new Map();
// Self time per node from the sample timeline.
for (let i = 0; i < prof.samples.length; i++) dt.set(prof.samples[i], (dt.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
const byFn = new Map();
let total = 0;
for (const n of prof.nodes) {
  const us = dt.get(n.id) ?? 0;
  total += us;
  const cf = n.callFrame;
  const where = cf.url ? `${relative(REPO_DIR, cf.url.replace('file://', ''))}:${cf.lineNumber + 1}` : '';
  const key = `${cf.functionName || '(anonymous)'} ${where}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
}
const rows = [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top);
console.log(`profile: bench/tmp/${file} — ${(total / 1000).toFixed(0)} ms sampled; top ${top} by self time:`);
for (const [k, us] of rows) console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
