#!/usr/bin/python3
"""End-to-end load test of the relay, run by hand (not in CI).

Starts the camera simulator, the gateway (release build) relaying it, and for comparison a GStreamer relay
(gst-rtsp-server: rtspsrc ! rtph264depay ! rtph264pay) pulling the same camera. Opens N TCP-interleaved readers
on each relay plus one reader straight on the camera, for a bounded time, and prints per relay:
delivered Mbit/s, packet loss, added latency (p50/p99, each frame's arrival through the relay minus its arrival
straight from the camera, frames matched by the content of their slices), the relay's CPU seconds per second and
peak RSS. Before that, the time to first decoded frame (ffmpeg) straight from the camera and through each relay,
which shows the keyframe fast start. Everything listens on 127.0.0.1 and stops by itself.

Needs: ffmpeg, python3-gi python3-gst-1.0 gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-{good,bad} (Debian).
Usage (Debian's python3, which has gi): scripts/load-test.py [--readers 20] [--seconds 20] [--camgw .build/release/camgw]
"""
import argparse, asyncio, hashlib, os, re, signal, socket, subprocess, sys, tempfile, time

# ---------------------------------------------------------------- GStreamer relay (child process mode)

def run_gst_relay(camera_url, port):
    import gi
    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    gi.require_version("GstRtsp", "1.0")
    from gi.repository import Gst, GstRtsp, GstRtspServer, GLib
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( rtspsrc location={camera_url} protocols=tcp latency=0 ! rtph264depay ! "
                       f"rtph264pay name=pay0 pt=96 config-interval=-1 )")
    factory.set_shared(True)
    factory.set_protocols(GstRtsp.RTSPLowerTrans.TCP)
    server.get_mount_points().add_factory("/relay", factory)
    server.attach(None)
    print(f"gst-relay: rtsp://127.0.0.1:{port}/relay", flush=True)
    GLib.MainLoop().run()

# ---------------------------------------------------------------- a minimal RTSP reader

class Reader:
    def __init__(self, url, name):
        self.url, self.name = url, name
        self.bytes = 0
        self.packets = 0
        self.lost = 0
        self.last_seq = None
        self.frames = []          # (signature, arrival time of the frame's last packet)
        self._nals = []
        self._fu = bytearray()

    def on_packet(self, channel, data, now):
        self.bytes += len(data) + 4
        if channel != 0 or len(data) < 12:
            return
        self.packets += 1
        seq = int.from_bytes(data[2:4], "big")
        if self.last_seq is not None:
            gap = (seq - self.last_seq - 1) & 0xFFFF
            if gap < 1000:
                self.lost += gap
        self.last_seq = seq
        cc = data[0] & 0x0F
        offset = 12 + 4 * cc
        if data[0] & 0x10:
            offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
        end = len(data) - (data[-1] if data[0] & 0x20 else 0)
        self.depacketize(data[offset:end])
        if data[1] & 0x80:  # marker: the frame is complete
            vcl = b"".join(n for n in self._nals if (n[0] & 0x1F) in (1, 5))
            if vcl:
                self.frames.append((hashlib.blake2b(vcl, digest_size=8).digest(), now))
            self._nals = []

    def depacketize(self, p):
        if not p:
            return
        t = p[0] & 0x1F
        if t == 24:
            i = 1
            while i + 2 <= len(p):
                n = int.from_bytes(p[i:i + 2], "big")
                self._nals.append(bytes(p[i + 2:i + 2 + n]))
                i += 2 + n
        elif t == 28 and len(p) > 2:
            if p[1] & 0x80:
                self._fu = bytearray([(p[0] & 0xE0) | (p[1] & 0x1F)])
            self._fu += p[2:]
            if p[1] & 0x40:
                self._nals.append(bytes(self._fu))
        else:
            self._nals.append(bytes(p))

async def read_packets(reader_obj, stream_reader, deadline):
    while time.monotonic() < deadline:
        try:
            first = await asyncio.wait_for(stream_reader.readexactly(1), timeout=max(0.1, deadline - time.monotonic()))
        except (asyncio.TimeoutError, asyncio.IncompleteReadError):
            return
        if first != b"$":
            await stream_reader.readuntil(b"\r\n\r\n")
            continue
        header = await stream_reader.readexactly(3)
        data = await stream_reader.readexactly(int.from_bytes(header[1:3], "big"))
        reader_obj.on_packet(header[0], data, time.monotonic())

async def play(reader_obj, deadline):
    m = re.match(r"rtsp://([^:/]+):(\d+)(/.*)", reader_obj.url)
    r, w = await asyncio.open_connection(m.group(1), int(m.group(2)))
    cseq = 0
    async def request(method, url, headers=""):
        nonlocal cseq
        cseq += 1
        w.write(f"{method} {url} RTSP/1.0\r\nCSeq: {cseq}\r\nUser-Agent: camgw-load\r\n{headers}\r\n".encode())
        await w.drain()
        while True:  # skip interleaved data that may precede the answer
            first = await r.readexactly(1)
            if first == b"$":
                header = await r.readexactly(3)
                await r.readexactly(int.from_bytes(header[1:3], "big"))
                continue
            head = (first + await r.readuntil(b"\r\n\r\n")).decode(errors="replace")
            length = re.search(r"(?i)content-length:\s*(\d+)", head)
            body = (await r.readexactly(int(length.group(1)))).decode(errors="replace") if length else ""
            return head, body
    head, sdp = await request("DESCRIBE", reader_obj.url, "Accept: application/sdp\r\n")
    base = re.search(r"(?i)content-base:\s*(\S+)", head)
    base = base.group(1) if base else reader_obj.url + "/"
    controls = [l[10:].strip() for l in sdp.splitlines() if l.startswith("a=control:") and l[10:].strip() != "*"]
    track = controls[0] if controls[0].startswith("rtsp://") else base.rstrip("/") + "/" + controls[0]
    head, _ = await request("SETUP", track, "Transport: RTP/AVP/TCP;unicast;interleaved=0-1\r\n")
    session = re.search(r"(?i)session:\s*([^;\r\n]+)", head).group(1).strip()
    await request("PLAY", reader_obj.url, f"Session: {session}\r\nRange: npt=0.000-\r\n")
    await read_packets(reader_obj, r, deadline)
    w.close()

# ---------------------------------------------------------------- processes and measurement

def start(cmd, pattern, env=None, timeout=30):
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        m = re.search(pattern, line)
        if m:
            return proc, m.group(0)
    proc.kill()
    raise SystemExit(f"{cmd[0]} did not print {pattern}")

def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

def peak_rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0

def percentile(values, p):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]

def added_latencies(direct, relayed):
    by_signature = {}
    for signature, t in direct.frames:
        by_signature.setdefault(signature, []).append(t)
    result = []
    for signature, t in relayed.frames:
        candidates = by_signature.get(signature)
        if candidates:
            nearest = min(candidates, key=lambda d: abs(t - d))
            if abs(t - nearest) < 1.5:  # the clip repeats every 4 s
                result.append((t - nearest) * 1000)
    return result

async def measure(relays, camera_url, readers, seconds):
    warmup = 3.0
    deadline = time.monotonic() + warmup + seconds
    direct = Reader(camera_url, "direct")
    sets = {name: [Reader(url, name) for _ in range(readers)] for name, (url, _) in relays.items()}
    tasks = [asyncio.create_task(play(direct, deadline))]
    for name, group in sets.items():
        tasks += [asyncio.create_task(play(r, deadline)) for r in group]
    await asyncio.sleep(warmup)
    start_cpu = {name: cpu_seconds(proc.pid) for name, (_, proc) in relays.items()}
    base_bytes = {name: sum(r.bytes for r in group) for name, group in sets.items()}
    t0 = time.monotonic()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    failures = [r for r in results if isinstance(r, BaseException)]
    elapsed = time.monotonic() - t0
    if failures:
        print(f"{len(failures)} readers failed, first: {failures[0]!r}")
    print(f"\n{readers} readers per relay, {seconds:.0f} s measured after {warmup:.0f} s warm-up, plus 1 direct reader on the camera")
    print(f"{'relay':10} {'Mbit/s out':>10} {'lost pkts':>10} {'p50 ms':>8} {'p99 ms':>8} {'frames':>8} {'CPU s/s':>8} {'peak RSS MiB':>13}")
    for name, group in sets.items():
        proc = relays[name][1]
        mbits = (sum(r.bytes for r in group) - base_bytes[name]) * 8 / elapsed / 1e6
        lost = sum(r.lost for r in group)
        latencies = [l for r in group for l in added_latencies(direct, r)]
        cpu = (cpu_seconds(proc.pid) - start_cpu[name]) / elapsed
        print(f"{name:10} {mbits:10.2f} {lost:10d} {percentile(latencies, 50):8.2f} {percentile(latencies, 99):8.2f} "
              f"{len(latencies):8d} {cpu:8.3f} {peak_rss_mib(proc.pid):13.1f}")
        # A refused reader (a limit, an error reply) plays nothing without raising: say so, or the figures lie.
        silent = sum(1 for r in group if not r.frames)
        if silent:
            print(f"  {name}: {silent} of {readers} readers received no frame")

def time_to_first_frame(url, runs=5):
    """Seconds from starting ffmpeg to its first decoded picture (it exits after one), median of `runs`."""
    times = []
    for _ in range(runs):
        t0 = time.monotonic()
        subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-rtsp_transport", "tcp", "-i", url,
                        "-frames:v", "1", "-f", "null", "-"], check=True, timeout=30)
        times.append(time.monotonic() - t0)
        time.sleep(0.37)  # land at different points of the camera's 2 s GOP
    return sorted(times)[len(times) // 2], min(times), max(times)

def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--readers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--camgw", default=".build/release/camgw")
    parser.add_argument("--gst-relay", nargs=2, metavar=("CAMERA_URL", "PORT"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.gst_relay:
        return run_gst_relay(args.gst_relay[0], int(args.gst_relay[1]))
    if not os.path.exists(args.camgw):
        raise SystemExit(f"{args.camgw} missing: swift build -c release --product camgw")
    processes = []
    try:
        camera, camera_url = start([args.camgw, "simulator", "--port", "0"], r"rtsp://\S+")
        processes.append(camera)
        port = camera_url.split(":")[2].split("/")[0]
        config = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        # Anonymous readers (on 127.0.0.1 only): the measurement is the relay's, not the Digest handshake's; and
        # every reader comes from 127.0.0.1, so the per-source connection limit (32 by default) is raised.
        config.write(f'[server]\nlisten = "127.0.0.1"\nport = 0\nallow_anonymous = true\n'
                     f'max_connections_per_source = 10000\n\n[relay]\nmax_readers_per_stream = 10000\n'
                     f'max_readers = 10000\n\n[[camera]]\nname = "cam"\naddress = "127.0.0.1"\n'
                     f'port = {port}\non_demand = false\n\n  [[camera.stream]]\n  name = "main"\n'
                     f'  path = "/Streaming/Channels/101"\n')
        config.close()
        gateway, gateway_url = start([args.camgw, "run", "--config", config.name], r"rtsp://\S+/cam/main")
        processes.append(gateway)
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        gst_port = s.getsockname()[1]
        s.close()
        gst, gst_url = start([sys.executable, __file__, "--gst-relay", camera_url, str(gst_port)], r"rtsp://\S+/relay")
        processes.append(gst)
        relays = {"camgw": (gateway_url, gateway), "gstreamer": (gst_url, gst)}
        time.sleep(1)
        print("time to first decoded frame (ffmpeg -frames:v 1), median [min-max] of 5:")
        for name, url in (("camera", camera_url), ("camgw", gateway_url), ("gstreamer", gst_url)):
            median, low, high = time_to_first_frame(url)
            print(f"  {name:10} {median * 1000:7.0f} ms  [{low * 1000:.0f}-{high * 1000:.0f}]")
        asyncio.run(measure(relays, camera_url, args.readers, args.seconds))
    finally:
        for proc in processes:
            proc.send_signal(signal.SIGTERM)
        for proc in processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()

if __name__ == "__main__":
    main()
