#!/usr/bin/env bash
# Makes the demo camera's clip: 4 s of ffmpeg's testsrc2 at 640x360, 25 fps, H.264 Constrained Baseline,
# one IDR every 2 s (a camera-like GOP), SPS/PPS repeated before each IDR, Annex B byte stream.
# The committed Sources/CameraSimulator/Resources/demo.h264 was made by exactly this command (ffmpeg 5.1, libx264 164).
set -euo pipefail
out=${1:-Sources/CameraSimulator/Resources/demo.h264}
ffmpeg -hide_banner -loglevel error -y -f lavfi -i "testsrc2=size=640x360:rate=25" -t 4 \
    -c:v libx264 -preset veryfast -profile:v baseline -pix_fmt yuv420p \
    -x264-params "keyint=50:min-keyint=50:scenecut=0:bframes=0:repeat-headers=1" -b:v 400k \
    -bsf:v h264_mp4toannexb -f h264 "$out"
