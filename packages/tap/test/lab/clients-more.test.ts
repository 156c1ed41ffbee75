// More real clients against hastack over TAP, and a kernel HTTP server against a hastack client,
// under 1% loss each way (iptables in the client namespace) and 20 ms each way (FaultyLink),
// offloads on and off (the conditions of clients.test.ts):
// - wget downloads 4 MiB from the example HTTP file server (examples/ha-http-server) on hastack;
// - a browser-like client, Node's own fetch (undici) run inside the client namespace
//   (browser-client.mjs), loads a page, then 6 resources in parallel over several keep-alive
//   connections, then revalidates the page (If-None-Match -> 304) and resumes a resource (Range -> 206);
// - a hastack client (a small HTTP/1.1 client written here on a hastack TCP socket, never a kernel
//   socket) downloads 4 MiB from a kernel `python3 -m http.server` in the client namespace.
// Every body is checked by SHA-256 and every run's capture by tshark.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultyLink, Stack, type Link } from '@hastack/stack';
import { createHttpFileServer, type NetLike } from '../../../../examples/ha-http-server/src/index.js';
import { Lab } from '../../src/index.js';
import { captureTap, expectCleanPcap, pcapDir, pcapOpts, reason, requireTools } from './helpers.js';

const BIG = 4 << 20; // 4 MiB: at 1% loss and 40 ms more RTT a loss-based sender moves ~3.5 Mbit/s
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');
const browserClient = fileURLToPath(new URL('./browser-client.mjs', import.meta.url));

/** Served content: a page, six resources of different sizes, and a 4 MiB blob. */
function makeContent(dir: string): Map<string, Buffer> {
  const files = new Map<string, Buffer>();
  files.set('/index.html', Buffer.from(`<!doctype html><title>hastack</title>${'<p>hello from hastack</p>\n'.repeat(800)}`));
  for (let i = 0; i < 6; i++) files.set(`/r${i}.bin`, randomBytes(60_000 + i * 40_000 + i));
  files.set('/blob.bin', randomBytes(BIG + 7));
  for (const [p, b] of files) writeFileSync(join(dir, p.slice(1)), b);
  return files;
}

async function waitListening(lab: Lab, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const s = await lab.exec('client', ['ss', '-Htln', `sport = :${port}`], { allowFail: true });
    if (s.stdout.includes(`:${port}`)) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`nothing listens on :${port} in the client namespace`);
}

/** GET over one hastack TCP socket (HTTP/1.1, Connection: close); resolves with status, headers, body. */
function hastackGet(stack: Stack, host: string, port: number, path: string, timeoutMs: number): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const sock = stack.connect(port, host);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`hastack GET ${path} stalled: ${chunks.reduce((n, c) => n + c.length, 0)} bytes after ${timeoutMs} ms`));
    }, timeoutMs);
    sock.on('error', (e: Error) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.once('connect', () => sock.write(`GET ${path} HTTP/1.1\r\nHost: ${host}:${port}\r\nUser-Agent: hastack-lab\r\nConnection: close\r\n\r\n`));
    sock.on('data', (d: Buffer) => chunks.push(Buffer.from(d)));
    sock.on('end', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks);
      const end = all.indexOf('\r\n\r\n');
      if (end < 0) return reject(new Error('no response head'));
      const [statusLine, ...lines] = all.subarray(0, end).toString('latin1').split('\r\n');
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const c = l.indexOf(':');
        headers[l.slice(0, c).trim().toLowerCase()] = l.slice(c + 1).trim();
      }
      resolve({ status: Number(statusLine!.split(' ')[1]), headers, body: all.subarray(end + 4) });
      sock.end();
    });
  });
}

describe.skipIf(reason !== null)('wget, a browser-like fetch client and a kernel HTTP server vs hastack over TAP, 1% loss + 20 ms delay (lab)', () => {
  let lab: Lab;
  let host = 80;
  let dir: string;
  let files: Map<string, Buffer>;
  const pcaps = pcapDir();
  beforeAll(async () => {
    requireTools(['wget', 'python3', 'ss', 'tcpdump', 'tshark', 'capinfos']);
    Lab.cleanupStale();
    dir = mkdtempSync(join(tmpdir(), 'hastack-www-'));
    files = makeContent(dir);
    lab = await Lab.create({ loss: 0.01 });
  });
  afterAll(async () => {
    await lab?.destroy();
    pcaps.remove();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** The example file server on a hastack stack behind FaultyLink (20 ms each way) on a fresh TAP. */
  async function serve(offloads: boolean, seed: number) {
    const tap = lab.addTap({ offloads });
    const ip = lab.addr(host++);
    const link: Link = new FaultyLink(tap, { delayMs: 20, seed });
    const stack = new Stack({ link, address: `${ip}/24` });
    const server = createHttpFileServer({ root: dir, net: stack as unknown as NetLike, idleTimeout: 10_000 });
    await server.listen(80, ip);
    return { tap, ip, link, stack, server };
  }

  for (const offloads of [false, true]) {
    const tag = `offloads ${offloads ? 'on' : 'off'}`;

    it(`wget downloads 4 MiB from a hastack HTTP server (${tag})`, { timeout: 60_000 }, async () => {
      const { tap, ip, link, stack, server } = await serve(offloads, 11);
      const file = pcaps.file(`wget-${offloads}.pcap`);
      const cap = await captureTap(lab, tap.name, file);
      const out = join(pcaps.dir, `wget-${offloads}.out`);
      const drops0 = lab.lossDrops();
      let dropped = -1;
      try {
        // One try, a read timeout: a stall fails the run instead of being retried away. exec throws on exit code != 0.
        const w = await lab.exec('client', ['wget', '-q', '--tries=1', '--timeout=20', '-O', out, `http://${ip}/blob.bin`], { timeoutMs: 45_000 });
        expect(w.code).toBe(0);
        const got = readFileSync(out);
        expect(got.length).toBe(files.get('/blob.bin')!.length);
        expect(sha(got)).toBe(sha(files.get('/blob.bin')!));
        expect(server.stats().responses['200']).toBe(1);
      } finally {
        await server.close(500).catch(() => {});
        await stack.close().catch(() => {});
        dropped = (await cap.stop()).dropped;
        link.close();
      }
      const drops1 = lab.lossDrops();
      // With offloads the rules see 64 KB super-packets, so a few MiB may pass without a drop (docs/lab.md).
      if (!offloads) expect(drops1.input + drops1.output, 'the loss rules dropped packets').toBeGreaterThan(drops0.input + drops0.output);
      expect(dropped).toBe(0);
      expectCleanPcap(file, ip, { ...pcapOpts(offloads), minPackets: 100 });
    });

    it(`a browser-like fetch client loads a page and 6 resources over keep-alive connections (${tag})`, { timeout: 60_000 }, async () => {
      const { tap, ip, link, stack, server } = await serve(offloads, 13);
      const file = pcaps.file(`fetch-${offloads}.pcap`);
      const cap = await captureTap(lab, tap.name, file);
      let dropped = -1;
      try {
        const resources = [...files.keys()].filter((p) => /^\/r\d\.bin$/.test(p));
        const r = await lab.exec('client', [process.execPath, browserClient, `http://${ip}`, '/index.html', ...resources], { timeoutMs: 50_000 });
        const results = JSON.parse(r.stdout) as { path: string; status: number; sha256: string; length: number; etag: string | null; contentRange: string | null }[];
        expect(results.length).toBe(1 + resources.length + 2);
        const [page, ...rest] = results;
        expect(page!.status).toBe(200);
        expect(page!.sha256).toBe(sha(files.get('/index.html')!));
        expect(page!.etag).toBeTruthy();
        for (const [i, p] of resources.entries()) {
          expect(rest[i]!.path).toBe(p);
          expect(rest[i]!.status).toBe(200);
          expect(rest[i]!.length).toBe(files.get(p)!.length);
          expect(rest[i]!.sha256).toBe(sha(files.get(p)!));
        }
        const [revalidate, ranged] = rest.slice(resources.length);
        expect(revalidate!.status).toBe(304);
        expect(revalidate!.length).toBe(0);
        expect(ranged!.status).toBe(206);
        expect(ranged!.contentRange).toBe(`bytes 1000-50999/${files.get(resources[0]!)!.length}`);
        expect(ranged!.sha256).toBe(sha(files.get(resources[0]!)!.subarray(1000, 51_000)));
        // Browser-like use of connections: several in parallel, and kept-alive ones reused.
        const st = server.stats();
        console.log(`[fetch ${tag}] ${st.requests} requests on ${st.connections} connections`);
        expect(st.requests).toBe(results.length);
        expect(st.connections).toBeGreaterThanOrEqual(2);
        expect(st.connections).toBeLessThan(st.requests);
      } finally {
        await server.close(500).catch(() => {});
        await stack.close().catch(() => {});
        dropped = (await cap.stop()).dropped;
        link.close();
      }
      expect(dropped).toBe(0);
      expectCleanPcap(file, ip, { ...pcapOpts(offloads), minPackets: 100 });
    });

    it(`a hastack HTTP client downloads 4 MiB from a kernel python3 http.server (${tag})`, { timeout: 60_000 }, async () => {
      const tap = lab.addTap({ offloads });
      const ip = lab.addr(host++);
      const link: Link = new FaultyLink(tap, { delayMs: 20, seed: 17 });
      const stack = new Stack({ link, address: `${ip}/24` });
      const port = 8000 + host;
      const srv = lab.spawn('client', 'python3', ['-m', 'http.server', '--bind', lab.clientIp, '--directory', dir, String(port)]);
      const file = pcaps.file(`pyhttp-${offloads}.pcap`);
      const cap = await captureTap(lab, tap.name, file);
      const drops0 = lab.lossDrops();
      let dropped = -1;
      try {
        await waitListening(lab, port);
        const res = await hastackGet(stack, lab.clientIp, port, '/blob.bin', 45_000);
        const blob = files.get('/blob.bin')!;
        expect(res.status).toBe(200);
        expect(Number(res.headers['content-length'])).toBe(blob.length);
        expect(res.body.length).toBe(blob.length);
        expect(sha(res.body)).toBe(sha(blob));
      } finally {
        srv.kill('SIGKILL');
        await stack.close().catch(() => {});
        dropped = (await cap.stop()).dropped;
        link.close();
      }
      const drops1 = lab.lossDrops();
      // With offloads the rules see 64 KB super-packets, so a few MiB may pass without a drop (docs/lab.md).
      if (!offloads) expect(drops1.input + drops1.output, 'the loss rules dropped packets').toBeGreaterThan(drops0.input + drops0.output);
      expect(dropped).toBe(0);
      expectCleanPcap(file, ip, { ...pcapOpts(offloads), minPackets: 100 });
    });
  }
});
