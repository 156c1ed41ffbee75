import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryNetwork, NO_OFFLOADS, PcapTap, PcapWriter, Stack, VirtualClock, type Link, type LinkHandler } from '@hastack/stack';
import { settle } from './helpers.js';

function hasTshark(): boolean {
  try {
    execFileSync('tshark', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const tshark = hasTshark();

describe('pcap', () => {
  it('PcapWriter writes the classic header (nanosecond magic, LINKTYPE_ETHERNET / RAW)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'hastack-pcap-'));
    try {
      const w = new PcapWriter(join(dir, 'a.pcap'), { epochMs: 1_000 });
      w.write(new Uint8Array(60), 1.5);
      w.close();
      const b = readFileSync(join(dir, 'a.pcap'));
      expect(b.readUInt32LE(0)).toBe(0xa1b23c4d);
      expect(b.readUInt32LE(20)).toBe(1);
      expect(b.readUInt32LE(24)).toBe(1); // 1.0015 s
      expect(b.readUInt32LE(28)).toBe(1_500_000);
      expect(b.readUInt32LE(32)).toBe(60);
      const w2 = new PcapWriter(join(dir, 'b.pcap'), { medium: 'ip', nanosecond: false });
      w2.close();
      const b2 = readFileSync(join(dir, 'b.pcap'));
      expect(b2.readUInt32LE(0)).toBe(0xa1b2c3d4);
      expect(b2.readUInt32LE(20)).toBe(101);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!tshark)('a capture of a ping + UDP (fragmented) + closed-port run passes tshark checks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hastack-pcap-'));
    const file = join(dir, 'run.pcap');
    try {
      const clock = new VirtualClock();
      const net = new MemoryNetwork({ clock, mtu: 1500 });
      const tap = new PcapTap(net.createPort(), file, { clock });
      const a = new Stack({ link: tap, address: '198.18.0.1/24', clock });
      const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', clock });
      await settle(clock, a.ping('198.18.0.2'));
      const rx = b.createSocket('udp4');
      rx.bind(7777);
      let n = 0;
      rx.on('message', (m, r) => {
        n++;
        rx.send(m.subarray(0, 100), r.port, r.address);
      });
      const s = a.createSocket('udp4');
      s.send(Buffer.alloc(4000, 1), 7777, '198.18.0.2');
      s.send('small', 7777, '198.18.0.2');
      s.send('closed', 7778, '198.18.0.2');
      s.addMembership('239.5.5.5');
      await clock.run(() => n === 2);
      await clock.runFor(10);
      await settle(clock, a.close());
      const out = execFileSync('tshark', ['-n', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      const lines = out.trim().split('\n');
      expect(lines.length).toBeGreaterThanOrEqual(12);
      expect(out).toMatch(/ARP/);
      expect(out).toMatch(/Echo \(ping\) request/);
      expect(out).toMatch(/Destination unreachable|Port unreachable/);
      expect(out).toMatch(/IGMPv2/);
      expect(out).toMatch(/Fragmented IP protocol|UDP/);
      const bad = execFileSync(
        'tshark',
        [
          '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-r', file, '-Y',
          '_ws.malformed || ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad" || igmp.checksum.status == "Bad"',
        ],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      expect(bad.trim()).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it.skipIf(!tshark)("a capture of an 'ip'-medium (TUN) link is LINKTYPE_RAW and passes tshark checks", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hastack-pcap-'));
    const file = join(dir, 'tun.pcap');
    try {
      const clock = new VirtualClock();
      const mk = (): Link & { peer?: Link & { h?: LinkHandler | null }; h?: LinkHandler | null } => {
        const l: Link & { peer?: Link & { h?: LinkHandler | null }; h?: LinkHandler | null } = {
          medium: 'ip',
          mtu: 1500,
          offloads: NO_OFFLOADS,
          attach: (h) => (l.h = h),
          send: (f) => {
            clock.defer(() => {
              l.peer!.h?.frame(f);
              l.peer!.h?.batchEnd();
            });
            return true;
          },
          close: () => (l.h = null),
        };
        return l;
      };
      const la = mk();
      const lb = mk();
      la.peer = lb;
      lb.peer = la;
      const a = new Stack({ link: new PcapTap(la, file, { clock }), address: '198.18.2.1/24', clock });
      const b = new Stack({ link: lb, address: '198.18.2.2/24', clock });
      await settle(clock, a.ping('198.18.2.2'));
      const rx = b.createSocket('udp4');
      rx.bind(9);
      let got = 0;
      rx.on('message', () => got++);
      a.createSocket('udp4').send(Buffer.alloc(3000, 7), 9, '198.18.2.2');
      await clock.run(() => got === 1);
      await settle(clock, a.close());
      const out = execFileSync('tshark', ['-n', '-r', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(out).toMatch(/Echo \(ping\) request/);
      expect(out).toMatch(/UDP/);
      expect(out).not.toMatch(/ARP/);
      const bad = execFileSync(
        'tshark',
        ['-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-r', file, '-Y', '_ws.malformed || ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || icmp.checksum.status == "Bad"'],
        { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
      );
      expect(bad.trim()).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
