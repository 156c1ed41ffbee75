/**
 * Annotated frames. Built by an independent script (Python struct + its own checksum), then
 * checked with tshark 4 (`-o ip.check_checksum:TRUE -o udp.check_checksum:TRUE`): every
 * checksum below is reported "[correct]" there, and no frame is malformed.
 * Hosts: A = 52:54:00:12:34:56 / 198.18.0.1, B = 52:54:00:65:43:ab / 198.18.0.2.
 */
import { hex } from './helpers.js';

/** ARP who-has 198.18.0.2 tell 198.18.0.1, padded to 60 bytes. */
export const ARP_REQUEST = hex(`
  ff ff ff ff ff ff   // eth dst: broadcast
  52 54 00 12 34 56   // eth src: A
  08 06               // ethertype ARP
  00 01               // htype Ethernet
  08 00               // ptype IPv4
  06 04               // hlen 6, plen 4
  00 01               // op request
  52 54 00 12 34 56   // sender MAC A
  c6 12 00 01         // sender IP 198.18.0.1
  00 00 00 00 00 00   // target MAC unknown
  c6 12 00 02         // target IP 198.18.0.2
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 // padding to 60
`);

/** ARP reply 198.18.0.2 is-at B, to A. */
export const ARP_REPLY = hex(`
  52 54 00 12 34 56  52 54 00 65 43 ab  08 06   // eth A <- B, ARP
  00 01 08 00 06 04  00 02                      // Ethernet/IPv4, op reply
  52 54 00 65 43 ab  c6 12 00 02                // sender B, 198.18.0.2
  52 54 00 12 34 56  c6 12 00 01                // target A, 198.18.0.1
  00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00
`);

/** ICMP echo request shaped like Linux iputils ping (16-byte timeval, then 0x10..0x37). */
export const ICMP_ECHO = hex(`
  52 54 00 65 43 ab  52 54 00 12 34 56  08 00   // eth B <- A, IPv4
  45                 // version 4, IHL 5
  00                 // TOS
  00 54              // total length 84
  4a 3c              // ident
  40 00              // DF, offset 0
  40                 // TTL 64
  01                 // protocol ICMP
  64 45              // header checksum (tshark: correct)
  c6 12 00 01        // src 198.18.0.1
  c6 12 00 02        // dst 198.18.0.2
  08 00              // type 8 echo request, code 0
  49 15              // ICMP checksum (tshark: correct)
  1c 2b              // id 0x1c2b
  00 01              // seq 1
  b3 d3 7b 65 00 00 00 00  a1 b2 03 00 00 00 00 00       // timeval
  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f       // pattern 0x10..0x37
  20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f
  30 31 32 33 34 35 36 37
`);

/** UDP 198.18.0.1:40000 -> 198.18.0.2:5555 "hello hastack\n", padded to 60 bytes. */
export const UDP_FRAME = hex(`
  52 54 00 65 43 ab  52 54 00 12 34 56  08 00   // eth B <- A, IPv4
  45 00 00 2a        // v4 IHL 5, TOS 0, total length 42
  12 34 00 00        // ident 0x1234, no flags, offset 0
  40 11 dc 67        // TTL 64, UDP, header checksum (tshark: correct)
  c6 12 00 01  c6 12 00 02                      // src, dst
  9c 40              // src port 40000
  15 b3              // dst port 5555
  00 16              // length 22
  d5 70              // checksum (tshark: correct)
  68 65 6c 6c 6f 20 68 61 73 74 61 63 6b 0a     // "hello hastack\\n"
  00 00 00 00        // Ethernet padding (beyond IP total length)
`);

/** ICMP port unreachable from B to A quoting the UDP datagram's IP header + 8 bytes. */
export const ICMP_PORT_UNREACH = hex(`
  52 54 00 12 34 56  52 54 00 65 43 ab  08 00   // eth A <- B, IPv4
  45 00 00 38  00 42 00 00  40 01 ee 5b         // total 56, ident 0x42, TTL 64, ICMP, checksum
  c6 12 00 02  c6 12 00 01                      // src B, dst A
  03 03              // type 3 dest unreachable, code 3 port
  75 82              // checksum (tshark: correct)
  00 00 00 00        // unused / next-hop MTU 0
  45 00 00 2a 12 34 00 00 40 11 dc 67 c6 12 00 01 c6 12 00 02   // quoted IP header
  9c 40 15 b3 00 16 d5 70                                       // quoted first 8 bytes (UDP header)
`);

/** IGMPv2 membership report for 239.1.2.3 with the Router Alert option (RFC 2236 §2, RFC 2113). */
export const IGMP_REPORT = hex(`
  01 00 5e 01 02 03  52 54 00 12 34 56  08 00   // eth dst: multicast MAC of 239.1.2.3 (RFC 1112 §6.4)
  46                 // version 4, IHL 6 (one option word)
  00 00 20           // TOS 0, total length 32
  00 00 40 00        // ident 0, DF
  01 02 2d c0        // TTL 1, IGMP, header checksum (tshark: correct)
  c6 12 00 01        // src 198.18.0.1
  ef 01 02 03        // dst 239.1.2.3
  94 04 00 00        // option: Router Alert (type 148, length 4, value 0)
  16                 // type 0x16 v2 membership report
  00                 // max resp time (0 in reports)
  f8 fa              // checksum (tshark: correct)
  ef 01 02 03        // group 239.1.2.3
  00 00 00 00 00 00 00 00 00 00 00 00 00 00     // padding
`);

/** IGMPv2 general query from B to 224.0.0.1, max resp time 10 s. */
export const IGMP_QUERY = hex(`
  01 00 5e 00 00 01  52 54 00 65 43 ab  08 00
  46 00 00 20  00 00 40 00  01 02 3e c2  c6 12 00 02  e0 00 00 01  94 04 00 00
  11                 // type 0x11 membership query
  64                 // max resp time 100 (tenths of a second)
  ee 9b              // checksum (tshark: correct)
  00 00 00 00        // group 0: general query
  00 00 00 00 00 00 00 00 00 00 00 00 00 00
`);

/** The IPv4 header example with a known checksum 0xb861 (widely used test vector). */
export const IPV4_B861 = hex(`
  45 00 00 73 00 00 40 00 40 11 b8 61 c0 a8 00 01 c0 a8 00 c7
`);

/*
 * Real frames, captured with tcpdump on a veth pair between two private network namespaces
 * (Linux 6.x kernel, iputils ping, a Python UDP socket, IP_ADD/DROP_MEMBERSHIP with
 * force_igmp_version=2). Captured at the sender, so short frames are not padded, and the UDP
 * checksum still holds the kernel's CHECKSUM_PARTIAL value (the folded pseudo-header sum) that the
 * veth "hardware" would have completed: tshark computes 0xd570 for it.
 */

/** Real ARP request from the Linux kernel (42 bytes, unpadded). */
export const REAL_ARP_REQUEST = hex(`
  ff ff ff ff ff ff 52 54 00 12 34 56 08 06    // broadcast <- A, ARP
  00 01 08 00 06 04 00 01                      // Ethernet/IPv4 request
  52 54 00 12 34 56 c6 12 00 01                // sender A 198.18.0.1
  00 00 00 00 00 00 c6 12 00 02                // target ? 198.18.0.2
`);

/** Real ARP reply. */
export const REAL_ARP_REPLY = hex(`
  52 54 00 12 34 56 52 54 00 65 43 ab 08 06
  00 01 08 00 06 04 00 02
  52 54 00 65 43 ab c6 12 00 02                // sender B 198.18.0.2
  52 54 00 12 34 56 c6 12 00 01                // target A 198.18.0.1
`);

/** Real `ping -c 1` echo request (iputils). */
export const REAL_PING_REQUEST = hex(`
  52 54 00 65 43 ab 52 54 00 12 34 56 08 00
  45 00 00 54 9d d0 40 00 40 01 10 b1          // v4, len 84, id 0x9dd0, DF, TTL 64, ICMP, csum 10b1
  c6 12 00 01 c6 12 00 02
  08 00 a2 b0 36 d8 00 01                      // echo request, csum a2b0, id 0x36d8, seq 1
  1d 9c 02 6b 00 00 00 00 3d 9c 02 00 00 00 00 00          // struct timeval
  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f
  20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35 36 37
`);

/** The kernel's echo reply to it (note: no DF, a fresh IP id). */
export const REAL_PING_REPLY = hex(`
  52 54 00 12 34 56 52 54 00 65 43 ab 08 00
  45 00 00 54 0e e2 00 00 40 01 df 9f          // id 0x0ee2, no DF, csum df9f
  c6 12 00 02 c6 12 00 01
  00 00 aa b0 36 d8 00 01                      // echo reply, csum aab0
  1d 9c 02 6b 00 00 00 00 3d 9c 02 00 00 00 00 00
  10 11 12 13 14 15 16 17 18 19 1a 1b 1c 1d 1e 1f
  20 21 22 23 24 25 26 27 28 29 2a 2b 2c 2d 2e 2f 30 31 32 33 34 35 36 37
`);

/** Real UDP datagram 198.18.0.1:40000 -> 198.18.0.2:5555, checksum field = partial 0x8c4f. */
export const REAL_UDP_PARTIAL = hex(`
  52 54 00 65 43 ab 52 54 00 12 34 56 08 00
  45 00 00 2a c0 6c 40 00 40 11 ee 2e          // len 42, id 0xc06c, DF, TTL 64, UDP
  c6 12 00 01 c6 12 00 02
  9c 40 15 b3 00 16 8c 4f                      // ports 40000 -> 5555, length 22, csum (partial)
  68 65 6c 6c 6f 20 68 61 73 74 61 63 6b 0a    // "hello hastack\\n"
`);

/** The kernel's port unreachable: TOS 0xc0, quoting the *whole* datagram (RFC 1812 §4.3.2.3). */
export const REAL_PORT_UNREACH = hex(`
  52 54 00 12 34 56 52 54 00 65 43 ab 08 00
  45 c0 00 46 0e f5 00 00 40 01 de da          // TOS 0xc0, len 70
  c6 12 00 02 c6 12 00 01
  03 03 d2 6d 00 00 00 00                      // port unreachable, csum d26d
  45 00 00 2a c0 6c 40 00 40 11 ee 2e c6 12 00 01 c6 12 00 02   // quoted IP header
  9c 40 15 b3 00 16 8c 4f 68 65 6c 6c 6f 20 68 61 73 74 61 63 6b 0a  // quoted UDP, all of it
`);

/** Real IGMPv2 membership report for 239.1.2.3 (TOS 0xc0, Router Alert). */
export const REAL_IGMP_REPORT = hex(`
  01 00 5e 01 02 03 52 54 00 12 34 56 08 00
  46 c0 00 20 00 00 40 00 01 02 2d 00 c6 12 00 01 ef 01 02 03
  94 04 00 00                                  // Router Alert
  16 00 f8 fa ef 01 02 03                      // v2 report 239.1.2.3
`);

/** Real IGMPv2 leave for 239.1.2.3, sent to all-routers 224.0.0.2. */
export const REAL_IGMP_LEAVE = hex(`
  01 00 5e 00 00 02 52 54 00 12 34 56 08 00
  46 c0 00 20 00 00 40 00 01 02 3e 02 c6 12 00 01 e0 00 00 02
  94 04 00 00
  17 00 f7 fa ef 01 02 03                      // leave group 239.1.2.3
`);
