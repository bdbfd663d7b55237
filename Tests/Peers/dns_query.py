#!/usr/bin/env python3
"""A camera's stub resolver: A queries for each name, over UDP or TCP (RFC 7766 framing, all on one connection).
Prints one line per answer: the address that answered, the RCODE, and whether the answer's ID is the query's.
With --garbage (TCP), then sends a message that is not a query and prints "closed" or "open" for what the server
did with the connection.

Usage: dns_query.py udp|tcp SERVER PORT NAME... [--garbage]"""
import socket
import struct
import sys

arguments = [a for a in sys.argv[1:] if a != "--garbage"]
transport, server, port, names = arguments[0], arguments[1], int(arguments[2]), arguments[3:]


def query(name, ident):
    labels = b"".join(bytes([len(p)]) + p for p in name.encode().split(b".")) + b"\0"
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + struct.pack("!HH", 1, 1)


def receive(connection, count):
    data = b""
    while len(data) < count:
        chunk = connection.recv(count - len(data))
        if not chunk:
            raise EOFError("the server closed the connection")
        data += chunk
    return data


if transport == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(3)
else:
    s = socket.create_connection((server, port), timeout=3)
for ident, name in enumerate(names, start=0x4200):
    if transport == "udp":
        s.sendto(query(name, ident), (server, port))
        answer, source = s.recvfrom(512)
    else:
        message = query(name, ident)
        s.sendall(struct.pack("!H", len(message)) + message)
        answer, source = receive(s, struct.unpack("!H", receive(s, 2))[0]), s.getpeername()
    print(source[0], answer[3] & 0x0F, struct.unpack("!H", answer[:2])[0] == ident, flush=True)
if "--garbage" in sys.argv and transport == "tcp":
    s.sendall(struct.pack("!H", 3) + b"bad")
    print("closed" if s.recv(2) == b"" else "open")
