// Shared pieces of the lab tests: skip reason, pcap directory, waiting, stacks over TAP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { analyzePcap, labUnavailableReason, missingTools, type Lab, type PcapCheckOptions } from '../../src/index.js';

export const reason = labUnavailableReason();
if (reason) console.warn(`[lab skipped] ${reason}`);

/**
 * Fails (never skips) when a peer program is missing: as root with /dev/net/tun the lab tests must
 * run. Debian packages: iputils-ping, socat, curl, tcpdump, tshark (capinfos), iptables, iproute2 (ss).
 */
export function requireTools(names: string[]): void {
  const missing = missingTools(names);
  if (missing.length) throw new Error(`lab peer programs missing: ${missing.join(', ')} (install them; see docs/lab.md)`);
}

export function pcapDir(): { dir: string; file(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'hastack-lab-'));
  return { dir, file: (n) => join(dir, n), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function waitFor(cond: () => boolean, ms: number, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const t0 = Date.now();
    const tick = () => {
      if (cond()) return resolve();
      if (Date.now() - t0 > ms) return reject(new Error(`timed out after ${ms} ms waiting for ${what}`));
      setTimeout(tick, 5);
    };
    tick();
  });
}

/**
 * Asserts a capture is clean: no malformed frames, no bad checksums (transport checksums are skipped
 * where offload leaves them partial at the capture point), and no TCP gap in what `ourIp` sent.
 */
export function expectCleanPcap(file: string, ourIp: string, opts: PcapCheckOptions & { minPackets?: number }): void {
  const r = analyzePcap(file, opts);
  expect(r.packets).toBeGreaterThanOrEqual(opts.minPackets ?? 1);
  expect(r.malformed, 'malformed frames').toEqual([]);
  expect(r.badChecksum, 'bad checksums').toEqual([]);
  expect(r.lostSegments.filter((l) => l.src === ourIp), '"previous segment not captured" on our segments').toEqual([]);
}

/** Capture options for a TAP capture in the switch namespace with offloads on/off (see docs/lab.md). */
export function pcapOpts(offloads: boolean): PcapCheckOptions {
  // With offloads on, both directions carry partial transport checksums at the TAP: ours (NEEDS_CSUM)
  // and the kernel's (TUN_F_CSUM lets it skip completing them). With offloads off all are final.
  return offloads ? { skipTransportChecksums: true } : {};
}

export async function captureTap(lab: Lab, dev: string, file: string): Promise<{ stop(): Promise<{ dropped: number }> }> {
  return lab.capture('switch', dev, file);
}
