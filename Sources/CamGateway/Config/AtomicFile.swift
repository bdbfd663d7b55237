import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Writes a file so that a crash at any instant leaves the old version or the new one, never a mix or nothing:
/// a temporary file in the same directory, fsync, rename over the old one, fsync of the directory (POSIX rename
/// is atomic; the directory fsync makes it durable). The previous version is kept as `<file>.bak` first.
///
/// Edits run under an exclusive `flock` on `<file>.lock`, taken before the file is read, so two admins editing at
/// once are serialised and neither loses the other's change.
enum AtomicFile {
    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The steps of a write. `CAMGW_TEST_CRASH_AFTER=<step>` ends the process right after that step, as a power
    /// cut would, so that the crash-safety test can prove each step leaves a whole file.
    enum Step: String, CaseIterable {
        case backupWritten = "backup-written"
        case temporaryWritten = "temporary-written"
        case temporarySynced = "temporary-synced"
        case renamed
        case directorySynced = "directory-synced"
    }

    /// Holds the edit lock of `path` for the duration of `body`. Waits up to `timeout` for another editor.
    static func withLock<T>(of path: String, timeout: Duration = .seconds(10), _ body: () throws -> T) throws -> T {
        let lockPath = path + ".lock"
        let descriptor = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard descriptor >= 0 else { throw Failure(description: "cannot open \(lockPath): \(errnoText())") }
        defer { close(descriptor) }
        let deadline = ContinuousClock.now + timeout
        while flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK, ContinuousClock.now < deadline else {
                throw Failure(description: "another edit of \(path) holds the lock (\(lockPath))")
            }
            usleep(20_000)
        }
        defer { flock(descriptor, LOCK_UN) }
        self.removeLeftovers(of: path)
        return try body()
    }

    /// Replaces `path` with `contents` (mode `mode`), keeping the old file as `<path>.bak`.
    static func write(_ contents: String, to path: String, mode: mode_t = 0o640, keepBackup: Bool = true) throws {
        let directory = FilePath.directory(of: path).isEmpty ? "." : FilePath.directory(of: path)
        let bytes = Array(contents.utf8)
        if keepBackup, let old = FileManager.default.contents(atPath: path) {
            try self.replace(path + ".bak", with: Array(old), mode: mode, directory: directory, crashPoints: false)
            self.crashPoint(.backupWritten)
        }
        try self.replace(path, with: bytes, mode: mode, directory: directory, crashPoints: true)
    }

    private static func replace(
        _ path: String,
        with bytes: [UInt8],
        mode: mode_t,
        directory: String,
        crashPoints: Bool
    ) throws {
        let temporary = "\(path).tmp-\(getpid())"
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw Failure(description: "cannot create \(temporary): \(errnoText())") }
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { Glibc.write(descriptor, $0.baseAddress, $0.count) }
            guard result > 0 else {
                let reason = errnoText()
                close(descriptor)
                unlink(temporary)
                throw Failure(description: "cannot write \(temporary): \(reason)")
            }
            written += result
        }
        if crashPoints { self.crashPoint(.temporaryWritten) }
        // The owner and group of the file it replaces, so that the service user can still read it.
        var status = stat()
        if stat(path, &status) == 0 { _ = fchown(descriptor, status.st_uid, status.st_gid) }
        guard fsync(descriptor) == 0 else {
            let reason = errnoText()
            close(descriptor)
            unlink(temporary)
            throw Failure(description: "cannot sync \(temporary): \(reason)")
        }
        close(descriptor)
        if crashPoints { self.crashPoint(.temporarySynced) }
        guard rename(temporary, path) == 0 else {
            let reason = errnoText()
            unlink(temporary)
            throw Failure(description: "cannot rename \(temporary) to \(path): \(reason)")
        }
        if crashPoints { self.crashPoint(.renamed) }
        let directoryDescriptor = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directoryDescriptor >= 0 {
            fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
        if crashPoints { self.crashPoint(.directorySynced) }
    }

    /// Temporary files of an editor that died mid-write (the lock is ours, so no live editor owns one).
    private static func removeLeftovers(of path: String) {
        let directory = FilePath.directory(of: path)
        let base = (path as NSString).lastPathComponent
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.isEmpty ? "." : directory)) ?? []
        for name in names where name.hasPrefix(base + ".tmp-") || name.hasPrefix(base + ".bak.tmp-") {
            unlink((directory as NSString).appendingPathComponent(name))
        }
    }

    private static func crashPoint(_ step: Step) {
        if ProcessInfo.processInfo.environment["CAMGW_TEST_CRASH_AFTER"] == step.rawValue {
            _exit(99)  // no cleanup, no flush: what a kill -9 or a power cut leaves
        }
    }

    static func errnoText() -> String { String(cString: strerror(errno)) }
}
