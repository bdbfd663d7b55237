#!/usr/bin/env python3
"""Listens to the WS-Discovery group on one interface for --seconds and prints the announcements it heard
(Hello and Bye, with the endpoint reference) as JSON."""
import argparse
import json
import re
import socket
import struct
import time

parser = argparse.ArgumentParser()
parser.add_argument("--interface", required=True)
parser.add_argument("--seconds", type=float, default=10)
args = parser.parse_args()

sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("", 3702))
sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP,
                struct.pack("4s4s", socket.inet_aton("239.255.255.250"), socket.inet_aton(args.interface)))
print("listening", flush=True)
heard = []
deadline = time.time() + args.seconds
while time.time() < deadline:
    sock.settimeout(max(0.05, deadline - time.time()))
    try:
        data, _ = sock.recvfrom(65535)
    except socket.timeout:
        break
    text = data.decode("utf-8", "replace")
    action = re.search(r"discovery/(Hello|Bye|Probe)\b", text)
    address = re.search(r"<[a-zA-Z0-9]*:?Address>([^<]*)</", text)
    if action and action.group(1) in ("Hello", "Bye"):
        heard.append({"action": action.group(1), "endpoint": address.group(1) if address else None})
print(json.dumps(heard))
