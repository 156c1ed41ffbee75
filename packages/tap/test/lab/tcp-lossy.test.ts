import { tcpSuite } from './tcp-suite.js';

// 1% random loss each way in the client namespace (iptables statistic) + 20 ms each way from
// FaultyLink (40 ms more RTT). At that loss and RTT a Reno-style sender is bounded near
// MSS/RTT * 1.22/sqrt(p) ≈ 3.5 Mbit/s (Mathis et al.), so 64 MiB would take ~2.5 min per transfer;
// these runs move 4 MiB each way (~30 losses and recoveries per transfer) and the loss-free
// runs in tcp.test.ts move 64 MiB.
tcpSuite({ lossy: true, mib: 4, timeoutMs: 90_000, offloads: [false, true] });
