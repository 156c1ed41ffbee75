#!/usr/bin/env node
/**
 * Peer process for the connection scenarios; the same code drives hastack (two stacks on an
 * in-memory network, RealClock) or node:net on the kernel (loopback of the namespace it runs in).
 *
 *   --mode rate --secs S [--max N] [--concurrency K]: connect, server closes first, client closes;
 *       counts completed connections per second. Result { connections, ms, perSec }.
 *   --mode idle --n N: opens N connections and keeps them idle; run with --expose-gc. Result
 *       { n, established, heapPerEndpoint, externalPerEndpoint, rssPerConnection } in bytes.
 *   --impl hastack|kernel
 */
import * as net from 'node:net';
import { MemoryNetwork, Stack } from '../../packages/stack/dist/index.js';
import { argOf, emit } from './util.mjs';

const mode = argOf('--mode', 'rate');
const impl = argOf('--impl', 'hastack');
const timeoutMs = Number(argOf('--timeout-ms', '60000'));
const guard = setTimeout(() => {
  emit({ error: `timed out after ${timeoutMs} ms` });
  process.exit(2);
}, timeoutMs);

let api;
let host;
let cleanup = () => {};
if (impl === 'hastack') {
  const mem = new MemoryNetwork({ mtu: 1500, seed: 3 });
  const tcp = { ephemeralPorts: [1024, 65535] };
  const a = new Stack({ link: mem.createPort(), address: '198.18.0.1/24', seed: 1, tcp });
  const b = new Stack({ link: mem.createPort(), address: '198.18.0.2/24', seed: 2, tcp });
  api = { createServer: (fn) => b.createServer(fn), connect: (p, h) => a.connect(p, h) };
  host = '198.18.0.2';
  cleanup = () => {
    a.crash();
    b.crash();
    mem.close();
  };
} else {
  api = { createServer: (fn) => net.createServer(fn), connect: (p, h) => net.connect(p, h) };
  host = '127.0.0.1';
}

const gc = globalThis.gc ?? (() => {});
function mem() {
  for (let i = 0; i < 4; i++) gc();
  return process.memoryUsage();
}

async function rate() {
  const secs = Number(argOf('--secs', '2'));
  const max = Number(argOf('--max', '60000'));
  const K = Number(argOf('--concurrency', '32'));
  const server = api.createServer((s) => {
    s.on('error', () => {});
    s.resume();
    s.end();
  });
  await new Promise((r) => server.listen(7001, host, 4096, r));
  let done = 0;
  let started = 0;
  let failed = 0;
  let firstError = null;
  const t0 = performance.now();
  const deadline = t0 + secs * 1000;
  await new Promise((resolve) => {
    let active = 0;
    const next = () => {
      if (performance.now() >= deadline || started >= max) {
        if (active === 0) resolve();
        return;
      }
      started++;
      active++;
      const c = api.connect(7001, host);
      c.on('error', (e) => {
        failed++;
        firstError ??= String(e.code ?? e.message);
      });
      c.resume();
      c.on('end', () => c.end());
      c.on('close', () => {
        active--;
        done++;
        next();
      });
    };
    for (let i = 0; i < K; i++) next();
  });
  const ms = performance.now() - t0;
  server.close();
  return { connections: done - failed, failed, firstError, ms, perSec: ((done - failed) * 1000) / ms };
}

async function idle() {
  const n = Number(argOf('--n', '10000'));
  const kept = [];
  const server = api.createServer((s) => {
    s.on('error', () => {});
    kept.push(s);
  });
  await new Promise((r) => server.listen(7002, host, 4096, r));
  const before = mem();
  const clients = [];
  let established = 0;
  const BATCH = 100;
  for (let i = 0; i < n; i += BATCH) {
    const m = Math.min(BATCH, n - i);
    await Promise.all(
      Array.from({ length: m }, () => new Promise((resolve, reject) => {
        const c = api.connect(7002, host);
        c.once('connect', () => {
          established++;
          resolve();
        });
        c.once('error', reject);
        clients.push(c);
      })),
    );
  }
  // Let the server side accept everything (bounded).
  for (let i = 0; i < 200 && kept.length < n; i++) await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 200));
  const after = mem();
  const endpoints = 2 * n;
  const r = {
    n,
    established,
    accepted: kept.length,
    heapPerEndpoint: (after.heapUsed - before.heapUsed) / endpoints,
    externalPerEndpoint: (after.external - before.external) / endpoints,
    rssPerConnection: (after.rss - before.rss) / n,
  };
  r.perEndpoint = r.heapPerEndpoint + r.externalPerEndpoint;
  for (const c of clients) c.destroy();
  for (const s of kept) s.destroy();
  server.close();
  return r;
}

try {
  const result = mode === 'idle' ? await idle() : await rate();
  emit({ result });
} catch (e) {
  emit({ error: String(e?.stack ?? e) });
}
clearTimeout(guard);
cleanup();
process.exit(0);
