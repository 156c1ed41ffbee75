#!/usr/bin/env node
/**
 * Peer process: hastack <-> hastack over an in-memory network (MemoryNetwork, RealClock), one TCP
 * flow of --bytes bytes from a client stack to a server stack, checksums computed and verified
 * (no checksum offload). Prints one JSON line: { bytes, ms, gbps }.
 *
 *   node bench/peers/mem-bulk.mjs --mtu 1500 --bytes 268435456 [--timeout-ms 60000]
 */
import { MemoryNetwork, Stack } from '../../packages/stack/dist/index.js';
import { argOf, emit } from './util.mjs';

const mtu = Number(argOf('--mtu', '1500'));
const total = Number(argOf('--bytes', String(256 << 20)));
const timeoutMs = Number(argOf('--timeout-ms', '60000'));
const CHUNK = 64 * 1024;

const net = new MemoryNetwork({ mtu, seed: 7 });
const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', seed: 1 });
const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', seed: 2 });
const chunk = Buffer.alloc(CHUNK, 0x5a);

const guard = setTimeout(() => {
  emit({ error: `timed out after ${timeoutMs} ms (${received} of ${total} bytes received)` });
  process.exit(2);
}, timeoutMs);

let received = 0;
let t0 = 0;
const done = new Promise((resolve, reject) => {
  const server = b.createServer((sock) => {
    sock.on('data', (d) => {
      received += d.length;
    });
    sock.on('end', () => resolve(undefined));
    sock.on('error', reject);
  });
  server.listen(5001, () => {
    const c = a.connect(5001, '198.18.0.2');
    c.on('error', reject);
    c.once('connect', async () => {
      t0 = performance.now();
      let sent = 0;
      while (sent < total) {
        const n = Math.min(CHUNK, total - sent);
        sent += n;
        if (!c.write(n === CHUNK ? chunk : chunk.subarray(0, n))) await new Promise((r) => c.once('drain', r));
      }
      c.end();
    });
  });
});
await done;
const ms = performance.now() - t0;
clearTimeout(guard);
const sa = a.stats().tcp;
emit({ result: { bytes: received, ms, gbps: (received * 8) / (ms * 1e6), retransmits: sa.retransSegs, rto: sa.retransmits?.rto ?? null, segsOut: sa.outSegs } });
a.crash();
b.crash();
net.close();
process.exit(received === total ? 0 : 3);
