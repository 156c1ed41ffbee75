#!/usr/bin/env node
/**
 * Peer process: a hastack Stack on a TAP device that sends --n messages of --len bytes over one
 * SCTP association to a usrsctp `tsctp` server, waits until all are acknowledged, shuts down, and
 * reports { result: { ms } } (the tsctp server prints the throughput it measured).
 *
 *   node bench/peers/sctp-bulk.mjs --tap NAME --netns NSNAME --bridge BR --address CIDR --host IP --n N --len L
 */
import { execFileSync } from 'node:child_process';
import { Stack } from '../../packages/stack/dist/index.js';
import { TapLink } from '../../packages/tap/dist/index.js';
import { argOf, emit } from './util.mjs';

const name = argOf('--tap');
const ns = argOf('--netns');
const n = Number(argOf('--n', '20000'));
const len = Number(argOf('--len', '1400'));
const timeoutMs = Number(argOf('--timeout-ms', '60000'));
const link = new TapLink({ name, mode: 'tap', netns: `/var/run/netns/${ns}`, offloads: false });
execFileSync('ip', ['-n', ns, 'link', 'set', name, 'master', argOf('--bridge'), 'up']);
const stack = new Stack({ link, address: argOf('--address') });
const done = (obj, code) => {
  emit(obj);
  stack.crash();
  link.close();
  process.exit(code);
};
const guard = setTimeout(() => done({ error: `timed out after ${timeoutMs} ms (${sent} of ${n} messages queued)` }, 2), timeoutMs);
let sent = 0;
const c = stack.sctp.connect({ host: argOf('--host'), port: 5001 });
const t0 = performance.now();
const msg = new Uint8Array(len).fill(0x61);
const pump = () => {
  // send() queues the message even when it answers false (backpressure): count it, then wait.
  while (sent < n) {
    sent++;
    if (!c.send(msg)) break;
  }
  check();
};
const check = () => {
  if (sent >= n && c.bufferedAmount === 0) {
    clearTimeout(guard);
    const ms = performance.now() - t0;
    c.shutdown();
    setTimeout(() => done({ result: { ms, messages: n, bytes: n * len } }, 0), 200);
  }
};
c.on('drain', pump);
const poll = setInterval(() => {
  if (c.state === 'ESTABLISHED') {
    clearInterval(poll);
    pump();
    setInterval(check, 5);
  }
}, 2);
