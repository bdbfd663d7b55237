import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process started with `posix_spawn`, for the tests' peers and daemons. Foundation's `Process.run()` on
/// Linux (swift-corelibs-foundation of this toolchain) over-reads `/proc/self/fd` entries while it looks for the
/// highest open descriptor (`findMaximumOpenFromProcSelfFD`, fixed upstream in swift-corelibs-foundation#5472) and
/// crashed the whole test process now and then; this spawns directly. Every descriptor the test process opens for
/// a child is close-on-exec, so a child holds only its own three.
public final class ChildProcess: @unchecked Sendable {
    // @unchecked: `exit` is only touched under `lock`; the handles are set once in init.
    public let pid: pid_t
    public let stdout: FileHandle
    public let stderr: FileHandle
    public let stdin: FileHandle?
    private let lock = NSLock()
    private var exit: Int32?

    public struct SpawnFailed: Error, CustomStringConvertible {
        public var path: String
        public var errno: Int32
        public var description: String { "cannot start \(self.path): \(String(cString: strerror(self.errno)))" }
    }

    public init(path: String, arguments: [String], environment: [String: String]? = nil, input: Bool) throws {
        func pipePair() -> (read: Int32, write: Int32) {
            var fds: [Int32] = [-1, -1]
            _ = pipe(&fds)
            for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
            return (fds[0], fds[1])
        }
        let out = pipePair()
        let err = pipePair()
        let inp = input ? pipePair() : nil
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if let inp {
            posix_spawn_file_actions_adddup2(&actions, inp.read, 0)
        } else {
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        }
        posix_spawn_file_actions_adddup2(&actions, out.write, 1)
        posix_spawn_file_actions_adddup2(&actions, err.write, 2)
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        let env = (environment ?? ProcessInfo.processInfo.environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in env { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, path, &actions, nil, argv, env)
        close(out.write)
        close(err.write)
        if let inp { close(inp.read) }
        guard result == 0 else {
            close(out.read)
            close(err.read)
            if let inp { close(inp.write) }
            throw SpawnFailed(path: path, errno: result)
        }
        self.pid = pid
        let child = pid
        self.stdout = FileHandle(fileDescriptor: out.read, closeOnDealloc: true)
        self.stderr = FileHandle(fileDescriptor: err.read, closeOnDealloc: true)
        self.stdin = inp.map { FileHandle(fileDescriptor: $0.write, closeOnDealloc: true) }
        // One thread per child reaps it; the status is Foundation's: the exit code, or the signal that ended it.
        let thread = Thread { [self] in
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1, errno == EINTR {}
            let signal = status & 0x7F
            let code = signal == 0 ? (status >> 8) & 0xFF : signal
            self.lock.withLock { self.exit = code }
        }
        thread.start()
    }

    public var isRunning: Bool { self.lock.withLock { self.exit == nil } }
    public var terminationStatus: Int32 { self.lock.withLock { self.exit ?? -1 } }

    public func signal(_ number: Int32) {
        if self.isRunning { kill(self.pid, number) }
    }

    public func waitUntilExit() {
        while self.isRunning { usleep(10_000) }
    }
}
