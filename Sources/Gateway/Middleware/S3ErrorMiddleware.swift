import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import S3Protocol
import Sealing
import Storage

/// Turns whatever the layers below threw into the S3 error document a client expects (the
/// mapping itself is `S3ErrorConvertible`); what is not the client's fault goes to the log.
struct S3ErrorMiddleware: RouterMiddleware {
    typealias Context = S3RequestContext
    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            let audit = context.audit
            return Self.response(
                s3Error(error, requestID: audit.requestID), request: request, resource: audit.resource ?? request.uri.path,
                requestID: audit.requestID, logger: state.logger)
        }
    }

    func s3Error(_ error: any Error, requestID: String) -> S3Error {
        let id: Logger.Metadata = ["request-id": .string(requestID)]
        switch error {
        case let e as StoreError:
            // An object changed behind the gateway's back is tampering as far as clients go.
            if case .changed = e { state.metrics.integrityFailures.increment() }
            state.logger.error("backend error", metadata: id.merging(["error": .string(e.description)]) { a, _ in a })
            return e.s3Error
        case let e as KeyringError:
            state.logger.error("keyring error", metadata: id.merging(["error": .string(e.description)]) { a, _ in a })
            return e.s3Error
        case let e as any S3ErrorConvertible:
            return e.s3Error
        default:
            state.logger.error("internal error", metadata: id.merging(["error": .string("\(error)")]) { a, _ in a })
            return .internalError()
        }
    }

    /// The error document (none for HEAD or 304), with the request id.
    static func response(_ error: S3Error, request: Request, resource: String, requestID: String, logger: Logger) -> Response {
        var headers: HTTPFields = [.init("x-amz-request-id")!: requestID]
        for (name, value) in error.headers {
            if let n = HTTPField.Name(name) { headers[n] = value }
        }
        let status = HTTPResponse.Status(code: error.code.status)
        if error.code.status >= 500 {
            logger.warning(
                "request failed",
                metadata: [
                    "request-id": .string(requestID), "code": .string(error.code.string),
                    "message": .string(error.message),
                ])
        }
        if request.method == .head || error.code == .notModified {
            return Response(status: status, headers: headers)
        }
        headers[.contentType] = "application/xml"
        let body = error.xml(resource: resource, requestID: requestID)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
