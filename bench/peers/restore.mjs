#!/usr/bin/env node
/**
 * Peer process: restore cost. A server stack A holds --n idle established connections from a
 * client stack C (in-memory network, real clock); every server socket is checkpointed and encoded
 * (signed), A is crashed, and a fresh stack B with A's MAC and IP decodes and restores them all.
 * Restores pass { validated: true } (what restoreEncoded does for checkpoints it just decoded).
 * Result (ms): { decodeMs, restoreMs, decodeCpuMs, restoreCpuMs, allReadyMs, ready, n } — decode
 * and restore are timed separately (synchronous calls; wall and process CPU time); allReadyMs is until every restored socket emitted 'ready' (the
 * client's ACK matched).
 *
 *   node bench/peers/restore.mjs --n 10000
 */
import { MemoryNetwork, Stack } from '../../packages/stack/dist/index.js';
import { encodeCheckpoint, decodeCheckpoint } from '../../packages/checkpoint/dist/index.js';
import { createRequire } from 'node:module';
import { argOf, emit } from './util.mjs';

// msgpackr is a dependency of @hastack/checkpoint, not of the workspace root.
const { Packr, Unpackr } = createRequire(new URL('../../packages/checkpoint/package.json', import.meta.url))('msgpackr');

const n = Number(argOf('--n', '10000'));
const timeoutMs = Number(argOf('--timeout-ms', '90000'));
const guard = setTimeout(() => {
  emit({ error: `timed out after ${timeoutMs} ms` });
  process.exit(2);
}, timeoutMs);
const KEY = Buffer.from('bench-restore-key-0123456789abcdef');
const MAC = '02:00:00:00:be:01';
const net = new MemoryNetwork({ mtu: 1500, seed: 5 });
const tcp = { ephemeralPorts: [1024, 65535] };
const A = new Stack({ link: net.createPort({ mac: MAC }), address: '198.18.0.1/24', mac: MAC, seed: 1, nodeId: 'A', tcp });
const C = new Stack({ link: net.createPort(), address: '198.18.0.2/24', seed: 2, tcp });
const kept = [];
A.createServer((s) => {
  s.on('error', () => {});
  kept.push(s);
}).listen(8080, '198.18.0.1', 4096);
const clients = [];
for (let i = 0; i < n; i += 100) {
  const m = Math.min(100, n - i);
  await Promise.all(
    Array.from({ length: m }, () => new Promise((resolve, reject) => {
      const c = C.connect(8080, '198.18.0.1');
      c.on('error', () => {});
      c.once('connect', resolve);
      c.once('error', reject);
      clients.push(c);
    })),
  );
}
for (let i = 0; i < 500 && kept.length < n; i++) await new Promise((r) => setTimeout(r, 10));
if (kept.length < n) {
  emit({ error: `only ${kept.length} of ${n} connections accepted` });
  process.exit(3);
}
const cpu = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
/** CPU ms of the best of `passes` passes of fn over xs (the first passes warm the JIT). */
const bestCpu = (xs, fn, passes = 3) => {
  let best = Infinity;
  for (let p = 0; p < passes; p++) {
    const c = cpu();
    for (const x of xs) fn(x);
    best = Math.min(best, cpu() - c);
  }
  return best;
};
const t0 = performance.now();
const captured = kept.map((s) => s.checkpoint({ mode: 'mapped', app: { protocol: 'bench' } }));
const blobs = captured.map((cp) => encodeCheckpoint(cp, { key: KEY }));
const captureEncodeMs = performance.now() - t0;
// Per-connection encode/decode of these engine-captured checkpoints, warm, and plain msgpack of
// the same objects as maps (no validation, no signature) as the reference.
const packr = new Packr({ useRecords: false, structuredClone: false, moreTypes: false, bundleStrings: false });
const unpackr = new Unpackr({ useRecords: false, structuredClone: false, mapsAsObjects: true, copyBuffers: true });
const encodeWarmCpuMs = bestCpu(captured, (cp) => encodeCheckpoint(cp, { key: KEY }));
const decodeWarmCpuMs = bestCpu(blobs, (b) => decodeCheckpoint(b, { key: KEY }));
const packed = captured.map((cp) => packr.pack(cp));
const packCpuMs = bestCpu(captured, (cp) => packr.pack(cp));
const unpackCpuMs = bestCpu(packed, (b) => unpackr.unpack(b));
A.crash();
await new Promise((r) => setTimeout(r, 50));
const B = new Stack({ link: net.createPort({ mac: MAC }), address: '198.18.0.1/24', mac: MAC, seed: 3, nodeId: 'B', tcp });
let ready = 0;
let errors = 0;
let allReady;
const allReadyP = new Promise((r) => (allReady = r));
const c1 = cpu();
const t1 = performance.now();
const cps = blobs.map((b) => decodeCheckpoint(b, { key: KEY }));
const t2 = performance.now();
const c2 = cpu();
for (const cp of cps) {
  // Just decoded (validated field by field): no second structural check, as restoreEncoded does.
  const s = B.restore(cp, { validated: true });
  s.once('ready', () => {
    if (++ready === n) allReady();
  });
  s.on('error', () => errors++);
}
const t3 = performance.now();
const c3 = cpu();
await Promise.race([allReadyP, new Promise((r) => setTimeout(r, 20_000))]);
const t4 = performance.now();
clearTimeout(guard);
emit({ result: { n, captureEncodeMs, encodeWarmCpuMs, decodeWarmCpuMs, packCpuMs, unpackCpuMs, decodeMs: t2 - t1, restoreMs: t3 - t2, decodeCpuMs: c2 - c1, restoreCpuMs: c3 - c2, allReadyMs: t4 - t2, ready, errors, bytes: blobs[0].length } });
B.crash();
C.crash();
net.close();
process.exit(0);
