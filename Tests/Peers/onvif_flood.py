#!/usr/bin/env python3
"""Someone on the VMS network who sends ONVIF POSTs with operation names of their own choosing: --count
requests, each a SOAP 1.2 envelope whose Body element has a distinct --length-character name (what would grow a
per-name counter without bound). Prints how many answers of each HTTP status came back, as JSON."""
import argparse
import http.client
import json

parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--count", type=int, default=300)
parser.add_argument("--length", type=int, default=4000)
args = parser.parse_args()

statuses = {}
connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
for index in range(args.count):
    name = ("Op%d" % index).ljust(args.length, "x")
    body = (
        '<?xml version="1.0"?><s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope">'
        '<s:Body><x:%s xmlns:x="urn:attacker:%d"/></s:Body></s:Envelope>' % (name, index)
    )
    try:
        connection.request("POST", "/onvif/device_service", body=body,
                           headers={"Content-Type": "application/soap+xml"})
        response = connection.getresponse()
        response.read()
        statuses[response.status] = statuses.get(response.status, 0) + 1
        if response.getheader("Connection", "").lower() == "close":
            connection.close()
            connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
    except (OSError, http.client.HTTPException):
        statuses["error"] = statuses.get("error", 0) + 1
        connection.close()
        connection = http.client.HTTPConnection("127.0.0.1", args.port, timeout=10)
print(json.dumps({str(k): v for k, v in statuses.items()}))
