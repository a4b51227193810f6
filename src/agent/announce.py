#!/usr/bin/env python3
# Tells the LAN that this node now holds local addresses, for any number of them in one process (a node
# that takes over 10,000 addresses must not start 20,000 programs). Reads "<interface> <address>" lines
# on stdin and sends, for each address:
# - IPv4: a gratuitous ARP request and a gratuitous ARP reply (sender = target = the address, from the
#   interface's MAC, to the broadcast MAC), as `arping -U` and `arping -A` do: switches and hosts differ
#   in which one they honour;
# - IPv6: an unsolicited neighbour advertisement (RFC 4861 7.2.6) from the address to ff02::1, Override
#   flag set, target link-layer address option = the interface's MAC, hop limit 255.
# Three rounds, 1 s apart: a neighbour ignores an update within its locktime (Linux: 1 s) of the
# previous one, which is exactly when two nodes announce one address in quick succession. An address
# that left this node meanwhile (handed over) is not announced again: a late round would point the
# LAN back at the old owner.
# Node.js has no raw sockets (AF_PACKET, raw ICMPv6), hence this helper. Needs CAP_NET_RAW.
import socket
import struct
import sys
import time

ETH_P_ARP = 0x0806
BROADCAST = b'\xff' * 6
OVERRIDE = 0x20000000
TYPE_NA, OPT_TARGET_LLA = 136, 2

macs = {}


def mac_of(ifname):
    if ifname not in macs:
        with open(f'/sys/class/net/{ifname}/address') as f:
            macs[ifname] = bytes.fromhex(f.read().strip().replace(':', ''))
    return macs[ifname]


def arp_frames(ifname, address):
    mac, ip = mac_of(ifname), socket.inet_aton(address)
    # op 1 (request) with the broadcast MAC as target, op 2 (reply) with the own MAC, as iputils arping
    for op, target_mac in ((1, BROADCAST), (2, mac)):
        arp = struct.pack('!HHBBH', 1, 0x0800, 6, 4, op) + mac + ip + target_mac + ip
        yield (BROADCAST + mac + struct.pack('!H', ETH_P_ARP) + arp).ljust(60, b'\0')


def send_na(ifname, address):
    packet = (struct.pack('!BBHI', TYPE_NA, 0, 0, OVERRIDE) + socket.inet_pton(socket.AF_INET6, address)
              + struct.pack('!BB', OPT_TARGET_LLA, 1) + mac_of(ifname))  # the kernel fills in the checksum
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, ifname.encode())
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        s.bind((address, 0))  # the source address of the advertisement
        s.sendto(packet, ('ff02::1', 0, 0, socket.if_nametoindex(ifname)))


def still_here(address):
    # binding to an address succeeds only while it is on this host (unless net.ipv4.ip_nonlocal_bind
    # or its IPv6 twin is set: then every round is sent, as before)
    family = socket.AF_INET6 if ':' in address else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.bind((address, 0))
        return True
    except OSError:
        return False


targets = [line.split() for line in sys.stdin if line.strip()]
failed = 0
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as raw:
    for i in range(3):
        if i:
            time.sleep(1)
        for ifname, address in targets:
            if i and not still_here(address):
                continue
            try:
                if ':' in address:
                    send_na(ifname, address)
                else:
                    for frame in arp_frames(ifname, address):
                        raw.sendto(frame, (ifname, ETH_P_ARP))
            except OSError as err:
                if i == 0:
                    failed += 1
                    print(f'{ifname} {address}: {err}', file=sys.stderr)
sys.exit(1 if failed else 0)
