#!/usr/bin/env node
/**
 * Peer process: seed 004's replicated SCTP association in memory (virtual clock, deterministic).
 * An outside peer talks to host 1 (A1) of an endpoint whose INIT ACK also lists A2 (host 2, the
 * standby); host 1 replicates the association to host 2 over a signed channel on a separate
 * cluster network ('every-update'), then crashes. Reports how long after the crash the peer moved
 * its traffic off A1 and the longest silence between echoes, for a peer with RFC 7829
 * potentially-failed handling (PFMR 0, hastack's default) and for one without it (PF off: RFC 9260's
 * default path failover, the reference).
 *
 *   node bench/peers/sctp-failover.mjs [--pf on|off]
 * Reports { result: { movedAfterMs, outageMs, echoed, sent } } on stdout.
 */
import { createHash } from 'node:crypto';
import { MemoryNetwork, Stack, VirtualClock, SctpReplicator, SctpStandby, sctpChannel, signedChannel } from '../../packages/stack/dist/index.js';
import { argOf, emit } from './util.mjs';

const A1 = '198.18.0.1';
const A2 = '198.18.0.2';
const KEY = 'bench-sctp-replication-key-0123456789';
const pf = argOf('--pf', 'on') !== 'off';

const clock = new VirtualClock();
const pub = new MemoryNetwork({ clock, seed: 1, delayMs: 5 });
const priv = new MemoryNetwork({ clock, seed: 2, delayMs: 1 });
// PF off = RFC 9260 §8.2 alone: a path is abandoned only after Path.Max.Retrans timeouts.
const peer = new Stack({ link: pub.createPort(), address: '198.18.0.10/24', clock, sctp: pf ? undefined : { pfMaxRetrans: Infinity } });
const h1 = new Stack({ link: pub.createPort(), address: `${A1}/24`, clock });
const h2 = new Stack({ link: pub.createPort(), address: `${A2}/24`, clock });
const c1 = new Stack({ link: priv.createPort(), address: '198.19.0.1/24', clock });
const c2 = new Stack({ link: priv.createPort(), address: '198.19.0.2/24', clock });

// The cluster channel: an SCTP association on the private network, signed.
let standbyCh = null;
c2.sctp.createServer({ port: 7000 }, (a) => (standbyCh = signedChannel(sctpChannel(a), { key: KEY }))).listen();
const cc = c1.sctp.connect({ host: '198.19.0.2', port: 7000 });
await clock.run(() => cc.state === 'ESTABLISHED' && standbyCh !== null, { maxMs: 10_000 });
const primaryCh = signedChannel(sctpChannel(cc), { key: KEY });

const echo = (a) => a.on('message', (d) => a.send(d));
const standby = new SctpStandby(h2.sctp, { channel: standbyCh, clock, failureTimeoutMs: 300, port: 5000 });
standby.on('takeover', (a) => echo(a));
h1.sctp.createServer({ port: 5000, addresses: [A1, A2] }, (a) => {
  echo(a);
  new SctpReplicator(a, { channel: primaryCh, policy: { kind: 'every-update' }, clock });
}).listen();

const n = 600;
const c = peer.sctp.connect({ host: A1, port: 5000 });
const sent = [];
const echoes = [];
const echoTimes = [];
const moves = [];
c.on('path-change', (e) => moves.push([clock.now(), e.address, e.state]));
c.on('message', (d) => {
  echoes.push(Buffer.from(d));
  echoTimes.push(clock.now());
});
let i = 0;
const tick = () => {
  if (i >= n || c.state !== 'ESTABLISHED') return;
  const m = createHash('sha256').update(`msg ${i}`).digest();
  sent.push(m);
  c.send(m);
  i++;
  clock.setTimer(clock.now() + 5, tick);
};
c.on('connect', tick);
await clock.run(() => c.state === 'ESTABLISHED', { maxMs: 10_000 });
await clock.run(() => echoes.length >= 200, { maxMs: 10_000 });
const tCrash = clock.now();
const atCrash = echoes.length;
h1.crash();
c1.crash();
const done = await clock.run(() => echoes.length >= n, { maxMs: 300_000, wallMs: 60_000 });
let outage = 0;
let prev = tCrash;
for (let k = atCrash; k < echoTimes.length; k++) {
  outage = Math.max(outage, echoTimes[k] - prev);
  prev = echoTimes[k];
}
const moved = moves.find(([, addr, st]) => addr === A1 && (st === 'pf' || st === 'inactive'));
const intact = createHash('sha256').update(Buffer.concat(echoes)).digest('hex') === createHash('sha256').update(Buffer.concat(sent)).digest('hex');
if (!done || !intact) emit({ error: `replicated association did not recover intact: ${echoes.length}/${n} echoes${intact ? '' : ', data differ'}` });
else emit({ result: { movedAfterMs: moved ? moved[0] - tCrash : null, outageMs: outage, echoed: echoes.length, sent: n } });
process.exit(0);
