// Device lifecycle and typed errors against the real kernel: busy names, names of other devices,
// missing namespaces, missing privileges, non-persistence (closing or crashing frees the name).
import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HastackError } from '@hastack/stack';
import { Lab, TapLink } from '../../src/index.js';
import { reason, requireTools, waitFor } from './helpers.js';
import { mapOpenError } from '../../src/native.js';


function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HastackError);
    return (e as HastackError).code;
  }
  return undefined;
}

function links(ns: string): string {
  return execFileSync('ip', ['-n', ns, '-o', 'link', 'show'], { encoding: 'utf8' });
}

describe.skipIf(reason !== null)('TAP device lifecycle and errors (lab)', () => {
  let lab: Lab;
  beforeAll(async () => {
    requireTools(['setpriv', 'unshare']); // util-linux
    Lab.cleanupStale();
    lab = await Lab.create();
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  it('creates the device inside the namespace only, configured from the library, and removes it on close', () => {
    const name = `${lab.suffix}x`;
    const link = new TapLink({ name, netns: lab.switchNs, mtu: 9000, ifaceMac: '02:11:22:33:44:55', mac: '02:aa:bb:cc:dd:ee' });
    expect(link.name).toBe(name);
    expect(link.ifindex).toBeGreaterThan(0);
    expect(links(lab.switchNs)).toMatch(new RegExp(`${name}: <[^>]*UP[^>]*> mtu 9000`));
    expect(links(lab.switchNs)).toContain('02:11:22:33:44:55');
    expect(spawnSync('ip', ['link', 'show', name]).status).not.toBe(0); // not in our own namespace
    expect(Array.from(link.ifaceMac())).toEqual([2, 0x11, 0x22, 0x33, 0x44, 0x55]);
    expect(Array.from(link.mac!)).toEqual([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee]);
    link.setMtu(1400);
    expect(link.mtu).toBe(1400);
    expect(link.offloads.maxFrame).toBe(1414);
    link.setUp(false);
    expect(link.isUp()).toBe(false);
    link.setMac('02:11:22:33:44:66');
    expect(links(lab.switchNs)).toMatch(/mtu 1400.*02:11:22:33:44:66/);
    expect(codeOf(() => link.setMac('02:aa:bb:cc:dd:ee'))).toBe('ERR_INVALID_ARG_VALUE');
    link.close();
    link.close(); // idempotent
    expect(links(lab.switchNs)).not.toContain(name);
    expect(codeOf(() => link.setUp(true))).toBe('ERR_TAP_IO');
    expect(link.send(new Uint8Array(60))).toBe(false);
    // The name is free again at once.
    const again = new TapLink({ name, netns: lab.switchNs });
    again.close();
  });

  it('maps busy names, names of other devices, missing namespaces', () => {
    const name = `${lab.suffix}y`;
    const a = new TapLink({ name, netns: lab.switchNs });
    try {
      expect(codeOf(() => new TapLink({ name, netns: lab.switchNs }))).toBe('ERR_TAP_BUSY');
      expect(codeOf(() => new TapLink({ name, netns: lab.switchNs, mode: 'tun' }))).toBe('ERR_TAP_BUSY');
      expect(codeOf(() => new TapLink({ name: lab.bridge, netns: lab.switchNs }))).toBe('ERR_TAP_BUSY');
      expect(codeOf(() => new TapLink({ name: 't0', netns: `${lab.suffix}-nonexistent` }))).toBe('ERR_INVALID_ARG_VALUE');
      expect(codeOf(() => new TapLink({ name: 't0', netns: '/etc/hostname' }))).toBe('ERR_INVALID_ARG_VALUE');
    } finally {
      a.close();
    }
  });

  it('a crashed owner leaves nothing that blocks a restart under the same name', () => {
    const name = `${lab.suffix}z`;
    const addon = new URL('../../build/Release/hastack_tap.node', import.meta.url).pathname;
    const script = `const b=require(${JSON.stringify(addon)});new b.TapDevice({name:${JSON.stringify(name)},tun:false,vnetHdr:12,offload:1,netns:${JSON.stringify(lab.nsPath('switch'))}});process.kill(process.pid,'SIGKILL')`;
    const r = spawnSync(process.execPath, ['-e', script]);
    expect(r.signal).toBe('SIGKILL');
    const link = new TapLink({ name, netns: lab.switchNs, offloads: true });
    expect(link.name).toBe(name);
    link.close();
  });

  for (const txThread of [true, false]) it(`a device deleted under us (ip link del) stops polling and is reported, without spinning (writer thread ${txThread ? 'on' : 'off'})`, async () => {
    const ns = `${lab.suffix}-k9`;
    execFileSync('ip', ['netns', 'add', ns]);
    let link: TapLink | null = null;
    try {
      link = new TapLink({ name: `${lab.suffix}d`, netns: ns, txThread });
      let frames = 0;
      link.attach({ frame: () => frames++, batchEnd() {} });
      execFileSync('ip', ['-n', ns, 'link', 'del', link.name]);
      const cpu0 = process.cpuUsage();
      const t0 = Date.now();
      while (link.stats().deviceErrno === 0 && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
      expect(link.stats().deviceErrno).toBeGreaterThan(0);
      await new Promise((r) => setTimeout(r, 300));
      const cpu = process.cpuUsage(cpu0);
      // A spinning poll loop would burn ~all of the elapsed time.
      expect((cpu.user + cpu.system) / 1000).toBeLessThan((Date.now() - t0) * 0.8);
      expect(link.send(new Uint8Array(60))).toBe(true); // queued; the write fails and is counted
      link.flush(); // (with the writer thread: counted once the thread ran)
      const l = link;
      await waitFor(() => l.stats().txErrors > 0, 2000, 'the failed write to be counted');
      expect(l.stats().txErrors).toBe(1);
    } finally {
      link?.close();
      spawnSync('ip', ['netns', 'del', ns]);
    }
  });

  it('without /dev/net/tun opening fails with ERR_TAP_NO_DEVICE (private mount namespace hides it)', () => {
    const addon = new URL('../../build/Release/hastack_tap.node', import.meta.url).pathname;
    const script = `const b=require(${JSON.stringify(addon)});try{new b.TapDevice({name:'hsnodev0',tun:false,vnetHdr:0,offload:0,netns:''});console.log('opened')}catch(e){console.log(JSON.stringify({syscall:e.syscall,code:e.code,message:e.message}))}`;
    const r = spawnSync('unshare', ['-m', 'sh', '-c', `mount -t tmpfs none /dev/net && exec "$0" -e "$1"`, process.execPath, script], { encoding: 'utf8' });
    const e = JSON.parse(r.stdout.trim()) as { syscall: string; code: string; message: string };
    expect(e).toMatchObject({ syscall: 'open', code: 'ENOENT' });
    expect(mapOpenError(Object.assign(new Error(e.message), e), 'hsnodev0', '').code).toBe('ERR_TAP_NO_DEVICE');
  });

  it('without CAP_NET_ADMIN opening fails with ERR_TAP_PERMISSION', () => {
    const addon = new URL('../../build/Release/hastack_tap.node', import.meta.url).pathname;
    const script = `const b=require(${JSON.stringify(addon)});try{new b.TapDevice({name:'hsperm0',tun:false,vnetHdr:0,offload:0,netns:''});console.log('opened')}catch(e){console.log(e.syscall,e.code)}`;
    const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', process.execPath, '-e', script], { encoding: 'utf8' });
    const [syscall, code] = r.stdout.trim().split(' ');
    expect(syscall).toBe('open');
    expect(['EACCES', 'EPERM']).toContain(code);
    // ...which TapLink reports as:
    expect(mapOpenError(Object.assign(new Error('open /dev/net/tun: denied'), { syscall, code }), 'hsperm0', '').code).toBe('ERR_TAP_PERMISSION');
  });
});
