/**
 * Lab: HA failover over TAP with Linux clients. Two ha-http-server processes in cluster mode
 * (A home of the virtual IP, B its successor), each on its own TAP device on the lab bridge; curl
 * in the client namespace downloads through the virtual IP; A is SIGKILLed mid-transfer; B takes
 * over (missed heartbeats, gratuitous ARP, restore, resume); curl exits 0 with the right SHA-256
 * and a receive gap well under one second, with default cluster settings. Root + /dev/net/tun.
 * (20 concurrent downloads: ha-tap-concurrent.test.ts.)
 */
import { type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '@hastack/tap';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildCli, endRun, expectedSha, skipReason as reason, startHaNode, writeLagMonitor } from './ha-lab.js';

/** Reads the body from stdin: SHA-256, bytes, longest gap between chunks; progress on stderr. */
const METER = `
const { createHash } = require('node:crypto');
const h = createHash('sha256'); let n = 0, last = 0, gap = 0, next = 1 << 20;
process.stdin.on('data', (c) => { const t = performance.now(); if (last) gap = Math.max(gap, t - last); last = t; h.update(c); n += c.length;
  if (n >= next) { process.stderr.write('P ' + n + '\\n'); next += 1 << 20; } });
process.stdin.on('end', () => process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex'), maxGapMs: gap }) + '\\n'));
`;


describe.skipIf(reason !== null)('HA over TAP: curl through the virtual IP, primary SIGKILLed', () => {
  let lab: Lab;
  let dir: string;
  let vip: string;
  const procs: ChildProcess[] = [];
  let logs: Record<string, string> = {};

  beforeAll(() => buildCli(), 180_000);

  afterEach(async () => {
    await endRun(procs, lab, dir);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  const startNode = (id: 'A' | 'B', host: number): Promise<ChildProcess> => startHaNode({ lab, dir, vip, id, host, logs, procs });

  /** Run curl (kernel TCP) in the client namespace, metered; `onProgress(bytes)` as the body arrives. */
  function curl(url: string, rate: string, onProgress: (n: number) => void = () => {}): Promise<{ code: number; bytes: number; sha256: string; maxGapMs: number; stderr: string }> {
    const meter = join(dir, 'meter.cjs');
    writeFileSync(meter, METER);
    const child = lab.spawn('client', 'bash', ['-c', `set -o pipefail; curl -sS --max-time 90 --limit-rate ${rate} '${url}' | ${process.execPath} ${meter}`]);
    let out = '';
    let err = '';
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      const m = /P (\d+)\n$/.exec(err);
      if (m) onProgress(Number(m[1]));
    });
    return new Promise((resolve) => {
      child.once('exit', (code) => {
        let r = { bytes: 0, sha256: '', maxGapMs: Infinity };
        try {
          r = JSON.parse(out.trim().split('\n').pop() ?? '{}');
        } catch {
          /* reported below */
        }
        resolve({ code: code ?? -1, ...r, stderr: err.split('\n').filter((l) => !l.startsWith('P ')).join('\n') });
      });
    });
  }

  async function setup(): Promise<{ a: ChildProcess; b: ChildProcess }> {
    lab = await Lab.create();
    dir = mkdtempSync(join(tmpdir(), 'ha-tap-'));
    logs = {};
    vip = lab.addr(100);
    const a = await startNode('A', 2);
    const b = await startNode('B', 3);
    return { a, b };
  }

  it('one 48 MiB download survives SIGKILL of the primary process; stall well under 1 s', async () => {
    const { a } = await setup();
    const size = 48 * 1024 * 1024;
    let killedAt = 0;
    const r = await curl(`http://${vip}/gen/${size}?seed=77`, '24M', (n) => {
      if (!killedAt && n >= 16 * 1024 * 1024) {
        killedAt = Date.now();
        a.kill('SIGKILL');
      }
    });
    expect(killedAt, `A was never killed; logs:\n${logs.A}`).toBeGreaterThan(0);
    expect(r.code, `curl failed: ${r.stderr}\nB:\n${logs.B}`).toBe(0);
    expect(r.bytes).toBe(size);
    expect(r.sha256).toBe(expectedSha(77, size));
    expect(logs.B).toMatch(/takeover \(failure\)/);
    expect(logs.B).toMatch(/resumed tcp:/);
    console.log(`HA over TAP: longest receive gap ${r.maxGapMs.toFixed(1)} ms across the SIGKILL`);
    expect(r.maxGapMs).toBeLessThan(1000);
  }, 150_000);
  // 20 concurrent curls across the SIGKILL: ha-tap-concurrent.test.ts.
});
