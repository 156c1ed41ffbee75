// Placeholder until the TCP API (net.Server / net.Socket look-alikes) lands; its owner replaces this file.
import { err } from '../errors.js';
import type { Stack } from '../stack.js';

export function createServer(_stack: Stack, ..._args: unknown[]): never {
  throw err('ENOTSUP', 'TCP servers are not implemented yet');
}

export function connect(_stack: Stack, ..._args: unknown[]): never {
  throw err('ENOTSUP', 'TCP connections are not implemented yet');
}
