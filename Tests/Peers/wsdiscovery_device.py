#!/usr/bin/env python3
"""A camera as WS-Discovery sees it, made with the wsdiscovery package (a real WS-Discovery stack, not ours):
it publishes one NetworkVideoTransmitter and answers probes until killed, or for --seconds at most."""
import argparse
import time

from wsdiscovery import QName, Scope
from wsdiscovery.publishing import ThreadedWSPublishing

parser = argparse.ArgumentParser()
parser.add_argument("--xaddr", required=True)
parser.add_argument("--name", required=True)
parser.add_argument("--hardware", required=True)
parser.add_argument("--seconds", type=float, default=60)
args = parser.parse_args()

publisher = ThreadedWSPublishing()
publisher.start()
publisher.publishService(
    types=[
        QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter", "dn"),
        QName("http://www.onvif.org/ver10/device/wsdl", "Device", "tds"),
    ],
    scopes=[
        Scope("onvif://www.onvif.org/name/" + args.name),
        Scope("onvif://www.onvif.org/hardware/" + args.hardware),
        Scope("onvif://www.onvif.org/Profile/Streaming"),
    ],
    xAddrs=[args.xaddr],
)
print("publishing", flush=True)
try:
    time.sleep(args.seconds)
finally:
    publisher.stop()
