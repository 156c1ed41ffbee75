/**
 * Lab: the CLI's tap mode (in-process `run()`) on a TAP device in a throw-away namespace lab,
 * with the Linux kernel's TCP and curl as the client. Root + /dev/net/tun; skipped otherwise.
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab, labUnavailableReason } from '@hastack/tap';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRange, parseArgs, run, type Running } from '../../src/index.js';

const reason = labUnavailableReason();

describe.skipIf(reason !== null)('ha-http-server over TAP with curl', () => {
  let lab: Lab;
  let dir: string;
  let file: Buffer;
  let running: Running;
  let ip: string;

  beforeAll(async () => {
    lab = await Lab.create();
    dir = mkdtempSync(join(tmpdir(), 'ha-lab-'));
    file = randomBytes(5 * 1024 * 1024 + 3);
    writeFileSync(join(dir, 'file.bin'), file);
    ip = lab.addr(2);
    const name = `${lab.suffix}h`;
    running = await run(parseArgs(['--root', dir, '--tap', name, '--netns', lab.nsPath('switch'), '--bridge', lab.bridge, '--address', `${ip}/24`, '--port', '80', '--quiet']));
  });

  afterAll(async () => {
    await running?.stop();
    await lab?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

  it('curl downloads a file and 32 MiB of /gen/ intact', async () => {
    const f = await lab.exec('client', ['sh', '-c', `curl -sS --max-time 60 http://${ip}/file.bin | sha256sum`], { timeoutMs: 90_000 });
    expect(f.stdout.split(' ')[0]).toBe(sha(file));
    const size = 32 * 1024 * 1024;
    const g = await lab.exec('client', ['sh', '-c', `curl -sS --max-time 60 'http://${ip}/gen/32M?seed=5' | sha256sum`], { timeoutMs: 90_000 });
    const h = createHash('sha256');
    for (const c of generateRange(5, 0, size)) h.update(c);
    expect(g.stdout.split(' ')[0]).toBe(h.digest('hex'));
  });

  it('ranges, HEAD and connection reuse with curl', async () => {
    const r = await lab.exec('client', ['sh', '-c', `curl -sS -r 1000-1999 http://${ip}/file.bin | sha256sum`]);
    expect(r.stdout.split(' ')[0]).toBe(sha(file.subarray(1000, 2000)));
    const head = await lab.exec('client', ['curl', '-sS', '-I', `http://${ip}/file.bin`]);
    expect(head.stdout).toMatch(/^HTTP\/1\.1 200 OK/);
    expect(head.stdout).toContain(`Content-Length: ${file.length}`);
    // Two URLs in one curl run share one connection (keep-alive): one connect in total.
    const two = await lab.exec('client', ['curl', '-sS', '-o', '/dev/null', '-o', '/dev/null', '-w', '%{num_connects}\\n', `http://${ip}/file.bin`, `http://${ip}/gen/1000`]);
    expect(two.stdout.trim().split('\n')).toEqual(['1', '0']);
  });
});
