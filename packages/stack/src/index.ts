export * from './errors.js';
export * from './link.js';
export * from './checkpoint-types.js';
export * from './clock.js';
export * from './stack.js';
export * from './checkpoint.js';
export * from './engine/types.js';
export * from './engine/engine.js';
export * from './engine/arp.js';
export * from './engine/reassembly.js';
export * from './udp/layer.js';
export * from './udp/socket.js';
export * from './links/faults.js';
export * from './links/memory.js';
export * from './links/faulty.js';
export * from './links/pcap.js';
export * from './links/cuttable.js';
export * from './util/random.js';
export * from './util/addr.js';
export * from './sctp/index.js';
export {
  Socket,
  Server,
  TcpSocket,
  TcpServer,
  type ServerOptions as TcpServerOptions,
  type ListenOptions as TcpServerListenOptions,
  type SocketOptions as TcpSocketOptions,
  type SocketConnectOptions as TcpConnectOptions,
  type AddressInfo as TcpAddressInfo,
  type ConnectionListener as TcpConnectionListener,
  type TcpApiHost,
  type CreateServerArgs as TcpCreateServerArgs,
  type ConnectArgs as TcpConnectArgs,
} from './tcp/api.js';
export * from './links/shared.js';
export { releaseFrame } from './tcp/slab.js';
