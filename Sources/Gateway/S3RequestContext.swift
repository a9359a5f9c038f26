import Hummingbird
import NIOCore

/// Request context carrying the channel, so a handler can ask for `100 Continue` once the
/// request headers are authenticated (see `ExpectContinueHandler`).
public struct S3RequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        self.coreContext = .init(source: source)
        self.channel = source.channel
    }

    /// XML bodies are read whole, so they are capped; object bodies are streamed, never decoded.
    public var maxUploadSize: Int { 2 * 1024 * 1024 }

    /// Sends `100 Continue` if the client asked for it and it was not sent yet.
    public func sendContinueIfExpected() {
        channel.triggerUserOutboundEvent(ExpectContinueHandler.SendContinue(), promise: nil)
    }
}
