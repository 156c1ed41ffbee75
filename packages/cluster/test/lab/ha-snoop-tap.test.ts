/**
 * Lab: snooped takeover over TAP (issue 6 acceptance: "the same where only the snooper saw the
 * connections (primary checkpointing off)"). Two ha-http-server processes in cluster mode on TAP
 * devices of the lab bridge: A homes the virtual IP and replicates NO checkpoints
 * (`--no-checkpointing`); B is its successor and snoops the segment (`--snoop`). Both serve
 * byte-identical responses (`--deterministic`), which the replay needs.
 *
 * The Linux bridge is made a hub: with `ageing_time 0` it keeps no learned addresses, so it floods
 * every unicast frame to every port and B's TAP gets the frames between curl and A (without it B's
 * snooper sees none: checked). B's stack hands frames not addressed to its MAC to the ConnectionSnooper.
 *
 * curl (kernel TCP: SACK, timestamps, window scaling, delayed ACKs) downloads through the virtual
 * IP; A is SIGKILLed mid-transfer; B detects the failure, claims the address, and resumes the
 * connection from the snooped state alone: it replays the request into its own server and sends
 * the output from the client's ACK on. Asserted: curl exits 0, the SHA-256 is right, and B's log
 * says the connection was restored from a snooped state (snoopRestored ≥ 1, replicatedRestored 0,
 * the takeover had 0 replicated checkpoints). Five cases: one download; three concurrent ones;
 * twenty concurrent ones; two files under --root (the replay reads the file); and a third process
 * C that snoops instead of B and hands its states to B by SNOOP_STATE (B runs `--resume-snooped`).
 * Root + /dev/net/tun.
 */
import { type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Lab } from '@hastack/tap';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { generateRange } from '../../../../examples/ha-http-server/src/objects.js';
import { buildCli, endRun, expectedSha, skipReason as reason, startHaNode, writeLagMonitor } from './ha-lab.js';

/**
 * Failure detection: heartbeats every 50 ms (the default) but 8 missed beats (400 ms) instead of 4.
 * Here two or three server processes, curl and the kernel's bridge share the machine's cores, and
 * every snooper handles as many frames as the primary: with the default 200 ms, a primary stalled
 * while new downloads start was declared dead while alive in 3 of about 50 runs at load 6-11 on
 * 2 cores (a false failover; B then resumed the live connections from their snooped state, and
 * the curls still completed). That is not what this test is about; ha-tap.test.ts covers the
 * default detection. HA_TAP_DETECTION="50x4" ("intervalMs x beats") runs it with the defaults.
 */
const det = /^(\d+)x(\d+)$/.exec(process.env.HA_TAP_DETECTION ?? '50x8');
const config = det ? { heartbeatIntervalMs: Number(det[1]), missedBeats: Number(det[2]) } : {};

/** Preload for the server processes: event-loop delay every 250 ms on stderr (shown on failure). */

describe.skipIf(reason !== null)('HA over TAP, snooped takeover: primary checkpointing off, backup snooping a hub bridge', () => {
  let lab: Lab;
  let dir: string;
  let vip: string;
  const procs: ChildProcess[] = [];
  let logs: Record<string, string> = {};
  /** When B first logged a failure takeover (ms since epoch). */
  let failoverAt = 0;

  beforeAll(() => buildCli(), 180_000);

  afterEach(async () => {
    await endRun(procs, lab, dir);
  });
  afterAll(async () => {
    await lab?.destroy();
  });

  /**
   * A (no checkpointing) and B (its successor); B snoops itself, or (`third`) a third process C
   * snoops and hands its states to B by SNOOP_STATE, and B only resumes them (`--resume-snooped`).
   */
  async function setup(third: boolean, extra: string[] = []): Promise<{ a: ChildProcess; b: ChildProcess }> {
    lab = await Lab.create();
    logs = {};
    failoverAt = 0;
    vip = lab.addr(100);
    // The hub: with an ageing time of 0 the bridge keeps no learned MAC, so it floods every frame
    // to every port (inside the lab's switch namespace only).
    await lab.exec('switch', ['ip', 'link', 'set', lab.bridge, 'type', 'bridge', 'ageing_time', '0']);
    const mon = writeLagMonitor(dir);
    const nodeArgs = ['--import', mon];
    // Only this run's B: a killed process of the previous test can still deliver buffered output.
    const mine = logs;
    const onOutput = (log: string) => {
      if (logs === mine && !failoverAt && /takeover \(failure\)/.test(log)) failoverAt = Date.now();
    };
    const common = { lab, dir, vip, logs, procs, nodeArgs, config };
    const a = await startHaNode({ ...common, id: 'A', host: 2, cliArgs: ['--deterministic', '--no-checkpointing', ...extra] });
    const b = await startHaNode({ ...common, id: 'B', host: 3, onOutput, cliArgs: ['--deterministic', third ? '--resume-snooped' : '--snoop', ...extra] });
    if (third) await startHaNode({ ...common, id: 'C', host: 4, cliArgs: ['--deterministic', '--snoop', ...extra] });
    // The snooper's TAP queue (the kernel's tun ring, txqueuelen frames, 500 by default) holds
    // ~40 ms of this traffic: on a busy machine a stalled snooping process would lose frames. A
    // capture port gets a deeper queue (4096 frames, ~0.4 s at 16 MB/s) (docs/cluster.md, "Snooped takeover over TAP").
    // Not deeper: frames queued there delay the heartbeats behind them too.
    await lab.exec('switch', ['ip', 'link', 'set', `${lab.suffix}n${third ? 'c' : 'b'}`, 'txqueuelen', '4096']);
    return { a, b };
  }

  /** `n` curls in parallel in the client namespace, each writing its body to a file. */
  function curls(urls: string[], rate: string): Promise<{ code: number; stderr: string }[]> {
    const script = urls
      .map((u, i) => `( curl -sS --max-time 25 --limit-rate ${rate} -o '${join(dir, `body${i}`)}' '${u}' 2>'${join(dir, `err${i}`)}'; echo $? > '${join(dir, `rc${i}`)}' ) &`)
      .join('\n');
    const child = lab.spawn('client', 'bash', ['-c', `${script}\nwait`]);
    return new Promise((resolve) => {
      child.once('exit', () => {
        const read = (f: string) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
        resolve(urls.map((_, i) => ({ code: Number(read(`rc${i}`).trim() || -1), stderr: read(`err${i}`) })));
      });
    });
  }

  const received = (i: number): number => {
    try {
      return statSync(join(dir, `body${i}`)).size;
    } catch {
      return 0;
    }
  };
  const fileSha = (i: number): string => createHash('sha256').update(readFileSync(join(dir, `body${i}`))).digest('hex');

  /** The last `ha restored=..` counters B printed. */
  function haCounters(): Record<string, number> {
    const all = [...logs.B.matchAll(/\(ha ([^)]*)\)/g)];
    const last = all.at(-1)?.[1] ?? '';
    return Object.fromEntries([...last.matchAll(/(\w+)=(\d+)/g)].map((m) => [m[1], Number(m[2])]));
  }

  /**
   * Download `n` × `size` bytes, SIGKILL A once every download is under way and `fraction` is
   * through. `files`: the bodies are files under --root (the replay then needs fs I/O) instead
   * of /gen/ objects.
   */
  async function run(n: number, size: number, rate: string, fraction: number, third = false, files = false): Promise<void> {
    dir = mkdtempSync(join(tmpdir(), 'ha-snoop-tap-'));
    const seeds = Array.from({ length: n }, (_, i) => 300 + i);
    if (files) {
      mkdirSync(join(dir, 'www'));
      for (const s of seeds) writeFileSync(join(dir, 'www', `f${s}.bin`), Buffer.concat([...generateRange(s, 0, size)]));
    }
    const { a } = await setup(third, files ? ['--root', join(dir, 'www')] : []);
    const done = curls(seeds.map((s) => (files ? `http://${vip}/f${s}.bin` : `http://${vip}/gen/${size}?seed=${s}`)), rate);
    let finished = false;
    void done.then(() => (finished = true));
    let killedAt = 0;
    let atKill = 0;
    const deadline = Date.now() + 20_000;
    while (!killedAt && !finished && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
      const got = seeds.map((_, i) => received(i));
      const total = got.reduce((t, x) => t + x, 0);
      if (got.every((x) => x > 0) && total >= n * size * fraction) {
        killedAt = Date.now();
        atKill = total;
        a.kill('SIGKILL');
      }
    }
    // The longest time no download grew after the kill (polled every 10 ms): the takeover's stall.
    let stall = 0;
    let last = seeds.map((_, i) => received(i));
    let lastGrowth = Date.now();
    while (killedAt && !finished) {
      await new Promise((r) => setTimeout(r, 10));
      const now = seeds.map((_, i) => received(i));
      if (now.some((x, i) => x > last[i])) {
        stall = Math.max(stall, Date.now() - lastGrowth);
        lastGrowth = Date.now();
      }
      last = now;
    }
    const rs = await done;
    if (killedAt) console.log(`snooped takeover over TAP (${n} download(s)): longest pause after the SIGKILL ${stall} ms`);
    const diag = `\nA:\n${logs.A.slice(-1500)}\nB:\n${logs.B.slice(-4000)}${third ? `\nC:\n${logs.C.slice(-3000)}` : ''}`;
    // A takeover while A was alive (its heartbeats late on a starved machine) is a false failover,
    // not what this test is about: say so (HA_TAP_DETECTION relaxes detection).
    expect(failoverAt === 0 || (killedAt > 0 && failoverAt >= killedAt), `B took over while A was alive (false failover): killed at ${killedAt}, B took over at ${failoverAt}${diag}`).toBe(true);
    expect(killedAt, `A was never killed${diag}`).toBeGreaterThan(0);
    expect(atKill, 'the kill came mid-transfer').toBeLessThan(n * size);
    for (let i = 0; i < n; i++) {
      expect(rs[i].code, `curl ${i} failed: ${rs[i].stderr}${diag}`).toBe(0);
      expect(received(i), `download ${i}${diag}`).toBe(size);
      expect(fileSha(i), `download ${i}`).toBe(expectedSha(seeds[i], size));
    }
    // A replicated nothing; B restored every download from the snooped state alone.
    expect(logs.A).toMatch(/checkpoint replication off/);
    expect(logs[third ? 'C' : 'B']).toMatch(/snooping the segment/);
    const tk = /takeover \(failure\) of [\d.]+ at epoch \d+; restoring (\d+) connection\(s\), (\d+) snooped state\(s\)/.exec(logs.B);
    expect(tk, `no failure takeover on B${diag}`).not.toBeNull();
    expect(Number(tk![1]), 'replicated checkpoints at takeover').toBe(0);
    if (third) {
      // B does not snoop: the states came from C after B's claim.
      expect(Number(tk![2])).toBe(0);
      const fromC = [...logs.B.matchAll(/cluster: (\d+) snooped state\(s\) from C/g)].reduce((t, m) => t + Number(m[1]), 0);
      expect(fromC, `SNOOP_STATE from C${diag}`).toBeGreaterThanOrEqual(n);
      expect(logs.C).not.toMatch(/takeover \(failure\)/);
    } else expect(Number(tk![2]), 'snooped states at takeover').toBeGreaterThanOrEqual(n);
    const c = haCounters();
    expect(c.snoopRestored, `B's counters${diag}`).toBeGreaterThanOrEqual(n);
    expect(c.replicatedRestored).toBe(0);
    expect(c.resumed).toBeGreaterThanOrEqual(n);
    expect(c.restoreErrors).toBe(0);
    expect(logs.B.match(/cluster: resumed tcp:/g)?.length ?? 0).toBeGreaterThanOrEqual(n);
    if (process.env.HA_LAB_DEBUG) console.log(`killed at ${atKill} bytes\n${diag}`);
  }

  it('one 32 MiB download survives SIGKILL of the primary, resumed from the snooped state only', () => run(1, 32 * 1024 * 1024, '16M', 0.3), 60_000);

  it('3 concurrent 12 MiB downloads survive SIGKILL of the primary, each resumed from its snooped state', () => run(3, 12 * 1024 * 1024, '6M', 0.3), 60_000);

  it('files under --root (the replay needs fs I/O before the restore; HaNode holds, not resets, the client segments meanwhile): 2 downloads of 16 MiB complete', () => run(2, 16 * 1024 * 1024, '8M', 0.3, false, true), 60_000);

  // 20 concurrent snooped downloads (issue 6: "the same with 20 concurrent downloads"): 6 of 6 runs
  // passed at load 5-6 on 2 cores with 50 ms x 8 (2 of 3 with the default 200 ms: a false
  // failover while the 20 downloads started). ~8 s. HA_SNOOP_TAP_20=0 skips it.
  it.skipIf(process.env.HA_SNOOP_TAP_20 === '0')('20 concurrent 8 MiB downloads survive SIGKILL of the primary, each resumed from its snooped state', () => run(20, 8 * 1024 * 1024, '2M', 0.3), 90_000);

  it('a third process C snoops and hands its states to the successor B (SNOOP_STATE); 2 downloads of 16 MiB complete', () => run(2, 16 * 1024 * 1024, '8M', 0.3, true), 60_000);
});
