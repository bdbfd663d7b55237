#!/usr/bin/env python3
"""Hostile WS-Discovery datagrams, written by hand (no library would send them).

probe --to ADDRESS: sends Probes whose Types hold words that are not QNames (":" under a default namespace,
"a:", ":b", "a:b:c", an undeclared prefix) unicast to ADDRESS:3702, the shape that once trapped the daemon.

device --interface ADDRESS: a camera on the camera network that answers every Probe it hears with such Types,
plus a Name scope carrying terminal escape sequences, for --seconds."""
import argparse
import socket
import struct
import sys
import time
import uuid

GROUP = "239.255.255.250"
PORT = 3702
WORDS = [":", "::", "a:", ":b", "a:b:c", "undeclared:Device", "dn:NetworkVideoTransmitter"]


def envelope(action, body, relates_to=None):
    relates = "<a:RelatesTo>%s</a:RelatesTo>" % relates_to if relates_to else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope"'
        ' xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing"'
        ' xmlns:d="http://schemas.xmlsoap.org/ws/2005/04/discovery"'
        ' xmlns:dn="http://www.onvif.org/ver10/network/wsdl">'
        "<s:Header><a:Action>http://schemas.xmlsoap.org/ws/2005/04/discovery/%s</a:Action>"
        "<a:MessageID>urn:uuid:%s</a:MessageID>%s"
        "<a:To>urn:schemas-xmlsoap-org:ws:2005:04:discovery</a:To></s:Header>"
        "<s:Body>%s</s:Body></s:Envelope>" % (action, uuid.uuid4(), relates, body)
    ).encode()


def probes():
    for word in WORDS:
        yield envelope("Probe", '<d:Probe><d:Types xmlns="urn:x">%s</d:Types></d:Probe>' % word)
    yield envelope("Probe", '<d:Probe><d:Types>%s</d:Types></d:Probe>' % " ".join(WORDS))


def send_probes(address):
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    count = 0
    for datagram in probes():
        sender.sendto(datagram, (address, PORT))
        count += 1
        time.sleep(0.05)
    print("sent %d" % count, flush=True)


def serve(interface, seconds):
    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", PORT))
    membership = struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton(interface))
    listener.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    listener.settimeout(0.2)
    print("listening", flush=True)
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            data, source = listener.recvfrom(65536)
        except socket.timeout:
            continue
        if b"Probe<" not in data and b":Probe>" not in data and b"Probe " not in data:
            continue
        start = data.find(b"MessageID>")
        message_id = data[start + 10:data.find(b"<", start + 10)].decode() if start >= 0 else "urn:uuid:0"
        for word in WORDS:
            match = (
                '<d:ProbeMatches><d:ProbeMatch>'
                "<a:EndpointReference><a:Address>urn:uuid:%s</a:Address></a:EndpointReference>"
                '<d:Types xmlns="urn:x">%s</d:Types>'
                "<d:Scopes>onvif://www.onvif.org/name/EVIL%%1B%%5B2J%%1B%%5D0%%3Bowned%%07 "
                "onvif://www.onvif.org/hardware/DS-%%0D%%0Afake</d:Scopes>"
                "<d:XAddrs>http://%s:80/onvif/device_service</d:XAddrs>"
                "<d:MetadataVersion>1</d:MetadataVersion></d:ProbeMatch></d:ProbeMatches>"
                % (uuid.uuid5(uuid.NAMESPACE_URL, word), word, interface)
            )
            listener.sendto(envelope("ProbeMatches", match, message_id), source)
        print("answered", flush=True)


parser = argparse.ArgumentParser()
sub = parser.add_subparsers(dest="mode", required=True)
p = sub.add_parser("probe")
p.add_argument("--to", required=True)
d = sub.add_parser("device")
d.add_argument("--interface", required=True)
d.add_argument("--seconds", type=float, default=20)
args = parser.parse_args()
if args.mode == "probe":
    send_probes(args.to)
else:
    serve(args.interface, args.seconds)
sys.exit(0)
