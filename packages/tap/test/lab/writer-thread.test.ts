// TapLink's native writer thread (txThread) against the kernel: frames written by the thread arrive
// complete and in order at a second TAP through the bridge; close() while the thread is busy returns
// promptly and removes the device; a process exiting (process.exit, or its event loop ending) with
// the thread running exits cleanly, and a SIGKILLed one leaves no device behind.
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Lab } from '../../src/index.js';
import { udpFrame } from './frames.js';
import { reason, waitFor } from './helpers.js';

const distIndex = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

function deviceExists(lab: Lab, name: string): boolean {
  try {
    execFileSync('ip', ['-n', lab.switchNs, 'link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runs `body` in a child node process with `lab`'s switch namespace path; resolves with its exit. */
function child(lab: Lab, body: string, onLine?: (line: string, kill: (s: NodeJS.Signals) => void) => void): Promise<{ code: number | null; signal: string | null; out: string; ms: number }> {
  const code = `import(${JSON.stringify(distIndex)}).then(async (m) => { const ns = ${JSON.stringify(lab.nsPath('switch'))}; ${body} }).catch((e) => { console.error(e); process.exit(3); });`;
  const t0 = Date.now();
  const p = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  const timer = setTimeout(() => p.kill('SIGKILL'), 20_000);
  p.stdout!.on('data', (d: Buffer) => {
    const lines = (out + d.toString()).split('\n');
    out += d.toString();
    for (const l of lines.slice(0, -1)) onLine?.(l, (s) => p.kill(s));
  });
  return new Promise((resolve) => {
    p.once('exit', (c, s) => {
      clearTimeout(timer);
      resolve({ code: c, signal: s, out, ms: Date.now() - t0 });
    });
  });
}

// A child that opens a TAP with the writer thread and keeps it busy sending UDP frames.
// Its frames are lab-subnet UDP to a MAC nobody has (the bridge floods them; every host drops them).
let frameBytes = '';
const busySender = (name: string, then: string) => `
  const link = new m.TapLink({ name: ${JSON.stringify(name)}, netns: ns, txThread: true, offloads: false });
  link.attach({ frame() {}, batchEnd() {} });
  const f = Uint8Array.from(${frameBytes});
  let sent = 0;
  const pump = () => { for (let i = 0; i < 512; i++) if (link.send(f)) sent++; link.flush(); };
  const t = setInterval(pump, 1);
  pump();
  console.log('open ' + link.name);
  setTimeout(() => { ${then} }, 150);
`;

describe.skipIf(reason !== null)('TapLink writer thread (lab)', () => {
  let lab: Lab;
  beforeAll(async () => {
    Lab.cleanupStale();
    lab = await Lab.create();
    const f = udpFrame({ dstMac: new Uint8Array([2, 0, 0, 0, 0x5e, 1]), srcMac: new Uint8Array([2, 0, 0, 0, 0x5e, 2]), src: lab.addr(34), dst: lab.addr(35), sport: 9, dport: 9, payload: new Uint8Array(1400).fill(0xab) });
    frameBytes = JSON.stringify(Array.from(f));
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  for (const offloads of [false, true]) {
    it(`frames written by the thread cross the bridge complete and in order (offloads ${offloads ? 'on' : 'off'})`, async () => {
      const a = lab.addTap({ offloads, txThread: true });
      const b = lab.addTap({ offloads, txThread: true });
      expect(a.txThread).toBe(true);
      const src = lab.addr(30);
      const dst = lab.addr(31);
      const got: number[] = [];
      let bad = 0;
      a.attach({ frame() {}, batchEnd() {} });
      b.attach({
        frame(d) {
          if (d[12] !== 8 || d[13] !== 0 || d[23] !== 17) return;
          const n = (d[42] << 24) | (d[43] << 16) | (d[44] << 8) | d[45];
          for (let i = 46; i < d.length; i++) if (d[i] !== ((n + i) & 255)) bad++;
          got.push(n);
        },
        batchEnd() {},
      });
      // Bursts of 200 frames (below the receiving TAP's 1000-frame queue), 20 bursts.
      const total = 4000;
      const payload = new Uint8Array(1200);
      for (let n = 0; n < total; n++) {
        const v = new DataView(payload.buffer);
        v.setUint32(0, n);
        for (let i = 4; i < payload.length; i++) payload[i] = (n + 42 + i) & 255;
        const f = udpFrame({ dstMac: b.mac!, srcMac: a.mac!, src, dst, sport: 7000, dport: 7001, payload });
        expect(a.send(f, offloads ? { csumStart: 34, csumOffset: 6 } : undefined)).toBe(true);
        if (n % 200 === 199) {
          a.flush();
          await waitFor(() => got.length >= n + 1 - 0, 5000, `burst ending at ${n}`);
        }
      }
      expect(bad).toBe(0);
      expect(got).toEqual(Array.from({ length: total }, (_, i) => i));
      const s = a.stats();
      expect(s.txFrames).toBe(total);
      expect(s.txDrops + s.txErrors).toBe(0);
      a.close();
      b.close();
    });
  }

  it('close() while the thread is busy returns promptly and the device goes away', async () => {
    const a = lab.addTap({ offloads: false, txThread: true });
    a.attach({ frame() {}, batchEnd() {} });
    const f = udpFrame({ dstMac: new Uint8Array([2, 0, 0, 0, 0, 9]), srcMac: a.mac!, src: lab.addr(32), dst: lab.addr(33), sport: 1, dport: 2, payload: new Uint8Array(1400) });
    for (let i = 0; i < 1000; i++) a.send(f);
    a.flush(); // the thread is now writing up to 1000 frames
    const t0 = Date.now();
    a.close();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(deviceExists(lab, a.name)).toBe(false);
    expect(() => a.setUp(true)).toThrow(/closed/);
    a.close(); // idempotent
  });

  it('a process that calls process.exit() with the thread busy exits cleanly; the device is gone', async () => {
    const name = `${lab.suffix}w0`;
    const r = await child(lab, busySender(name, 'process.exit(0);'));
    expect(r.out).toContain(`open ${name}`);
    expect({ code: r.code, signal: r.signal }).toEqual({ code: 0, signal: null });
    expect(deviceExists(lab, name)).toBe(false);
  });

  it('a process whose event loop ends (device closed, or unref()ed and never closed) exits cleanly', async () => {
    const n1 = `${lab.suffix}w1`;
    const r1 = await child(lab, busySender(n1, 'clearInterval(t); link.close(); console.log("closed " + sent);'));
    expect({ code: r1.code, signal: r1.signal }).toEqual({ code: 0, signal: null });
    expect(r1.out).toMatch(/closed \d+/);
    const n2 = `${lab.suffix}w2`;
    const r2 = await child(lab, busySender(n2, 'clearInterval(t); link.unref(); console.log("unref");'));
    expect({ code: r2.code, signal: r2.signal }).toEqual({ code: 0, signal: null });
    expect(r2.out).toContain('unref');
    expect(deviceExists(lab, n1)).toBe(false);
    expect(deviceExists(lab, n2)).toBe(false);
  });

  it('a SIGKILLed process with the thread busy leaves no device behind (the name is free again)', async () => {
    const name = `${lab.suffix}w3`;
    let seen = false;
    const r = await child(lab, busySender(name, '/* keep sending until killed */'), (line, kill) => {
      if (line.startsWith('open ')) {
        seen = true;
        setTimeout(() => kill('SIGKILL'), 100);
      }
    });
    expect(seen).toBe(true);
    expect(r.signal).toBe('SIGKILL');
    await waitFor(() => !deviceExists(lab, name), 3000, 'the device to disappear');
    const again = lab.addTap({ name, txThread: true });
    expect(again.name).toBe(name);
    again.close();
  });
});
