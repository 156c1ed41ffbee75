/**
 * TCP: the sans-IO protocol engine (engine.ts) and its contract with the Node-shaped API.
 * See docs/tcp-internals.md for the TCB layout, timers, buffers and where each RFC rule lives.
 */
export { TcpLayer, TcpConn, type TcpOptions, type TcpStats } from './engine.js';
export { Tcb, isSynchronized, type TcpTimers, type CubicState } from './tcb.js';
export { SendBuffer, Reassembly, type OooSegment } from './buffers.js';
export { sipHash24, hashTuple } from './siphash.js';
export type * from './contract.js';
