/**
 * hastack demo: two userland stacks on an in-memory Ethernet segment.
 *   1. a few pings from A to B, with their round-trip times;
 *   2. a UDP exchange: B runs an "uppercase echo" service, A sends it three messages;
 *   3. a 20,000-byte datagram that has to be fragmented (MTU 1500) and reassembled;
 *   4. the counters both stacks kept.
 * Exits 0 when every step succeeded, 1 otherwise.
 */
import { MemoryNetwork, Stack, type RemoteInfo } from '@hastack/stack';

const TIMEOUT_MS = 15_000;

function line(s = ''): void {
  process.stdout.write(s + '\n');
}

async function main(): Promise<void> {
  // The segment adds 1 ms of one-way delay so the RTTs are visible.
  const net = new MemoryNetwork({ mtu: 1500, delayMs: 1, seed: 2026 });
  const a = new Stack({ link: net.createPort(), address: '198.18.0.1/24', nodeId: 'demo-a' });
  const b = new Stack({ link: net.createPort(), address: '198.18.0.2/24', nodeId: 'demo-b' });
  line('hastack demo: two stacks on an in-memory Ethernet segment (MTU 1500, 1 ms delay)');
  line(`  A  ${a.addresses().join(', ')}  mac ${a.mac}`);
  line(`  B  ${b.addresses().join(', ')}  mac ${b.mac}`);
  line();

  line('ping 198.18.0.2 from A:');
  const rtts: number[] = [];
  for (let i = 0; i < 4; i++) {
    const rtt = await a.ping('198.18.0.2', { timeout: 1000 });
    rtts.push(rtt);
    line(`  64 bytes from 198.18.0.2: icmp_seq=${i} time=${rtt.toFixed(3)} ms${i === 0 ? '  (includes ARP resolution)' : ''}`);
  }
  line();

  line('UDP: B runs an uppercase echo service on port 7000; A sends to it:');
  const server = b.createSocket('udp4');
  server.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    line(`  B <- ${rinfo.address}:${rinfo.port}  ${JSON.stringify(msg.toString())}`);
    server.send(msg.toString().toUpperCase(), rinfo.port, rinfo.address);
  });
  await new Promise<void>((resolve) => server.bind(7000, resolve));
  const client = a.createSocket('udp4');
  const words = ['hello', 'from a userland stack', 'goodbye'];
  const replies: string[] = [];
  const done = new Promise<void>((resolve) => {
    client.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      line(`  A <- ${rinfo.address}:${rinfo.port}  ${JSON.stringify(msg.toString())}`);
      replies.push(msg.toString());
      if (replies.length === words.length) resolve();
    });
  });
  for (const w of words) client.send(w, 7000, '198.18.0.2');
  await done;
  const expected = words.map((w) => w.toUpperCase());
  if (JSON.stringify([...replies].sort()) !== JSON.stringify([...expected].sort())) throw new Error(`unexpected replies ${JSON.stringify(replies)}`);
  line();

  line('UDP: a 20,000-byte datagram from A to B (fragmented to fit MTU 1500):');
  const big = Buffer.alloc(20_000);
  for (let i = 0; i < big.length; i++) big[i] = (i * 31) & 0xff;
  const bigRx = b.createSocket('udp4');
  const got = new Promise<Buffer>((resolve) => bigRx.on('message', (m: Buffer) => resolve(m)));
  bigRx.bind(7001);
  client.send(big, 7001, '198.18.0.2');
  const received = await got;
  if (!received.equals(big)) throw new Error('the large datagram arrived corrupted');
  const sa = a.stats();
  const sb = b.stats();
  line(`  sent as ${sa.ip.txFragments} fragments, reassembled by B: ${sb.ip.reassembled} datagram, ${received.length} bytes intact`);
  line();

  line('counters:');
  for (const [name, s] of [['A', sa], ['B', sb]] as const) {
    const drops = Object.entries(s.drops as Record<string, number>).filter(([, v]) => v > 0);
    line(
      `  ${name}: frames rx ${s.eth.rxFrames} tx ${s.eth.txFrames} | arp req ${s.arp.txRequests} rep ${s.arp.txReplies} | ` +
        `icmp in ${s.icmp.rxMessages} out ${s.icmp.txEchoRequests + s.icmp.txEchoReplies + s.icmp.txUnreachable} | udp tx ${s.udp.txDatagrams} delivered ${s.udp.delivered} | ` +
        `drops ${drops.length ? drops.map(([k, v]) => `${k}=${v}`).join(' ') : 'none'}`,
    );
  }
  await Promise.all([a.close(), b.close()]);
  line();
  line(`ok: ${rtts.length} pings (avg ${(rtts.slice(1).reduce((x, y) => x + y, 0) / (rtts.length - 1)).toFixed(3)} ms), ${replies.length} UDP replies, 1 fragmented datagram`);
}

// Our stack's timers do not hold the event loop open (like unref'd sockets); this guard does,
// and turns a hang into a failure.
const guard = setTimeout(() => {
  process.stderr.write(`demo: timed out after ${TIMEOUT_MS} ms\n`);
  process.exit(1);
}, TIMEOUT_MS);

main().then(
  () => {
    clearTimeout(guard);
    process.exitCode = 0;
  },
  (e: unknown) => {
    clearTimeout(guard);
    process.stderr.write(`demo failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exitCode = 1;
  },
);
