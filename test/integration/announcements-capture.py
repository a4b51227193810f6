# Counts, on one interface, the gratuitous ARPs (sender address = target address, request or reply) and
# the neighbour advertisements that announce the given addresses, until stdin closes; then prints one
# JSON object {address: count}. Agent tests use it to see on the wire what a node announced (Node has
# no raw sockets). Run inside the namespace of the interface.
import ipaddress
import json
import select
import socket
import sys

ifname, *addresses = sys.argv[1:]
v4 = {ipaddress.IPv4Address(a).packed: a for a in addresses if ':' not in a}
v6 = {ipaddress.IPv6Address(a).packed: a for a in addresses if ':' in a}
counts = {a: 0 for a in addresses}
sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0003))
sock.bind((ifname, 0))
print('ready', flush=True)
while True:
    readable, _, _ = select.select([sock, sys.stdin], [], [])
    if sys.stdin in readable:
        break
    frame = sock.recv(65535)
    ethertype = frame[12:14]
    if ethertype == b'\x08\x06' and len(frame) >= 42:
        sender, target = frame[28:32], frame[38:42]
        if sender == target and sender in v4:
            counts[v4[sender]] += 1
    # IPv6 next header ICMPv6 (58), ICMPv6 type neighbour advertisement (136), target at offset 8
    elif ethertype == b'\x86\xdd' and len(frame) >= 78 and frame[20] == 58 and frame[54] == 136:
        if frame[62:78] in v6:
            counts[v6[frame[62:78]]] += 1
print(json.dumps(counts), flush=True)
