/**
 * The node:net-shaped TCP API. `stack.createServer(...)` and `stack.connect(...)` call these with
 * the stack first; everything else behaves like `net.createServer` / `net.connect`.
 * See docs/tcp.md (guide) and docs/api/tcp.md (reference).
 */
import { Server, type ConnectionListener, type ServerOptions } from './server.js';
import { Socket, normalizeConnectArgs, type SocketConnectOptions, type TcpApiHost } from './socket.js';

/** Argument lists of `stack.createServer(...)` and `stack.connect(...)` (for typed wrappers). */
export type CreateServerArgs = [options?: ServerOptions | ConnectionListener, connectionListener?: ConnectionListener];
export type ConnectArgs =
  | [options: SocketConnectOptions, connectListener?: () => void]
  | [port: number | string, host?: string, connectListener?: () => void]
  | [port: number | string, connectListener?: () => void];

/** `net.createServer([options][, connectionListener])` on `stack`. */
export function createServer(stack: TcpApiHost, options?: ServerOptions | ConnectionListener, connectionListener?: ConnectionListener): Server;
export function createServer(stack: TcpApiHost, ...args: unknown[]): Server;
export function createServer(stack: TcpApiHost, ...args: unknown[]): Server {
  return new Server(stack, args[0] as ServerOptions | ConnectionListener | undefined, args[1] as ConnectionListener | undefined);
}

/** `net.connect(options[, connectListener])` / `net.connect(port[, host][, connectListener])` on `stack`. */
export function connect(stack: TcpApiHost, options: SocketConnectOptions, connectListener?: () => void): Socket;
export function connect(stack: TcpApiHost, port: number | string, host?: string, connectListener?: () => void): Socket;
export function connect(stack: TcpApiHost, ...args: unknown[]): Socket;
export function connect(stack: TcpApiHost, ...args: unknown[]): Socket {
  const [opts] = normalizeConnectArgs(args);
  const socket = new Socket({ ...opts, stack });
  return socket.connect(...(args as [SocketConnectOptions]));
}

/** Alias of connect (Node's net.createConnection). */
export const createConnection = connect;

export { Socket, Server, Socket as TcpSocket, Server as TcpServer };
export type { ServerOptions, ListenOptions, ConnectionListener } from './server.js';
export type { SocketOptions, SocketConnectOptions, AddressInfo, AdoptOptions, TcpApiHost } from './socket.js';
