import GatewayAuth
import NIOCore

/// First in a virtual device's pipeline: bounds time. A connection may wait `idle` for its next request; once a
/// request's first byte arrives, the whole request must arrive within `request` (a slowloris sending a header a
/// byte at a time is closed). While the gateway answers (a camera may take its time) no deadline runs.
final class ConnectionDeadlines: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let budget: ConnectionBudget
    private let source: String
    private let idle: TimeAmount
    private let request: TimeAmount
    private var deadline: Scheduled<Void>?
    /// A request is being received (its first byte came and its answer has not been written).
    private var receiving = false

    init(budget: ConnectionBudget, source: String, idle: TimeAmount = .seconds(60), request: TimeAmount = .seconds(10))
    {
        self.budget = budget
        self.source = source
        self.idle = idle
        self.request = request
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.arm(self.idle, context: context)
    }

    func channelInactive(context: ChannelHandlerContext) {
        self.deadline?.cancel()
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !self.receiving {
            self.receiving = true
            self.arm(self.request, context: context)
        }
        context.fireChannelRead(data)
    }

    /// The device handler fires these from the pipeline's head: a request has arrived whole (no deadline while
    /// it is answered), its answer is written (wait for the next one).
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is RequestReceived {
            self.deadline?.cancel()
            self.deadline = nil
        } else if event is RequestAnswered {
            self.receiving = false
            self.arm(self.idle, context: context)
        }
        context.fireUserInboundEventTriggered(event)
    }

    private func arm(_ timeout: TimeAmount, context: ChannelHandlerContext) {
        self.deadline?.cancel()
        let channel = context.channel
        self.deadline = context.eventLoop.scheduleTask(in: timeout) { channel.close(promise: nil) }
    }
}

/// Sent up the pipeline by the device handler when a request has arrived whole, and when it has answered it.
struct RequestReceived {}
struct RequestAnswered {}
