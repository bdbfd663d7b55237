#!/usr/bin/env python3
"""An RTSP reader made with aiortsp (PyPI), a client the project did not write: it answers the first Digest
challenge (the gateway's SHA-256) without naming the algorithm. Reads --packets RTP packets over UDP and prints
{"packets": N, "payload_types": [...]} as JSON, or exits 1 with the error."""
import argparse
import asyncio
import json
import sys

from aiortsp.rtsp.reader import RTSPReader

parser = argparse.ArgumentParser()
parser.add_argument("--url", required=True)
parser.add_argument("--packets", type=int, default=50)
parser.add_argument("--seconds", type=float, default=20)
args = parser.parse_args()


async def main():
    count = 0
    types = set()
    async with RTSPReader(args.url, timeout=10) as reader:
        async for packet in reader.iter_packets():
            count += 1
            types.add(packet.pt)
            if count >= args.packets:
                break
    return {"packets": count, "payload_types": sorted(types)}


try:
    print(json.dumps(asyncio.run(asyncio.wait_for(main(), args.seconds))))
except Exception as error:  # the reason goes to the test's failure message
    print("aiortsp failed: %r" % (error,), file=sys.stderr)
    sys.exit(1)
