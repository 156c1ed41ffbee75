import { tcpSuite } from './tcp-suite.js';

tcpSuite({ lossy: false, mib: 64, timeoutMs: 120_000, offloads: [false] });
