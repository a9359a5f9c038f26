import Access
import Audit
import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import S3Protocol
import Sealing
import Storage

/// Everything a request handler needs; immutable and shared by all connections.
public struct GatewayState: Sendable {
    public var catalog: any Catalog
    public var backends: BackendRegistry
    public var credentials: CredentialStore
    public var region: String
    /// Domains under which virtual-host-style addressing applies (`bucket.localhost`).
    public var domains: [String]
    public var logger: Logger
    public var now: @Sendable () -> Date
    /// Users, projects, sessions and the audit log; nil in the CLI's own in-process gateway.
    public var trust: Trust?
    public let metrics: GatewayMetrics
    /// The bearer token that opens `/metrics` on the S3 listeners (nil: only the metrics listener serves it).
    public var metricsToken: String?
    let signingKeys = SigningKeyCache()
    let keyLocks = KeyLocks()

    public init(catalog: any Catalog, backends: BackendRegistry, credentials: CredentialStore, region: String,
                domains: [String] = ["localhost"], logger: Logger, trust: Trust? = nil, metrics: GatewayMetrics = GatewayMetrics(),
                metricsToken: String? = nil, now: @escaping @Sendable () -> Date = Date.init) {
        self.metricsToken = metricsToken
        self.trust = trust
        self.metrics = metrics
        self.catalog = catalog
        self.backends = backends
        self.credentials = credentials
        self.region = region
        self.domains = domains
        self.logger = logger
        self.now = now
    }
}

/// One S3 request on its way through: parsed target, verified signature, request id.
struct S3Call: Sendable {
    let request: Request
    let context: S3RequestContext
    let target: RequestTarget
    let signature: VerifiedSignature
    let requestID: String
    let access: AccessGrant
    /// Where handlers leave what the audit entries name (versions served, sources read).
    let ledger: RequestLedger

    var bucket: String { target.bucket ?? "" }
    var key: String { target.key ?? "" }

    func header(_ name: String) -> String? {
        HTTPField.Name(name).flatMap { request.headers[$0] }
    }

    func headers(_ name: String) -> [String] {
        HTTPField.Name(name).map { request.headers[values: $0] } ?? []
    }
}

/// The S3 front door: `/health`, then authentication, then one handler per operation.
public struct S3Responder: HTTPResponder {
    public typealias Context = S3RequestContext
    let state: GatewayState

    public init(state: GatewayState) {
        self.state = state
    }

    public func respond(to request: Request, context: S3RequestContext) async throws -> Response {
        let requestID = Self.newRequestID()
        if let admin = try await adminResponse(request, context: context) { return admin }
        // Unsigned GETs of these paths are the gateway's own (no dataset may take their names).
        if request.method == .get, request.uri.path == "/metrics", let answer = await MetricsEndpoint(state: state).bearerResponse(request) {
            return answer
        }
        if request.method == .get, !Self.signed(request), request.uri.path == "/health" {
            return MetricsEndpoint.health
        }
        var draft = AuditDraft(time: state.now(), requestID: requestID, source: context.channel.remoteAddress?.ipAddress)
        let response = await handle(request, context: context, draft: &draft)
        guard let trust = state.trust, let audit = trust.audit else { return response }
        let events = draft.events(status: Int(response.status.code))
        do {
            try await audit.append(events)
            for event in events { trust.watch(event, hours: draft.hours) }
        } catch {
            // An action that cannot be recorded is not acknowledged as done.
            state.logger.error("audit append failed", metadata: ["request-id": .string(requestID), "error": .string("\(error)")])
            return errorResponse(S3Error(.serviceUnavailable, "The audit log is unavailable. Please retry."), request: request,
                                 resource: request.uri.path, requestID: requestID)
        }
        state.metrics.requests(result: events[0].result).increment()
        return response
    }

    func handle(_ request: Request, context: S3RequestContext, draft: inout AuditDraft) async -> Response {
        let requestID = draft.requestID
        var resource = request.uri.path
        let ledger = RequestLedger()
        defer { draft.absorb(ledger) }
        do {
            let target = try RequestTarget.parse(request, domains: state.domains)
            resource = target.path
            draft.dataset = target.bucket
            draft.key = target.key
            let op = try S3Operation.classify(method: request.method.rawValue, bucket: target.bucket, key: target.key,
                                              query: target.query, headers: { name in HTTPField.Name(name).flatMap { request.headers[$0] } })
            draft.action = op.rawValue
            let signature: VerifiedSignature, access: AccessGrant
            if let trust = state.trust {
                let (sig, principal) = try authenticate(request, target, trust: trust, draft: &draft)
                signature = sig
                access = try authorize(op, target, request, principal: principal, trust: trust, draft: &draft)
            } else {
                signature = try SigV4Verifier(region: state.region, keyCache: state.signingKeys).verify(target.signable(request), now: state.now(),
                                                                                  secretFor: { state.credentials.secret(for: $0) })
                access = .root
            }
            let call = S3Call(request: request, context: context, target: target, signature: signature, requestID: requestID, access: access,
                              ledger: ledger)
            var response = try await dispatch(op, call)
            response.headers[.init("x-amz-request-id")!] = requestID
            draft.bytes = Self.bytes(op, request: request, response: response)
            return response
        } catch let error as S3Error {
            return errorResponse(error, request: request, resource: resource, requestID: requestID)
        } catch let error as CatalogError {
            return errorResponse(Self.map(error), request: request, resource: resource, requestID: requestID)
        } catch let error as StoreError {
            // An object changed behind the gateway's back is tampering as far as clients go.
            if case .changed = error { state.metrics.integrityFailures.increment() }
            state.logger.error("backend error", metadata: ["request-id": .string(requestID), "error": .string(error.description)])
            return errorResponse(Self.map(error), request: request, resource: resource, requestID: requestID)
        } catch let error as SealingError {
            return errorResponse(Self.map(error), request: request, resource: resource, requestID: requestID)
        } catch let error as KeyringError {
            state.logger.error("keyring error", metadata: ["request-id": .string(requestID), "error": .string(error.description)])
            return errorResponse(S3Error(.serviceUnavailable, "The dataset's keys are not available on this gateway."),
                                 request: request, resource: resource, requestID: requestID)
        } catch {
            state.logger.error("internal error", metadata: ["request-id": .string(requestID), "error": .string("\(error)")])
            return errorResponse(S3Error(.internalError, "We encountered an internal error. Please try again."),
                                 request: request, resource: resource, requestID: requestID)
        }
    }

    func dispatch(_ op: S3Operation, _ call: S3Call) async throws -> Response {
        switch op {
        case .listBuckets: return try await listBuckets(call)
        case .createBucket: return try await createBucket(call)
        case .headBucket: return try await headBucket(call)
        case .deleteBucket: return try await deleteBucket(call)
        case .getBucketLocation: return try await getBucketLocation(call)
        case .getBucketVersioning: return try await getBucketVersioning(call)
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
        }
    }

    static func map(_ error: CatalogError) -> S3Error {
        switch error {
        case .bucketExists: S3Error(.bucketAlreadyOwnedByYou, "Your previous request to create the named bucket succeeded and you already own it.")
        case .noSuchBucket: S3Error(.noSuchBucket, "The specified bucket does not exist")
        case .bucketNotEmpty: S3Error(.bucketNotEmpty, "The bucket you tried to delete is not empty")
        case .noSuchUpload: S3Error(.noSuchUpload, "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.")
        case .corrupt, .phase, .notReady: S3Error(.internalError, "We encountered an internal error. Please try again.")
        case .routingChanged: S3Error(.serviceUnavailable, "The dataset's placement changed during the request. Please retry.")
        }
    }

    /// What a client sees of a backend failure; the reason itself goes to the log only.
    static func map(_ error: StoreError) -> S3Error {
        switch error {
        case .unavailable:
            S3Error(.serviceUnavailable, "The storage backend is unavailable. Please retry.")
        case .rejected, .notFound, .io, .changed:
            S3Error(.internalError, "We encountered an internal error with the storage backend. Please try again.")
        }
    }

    /// A shredded key makes an object deliberately unreadable: 403 InvalidObjectState (as S3
    /// answers for an object it cannot serve in its current state), not a retryable 5xx. Every
    /// other failure was logged and counted where it was detected (integrity alert).
    static func map(_ error: SealingError) -> S3Error {
        switch error {
        case .shredded:
            S3Error(.invalidObjectState, "The object is unreadable: the key version that protected it was shredded.")
        default:
            S3Error(.internalError, "We encountered an internal error. The stored object failed its integrity check.")
        }
    }

    static func signed(_ request: Request) -> Bool {
        request.headers[.authorization] != nil || request.uri.query?.contains("Signature=") == true
    }

    func errorResponse(_ error: S3Error, request: Request, resource: String, requestID: String) -> Response {
        var headers: HTTPFields = [.init("x-amz-request-id")!: requestID]
        let status = HTTPResponse.Status(code: error.code.status)
        if error.code.status >= 500 {
            state.logger.warning("request failed", metadata: ["request-id": .string(requestID), "code": .string(error.code.string), "message": .string(error.message)])
        }
        if request.method == .head || error.code == .notModified {
            return Response(status: status, headers: headers)
        }
        headers[.contentType] = "application/xml"
        let body = error.xml(resource: resource, requestID: requestID)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func newRequestID() -> String {
        Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) }).uppercased()
    }

    static func newBlobID() -> String {
        FileSystemStore.newID()
    }

    func xmlResponse(_ body: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var h = headers
        h[.contentType] = "application/xml"
        return Response(status: status, headers: h, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    func requireBucket(_ name: String) async throws -> BucketRecord {
        guard let b = try await state.catalog.bucket(name) else { throw Self.map(.noSuchBucket) }
        return b
    }

    /// Runs a write or delete of `key`. `conditions` are checked first, before any body is
    /// read (the commit checks them again atomically). On a placement that rewrites objects in
    /// place, writes of one key are serialised, the check happens under that lock (so it holds
    /// when the backend object changes), and an intent is recorded first: the commit clears it;
    /// a failure or a crash leaves it for `Reconciler` to settle.
    /// While a dataset mirrors, every write of a key is serialised too, with the replication
    /// workers' copies of it, so no copy of an older version lands after a newer one.
    func exclusive<T: Sendable>(_ placement: ResolvedPlacement, _ bucket: String, _ key: String, conditions: Preconditions? = nil,
                                mirrored: Bool = false, _ body: @Sendable () async throws -> T) async throws -> T {
        @Sendable func check() async throws {
            guard let conditions, !conditions.isEmpty else { return }
            try conditions.evaluateWrite(currentETag: try await state.catalog.object(bucket: bucket, key: key)?.etag)
        }
        guard placement.inPlace || mirrored else {
            try await check()
            return try await body()
        }
        return try await state.keyLocks.with(Self.lockName(bucket, key)) {
            try await check()
            guard placement.inPlace else { return try await body() }
            try await state.catalog.beginIntent(bucket: bucket, key: key, now: state.now())
            do {
                let result = try await body()
                try await state.catalog.endIntent(bucket: bucket, key: key)
                return result
            } catch CatalogError.routingChanged {
                // The source was detached meanwhile: the catalog describes the target, which
                // this write never touched; what it left on the detached source is nobody's.
                try await state.catalog.endIntent(bucket: bucket, key: key)
                throw CatalogError.routingChanged
            } catch {
                await Reconciler(catalog: state.catalog, logger: state.logger).settle(bucket: bucket, key: key, placement: placement)
                throw error
            }
        }
    }

    static func lockName(_ bucket: String, _ key: String) -> String { bucket + "\u{0}" + key }

    /// Deletes backend objects no row refers to any more; failures only leave garbage.
    func discard(_ names: [String], in placement: ResolvedPlacement) async {
        guard !names.isEmpty else { return }
        do { try await placement.store.delete(names: names) } catch {
            state.logger.warning("could not delete backend objects", metadata: ["count": .stringConvertible(names.count), "error": .string("\(error)")])
        }
    }

    /// Forgets parts replaced, completed or aborted.
    func discardParts(_ parts: [PartRecord], in placement: ResolvedPlacement) async {
        for p in parts {
            do { try await placement.store.discardPart(PartToken(number: p.partNumber, token: p.blob)) } catch {
                state.logger.warning("could not discard a part", metadata: ["error": .string("\(error)")])
            }
        }
    }
}

extension S3Responder {
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
