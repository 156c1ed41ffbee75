#!/usr/bin/env node
/**
 * Peer process: hastack <-> hastack in memory, one TCP flow of --bytes bytes from a client stack to
 * a server stack, checksums computed and verified (no checksum offload). Prints one JSON line:
 * { result: { bytes, ms, gbps, cpuMs, gbpsPerCpu, ... } }.
 *
 *   node bench/peers/mem-bulk.mjs --mtu 1500 --bytes 268435456 [--threads 1|2] [--warmup-bytes N] [--timeout-ms 60000]
 *
 * --threads 1 (default): both stacks in this thread over a MemoryNetwork (RealClock).
 * --threads 2: each stack in its own worker thread, joined by a SharedMemoryLink (a shared-memory
 *   ring pair: two cores, like two hosts on a veth pair). CPU time is the whole process's (both threads).
 * --gso: segmentation offload on the in-memory link (MemoryNetwork / SharedMemoryLink
 *   `segmentationOffload`: TSO super-segments cross whole, as over a veth pair with GSO/GRO);
 *   checksums are still computed in software and verified, once per super-segment.
 * --warmup-bytes N (default 8 MiB): one untimed transfer first on another connection, so the timed
 *   one measures the JIT-compiled steady state, not the first-run compilation of a fresh process.
 */
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { MemoryNetwork, SharedMemoryLink, Stack, createSharedLinkPair } from '../../packages/stack/dist/index.js';

const CHUNK = 64 * 1024;
const chunk = Buffer.alloc(CHUNK, 0x5a);

/** Client side: connect, send `total` bytes, end; resolves with the wall time of connect → FIN sent. */
function sendOnce(stack, total) {
  return new Promise((resolve, reject) => {
    const c = stack.connect(5001, '198.18.0.2');
    c.on('error', reject);
    c.resume(); // consume the (empty) reverse direction so 'close' can come
    c.once('connect', async () => {
      const t0 = performance.timeOrigin + performance.now();
      let sent = 0;
      while (sent < total) {
        const n = Math.min(CHUNK, total - sent);
        sent += n;
        if (!c.write(n === CHUNK ? chunk : chunk.subarray(0, n))) await new Promise((r) => c.once('drain', r));
      }
      c.end();
      c.once('close', () => resolve(t0));
    });
  });
}

/** Server side: every connection is counted; `onDone(bytes, tEnd)` at each 'end'. */
function serve(stack, onDone) {
  const server = stack.createServer((sock) => {
    let received = 0;
    sock.on('data', (d) => {
      received += d.length;
    });
    sock.on('end', () => {
      onDone(received, performance.timeOrigin + performance.now());
      sock.end();
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(5001, resolve));
}

if (!isMainThread) {
  // ---- worker: one stack on one end of the shared link ----
  const { role, end, warmup, total } = workerData;
  const link = new SharedMemoryLink(end);
  const stack = new Stack({ link, address: role === 'server' ? '198.18.0.2/24' : '198.18.0.1/24', seed: role === 'server' ? 2 : 1 });
  if (role === 'server') {
    let n = 0;
    let elu0 = null;
    await serve(stack, (bytes, tEnd) => {
      n++;
      // Event-loop utilization of this thread over the timed transfer (1 = never idle).
      const elu = elu0 ? performance.eventLoopUtilization(elu0).utilization : null;
      elu0 = performance.eventLoopUtilization();
      parentPort.postMessage({ done: n, bytes, tEnd, elu });
    });
    parentPort.postMessage({ ready: true });
    parentPort.on('message', (m) => {
      if (m.stop) {
        parentPort.postMessage({ stats: { link: link.stats() } });
        stack.crash();
        link.close();
        parentPort.close();
      }
    });
  } else {
    parentPort.once('message', async () => {
      if (warmup > 0) await sendOnce(stack, warmup);
      parentPort.postMessage({ timedStart: true });
      const elu0 = performance.eventLoopUtilization();
      const t0 = await sendOnce(stack, total);
      const elu = performance.eventLoopUtilization(elu0).utilization;
      const tcp = stack.stats().tcp;
      parentPort.postMessage({ t0, elu, tcp: { retransSegs: tcp.retransSegs, rto: tcp.retransmits?.rto ?? null, outSegs: tcp.outSegs }, link: link.stats() });
      stack.crash();
      link.close();
      parentPort.close();
    });
  }
} else {
  const { argOf, emit } = await import('./util.mjs');
  const mtu = Number(argOf('--mtu', '1500'));
  const total = Number(argOf('--bytes', String(256 << 20)));
  const threads = Number(argOf('--threads', '1'));
  const warmup = Number(argOf('--warmup-bytes', String(8 << 20)));
  const timeoutMs = Number(argOf('--timeout-ms', '60000'));
  const gso = process.argv.includes('--gso');
  let received = 0;
  const guard = setTimeout(() => {
    emit({ error: `timed out after ${timeoutMs} ms (${received} of ${total} bytes received)` });
    process.exit(2);
  }, timeoutMs);

  if (threads === 2) {
    const [endA, endB] = createSharedLinkPair({ mtu, segmentationOffload: gso });
    const url = new URL(import.meta.url);
    const server = new Worker(url, { workerData: { role: 'server', end: endB } });
    const client = new Worker(url, { workerData: { role: 'client', end: endA, warmup, total } });
    for (const w of [server, client]) w.on('error', (e) => { emit({ error: String(e?.stack ?? e) }); process.exit(2); });
    const exited = Promise.all([server, client].map((w) => new Promise((r) => w.once('exit', r))));
    await new Promise((r) => server.once('message', r));
    const want = warmup > 0 ? 2 : 1;
    let c0 = null;
    const serverDone = new Promise((resolve) => server.on('message', (m) => { if (m.done === want) resolve(m); }));
    const clientDone = new Promise((resolve) => client.on('message', (m) => { if (m.timedStart) c0 = process.cpuUsage(); if (m.t0 !== undefined) resolve(m); }));
    client.postMessage({ go: true });
    const s = await serverDone;
    const cu = process.cpuUsage(c0 ?? undefined);
    const c = await clientDone;
    const serverStats = new Promise((resolve) => server.on('message', (m) => { if (m.stats) resolve(m.stats); }));
    server.postMessage({ stop: true });
    const ss = await serverStats;
    received = s.bytes;
    const ms = s.tEnd - c.t0;
    const cpuMs = (cu.user + cu.system) / 1000;
    clearTimeout(guard);
    emit({ result: { threads: 2, gso, bytes: received, ms, gbps: (received * 8) / (ms * 1e6), cpuMs, gbpsPerCpu: (received * 8) / (cpuMs * 1e6), retransmits: c.tcp.retransSegs, rto: c.tcp.rto, segsOut: c.tcp.outSegs, ringFullDrops: c.link.ringFullDrops, wakeups: c.link.wakeupsSent + ss.link.wakeupsSent, eluSender: c.elu, eluReceiver: s.elu, framesPerBatchRx: +(ss.link.rxFrames / ss.link.rxBatches).toFixed(1), framesPerBatchTx: +(c.link.rxFrames / c.link.rxBatches).toFixed(1), sleeps: c.link.sleeps + ss.link.sleeps } });
    await exited;
    process.exit(received === total ? 0 : 3);
  } else {
    const net = new MemoryNetwork({ mtu, seed: 7, segmentationOffload: gso });
    const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', seed: 1 });
    const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', seed: 2 });
    let last = null;
    await serve(b, (bytes, tEnd) => { last = { bytes, tEnd }; });
    if (warmup > 0) await sendOnce(a, warmup);
    const base = a.stats().tcp;
    const c0 = process.cpuUsage();
    last = null;
    const t0 = await sendOnce(a, total);
    while (last === null) await new Promise((r) => setImmediate(r));
    const cu = process.cpuUsage(c0);
    const ms = last.tEnd - t0;
    received = last.bytes;
    const cpuMs = (cu.user + cu.system) / 1000;
    clearTimeout(guard);
    const sa = a.stats().tcp;
    emit({ result: { threads: 1, gso, bytes: received, ms, gbps: (received * 8) / (ms * 1e6), cpuMs, gbpsPerCpu: (received * 8) / (cpuMs * 1e6), retransmits: sa.retransSegs - base.retransSegs, rto: sa.retransmits ? sa.retransmits.rto - (base.retransmits?.rto ?? 0) : null, segsOut: sa.outSegs - base.outSegs } });
    a.crash();
    b.crash();
    net.close();
    process.exit(received === total ? 0 : 3);
  }
}
