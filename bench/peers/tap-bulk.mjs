#!/usr/bin/env node
/**
 * Peer process: a hastack Stack on a TAP device for the bulk TCP scenario. Runs in its own process
 * so the harness does not steal its CPU. Opens the TAP inside the lab's switch namespace, enslaves
 * it to the lab bridge, then serves until stdin closes:
 *   port 5001 (tx): a minimal HTTP responder: each request on a connection is answered with
 *                   --bytes bytes (or N bytes for `GET /N`, the harness's warm-up) (Connection:
 *                   close), then FIN — for curl in the client namespace;
 *   port 5002 (rx): every accepted connection is read to its end; one JSON line per connection
 *                   { rx: { bytes, ms } } (first byte to FIN).
 * Prints { ready: true } when listening.
 *
 *   node bench/peers/tap-bulk.mjs --tap NAME --netns NSNAME --bridge BR --address CIDR --offloads on|off --bytes N
 */
import { execFileSync } from 'node:child_process';
import { Stack } from '../../packages/stack/dist/index.js';
import { TapLink } from '../../packages/tap/dist/index.js';
import { argOf, emit } from './util.mjs';

const name = argOf('--tap');
const ns = argOf('--netns');
const bridge = argOf('--bridge');
const address = argOf('--address');
const offloads = argOf('--offloads', 'off') === 'on';
const total = Number(argOf('--bytes', String(256 << 20)));
const CHUNK = 64 * 1024;
const chunk = Buffer.alloc(CHUNK, 0x5a);

const link = new TapLink({ name, mode: 'tap', netns: `/var/run/netns/${ns}`, offloads });
execFileSync('ip', ['-n', ns, 'link', 'set', name, 'master', bridge, 'up']);
const stack = new Stack({ link, address });

async function sendAll(sock, total) {
  let sent = 0;
  while (sent < total && !sock.destroyed) {
    const n = Math.min(CHUNK, total - sent);
    sent += n;
    if (!sock.write(n === CHUNK ? chunk : chunk.subarray(0, n))) await new Promise((r) => sock.once('drain', r));
  }
  sock.end();
}

const tx = stack.createServer((sock) => {
  let head = '';
  let started = false;
  sock.on('error', () => {});
  sock.on('data', (d) => {
    if (started) return;
    head += d.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    started = true;
    const m = /^GET \/(\d+)/.exec(head);
    const bytes = m ? Number(m[1]) : total;
    sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${bytes}\r\nConnection: close\r\n\r\n`);
    void sendAll(sock, bytes);
  });
});
const rx = stack.createServer((sock) => {
  let bytes = 0;
  let t0 = 0;
  sock.on('error', (e) => emit({ rx: { error: String(e.code ?? e.message) } }));
  sock.on('data', (d) => {
    if (bytes === 0) t0 = performance.now();
    bytes += d.length;
  });
  sock.on('end', () => {
    emit({ rx: { bytes, ms: performance.now() - t0 } });
    sock.end();
  });
});
await new Promise((r) => tx.listen(5001, r));
await new Promise((r) => rx.listen(5002, r));
emit({ ready: true });

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  emit({ stats: { link: link.stats(), tcp: stack.stats().tcp } });
  stack.crash();
  link.close();
  process.exit(0);
}
process.stdin.on('end', shutdown);
process.stdin.on('close', shutdown);
process.stdin.resume();
process.on('SIGTERM', shutdown);
