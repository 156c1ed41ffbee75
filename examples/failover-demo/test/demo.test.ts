/**
 * Runs the failover demo as a user would (the built CLI, `--size 32MiB`), and checks that it
 * reports a crash, a takeover, a stall under a second and a matching SHA-256, and exits 0; the
 * --json output and a usage error (exit 2).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));
const demo = fileURLToPath(new URL('../dist/demo.js', import.meta.url));

beforeAll(() => {
  // Incremental: a no-op when dist/ is current (scripts/test.sh builds before testing).
  execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-b', 'examples/failover-demo'], { cwd: root, stdio: 'inherit' });
}, 180_000);

describe('failover demo CLI', () => {
  it('memory demo, 32 MiB: crash, takeover, intact download, exit 0', () => {
    const r = spawnSync(process.execPath, [demo, '--size', '32MiB', '--seed', '4242'], { encoding: 'utf8', timeout: 120_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = r.stdout;
    expect(out).toMatch(/crashing node A at/);
    expect(out).toMatch(/100%\s+32\.0 MiB/);
    expect(out).toMatch(/restored 1 connection\(s\), resumed 1, errors 0/);
    expect(out).toMatch(/download 1: 33554432 of 33554432 bytes, HTTP 200, sha256 [0-9a-f]{64} == expected/);
    expect(out).toMatch(/RESULT: OK/);
    const stall = /stall:\s+([\d.]+) ms/.exec(out);
    expect(stall).not.toBeNull();
    expect(Number(stall![1])).toBeLessThan(1000);
  }, 150_000);

  it('--json and usage errors', () => {
    const r = spawnSync(process.execPath, [demo, '--size', '2MiB', '--seed', '9', '--json'], { encoding: 'utf8', timeout: 60_000 });
    expect(r.status).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j).toMatchObject({ ok: true, crashed: true, size: 2 * 1024 * 1024, seed: 9 });
    expect(j.downloads[0].sha256).toBe(j.downloads[0].expectedSha256);
    // CPU time of the transfer (the bench compares it with replication on and off).
    expect(j.cpuMs).toBeGreaterThan(0);
    const bad = spawnSync(process.execPath, [demo, '--size', 'lots'], { encoding: 'utf8' });
    expect(bad.status).toBe(2);
  }, 90_000);

  it('--no-replication: A replicates nothing, so a crash cannot be survived (and without one the download is intact)', () => {
    const on = JSON.parse(spawnSync(process.execPath, [demo, '--size', '2MiB', '--seed', '9', '--no-crash', '--json'], { encoding: 'utf8', timeout: 60_000 }).stdout);
    expect(on).toMatchObject({ ok: true, crashed: false });
    expect(on.checkpoints).toBeGreaterThan(0);
    const off = JSON.parse(spawnSync(process.execPath, [demo, '--size', '2MiB', '--seed', '9', '--no-crash', '--no-replication', '--json'], { encoding: 'utf8', timeout: 60_000 }).stdout);
    expect(off).toMatchObject({ ok: true, crashed: false, checkpoints: 0 });
    const crash = spawnSync(process.execPath, [demo, '--size', '2MiB', '--seed', '9', '--no-replication', '--json'], { encoding: 'utf8', timeout: 90_000 });
    expect(crash.status).toBe(1);
    expect(JSON.parse(crash.stdout)).toMatchObject({ ok: false, crashed: true, checkpoints: 0 });
  }, 150_000);
});
