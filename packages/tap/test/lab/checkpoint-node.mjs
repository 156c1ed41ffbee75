// One hastack node of the checkpoint lab test (spawned by checkpoint-takeover.test.ts): a Stack on
// a TAP device serving examples/ha-http-server. Uses the built packages (dist/).
//
// Config in env CHECKPOINT_NODE_CONFIG: { role: 'primary'|'takeover', tap, netns, ip, mac, file, key }.
// Protocol on stdio:
//   → "TAP <name>" once the device exists;        ← "GO" (the parent put it on the bridge)
//   primary:  → "LISTENING";  ← "CHECKPOINT" → writes the encoded checkpoint of the one served
//             connection to `file` → "CHECKPOINTED <bytes> <objects> <sendRanges>" (then the parent SIGKILLs it)
//   takeover: reads `file`, restores, resumes → "RESTORED" → "READY" when the peer's ACK matched
//   anything failing → "ERROR <message>"
import { readFileSync, writeFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

const dist = (p) => import(new URL(p, import.meta.url).href);
const { Stack } = await dist('../../../stack/dist/index.js');
const { TapLink } = await dist('../../dist/index.js');
const { encodeCheckpoint, decodeCheckpoint } = await dist('../../../checkpoint/dist/index.js');
const { createHttpFileServer, sendEndSeqOf } = await dist('../../../../examples/ha-http-server/dist/index.js');

const cfg = JSON.parse(process.env.CHECKPOINT_NODE_CONFIG ?? '{}');
const say = (line) => process.stdout.write(`${line}\n`);
process.on('uncaughtException', (e) => {
  say(`ERROR ${e?.stack ?? e}`);
  process.exit(1);
});

const link = new TapLink({ name: cfg.tap, mode: 'tap', netns: cfg.netns, mac: cfg.mac });
say(`TAP ${link.name}`);
const rl = createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value;
if ((await next()) !== 'GO') process.exit(2);

const stack = new Stack({ link, address: `${cfg.ip}/24`, nodeId: cfg.role });
const server = createHttpFileServer({ root: null, net: stack, clock: stack.clock, idleTimeout: 60_000 });

if (cfg.role === 'primary') {
  await server.listen(80, cfg.ip);
  say('LISTENING');
  if ((await next()) !== 'CHECKPOINT') process.exit(2);
  // Wait (bounded) until the download is really under way: ≥ 2 MB acknowledged by curl.
  const acked = (s) => {
    const i = s?.tcpInfo?.();
    return i ? (i.sndUna - i.iss) >>> 0 : 0;
  };
  for (let i = 0; i < 400 && !(acked(server.sockets()[0]) > 2_000_000); i++) await new Promise((r) => setTimeout(r, 50));
  const [sock] = server.sockets();
  if (!sock) throw new Error('no connection to checkpoint');
  const state = server.connectionState(sock);
  const cp = sock.checkpoint({ app: { protocol: 'http/1.1', state } });
  const bytes = encodeCheckpoint(cp, { key: cfg.key });
  writeFileSync(cfg.file, bytes);
  // From here on the node is dead to the network (what a checkpoint-then-failure looks like):
  // anything sent after the checkpoint would make it stale. The parent SIGKILLs the process.
  stack.crash();
  say(`CHECKPOINTED ${bytes.length} ${cp.app.objects.length} ${cp.tcp.sendRanges.length} ${cp.tcp.state}`);
  // Wait for SIGKILL.
  await new Promise(() => {});
} else {
  const cp = decodeCheckpoint(readFileSync(cfg.file), { key: cfg.key });
  stack.gratuitousArp();
  const sock = stack.restore(cp, { objectSource: server.objectSource, readyTimeout: 30_000 });
  sock.on('ready', () => say('READY'));
  sock.on('error', (e) => say(`ERROR restored socket: ${e.code ?? e.message}`));
  server.resume(sock, cp.app.state, { sendEndSeq: sendEndSeqOf(cp.tcp) });
  say('RESTORED');
  await new Promise(() => {});
}
