#!/usr/bin/env node
/**
 * hastack benchmark harness: one command for every scenario, each side by side with its reference
 * in the same run, several repetitions, medians. Writes bench/results/<timestamp>.json,
 * bench/results/latest.{json,md}, bench/results/latest-<scenario>.svg and regenerates
 * docs/performance.md.
 *
 *   npx -y pnpm@10.34.9 bench [--quick] [--reps N] [--only id,id] [--no-doc] [--render]
 *     --only: run some scenarios; writes only results/<timestamp>.json (latest.* and the doc stay)
 *     --render: re-render latest.md, the SVGs and docs/performance.md from results/latest.json
 *   bash scripts/bench.sh [--quick]          (installs and builds first)
 *
 * Scenarios whose prerequisites are missing (not root, no /dev/net/tun, a tool, a hastack feature)
 * are reported as "skipped: <reason>"; a scenario that throws is reported as "failed: <error>".
 * Needs the packages built (`npx -y pnpm@10.34.9 build`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { machineFacts } from './lib/machine.mjs';
import { BENCH_DIR, REPO_DIR, runCmd } from './lib/proc.mjs';
import { renderMarkdown, renderPerformanceDoc, renderSvg, SCHEMA, validateResult } from './lib/report.mjs';
import * as bulkTcp from './scenarios/bulk-tcp.mjs';
import * as httpRr from './scenarios/http-rr.mjs';
import * as conns from './scenarios/connections.mjs';
import * as checkpoint from './scenarios/checkpoint.mjs';
import * as failover from './scenarios/failover.mjs';
import * as sctp from './scenarios/sctp.mjs';

const SCENARIOS = [bulkTcp, httpRr, conns, checkpoint, failover, sctp];

const argv = process.argv.slice(2).filter((a) => a !== '--');
const flag = (n) => argv.includes(n);
const opt = (n, d) => {
  const i = argv.indexOf(n);
  return i >= 0 ? argv[i + 1] : d;
};
if (flag('-h') || flag('--help')) {
  console.log('usage: pnpm bench [--quick] [--reps N] [--only ' + SCENARIOS.map((s) => s.id).join(',') + '] [--no-doc] [--render]');
  process.exit(0);
}
// --render: re-render latest.md, the SVGs and docs/performance.md from bench/results/latest.json (no measuring).
if (flag('--render')) {
  const result = JSON.parse(readFileSync(join(BENCH_DIR, 'results/latest.json'), 'utf8'));
  writeOutputs(result, false);
  process.exit(0);
}
const quick = flag('--quick');
const reps = Number(opt('--reps', quick ? '3' : '5'));
const only = opt('--only', null)?.split(',');
const log = (...a) => console.error('[bench]', ...a);

for (const p of ['stack', 'tap', 'checkpoint']) {
  if (!existsSync(join(REPO_DIR, `packages/${p}/dist/index.js`))) {
    console.error(`[bench] packages/${p} is not built: run \`npx -y pnpm@10.34.9 build\` or \`bash scripts/bench.sh\` first`);
    process.exit(2);
  }
}

// ---- the shared lab (one per run, torn down in finally) ----
const { Lab, labUnavailableReason, addonBuilt } = await import('../packages/tap/dist/index.js');
const labReason = labUnavailableReason();
let tapReason = labReason;
if (!tapReason && !addonBuilt()) tapReason = 'the @hastack/tap native addon is not built (npm --prefix packages/tap run build:native)';
let lab = null;
let labPromise = null;
const BRIDGE_HOST = 254;
const ctx = {
  quick,
  reps,
  log,
  labReason,
  tapReason,
  bridgeIp: null,
  /** Builds the lab on first use: client ns (kernel), switch ns with a bridge that also has an address (kernel server side). */
  getLab() {
    if (labReason) return Promise.reject(new Error(labReason));
    labPromise ??= (async () => {
      Lab.cleanupStale();
      lab = await Lab.create({});
      ctx.bridgeIp = lab.addr(BRIDGE_HOST);
      // A bridge without a set MAC takes its lowest port's; TAP devices coming and going would
      // change it under the client's ARP cache (~30 s of timeouts). Pin it.
      await lab.exec('switch', ['ip', 'link', 'set', lab.bridge, 'address', '02:00:00:b0:00:fe']);
      await lab.exec('switch', ['ip', 'addr', 'add', `${ctx.bridgeIp}/24`, 'dev', lab.bridge]);
      log(`lab ${lab.suffix}: client ${lab.clientIp}, switch bridge ${ctx.bridgeIp}`);
      return lab;
    })();
    return labPromise;
  },
};

const started = new Date();
const t0 = performance.now();
const machine = machineFacts();
const scenarios = [];
try {
  for (const s of SCENARIOS) {
    if (only && !only.includes(s.id)) continue;
    log(`scenario ${s.id}: ${s.title}`);
    const ts = performance.now();
    let entry;
    try {
      const pre = s.prerequisite ? await s.prerequisite(ctx) : null;
      if (pre) entry = { id: s.id, title: s.title, status: 'skipped', reason: pre, measurements: s.skippedMeasurements ? s.skippedMeasurements(pre) : [] };
      else {
        const r = await s.run(ctx);
        entry = { id: s.id, title: s.title, status: 'ok', measurements: r.measurements, notes: r.notes ?? [] };
      }
    } catch (e) {
      log(`scenario ${s.id} failed:`, e);
      entry = { id: s.id, title: s.title, status: 'failed', reason: String(e?.message ?? e).split('\n')[0], measurements: [] };
    }
    entry.targets = s.targets ?? [];
    entry.seconds = Number(((performance.now() - ts) / 1000).toFixed(1));
    scenarios.push(entry);
    log(`scenario ${s.id}: ${entry.status}${entry.reason ? ' (' + entry.reason + ')' : ''} in ${entry.seconds} s`);
  }
} finally {
  if (lab) await lab.destroy().catch((e) => log('lab destroy failed:', e));
}

const result = {
  schema: SCHEMA,
  startedAt: started.toISOString(),
  finishedAt: new Date().toISOString(),
  durationS: (performance.now() - t0) / 1000,
  quick,
  reps,
  command: `npx -y pnpm@10.34.9 bench${quick ? ' --quick' : ''}${opt('--reps', null) ? ' --reps ' + reps : ''}${only ? ' --only ' + only.join(',') : ''}`,
  machine,
  scenarios,
};
const problems = validateResult(result);
if (problems.length) log('result schema problems:', problems);

if (only) {
  // A partial run must not replace the full picture: only its timestamped file and the summary.
  const file = join(BENCH_DIR, 'results', `${result.startedAt.replace(/[:.]/g, '-')}.json`);
  mkdirSync(join(BENCH_DIR, 'results'), { recursive: true });
  writeFileSync(file, JSON.stringify(result, null, 1) + '\n');
  console.log(renderMarkdown(result));
  log(`partial run (--only): wrote ${file} only (latest.* and docs/performance.md untouched)`);
} else {
  writeOutputs(result, true);
  log(`wrote bench/results/latest.{json,md}, ${scenarios.length} SVGs${flag('--no-doc') ? '' : ', docs/performance.md'} in ${result.durationS.toFixed(0)} s`);
}
process.exit(problems.length ? 1 : 0);

function writeOutputs(result, withTimestamped) {
  const outDir = join(BENCH_DIR, 'results');
  mkdirSync(outDir, { recursive: true });
  const json = JSON.stringify(result, null, 1) + '\n';
  if (withTimestamped) {
    writeFileSync(join(outDir, `${result.startedAt.replace(/[:.]/g, '-')}.json`), json);
    writeFileSync(join(outDir, 'latest.json'), json);
  }
  const md = renderMarkdown(result);
  writeFileSync(join(outDir, 'latest.md'), md);
  for (const s of result.scenarios) writeFileSync(join(outDir, `latest-${s.id}.svg`), renderSvg(s));
  if (!flag('--no-doc')) {
    const notesFile = join(BENCH_DIR, 'notes.md');
    const analysis = existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : '';
    writeFileSync(join(REPO_DIR, 'docs/performance.md'), renderPerformanceDoc(result, { analysis }));
  }
  console.log(md);
}
