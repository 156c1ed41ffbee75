import { describe, it, expect } from 'vitest';
import net from 'node:net';
import dgram from 'node:dgram';
import http from 'node:http';

// The unit layer's network guard (scripts/vitest-net-guard.ts) must refuse any kernel traffic
// that would leave loopback, however a test reaches the kernel.
describe('unit-test network guard', () => {
  it('refuses kernel TCP connects outside loopback, in every call form', () => {
    expect(() => net.connect(80, '198.18.0.10')).toThrow(/net guard/);
    expect(() => net.connect({ host: '198.18.0.10', port: 80 })).toThrow(/net guard/);
    expect(() => new net.Socket().connect(80, '192.0.2.1')).toThrow(/net guard/);
  });
  it('refuses Node http client requests outside loopback (they connect through net)', async () => {
    const code = await new Promise<string>((resolve) => {
      try {
        const req = http.request({ host: '198.18.0.10', port: 80, agent: false });
        req.on('error', (e: NodeJS.ErrnoException) => resolve(String(e.code)));
        req.end();
      } catch (e) {
        resolve(String((e as NodeJS.ErrnoException).code));
      }
    });
    expect(code).toBe('ERR_TEST_NETWORK_GUARD');
  });
  it('refuses UDP datagrams outside loopback', () => {
    const s = dgram.createSocket('udp4');
    try {
      expect(() => s.send(Buffer.from('x'), 9, '198.18.0.10')).toThrow(/net guard/);
      expect(() => s.connect(9, '198.18.0.10')).toThrow(/net guard/);
    } finally {
      s.close();
    }
  });
  it('still allows loopback', async () => {
    const srv = net.createServer((c) => c.end('ok'));
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as net.AddressInfo).port;
    const got = await new Promise<string>((resolve, reject) => {
      const c = net.connect(port, '127.0.0.1');
      let s = '';
      c.on('data', (d) => (s += d));
      c.on('end', () => resolve(s));
      c.on('error', reject);
    });
    srv.close();
    expect(got).toBe('ok');
  });
});
