import { icmpUdpSuite } from './icmp-udp-suite.js';

icmpUdpSuite(false);
