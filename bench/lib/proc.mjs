/**
 * Child processes for the harness: peers (our own scripts that print JSON lines) and tools.
 * Every wait is bounded; a peer that outlives its use is killed by its pid.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const BENCH_DIR = fileURLToPath(new URL('..', import.meta.url));
export const REPO_DIR = fileURLToPath(new URL('../..', import.meta.url));

/**
 * Starts `node bench/peers/<script> ...args`. Returns a handle whose `next(pred, ms)` resolves with
 * the next JSON line satisfying `pred` (lines already received count), and `stop()`.
 */
export function startPeer(script, args = [], opts = {}) {
  const nodeArgs = [...(opts.nodeArgs ?? []), fileURLToPath(new URL(`../peers/${script}`, import.meta.url)), ...args];
  // opts.netns: run inside that network namespace (ip netns exec).
  const child = opts.netns
    ? spawn('ip', ['netns', 'exec', opts.netns, process.execPath, ...nodeArgs], { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_DIR })
    : spawn(process.execPath, nodeArgs, { stdio: ['pipe', 'pipe', 'pipe'], cwd: REPO_DIR });
  const lines = [];
  const waiters = [];
  let stderr = '';
  let exited = null;
  let buf = '';
  const check = () => {
    for (let i = 0; i < waiters.length; i++) {
      const w = waiters[i];
      const j = lines.findIndex(w.pred);
      if (j >= 0) {
        const [line] = lines.splice(j, 1);
        waiters.splice(i--, 1);
        clearTimeout(w.timer);
        w.resolve(line);
      } else if (exited !== null) {
        waiters.splice(i--, 1);
        clearTimeout(w.timer);
        w.reject(new Error(`peer ${script} exited (${exited}) before the expected line; stderr: ${stderr.trim().slice(-800)}`));
      }
    }
  };
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (d) => {
    buf += d;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (!line) continue;
      try {
        lines.push(JSON.parse(line));
      } catch {
        stderr += `[non-JSON stdout] ${line}\n`;
      }
    }
    check();
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr = (stderr + d).slice(-8000);
  });
  const exitP = new Promise((resolve) => child.once('exit', (code, sig) => {
    exited = sig ?? code;
    check();
    resolve(exited);
  }));
  child.stdin.on('error', () => {});
  return {
    pid: child.pid,
    get stderr() {
      return stderr;
    },
    /** Next JSON line with pred(line) true, within ms. */
    next(pred, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const w = { pred, resolve, reject, timer: null };
        w.timer = setTimeout(() => {
          const i = waiters.indexOf(w);
          if (i >= 0) waiters.splice(i, 1);
          reject(new Error(`peer ${script}: no expected line within ${ms} ms; stderr: ${stderr.trim().slice(-800)}`));
        }, ms);
        waiters.push(w);
        check();
      });
    },
    /** Closes stdin (peers exit on it), then SIGKILLs this child's pid after graceMs. */
    async stop(graceMs = 3000) {
      if (exited !== null) return exited;
      child.stdin.end();
      const t = setTimeout(() => {
        if (exited === null) child.kill('SIGKILL');
      }, graceMs);
      const r = await exitP;
      clearTimeout(t);
      return r;
    },
    exited: exitP,
  };
}

/** Runs a peer to completion and returns its last JSON line (its result). */
export async function runPeer(script, args = [], opts = {}) {
  const p = startPeer(script, args, opts);
  const timeoutMs = opts.timeoutMs ?? 120_000;
  let last = null;
  try {
    last = await p.next((l) => l.result !== undefined || l.error !== undefined, timeoutMs);
  } finally {
    await p.stop(1000);
  }
  if (last.error) throw new Error(`${script}: ${last.error}`);
  return last.result;
}

/** Runs a command, collecting output; bounded by timeoutMs (SIGKILL). */
export function runCmd(cmd, args, opts = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...(opts.spawn ?? {}) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const t = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.on('error', (e) => {
      clearTimeout(t);
      resolve({ code: -1, stdout, stderr: stderr + String(e) });
    });
    child.on('exit', (code, sig) => {
      clearTimeout(t);
      resolve({ code: code ?? (sig ? -1 : 0), signal: sig, stdout, stderr });
    });
  });
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
