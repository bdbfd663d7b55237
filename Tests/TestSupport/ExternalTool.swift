import Foundation

/// Runs a real peer (ffmpeg, ffprobe, gst-launch-1.0, the camgw executable) as a child process, with a deadline:
/// a test must stop by itself even when the peer hangs.
public struct ExternalTool: Sendable {
    public struct Result: Sendable {
        public var status: Int32
        public var stdout: String
        public var stderr: String
        public var timedOut: Bool
    }

    public struct NotInstalled: Error, CustomStringConvertible {
        public var tool: String
        public var description: String { "\(self.tool) is not installed: run scripts/test.sh, which installs it" }
    }

    /// The Python with the PyPI peers (wsdiscovery, onvif-zeep-async) that `scripts/test.sh` installs into
    /// `.build-venv`; nil when it has not run.
    public static var peerPython: String? {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let python = repository.appendingPathComponent(".build-venv/bin/python").path
        return FileManager.default.isExecutableFile(atPath: python) ? python : nil
    }

    /// The venv with python-onvif-zeep, which cannot share one with onvif-zeep-async (both are `onvif`).
    public static var peerZeepPython: String? {
        let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let python = repository.appendingPathComponent(".build-venv-zeep/bin/python").path
        return FileManager.default.isExecutableFile(atPath: python) ? python : nil
    }

    /// A script of `Tests/Peers`.
    public static func peerScript(_ name: String) -> String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Peers/\(name)").path
    }

    /// Finds an executable on PATH.
    public static func path(of tool: String) throws -> String {
        if tool.hasPrefix("/") { return tool }
        let paths = (ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":")
        for directory in paths {
            let candidate = "\(directory)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        throw NotInstalled(tool: tool)
    }

    /// Runs `tool` to completion or until `timeout` seconds pass (then it is killed and `timedOut` is set).
    public static func run(
        _ tool: String,
        _ arguments: [String],
        input: String? = nil,
        environment: [String: String] = [:],
        timeout: Double = 30
    ) async throws -> Result {
        let process = try ChildProcess(
            path: try self.path(of: tool),
            arguments: arguments,
            environment: environment.isEmpty ? nil : ProcessInfo.processInfo.environment.merging(environment) { $1 },
            input: input != nil
        )
        if let input, let stdin = process.stdin {
            stdin.write(Data(input.utf8))
            try stdin.close()
        }
        // Blocking reads get threads of their own. On the cooperative pool, or on Dispatch's global queues (as
        // wide as the machine has cores, and shared with the cooperative pool on Linux), a few of them starve
        // every other test task until the processes exit.
        let outData = Self.readToEnd(process.stdout)
        let errData = Self.readToEnd(process.stderr)
        let deadline = Date().addingTimeInterval(timeout)
        var timedOut = false
        while process.isRunning {
            if Date() > deadline {
                timedOut = true
                process.signal(SIGTERM)
                try? await Task.sleep(for: .milliseconds(500))
                process.signal(SIGKILL)
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        while process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return Result(
            status: process.terminationStatus,
            stdout: String(decoding: await outData.value, as: UTF8.self),
            stderr: String(decoding: await errData.value, as: UTF8.self),
            timedOut: timedOut
        )
    }

    private static func readToEnd(_ handle: FileHandle) -> Task<Data, Never> {
        Task {
            await withCheckedContinuation { continuation in
                let thread = Thread { continuation.resume(returning: handle.readDataToEndOfFile()) }
                thread.start()
            }
        }
    }

}
