// The seed 004 primary as its own process (spawned by sctp-usrsctp.test.ts): a hastack stack on a
// TAP device answering on A1 and announcing A2, an echo service, and a replicator that sends every
// update to the standby over a second stack on the cluster TAP. The test kills this process.
// Protocol on stdio: prints "TAPS <public> <cluster>" once the devices exist, waits for "GO\n" (the
// parent has enslaved them to the lab bridge), prints "LISTENING" when serving.
import { createInterface } from 'node:readline';

const stackMod = await import(new URL('../../dist/index.js', import.meta.url).href);
const tapMod = await import(new URL('../../../tap/dist/index.js', import.meta.url).href);
const { Stack, SctpReplicator, sctpChannel, signedChannel } = stackMod;
const { TapLink } = tapMod;

const cfg = JSON.parse(process.env.SCTP_PRIMARY_CONFIG ?? '{}');
const pub = new TapLink({ name: cfg.pubTap, mode: 'tap', netns: cfg.netns });
const clu = new TapLink({ name: cfg.cluTap, mode: 'tap', netns: cfg.netns });
process.stdout.write(`TAPS ${pub.name} ${clu.name}\n`);

const rl = createInterface({ input: process.stdin });
await new Promise((resolve) => rl.once('line', resolve));

const h1 = new Stack({ link: pub, address: `${cfg.a1}/24` });
const c1 = new Stack({ link: clu, address: `${cfg.c1}/24` });
const ch = c1.sctp.connect({ host: cfg.c2, port: 7000 });
await new Promise((resolve, reject) => {
  ch.once('connect', resolve);
  ch.once('close', () => reject(new Error('cluster channel failed')));
});
h1.sctp
  .createServer({ port: 7, addresses: [cfg.a1, cfg.a2] }, (a) => {
    a.on('message', (d, info) => a.send(d, { stream: info.stream, ppid: info.ppid }));
    new SctpReplicator(a, { channel: signedChannel(sctpChannel(ch), { key: cfg.key }), policy: { kind: 'every-update' }, clock: h1.clock });
    process.stdout.write('ASSOCIATION\n');
  })
  .listen();
process.stdout.write('LISTENING\n');
