#!/usr/bin/env node
/**
 * Summarize a .cpuprofile: self time per function (name + file:line), top N (default 30).
 *   node bench/profile/summarize.mjs bench/profile/out/CPU.*.cpuprofile [--top 30]
 */
import { readFileSync } from 'node:fs';

const args = process.argv.slice(2);
const ti = args.indexOf('--top');
const top = ti >= 0 ? Number(args.splice(ti, 2)[1]) : 30;
const file = args[0];
const prof = JSON.parse(readFileSync(file, 'utf8'));
const self = new Map();
for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i], (self.get(prof.samples[i]) ?? 0) + (prof.timeDeltas[i] ?? 0));
const byFn = new Map();
let total = 0;
for (const n of prof.nodes) {
  const us = self.get(n.id) ?? 0;
  total += us;
  const cf = n.callFrame;
  const url = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(packages|bench)\//, '$1/');
  const key = `${cf.functionName || '(anonymous)'} ${url ? `${url}:${cf.lineNumber + 1}` : ''}`;
  byFn.set(key, (byFn.get(key) ?? 0) + us);
}
console.log(`${file}: ${(total / 1000).toFixed(0)} ms sampled`);
for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
}

// Inclusive (total) time per function: self time of its subtree, each sample counted once per function.
if (process.argv.includes('--inclusive')) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const name = (n) => {
    const cf = n.callFrame;
    const url = cf.url.replace(/^file:\/\//, '').replace(/^.*\/(packages|bench)\//, '$1/');
    return `${cf.functionName || '(anonymous)'} ${url ? `${url}:${cf.lineNumber + 1}` : ''}`;
  };
  const incl = new Map();
  for (const [id, us] of self) {
    const seen = new Set();
    for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
      const k = name(byId.get(cur));
      if (seen.has(k)) continue;
      seen.add(k);
      incl.set(k, (incl.get(k) ?? 0) + us);
    }
  }
  console.log('\ninclusive:');
  for (const [k, us] of [...incl].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    console.log(`${((us / total) * 100).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(6)} ms  ${k}`);
  }
}
