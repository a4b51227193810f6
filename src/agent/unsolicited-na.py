#!/usr/bin/env python3
# Sends unsolicited IPv6 neighbour advertisements (RFC 4861 7.2.6): target = the address, Override
# flag set, target link-layer address option = the interface's MAC, to all-nodes ff02::1, hop limit 255.
# Three of them, 1 s apart: a neighbour ignores an update that comes within its locktime (Linux: 1 s)
# of the previous one, e.g. right after another node announced the same address.
# Node.js has no raw sockets and Debian's ndisc6 package has no unsolicited-NA tool, hence this helper.
# Usage: unsolicited-na.py <interface> <ipv6-address>
import socket
import struct
import sys
import time

ifname, target = sys.argv[1], sys.argv[2]
with open(f'/sys/class/net/{ifname}/address') as f:
    mac = bytes.fromhex(f.read().strip().replace(':', ''))
sock = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
sock.bind((target, 0))
OVERRIDE = 0x20000000
TYPE_NA, OPT_TARGET_LLA = 136, 2
packet = (struct.pack('!BBHI', TYPE_NA, 0, 0, OVERRIDE) + socket.inet_pton(socket.AF_INET6, target)
          + struct.pack('!BB', OPT_TARGET_LLA, 1) + mac)  # the kernel fills in the ICMPv6 checksum
for i in range(3):
    if i:
        time.sleep(1)
    sock.sendto(packet, ('ff02::1', 0, 0, socket.if_nametoindex(ifname)))
