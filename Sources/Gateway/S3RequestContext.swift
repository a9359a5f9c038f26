import Access
import Hummingbird
import NIOCore
import S3Protocol

/// The request context of the front door: the channel (for `100 Continue`, see
/// `ExpectContinueHandler`, and the source address), the request's audit record, and what the
/// middlewares establish on the way in (target, operation, verified signature, access).
public struct S3RequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let channel: any Channel
    /// Set by `AuditMiddleware`; handlers and the inner middlewares fill it in.
    var audit = RequestAudit.unset
    /// Set by `AuthenticationMiddleware`.
    var target: RequestTarget?
    var operation: S3Operation?
    var signature: VerifiedSignature?
    var principal: Principal?
    /// Set by `AuthorizationMiddleware`.
    var access: AccessGrant?

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

    var sourceAddress: String? { channel.remoteAddress?.ipAddress }
}
