#!/usr/bin/env node
/**
 * Profile scenario (a): hastack <-> hastack in memory, one TCP flow, real clock, built packages.
 *
 *   npx tsc -b && node bench/profile/mem-bulk.mjs --mtu 1500 --dir c2s --mib 128 [--csum-offload] [--reps 3]
 *   node --cpu-prof --cpu-prof-dir bench/profile/out bench/profile/mem-bulk.mjs --mtu 1500
 *
 * --dir c2s: the connecting side sends; s2c: the accepting side sends. Checksums are computed and
 * verified unless --csum-offload (MemoryNetwork `checksumOffload`). --gso: MemoryNetwork
 * `segmentationOffload` (TSO super-segments cross unsplit, as over a veth pair with GSO). Prints one JSON line per rep
 * and a summary line with the median. --warmup MIB runs one untimed transfer first.
 */

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const flag = (name) => process.argv.includes(name);
// --dist DIR: run against another build of @hastack/stack (A/B comparisons of a dist snapshot).
const { MemoryNetwork, Stack } = await import(new URL(`${arg('--dist', '../../packages/stack/dist')}/index.js`, import.meta.url).href);
const mtu = Number(arg('--mtu', '1500'));
const dir = arg('--dir', 'c2s');
let total = Number(arg('--mib', '128')) * 1024 * 1024;
const reps = Number(arg('--reps', '1'));
const checksumOffload = flag('--csum-offload');
const segmentationOffload = flag('--gso');
const rcvbuf = arg('--rcvbuf', undefined);
const sndbuf = arg('--sndbuf', undefined);
const tcp = { ...(rcvbuf ? { receiveBufferSize: Number(rcvbuf) } : {}), ...(sndbuf ? { sendBufferSize: Number(sndbuf) } : {}) };
const CHUNK = Number(arg('--chunk', String(64 * 1024)));
const chunk = Buffer.alloc(CHUNK, 0x5a);

async function pump(sock) {
  let sent = 0;
  while (sent < total) {
    const n = Math.min(CHUNK, total - sent);
    sent += n;
    if (!sock.write(n === CHUNK ? chunk : chunk.subarray(0, n))) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
}

async function once() {
  const net = new MemoryNetwork({ mtu, seed: 7, checksumOffload, segmentationOffload });
  const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', seed: 1, tcp });
  const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', seed: 2, tcp });
  let received = 0;
  let t0 = 0;
  let c0 = process.cpuUsage();
  const sink = (sock, resolve, reject) => {
    sock.on('data', (d) => { received += d.length; });
    sock.on('end', () => { sock.end(); resolve(); });
    sock.on('error', reject);
  };
  await new Promise((resolve, reject) => {
    const server = b.createServer((sock) => {
      if (dir === 'c2s') sink(sock, resolve, reject);
      else { t0 = performance.now(); c0 = process.cpuUsage(); pump(sock).catch(reject); sock.on('error', reject); sock.resume?.(); }
    });
    server.listen(5001, () => {
      const c = a.connect(5001, '198.18.0.2');
      c.on('error', reject);
      if (dir === 'c2s') c.once('connect', () => { t0 = performance.now(); c0 = process.cpuUsage(); pump(c).catch(reject); });
      else sink(c, resolve, reject);
    });
  });
  const ms = performance.now() - t0;
  const cu = process.cpuUsage(c0);
  const cpuMs = (cu.user + cu.system) / 1000;
  const st = (dir === 'c2s' ? a : b).stats().tcp;
  const ports = Object.values(net.stats());
  const drops = ports.reduce((n, p) => n + p.lost + p.queueDrops + p.overflowDrops + p.sizeDrops, 0);
  a.crash(); b.crash(); net.close();
  if (received !== total) throw new Error(`received ${received} of ${total}`);
  return { mtu, dir, checksumOffload, segmentationOffload, bytes: received, ms: +ms.toFixed(1), gbps: +((received * 8) / (ms * 1e6)).toFixed(3), cpuMs: +cpuMs.toFixed(1), gbpsPerCpu: +((received * 8) / (cpuMs * 1e6)).toFixed(3), outSegs: st.outSegs, retrans: st.retransSegs, retransBy: st.retransmits, linkDrops: drops };
}

const guard = setTimeout(() => { console.error('timed out'); process.exit(2); }, Number(arg('--timeout-ms', '120000')));
const runs = [];
// --warmup MIB: one untimed transfer first, so the timed runs measure the JIT-compiled steady state
// (a cold first run in a fresh process is up to 2x slower).
const warmupMib = Number(arg('--warmup', '0'));
if (warmupMib > 0) {
  const saved = total;
  total = warmupMib * 1024 * 1024;
  await once();
  total = saved;
}
for (let i = 0; i < reps; i++) {
  const r = await once();
  runs.push(r);
  console.log(JSON.stringify(r));
}
const g = runs.map((r) => r.gbps).sort((x, y) => x - y);
const gc = runs.map((r) => r.gbpsPerCpu).sort((x, y) => x - y);
const best = Math.max(...runs.map((r) => r.gbpsPerCpu));
console.log(JSON.stringify({ summary: 'mem-bulk', mtu, dir, checksumOffload, segmentationOffload, medianGbps: g[(g.length - 1) >> 1], medianGbpsPerCpu: gc[(gc.length - 1) >> 1], bestGbpsPerCpu: best }));
clearTimeout(guard);
process.exit(0);
