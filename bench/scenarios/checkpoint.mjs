/**
 * Checkpoint cost: encode (validate + msgpack + HMAC-SHA256) and decode per connection for a
 * typical object-mapped TCP checkpoint, and for 10,000 connections — by running
 * bench/checkpoint-cost.mjs (the checkpoint engineer's script) in its own process. Reference: plain
 * msgpack of the same object as maps, no validation or signature (measured by the same script).
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
  // The script takes the best of 15 passes itself and needs ~10-30 s; quick mode runs it once.
  const runs = quick ? 1 : Math.min(reps, 3);
  const S = new Samples();
  const dir = mkdtempSync(join(tmpdir(), 'hastack-bench-cp-'));
  try {
    for (let r = 0; r < runs; r++) {
      const out = join(dir, `r${r}.json`);
      const res = await runCmd(process.execPath, [join(BENCH_DIR, 'checkpoint-cost.mjs'), '--json', out, '--n', '10000'], { timeoutMs: 180_000 });
      if (res.code !== 0) {
        S.fail('x', new Error(`checkpoint-cost.mjs exit ${res.code}: ${res.stderr.trim().slice(-300)}`));
        continue;
      }
      const j = JSON.parse(readFileSync(out, 'utf8'));
      const c = j.cases.find((x) => x.name.startsWith('tcp object-mapped'));
      S.add('encdec', c.encodePlusDecodeNs / 1000);
      S.add('enc', c.encodeNs / 1000);
      S.add('dec', c.decodeNs / 1000);
      S.add('batchEnc', (c.batchEncodeMs * 10_000) / c.connections);
      S.add('batchDec', (c.batchDecodeMs * 10_000) / c.connections);
      S.add('bytes', c.encodedBytes);
      S.add('ref-encdec', (j.parts.msgpackPackMapsNs + j.parts.msgpackUnpackMapsNs) / 1000);
      S.add('ref-enc', j.parts.msgpackPackMapsNs / 1000);
      S.add('ref-dec', j.parts.msgpackUnpackMapsNs / 1000);
      S.add('hmac', j.parts.hmacNs / 1000);
      log(`  checkpoint run ${r + 1}/${runs} done`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  if (!S.has('encdec')) throw new Error(S.error('x'));
  const ref = (k) => ({ label: 'plain msgpack (maps, unsigned)', samples: S.get(k) });
  const ms = [
    measurement({ id: 'encdec', name: 'encode + decode per object-mapped TCP connection (CPU time)', unit: 'µs', better: 'lower', subject: { label: 'hastack', samples: S.get('encdec') }, reference: ref('ref-encdec'), target: { kind: 'absolute', op: '<=', value: 5, text: '≤ 5 µs' } }),
    measurement({ id: 'enc', name: 'encode per connection (validate + msgpack + HMAC-SHA256)', unit: 'µs', better: 'lower', subject: { label: 'hastack', samples: S.get('enc') }, reference: ref('ref-enc') }),
    measurement({ id: 'dec', name: 'decode per connection (HMAC verify + msgpack + validate)', unit: 'µs', better: 'lower', subject: { label: 'hastack', samples: S.get('dec') }, reference: ref('ref-dec') }),
    measurement({ id: 'batch-enc', name: 'encode 10,000 connections (CPU time)', unit: 'ms', better: 'lower', subject: { label: 'hastack', samples: S.get('batchEnc') } }),
    measurement({ id: 'batch-dec', name: 'decode 10,000 connections (CPU time)', unit: 'ms', better: 'lower', subject: { label: 'hastack', samples: S.get('batchDec') } }),
  ];
  const { Stack } = await import('../../packages/stack/dist/index.js');
  if (typeof Stack.prototype.restore !== 'function') {
    const why = 'Stack.restore() is not implemented in @hastack/stack yet';
    ms.push(skippedMeasurement({ id: 'restore-1', name: 'restore per connection', unit: 'µs', better: 'lower' }, why));
    ms.push(skippedMeasurement({ id: 'restore-10k', name: 'restore of 10,000 connections', unit: 'ms', better: 'lower', target: { kind: 'absolute', op: '<=', value: 100, text: '≤ 100 ms' } }, why));
  } else {
    const R = new Samples();
    for (let r = 0; r < (quick ? 2 : reps); r++) {
      try {
        const x = await runPeer('restore.mjs', ['--n', '10000'], { timeoutMs: 120_000 });
        if (x.ready !== x.n) throw new Error(`only ${x.ready} of ${x.n} restored sockets became ready (${x.errors} errors)`);
        R.add('restoreCpu', x.restoreCpuMs);
        R.add('restoreWall', x.restoreMs);
        R.add('decodeRestoreCpu', x.decodeCpuMs + x.restoreCpuMs);
        R.add('ready', x.allReadyMs);
      } catch (e) {
        for (const k of ['restoreCpu', 'restoreWall', 'decodeRestoreCpu', 'ready']) R.fail(k, e);
      }
      log(`  restore run ${r + 1} done`);
    }
    const sub = (k, f = (x) => x) => ({ label: 'hastack', samples: R.get(k).map(f) });
    const defs = [
      { k: 'restoreCpu', f: (x) => (x * 1000) / 10_000, id: 'restore-1', name: 'restore per connection (stack.restore, CPU time, cold)', unit: 'µs', better: 'lower' },
      { k: 'restoreCpu', id: 'restore-10k', name: 'restore of 10,000 connections (stack.restore ×10,000, CPU time)', unit: 'ms', better: 'lower', target: { kind: 'absolute', op: '<=', value: 100, text: '≤ 100 ms' } },
      { k: 'restoreWall', id: 'restore-10k-wall', name: 'restore of 10,000 connections (wall time)', unit: 'ms', better: 'lower' },
      { k: 'decodeRestoreCpu', id: 'decode-restore-10k', name: 'decode (verify + validate) and restore of 10,000 connections (CPU time, cold)', unit: 'ms', better: 'lower' },
      { k: 'ready', id: 'ready-10k', name: 'decode + restore until all 10,000 restored sockets are ready (in memory, wall)', unit: 'ms', better: 'lower' },
    ];
    for (const { k, f, ...d } of defs) ms.push(R.has(k) ? measurement({ ...d, subject: sub(k, f) }) : skippedMeasurement(d, `every run failed: ${R.error(k)}`));
  }
  const med = (k) => S.get(k).sort((a, b) => a - b)[S.get(k).length >> 1];
  const notes = [`One object-mapped TCP checkpoint is ${med('bytes')} bytes; HMAC-SHA256 alone costs ${med('hmac').toFixed(2)} µs of it. Figures are process CPU time (best of 15 passes inside bench/checkpoint-cost.mjs), so machine load inflates them less than wall time.`];
  return { measurements: ms, notes };
}
