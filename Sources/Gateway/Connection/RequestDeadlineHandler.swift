import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// Enforces `RequestClock` on one connection. It sits after the HTTP codec, where requests
/// begin and end, and puts a companion at the front of the pipeline (before TLS), where raw
/// bytes arrive and reads are asked for; both run on the channel's event loop. A connection
/// that overstays is closed: a request whose body stops short is failed by the handler that
/// reads it, so nothing half-received is ever stored.
final class RequestDeadlineHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    let limits: HTTPLimits
    let onClose: @Sendable (RequestClock.Reason) -> Void
    private var wire: WireWatcher?

    init(limits: HTTPLimits, onClose: @escaping @Sendable (RequestClock.Reason) -> Void) {
        self.limits = limits
        self.onClose = onClose
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let watcher = WireWatcher(clock: RequestClock(limits: limits, now: Self.now()), onClose: onClose)
        wire = watcher
        try? context.pipeline.syncOperations.addHandler(watcher, position: .first)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            wire?.clock.headReceived(expectsContinue: head.headerFields[.expect]?.lowercased() == "100-continue", now: Self.now())
        case .body: break
        case .end: wire?.clock.requestEnded()
        }
        context.fireChannelRead(data)
    }

    /// Placed before `ExpectContinueHandler`, so its `100 Continue` passes here too.
    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(let head) where head.status == .continue: wire?.clock.continueSent(now: Self.now())
        case .end: wire?.clock.responseEnded()
        default: break
        }
        context.write(data, promise: promise)
    }

    static func now() -> Double { Double(NIODeadline.now().uptimeNanoseconds) / 1e9 }
}

/// The front-of-pipeline half: sees every byte the client sends and every read the gateway
/// asks for, and ticks the clock.
final class WireWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    var clock: RequestClock
    let onClose: @Sendable (RequestClock.Reason) -> Void
    private var ticker: RepeatedTask?

    init(clock: RequestClock, onClose: @escaping @Sendable (RequestClock.Reason) -> Void) {
        self.clock = clock
        self.onClose = onClose
    }

    func handlerAdded(context: ChannelHandlerContext) {
        let interval = TimeAmount.milliseconds(Int64(clock.tickInterval * 1000))
        let bound = NIOLoopBound((self, context), eventLoop: context.eventLoop)
        ticker = context.eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            let (watcher, context) = bound.value
            guard case .close(let reason) = watcher.clock.tick(now: RequestDeadlineHandler.now()) else { return }
            watcher.ticker?.cancel()
            watcher.onClose(reason)
            context.close(promise: nil)
        }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        ticker?.cancel()
        ticker = nil
    }

    func channelInactive(context: ChannelHandlerContext) {
        ticker?.cancel()
        ticker = nil
        context.fireChannelInactive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        clock.bytesArrived(unwrapInboundIn(data).readableBytes, now: RequestDeadlineHandler.now())
        context.fireChannelRead(data)
    }

    func read(context: ChannelHandlerContext) {
        clock.readRequested(now: RequestDeadlineHandler.now())
        context.read()
    }
}
