import CameraSimulator
import Foundation
import MallocInterposerSwift
import NIOCore
@_spi(Benchmark) import RTSPRelay

// Pushes one camera's packets through the relay's data path to 1, 10 and 100 in-process readers and prints
// packets per second and allocations per forwarded packet. Run through scripts/bench.sh, which builds in release
// and preloads malloc-interposer (without the preload the allocation counts read zero, and say so).

let readSize = 16 * 1024
let frames = 25 * 60  // one minute of the demo camera
let clip = try H264Clip.demo()
let stream = clip.interleavedStream(frames: frames)
// The camera connection's reads, cut where TCP would cut them: frames straddle reads.
var reads: [ByteBuffer] = []
var cursor = stream
while cursor.readableBytes > 0 {
    reads.append(cursor.readSlice(length: min(readSize, cursor.readableBytes))!)
}

MallocInterposerSwift.initialize()
let preloaded = ProcessInfo.processInfo.environment["LD_PRELOAD"]?.contains("MallocInterposer") ?? false
print(
    "camgw-bench: demo clip, \(frames) frames, \(stream.readableBytes) bytes in \(reads.count) reads of \(readSize) bytes"
)
if !preloaded { print("  (malloc-interposer not preloaded: allocation counts are not measured; use scripts/bench.sh)") }
print(
    "readers  checks(1=on)  packets-in/s  packet-writes/s  Mbit/s-out  allocs/forwarded-packet  allocs/read  ns/packet-in"
        + "  rewritten/packet-in  bytes-copied/packet-in"
)

// The last row repeats one reader with the payload checks off (PayloadGuard passing everything unread): the
// difference in packets-in/s against the first row is the checks' cost per packet.
for (readerCount, checks) in [(1, true), (10, true), (100, true), (1, false)] {
    let harness = try FanoutBenchmarkHarness(
        readers: readerCount,
        keyframeCache: ProcessInfo.processInfo.environment["CAMGW_BENCH_NO_CACHE"] == nil,
        payloadChecks: checks
    )
    // Warm-up: one pass fills the arena, the batch array and the keyframe cache to their steady-state sizes.
    for read in reads { try harness.read(read) }
    let writtenBefore = harness.packetsWritten
    let receivedBefore = harness.packetsReceived
    let rewrittenBefore = (harness.packetsRewritten, harness.bytesRewritten)
    let passes = readerCount >= 100 ? 2 : 5
    MallocInterposerSwift.reset()
    MallocInterposerSwift.hook()
    let start = DispatchTime.now()
    for _ in 0..<passes {
        for read in reads { try harness.read(read) }
    }
    let end = DispatchTime.now()
    MallocInterposerSwift.unhook()
    let statistics = MallocInterposerSwift.getStatistics()
    let seconds = Double(end.uptimeNanoseconds - start.uptimeNanoseconds) / 1e9
    let received = harness.packetsReceived - receivedBefore
    let written = harness.packetsWritten - writtenBefore
    let bitsOut = Double(stream.readableBytes * passes * readerCount * 8)
    let allocationsPerPacket = Double(statistics.mallocCount) / Double(max(written, 1))
    let allocationsPerRead = Double(statistics.mallocCount) / Double(reads.count * passes)
    let rewritten = Double(harness.packetsRewritten - rewrittenBefore.0) / Double(max(received, 1))
    let copied = Double(harness.bytesRewritten - rewrittenBefore.1) / Double(max(received, 1))
    print(
        String(
            format: "%7d  %12d  %12.0f  %15.0f  %10.0f  %23.4f  %11.3f  %12.1f  %19.4f  %22.1f",
            readerCount,
            checks ? 1 : 0,
            Double(received) / seconds,
            Double(written) / seconds,
            bitsOut / seconds / 1e6,
            allocationsPerPacket,
            allocationsPerRead,
            seconds * 1e9 / Double(max(received, 1)),
            rewritten,
            copied
        )
    )
    // Replaying a minute of video in a fraction of a second sends sender reports faster than the relay passes
    // them on (two a second), so those are dropped; nothing else should be.
    if harness.packetsDropped > 0 { print("  dropped: \(harness.drops.sorted { $0.key < $1.key })") }
    harness.close()
}
