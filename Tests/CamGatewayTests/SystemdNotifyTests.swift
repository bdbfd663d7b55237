import Foundation
import TestSupport
import Testing

/// `Type=notify` with a watchdog, as the unit in deploy/ declares: the daemon says READY once it listens, feeds the
/// watchdog from its event loop, and says STOPPING on SIGTERM. A datagram socket stands in for systemd.
@Suite struct SystemdNotifyTests {
    @Test func readyWatchdogAndStopping() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("camgw-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let socket = directory.appendingPathComponent("notify").path
        // Python's socket module as systemd's side: bind, print each datagram, for 6 s.
        async let heard = ExternalTool.run(
            "python3",
            [
                "-c",
                """
                import socket, sys, time
                s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind(sys.argv[1]); print("bound", flush=True)
                end = time.time() + 6
                while time.time() < end:
                    s.settimeout(max(0.05, end - time.time()))
                    try: print(s.recv(4096).decode().replace("\\n", "|"), flush=True)
                    except socket.timeout: break
                """,
                socket,
            ],
            timeout: 20
        )
        for _ in 0..<100 where !FileManager.default.fileExists(atPath: socket) {
            try await Task.sleep(for: .milliseconds(20))
        }
        let gateway = try GatewayProcess(
            arguments: ["run", "--port", "0"],
            environment: ["NOTIFY_SOCKET": socket, "WATCHDOG_USEC": "400000"]
        )
        _ = try await gateway.waitForOutput(matching: "rtsp://127\\.0\\.0\\.1:[0-9]+/demo/main")
        try await Task.sleep(for: .seconds(2))
        #expect(await gateway.terminate() == 0)
        let lines = try await heard.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "bound")
        #expect(lines.contains { $0.hasPrefix("READY=1") }, "\(lines)")
        #expect(lines.filter { $0 == "WATCHDOG=1" }.count >= 5, "every 200 ms for 2 s: \(lines)")
        #expect(lines.last == "STOPPING=1", "\(lines)")
    }
}
