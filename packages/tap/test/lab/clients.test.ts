// Real clients against a hastack HTTP server on TAP, and a hastack client against a kernel server,
// under 1% loss each way (iptables) and 20 ms each way (FaultyLink), offloads on and off:
// curl (several requests on one keep-alive connection), ncat (raw HTTP), wrk (8 parallel keep-alive
// connections, browser-like), and a hastack client echoing 1 MiB through a kernel `ncat -l --exec cat`.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultyLink, Stack, type Link } from '@hastack/stack';
import { Lab } from '../../src/index.js';
import { captureTap, expectCleanPcap, pcapDir, pcapOpts, reason, requireTools } from './helpers.js';

const SMALL = Buffer.from('hello from hastack\n');
const MEDIUM = Buffer.alloc(300_000).map((_, i) => (i * 13 + 7) & 255);
const sha = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

/** A small HTTP/1.1 server with keep-alive: GET /small, /medium; anything else 404. */
function httpServer(stack: Stack) {
  return stack.createServer((sock) => {
    let buf = '';
    sock.on('error', () => {});
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let end = buf.indexOf('\r\n\r\n'); end >= 0; end = buf.indexOf('\r\n\r\n')) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const path = head.split(' ')[1] ?? '/';
        const body = path === '/small' ? SMALL : path === '/medium' ? MEDIUM : null;
        const close = /\r\nconnection:\s*close/i.test(head);
        const status = body ? '200 OK' : '404 Not Found';
        const b = body ?? Buffer.from('not found\n');
        sock.write(`HTTP/1.1 ${status}\r\nContent-Length: ${b.length}\r\nContent-Type: application/octet-stream\r\n${close ? 'Connection: close\r\n' : ''}\r\n`);
        sock.write(b);
        if (close) {
          sock.end();
          return;
        }
      }
    });
  });
}

describe.skipIf(reason !== null)('real clients and servers vs hastack over TAP, 1% loss + 20 ms delay (lab)', () => {
  let lab: Lab;
  let host = 60;
  const pcaps = pcapDir();
  beforeAll(async () => {
    requireTools(['curl', 'ncat', 'wrk', 'sha256sum', 'tcpdump', 'tshark', 'capinfos']);
    Lab.cleanupStale();
    lab = await Lab.create({ loss: 0.01 });
  });
  afterAll(async () => {
    await lab?.destroy();
    pcaps.remove();
  });

  for (const offloads of [false, true]) {
    const tag = `offloads ${offloads ? 'on' : 'off'}`;

    it(`curl, ncat and wrk against a hastack HTTP server (${tag})`, { timeout: 90_000 }, async () => {
      const tap = lab.addTap({ offloads });
      const ip = lab.addr(host++);
      const link: Link = new FaultyLink(tap, { delayMs: 20, seed: 3 });
      const stack = new Stack({ link, address: `${ip}/24` });
      const server = httpServer(stack);
      await new Promise<void>((r) => server.listen(80, () => r()));
      const file = pcaps.file(`http-${offloads}.pcap`);
      const cap = await captureTap(lab, tap.name, file);
      let dropped = -1;
      try {
        const base = `http://${ip}`;
        // curl: three requests reuse one connection; the bodies concatenate.
        const c = await lab.exec('client', ['sh', '-c', `curl -sS --fail --max-time 40 ${base}/small ${base}/medium ${base}/small | sha256sum`], { timeoutMs: 45_000 });
        expect(c.stdout.split(' ')[0]).toBe(sha(Buffer.concat([SMALL, MEDIUM, SMALL])));
        const nf = await lab.exec('client', ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', `${base}/nope`], { timeoutMs: 25_000 });
        expect(nf.stdout).toBe('404');
        // ncat: raw HTTP, the server closes.
        const n = await lab.exec('client', ['ncat', '-w', '20', ip, '80'], { input: 'GET /medium HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', timeoutMs: 30_000 });
        const body = Buffer.from(n.stdout, 'latin1');
        expect(n.stdout.startsWith('HTTP/1.1 200 OK')).toBe(true);
        const raw = await lab.exec('client', ['sh', '-c', `printf 'GET /medium HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' | ncat -w 20 ${ip} 80 | tail -c ${MEDIUM.length} | sha256sum`], { timeoutMs: 30_000 });
        expect(raw.stdout.split(' ')[0]).toBe(sha(MEDIUM));
        expect(body.length).toBeGreaterThan(MEDIUM.length);
        // wrk: 8 parallel keep-alive connections for 3 s, browser-like request pattern.
        const w = await lab.exec('client', ['wrk', '-t1', '-c8', '-d3s', '--timeout', '10s', `${base}/small`], { timeoutMs: 30_000 });
        const reqs = Number(/(\d+) requests in/.exec(w.stdout)?.[1] ?? 0);
        expect(reqs, w.stdout).toBeGreaterThan(50);
        expect(w.stdout).not.toMatch(/Non-2xx|Socket errors/);
      } finally {
        server.close();
        await stack.close().catch(() => {});
        dropped = (await cap.stop()).dropped;
        link.close();
      }
      expect(dropped).toBe(0);
      expectCleanPcap(file, ip, { ...pcapOpts(offloads), minPackets: 100 });
    });

    it(`a hastack client echoes 1 MiB through a kernel ncat server (${tag})`, { timeout: 90_000 }, async () => {
      const tap = lab.addTap({ offloads });
      const ip = lab.addr(host++);
      const link: Link = new FaultyLink(tap, { delayMs: 20, seed: 5 });
      const stack = new Stack({ link, address: `${ip}/24` });
      const port = 7000 + host;
      const srv = lab.spawn('client', 'ncat', ['-l', '-p', String(port), '--exec', '/bin/cat']);
      const file = pcaps.file(`echo-${offloads}.pcap`);
      const cap = await captureTap(lab, tap.name, file);
      let dropped = -1;
      try {
        for (let i = 0; i < 100; i++) {
          const s = await lab.exec('client', ['ss', '-Htln', `sport = :${port}`], { allowFail: true });
          if (s.stdout.includes(`:${port}`)) break;
          await new Promise((r) => setTimeout(r, 50));
        }
        const data = Buffer.alloc(1 << 20).map((_, i) => (i * 29 + 1) & 255);
        const sock = stack.connect(port, lab.clientIp);
        const chunks: Buffer[] = [];
        let got = 0;
        await new Promise<void>((resolve, reject) => {
          sock.on('error', reject);
          sock.on('data', (d: Buffer) => {
            chunks.push(Buffer.from(d));
            got += d.length;
            if (got >= data.length) {
              sock.end();
              resolve();
            }
          });
          sock.once('connect', () => {
            sock.write(data);
          });
        });
        expect(sha(Buffer.concat(chunks))).toBe(sha(data));
      } finally {
        srv.kill('SIGKILL');
        await stack.close().catch(() => {});
        dropped = (await cap.stop()).dropped;
        link.close();
      }
      expect(dropped).toBe(0);
      expectCleanPcap(file, ip, { ...pcapOpts(offloads), minPackets: 100 });
    });
  }
});
