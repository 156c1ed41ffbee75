#!/usr/bin/env node
/**
 * Profile scenario (b): new TCP connections per second, hastack <-> hastack in memory, real clock.
 * Each connection: connect, the server ends it, the client ends it (full close on both sides).
 *
 *   npx tsc -b && node bench/profile/conn-rate.mjs [--n 20000] [--concurrency 32] [--dist out/x/dist]
 *   node --cpu-prof --cpu-prof-dir bench/profile/out bench/profile/conn-rate.mjs
 * Prints { connections, ms, perSec, cpuMs, perCpuSec }.
 */
const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const { MemoryNetwork, Stack } = await import(new URL(`${arg('--dist', '../../packages/stack/dist')}/index.js`, import.meta.url).href);
const N = Number(arg('--n', '20000'));
const K = Number(arg('--concurrency', '32'));
const guard = setTimeout(() => { console.error('timed out'); process.exit(2); }, Number(arg('--timeout-ms', '120000')));

const net = new MemoryNetwork({ mtu: 1500, seed: 3 });
const tcp = { ephemeralPorts: [1024, 65535] };
const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', seed: 1, tcp });
const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', seed: 2, tcp });
const server = b.createServer((s) => {
  s.on('error', () => {});
  s.resume();
  s.end();
});
await new Promise((r) => server.listen(7001, '198.18.0.2', 4096, r));
let done = 0, started = 0, failed = 0, firstError = null;
const t0 = performance.now();
const c0 = process.cpuUsage();
await new Promise((resolve) => {
  let active = 0;
  const next = () => {
    if (started >= N) {
      if (active === 0) resolve();
      return;
    }
    started++;
    active++;
    const c = a.connect(7001, '198.18.0.2');
    c.on('error', (e) => { failed++; firstError ??= String(e.code ?? e.message); });
    c.resume();
    c.on('end', () => c.end());
    c.on('close', () => { active--; done++; next(); });
  };
  for (let i = 0; i < K; i++) next();
});
const ms = performance.now() - t0;
const cu = process.cpuUsage(c0);
const cpuMs = (cu.user + cu.system) / 1000;
const ok = done - failed;
console.log(JSON.stringify({ connections: ok, failed, firstError, ms: +ms.toFixed(1), perSec: Math.round((ok * 1000) / ms), cpuMs: +cpuMs.toFixed(1), perCpuSec: Math.round((ok * 1000) / cpuMs), timeWait: a.stats().tcp.states?.TIME_WAIT ?? null }));
clearTimeout(guard);
a.crash(); b.crash(); net.close();
process.exit(0);
