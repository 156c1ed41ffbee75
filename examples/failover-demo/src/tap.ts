/**
 * The --tap mode of the demo (root, /dev/net/tun, curl): the same failover with real processes
 * and the Linux kernel's TCP as the client.
 *
 *   client namespace: curl (kernel TCP) ── veth ── bridge ── TAP A: ha-http-server process, node A
 *                                                        └── TAP B: ha-http-server process, node B
 *
 * Both servers run the HA HTTP server CLI in cluster mode (`--cluster`), in their own processes,
 * with default cluster settings. curl downloads from the virtual IP through a meter (SHA-256,
 * longest gap between received chunks); at a seeded random point A's process gets SIGKILL.
 * Everything lives in a throw-away namespace lab (per-run names, 198.18.0.0/15, removed at the end).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateRange } from '@hastack/example-ha-http-server';
import { seeded, type ScenarioOptions } from './scenario.js';

const METER = `
const { createHash } = require('node:crypto');
const h = createHash('sha256'); let n = 0, last = 0, gap = 0, next = 1 << 20;
process.stdin.on('data', (c) => { const t = performance.now(); if (last) gap = Math.max(gap, t - last); last = t; h.update(c); n += c.length;
  if (n >= next) { process.stderr.write('P ' + n + ' ' + t.toFixed(1) + '\\n'); next += 1 << 20; } });
process.stdin.on('end', () => process.stdout.write(JSON.stringify({ bytes: n, sha256: h.digest('hex'), maxGapMs: gap }) + '\\n'));
`;

export async function runTapDemo(opts: ScenarioOptions): Promise<number> {
  const tap = await import('@hastack/tap');
  const why = tap.labUnavailableReason() ?? (tap.missingTools(['curl']).length > 0 ? 'curl is not installed' : null);
  if (why) {
    console.error(`demo --tap: ${why}`);
    return 1;
  }
  const size = opts.size ?? 256 * 1024 * 1024;
  const seed = opts.seed ?? 1;
  const crashFrac = opts.crashAt ?? 0.2 + 0.6 * seeded(seed)();
  const crashAt = Math.floor(size * crashFrac);
  const cli = fileURLToPath(new URL('../../ha-http-server/dist/cli.js', import.meta.url));
  const lab = await tap.Lab.create();
  const dir = mkdtempSync(join(tmpdir(), 'ha-demo-'));
  const procs: ChildProcess[] = [];
  const logs: Record<string, string> = { A: '', B: '' };
  try {
    const vip = lab.addr(100);
    const key = 'hex:' + Buffer.from(`${lab.suffix}-demo-key-material`).toString('hex');
    const start = (id: 'A' | 'B', host: number): Promise<ChildProcess> => {
      const mac = `02:00:00:00:01:0${host}`;
      const f = join(dir, `${id}.json`);
      writeFileSync(f, JSON.stringify({
        nodeId: id, key,
        home: id === 'A' ? [{ ip: vip, mac }] : [],
        failover: { successors: [id === 'A' ? 'B' : 'A'], failback: 'none' },
        applications: [{ name: 'http/1.1', protocol: 'tcp', ports: ['80'] }],
      }));
      const p = spawn(process.execPath, [cli, '--tap', `${lab.suffix}n${id.toLowerCase()}`, '--netns', lab.nsPath('switch'), '--bridge', lab.bridge, '--address', `${lab.addr(host)}/24`, '--mac', mac, '--port', '80', '--cluster', f], { stdio: ['ignore', 'pipe', 'pipe'] });
      procs.push(p);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`node ${id} did not come up:\n${logs[id]}`)), 15_000);
        const on = (b: Buffer): void => {
          logs[id] += b.toString();
          if ((id === 'A' && /takeover \(boot\)/.test(logs[id])) || (id === 'B' && /serving/.test(logs[id]))) {
            clearTimeout(timer);
            setTimeout(() => resolve(p), id === 'B' ? 500 : 0);
          }
        };
        p.stdout!.on('data', on);
        p.stderr!.on('data', on);
        p.once('exit', (code) => reject(new Error(`node ${id} exited (${code}):\n${logs[id]}`)));
      });
    };
    const a = await start('A', 2);
    await start('B', 3);
    console.log(`lab ${lab.suffix}: node A (pid ${a.pid}) holds ${vip}, node B is its successor; curl in the client namespace`);
    const h = createHash('sha256');
    for (const c of generateRange(seed, 0, size)) h.update(c);
    const expected = h.digest('hex');
    const meter = join(dir, 'meter.cjs');
    writeFileSync(meter, METER);
    const url = `http://${vip}/gen/${size}?seed=${seed}`;
    // The rate limit keeps the transfer long enough to watch (and to kill A mid-way).
    const child = lab.spawn('client', 'bash', ['-c', `set -o pipefail; curl -sS --max-time 300 --limit-rate 64M '${url}' | ${process.execPath} ${meter}`]);
    let out = '';
    let err = '';
    let next = 10;
    let killed = 0;
    child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr!.on('data', (b: Buffer) => {
      err += b.toString();
      for (const m of b.toString().matchAll(/P (\d+)/g)) {
        const n = Number(m[1]);
        while (n * 100 >= size * next && next <= 100) {
          console.log(`${String(next).padStart(3)}%  ${(n / 1048576).toFixed(1).padStart(7)} MiB${killed ? '  (served by B)' : ''}`);
          next += 10;
        }
        if (!killed && n >= crashAt) {
          killed = Date.now();
          a.kill('SIGKILL');
          console.log(`*** SIGKILL to node A (pid ${a.pid}) at ${(n / 1048576).toFixed(1)} MiB ***`);
        }
      }
    });
    const code: number = await new Promise((resolve) => child.once('exit', (c) => resolve(c ?? -1)));
    let r = { bytes: 0, sha256: '', maxGapMs: NaN };
    try {
      r = JSON.parse(out.trim().split('\n').pop() ?? '{}');
    } catch {
      /* reported below */
    }
    const ok = code === 0 && r.bytes === size && r.sha256 === expected;
    console.log('');
    console.log(`curl exit ${code}${code !== 0 ? `: ${err.split('\n').filter((l) => !l.startsWith('P ')).join(' ')}` : ''}`);
    console.log(`takeover:   ${/takeover \(failure\)/.test(logs.B) ? 'B took over' : 'no takeover by B'}; ${(logs.B.match(/resumed tcp:/g) ?? []).length} connection(s) resumed`);
    console.log(`stall:      longest gap in curl's receive ${r.maxGapMs.toFixed(1)} ms (wall clock)`);
    console.log(`download:   ${r.bytes} of ${size} bytes, sha256 ${r.sha256} ${r.sha256 === expected ? '== expected' : `!= expected ${expected}`}`);
    console.log(ok ? 'RESULT: OK' : 'RESULT: FAILED');
    return ok ? 0 : 1;
  } finally {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await lab.destroy();
    rmSync(dir, { recursive: true, force: true });
  }
}
