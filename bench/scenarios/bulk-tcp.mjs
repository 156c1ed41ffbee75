/**
 * Bulk TCP, one flow, each direction:
 * - the limit: Linux ↔ Linux over veth + bridge between two namespaces (iperf3);
 * - hastack over TAP ↔ Linux, offloads off and on: the hastack peer (its own process) sits on a TAP
 *   device on the lab bridge; hastack → Linux is `curl` downloading from it, Linux → hastack is
 *   `socat` uploading /dev/zero to it in 128 KiB writes (the peer times first byte to FIN);
 * - hastack ↔ hastack in memory, checksums computed and verified: MTU 1500 and 65535 with both
 *   stacks in one thread of a child process (MemoryNetwork), and MTU 1500 with each stack in its
 *   own worker thread (SharedMemoryLink), after an untimed warm-up transfer in the same process.
 * Runs alternate (reference, then hastack) within each repetition.
 */
import { measurement, skippedMeasurement, Samples } from '../lib/scenario.mjs';
import { runPeer, startPeer, sleep } from '../lib/proc.mjs';
import { which } from '../lib/machine.mjs';

export const id = 'bulk-tcp';
export const title = 'Bulk TCP, one flow';
export const targets = ['hastack-over-TAP ↔ Linux ≥ 2 Gbit/s each direction without offloads, ≥ 5 Gbit/s with', 'hastack ↔ hastack in memory, MTU 1500, checksums on: ≥ 4 Gbit/s'];

const MiB = 1 << 20;

export async function run(ctx) {
  const { quick, reps, log } = ctx;
  const S = new Samples();
  const extra = new Samples();
  const notes = [];
  // Quick: 128 MiB (0.2-1 s at 1-5 Gbit/s, the order of the 1 s iperf3 reference); 32 MiB lasted
  // 50-250 ms and measured mostly connection start-up and slow start.
  const tapBytes = (quick ? 128 : 256) * MiB;
  const iperfSecs = quick ? 1 : 5;

  // ---- lab part (kernel reference + TAP) ----
  let labSkip = ctx.labReason;
  const iperf3 = which('iperf3');
  const curl = which('curl');
  const socat = which('socat');
  let lab = null;
  let peers = [];
  let iperfSrv = null;
  if (!labSkip) {
    try {
      lab = await ctx.getLab();
    } catch (e) {
      labSkip = `lab could not be built: ${e.message.split('\n')[0]}`;
    }
  }
  try {
    if (lab) {
      const srvIp = ctx.bridgeIp;
      if (iperf3) {
        iperfSrv = lab.spawn('switch', 'iperf3', ['-s', '-B', srvIp, '-p', '5201']);
        await sleep(300);
      }
      const tapOk = ctx.tapReason === null && curl && socat;
      if (tapOk) {
        for (const [k, offloads] of [
          [0, 'off'],
          [1, 'on'],
        ]) {
          const name = `${lab.suffix}p${k}`;
          const address = lab.addr(10 + k);
          const p = startPeer('tap-bulk.mjs', ['--tap', name, '--netns', lab.switchNs, '--bridge', lab.bridge, '--address', `${address}/24`, '--offloads', offloads, '--bytes', String(tapBytes)]);
          peers.push(p);
          await p.next((l) => l.ready, 15_000);
          // ARP warm-up and reachability, bounded.
          await lab.exec('client', ['ping', '-c', '1', '-W', '2', address], { allowFail: true, timeoutMs: 5000 });
          p.meta = { offloads, address };
          // JIT warm-up, untimed (as the in-memory peers do): 16 MiB each way before the first
          // timed run, which otherwise measured the peer's cold code (the first of three quick
          // samples came out 1.5-2x below the others).
          await lab.exec('client', ['curl', '-sS', '--max-time', '30', '-o', '/dev/null', `http://${address}:5001/${16 * MiB}`], { allowFail: true, timeoutMs: 35_000 }).catch(() => {});
          const warm = p.next((l) => l.rx !== undefined, 35_000).catch(() => null);
          await lab.exec('client', ['socat', '-u', '-b', '131072', `OPEN:/dev/zero,readbytes=${16 * MiB}`, `TCP:${address}:5002`], { allowFail: true, timeoutMs: 35_000 }).catch(() => {});
          await warm;
        }
      }
      for (let r = 0; r < reps; r++) {
        if (iperf3) {
          for (const [dir, extraArgs] of [
            ['tx', ['-R']],
            ['rx', []],
          ]) {
            try {
              const res = await lab.exec('client', ['iperf3', '-c', srvIp, '-p', '5201', '-t', String(iperfSecs), '-J', ...extraArgs], { timeoutMs: (iperfSecs + 15) * 1000 });
              const j = JSON.parse(res.stdout);
              S.add(`kernel-${dir}`, j.end.sum_received.bits_per_second / 1e9);
            } catch (e) {
              S.fail(`kernel-${dir}`, e);
            }
          }
        }
        for (const p of peers) {
          const { offloads, address } = p.meta;
          // hastack -> Linux: curl downloads tapBytes.
          try {
            const res = await lab.exec('client', ['curl', '-sS', '--max-time', '60', '-o', '/dev/null', '-w', '%{size_download} %{time_connect} %{time_total}', `http://${address}:5001/`], { timeoutMs: 70_000 });
            const [size, tc, tt] = res.stdout.trim().split(' ').map(Number);
            if (size !== tapBytes) throw new Error(`curl got ${size} of ${tapBytes} bytes`);
            S.add(`tap-tx-${offloads}`, (size * 8) / ((tt - tc) * 1e9));
          } catch (e) {
            S.fail(`tap-tx-${offloads}`, e);
          }
          // Linux -> hastack: socat uploads tapBytes; the peer times first byte to FIN.
          try {
            const done = p.next((l) => l.rx !== undefined, 70_000);
            // socat reads /dev/zero itself (as iperf3 sends from memory): a `head | socat` pipe adds a
            // process and two copies per byte on the sending side, and capped this figure on 2 cores.
            await lab.exec('client', ['socat', '-u', '-b', '131072', `OPEN:/dev/zero,readbytes=${tapBytes}`, `TCP:${address}:5002`], { timeoutMs: 70_000 });
            const { rx } = await done;
            if (rx.error) throw new Error(rx.error);
            if (rx.bytes !== tapBytes) throw new Error(`hastack received ${rx.bytes} of ${tapBytes} bytes`);
            S.add(`tap-rx-${offloads}`, (rx.bytes * 8) / (rx.ms * 1e6));
          } catch (e) {
            S.fail(`tap-rx-${offloads}`, e);
          }
        }
        // hastack <-> hastack in memory, same repetition.
        await memRun(S, extra, quick, log);
        log(`  bulk-tcp rep ${r + 1}/${reps} done`);
      }
    } else {
      for (let r = 0; r < reps; r++) await memRun(S, extra, quick, log);
    }
  } finally {
    for (const p of peers) {
      const st = p.next((l) => l.stats !== undefined, 3000).catch(() => null);
      await p.stop();
      const s = await st;
      if (s) notes.push(`TAP peer offloads ${p.meta?.offloads}: link ${JSON.stringify(pick(s.stats.link, ['rxFrames', 'rxGso', 'rxCsumValid', 'txFrames', 'txGso', 'txCsumOffload', 'rxBatches', 'txBatches']))}, TCP retransmitted segments ${s.stats.tcp?.retransSegs}.`);
    }
    if (iperfSrv) iperfSrv.kill('SIGKILL');
  }

  const kernelRef = (dir) => (S.has(`kernel-${dir}`) ? { label: 'Linux↔Linux veth', samples: S.get(`kernel-${dir}`) } : null);
  const ms = [];
  const labMissing = labSkip ?? (!iperf3 ? 'iperf3 not installed (Debian iperf3)' : null);
  for (const dir of ['tx', 'rx']) {
    const def = { id: `kernel-${dir}`, name: `Linux↔Linux over veth (the limit), ${dir === 'tx' ? 'switch ns → client ns' : 'client ns → switch ns'}`, unit: 'Gbit/s', better: 'higher' };
    if (labMissing) ms.push(skippedMeasurement(def, labMissing));
    else if (!S.has(def.id)) ms.push(skippedMeasurement(def, `iperf3 failed: ${S.error(def.id)}`));
    else ms.push(measurement({ ...def, subject: { label: 'Linux', samples: S.get(def.id) } }));
  }
  for (const offloads of ['off', 'on']) {
    for (const dir of ['tx', 'rx']) {
      const def = {
        id: `tap-${dir}-${offloads}`,
        name: `${dir === 'tx' ? 'hastack → Linux' : 'Linux → hastack'} over TAP, offloads ${offloads}`,
        unit: 'Gbit/s',
        better: 'higher',
        target: { kind: 'absolute', op: '>=', value: offloads === 'on' ? 5 : 2, text: `≥ ${offloads === 'on' ? 5 : 2} Gbit/s` },
      };
      const why = labSkip ?? ctx.tapReason ?? (!curl ? 'curl not installed' : !socat ? 'socat not installed' : null);
      if (why) ms.push(skippedMeasurement(def, why));
      else if (!S.has(def.id)) ms.push(skippedMeasurement(def, `every run failed: ${S.error(def.id)}`));
      else ms.push(measurement({ ...def, subject: { label: 'hastack', samples: S.get(def.id) }, reference: kernelRef(dir) }));
    }
  }
  for (const [key, mtu, threads, gso] of MEM_CONFIGS) {
    const def = {
      id: key,
      name: gso
        ? `hastack ↔ hastack in memory, MTU ${mtu}, checksums on, TSO/GRO like a veth pair (64 KiB super-segments, one checksum each), one thread`
        : threads === 2
          ? `hastack ↔ hastack in memory, MTU ${mtu}, checksums on, two threads (a stack per worker thread, SharedMemoryLink)`
          : `hastack ↔ hastack in memory, MTU ${mtu}, checksums on${mtu === 1500 ? ', one thread (both stacks)' : ''}`,
      unit: 'Gbit/s',
      better: 'higher',
      // The target is per MTU-sized segment; the segmentation-offload figure is for reference.
      target: mtu === 1500 && !gso ? { kind: 'absolute', op: '>=', value: 4, text: '≥ 4 Gbit/s' } : null,
    };
    if (!S.has(def.id)) ms.push(skippedMeasurement(def, `every run failed: ${S.error(def.id)}`));
    else ms.push(measurement({ ...def, subject: { label: 'hastack', samples: S.get(def.id) }, reference: kernelRef('rx') }));
    if (extra.has(`${key}-rto`) && median(extra.get(`${key}-rto`)) > 0) notes.push(`In memory (${def.name.replace('hastack ↔ hastack in memory, ', '')}), a lossless network, the sender retransmitted a median of ${median(extra.get(`${key}-rto`))} segments on RTO per run — idle RTO waits, not CPU, dominate this figure where that is non-zero.`);
  }
  notes.push('In-memory runs: each peer process first moves 8 MiB untimed on another connection (JIT warm-up), then times one connection from connect to the last byte; two-thread runs need two free cores to gain, so on a loaded machine they can come out below one thread.');
  if (iperf3 && lab) for (const dir of ['tx', 'rx']) if (!S.has(`kernel-${dir}`)) notes.push(`Kernel reference (${dir}) failed in every run: ${S.error(`kernel-${dir}`)}.`);
  return { measurements: ms, notes };
}

function median(xs) {
  const v = [...xs].sort((a, b) => a - b);
  return v[v.length >> 1];
}

function pick(o, keys) {
  const r = {};
  for (const k of keys) if (o && k in o) r[k] = o[k];
  return r;
}

// [measurement id, MTU, threads, segmentation offload]: both stacks in one thread over a
// MemoryNetwork, or one stack per worker thread over a SharedMemoryLink; with segmentation
// offload the link carries TSO super-segments whole, as a veth pair with GSO does (Linux's own
// reference over veth at MTU 1500 runs that way), checksums still computed and verified.
const MEM_CONFIGS = [
  ['mem-1500', 1500, 1],
  ['mem-1500-2t', 1500, 2],
  ['mem-1500-gso', 1500, 1, true],
  ['mem-65535', 65535, 1],
];

async function memRun(S, extra, quick, log) {
  for (const [key, mtu, threads, gso] of MEM_CONFIGS) {
    // Long enough that slow start and the cross-thread wake-ups of the first round trips do not
    // dominate (16 MiB measured mostly slow start in the two-thread mode).
    // With super-segments (65535 or TSO/GRO) a flow runs at several Gbit/s: move more.
    const bytes = (mtu === 1500 && !gso ? (quick ? 64 : 256) : quick ? 256 : 1024) * MiB;
    try {
      const r = await runPeer('mem-bulk.mjs', ['--mtu', String(mtu), '--threads', String(threads), ...(gso ? ['--gso'] : []), '--bytes', String(bytes), '--timeout-ms', '60000'], { timeoutMs: 70_000 });
      S.add(key, r.gbps);
      if (r.rto !== null) extra.add(`${key}-rto`, r.rto);
    } catch (e) {
      S.fail(key, e);
      log(`  ${key}: ${e.message.split('\n')[0]}`);
    }
  }
}
