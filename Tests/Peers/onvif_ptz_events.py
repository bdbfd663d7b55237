#!/usr/bin/env python3
"""onvif-zeep-async on a camera whose policy grants PTZ and events: a move and a stop, then a PullPoint
subscription, one PullMessages and the unsubscribe. Prints one JSON object with what it saw."""
import argparse
import asyncio
import datetime as dt
import json

from onvif import ONVIFCamera

parser = argparse.ArgumentParser()
parser.add_argument("--host", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
args = parser.parse_args()


async def main():
    out = {}
    camera = ONVIFCamera(args.host, args.port, args.user, args.password, adjust_time=True)
    try:
        await camera.update_xaddrs()
        out["xaddrs"] = dict(camera.xaddrs)
        media = await camera.create_media_service()
        token = (await media.GetProfiles())[0].token
        ptz = await camera.create_ptz_service()
        move = ptz.create_type("ContinuousMove")
        move.ProfileToken = token
        move.Velocity = {"PanTilt": {"x": 0.5, "y": 0}}
        await ptz.ContinuousMove(move)
        await ptz.Stop({"ProfileToken": token})
        out["ptz"] = "moved"
        manager = await camera.create_pullpoint_manager(dt.timedelta(seconds=60), lambda: None)
        out["subscription"] = camera.xaddrs.get("http://www.onvif.org/ver10/events/wsdl/PullPointSubscription")
        pullpoint = manager.get_service()
        messages = await pullpoint.PullMessages({"MessageLimit": 10, "Timeout": dt.timedelta(seconds=1)})
        out["messages"] = len(messages.NotificationMessage)
        out["topics"] = sorted({str(m.Topic._value_1) for m in messages.NotificationMessage})
        await manager.shutdown()
        out["unsubscribed"] = True
    finally:
        await camera.close()
    print(json.dumps(out))


asyncio.run(main())
