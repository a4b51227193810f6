#!/usr/bin/env python3
# Tells the LAN that this node now holds local addresses. Runs for the node agent's lifetime and reads
# "<interface> <address>" lines on stdin; for each address it sends:
# - IPv4: a gratuitous ARP request and a gratuitous ARP reply (sender = target = the address, from the
#   interface's MAC, to the broadcast MAC), as `arping -U` and `arping -A` do: switches and hosts differ
#   in which one they honour;
# - IPv6: an unsolicited neighbour advertisement (RFC 4861 7.2.6) from the address to ff02::1, Override
#   flag set, target link-layer address option = the interface's MAC, hop limit 255.
# The first round leaves as soon as the line is read (one long-lived process: no start-up and no queue on
# a takeover's path, however many come in a row), two more follow 1 s and 2 s later, for neighbours that
# ignored the first (Linux ignores an update within its locktime, 1 s, of the previous one unless it
# counts as gratuitous). A line for an address that still has rounds to go starts its three rounds again.
# An address that left this node meanwhile (handed over) gets no further round: a late round would point
# the LAN back at the old owner. For the same reason it exits as soon as stdin closes (its agent stopped
# or was killed) and sends nothing more. A first round that fails is reported as one line on stdout.
# Node.js has no raw sockets (AF_PACKET, raw ICMPv6), hence this helper. Needs CAP_NET_RAW.
import os
import select
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


def send(raw, ifname, address):
    if ':' in address:
        send_na(ifname, address)
    else:
        for frame in arp_frames(ifname, address):
            raw.sendto(frame, (ifname, ETH_P_ARP))


def report(failed):
    more = f' (and {len(failed) - 20} more)' if len(failed) > 20 else ''
    print('; '.join(failed[:20]) + more, flush=True)


ROUNDS = 3
pending = {}  # (interface, address) -> [when the next round is due (monotonic), rounds still to send]
stdin = sys.stdin.fileno()
buffered = b''
with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as raw:
    while True:
        due = min((p[0] for p in pending.values()), default=None)
        timeout = None if due is None else max(0.0, due - time.monotonic())
        if select.select([stdin], [], [], timeout)[0]:
            chunk = os.read(stdin, 1 << 16)
            if not chunk:
                break
            *lines, buffered = (buffered + chunk).split(b'\n')
            failed = []
            for line in lines:
                target = tuple(line.decode().split())
                if len(target) != 2:
                    continue
                pending.pop(target, None)
                try:
                    send(raw, *target)
                except OSError as err:
                    failed.append(f'{target[0]} {target[1]}: {err}')
                    continue
                pending[target] = [time.monotonic() + 1, ROUNDS - 1]
            if failed:
                report(failed)
        now = time.monotonic()
        for target, p in list(pending.items()):
            if p[0] > now:
                continue
            if not still_here(target[1]):
                del pending[target]
                continue
            try:
                send(raw, *target)
            except OSError:
                pass  # the first round's failure was reported; the address may be gone by now
            p[0] += 1
            p[1] -= 1
            if p[1] == 0:
                del pending[target]
