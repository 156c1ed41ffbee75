#!/usr/bin/env node
/**
 * hastack-over-TAP TCP throughput next to kernel-over-veth, measured in the same run (root only).
 *
 * One lab (packages/tap/src/lab.ts): client namespace (kernel) — bridge — a second kernel namespace
 * and hastack TAP devices. For each direction:
 *   kernel/veth:  iperf3 between the two kernel namespaces through the same bridge (-t secs, and -R);
 *   hastack/TAP:  a hastack Stack on a TAP device, offloads off and on:
 *                 tx  hastack client -> kernel `socat -u TCP-LISTEN:p /dev/null` (connect .. socat exit)
 *                 rx  kernel `head -c N /dev/zero | socat -u - TCP:...` -> hastack server (first byte .. FIN)
 * Repeats each measurement and prints medians in Gbit/s.
 *
 * The kernel-side socat peers use 128 KiB blocks (-b 131072), like iperf3's default 128 KiB writes
 * in the reference: with socat's default 8 KiB, the kernel sender pushes ~7 KB at a time and GRO
 * hands hastack ~7 KB super-frames instead of 64 KB ones.
 *
 *   node bench/tap-throughput.mjs [--mib 256] [--reps 3] [--secs 3] [--json out.json]
 *                                 [--tx-thread default|on|off|both]
 * Needs: pnpm run build (dist + native addon), iproute2, iperf3, socat.
 */
import { writeFileSync } from 'node:fs';
import { Stack } from '../packages/stack/dist/index.js';
import { Lab, labUnavailableReason } from '../packages/tap/dist/index.js';

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : dflt;
}
const MIB = Number(arg('--mib', '256'));
const REPS = Number(arg('--reps', '3'));
const SECS = Number(arg('--secs', '3'));
const JSON_OUT = arg('--json', '');
// TapLink's writer thread: 'default' (the library's default), 'on', 'off', or 'both' (A/B in one run).
const TXT = arg('--tx-thread', 'default');
const TX_MODES = TXT === 'both' ? ['off', 'on'] : [TXT];
const SOCAT_BLOCK = '131072';
const BYTES = MIB * 1024 * 1024;
const CHUNK = Buffer.alloc(256 * 1024, 0x5a);

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const gbps = (bytes, ms) => (bytes * 8) / (ms / 1000) / 1e9;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitListen(lab, ns, port) {
  for (let i = 0; i < 200; i++) {
    const s = await lab.exec(ns, ['ss', '-Htln', `sport = :${port}`], { allowFail: true });
    if (s.stdout.includes(`:${port}`)) return;
    await sleep(25);
  }
  throw new Error(`nothing listens on ${port} in ${ns}`);
}

async function kernelIperf(lab, peer, reverse) {
  const port = 5201;
  const server = lab.spawn('client', 'iperf3', ['-s', '-1', '-p', String(port)]);
  await waitListen(lab, 'client', port);
  const r = await lab.exec(peer.ns, ['iperf3', '-c', lab.clientIp, '-p', String(port), '-t', String(SECS), '-J', ...(reverse ? ['-R'] : [])], { timeoutMs: (SECS + 20) * 1000 });
  server.kill('SIGKILL');
  const j = JSON.parse(r.stdout);
  return j.end.sum_received.bits_per_second / 1e9;
}

async function hastackTx(lab, stack, port) {
  const sink = lab.exec('client', ['socat', '-b', SOCAT_BLOCK, '-u', `TCP-LISTEN:${port},reuseaddr`, 'OPEN:/dev/null'], { timeoutMs: 300_000 });
  await waitListen(lab, 'client', port);
  const t0 = performance.now();
  const sock = stack.connect(port, lab.clientIp);
  await new Promise((res, rej) => {
    sock.once('connect', res);
    sock.once('error', rej);
  });
  let sent = 0;
  while (sent < BYTES) {
    const n = Math.min(CHUNK.length, BYTES - sent);
    sent += n;
    if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
  await sink;
  return gbps(BYTES, performance.now() - t0);
}

async function hastackRx(lab, stack, ip, port) {
  let t0 = 0;
  let bytes = 0;
  const done = new Promise((resolve, reject) => {
    const server = stack.createServer((sock) => {
      sock.on('data', (d) => {
        if (bytes === 0) t0 = performance.now();
        bytes += d.length;
      });
      sock.on('end', () => {
        const ms = performance.now() - t0;
        sock.end();
        server.close();
        resolve(ms);
      });
      sock.on('error', reject);
    });
    server.listen(port);
  });
  await sleep(20);
  await lab.exec('client', ['sh', '-c', `head -c ${BYTES} /dev/zero | socat -b ${SOCAT_BLOCK} -u - TCP:${ip}:${port}`], { timeoutMs: 300_000 });
  const ms = await done;
  if (bytes !== BYTES) throw new Error(`hastack received ${bytes} of ${BYTES} bytes`);
  return gbps(BYTES, ms);
}

async function main() {
  const reason = labUnavailableReason();
  if (reason) {
    console.error(`tap-throughput: ${reason}`);
    process.exit(2);
  }
  Lab.cleanupStale();
  const lab = await Lab.create();
  const results = { mib: MIB, reps: REPS, iperfSecs: SECS, kernel: {}, hastack: {} };
  try {
    const peer = lab.addKernelHost();
    const ktx = [];
    const krx = [];
    for (let i = 0; i < REPS; i++) {
      ktx.push(await kernelIperf(lab, peer, false));
      krx.push(await kernelIperf(lab, peer, true));
    }
    // "tx" = the measured side sends to the client namespace; "rx" = it receives from it.
    results.kernel = { tx: median(ktx), rx: median(krx), samples: { tx: ktx, rx: krx } };
    let host = 2;
    let port = 6000;
    // One TAP + stack per (offloads, writer mode); the modes alternate within each repetition so
    // an A/B comparison sees the same machine load.
    for (const offloads of [false, true]) {
      const runs = TX_MODES.map((txMode) => {
        const tap = lab.addTap({ offloads, ...(txMode === 'default' ? {} : { txThread: txMode === 'on' }) });
        const ip = lab.addr(host++);
        return { txMode, tap, ip, stack: new Stack({ link: tap, address: `${ip}/24` }), tx: [], rx: [] };
      });
      for (let i = 0; i < REPS; i++) {
        for (const r of runs) r.tx.push(await hastackTx(lab, r.stack, port++));
        for (const r of runs) r.rx.push(await hastackRx(lab, r.stack, r.ip, port++));
      }
      for (const r of runs) {
        const key = (offloads ? 'on' : 'off') + (r.txMode === 'default' ? '' : `/txThread-${r.txMode}`);
        results.hastack[key] = { tx: median(r.tx), rx: median(r.rx), samples: { tx: r.tx, rx: r.rx }, txThread: r.tap.txThread, link: r.tap.stats() };
        await r.stack.close().catch(() => {});
        r.tap.close();
      }
    }
  } finally {
    await lab.destroy();
  }
  const f = (x) => `${x.toFixed(2)} Gbit/s`.padEnd(14);
  console.log(`hastack over TAP vs kernel over veth — same run, medians of ${REPS}; hastack ${MIB} MiB per transfer, iperf3 ${SECS} s`);
  const keys = Object.keys(results.hastack);
  const w = Math.max(10, ...keys.map((k) => k.length + 2));
  console.log(`${'direction'.padEnd(34)}${'offloads'.padEnd(w)}${'hastack/TAP'.padEnd(14)}kernel/veth`);
  for (const [dir, label] of [['tx', 'sender -> kernel (hastack tx)'], ['rx', 'kernel -> receiver (hastack rx)']]) {
    for (const o of keys) console.log(`${label.padEnd(34)}${o.padEnd(w)}${f(results.hastack[o][dir])}${f(results.kernel[dir])}`);
  }
  if (JSON_OUT) writeFileSync(JSON_OUT, JSON.stringify(results, null, 2));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
