// The engine in TUN mode (medium 'ip': no Ethernet, no ARP) on a TUN device in the client
// namespace: the kernel pings hastack, hastack pings the kernel, UDP echo through a kernel socat.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Stack } from '@hastack/stack';
import { Lab } from '../../src/index.js';
import { expectCleanPcap, pcapDir, pcapOpts, reason, requireTools, waitFor } from './helpers.js';

describe.skipIf(reason !== null)('hastack over TUN against the kernel (lab)', () => {
  let lab: Lab;
  let index = 0;
  const pcaps = pcapDir();
  beforeAll(async () => {
    requireTools(['ping', 'socat', 'tcpdump', 'tshark', 'capinfos']);
    Lab.cleanupStale();
    lab = await Lab.create();
  });
  afterAll(async () => {
    await lab?.destroy();
    pcaps.remove();
  });

  for (const offloads of [false, true]) {
    it(`answers the kernel's ping and pings back, UDP echo (offloads ${offloads ? 'on' : 'off'})`, async () => {
      const tun = lab.addTun({ offloads });
      const i = index++;
      const ip = lab.tunAddr(2, i);
      const kernelIp = lab.tunAddr(1, i);
      expect(tun.medium).toBe('ip');
      expect(tun.mac).toBeUndefined();
      const stack = new Stack({ link: tun, address: `${ip}/24` });
      // The TUN device lives in the client namespace; the capture is raw IP (no Ethernet).
      const file = pcaps.file(`tun-${offloads}.pcap`);
      const cap = await lab.capture('client', tun.name, file);
      let dropped = -1;
      try {
        const r = await lab.exec('client', ['ping', '-c', '3', '-i', '0.1', '-W', '2', ip], { allowFail: true });
        expect(r.code, r.stdout + r.stderr).toBe(0);
        expect(r.stdout).toMatch(/3 received/);
        expect(await stack.ping(kernelIp, { timeout: 2000 })).toBeGreaterThanOrEqual(0);

        const echo = lab.spawn('client', 'socat', ['UDP4-RECVFROM:7100,reuseaddr,fork', 'EXEC:cat']);
        await new Promise((res) => setTimeout(res, 200));
        const sock = stack.createSocket('udp4');
        const got: Buffer[] = [];
        sock.on('message', (m: Buffer) => got.push(Buffer.from(m)));
        await new Promise<void>((res) => sock.bind(0, () => res()));
        const payloads = [Buffer.from('hello over tun'), Buffer.alloc(3000, 7)];
        for (const p of payloads) sock.send(p, 7100, kernelIp);
        await waitFor(() => got.length >= payloads.length, 5000, 'UDP echoes over TUN');
        expect(got.map((b) => b.toString('hex')).sort()).toEqual(payloads.map((b) => b.toString('hex')).sort());
        sock.close();
        echo.kill('SIGKILL');
        const s = tun.stats();
        expect(s.rxFrames).toBeGreaterThan(0);
        expect(s.txFrames).toBeGreaterThan(0);
        expect(s.txErrors + s.rxErrors).toBe(0);
      } finally {
        await stack.close().catch(() => {});
        dropped = (await cap.stop()).dropped;
        tun.close();
      }
      expect(dropped).toBe(0);
      expectCleanPcap(file, ip, { ...pcapOpts(offloads), minPackets: 8 });
    });
  }
});
