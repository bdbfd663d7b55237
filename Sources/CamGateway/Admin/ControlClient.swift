import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// The CLI's side of the control socket: one request line, one JSON reply, then the daemon closes. Plain POSIX
/// calls: the CLI lives for one command and needs no event loop.
enum ControlClient {
    enum Failure: Error, CustomStringConvertible {
        /// No daemon listens there (not running, or another socket path).
        case notRunning(String)
        case failed(String)

        var description: String {
            switch self {
            case .notRunning(let path): "no running daemon at \(path)"
            case .failed(let reason): reason
            }
        }
    }

    static func request(_ command: String, socket path: String, timeout: Int = 30) throws(Failure) -> Data {
        let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard descriptor >= 0 else { throw .failed("socket: \(AtomicFile.errnoText())") }
        defer { close(descriptor) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw .failed("socket path too long")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        var time = timeval(tv_sec: timeout, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else {
            if errno == ENOENT || errno == ECONNREFUSED { throw .notRunning(path) }
            throw .failed("cannot connect to \(path): \(AtomicFile.errnoText())")
        }
        let line = Array((command + "\n").utf8)
        guard line.withUnsafeBytes({ send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }) == line.count
        else { throw .failed("cannot send to \(path): \(AtomicFile.errnoText())") }
        var reply = Data()
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) }
            if count == 0 { break }
            guard count > 0 else { throw .failed("no answer from the daemon within \(timeout) s") }
            reply.append(contentsOf: buffer[0..<count])
            guard reply.count < 16 * 1024 * 1024 else { throw .failed("answer too large") }
        }
        return reply
    }
}
