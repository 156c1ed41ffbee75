// The child-process plumbing of the harness: JSON-line peers, waits that are bounded, errors that surface.
import { describe, expect, it } from 'vitest';
// @ts-expect-error plain ESM module without types
import { runCmd, runPeer, startPeer } from '../lib/proc.mjs';

const PEER = '../test/fixtures/lines-peer.mjs';

describe('peers', () => {
  it('next() returns matching JSON lines in order and skips non-JSON output', async () => {
    const p = startPeer(PEER, ['--mode', 'wait']);
    expect(await p.next((l: { ready?: boolean }) => l.ready === true, 10_000)).toEqual({ ready: true });
    expect(await p.next((l: { n?: number }) => l.n !== undefined, 10_000)).toEqual({ n: 1 });
    expect(await p.next((l: { n?: number }) => l.n !== undefined, 10_000)).toEqual({ n: 2 });
    expect(p.stderr).toContain('[non-JSON stdout] not json');
    expect(await p.stop()).toBe(0);
  });
  it('runPeer returns the result, and throws the peer-reported error', async () => {
    expect(await runPeer(PEER, ['--mode', 'result', '--value', '42'], { timeoutMs: 10_000 })).toEqual({ value: 42 });
    await expect(runPeer(PEER, ['--mode', 'error'], { timeoutMs: 10_000 })).rejects.toThrow('asked to fail');
  });
  it('a peer that exits before the expected line rejects with its exit code, not a hang', async () => {
    await expect(runPeer(PEER, ['--mode', 'exit'], { timeoutMs: 10_000 })).rejects.toThrow(/exited \(3\)/);
  });
  it('a wait is bounded: no matching line within the time rejects, and stop() ends the child', async () => {
    const p = startPeer(PEER, ['--mode', 'wait']);
    await expect(p.next((l: { never?: boolean }) => l.never === true, 300)).rejects.toThrow(/no expected line within 300 ms/);
    expect(await p.stop()).toBe(0);
  });
});

describe('runCmd', () => {
  it('collects output and the exit code, and kills at the time limit', async () => {
    const ok = await runCmd(process.execPath, ['-e', 'console.log("hi"); process.exit(4)']);
    expect(ok.code).toBe(4);
    expect(ok.stdout).toBe('hi\n');
    const slow = await runCmd(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { timeoutMs: 200 });
    expect(slow.signal).toBe('SIGKILL');
  });
});
