#!/usr/bin/env node
/**
 * Profile scenario (c): one TCP flow between hastack on a TAP device and the Linux kernel, in a
 * throw-away lab (network namespaces, bridge, veth; addresses in 198.18/15; all removed at exit).
 * Needs root (CAP_NET_ADMIN), the built addon (packages/tap/build) and socat.
 *
 *   npx tsc -b && node bench/profile/tap-bulk.mjs --dir tx|rx --offloads on|off [--mib 256] [--reps 3]
 *   node --cpu-prof --cpu-prof-dir bench/profile/out bench/profile/tap-bulk.mjs --dir rx --offloads on
 *
 * tx: hastack sends to a kernel socat sink; rx: a kernel socat sends to a hastack sink, in
 * --block bytes per write (default 131072, as the bench), reading /dev/zero itself (--src file,
 * default) or from a `head | socat` pipe (--src pipe). --tx-thread on|off and --rx-handover on|off
 * override TapLink's defaults.
 * Prints per rep { gbps, cpuMs (this process = hastack only), gbpsPerCpu, link counters,
 * frames per native batch } and a median line.
 */
import { Stack } from '../../packages/stack/dist/index.js';
import { Lab } from '../../packages/tap/dist/index.js';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : def;
};
const dir = arg('--dir', 'tx');
const offloads = arg('--offloads', 'off') === 'on';
const total = Number(arg('--mib', '256')) * 1024 * 1024;
const reps = Number(arg('--reps', '1'));
const CHUNK = 64 * 1024;
// The kernel sender's write size (socat -b): the bench uses 128 KiB; 8 KiB makes the kernel send small GSO frames.
const block = Number(arg('--block', '131072'));
const linkOpts = {};
if (arg('--tx-thread', '') !== '') linkOpts.txThread = arg('--tx-thread') === 'on';
if (arg('--rx-handover', '') !== '') linkOpts.rxHandOver = arg('--rx-handover') === 'on';
const chunk = Buffer.alloc(CHUNK, 0x5a);
const guard = setTimeout(() => { console.error('timed out'); process.exit(2); }, Number(arg('--timeout-ms', '180000')));

const lab = await Lab.create();
const link = lab.addTap({ offloads, ...linkOpts });
if (arg('--txqlen', '') !== '') await lab.exec('switch', ['ip', 'link', 'set', 'dev', link.name, 'txqueuelen', arg('--txqlen')]);
if (arg('--brnf', '') !== '') {
  const v = arg('--brnf') === 'on' ? '1' : '0';
  await lab.exec('switch', ['sysctl', '-q', '-w', `net.bridge.bridge-nf-call-iptables=${v}`, `net.bridge.bridge-nf-call-ip6tables=${v}`, `net.bridge.bridge-nf-call-arptables=${v}`]);
}
const stack = new Stack({ link, address: `${lab.addr(2)}/24` });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function txOnce(port) {
  const sink = lab.spawn('client', 'socat', ['-u', `TCP-LISTEN:${port},reuseaddr`, 'OPEN:/dev/null']);
  await sleep(300);
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise((resolve, reject) => {
    const s = stack.connect(port, lab.clientIp);
    s.on('error', reject);
    s.on('close', resolve);
    s.resume();
    s.once('connect', async () => {
      let sent = 0;
      while (sent < total) {
        sent += CHUNK;
        if (!s.write(chunk)) await new Promise((r) => s.once('drain', r));
      }
      s.end();
    });
  });
  const ms = performance.now() - t0;
  sink.kill();
  return { ms, cpu: process.cpuUsage(c0), bytes: total };
}

async function rxOnce(port) {
  let bytes = 0;
  let t0 = 0;
  let c0 = null;
  let server;
  const done = new Promise((resolve, reject) => {
    server = stack.createServer((s) => {
      s.on('error', reject);
      s.on('data', (d) => {
        if (bytes === 0) { t0 = performance.now(); c0 = process.cpuUsage(); }
        bytes += d.length;
      });
      s.on('end', () => { s.end(); resolve(); });
    });
    server.listen(port);
  });
  // --src pipe: head | socat (two processes and a pipe); file: socat reads /dev/zero itself (as iperf3 sends from memory).
  const cmd = arg('--src', 'file') === 'pipe'
    ? `head -c ${total} /dev/zero | socat -u -b ${block} - TCP:${lab.addr(2)}:${port}`
    : `socat -u -b ${block} OPEN:/dev/zero,readbytes=${total} TCP:${lab.addr(2)}:${port}`;
  const src = lab.exec('client', ['sh', '-c', cmd], { timeoutMs: 170_000 });
  await done;
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(c0);
  await src;
  server.close();
  return { ms, cpu, bytes };
}

const rows = [];
try {
  for (let i = 0; i < reps; i++) {
    const before = link.stats();
    const r = dir === 'tx' ? await txOnce(6000 + i) : await rxOnce(6000 + i);
    const st = link.stats();
    const d = (k) => st[k] - before[k];
    const cpuMs = (r.cpu.user + r.cpu.system) / 1000;
    const row = {
      dir, offloads, bytes: r.bytes, ms: +r.ms.toFixed(1), gbps: +((r.bytes * 8) / (r.ms * 1e6)).toFixed(3),
      cpuMs: +cpuMs.toFixed(1), gbpsPerCpu: +((r.bytes * 8) / (cpuMs * 1e6)).toFixed(3),
      rxFrames: d('rxFrames'), rxPerBatch: +(d('rxFrames') / Math.max(1, d('rxBatches'))).toFixed(1), rxGso: d('rxGso'), rxCsumValid: d('rxCsumValid'),
      txFrames: d('txFrames'), txPerBatch: +(d('txFrames') / Math.max(1, d('txBatches'))).toFixed(1), txGso: d('txGso'), txEagain: d('txEagain'), txDrops: d('txDrops'), txInPlace: d('txInPlace'),
      retrans: stack.stats().tcp.retransSegs,
    };
    rows.push(row);
    console.log(JSON.stringify(row));
  }
  if (process.argv.includes('--kstats')) {
    // The kernel's view of the TAP (its TX = frames towards hastack; drops there mean a full queue).
    const r = await lab.exec('switch', ['ip', '-s', '-s', 'link', 'show', 'dev', link.name]);
    console.log(r.stdout.trim());
    const n = await lab.exec('client', ['nstat', '-az', 'TcpRetransSegs', 'TcpExtTCPLostRetransmit', 'TcpExtTCPTimeouts', 'TcpExtTCPSackRecovery'], { allowFail: true });
    console.log(n.stdout.trim());
  }
  const g = rows.map((r) => r.gbps).sort((a, b) => a - b);
  console.log(JSON.stringify({ summary: 'tap-bulk', dir, offloads, medianGbps: g[(g.length - 1) >> 1] }));
} finally {
  clearTimeout(guard);
  stack.crash();
  await lab.destroy();
}
process.exit(0);
