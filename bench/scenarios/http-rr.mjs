/**
 * Request/response: wrk (Debian) in the client namespace, fixed threads/connections/duration,
 * against examples/ha-http-server serving a small file
 * - on hastack over a TAP device on the lab bridge (the example's own --tap mode; its process),
 * - on the kernel (the same example server on node:net, --kernel) in the switch namespace,
 * alternating within each repetition. Latency p50/p99 and requests/s at the same load.
 */
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { measurement, skippedMeasurement, Samples } from '../lib/scenario.mjs';
import { REPO_DIR, sleep } from '../lib/proc.mjs';
import { which } from '../lib/machine.mjs';
import { parseWrk } from '../lib/stats.mjs';

export const id = 'http-rr';
export const title = 'HTTP request/response (wrk)';
export const targets = ['p99 request latency within 2× of node:http on the kernel at the same load'];

const CLI = join(REPO_DIR, 'examples/ha-http-server/dist/cli.js');
const THREADS = 1;
const CONNECTIONS = 16;
const BODY = 'x'.repeat(128);

const DEFS = [
  { id: 'p50', name: `latency p50 (wrk -t${THREADS} -c${CONNECTIONS}, 128-byte file)`, unit: 'ms', better: 'lower' },
  { id: 'p99', name: `latency p99 (wrk -t${THREADS} -c${CONNECTIONS}, 128-byte file)`, unit: 'ms', better: 'lower', target: { kind: 'ratio', op: '<=', value: 2, text: '≤ 2× node:net on the kernel' } },
  { id: 'rps', name: `requests/s (wrk -t${THREADS} -c${CONNECTIONS})`, unit: 'req/s', better: 'higher' },
];

export async function prerequisite(ctx) {
  if (ctx.labReason) return ctx.labReason;
  if (ctx.tapReason) return ctx.tapReason;
  if (!which('wrk')) return 'wrk is not installed (Debian package wrk)';
  if (!which('curl')) return 'curl is not installed';
  if (!existsSync(CLI)) return 'examples/ha-http-server is not built (dist/cli.js missing)';
  return null;
}

export function skippedMeasurements(reason) {
  return DEFS.map((d) => skippedMeasurement(d, reason));
}

async function waitServing(lab, url) {
  for (let i = 0; i < 100; i++) {
    const r = await lab.exec('client', ['curl', '-sS', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '1', url], { allowFail: true, timeoutMs: 3000 });
    if (process.env.BENCH_DEBUG) console.error(url, r.code, r.stdout, r.stderr.trim());
    if (r.stdout.trim() === '200') return;
    await sleep(100);
  }
  throw new Error(`server at ${url} did not answer 200 within ~10 s`);
}

function killServer(child) {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => {
      child.kill('SIGKILL');
    }, 3000);
    child.once('exit', () => {
      clearTimeout(t);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export async function run(ctx) {
  const { quick, reps, log } = ctx;
  const lab = await ctx.getLab();
  const secs = quick ? 2 : 10;
  const root = mkdtempSync(join(tmpdir(), 'hastack-bench-http-'));
  writeFileSync(join(root, 'small.html'), BODY);
  const S = new Samples();
  const notes = [];
  const hsIp = lab.addr(20);
  const tap = `${lab.suffix}h0`;
  const servers = [];
  try {
    const kernel = lab.spawn('switch', process.execPath, [CLI, '--kernel', '--host', ctx.bridgeIp, '--port', '8080', '--root', root, '--quiet', '--no-index']);
    servers.push(kernel);
    // Not inside `ip netns exec`: the example opens its TAP in the switch namespace itself.
    const { spawn } = await import('node:child_process');
    const hs = spawn(process.execPath, [CLI, '--tap', tap, '--netns', lab.nsPath('switch'), '--bridge', lab.bridge, '--address', `${hsIp}/24`, '--port', '8080', '--root', root, '--quiet', '--no-index'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let hsErr = '';
    hs.stderr.on('data', (d) => (hsErr = (hsErr + d).slice(-2000)));
    servers.push(hs);
    const targets = { kernel: `http://${ctx.bridgeIp}:8080/small.html`, hastack: `http://${hsIp}:8080/small.html` };
    const tw = performance.now();
    await waitServing(lab, targets.kernel);
    log(`  http-rr: kernel server up in ${((performance.now() - tw) / 1000).toFixed(1)} s`);
    await waitServing(lab, targets.hastack).catch((e) => {
      throw new Error(`${e.message}; hastack server stderr: ${hsErr.trim().slice(-500)}`);
    });
    log(`  http-rr: servers up in ${((performance.now() - tw) / 1000).toFixed(1)} s`);
    for (let r = 0; r < reps; r++) {
      for (const who of ['kernel', 'hastack']) {
        try {
          const res = await lab.exec('client', ['wrk', `-t${THREADS}`, `-c${CONNECTIONS}`, `-d${secs}s`, '--timeout', '2s', '--latency', targets[who]], { timeoutMs: (secs + 20) * 1000 });
          const w = parseWrk(res.stdout);
          if (!Number.isFinite(w.rps) || !Number.isFinite(w.p99Ms)) throw new Error(`could not parse wrk output: ${res.stdout.slice(0, 300)}`);
          S.add(`${who}-p50`, w.p50Ms);
          S.add(`${who}-p99`, w.p99Ms);
          S.add(`${who}-rps`, w.rps);
          if (w.errors > 0) notes.push(`${who} run ${r + 1}: wrk counted ${w.errors} socket errors/non-2xx responses of ${w.requests} requests.`);
        } catch (e) {
          for (const k of ['p50', 'p99', 'rps']) S.fail(`${who}-${k}`, e);
          log(`  http-rr ${who}: ${e.message.split('\n')[0]}`);
        }
      }
      log(`  http-rr rep ${r + 1}/${reps} done at ${((performance.now() - tw) / 1000).toFixed(1)} s`);
    }
  } finally {
    const tk = performance.now();
    for (const s of servers) await killServer(s);
    log(`  http-rr: servers stopped in ${((performance.now() - tk) / 1000).toFixed(1)} s`);
    rmSync(root, { recursive: true, force: true });
  }
  notes.push(`The example server runs with its defaults; over TAP that means no offloads. wrk: ${THREADS} thread, ${CONNECTIONS} connections, ${secs} s per run, keep-alive; the node:net server runs in the switch namespace on the bridge address.`);
  if (!S.has('kernel-p99')) notes.push(`Reference (node:net on the kernel) failed in every run: ${S.error('kernel-p99')}.`);
  const ms = DEFS.map((d) => {
    if (!S.has(`hastack-${d.id}`)) return skippedMeasurement(d, `every hastack run failed: ${S.error(`hastack-${d.id}`)}`);
    return measurement({ ...d, subject: { label: 'hastack over TAP', samples: S.get(`hastack-${d.id}`) }, reference: S.has(`kernel-${d.id}`) ? { label: 'node:net on the kernel', samples: S.get(`kernel-${d.id}`) } : null });
  });
  return { measurements: ms, notes };
}
