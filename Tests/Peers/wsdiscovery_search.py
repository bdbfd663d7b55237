#!/usr/bin/env python3
"""A VMS looking for ONVIF devices with the wsdiscovery package's client: prints the devices found as JSON."""
import json

from wsdiscovery import QName
from wsdiscovery.discovery import ThreadedWSDiscovery

discovery = ThreadedWSDiscovery()
discovery.start()
found = discovery.searchServices(types=[QName("http://www.onvif.org/ver10/network/wsdl", "NetworkVideoTransmitter")], timeout=3)
print(json.dumps([{"epr": service.getEPR(), "xaddrs": service.getXAddrs(), "scopes": [str(s.getValue()) for s in service.getScopes()]} for service in found]))
discovery.stop()
