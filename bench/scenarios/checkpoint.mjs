/**
 * Checkpoint cost. bench/peers/restore.mjs opens 10,000 idle connections, captures them with the
 * engine (object-mapped), measures encode (validate + msgpack + HMAC-SHA256) and decode per
 * connection (reference: plain msgpack of the same objects as maps, unsigned), crashes the stack
 * and restores all of them on a fresh one (a cold first restore in a process).
 * bench/checkpoint-restore.mjs (the checkpoint engineer's script) gives the warm figure: median of
 * rounds, each on a fresh stack, plus capture cost. The full bench also runs bench/checkpoint-cost.mjs (the
 * checkpoint engineer's script: synthetic checkpoints, best of 15 passes).
 * Restore: bench/peers/restore.mjs checkpoints 10,000 idle connections of one stack, crashes it,
 * and restores them all on a fresh stack with the same MAC/IP (when Stack.restore() exists).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measurement, skippedMeasurement, Samples } from '../lib/scenario.mjs';
import { BENCH_DIR, runCmd, runPeer } from '../lib/proc.mjs';

export const id = 'checkpoint';
export const title = 'Checkpoint cost';
export const targets = ['checkpoint encode + decode ≤ 5 µs per connection', 'restore of 10,000 connections ≤ 100 ms'];

export async function run(ctx) {
  const { quick, reps, log } = ctx;
  const ms = [];
  const notes = [];
  const { Stack } = await import('../../packages/stack/dist/index.js');
  const hasRestore = typeof Stack.prototype.restore === 'function';

  // 1. Engine-captured checkpoints (bench/peers/restore.mjs): encode/decode per connection, restore.
  const R = new Samples();
  if (hasRestore) {
    for (let r = 0; r < (quick ? 1 : reps); r++) {
      try {
        const x = await runPeer('restore.mjs', ['--n', '10000'], { timeoutMs: 120_000 });
        if (x.ready !== x.n) throw new Error(`only ${x.ready} of ${x.n} restored sockets became ready (${x.errors} errors)`);
        const per = (v) => (v * 1000) / x.n;
        R.add('encdec', per(x.encodeWarmCpuMs + x.decodeWarmCpuMs));
        R.add('ref-encdec', per(x.packCpuMs + x.unpackCpuMs));
        R.add('enc10k', (x.encodeWarmCpuMs * 10_000) / x.n);
        R.add('dec10k', (x.decodeWarmCpuMs * 10_000) / x.n);
        R.add('restoreCpu', x.restoreCpuMs);
        R.add('restoreWall', x.restoreMs);
        R.add('decodeRestoreCpu', x.decodeCpuMs + x.restoreCpuMs);
        R.add('ready', x.allReadyMs);
        R.add('bytes', x.bytes);
      } catch (e) {
        for (const k of ['encdec', 'enc10k', 'dec10k', 'restoreCpu', 'restoreWall', 'decodeRestoreCpu', 'ready']) R.fail(k, e);
      }
      log(`  restore run ${r + 1} done`);
    }
  }
  const noRestore = 'Stack.restore() is not implemented in @hastack/stack yet';
  const sub = (S, k, f = (x) => x) => ({ label: 'hastack', samples: S.get(k).map(f) });
  const defs = [
    { k: 'encdec', id: 'encdec', name: 'encode + decode per connection, engine-captured object-mapped TCP checkpoints (CPU, warm)', unit: 'µs', better: 'lower', target: { kind: 'absolute', op: '<=', value: 5, text: '≤ 5 µs' }, ref: 'ref-encdec' },
    { k: 'enc10k', id: 'enc-10k', name: 'encode 10,000 connections (validate + msgpack + HMAC-SHA256, CPU)', unit: 'ms', better: 'lower' },
    { k: 'dec10k', id: 'dec-10k', name: 'decode 10,000 connections (HMAC verify + msgpack + validate, CPU)', unit: 'ms', better: 'lower' },
    { k: 'restoreCpu', f: (x) => (x * 1000) / 10_000, id: 'restore-1', name: 'restore per connection (stack.restore, CPU time, cold)', unit: 'µs', better: 'lower' },
    { k: 'restoreCpu', id: 'restore-10k', name: 'restore of 10,000 connections (stack.restore ×10,000, CPU time)', unit: 'ms', better: 'lower', target: { kind: 'absolute', op: '<=', value: 100, text: '≤ 100 ms' } },
    { k: 'restoreWall', id: 'restore-10k-wall', name: 'restore of 10,000 connections (wall time)', unit: 'ms', better: 'lower' },
    { k: 'decodeRestoreCpu', id: 'decode-restore-10k', name: 'decode and restore of 10,000 connections (CPU time, cold)', unit: 'ms', better: 'lower' },
    { k: 'ready', id: 'ready-10k', name: 'decode + restore until all 10,000 restored sockets are ready (in memory, wall)', unit: 'ms', better: 'lower' },
  ];
  for (const { k, f, ref, ...d } of defs) {
    if (!hasRestore) ms.push(skippedMeasurement(d, noRestore));
    else if (!R.has(k)) ms.push(skippedMeasurement(d, `every run failed: ${R.error(k)}`));
    else ms.push(measurement({ ...d, subject: sub(R, k, f), reference: ref && R.has(ref) ? { label: 'plain msgpack (maps, unsigned)', samples: R.get(ref) } : null }));
  }
  // Warm restores and capture cost with bench/checkpoint-restore.mjs (the checkpoint engineer's script:
  // clones of one captured connection, median of rounds, each on a fresh stack).
  const W = new Samples();
  const wdefs = [
    { k: 'restore10k', id: 'restore-10k-rounds', name: 'restore of 10,000 connections, median of 5 rounds (bench/checkpoint-restore.mjs, CPU)', unit: 'ms', better: 'lower', target: { kind: 'absolute', op: '<=', value: 100, text: '≤ 100 ms' } },
    { k: 'capture', id: 'capture-1', name: 'capture per connection, socket.checkpoint() (bench/checkpoint-restore.mjs)', unit: 'µs', better: 'lower' },
  ];
  if (hasRestore) {
    const dir = mkdtempSync(join(tmpdir(), 'hastack-bench-cr-'));
    try {
      for (let r = 0; r < (quick ? 1 : Math.min(reps, 3)); r++) {
        const out = join(dir, `r${r}.json`);
        const res = await runCmd(process.execPath, [join(BENCH_DIR, 'checkpoint-restore.mjs'), '--n', '10000', '--rounds', '5', '--json', out], { timeoutMs: 120_000 });
        try {
          if (res.code !== 0) throw new Error(`checkpoint-restore.mjs exit ${res.code}: ${res.stderr.trim().slice(-300)}`);
          const j = JSON.parse(readFileSync(out, 'utf8'));
          W.add('restore10k', (j.restoreTotalMs * 10_000) / j.n);
          W.add('capture', j.capturePerConnUs);
        } catch (e) {
          W.fail('restore10k', e);
          W.fail('capture', e);
        }
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  for (const { k, ...d } of wdefs) {
    if (!hasRestore) ms.push(skippedMeasurement(d, noRestore));
    else if (!W.has(k)) ms.push(skippedMeasurement(d, `every run failed: ${W.error(k)}`));
    else ms.push(measurement({ ...d, subject: { label: 'hastack', samples: W.get(k) } }));
  }
  if (R.has('bytes')) notes.push(`An engine-captured object-mapped TCP checkpoint of an idle connection is ${R.get('bytes')[0]} bytes signed. Encode/decode figures are process CPU time, best of 3 passes over the 10,000 captures; restore figures are the first (cold) pass, restoring the decoded checkpoints with { validated: true } (no second structural check, as restoreEncoded does).`);

  // 2. Synthetic checkpoints with bench/checkpoint-cost.mjs (the checkpoint engineer's script; full mode only: ~30 s a run).
  const synth = [
    { id: 'synth-encdec', name: 'encode + decode per connection, synthetic checkpoint (checkpoint-cost.mjs, CPU)', unit: 'µs', better: 'lower' },
    { id: 'synth-hmac', name: 'of which HMAC-SHA256 (one pass over a checkpoint)', unit: 'µs', better: 'lower' },
  ];
  if (quick) {
    for (const d of synth) ms.push(skippedMeasurement(d, 'quick mode: bench/checkpoint-cost.mjs (~30 s a run) runs only in the full bench'));
  } else {
    const S = new Samples();
    const dir = mkdtempSync(join(tmpdir(), 'hastack-bench-cp-'));
    try {
      for (let r = 0; r < Math.min(reps, 3); r++) {
        const out = join(dir, `r${r}.json`);
        const res = await runCmd(process.execPath, [join(BENCH_DIR, 'checkpoint-cost.mjs'), '--json', out, '--n', '10000'], { timeoutMs: 180_000 });
        if (res.code !== 0) {
          S.fail('encdec', new Error(`checkpoint-cost.mjs exit ${res.code}: ${res.stderr.trim().slice(-300)}`));
          continue;
        }
        const j = JSON.parse(readFileSync(out, 'utf8'));
        const c = j.cases.find((x) => x.name.startsWith('tcp object-mapped'));
        S.add('encdec', c.encodePlusDecodeNs / 1000);
        S.add('ref', (j.parts.msgpackPackMapsNs + j.parts.msgpackUnpackMapsNs) / 1000);
        S.add('hmac', j.parts.hmacNs / 1000);
        log(`  checkpoint-cost run ${r + 1} done`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (!S.has('encdec')) for (const d of synth) ms.push(skippedMeasurement(d, S.error('encdec')));
    else {
      ms.push(measurement({ ...synth[0], subject: { label: 'hastack', samples: S.get('encdec') }, reference: { label: 'plain msgpack (maps, unsigned)', samples: S.get('ref') } }));
      ms.push(measurement({ ...synth[1], subject: { label: 'hastack', samples: S.get('hmac') } }));
    }
  }
  return { measurements: ms, notes };
}
