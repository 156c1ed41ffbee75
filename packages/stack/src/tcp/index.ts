// Placeholder until the TCP layer lands (issue 3): the Stack wires it in already.
import { err } from '../errors.js';
import type { IpRx, TransportContext, TransportProtocol } from '../engine/types.js';

export interface TcpOptions {
  [key: string]: unknown;
}

export class TcpLayer implements TransportProtocol {
  readonly name = 'tcp';
  readonly protocol = 6;
  constructor(readonly ctx: TransportContext, readonly options: TcpOptions = {}) {}
  receive(_rx: IpRx, _payload: Uint8Array, _ip: Uint8Array, _now: number): void {}
  poll(_now: number): void {}
  pollAt(): number {
    return Infinity;
  }
  stats(): Record<string, unknown> {
    return {};
  }
  createServer(..._args: unknown[]): never {
    throw err('ENOTSUP', 'TCP is not implemented yet');
  }
  connect(..._args: unknown[]): never {
    throw err('ENOTSUP', 'TCP is not implemented yet');
  }
}
