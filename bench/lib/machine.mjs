/** Facts about the machine a run happened on. */
import os from 'node:os';
import { execFileSync } from 'node:child_process';

export function machineFacts() {
  let kernel = os.release();
  try {
    kernel = execFileSync('uname', ['-r'], { encoding: 'utf8' }).trim();
  } catch {}
  return {
    nproc: os.availableParallelism ? os.availableParallelism() : os.cpus().length,
    cpuModel: os.cpus()[0]?.model?.trim() ?? 'unknown',
    kernel,
    node: process.version,
    memGiB: Math.round(os.totalmem() / 2 ** 30),
    root: typeof process.getuid === 'function' && process.getuid() === 0,
    loadavgAtStart: os.loadavg().map((x) => Number(x.toFixed(2))),
  };
}

/** Path of a command on PATH, or null. */
export function which(cmd) {
  try {
    return execFileSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
}
