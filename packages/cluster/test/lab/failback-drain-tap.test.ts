/**
 * Lab: failback 'drain' over TAP with a Linux client (curl). Two ha-http-server processes in
 * cluster mode (A homes the virtual IP with failback 'drain', B its successor); curl downloads
 * through the virtual IP; A is SIGKILLed mid-way and B takes the download over; then A starts
 * again and takes the address back by gratuitous ARP while B keeps the download (drain): A
 * forwards the client's segments of it to B's MAC, B answers from the ARP-silent address. The
 * download must finish intact (a single RST would fail curl), and a new download must be served
 * by A. Root + /dev/net/tun + curl; skipped with the reason otherwise.
 */
import { type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '@hastack/tap';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, endRun, expectedSha, skipReason as reason, startHaNode, writeLagMonitor } from './ha-lab.js';

const MiB = 1024 * 1024;

describe.skipIf(reason !== null)("HA over TAP: failback 'drain' keeps a curl download on the successor", () => {
  let lab: Lab | undefined;
  let dir = '';
  const procs: ChildProcess[] = [];

  beforeAll(() => buildCli(), 180_000);

  afterEach(async () => {
    await endRun(procs, lab, dir);
    lab = undefined;
  });

  const until = async (cond: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 20));
    return cond();
  };

  it('A returns with drain: the old download completes on B through A, a new one is served by A', async () => {
    lab = await Lab.create();
    const l = lab;
    dir = mkdtempSync(join(tmpdir(), 'ha-drain-'));
    const vip = l.addr(100);
    const logs: Record<string, string> = {};
    const drainCfg = { failover: { successors: ['B'], failback: 'drain' } };
    const a = await startHaNode({ lab: l, dir, vip, id: 'A', host: 2, logs, procs, config: drainCfg });
    await startHaNode({ lab: l, dir, vip, id: 'B', host: 3, logs, procs });
    const macA = '02:00:00:00:01:02';
    const macB = '02:00:00:00:01:03';

    /** curl in the client namespace writing to body<i>; resolves with its exit code and stderr. */
    const curl = (i: number, url: string, rate?: string): Promise<{ code: number; stderr: string }> => {
      const out = join(dir, `body${i}`);
      const child = l.spawn('client', 'curl', ['-sS', '--max-time', '90', ...(rate ? ['--limit-rate', rate] : []), '-o', out, url]);
      let stderr = '';
      child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      return new Promise((resolve) => child.once('exit', (code) => resolve({ code: code ?? -1, stderr })));
    };
    const received = (i: number): number => {
      try {
        return statSync(join(dir, `body${i}`)).size;
      } catch {
        return 0;
      }
    };
    const sha = (i: number) => createHash('sha256').update(readFileSync(join(dir, `body${i}`))).digest('hex');
    const diag = () => `\nA:\n${(logs.A ?? '').slice(-2500)}\nB:\n${(logs.B ?? '').slice(-2500)}`;

    const size1 = 32 * MiB;
    const d1 = curl(1, `http://${vip}/gen/${size1}?seed=11`, '3M');
    expect(await until(() => received(1) >= 4 * MiB, 30_000), `download 1 never got going${diag()}`).toBe(true);
    a.kill('SIGKILL');
    expect(await until(() => /takeover \(failure\)/.test(logs.B), 10_000), `B never took over${diag()}`).toBe(true);
    const atTakeover = received(1);
    expect(await until(() => received(1) >= atTakeover + 2 * MiB, 15_000), `B is not serving download 1${diag()}`).toBe(true);

    // A comes back: failback 'drain'. It resolves only on a boot claim, so follow its log instead.
    const a2 = startHaNode({ lab: l, dir, vip, id: 'A', host: 2, logs, procs, config: drainCfg });
    a2.catch(() => {});
    expect(await until(() => /takeover \(failback\)/.test(logs.A ?? ''), 20_000), `A never got the address back${diag()}`).toBe(true);
    const atFailback = received(1);
    expect(atFailback, 'download 1 already finished before the failback: nothing to drain').toBeLessThan(size1 - 4 * MiB);
    expect(logs.B).toMatch(/release \(failback\)/);

    // The client now resolves the VIP to A (A's gratuitous ARP; B stays silent)...
    await new Promise((r) => setTimeout(r, 300));
    const neigh = await l.exec('client', ['ip', 'neigh', 'show', vip]);
    expect(neigh.stdout.toLowerCase(), neigh.stdout).toContain(macA);
    expect(neigh.stdout.toLowerCase()).not.toContain(macB);
    // ...so a new download goes to A.
    const size2 = 2 * MiB;
    const r2 = await curl(2, `http://${vip}/gen/${size2}?seed=12`);
    expect(r2.code, `download 2 failed: ${r2.stderr}${diag()}`).toBe(0);
    expect(sha(2)).toBe(expectedSha(12, size2));
    expect(logs.A).toMatch(new RegExp(`GET /gen/${size2} 200 ${size2}`)); // A's access log
    expect(logs.B).not.toMatch(new RegExp(`GET /gen/${size2} `));

    // The old download finishes intact, from B, after the failback.
    const r1 = await d1;
    expect(r1.code, `download 1 failed: ${r1.stderr}${diag()}`).toBe(0);
    expect(received(1)).toBe(size1);
    expect(sha(1)).toBe(expectedSha(11, size1));
    expect(existsSync(join(dir, 'body1'))).toBe(true);
    expect(logs.B).not.toMatch(/restore of .* failed|ended:/);
  }, 150_000);
});
