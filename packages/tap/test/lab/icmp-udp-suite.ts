// A hastack Stack on a TAP device against the Linux kernel: ping both ways and UDP echo both ways
// (kernel socat peers), with offloads on and off, then again with 1% loss each way in the client
// namespace (iptables statistic) and 20 ms delay from FaultyLink. Every run is captured on the TAP
// device and checked with tshark.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultyLink, Stack, type Link } from '@hastack/stack';
import { Lab, type TapLink } from '../../src/index.js';
import { captureTap, expectCleanPcap, pcapDir, pcapOpts, reason, requireTools, waitFor } from './helpers.js';

export function icmpUdpSuite(lossy: boolean): void {
describe.skipIf(reason !== null)(`hastack over TAP: ICMP and UDP against the kernel${lossy ? ' under loss and delay' : ''} (lab)`, () => {
  let lab: Lab;
  const pcaps = pcapDir();
  let host = 10;
  beforeAll(async () => {
    requireTools(['ping', 'socat', 'tcpdump', 'tshark', 'capinfos', 'iptables', 'bash']);
    Lab.cleanupStale();
    lab = await Lab.create();
  });
  afterAll(async () => {
    await lab?.destroy();
    pcaps.remove();
  });

  async function withStack(offloads: boolean, faulty: boolean, body: (stack: Stack, ip: string, tap: TapLink) => Promise<void>): Promise<void> {
    const tap = lab.addTap({ offloads });
    const ip = lab.addr(host++);
    const link: Link = faulty ? new FaultyLink(tap, { delayMs: 20, seed: 7 }) : tap;
    const stack = new Stack({ link, address: `${ip}/24` });
    const file = pcaps.file(`${tap.name}.pcap`);
    const cap = await captureTap(lab, tap.name, file);
    let dropped = -1;
    try {
      await body(stack, ip, tap);
    } finally {
      await stack.close().catch(() => {});
      dropped = (await cap.stop()).dropped;
      link.close();
    }
    expect(dropped, 'frames tcpdump missed').toBe(0);
    expectCleanPcap(file, ip, pcapOpts(offloads));
  }

  {
    for (const offloads of [false, true]) {
      const tag = `offloads ${offloads ? 'on' : 'off'}${lossy ? ', 1% loss each way + 20 ms delay' : ''}`;

      it(`ping both ways (${tag})`, async () => {
        await lab.setLoss(lossy ? 0.01 : 0);
        await withStack(offloads, lossy, async (stack, ip) => {
          const count = lossy ? 20 : 3;
          const r = await lab.exec('client', ['ping', '-c', String(count), '-i', '0.05', '-W', '2', ip], { allowFail: true });
          const received = Number(/(\d+) received/.exec(r.stdout)?.[1] ?? 0);
          // 1% loss each way over 20 pings: losing more than 4 has probability < 1e-4.
          expect(received, r.stdout + r.stderr).toBeGreaterThanOrEqual(lossy ? count - 4 : count);
          let ok = 0;
          for (let i = 0; i < (lossy ? 10 : 3); i++) {
            const rtt = await stack.ping(lab.clientIp, { timeout: 1000 }).catch(() => -1);
            if (rtt >= 0) {
              ok++;
              if (lossy) expect(rtt).toBeGreaterThanOrEqual(39); // 20 ms each way through FaultyLink
            }
          }
          expect(ok).toBeGreaterThanOrEqual(lossy ? 7 : 3);
        });
      });

      it(`UDP echo: hastack client -> kernel socat echo server (${tag})`, async () => {
        await lab.setLoss(lossy ? 0.01 : 0);
        await withStack(offloads, lossy, async (stack) => {
          const echo = lab.spawn('client', 'socat', ['UDP4-RECVFROM:7000,reuseaddr,fork', 'EXEC:cat']);
          await new Promise((r) => setTimeout(r, 200));
          const sock = stack.createSocket('udp4');
          const got = new Map<number, Buffer>();
          sock.on('message', (msg: Buffer) => got.set(msg.readUInt32BE(0), Buffer.from(msg)));
          await new Promise<void>((r) => sock.bind(0, () => r()));
          // Sizes cover tiny, near-MTU and fragmented (IPv4 fragmentation both ways) datagrams.
          const sizes = [4, 100, 1472, 1473, 3000, 8000];
          const sent = new Map<number, Buffer>();
          const rounds = lossy ? 20 : 3;
          let id = 0;
          for (let r = 0; r < rounds; r++) {
            for (const size of sizes) {
              const b = Buffer.alloc(size);
              for (let i = 4; i < size; i++) b[i] = (i * 31 + id) & 255;
              b.writeUInt32BE(id, 0);
              sent.set(id++, b);
              sock.send(b, 7000, lab.clientIp);
            }
            await new Promise((res) => setTimeout(res, 20));
          }
          const want = lossy ? Math.floor(sent.size * 0.7) : sent.size;
          await waitFor(() => got.size >= want && (lossy || got.size === sent.size), 10_000, `${want} echoes`).catch(() => {});
          expect(got.size).toBeGreaterThanOrEqual(want);
          for (const [k, v] of got) expect(v.equals(sent.get(k)!), `datagram ${k} intact`).toBe(true);
          sock.close();
          echo.kill('SIGKILL');
        });
      });

      it(`UDP echo: kernel socat client -> hastack echo server (${tag})`, async () => {
        await lab.setLoss(lossy ? 0.01 : 0);
        await withStack(offloads, lossy, async (stack, ip) => {
          const sock = stack.createSocket('udp4');
          let echoed = 0;
          sock.on('message', (msg: Buffer, rinfo: { address: string; port: number }) => {
            echoed += msg.toString().split('\n').filter((l) => l.length > 0).length;
            sock.send(msg, rinfo.port, rinfo.address);
          });
          await new Promise<void>((r) => sock.bind(7001, () => r()));
          const lines = Array.from({ length: 20 }, (_, i) => `line ${i} ${'x'.repeat(i * 20)}`);
          let out = '';
          if (!lossy) {
            // One socat: each line written to its stdin (apart in time) leaves as one datagram; the
            // replies come back on its stdout.
            const peer = lab.spawn('client', 'socat', ['-t', '1', '-', `UDP4:${ip}:7001`]);
            peer.stdout!.on('data', (d: Buffer) => (out += d.toString()));
            for (const line of lines) {
              peer.stdin!.write(`${line}\n`);
              await new Promise((r) => setTimeout(r, 15));
            }
            await waitFor(() => out.split('\n').filter((l) => l).length >= lines.length, 5000, 'echoes').catch(() => {});
            peer.stdin!.end();
          } else {
            // A datagram dropped by the OUTPUT rule fails sendmsg() with EPERM, which ends socat:
            // one short-lived socat per datagram.
            const script = `for l in "$@"; do printf '%s\\n' "$l" | socat -t 0.15 - UDP4:${ip}:7001; done`;
            const r = await lab.exec('client', ['bash', '-c', script, 'udp-echo', ...lines], { allowFail: true, timeoutMs: 30_000 });
            out = r.stdout;
          }
          const want = lossy ? lines.length - 4 : lines.length; // P(> 4 of 20 lost at 2%) < 1e-3
          const back = out.split('\n').filter((l) => l.length > 0);
          for (const l of back) expect(lines).toContain(l);
          expect(back.length).toBeGreaterThanOrEqual(want);
          expect(echoed).toBeGreaterThanOrEqual(back.length);
          sock.close();
        });
      });
    }
  }
});
}
