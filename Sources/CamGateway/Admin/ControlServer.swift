import Foundation
import Logging
import NIOCore
import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

/// The daemon's control socket: a Unix socket (mode 0660, the admins' group) that takes one request line
/// (`reload`, `status`, `egress`, `egress-counts <json>`, `ping`; at most 1 MiB) and answers one JSON line. Only local users in that group reach it; there is no network
/// listener for administration.
enum ControlServer {
    static func start(
        path: String,
        group: String?,
        logger: Logger,
        handle: @escaping @Sendable (String) async -> ControlReply
    ) async throws -> any Channel {
        try FileManager.default.createDirectory(
            atPath: FilePath.directory(of: path).isEmpty ? "." : FilePath.directory(of: path),
            withIntermediateDirectories: true
        )
        // A socket file left by a daemon that died: nothing listens, so it is ours to replace.
        var status = stat()
        if lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK {
            let probe: ControlClient.Failure?
            do {
                _ = try ControlClient.request("ping", socket: path, timeout: 1)
                probe = nil
            } catch {
                probe = error
            }
            guard case .notRunning = probe else {
                throw ControlClient.Failure.failed("another daemon answers on \(path)")
            }
            unlink(path)
        }
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ControlConnectionHandler(handle: handle))
                }
            }
            .bind(unixDomainSocketPath: path)
            .get()
        guard chmod(path, 0o660) == 0 else {
            try? await channel.close()
            throw ControlClient.Failure.failed("chmod \(path): \(AtomicFile.errnoText())")
        }
        if let group {
            guard let entry = getgrnam(group) else {
                try? await channel.close()
                throw ControlClient.Failure.failed("no group '\(group)' for the control socket")
            }
            chown(path, uid_t.max, entry.pointee.gr_gid)  // uid -1: keep the owner
        }
        logger.info("control socket listening", metadata: ["path": "\(path)"])
        return channel
    }
}

/// One control connection: a request line of at most 1 MiB, answered and closed.
final class ControlConnectionHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private let handle: @Sendable (String) async -> ControlReply
    private var line: [UInt8] = []
    private var answered = false

    init(handle: @escaping @Sendable (String) async -> ControlReply) {
        self.handle = handle
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !self.answered else { return }
        var buffer = Self.unwrapInboundIn(data)
        while let byte = buffer.readInteger(as: UInt8.self) {
            if byte == UInt8(ascii: "\n") {
                self.answered = true
                self.respond(String(decoding: self.line, as: UTF8.self), context: context)
                return
            }
            self.line.append(byte)
            guard self.line.count <= 1 << 20 else {
                self.answered = true
                self.reply(.failure("request too long"), channel: context.channel)
                return
            }
        }
    }

    private func respond(_ command: String, context: ChannelHandlerContext) {
        Self.answer(command.trimmingCharacters(in: .whitespaces), channel: context.channel, handle: self.handle)
    }

    private static func answer(
        _ command: String,
        channel: any Channel,
        handle: @escaping @Sendable (String) async -> ControlReply
    ) {
        Task {
            let reply = await handle(command)
            Self.send(reply, channel: channel)
        }
    }

    private func reply(_ reply: ControlReply, channel: any Channel) {
        Self.send(reply, channel: channel)
    }

    private static func send(_ reply: ControlReply, channel: any Channel) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        var data = (try? encoder.encode(reply)) ?? Data("{\"ok\":false}".utf8)
        data.append(UInt8(ascii: "\n"))
        channel.writeAndFlush(ByteBuffer(bytes: data)).whenComplete { _ in channel.close(promise: nil) }
    }
}
