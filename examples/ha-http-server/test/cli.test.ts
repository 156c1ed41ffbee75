import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateRange, parseArgs, run, UsageError } from '../src/index.js';
import { request, sha256 } from './helpers.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'ha-cli-'));
  writeFileSync(join(dir, 'hello.txt'), 'hi\n');
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('parseArgs', () => {
  it('defaults to node:net on 127.0.0.1:8080', () => {
    const c = parseArgs(['--root', '/srv']);
    expect(c).toMatchObject({ root: '/srv', mode: 'kernel', host: '127.0.0.1', port: 8080, index: 'index.html', etag: 'mtime', generated: true });
  });

  it('parses hastack modes and options, --flag=value form too', () => {
    const c = parseArgs(['--root=/srv', '--port', '80', '--tap', 'hs0', '--netns', '/run/netns/x', '--bridge', 'br0', '--address', '198.18.0.10/24', '--gateway', '198.18.0.1', '--etag', 'sha256', '--idle-timeout', '250', '--no-index', '--no-gen', '--quiet']);
    expect(c).toMatchObject({ mode: 'tap', tap: 'hs0', netns: '/run/netns/x', bridge: 'br0', address: '198.18.0.10/24', gateway: '198.18.0.1', port: 80, etag: 'sha256', idleTimeout: 250, index: null, generated: false, quiet: true });
    expect(parseArgs(['--memory', '--address', '198.18.0.10/24', '--self-test', '4M'])).toMatchObject({ mode: 'memory', selfTest: 4 * 1024 * 1024, root: null });
  });

  it('reads a JSON config file; flags override it', () => {
    const f = join(dir, 'cfg.json');
    writeFileSync(f, JSON.stringify({ root: dir, port: 9000, mode: 'memory', address: '198.18.0.5/24', 'idle-timeout': 1000, etag: 'sha256' }));
    const c = parseArgs(['--config', f, '--port', '9001']);
    expect(c).toMatchObject({ root: dir, port: 9001, mode: 'memory', address: '198.18.0.5/24', idleTimeout: 1000, etag: 'sha256' });
  });

  it.each([
    [['--port', '70000']],
    [['--port']],
    [['--bogus', '1']],
    [['stray']],
    [['--memory']],
    [['--tap', 'x']],
    [['--address', '198.18.0.1']],
    [['--etag', 'md5']],
    [['--no-gen']],
    [['--bridge', 'br0']],
    [['--tap', 'x', '--address', '198.18.0.1/24', '--bridge', 'bad name!']],
  ])('refuses %j', (argv) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
  });

  it('cluster flags: --no-checkpointing, --snoop, --resume-snooped (config keys too); snooping needs --deterministic and --cluster', () => {
    const base = ['--tap', 'hs0', '--address', '198.18.0.10/24', '--cluster', '/x.json'];
    expect(parseArgs(base)).toMatchObject({ checkpointing: true, snoop: false, resumeSnooped: false, snoopQueue: 8 * 1024 * 1024 });
    expect(parseArgs([...base, '--deterministic', '--snoop', '--snoop-queue', '2M'])).toMatchObject({ snoopQueue: 2 * 1024 * 1024 });
    expect(() => parseArgs([...base, '--snoop-queue', '2T'])).toThrow(UsageError);
    expect(parseArgs([...base, '--no-checkpointing', '--deterministic', '--snoop'])).toMatchObject({ checkpointing: false, snoop: true, deterministic: true });
    expect(parseArgs([...base, '--deterministic', '--resume-snooped'])).toMatchObject({ checkpointing: true, snoop: false, resumeSnooped: true });
    const f = join(dir, 'snoop.json');
    writeFileSync(f, JSON.stringify({ checkpointing: false, snoop: true, deterministic: true }));
    expect(parseArgs([...base, '--config', f])).toMatchObject({ checkpointing: false, snoop: true });
    expect(() => parseArgs([...base, '--snoop'])).toThrow(/--deterministic/);
    expect(() => parseArgs([...base, '--resume-snooped'])).toThrow(/--deterministic/);
    expect(() => parseArgs(['--memory', '--address', '198.18.0.10/24', '--deterministic', '--snoop'])).toThrow(/need --cluster/);
    expect(() => parseArgs(['--memory', '--address', '198.18.0.10/24', '--no-checkpointing'])).toThrow(/need --cluster/);
    // --help lists them.
    let help = '';
    try {
      parseArgs(['--help']);
    } catch (e) {
      help = (e as Error).message;
    }
    expect(help).toMatch(/--no-checkpointing/);
    expect(help).toMatch(/--snoop /);
    expect(help).toMatch(/--resume-snooped/);
    expect(help).toMatch(/--snoop-queue BYTES/);
  });

  it('refuses a bad config file', () => {
    const f = join(dir, 'bad.json');
    writeFileSync(f, '{ nope');
    expect(() => parseArgs(['--config', f])).toThrow(/cannot read config/);
    writeFileSync(f, JSON.stringify({ colour: 'red' }));
    expect(() => parseArgs(['--config', f])).toThrow(/unknown option/);
  });
});

describe('run', () => {
  it('kernel mode serves files and /gen/ on 127.0.0.1', async () => {
    const r = await run(parseArgs(['--root', dir, '--port', '0', '--quiet']));
    try {
      const got = await request(r.address.port, '/hello.txt');
      expect(got.status).toBe(200);
      expect(got.body.toString()).toBe('hi\n');
      expect((await request(r.address.port, '/gen/1000?seed=2')).body.length).toBe(1000);
    } finally {
      await r.stop();
    }
  });

  it('memory mode self-test downloads /gen/ through a second hastack stack', async () => {
    const r = await run(parseArgs(['--memory', '--address', '198.18.0.10/24', '--port', '80', '--self-test', '1M', '--quiet']));
    try {
      const t = await r.selfTest!;
      expect(t.bytes).toBe(1024 * 1024);
      expect(t.sha256).toBe(t.expected);
      expect(t.sha256).toBe(sha256(Buffer.concat([...generateRange(1, 0, 1024 * 1024)])));
    } finally {
      await r.stop();
    }
  });

  it('cluster mode needs a hastack mode and a valid cluster config', async () => {
    const f = join(dir, 'cl.json');
    writeFileSync(f, JSON.stringify({ root: dir, cluster: { nodeId: 'a' } }));
    await expect(run(parseArgs(['--config', f]))).rejects.toThrow(/cluster mode needs --memory or --tap/);
    await expect(run(parseArgs(['--memory', '--address', '198.18.0.1/24', '--cluster', join(dir, 'missing.json')]))).rejects.toThrow(/cannot read cluster config/);
  });

  it('cluster mode with --snoop --no-checkpointing starts a snooping node and says so', async () => {
    const f = join(dir, 'snoop-cluster.json');
    writeFileSync(f, JSON.stringify({ nodeId: 'B', key: 'hex:' + '5a'.repeat(32), failover: { successors: ['A'] }, applications: [{ name: 'http/1.1', protocol: 'tcp', ports: ['80'] }] }));
    const lines: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    let r: Awaited<ReturnType<typeof run>> | undefined;
    try {
      r = await run(parseArgs(['--memory', '--address', '198.18.0.3/24', '--port', '80', '--cluster', f, '--deterministic', '--snoop', '--no-checkpointing']));
    } finally {
      process.stderr.write = orig;
      await r?.stop();
    }
    const out = lines.join('');
    expect(out).toMatch(/cluster: checkpoint replication off/);
    expect(out).toMatch(/cluster: snooping the segment/);
    expect(out).toMatch(/serving \(generated only\) on http:\/\/198\.18\.0\.3:80\//);
  });
});
