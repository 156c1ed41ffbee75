#!/usr/bin/env node
/**
 * Memory per idle established TCP connection.
 *
 * Two stacks on an in-memory network (virtual clock) open N connections between them through
 * the public node:net-shaped API (client stack.connect() → server stack.createServer()), wait
 * until every one is ESTABLISHED on both sides (checked with stack.stats()), exchange one small
 * message on each so both ends have really carried data, and then measure the heap and RSS growth
 * against the same two stacks before the connections existed (after a full GC each time).
 *
 * A "connection" here is one TCP connection with both of its endpoints held in the same process
 * (client Socket + server Socket, plus both engine TCBs): the per-connection figure is the cost of
 * both ends; the per-endpoint figure is half of it.
 *
 *   npx -y pnpm@10.34.9 run build
 *   node --expose-gc bench/tcp-idle-memory.mjs [--n 10000] [--no-data] [--json out.json]
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
const jsonOut = argOf('--json', null);
/** --no-data: connections that never carried a byte (handshake only). */
const noData = args.includes('--no-data');

if (typeof globalThis.gc !== 'function') {
  console.error('run with --expose-gc: node --expose-gc bench/tcp-idle-memory.mjs');
  process.exit(2);
}
if (!Number.isInteger(N) || N < 1 || N > 16000) {
  console.error('--n must be 1..16000 (one client address has 16,384 ephemeral ports)');
  process.exit(2);
}

async function fullGc() {
  for (let i = 0; i < 4; i++) {
    globalThis.gc();
    await new Promise((r) => setImmediate(r));
  }
}

function mem() {
  const m = process.memoryUsage();
  return { heapUsed: m.heapUsed, rss: m.rss, external: m.external, arrayBuffers: m.arrayBuffers };
}

const tcpStats = (s) => s.stats().tcp;

const clock = new VirtualClock();
const net = new MemoryNetwork({ seed: 7, delayMs: 1, clock, maxPending: 1 << 20 });
const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', clock, seed: 1 });
const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock, seed: 2 });

const serverSockets = [];
const server = b.createServer((s) => {
  serverSockets.push(s);
  s.on('data', (d) => s.write(d)); // echo the one message
});
server.listen(80, '198.18.0.2', N + 1024);
// Warm up: ARP, one connection opened and closed, so lazily built tables exist in the baseline.
{
  const c = a.connect(80, '198.18.0.2');
  await clock.run(() => serverSockets.length === 1, { maxMs: 10_000 });
  c.end();
  serverSockets[0].end();
  await clock.run(() => c.destroyed && serverSockets[0].destroyed, { maxMs: 10_000 });
  await clock.runFor(61_000); // past TIME_WAIT
  serverSockets.length = 0;
}

await fullGc();
const before = mem();

const clients = [];
let connected = 0;
let echoed = 0;
for (let i = 0; i < N; i++) {
  const c = a.connect(80, '198.18.0.2');
  c.on('connect', () => {
    connected++;
    if (!noData) c.write('ping');
  });
  c.on('data', () => echoed++);
  clients.push(c);
}
const t0 = Date.now();
const ok = await clock.run(() => connected === N && serverSockets.length === N && (noData || echoed === N), { maxMs: 120_000, wallMs: 300_000 });
const openMs = Date.now() - t0;
// Let delayed ACKs and everything else settle: the connections are now idle.
await clock.runFor(1000);
const sa = tcpStats(a);
const sb = tcpStats(b);
if (!ok || sa.currEstab !== N || sb.currEstab !== N) {
  console.error(`only ${sa.currEstab}/${sb.currEstab} of ${N} connections established (connected ${connected}, echoed ${echoed})`);
  process.exit(1);
}

await fullGc();
const after = mem();

const per = (k) => (after[k] - before[k]) / N;
const result = {
  bench: 'tcp-idle-memory',
  connections: N,
  carriedData: !noData,
  established: { client: sa.currEstab, server: sb.currEstab },
  bytesPerConnection: { heapUsed: Math.round(per('heapUsed')), rss: Math.round(per('rss')), arrayBuffers: Math.round(per('arrayBuffers')) },
  bytesPerEndpoint: { heapUsed: Math.round(per('heapUsed') / 2), rss: Math.round(per('rss') / 2) },
  totals: { before, after },
  openWallMs: openMs,
  node: process.version,
  platform: `${os.platform()} ${os.arch()}`,
  cpu: os.cpus()[0]?.model ?? 'unknown',
  date: new Date().toISOString(),
};

const kib = (n) => `${(n / 1024).toFixed(1)} KiB`;
console.log(`idle established TCP connections held: ${N}${noData ? ' (handshake only)' : ' (one 4-byte message echoed on each)'} (client ESTABLISHED ${sa.currEstab}, server ESTABLISHED ${sb.currEstab})`);
console.log(`  per connection (both endpoints): heap ${kib(result.bytesPerConnection.heapUsed)}, RSS ${kib(result.bytesPerConnection.rss)}, ArrayBuffers ${kib(result.bytesPerConnection.arrayBuffers)}`);
console.log(`  per endpoint:                    heap ${kib(result.bytesPerEndpoint.heapUsed)}, RSS ${kib(result.bytesPerEndpoint.rss)}`);
console.log(`  heap ${(before.heapUsed / 2 ** 20).toFixed(1)} -> ${(after.heapUsed / 2 ** 20).toFixed(1)} MiB, RSS ${(before.rss / 2 ** 20).toFixed(1)} -> ${(after.rss / 2 ** 20).toFixed(1)} MiB; opened in ${openMs} ms wall`);
if (jsonOut) writeFileSync(jsonOut, JSON.stringify(result, null, 2) + '\n');

// Keep everything alive until after the measurement, then exit without a slow teardown.
if (clients.length + serverSockets.length < 0) console.log('unreachable');
process.exit(0);
