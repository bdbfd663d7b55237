import NIOCore
import NIOPosix

/// Binds an even RTP port and the odd port after it for RTCP (RFC 3550 §11): from a configured range, or from the
/// kernel's ephemeral ports when none is configured, retrying when a port is taken (or the kernel's is odd).
enum DatagramPortPair {
    static func bind(
        on eventLoop: any EventLoop,
        host: String,
        range: ClosedRange<Int>?,
        attempts: Int = 32,
        initializer: @escaping @Sendable (_ isRTCP: Bool, any Channel) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<(rtp: any Channel, rtcp: any Channel)> {
        @Sendable func bootstrap(rtcp: Bool) -> DatagramBootstrap {
            DatagramBootstrap(group: eventLoop)
                .channelOption(.socketOption(.so_rcvbuf), value: 1 << 20)
                .channelInitializer { initializer(rtcp, $0) }
        }
        let candidate: Int
        if let range {
            let evens = (range.lowerBound + 1) / 2...(range.upperBound - 1) / 2
            candidate = evens.isEmpty ? 0 : 2 * Int.random(in: evens)
        } else {
            candidate = 0
        }
        return bootstrap(rtcp: false).bind(host: host, port: candidate).flatMap { rtp in
            let port = rtp.localAddress?.port ?? 1
            let retry: @Sendable () -> EventLoopFuture<(rtp: any Channel, rtcp: any Channel)> = {
                rtp.close().flatMap {
                    guard attempts > 1 else {
                        return eventLoop.makeFailedFuture(RelayError.cameraUnavailable("no free UDP port pair"))
                    }
                    return Self.bind(
                        on: eventLoop,
                        host: host,
                        range: range,
                        attempts: attempts - 1,
                        initializer: initializer
                    )
                }
            }
            guard port % 2 == 0, port < 65535 else { return retry() }
            return bootstrap(rtcp: true).bind(host: host, port: port + 1)
                .map { rtcp in (rtp: rtp, rtcp: rtcp) }
                .flatMapError { _ in retry() }
        }.flatMapError { error in
            // The candidate port of a range was taken: try another.
            guard range != nil, attempts > 1 else { return eventLoop.makeFailedFuture(error) }
            return Self.bind(on: eventLoop, host: host, range: range, attempts: attempts - 1, initializer: initializer)
        }
    }
}
