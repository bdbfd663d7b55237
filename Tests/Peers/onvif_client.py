#!/usr/bin/env python3
"""The ONVIF client Home Assistant uses (onvif-zeep-async), against a gateway's virtual device: device
information, profiles and a stream URI, then the PTZ move and the reboot a read-only camera must refuse.
Prints one JSON object with what it saw."""
import argparse
import asyncio
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
        device = await camera.create_devicemgmt_service()
        info = await device.GetDeviceInformation()
        out["manufacturer"] = info.Manufacturer
        out["model"] = info.Model
        out["serial"] = info.SerialNumber
        media = await camera.create_media_service()
        profiles = await media.GetProfiles()
        out["profiles"] = [profile.token for profile in profiles]
        request = media.create_type("GetStreamUri")
        request.ProfileToken = profiles[0].token
        request.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
        out["stream_uri"] = (await media.GetStreamUri(request)).Uri
        out["snapshot_uri"] = (await media.GetSnapshotUri({"ProfileToken": profiles[0].token})).Uri
        try:
            await device.SystemReboot()
            out["reboot"] = "done"
        except Exception as error:  # the fault zeep raises
            out["reboot"] = "refused: %s" % error
        # A client that calls PTZ although the device lists no PTZ service: send it to the device service.
        ptz_namespace = "http://www.onvif.org/ver20/ptz/wsdl"
        out["ptz_listed"] = ptz_namespace in camera.xaddrs
        camera.xaddrs[ptz_namespace] = camera.xaddrs["http://www.onvif.org/ver10/device/wsdl"]
        ptz = await camera.create_ptz_service()
        move = ptz.create_type("ContinuousMove")
        move.ProfileToken = profiles[0].token
        move.Velocity = {"PanTilt": {"x": 0.5, "y": 0}}
        try:
            await ptz.ContinuousMove(move)
            out["ptz"] = "moved"
        except Exception as error:
            out["ptz"] = "refused: %s" % error
    finally:
        await camera.close()
    print(json.dumps(out))


asyncio.run(main())
