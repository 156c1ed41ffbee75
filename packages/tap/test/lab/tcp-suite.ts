// Bulk TCP between a hastack Stack on a TAP device and the Linux kernel's TCP:
// - download: curl in the client namespace fetches N MiB from a small hastack HTTP responder;
// - upload: a hastack client sends N MiB to a kernel `socat -u TCP-LISTEN - | sha256sum`;
// SHA-256 compared end to end, each run captured on the TAP and checked with tshark.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultyLink, Stack, type Link } from '@hastack/stack';
import { Lab, type TapLink } from '../../src/index.js';
import { captureTap, expectCleanPcap, pcapDir, pcapOpts, reason, requireTools } from './helpers.js';

const BLOCK = 1 << 20;

/** A deterministic body: N MiB, each MiB a fixed pseudo-random block stamped with its index. */
export function makeBody(mib: number): { chunks: Buffer[]; sha256: string; bytes: number } {
  const base = Buffer.alloc(BLOCK);
  let x = 0x9e3779b9;
  for (let i = 0; i < BLOCK; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    base.writeUInt32LE(x >>> 0, i);
  }
  const chunks: Buffer[] = [];
  const h = createHash('sha256');
  for (let i = 0; i < mib; i++) {
    const c = Buffer.from(base);
    c.writeUInt32BE(i, 0);
    c.writeUInt32BE(i * 2654435761 >>> 0, BLOCK - 4);
    chunks.push(c);
    h.update(c);
  }
  return { chunks, sha256: h.digest('hex'), bytes: mib * BLOCK };
}

/** Writes chunks to a writable with backpressure, then ends it. */
async function writeAll(w: NodeJS.WritableStream & { write(c: Buffer): boolean }, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) {
    // 64 KiB pieces: the stack's send buffer takes them as they drain.
    for (let off = 0; off < c.length; off += 65536) {
      if (!w.write(c.subarray(off, off + 65536))) await new Promise((r) => w.once('drain', r));
    }
  }
  w.end();
}

export function tcpSuite(opts: { lossy: boolean; mib: number; timeoutMs: number; offloads: boolean[] }): void {
  const { lossy, mib } = opts;
  describe.skipIf(reason !== null)(`hastack TCP over TAP against the kernel: ${mib} MiB each way, offloads ${opts.offloads.map((o) => (o ? 'on' : 'off')).join('/')}${lossy ? ', 1% loss each way + 20 ms delay' : ''} (lab)`, () => {
    let lab: Lab;
    const pcaps = pcapDir();
    let host = 40;
    const body = makeBody(mib);
    beforeAll(async () => {
      requireTools(['curl', 'socat', 'sha256sum', 'ss', 'tcpdump', 'tshark', 'capinfos', 'iptables']);
    Lab.cleanupStale();
      lab = await Lab.create({ loss: lossy ? 0.01 : 0 });
    });
    afterAll(async () => {
      await lab?.destroy();
      pcaps.remove();
    });

    async function withStack(offloads: boolean, name: string, f: (stack: Stack, ip: string, tap: TapLink) => Promise<void>): Promise<void> {
      const tap = lab.addTap({ offloads });
      const ip = lab.addr(host++);
      const link: Link = lossy ? new FaultyLink(tap, { delayMs: 20, seed: 11 }) : tap;
      const stack = new Stack({ link, address: `${ip}/24` });
      const file = pcaps.file(`${name}.pcap`);
      const cap = await captureTap(lab, tap.name, file);
      const before = lossy ? lab.lossDrops() : { input: 0, output: 0 };
      let dropped = -1;
      try {
        await f(stack, ip, tap);
      } finally {
        await stack.close().catch(() => {});
        dropped = (await cap.stop()).dropped;
        link.close();
      }
      expect(dropped, 'frames tcpdump missed (kernel capture buffer overrun)').toBe(0);
      if (lossy && !offloads) {
        // The loss rules did drop packets, so the transfer went through recoveries. (With offloads
        // the rules see 64 KB super-packets, a few hundred per run, and may legitimately drop none.)
        const drops = lab.lossDrops();
        expect(drops.input + drops.output - before.input - before.output).toBeGreaterThan(0);
      }
      expectCleanPcap(file, ip, { ...pcapOpts(offloads), minPackets: 100 });
    }

    for (const offloads of opts.offloads) {
      const tag = `offloads ${offloads ? 'on' : 'off'}`;

      it(`curl downloads ${mib} MiB from a hastack HTTP responder intact (${tag})`, { timeout: opts.timeoutMs }, async () => {
        await withStack(offloads, `download-${offloads}`, async (stack, ip) => {
          const server = stack.createServer((sock) => {
            let req = '';
            sock.on('data', (d: Buffer) => {
              req += d.toString('latin1');
              if (!req.includes('\r\n\r\n')) return;
              sock.write(`HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: ${body.bytes}\r\nConnection: close\r\n\r\n`);
              void writeAll(sock, body.chunks);
            });
            sock.on('error', () => {});
          });
          await new Promise<void>((r) => server.listen(8080, () => r()));
          const t0 = Date.now();
          const r = await lab.exec('client', ['sh', '-c', `curl -sS --fail --max-time ${Math.floor(opts.timeoutMs / 1000) - 10} http://${ip}:8080/blob | sha256sum`], { timeoutMs: opts.timeoutMs - 5000, allowFail: true });
          const secs = (Date.now() - t0) / 1000;
          console.log(`[lab] download ${mib} MiB ${tag}${lossy ? ' lossy' : ''}: ${secs.toFixed(2)} s, ${((body.bytes * 8) / secs / 1e6).toFixed(0)} Mbit/s`);
          expect(r.stderr).toBe('');
          expect(r.stdout.split(' ')[0]).toBe(body.sha256);
          server.close();
        });
      });

      it(`a hastack client uploads ${mib} MiB to a kernel socat listener intact (${tag})`, { timeout: opts.timeoutMs }, async () => {
        await withStack(offloads, `upload-${offloads}`, async (stack) => {
          const port = 9000 + host;
          const sink = lab.exec('client', ['sh', '-c', `socat -u TCP-LISTEN:${port},reuseaddr - | sha256sum`], { timeoutMs: opts.timeoutMs - 5000, allowFail: true });
          // Wait until the listener is up (ss in the namespace), bounded.
          for (let i = 0; i < 100; i++) {
            const s = await lab.exec('client', ['ss', '-Htln', `sport = :${port}`], { allowFail: true });
            if (s.stdout.includes(`:${port}`)) break;
            await new Promise((r) => setTimeout(r, 50));
          }
          const t0 = Date.now();
          const sock = stack.connect(port, lab.clientIp);
          const failed = new Promise<never>((_, reject) => sock.once('error', reject));
          await Promise.race([new Promise((r) => sock.once('connect', r)), failed]);
          await Promise.race([writeAll(sock, body.chunks), failed]);
          const r = await Promise.race([sink, failed]);
          const secs = (Date.now() - t0) / 1000;
          console.log(`[lab] upload ${mib} MiB ${tag}${lossy ? ' lossy' : ''}: ${secs.toFixed(2)} s, ${((body.bytes * 8) / secs / 1e6).toFixed(0)} Mbit/s`);
          expect(r.stdout.split(' ')[0]).toBe(body.sha256);
        });
      });

      it(`the kernel (socat) sends ${mib} MiB to a hastack server intact${offloads ? ', as GRO super-frames' : ''} (${tag})`, { timeout: opts.timeoutMs }, async () => {
        const src = pcaps.file(`body-${offloads}.bin`);
        writeFileSync(src, Buffer.concat(body.chunks));
        await withStack(offloads, `kernel-send-${offloads}`, async (stack, ip, tap) => {
          const hash = createHash('sha256');
          let bytes = 0;
          // Every chunk is kept and hashed only at the end: the link hands received frames over
          // (rxHandOver), so a slab the addon wrote into again would show up as a wrong digest.
          const kept: Buffer[] = [];
          const done = new Promise<void>((resolve, reject) => {
            const server = stack.createServer((sock) => {
              sock.on('data', (d: Buffer) => {
                bytes += d.length;
                kept.push(d);
              });
              sock.on('end', () => {
                sock.end();
                server.close();
                resolve();
              });
              sock.on('error', reject);
            });
            server.listen(8081);
          });
          await new Promise((r) => setTimeout(r, 50));
          const t0 = Date.now();
          const r = await lab.exec('client', ['socat', '-u', `FILE:${src}`, `TCP:${ip}:8081`], { timeoutMs: opts.timeoutMs - 5000, allowFail: true });
          await done;
          const secs = (Date.now() - t0) / 1000;
          console.log(`[lab] kernel->hastack ${mib} MiB ${tag}${lossy ? ' lossy' : ''}: ${secs.toFixed(2)} s, ${((body.bytes * 8) / secs / 1e6).toFixed(0)} Mbit/s, rx super-frames ${tap.stats().rxGso}`);
          expect(r.code, r.stderr).toBe(0);
          expect(bytes).toBe(body.bytes);
          for (const d of kept) hash.update(d);
          expect(hash.digest('hex')).toBe(body.sha256);
          if (offloads && !lossy) expect(tap.stats().rxGso).toBeGreaterThan(0);
          expect(tap.stats().rxSlabs).toBeGreaterThan(0); // the transfer went through several receive slabs
        });
      });
    }
  });
}
