#!/usr/bin/env bash
# Makes the demo camera's clips (ffmpeg 5.1 with libx264 164 and libx265 3.5, as on Debian 12). The committed
# files in Sources/CameraSimulator/Resources were made by exactly these commands:
#   demo.h264  4 s of testsrc2 at 640x360, 25 fps, Constrained Baseline, an IDR every 2 s (a camera-like GOP),
#              SPS/PPS repeated before each IDR, Annex B.
#   demo.h265  the same picture in HEVC Main, an IDR every 2 s, VPS/SPS/PPS before each, Annex B.
#   demo.aac   4 s of a 440 Hz tone, AAC-LC 16 kHz mono in ADTS frames (what Dahua and Hikvision cameras send).
#   demo.alaw  / demo.ulaw  the same tone as raw G.711 A-law / mu-law at 8 kHz (PCMA / PCMU).
set -euo pipefail
dir=${1:-Sources/CameraSimulator/Resources}
ff() { ffmpeg -hide_banner -loglevel error -y "$@"; }
ff -f lavfi -i "testsrc2=size=640x360:rate=25" -t 4 \
    -c:v libx264 -preset veryfast -profile:v baseline -pix_fmt yuv420p \
    -x264-params "keyint=50:min-keyint=50:scenecut=0:bframes=0:repeat-headers=1" -b:v 400k \
    -bsf:v h264_mp4toannexb -f h264 "$dir/demo.h264"
ff -f lavfi -i "testsrc2=size=640x360:rate=25" -t 4 \
    -c:v libx265 -preset veryfast -pix_fmt yuv420p \
    -x265-params "keyint=50:min-keyint=50:scenecut=0:bframes=0:repeat-headers=1:log-level=error" -b:v 300k \
    -f hevc "$dir/demo.h265"
tone="sine=frequency=440:sample_rate=16000:duration=4"
ff -f lavfi -i "$tone" -c:a aac -b:a 32k -ar 16000 -ac 1 -f adts "$dir/demo.aac"
ff -f lavfi -i "$tone" -c:a pcm_alaw -ar 8000 -ac 1 -f alaw "$dir/demo.alaw"
ff -f lavfi -i "$tone" -c:a pcm_mulaw -ar 8000 -ac 1 -f mulaw "$dir/demo.ulaw"
