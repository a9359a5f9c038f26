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
///
/// When the body did arrive without waiting (botocore sends `bytes` bodies with the headers),
/// the handler still sends `100 Continue` before the final response, as RFC 9110 allows.
/// botocore (1.43, `AWSConnection.request`) keeps the status of a final response that came
/// instead of `100 Continue` and reuses it for the next Expect request on the connection: if that
/// next request then meets a closed socket (gateway killed), botocore reports a made-up `200`
/// and the client believes an upload succeeded that never did. Always answering `100` first
/// keeps botocore off that path; the crash test caught it.
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
            if response.status.kind != .informational, expecting, !continueSent {
                if requestEnded {
                    continueSent = true
                    context.write(wrapOutboundOut(.head(HTTPResponse(status: .continue))), promise: nil)
                } else {
                    closeAfterResponse = true
                    response.headerFields[.connection] = "close"
                    context.write(wrapOutboundOut(.head(response)), promise: promise)
                    return
                }
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
