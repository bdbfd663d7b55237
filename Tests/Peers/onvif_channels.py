#!/usr/bin/env python3
"""Each virtual ONVIF device of a recorder's channels, as Home Assistant's client (onvif-zeep-async) sees it:
its profiles, the video sources it lists and its stream URI; then the same client asks that device for the
stream URI of another channel's profile (--foreign) and of an empty token, which must both be refused.
Prints one JSON object: {port: {...}}."""
import argparse
import asyncio
import json

from onvif import ONVIFCamera

parser = argparse.ArgumentParser()
parser.add_argument("--host", required=True)
parser.add_argument("--port", type=int, action="append", required=True)
parser.add_argument("--user", required=True)
parser.add_argument("--password", required=True)
parser.add_argument("--foreign", required=True, help="a profile token of another channel")
args = parser.parse_args()


async def stream_uri(media, token):
    request = media.create_type("GetStreamUri")
    request.ProfileToken = token
    request.StreamSetup = {"Stream": "RTP-Unicast", "Transport": {"Protocol": "RTSP"}}
    try:
        return (await media.GetStreamUri(request)).Uri
    except Exception as error:  # the fault zeep raises
        return "refused: %s" % error


async def device(port):
    out = {}
    camera = ONVIFCamera(args.host, port, args.user, args.password, adjust_time=True)
    try:
        await camera.update_xaddrs()
        media = await camera.create_media_service()
        profiles = await media.GetProfiles()
        out["profiles"] = [profile.token for profile in profiles]
        out["profile_sources"] = sorted(
            {profile.VideoSourceConfiguration.SourceToken for profile in profiles if profile.VideoSourceConfiguration}
        )
        out["video_sources"] = [source.token for source in await media.GetVideoSources()]
        out["stream_uri"] = await stream_uri(media, profiles[0].token) if profiles else None
        out["foreign"] = await stream_uri(media, args.foreign)
        out["empty"] = await stream_uri(media, "")
    finally:
        await camera.close()
    return out


async def main():
    results = await asyncio.gather(*(device(port) for port in args.port))
    print(json.dumps({str(port): result for port, result in zip(args.port, results)}))


asyncio.run(main())
