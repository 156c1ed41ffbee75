/**
 * SCTP throughput next to usrsctp's own tool: a usrsctp `tsctp` server in the lab's client
 * namespace (SCTP over raw IPv4; the kernel has no SCTP module) receives N messages once from
 * tsctp's own client (switch namespace, bridge address: the reference) and once from a hastack peer
 * process on a TAP device, alternating; both figures are what the tsctp server measured.
 * Replicated SCTP failover (seed 004): bench/peers/sctp-failover.mjs runs the replicated association
 * in memory on a virtual clock (deterministic, so one run each) and reports how long the outside
 * peer needed to leave the dead primary's address and the longest silence it saw; the reference is
 * the same peer without RFC 7829 PF, i.e. RFC 9260's default path failover. The cross-process
 * variant against usrsctp is timed by the SCTP lab test (docs/sctp-replication.md).
 */
import { existsSync } from 'node:fs';
import { measurement, skippedMeasurement, Samples } from '../lib/scenario.mjs';
import { runPeer, sleep } from '../lib/proc.mjs';

export const id = 'sctp';
export const title = 'SCTP (usrsctp tsctp)';
export const targets = [];
const BIN = '/usr/lib/usrsctp';
const LEN = 1400;

const DEFS = {
  tput: { id: 'sctp-throughput', name: `one association into a tsctp server (${LEN}-byte messages)`, unit: 'Mbit/s', better: 'higher' },
  failover: { id: 'sctp-failover', name: 'replicated association (seed 004): longest silence the peer sees after the primary dies (in memory, virtual clock)', unit: 'ms', better: 'lower' },
  moved: { id: 'sctp-failover-moved', name: 'replicated association: time until the peer marks the dead primary address PF/inactive', unit: 'ms', better: 'lower' },
};

export async function prerequisite(ctx) {
  if (ctx.tapReason) return ctx.tapReason;
  if (!existsSync(`${BIN}/tsctp`)) return `usrsctp's tsctp is not installed (${BIN}/tsctp; Debian libusrsctp-examples)`;
  return null;
}

export function skippedMeasurements(reason) {
  return Object.values(DEFS).map((d) => skippedMeasurement(d, reason));
}

const RESULT_RE = /^\d+, \d+, \d+, \d+, [\d.]+, [\d.]+, \d+$/;

export async function run(ctx) {
  const { quick, reps, log } = ctx;
  const lab = await ctx.getLab();
  // 80,000 made usrsctp's own tsctp client stall on this machine (no result within 60 s); 20,000 is what the SCTP lab test uses.
  const n = quick ? 10_000 : 20_000;
  const S = new Samples();
  const srv = lab.spawn('client', `${BIN}/tsctp`, ['-E', '9900']);
  let out = '';
  srv.stdout.on('data', (d) => (out += d.toString('latin1')));
  srv.stderr.resume();
  const results = () => out.split('\n').map((l) => l.trim()).filter((l) => RESULT_RE.test(l)).map((l) => l.split(',').map((x) => Number(x.trim())));
  const waitResults = async (k, ms) => {
    for (let t = 0; t < ms && results().length < k; t += 50) await sleep(50);
    if (results().length < k) throw new Error(`tsctp server printed no result within ${ms} ms`);
    return results()[k - 1];
  };
  let seen = 0;
  try {
    await sleep(500);
    for (let r = 0; r < reps; r++) {
      // Reference: tsctp's own client (first_length, messages, recv_calls, bytes, seconds, bytes/s, notifications).
      try {
        log(`  sctp rep ${r + 1}: tsctp client`);
        const cli = await lab.exec('switch', [`${BIN}/tsctp`, '-E', '9901', '-n', String(n), '-l', String(LEN), lab.clientIp], { timeoutMs: 60_000, allowFail: true });
        const row = await waitResults(seen + 1, 30_000).catch((e) => {
          throw new Error(`${e.message}; tsctp client exit ${cli.code}: ${cli.stderr.slice(-300)}`);
        });
        seen++;
        if (row[3] !== n * LEN) throw new Error(`tsctp server got ${row[3]} of ${n * LEN} bytes`);
        S.add('ref', (row[5] * 8) / 1e6);
      } catch (e) {
        S.fail('ref', e);
        seen = results().length;
      }
      try {
        const name = `${lab.suffix}s${r}`;
        log(`  sctp rep ${r + 1}: hastack peer`);
        await runPeer('sctp-bulk.mjs', ['--tap', name, '--netns', lab.switchNs, '--bridge', lab.bridge, '--address', `${lab.addr(30 + r)}/24`, '--host', lab.clientIp, '--n', String(n), '--len', String(LEN)], { timeoutMs: 70_000 });
        const row = await waitResults(seen + 1, 30_000);
        seen++;
        if (row[3] !== n * LEN) throw new Error(`tsctp server got ${row[3]} of ${n * LEN} bytes from hastack`);
        S.add('hastack', (row[5] * 8) / 1e6);
      } catch (e) {
        S.fail('hastack', e);
        seen = results().length;
        log(`  sctp hastack: ${e.message.split('\n')[0]}`);
      }
      log(`  sctp rep ${r + 1}/${reps} done`);
    }
  } finally {
    srv.kill('SIGKILL');
  }
  const ms = [];
  if (!S.has('hastack')) ms.push(skippedMeasurement(DEFS.tput, `every hastack run failed: ${S.error('hastack')}`));
  else ms.push(measurement({ ...DEFS.tput, subject: { label: 'hastack over TAP', samples: S.get('hastack') }, reference: S.has('ref') ? { label: 'usrsctp tsctp client', samples: S.get('ref') } : null }));
  // Replicated failover: PF peer (hastack's default) vs the RFC 9260 default (PF off) as reference.
  const fo = {};
  for (const pf of ['on', 'off']) {
    try {
      fo[pf] = await runPeer('sctp-failover.mjs', ['--pf', pf], { timeoutMs: 90_000 });
    } catch (e) {
      fo[pf] = { error: String(e.message).split('\n')[0] };
    }
  }
  for (const [def, key] of [[DEFS.failover, 'outageMs'], [DEFS.moved, 'movedAfterMs']]) {
    if (fo.on?.error || fo.on?.[key] == null) ms.push(skippedMeasurement(def, `the replicated failover run failed: ${fo.on?.error ?? 'no figure'}`));
    else ms.push(measurement({ ...def, subject: { label: 'peer with RFC 7829 PF', samples: [fo.on[key]] }, reference: fo.off && !fo.off.error && fo.off[key] != null ? { label: 'RFC 9260 default (no PF)', samples: [fo.off[key]] } : null }));
  }
  const notes = [];
  if (!S.has('ref')) notes.push(`Reference (tsctp client) failed in every run: ${S.error('ref')}.`);
  return { measurements: ms, notes: [...notes, `${n.toLocaleString('en-US')} messages of ${LEN} bytes per run; both figures are measured by the tsctp server. The hastack peer runs without TAP offloads.`, 'Replicated failover: `node bench/peers/sctp-failover.mjs --pf on|off` (in memory, virtual clock, deterministic: one run each; every-update replication over a signed channel; the peer sends every 5 ms; 5 ms one-way delay).'] };
}
