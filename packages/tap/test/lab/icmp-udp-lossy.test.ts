import { icmpUdpSuite } from './icmp-udp-suite.js';

// 1% random loss each way in the client namespace (iptables statistic) + 20 ms delay each way (FaultyLink).
icmpUdpSuite(true);
