import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHttpFileServer, generateRange, type HttpFileServer, type NetLike } from '../src/index.js';
import { hashGet, raw, request, sha256, splitResponses } from './helpers.js';

const TEXT = 'The quick brown fox jumps over the lazy dog.\n'.repeat(20); // 900 bytes
let dir: string;
let root: string;
let big: Buffer;
let server: HttpFileServer;
let port: number;

function genBytes(size: number, seed: number): Buffer {
  return Buffer.concat([...generateRange(seed, 0, size)]);
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ha-http-'));
  root = join(dir, 'root');
  mkdirSync(join(root, 'sub'), { recursive: true });
  mkdirSync(join(root, 'noindex'));
  writeFileSync(join(root, 'index.html'), '<h1>home</h1>\n');
  writeFileSync(join(root, 'a.txt'), TEXT);
  writeFileSync(join(root, 'empty.txt'), '');
  writeFileSync(join(root, 'sub', 'index.html'), '<p>sub</p>\n');
  writeFileSync(join(root, 'sub', 'data.json'), '{"x":1}\n');
  writeFileSync(join(root, 'sp ace é.txt'), 'unicode name\n');
  writeFileSync(join(root, '.secret'), 'hidden\n');
  writeFileSync(join(dir, 'outside.txt'), 'outside the root\n');
  symlinkSync(join(dir, 'outside.txt'), join(root, 'escape.txt'));
  symlinkSync(join(root, 'a.txt'), join(root, 'inside-link.txt'));
  big = randomBytes(8 * 1024 * 1024 + 123);
  writeFileSync(join(root, 'big.bin'), big);
  const t = new Date(Date.UTC(2024, 0, 15, 12, 0, 0));
  utimesSync(join(root, 'a.txt'), t, t);
  server = createHttpFileServer({ root, net: net as unknown as NetLike, idleTimeout: 2000 });
  port = (await server.listen(0, '127.0.0.1')).port;
});

afterAll(async () => {
  await server?.close(200);
  rmSync(dir, { recursive: true, force: true });
});

describe('GET and HEAD', () => {
  it('serves a file with Content-Length, ETag, Last-Modified, Content-Type, Accept-Ranges', async () => {
    const r = await request(port, '/a.txt');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(TEXT);
    expect(r.headers['content-length']).toBe(String(TEXT.length));
    expect(r.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(r.headers['etag']).toMatch(/^"[0-9a-f]+-[0-9a-f]+"$/);
    expect(r.headers['last-modified']).toBe('Mon, 15 Jan 2024 12:00:00 GMT');
    expect(r.headers['accept-ranges']).toBe('bytes');
    expect(r.headers['date']).toBeDefined();
  });

  it('HEAD has the same headers and no body', async () => {
    const g = await request(port, '/a.txt');
    const h = await request(port, '/a.txt', { method: 'HEAD' });
    expect(h.status).toBe(200);
    expect(h.body.length).toBe(0);
    for (const k of ['content-length', 'etag', 'last-modified', 'content-type']) expect(h.headers[k]).toBe(g.headers[k]);
  });

  it('serves index.html for / and directories, redirects a directory without slash', async () => {
    expect((await request(port, '/')).body.toString()).toBe('<h1>home</h1>\n');
    expect((await request(port, '/sub/')).body.toString()).toBe('<p>sub</p>\n');
    const r = await request(port, '/sub?x=1');
    expect(r.status).toBe(301);
    expect(r.headers['location']).toBe('/sub/?x=1');
    expect((await request(port, '/noindex/')).status).toBe(404);
    expect((await request(port, '/sub/data.json')).headers['content-type']).toBe('application/json');
  });

  it('decodes %-encoded UTF-8 names and serves an empty file', async () => {
    const r = await request(port, '/sp%20ace%20%C3%A9.txt');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('unicode name\n');
    const e = await request(port, '/empty.txt');
    expect(e.status).toBe(200);
    expect(e.headers['content-length']).toBe('0');
    expect(e.body.length).toBe(0);
  });

  it('works with fetch() too', async () => {
    const res = await fetch(`http://127.0.0.1:${port}/a.txt`);
    expect(res.status).toBe(200);
    expect(await res.text()).toBe(TEXT);
  });
});

describe('errors and path safety', () => {
  it('404 for missing files, hidden files and non-files', async () => {
    expect((await request(port, '/nope.txt')).status).toBe(404);
    expect((await request(port, '/.secret')).status).toBe(404);
    expect((await request(port, '/sub/.%73ecret')).status).toBe(404);
  });

  it.each([
    ['/../outside.txt', 403],
    ['/sub/../../outside.txt', 403],
    ['/%2e%2e/outside.txt', 403],
    ['/%2E%2E/%2e%2e/etc/passwd', 403],
    ['/sub/..%2f..%2foutside.txt', 403],
    ['/..%5coutside.txt', 403],
    ['/escape.txt', 403],
    ['/a.txt%00.html', 400],
    ['/%zz', 400],
    ['/%C3%28', 400],
    ['/%', 400],
  ])('%s → %i', async (path, status) => {
    const r = await request(port, path);
    expect(r.status).toBe(status);
    expect(r.body.toString()).not.toContain('outside the root');
  });

  it('500 when the root itself is unusable; the connection stays usable', async () => {
    const s4 = createHttpFileServer({ root: join(dir, 'no-such-root'), net: net as unknown as NetLike });
    const p4 = (await s4.listen(0)).port;
    const out = await raw(p4, 'GET /x HTTP/1.1\r\nHost: x\r\n\r\nGET /gen/10 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(splitResponses(out.bytes, ['GET', 'GET']).map((r) => r.status)).toEqual([500, 200]);
    expect(s4.stats().internalErrors).toBe(1);
    await s4.close(100);
  });

  it('follows a symlink that stays inside the root', async () => {
    const r = await request(port, '/inside-link.txt');
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe(TEXT);
  });

  it('405 with Allow for other methods, and the connection stays usable', async () => {
    const body = 'field=value';
    const out = await raw(
      port,
      `POST /a.txt HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n${body}` + 'DELETE /a.txt HTTP/1.1\r\nHost: x\r\n\r\n' + 'GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    const rs = splitResponses(out.bytes, ['POST', 'DELETE', 'GET']);
    expect(rs.map((r) => r.status)).toEqual([405, 405, 200]);
    expect(rs[0].headers['allow']).toBe('GET, HEAD');
    expect(rs[2].body.toString()).toBe(TEXT);
    expect(out.closedByServer).toBe(true);
  });

  it('400 and close on malformed requests; 431 on oversized heads; 505 on HTTP/2.0', async () => {
    const bad = await raw(port, 'GET / HTTP/1.1\r\nHost : x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(bad.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
    expect(bad.bytes.toString('latin1')).toContain('Connection: close');
    expect(bad.bytes.toString('latin1')).not.toContain('quick brown fox');
    expect(bad.closedByServer).toBe(true);
    const big = await raw(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`);
    expect(big.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 431 /);
    expect(big.closedByServer).toBe(true);
    const v2 = await raw(port, 'GET / HTTP/2.0\r\nHost: x\r\n\r\n');
    expect(v2.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 505 /);
    const nohost = await raw(port, 'GET / HTTP/1.1\r\n\r\n');
    expect(nohost.bytes.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
  });
});

describe('conditional requests', () => {
  it('If-None-Match → 304 (exact, weak, list, *), otherwise 200', async () => {
    const etag = (await request(port, '/a.txt')).headers['etag'] as string;
    for (const inm of [etag, `W/${etag}`, `"nope", ${etag}`, '*']) {
      const r = await request(port, '/a.txt', { headers: { 'If-None-Match': inm } });
      expect(r.status, inm).toBe(304);
      expect(r.body.length).toBe(0);
      expect(r.headers['etag']).toBe(etag);
    }
    expect((await request(port, '/a.txt', { headers: { 'If-None-Match': '"other"' } })).status).toBe(200);
  });

  it('If-Modified-Since → 304 when not newer; ignored when If-None-Match is present', async () => {
    const lm = 'Mon, 15 Jan 2024 12:00:00 GMT';
    expect((await request(port, '/a.txt', { headers: { 'If-Modified-Since': lm } })).status).toBe(304);
    expect((await request(port, '/a.txt', { headers: { 'If-Modified-Since': 'Mon, 15 Jan 2024 11:59:59 GMT' } })).status).toBe(200);
    expect((await request(port, '/a.txt', { headers: { 'If-Modified-Since': lm, 'If-None-Match': '"x"' } })).status).toBe(200);
    expect((await request(port, '/a.txt', { headers: { 'If-Modified-Since': 'garbage' } })).status).toBe(200);
  });

  it('the ETag changes when the file changes', async () => {
    writeFileSync(join(root, 'changing.txt'), 'one');
    const a = (await request(port, '/changing.txt')).headers['etag'];
    writeFileSync(join(root, 'changing.txt'), 'two!');
    const b = (await request(port, '/changing.txt')).headers['etag'];
    expect(a).not.toBe(b);
  });
});

describe('ranges', () => {
  const cases: Array<[string, number, number, number]> = [
    ['bytes=0-9', 206, 0, 10],
    ['bytes=100-', 206, 100, 900],
    ['bytes=-50', 206, 850, 900],
    ['bytes=850-100000', 206, 850, 900],
    ['bytes=-100000', 206, 0, 900],
    ['bytes=5-5', 206, 5, 6],
  ];
  for (const [range, status, start, end] of cases) {
    it(`${range} → ${status} [${start}, ${end})`, async () => {
      const r = await request(port, '/a.txt', { headers: { Range: range } });
      expect(r.status).toBe(status);
      expect(r.body.toString()).toBe(TEXT.slice(start, end));
      expect(r.headers['content-length']).toBe(String(end - start));
      expect(r.headers['content-range']).toBe(`bytes ${start}-${end - 1}/900`);
    });
  }

  it('unsatisfiable → 416 with Content-Range: bytes */size', async () => {
    for (const range of ['bytes=900-', 'bytes=1000-2000', 'bytes=-0']) {
      const r = await request(port, '/a.txt', { headers: { Range: range } });
      expect(r.status, range).toBe(416);
      expect(r.headers['content-range']).toBe('bytes */900');
    }
    expect((await request(port, '/empty.txt', { headers: { Range: 'bytes=0-' } })).status).toBe(416);
  });

  it('multi-range, invalid or foreign-unit ranges, HEAD and a stale If-Range → 200 with the full body', async () => {
    for (const range of ['bytes=0-1,5-6', 'bytes=5-1', 'items=0-5', 'bytes=x-']) {
      const r = await request(port, '/a.txt', { headers: { Range: range } });
      expect(r.status, range).toBe(200);
      expect(r.body.toString()).toBe(TEXT);
    }
    const h = await request(port, '/a.txt', { method: 'HEAD', headers: { Range: 'bytes=0-9' } });
    expect(h.status).toBe(200);
    expect(h.headers['content-length']).toBe('900');
    const stale = await request(port, '/a.txt', { headers: { Range: 'bytes=0-9', 'If-Range': '"stale"' } });
    expect(stale.status).toBe(200);
    expect(stale.body.length).toBe(900);
  });

  it('If-Range with the current ETag or Last-Modified keeps the range', async () => {
    const g = await request(port, '/a.txt');
    for (const v of [g.headers['etag'] as string, g.headers['last-modified'] as string]) {
      const r = await request(port, '/a.txt', { headers: { Range: 'bytes=0-9', 'If-Range': v } });
      expect(r.status).toBe(206);
      expect(r.body.toString()).toBe(TEXT.slice(0, 10));
    }
  });
});

describe('large bodies', () => {
  it('streams an 8 MiB file intact (SHA-256), whole and in ranges', async () => {
    const r = await hashGet(port, '/big.bin');
    expect(r.status).toBe(200);
    expect(r.bytes).toBe(big.length);
    expect(r.sha256).toBe(sha256(big));
    const mid = await request(port, '/big.bin', { headers: { Range: 'bytes=3000000-5000122' } });
    expect(mid.status).toBe(206);
    expect(sha256(mid.body)).toBe(sha256(big.subarray(3000000, 5000123)));
  });

  it('applies backpressure: a client that stops reading stops the server reading', async () => {
    const before = server.stats().bodyBytes;
    const s = net.connect({ host: '127.0.0.1', port });
    await new Promise<void>((r) => s.on('connect', () => r()));
    s.pause();
    s.write('GET /gen/256M?seed=9 HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 400));
    const sent = server.stats().bodyBytes - before;
    s.destroy();
    // Socket buffers on both sides hold a few MiB at most; never the whole 256 MiB object.
    expect(sent).toBeGreaterThan(0);
    expect(sent).toBeLessThan(48 * 1024 * 1024);
  });
});

describe('generated objects', () => {
  it('/gen/<n>?seed= is deterministic and matches the generator', async () => {
    const size = 3 * 1024 * 1024 + 17;
    const a = await hashGet(port, `/gen/${size}?seed=42`);
    const b = await hashGet(port, `/gen/${size}?seed=42`);
    const c = await hashGet(port, `/gen/${size}?seed=43`);
    expect(a.bytes).toBe(size);
    expect(a.sha256).toBe(b.sha256);
    expect(a.sha256).not.toBe(c.sha256);
    expect(a.sha256).toBe(sha256(genBytes(size, 42)));
  });

  it('supports K/M/G sizes, HEAD, ranges, ETags and 304', async () => {
    const h = await request(port, '/gen/2M?seed=5', { method: 'HEAD' });
    expect(h.headers['content-length']).toBe(String(2 * 1024 * 1024));
    expect(h.headers['etag']).toBe('"gen1-200000-5"');
    expect(h.headers['last-modified']).toBeUndefined();
    const r = await request(port, '/gen/2M?seed=5', { headers: { Range: 'bytes=65530-131080' } });
    expect(r.status).toBe(206);
    expect(r.body.equals(genBytes(2 * 1024 * 1024, 5).subarray(65530, 131081))).toBe(true);
    expect((await request(port, '/gen/2M?seed=5', { headers: { 'If-None-Match': '"gen1-200000-5"' } })).status).toBe(304);
    expect((await request(port, '/gen/0')).body.length).toBe(0);
  });

  it('rejects bad sizes and seeds with 400', async () => {
    for (const p of ['/gen/abc', '/gen/-1', '/gen/10?seed=x', '/gen/10?seed=4294967296', '/gen/2000G', '/gen/']) {
      expect((await request(port, p)).status, p).toBe(400);
    }
  });
});

describe('deterministic mode', () => {
  it('two hosts with the same content (different mtimes) send byte-identical responses', async () => {
    const other = join(dir, 'copy');
    mkdirSync(other);
    writeFileSync(join(other, 'a.txt'), TEXT);
    writeFileSync(join(other, 'big.bin'), big);
    const t = new Date(Date.UTC(2010, 5, 5));
    utimesSync(join(other, 'a.txt'), t, t);
    const mk = (r: string) => createHttpFileServer({ root: r, net: net as unknown as NetLike, deterministic: true });
    const s1 = mk(root);
    const s2 = mk(other);
    const p1 = (await s1.listen(0)).port;
    const p2 = (await s2.listen(0)).port;
    const reqs =
      'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nHEAD /big.bin HTTP/1.1\r\nHost: x\r\n\r\nGET /a.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=3-9\r\n\r\n' +
      'GET /gen/5000?seed=2 HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n';
    const a = await raw(p1, reqs);
    await new Promise((r) => setTimeout(r, 1100)); // a different second: Date would differ
    const b = await raw(p2, reqs);
    await s1.close(100);
    await s2.close(100);
    expect(a.bytes.length).toBeGreaterThan(900);
    expect(b.bytes.equals(a.bytes)).toBe(true);
    const text = a.bytes.toString('latin1');
    expect(text).not.toMatch(/^Date:/m);
    expect(text).not.toMatch(/^Last-Modified:/m);
    expect(() => createHttpFileServer({ root, net: net as unknown as NetLike, deterministic: true, etag: 'mtime' })).toThrow(TypeError);
  });
});

describe('connections', () => {
  it('keeps connections alive and reuses them', async () => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const before = server.stats().connections;
    const r1 = await request(port, '/a.txt', { agent });
    const r2 = await request(port, '/big.bin', { agent, headers: { Range: 'bytes=0-99' } });
    const r3 = await request(port, '/sub/', { agent });
    agent.destroy();
    expect([r1.status, r2.status, r3.status]).toEqual([200, 206, 200]);
    expect(r1.headers['connection']).toBe('keep-alive');
    expect(r2.reused && r3.reused).toBe(true);
    expect(server.stats().connections - before).toBe(1);
  });

  it('answers pipelined requests in order', async () => {
    const reqs = ['GET /a.txt', 'HEAD /sub/', 'GET /gen/100000?seed=3', 'GET /nope', 'GET /a.txt'];
    const text = reqs.map((r, i) => `${r} HTTP/1.1\r\nHost: x\r\n${i === reqs.length - 1 ? 'Connection: close\r\n' : ''}\r\n`).join('');
    const out = await raw(port, text);
    const rs = splitResponses(out.bytes, reqs.map((r) => r.split(' ')[0]));
    expect(rs.map((r) => r.status)).toEqual([200, 200, 200, 404, 200]);
    expect(rs[0].body.toString()).toBe(TEXT);
    expect(rs[1].headers['content-length']).toBe('11');
    expect(rs[2].body.equals(genBytes(100000, 3))).toBe(true);
    expect(rs[4].body.toString()).toBe(TEXT);
    expect(rs[4].headers['connection']).toBe('close');
    expect(out.closedByServer).toBe(true);
    // Nothing after the last response.
    expect(rs[4].bodyOffset + rs[4].body.length).toBe(out.bytes.length);
  });

  it('Connection: close stops after that response, even with more requests queued', async () => {
    const out = await raw(port, 'GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n');
    const rs = splitResponses(out.bytes, ['GET', 'GET']);
    expect(rs.length).toBe(1);
    expect(out.bytes.length).toBe(rs[0].bodyOffset + 900);
    expect(out.closedByServer).toBe(true);
  });

  it('HTTP/1.0: closes by default, keeps alive on request', async () => {
    const a = await raw(port, 'GET /a.txt HTTP/1.0\r\n\r\n');
    expect(a.closedByServer).toBe(true);
    expect(a.bytes.toString('latin1')).toContain('Connection: close');
    const b = await raw(port, 'GET /a.txt HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /a.txt HTTP/1.0\r\n\r\n');
    const rs = splitResponses(b.bytes, ['GET', 'GET']);
    expect(rs.map((r) => r.status)).toEqual([200, 200]);
    expect(rs[0].headers['connection']).toBe('keep-alive');
    expect(b.closedByServer).toBe(true);
  });

  it('a client that half-closes after its requests still gets every response', async () => {
    const out = await raw(port, 'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\nGET /sub/ HTTP/1.1\r\nHost: x\r\n\r\n', { end: true });
    const rs = splitResponses(out.bytes, ['GET', 'GET']);
    expect(rs.map((r) => r.status)).toEqual([200, 200]);
    expect(out.closedByServer).toBe(true);
  });

  it('closes idle keep-alive connections after the idle timeout', async () => {
    const s2 = createHttpFileServer({ root, net: net as unknown as NetLike, idleTimeout: 150 });
    const p2 = (await s2.listen(0)).port;
    const t0 = Date.now();
    const out = await raw(p2, 'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n', { idleMs: 3000 });
    expect(out.closedByServer).toBe(true);
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(s2.stats().timeouts).toBe(1);
    await s2.close(100);
  });

  it('408 for a request head that trickles in longer than headersTimeout', async () => {
    let t = 0;
    const s5 = createHttpFileServer({ root, net: net as unknown as NetLike, headersTimeout: 1000, clock: { now: () => t } });
    const p5 = (await s5.listen(0)).port;
    const s = net.connect({ host: '127.0.0.1', port: p5 });
    const got: Buffer[] = [];
    s.on('data', (c: Buffer) => got.push(c));
    const ended = new Promise<void>((r) => s.on('close', () => r()));
    await new Promise<void>((r) => s.on('connect', () => r()));
    const head = 'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n';
    // One byte per "400 ms" of the server's clock: every byte resets a socket idle timer, but
    // the whole head takes far longer than 1000 ms.
    for (let i = 0; i < 6; i++) {
      s.write(head[i]);
      await new Promise((r) => setTimeout(r, 20));
      t += 400;
    }
    await ended;
    expect(Buffer.concat(got).toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    await s5.close(100);
  });

  it('a peer that never closes its half after our FIN is destroyed after the idle time', async () => {
    const s6 = createHttpFileServer({ root, net: net as unknown as NetLike, idleTimeout: 200 });
    const p6 = (await s6.listen(0)).port;
    const s = net.connect({ host: '127.0.0.1', port: p6, allowHalfOpen: true });
    let gotEnd = false;
    s.on('end', () => (gotEnd = true)); // we do not end() back
    s.resume();
    s.write('GET /a.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    const t0 = Date.now();
    while (!(gotEnd && s6.stats().activeConnections === 0) && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
    s.destroy();
    // The server sent its FIN (we saw 'end') and released the connection although we never ended.
    expect(gotEnd).toBe(true);
    expect(s6.stats().activeConnections).toBe(0);
    expect(s6.stats().timeouts).toBe(1);
    await s6.close(100);
  });

  it('close() ends idle connections and refuses new ones', async () => {
    const s3 = createHttpFileServer({ root, net: net as unknown as NetLike });
    const p3 = (await s3.listen(0)).port;
    const agent = new http.Agent({ keepAlive: true });
    await request(p3, '/a.txt', { agent });
    expect(s3.stats().activeConnections).toBe(1);
    await s3.close(1000);
    expect(s3.stats().activeConnections).toBe(0);
    await expect(request(p3, '/a.txt')).rejects.toThrow();
    agent.destroy();
  });

  it('counts responses by status', () => {
    const st = server.stats();
    expect(st.responses['200']).toBeGreaterThan(5);
    expect(st.responses['404']).toBeGreaterThan(0);
    expect(st.requests).toBeGreaterThan(20);
    expect(st.mappedObjects).toBe(0); // node:net sockets have no mapObject
  });
});
