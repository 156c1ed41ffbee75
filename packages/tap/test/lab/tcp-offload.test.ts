import { tcpSuite } from './tcp-suite.js';

// TAP offloads on: checksum offload both ways, TSO-capable link, GRO super-frames from the kernel.
tcpSuite({ lossy: false, mib: 64, timeoutMs: 120_000, offloads: [true] });
