#!/usr/bin/env node
/**
 * Restore cost: how long `stack.restore()` takes to build unready connections (validation of
 * the shape, the engine's TCB, the 4-tuple registration, the Node Duplex), per connection and
 * for 10,000 of them; and capture cost (`socket.checkpoint()`) per connection. Checkpoints are
 * clones of one real captured connection with distinct remote ports.
 *
 *   npx tsc -b packages/stack && node bench/checkpoint-restore.mjs [--n 10000] [--rounds 7] [--ready 2000] [--json out.json]
 *
 * `--ready N` also takes over N live connections (in-memory network): capture all, crash,
 * restore all, and run until every one has matched the peer's ACK and is ready.
 *
 * Reports the median of `rounds` runs (each on a fresh stack), CPU time of the main thread.
 */
import { writeFileSync } from 'node:fs';
import os from 'node:os';
import { MemoryNetwork, Stack, VirtualClock } from '../packages/stack/dist/index.js';

const args = process.argv.slice(2);
const argOf = (name, dflt) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : dflt;
};
const N = Number(argOf('--n', '10000'));
const ROUNDS = Number(argOf('--rounds', '7'));
const jsonOut = argOf('--json', null);
const MAC = '02:00:00:00:bb:01';

async function baseCheckpoint() {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 1, delayMs: 1, clock });
  const A = new Stack({ link: net.createPort({ mac: MAC }), address: '198.18.0.1/24', clock, nodeId: 'A' });
  const C = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, nodeId: 'C' });
  let server = null;
  A.createServer((s) => (server = s)).listen(80, '198.18.0.1');
  await clock.runFor(1);
  const c = C.connect({ port: 80, host: '198.18.0.1' });
  c.on('error', () => {});
  await clock.run(() => server !== null, { maxMs: 1000 });
  // A typical object-mapped connection: the bytes in flight belong to a mapped object.
  server.mapObject('obj', { length: 1 << 20 });
  server.write(Buffer.alloc(1000, 1));
  await clock.runFor(1);
  // Capture cost, per connection (same connection captured repeatedly).
  const capN = 20000;
  const t0 = process.cpuUsage();
  for (let i = 0; i < capN; i++) server.checkpoint();
  const cu = process.cpuUsage(t0);
  const captureUs = (cu.user + cu.system) / capN;
  const cp = server.checkpoint();
  A.crash();
  C.crash();
  return { cp, captureUs };
}

function median(a) {
  const s = [...a].sort((x, y) => x - y);
  return s[s.length >> 1];
}

const { cp, captureUs } = await baseCheckpoint();
const cps = [];
for (let i = 0; i < N; i++) cps.push({ ...cp, tcp: { ...cp.tcp, remotePort: 1024 + (i % 64000), localPort: 80 + Math.floor(i / 64000) } });

const totals = [];
for (let r = 0; r < ROUNDS; r++) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 2, clock });
  const B = new Stack({ link: net.createPort({ mac: MAC }), address: '198.18.0.1/24', clock, nodeId: 'B' });
  const onErr = () => {};
  const t0 = process.cpuUsage();
  for (let i = 0; i < N; i++) B.restore(cps[i]).on('error', onErr);
  const u = process.cpuUsage(t0);
  totals.push((u.user + u.system) / 1000);
  if (B.tcp.connections().length !== N) throw new Error('not all restored');
  B.crash();
}
// Takeover of live connections: capture all, crash, restore all, until every one is ready.
const READY_N = Number(argOf('--ready', '2000'));
async function liveTakeover(n) {
  const clock = new VirtualClock();
  const net = new MemoryNetwork({ seed: 3, delayMs: 0.05, clock });
  const A = new Stack({ link: net.createPort({ mac: MAC }), address: '198.18.0.1/24', clock, nodeId: 'A' });
  const C = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, nodeId: 'C' });
  const socks = [];
  A.createServer((s) => socks.push(s)).listen(80, '198.18.0.1');
  await clock.runFor(1);
  for (let i = 0; i < n; i++) C.connect({ port: 80, host: '198.18.0.1' }).on('error', () => {});
  await clock.run(() => socks.length === n, { maxMs: 60_000 });
  let u = process.cpuUsage();
  const cps = socks.map((s) => s.checkpoint());
  let d = process.cpuUsage(u);
  const captureMs = (d.user + d.system) / 1000;
  A.crash();
  const B = new Stack({ link: net.createPort({ mac: MAC }), address: '198.18.0.1/24', clock, nodeId: 'B' });
  let ready = 0;
  const t0 = clock.now();
  u = process.cpuUsage();
  for (const cp of cps) B.restore(cp).once('ready', () => ready++);
  d = process.cpuUsage(u);
  const restoreMs = (d.user + d.system) / 1000;
  u = process.cpuUsage();
  await clock.run(() => ready === n, { maxMs: 60_000 });
  d = process.cpuUsage(u);
  return { n, captureMs: +captureMs.toFixed(1), restoreMs: +restoreMs.toFixed(1), toReadyCpuMs: +((d.user + d.system) / 1000).toFixed(1), toReadyVirtualMs: +(clock.now() - t0).toFixed(2), ready };
}
const live = READY_N > 0 ? await liveTakeover(READY_N) : null;

const ms = median(totals);
const result = {
  machine: { cpus: os.cpus().length, model: os.cpus()[0]?.model, node: process.version },
  n: N,
  rounds: ROUNDS,
  restoreTotalMs: +ms.toFixed(2),
  restorePerConnUs: +((ms * 1000) / N).toFixed(2),
  restoreAllRoundsMs: totals.map((x) => +x.toFixed(1)),
  capturePerConnUs: +captureUs.toFixed(2),
  targetMs: 100,
  live,
};
console.log(`restore: ${N} connections in ${result.restoreTotalMs} ms CPU (median of ${ROUNDS}), ${result.restorePerConnUs} µs each; target ≤ ${result.targetMs} ms`);
console.log(`capture: ${result.capturePerConnUs} µs per socket.checkpoint() (object-mapped, 1000 bytes in flight)`);
if (live) console.log(`live takeover of ${live.n} connections: capture ${live.captureMs} ms, restore ${live.restoreMs} ms, then ${live.toReadyCpuMs} ms CPU (${live.toReadyVirtualMs} ms virtual, 0.05 ms links) until all ${live.ready} were ready`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(result, null, 2));
