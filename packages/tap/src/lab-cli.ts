#!/usr/bin/env node
/**
 * hastack lab CLI (root only):
 *   node packages/tap/dist/lab-cli.js up [--loss P] [--subnet N]  build a lab, print it, keep it until Ctrl-C
 *   node packages/tap/dist/lab-cli.js list                         list lab namespaces and whether their owner lives
 *   node packages/tap/dist/lab-cli.js cleanup                      remove namespaces of labs whose process is gone
 *   node packages/tap/dist/lab-cli.js check FILE.pcap [--skip-transport-checksums]
 *                                                                  tshark check: malformed, bad checksums, gaps
 */
import { readdirSync, readFileSync } from 'node:fs';
import { analyzePcap, Lab, labUnavailableReason } from './lab.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

async function main(): Promise<number> {
  const cmd = process.argv[2];
  switch (cmd) {
    case 'up': {
      const reason = labUnavailableReason();
      if (reason) {
        console.error(reason);
        return 2;
      }
      const loss = arg('--loss');
      const subnet = arg('--subnet');
      const lab = await Lab.create({ loss: loss ? Number(loss) : 0, ...(subnet ? { subnet: Number(subnet) } : {}) });
      console.log(`lab ${lab.suffix} is up (Ctrl-C tears it down)`);
      console.log(`  client namespace  ${lab.clientNs}   kernel address ${lab.clientIp}/24 on ${lab.vethClient}`);
      console.log(`  switch namespace  ${lab.switchNs}   bridge ${lab.bridge}, port ${lab.vethSwitch}`);
      console.log(`  hastack addresses ${lab.addr(2)} .. ${lab.addr(254)} on TAP devices in ${lab.switchNs} enslaved to ${lab.bridge}`);
      console.log(`  run a peer:       ip netns exec ${lab.clientNs} ping ${lab.addr(2)}`);
      await new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      await lab.destroy();
      console.log(`lab ${lab.suffix} removed`);
      return 0;
    }
    case 'list': {
      let names: string[] = [];
      try {
        names = readdirSync('/var/run/netns').filter((n) => /^hs[0-9a-f]{6}-(cl|sw|k\d+)$/.test(n));
      } catch {
        // no namespaces at all
      }
      for (const n of names) {
        let owner = 'unknown owner';
        try {
          const pid = Number(readFileSync(`/run/hastack-lab/${n.slice(0, 8)}`, 'utf8'));
          let alive = true;
          try {
            process.kill(pid, 0);
          } catch {
            alive = false;
          }
          owner = `pid ${pid} ${alive ? 'alive' : 'gone (stale)'}`;
        } catch {
          // no registry entry
        }
        console.log(`${n}  ${owner}`);
      }
      if (names.length === 0) console.log('no lab namespaces');
      return 0;
    }
    case 'cleanup': {
      const removed = Lab.cleanupStale();
      console.log(removed.length ? `removed ${removed.join(' ')}` : 'nothing stale');
      return 0;
    }
    case 'check': {
      const file = process.argv[3];
      if (!file) break;
      const r = analyzePcap(file, { skipTransportChecksums: process.argv.includes('--skip-transport-checksums') });
      console.log(JSON.stringify(r, null, 2));
      return r.malformed.length || r.badChecksum.length ? 1 : 0;
    }
    default:
      break;
  }
  console.error('usage: lab-cli up [--loss P] [--subnet N] | list | cleanup | check FILE.pcap [--skip-transport-checksums]');
  return 2;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
