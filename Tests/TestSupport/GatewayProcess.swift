import Foundation

/// The `camgw` executable running as a child process, as an admin would start it: the tests read what it prints
/// and talk to it over its real sockets.
public final class GatewayProcess: @unchecked Sendable {
    // @unchecked: the collected output sits behind `lock`; the child is set once in init.
    private let process: ChildProcess
    private let lock = NSLock()
    private var output = ""
    private var errorOutput = ""

    /// The `camgw` built beside the running test binary.
    public static var executable: URL {
        let testBinary = URL(
            fileURLWithPath: (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
                ?? CommandLine.arguments[0]
        )
        return testBinary.deletingLastPathComponent().appendingPathComponent("camgw")
    }

    /// `namespace`: run inside that network namespace (`ip netns exec` execs camgw in place, so signals reach it).
    /// `executable`: another long-running program than camgw, watched the same way.
    public init(
        arguments: [String],
        environment: [String: String]? = nil,
        namespace: NetworkNamespace? = nil,
        executable: URL = GatewayProcess.executable
    ) throws {
        let path = namespace == nil ? executable.path : "/usr/sbin/ip"
        let all = namespace.map { ["netns", "exec", $0.name, executable.path] + arguments } ?? arguments
        self.process = try ChildProcess(
            path: path,
            arguments: all,
            environment: environment.map { ProcessInfo.processInfo.environment.merging($0) { $1 } },
            input: false
        )
        for (handle, isError) in [(self.process.stdout, false), (self.process.stderr, true)] {
            // A blocking reader thread per stream, until the child closes it.
            let thread = Thread { [weak self] in
                while true {
                    let data = handle.availableData
                    guard !data.isEmpty, let self else { return }
                    let text = String(decoding: data, as: UTF8.self)
                    self.lock.withLock {
                        if isError { self.errorOutput += text } else { self.output += text }
                    }
                }
            }
            thread.start()
        }
    }

    public var stdout: String { self.lock.withLock { self.output } }
    public var stderr: String { self.lock.withLock { self.errorOutput } }
    public var isRunning: Bool { self.process.isRunning }
    public var processIdentifier: Int32 { self.process.pid }
    public var terminationStatus: Int32 { self.process.terminationStatus }

    /// Waits until stdout matches `pattern` (a regular expression) and returns the first match.
    public func waitForOutput(matching pattern: String, timeout: Duration = .seconds(20)) async throws -> String {
        let regex = try NSRegularExpression(pattern: pattern)
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let text = self.stdout
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)),
                let range = Range(match.range, in: text)
            {
                return String(text[range])
            }
            if !self.process.isRunning { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        throw ExternalTool.NotInstalled(
            tool: "output matching \(pattern) (stdout: \(self.stdout), stderr: \(self.stderr))"
        )
    }

    /// `camgw simulator` on a free port, and that port.
    public static func simulator(
        _ arguments: [String] = [],
        namespace: NetworkNamespace? = nil
    ) async throws -> (process: GatewayProcess, port: Int) {
        let process = try GatewayProcess(arguments: ["simulator", "--port", "0"] + arguments, namespace: namespace)
        let url = try await process.waitForOutput(matching: "rtsp://[0-9.]+:[0-9]+/")
        guard let port = url.split(separator: ":").last?.split(separator: "/").first.flatMap({ Int($0) }) else {
            throw ExternalTool.NotInstalled(tool: "a port in \(url)")
        }
        return (process, port)
    }

    /// The `[[user]]` entry `camgw hash-password` prints, the password given on stdin as an admin would.
    public static func hashPassword(
        user: String,
        password: String,
        streams: [String]
    ) async throws -> ExternalTool.Result {
        try await ExternalTool.run(
            Self.executable.path,
            ["hash-password", "--user", user] + streams.flatMap { ["--stream", $0] },
            input: password + "\n",
            timeout: 10
        )
    }

    public func signal(_ number: Int32) {
        self.process.signal(number)
    }

    /// Sends SIGTERM and waits for the exit; SIGKILL after `timeout`.
    public func terminate(timeout: Duration = .seconds(10)) async -> Int32 {
        self.process.signal(SIGTERM)
        let deadline = ContinuousClock.now + timeout
        while self.process.isRunning, ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
        self.process.signal(SIGKILL)
        while self.process.isRunning { try? await Task.sleep(for: .milliseconds(10)) }
        return self.process.terminationStatus
    }
}
