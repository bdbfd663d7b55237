#!/usr/bin/env python3
"""Writes the FuzzPayload seeds from the simulator's clips (Sources/CameraSimulator/Resources, made by
scripts/make-demo-clip.sh), packetized as a camera sends them, and the metadata seeds. Run it again after the
clips change; the seeds are committed so that CI needs neither.

FuzzPayload input: a format byte (0 H.264, 1 H.265, 2 AAC-hbr 13/3/3, 3 LATM, 4 ONVIF metadata; bit 7: keep SEI
types 1 and 5), then packets as [marker:1 length:15][payload]."""
import os
import re
import struct

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLIPS = os.path.join(ROOT, "Sources/CameraSimulator/Resources")
SEEDS = os.path.join(ROOT, "fuzz/seeds")
MTU = 1200


def nals(name):
    data = open(os.path.join(CLIPS, name), "rb").read()
    return [p.rstrip(b"\x00") for p in re.split(b"\x00\x00\x01", data) if p.rstrip(b"\x00")]


def packet(payload, marker=False):
    return struct.pack(">H", len(payload) | (0x8000 if marker else 0)) + payload


def video(name, h265, count):
    # The parameter sets and SEI, then the clip's smaller slices (some over the MTU, so fragmented) up to
    # `count` units: the seed stays under fuzz.sh's -max_len of 8192 bytes, whole.
    out = b""
    units = nals(name)
    sets = 4 if h265 else 3
    units = units[:sets] + [u for u in units[sets:] if len(u) < 1900][: count - sets]
    header = 2 if h265 else 1
    # The parameter sets again as one aggregation packet (STAP-A / AP), as cameras send them before a keyframe.
    aggregate = bytes([0x60, 0x01]) if h265 else bytes([0x78])
    for unit in units[: 3 if h265 else 2]:
        aggregate += struct.pack(">H", len(unit)) + unit
    out += packet(aggregate)
    for unit in units:
        if len(unit) <= MTU:
            out += packet(unit, marker=True)
            continue
        body = unit[header:]
        if h265:
            indicator = bytes([(49 << 1) | (unit[0] & 0x81), unit[1]])
            kind = (unit[0] >> 1) & 0x3F
        else:
            indicator = bytes([(unit[0] & 0xE0) | 28])
            kind = unit[0] & 0x1F
        chunks = [body[i : i + MTU] for i in range(0, len(body), MTU)]
        for i, chunk in enumerate(chunks):
            bits = (0x80 if i == 0 else 0) | (0x40 if i == len(chunks) - 1 else 0) | kind
            out += packet(indicator + bytes([bits]) + chunk, marker=i == len(chunks) - 1)
    return out


def adts_frames(count):
    data = open(os.path.join(CLIPS, "demo.aac"), "rb").read()
    frames, offset = [], 0
    while offset + 7 <= len(data) and len(frames) < count:
        length = ((data[offset + 3] & 3) << 11) | (data[offset + 4] << 3) | (data[offset + 5] >> 5)
        protection_absent = data[offset + 1] & 1
        header = 7 if protection_absent else 9
        frames.append(data[offset + header : offset + length])
        offset += length
    return frames


def aac(count):
    # RFC 3640 AAC-hbr: a 16-bit AU-headers-length, then 13-bit size + 3-bit index per AU.
    out = b""
    for frame in adts_frames(count):
        out += packet(struct.pack(">HH", 16, len(frame) << 3) + frame, marker=True)
    return out


def latm(count):
    # RFC 6416 as FFmpeg's rtpenc_latm writes it: PayloadLengthInfo (0xFF runs), then the frame; the last packet
    # here splits one frame over two packets (the second without a header).
    out = b""
    frames = adts_frames(count)
    for frame in frames[:-1]:
        out += packet(b"\xff" * (len(frame) // 255) + bytes([len(frame) % 255]) + frame, marker=True)
    last = frames[-1]
    first = b"\xff" * (len(last) // 255) + bytes([len(last) % 255]) + last[: len(last) // 2]
    out += packet(first) + packet(last[len(last) // 2 :], marker=True)
    return out


METADATA = (
    '<?xml version="1.0" encoding="UTF-8"?>'
    '<tt:MetadataStream xmlns:tt="http://www.onvif.org/ver10/schema" '
    'xmlns:wsnt="http://docs.oasis-open.org/wsn/b-2" xmlns:tns1="http://www.onvif.org/ver10/topics">'
    "<tt:Event><wsnt:NotificationMessage>"
    '<wsnt:Topic Dialect="http://www.onvif.org/ver10/tev/topicExpression/ConcreteSet">'
    "tns1:RuleEngine/CellMotionDetector/Motion</wsnt:Topic>"
    '<wsnt:Message><tt:Message UtcTime="2026-01-01T00:00:00Z" PropertyOperation="Changed">'
    '<tt:Source><tt:SimpleItem Name="VideoSourceConfigurationToken" Value="VideoSource_1"/></tt:Source>'
    '<tt:Data><tt:SimpleItem Name="IsMotion" Value="true"/></tt:Data>'
    "</tt:Message></wsnt:Message></wsnt:NotificationMessage></tt:Event></tt:MetadataStream>"
).encode()


def metadata():
    third = len(METADATA) // 3
    parts = [METADATA[:third], METADATA[third : 2 * third], METADATA[2 * third :]]
    return b"".join(packet(p, marker=i == 2) for i, p in enumerate(parts))


def write(target, name, data):
    os.makedirs(os.path.join(SEEDS, target), exist_ok=True)
    with open(os.path.join(SEEDS, target, name), "wb") as f:
        f.write(data)


write("FuzzPayload", "clip-h264", b"\x00" + video("demo.h264", False, 7))
write("FuzzPayload", "clip-h265", b"\x01" + video("demo.h265", True, 7))
write("FuzzPayload", "clip-aac", b"\x02" + aac(8))
write("FuzzPayload", "clip-latm", b"\x03" + latm(8))
write("FuzzPayload", "metadata", b"\x04" + metadata())
write("FuzzSOAP", "metadata-stream.xml", METADATA)
