import Access
import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol

/// One S3 request as the handlers see it: what the middlewares established about it.
struct S3Call: Sendable {
    let request: Request
    let context: S3RequestContext
    let target: RequestTarget
    let signature: VerifiedSignature
    let access: AccessGrant

    var bucket: String { target.bucket ?? "" }
    var key: String { target.key ?? "" }
    var requestID: String { context.audit.requestID }
    /// Where the handler leaves what the audit entries name (the version served, copy sources).
    var audit: RequestAudit { context.audit }

    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { request.headers[$0] }
    }

    func headers(_ name: String) -> [String] {
        HTTPField.Name(name).map { request.headers[values: $0] } ?? []
    }
}

/// The S3 API behind the middlewares: one thin handler per operation, which parses the
/// request, calls the object layer and formats its answer.
struct S3Dispatcher: HTTPResponder {
    typealias Context = S3RequestContext
    let state: GatewayState

    var objects: ObjectLayer { state.objects }

    func respond(to request: Request, context: S3RequestContext) async throws -> Response {
        guard let op = context.operation, let target = context.target, let signature = context.signature, let access = context.access else {
            throw S3Error.internalError()
        }
        return try await dispatch(op, S3Call(request: request, context: context, target: target, signature: signature, access: access))
    }

    func dispatch(_ op: S3Operation, _ call: S3Call) async throws -> Response {
        if Self.takesACL.contains(op) { try ACL.checkHeaders(call.header) }
        switch op {
        case .listBuckets: return try await listBuckets(call)
        case .createBucket: return try await createBucket(call)
        case .headBucket: return try await headBucket(call)
        case .deleteBucket: return try await deleteBucket(call)
        case .getBucketLocation: return try await getBucketLocation(call)
        case .getBucketVersioning: return try await getBucketVersioning(call)
        case .putBucketVersioning: return try await putBucketVersioning(call)
        case .getBucketAcl: return try await getACL(call, object: false)
        case .putBucketAcl: return try await putACL(call, object: false)
        case .listObjectVersions: return try await listObjectVersions(call)
        case .getBucketTagging: return try await getBucketTagging(call)
        case .putBucketTagging: return try await putBucketTagging(call)
        case .deleteBucketTagging: return try await deleteBucketTagging(call)
        case .getBucketLifecycleConfiguration: return try await getBucketLifecycle(call)
        case .putBucketLifecycleConfiguration: return try await putBucketLifecycle(call)
        case .deleteBucketLifecycle: return try await deleteBucketLifecycle(call)
        case .listObjects: return try await listObjects(call, v2: false)
        case .listObjectsV2: return try await listObjects(call, v2: true)
        case .listMultipartUploads: return try await listMultipartUploads(call)
        case .deleteObjects: return try await deleteObjects(call)
        case .putObject: return try await putObject(call)
        case .copyObject: return try await copyObject(call)
        case .getObject: return try await getObject(call, head: false)
        case .headObject: return try await getObject(call, head: true)
        case .deleteObject: return try await deleteObject(call)
        case .createMultipartUpload: return try await createMultipartUpload(call)
        case .uploadPart: return try await uploadPart(call)
        case .uploadPartCopy: return try await uploadPartCopy(call)
        case .completeMultipartUpload: return try await completeMultipartUpload(call)
        case .abortMultipartUpload: return try await abortMultipartUpload(call)
        case .listParts: return try await listParts(call)
        case .getObjectAcl: return try await getACL(call, object: true)
        case .putObjectAcl: return try await putACL(call, object: true)
        case .getObjectTagging: return try await getObjectTagging(call)
        case .putObjectTagging: return try await putObjectTagging(call)
        case .deleteObjectTagging: return try await deleteObjectTagging(call)
        case .getObjectLockConfiguration: return try await getObjectLockConfiguration(call)
        case .putObjectLockConfiguration: return try await putObjectLockConfiguration(call)
        case .getObjectRetention: return try await getObjectRetention(call)
        case .putObjectRetention: return try await putObjectRetention(call)
        case .getObjectLegalHold: return try await getObjectLegalHold(call)
        case .putObjectLegalHold: return try await putObjectLegalHold(call)
        }
    }

    /// The operations that may carry ACL headers besides Put*Acl; any grant beyond the owner's is refused.
    static let takesACL: Set<S3Operation> = [.createBucket, .putObject, .copyObject, .createMultipartUpload]

    func xmlResponse(_ body: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/xml"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    /// The conditions of a conditional write (`If-None-Match: *`, `If-Match`), checked by the
    /// object layer before the body is read and again in the commit; nil when there are none.
    func writePrecondition(_ call: S3Call) -> WritePrecondition? {
        let conditions = Preconditions(ifMatch: call.request.headers[.ifMatch], ifNoneMatch: call.request.headers[.ifNoneMatch])
        guard !conditions.isEmpty else { return nil }
        return { current in try conditions.evaluateWrite(currentETag: current?.etag) }
    }
}

/// The front door: the gateway's own endpoints, then, for the S3 API, audit, request
/// metrics, error documents, authentication and authorisation in front of the dispatcher.
public struct S3Responder: HTTPResponder {
    public typealias Context = S3RequestContext
    let chain: any HTTPResponder<S3RequestContext>

    public init(state: GatewayState) {
        chain = Chain(
            GatewayEndpointsMiddleware(state: state),
            Chain(
                AuditMiddleware(state: state),
                Chain(
                    RequestMetricsMiddleware(metrics: state.metrics),
                    Chain(
                        S3ErrorMiddleware(state: state),
                        Chain(
                            AuthenticationMiddleware(state: state),
                            Chain(AuthorizationMiddleware(state: state), S3Dispatcher(state: state)))))))
    }

    public func respond(to request: Request, context: S3RequestContext) async throws -> Response {
        try await chain.respond(to: request, context: context)
    }
}
