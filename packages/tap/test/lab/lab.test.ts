// The lab library itself: nothing leaks into the root namespace, destroy() removes everything,
// SIGTERM tears a lab down, and a SIGKILLed lab is found and removed by Lab.cleanupStale().
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { Lab } from '../../src/index.js';
import { reason } from './helpers.js';

const rootState = () =>
  ['link', 'addr', 'route'].map((o) => execFileSync('ip', ['-o', o, 'show'], { encoding: 'utf8' }).replace(/\s+/g, ' ')).join('\n');
const labNamespaces = (suffix: string) => readdirSync('/var/run/netns').filter((n) => n.startsWith(suffix));
const distIndex = fileURLToPath(new URL('../../dist/index.js', import.meta.url));

/** Starts a child process that builds a lab (from the built package) and prints its suffix. */
function childLab(): Promise<{ pid: number; suffix: string; kill(sig: NodeJS.Signals): Promise<void> }> {
  const code = `import(${JSON.stringify(distIndex)}).then(async (m) => { const lab = await m.Lab.create(); lab.addTap({}); console.log(lab.suffix); setInterval(() => {}, 1000); });`;
  const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) {
        resolve({
          pid: child.pid!,
          suffix: out.trim(),
          kill: (sig) =>
            new Promise<void>((r) => {
              child.once('exit', () => r());
              child.kill(sig);
            }),
        });
      }
    });
    child.once('exit', (c) => reject(new Error(`child lab exited early (${c})`)));
  });
}

describe.skipIf(reason !== null)('the Lab library (lab)', () => {
  it('builds inside namespaces only and destroy() removes everything', async () => {
    Lab.cleanupStale();
    const before = rootState();
    const lab = await Lab.create({ loss: 0.01 });
    try {
      expect(lab.suffix).toMatch(/^hs[0-9a-f]{6}$/);
      lab.addTap();
      lab.addTun();
      const k = lab.addKernelHost();
      expect(k.ip).toBe(lab.addr(200));
      expect(labNamespaces(lab.suffix).sort()).toEqual([`${lab.suffix}-cl`, `${lab.suffix}-k0`, `${lab.suffix}-sw`]);
      expect(rootState()).toBe(before);
      const r = await lab.exec(k.ns, ['ping', '-c', '1', '-W', '2', lab.clientIp], { allowFail: true });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      // Every address any namespace holds is in 198.18.0.0/15.
      for (const ns of labNamespaces(lab.suffix)) {
        const addrs = execFileSync('ip', ['-n', ns, '-o', '-4', 'addr', 'show'], { encoding: 'utf8' });
        for (const m of addrs.matchAll(/inet (\S+)\//g)) if (m[1] !== '127.0.0.1') expect(m[1]).toMatch(/^198\.1[89]\./);
      }
    } finally {
      await lab.destroy();
    }
    expect(labNamespaces(lab.suffix)).toEqual([]);
    expect(existsSync(`/run/hastack-lab/${lab.suffix}`)).toBe(false);
    expect(rootState()).toBe(before);
    await lab.destroy(); // idempotent
    expect(() => lab.addTap()).toThrow(/destroyed/);
  });

  it.skipIf(!existsSync(distIndex))('SIGTERM tears a lab down; a SIGKILLed lab is removed by cleanupStale(), a live one is kept', async () => {
    const a = await childLab();
    expect(labNamespaces(a.suffix)).toHaveLength(2);
    await a.kill('SIGTERM');
    expect(labNamespaces(a.suffix)).toEqual([]);

    const b = await childLab();
    const c = await childLab();
    await b.kill('SIGKILL');
    expect(labNamespaces(b.suffix)).toHaveLength(2); // nothing ran on SIGKILL
    const removed = Lab.cleanupStale();
    expect(removed.filter((n) => n.startsWith(b.suffix)).sort()).toEqual([`${b.suffix}-cl`, `${b.suffix}-sw`]);
    expect(removed.filter((n) => n.startsWith(c.suffix))).toEqual([]);
    expect(labNamespaces(c.suffix)).toHaveLength(2); // its owner is alive
    await c.kill('SIGTERM');
    expect(labNamespaces(c.suffix)).toEqual([]);
  });
});
