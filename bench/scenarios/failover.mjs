/**
 * Failover: stall time over ≥ 10 trials (median, max) and throughput with replication on vs off.
 * Needs a TCP takeover (stack.restore) and the cluster demo; until both exist this scenario is
 * reported as skipped with the exact reason found at run time.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_DIR } from '../lib/proc.mjs';
import { skippedMeasurement } from '../lib/scenario.mjs';

export const id = 'failover';
export const title = 'Failover (cluster takeover)';
export const targets = ['failover stall median ≤ 300 ms with default settings', 'replication costs ≤ 10% of throughput'];

const DEFS = [
  { id: 'stall-median', name: 'stall during takeover, median of ≥ 10 trials', unit: 'ms', better: 'lower', target: { kind: 'absolute', op: '<=', value: 300, text: '≤ 300 ms' } },
  { id: 'stall-max', name: 'stall during takeover, max of ≥ 10 trials', unit: 'ms', better: 'lower' },
  { id: 'replication-cost', name: 'throughput with replication on / off', unit: '×', better: 'higher', target: { kind: 'absolute', op: '>=', value: 0.9, text: '≥ 0.9× (≤ 10% cost)' } },
];

export async function prerequisite() {
  const { Stack } = await import('../../packages/stack/dist/index.js');
  const missing = [];
  if (typeof Stack.prototype.restore !== 'function') missing.push('Stack.restore() is not implemented in @hastack/stack, so no TCP connection can be taken over');
  const demos = existsSync(join(REPO_DIR, 'examples')) ? readdirSync(join(REPO_DIR, 'examples')).filter((d) => /cluster|failover/.test(d)) : [];
  if (demos.length === 0) missing.push('no cluster demo in examples/ (looked for a directory named *cluster* or *failover*)');
  if (missing.length) return missing.join('; ');
  return 'the cluster demo exists but this harness has no driver for it yet (bench/scenarios/failover.mjs)';
}

export function skippedMeasurements(reason) {
  return DEFS.map((d) => skippedMeasurement(d, reason));
}

export async function run() {
  throw new Error('unreachable: prerequisite() always reports why failover is not measured');
}
