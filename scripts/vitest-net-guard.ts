/**
 * Safety net for the unit test layer (vitest setupFiles): tests run the hastack stacks in memory
 * and may use the kernel only over loopback (node:net comparisons). Any attempt by a test
 * process to open a kernel TCP connection or send a UDP datagram to an address outside
 * 127.0.0.0/8 / ::1 fails loudly instead of leaving the machine. (Node's http client silently
 * falls back to a kernel socket when a custom createConnection is ignored — this catches that.)
 * Lab tests reach 198.18.0.0/15 only inside their own network namespaces, through child processes.
 */
import net from 'node:net';
import dgram from 'node:dgram';

function isLoopback(host: unknown): boolean {
  if (host === undefined || host === null || host === '') return true; // Node defaults to localhost
  if (typeof host !== 'string') return false;
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

function refuse(what: string, host: unknown): never {
  const e = new Error(`net guard: test tried to ${what} ${String(host)} outside loopback; hastack tests must not touch the host network`);
  (e as NodeJS.ErrnoException).code = 'ERR_TEST_NETWORK_GUARD';
  throw e;
}

const origConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function guardedConnect(this: net.Socket, ...args: unknown[]) {
  // net.createConnection passes one pre-normalised [options, cb] array.
  const first = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
  if (first && typeof first === 'object') {
    const o = first as { path?: string; host?: string };
    if (o.path == null && !isLoopback(o.host)) refuse('connect to', o.host);
  } else if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    const host = typeof args[1] === 'string' ? args[1] : undefined;
    if (!isLoopback(host)) refuse('connect to', host);
  }
  return (origConnect as (...a: unknown[]) => net.Socket).apply(this, args);
} as typeof net.Socket.prototype.connect;

const origSend = dgram.Socket.prototype.send;
dgram.Socket.prototype.send = function guardedSend(this: dgram.Socket, ...args: unknown[]) {
  for (const a of args.slice(1)) if (typeof a === 'string' && !isLoopback(a)) refuse('send a datagram to', a);
  return (origSend as (...a: unknown[]) => void).apply(this, args);
} as typeof dgram.Socket.prototype.send;

const origDgramConnect = dgram.Socket.prototype.connect;
dgram.Socket.prototype.connect = function guardedDgramConnect(this: dgram.Socket, ...args: unknown[]) {
  const host = typeof args[1] === 'string' ? args[1] : undefined;
  if (!isLoopback(host)) refuse('connect a datagram socket to', host);
  return (origDgramConnect as (...a: unknown[]) => void).apply(this, args);
} as typeof dgram.Socket.prototype.connect;
