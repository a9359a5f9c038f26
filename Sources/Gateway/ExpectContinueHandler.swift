import HTTPTypes
import NIOCore
import NIOHTTPTypes

/// `Expect: 100-continue` (RFC 9110 §10.1.1) for a server that does not do it by itself.
///
/// botocore waits up to one second for `100 Continue` before sending any upload body
/// (DESIGN.md §10), so the gateway must send it — but only after the request headers passed
/// authentication, so a refused upload is refused without its body being sent. The handler
/// writes `100 Continue` when the application asks (`SendContinue`), and if a final response
/// goes out while the client still holds back its body, it closes the connection after that
/// response: the unread body would otherwise be parsed as the next request.
final class ExpectContinueHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    struct SendContinue: Sendable {}

    private var expecting = false
    private var continueSent = false
    private var requestEnded = false
    private var closeAfterResponse = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            expecting = head.headerFields[.expect]?.lowercased() == "100-continue"
            continueSent = false
            requestEnded = false
            closeAfterResponse = false
        case .body:
            break
        case .end:
            requestEnded = true
        }
        context.fireChannelRead(data)
    }

    func triggerUserOutboundEvent(context: ChannelHandlerContext, event: Any, promise: EventLoopPromise<Void>?) {
        guard event is SendContinue else {
            context.triggerUserOutboundEvent(event, promise: promise)
            return
        }
        if expecting && !continueSent && !requestEnded {
            continueSent = true
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: promise)
        } else {
            promise?.succeed(())
        }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        switch unwrapOutboundIn(data) {
        case .head(var response):
            if response.status.kind != .informational, expecting, !continueSent, !requestEnded {
                closeAfterResponse = true
                response.headerFields[.connection] = "close"
                context.write(wrapOutboundOut(.head(response)), promise: promise)
                return
            }
            context.write(data, promise: promise)
        case .body:
            context.write(data, promise: promise)
        case .end:
            if closeAfterResponse {
                closeAfterResponse = false
                context.writeAndFlush(data, promise: promise)
                context.close(promise: nil)
            } else {
                context.write(data, promise: promise)
            }
        }
    }
}
