#!/bin/bash
# Re-capture the REAL_* fixtures of fixtures.ts (not run by the tests; needs root).
# Everything happens inside two private network namespaces with a per-run suffix, on
# 198.18.0.0/24, and the namespaces are removed on exit. Output: $OUT (default /tmp/wire-real.pcap).
set -u
S=wfx$$
A=${S}a; B=${S}b
cleanup() { ip netns del $A 2>/dev/null; ip netns del $B 2>/dev/null; }
trap cleanup EXIT
ip netns add $A && ip netns add $B || exit 1
ip -n $A link add va type veth peer name vb netns $B
ip -n $A link set va address 52:54:00:12:34:56
ip -n $B link set vb address 52:54:00:65:43:ab
ip -n $A addr add 198.18.0.1/24 dev va
ip -n $B addr add 198.18.0.2/24 dev vb
ip netns exec $A sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.va.disable_ipv6=1 net.ipv4.conf.va.force_igmp_version=2
ip netns exec $B sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.vb.disable_ipv6=1
ip -n $A link set lo up; ip -n $B link set lo up
ip -n $A link set va up; ip -n $B link set vb up
sleep 1
ip netns exec $A timeout 20 tcpdump -U -i va -w "${OUT:-/tmp/wire-real.pcap}" -s 0 not ip6 2>/dev/null &
TD=$!
sleep 1.5
ip netns exec $A ping -c 1 -W 2 198.18.0.2 >/dev/null
ip netns exec $A python3 -c "
import socket
s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('198.18.0.1',40000))
s.sendto(b'hello hastack\n',('198.18.0.2',5555))
import struct,time
m=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)
m.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack('4s4s', socket.inet_aton('239.1.2.3'), socket.inet_aton('198.18.0.1')))
time.sleep(0.5)
m.setsockopt(socket.IPPROTO_IP, socket.IP_DROP_MEMBERSHIP, struct.pack('4s4s', socket.inet_aton('239.1.2.3'), socket.inet_aton('198.18.0.1')))
time.sleep(0.5)
"
sleep 1.5
kill $TD 2>/dev/null; wait $TD 2>/dev/null
echo done
