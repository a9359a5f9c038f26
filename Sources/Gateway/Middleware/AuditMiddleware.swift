import Audit
import Foundation
import HTTPTypes
import Hummingbird
import S3Protocol

/// Gives every S3 request its id and audit record, and writes the record's entries (the
/// request's, and one per object it read besides its own) before the response leaves: an
/// action that cannot be recorded is answered 503, not acknowledged as done.
struct AuditMiddleware: RouterMiddleware {
    typealias Context = S3RequestContext
    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let audit = RequestAudit(requestID: Self.newRequestID(), source: context.sourceAddress, time: state.now())
        var context = context
        context.audit = audit
        var response = try await next(request, context)
        response.headers[.init("x-amz-request-id")!] = audit.requestID
        if let op = audit.operation { audit.update { $0.bytes = Self.bytes(op, request: request, response: response) } }
        guard let trust = state.trust, let writer = trust.audit else { return response }
        let draft = audit.current
        let events = draft.events(status: Int(response.status.code))
        do {
            try await writer.append(events)
            for event in events { trust.watch(event, hours: draft.hours) }
        } catch {
            state.logger.error("audit append failed", metadata: ["request-id": .string(audit.requestID), "error": .string("\(error)")])
            return S3ErrorMiddleware.response(
                S3Error(.serviceUnavailable, "The audit log is unavailable. Please retry."), request: request,
                resource: request.uri.path, requestID: audit.requestID, logger: state.logger)
        }
        return response
    }

    static func newRequestID() -> String {
        Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) }).uppercased()
    }

    /// Bytes a request moved: the body sent for reads, the body received for writes.
    static func bytes(_ op: S3Operation, request: Request, response: Response) -> Int64? {
        switch op {
        case .getObject:
            return response.headers[.contentLength].flatMap { Int64($0) }
        case .putObject, .uploadPart:
            return (request.headers[HTTPField.Name("x-amz-decoded-content-length")!] ?? request.headers[.contentLength]).flatMap { Int64($0) }
        default:
            return nil
        }
    }
}

/// Counts S3 requests by result (allowed, denied, failed), as their audit entry says.
struct RequestMetricsMiddleware: RouterMiddleware {
    typealias Context = S3RequestContext
    let metrics: GatewayMetrics

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let response = try await next(request, context)
        metrics.requests(result: context.audit.current.result(Int(response.status.code))).increment()
        return response
    }
}
