/**
 * SCTP throughput next to usrsctp's own tool (tsctp), and replicated failover time.
 * Placeholder guard: reports the exact missing prerequisite.
 */
import { existsSync } from 'node:fs';
import { skippedMeasurement } from '../lib/scenario.mjs';

export const id = 'sctp';
export const title = 'SCTP';
export const targets = [];
const TSCTP = '/usr/lib/usrsctp/tsctp';
const DEFS = [
  { id: 'sctp-throughput', name: 'hastack → tsctp over TAP, next to tsctp → tsctp', unit: 'Mbit/s', better: 'higher' },
  { id: 'sctp-failover', name: 'replicated association takeover time', unit: 'ms', better: 'lower' },
];

export async function prerequisite(ctx) {
  if (ctx.tapReason) return ctx.tapReason;
  if (!existsSync(TSCTP)) return `usrsctp's tsctp is not installed (${TSCTP}; Debian libusrsctp-examples)`;
  return 'not yet driven by the harness: see the SCTP lab test packages/stack/test/lab/sctp-usrsctp.test.ts and docs/sctp.md for its throughput next to tsctp';
}

export function skippedMeasurements(reason) {
  return DEFS.map((d) => skippedMeasurement(d, reason));
}

export async function run() {
  throw new Error('unreachable');
}
