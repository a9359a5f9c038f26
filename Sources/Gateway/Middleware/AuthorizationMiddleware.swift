import Access
import Foundation
import HTTPTypes
import Hummingbird
import S3Protocol

/// Decides every request of a session by the policy, against the project as the store holds
/// it now (a revoke or an expiry applies on the next request); a copy needs read on its source
/// too. A refusal is `AccessDenied`; the reason goes to the audit entry only. Root and service
/// keys are not subject to grants.
struct AuthorizationMiddleware: RouterMiddleware {
    typealias Context = S3RequestContext
    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let op = context.operation, let target = context.target, let principal = context.principal else {
            throw S3Error.internalError()
        }
        var context = context
        context.access = try await authorize(op, target, request, principal: principal, audit: context.audit)
        return try await next(request, context)
    }

    func authorize(
        _ op: S3Operation, _ target: RequestTarget, _ request: Request, principal: Principal, audit: RequestAudit
    ) async throws -> AccessGrant {
        guard let trust = state.trust, case .session(let claims) = principal else { return AccessGrant(principal: principal, project: nil) }
        let (project, active) = try await trust.access.sessionState(user: claims.user, project: claims.project)
        audit.update { d in
            d.purpose = project?.purpose
            d.hours = project?.hours
        }
        var requests = [Self.accessRequest(op, target)]
        if op == .copyObject || op == .uploadPartCopy,
            let source = request.headers[HTTPField.Name("x-amz-copy-source")!].flatMap({ try? CopySource.location($0) })
        {
            requests.append(AccessRequest(.read, .dataset(source.bucket, key: source.key)))
        }
        func deny(_ reason: String) -> S3Error {
            audit.update { $0.denial = reason }
            state.metrics.accessDenied.increment()
            return S3Error.accessDenied()
        }
        for r in requests {
            if case .deny(let reason) = Policy.decide(principal, r, project: project, userActive: active, now: state.now()) { throw deny(reason) }
        }
        var grant = AccessGrant(principal: principal, project: project)
        guard let project else { return grant }
        // What the project sees of each dataset the request reads (DESIGN.md §7).
        func mode(_ dataset: String) async throws -> ReadMode {
            try await trust.views.mode(
                dataset: dataset, project: project.name, catalog: state.catalog, access: trust.access, keyring: state.objects.backends.keyring)
        }
        if let bucket = target.bucket, op != .createBucket {
            switch try await mode(bucket) {
            case .stored: break
            case .refused(let reason): throw deny(reason)
            case .view(let view):
                if let refusal = ViewGate.refusal(op, target, dataset: bucket) { throw deny(refusal) }
                grant.view = view
            }
        }
        for r in requests.dropFirst() {
            guard case .dataset(let source, _) = r.scope else { continue }
            guard case .stored = try await mode(source) else {
                throw deny("copies from dataset \(source) are refused: the project reads it only through a view")
            }
        }
        return grant
    }

    static func accessRequest(_ op: S3Operation, _ t: RequestTarget) -> AccessRequest {
        let bucket = t.bucket ?? ""
        switch op {
        case .listBuckets: return AccessRequest(.list, .service)
        case .createBucket, .deleteBucket, .putBucketAcl, .putBucketVersioning, .putObjectLockConfiguration, .putBucketTagging, .deleteBucketTagging,
            .putBucketLifecycleConfiguration,
            .deleteBucketLifecycle:
            return AccessRequest(.write, .administration)
        case .headBucket, .getBucketLocation, .getBucketVersioning, .getObjectLockConfiguration, .getBucketAcl, .getBucketTagging,
            .getBucketLifecycleConfiguration:
            return AccessRequest(.list, .dataset(bucket, key: nil))
        case .listObjects, .listObjectsV2, .listMultipartUploads, .listObjectVersions:
            return AccessRequest(.list, .dataset(bucket, key: t.queryValue("prefix") ?? ""))
        case .deleteObjects: return AccessRequest(.delete, .dataset(bucket, key: nil))
        case .getObject, .headObject, .getObjectAcl, .getObjectTagging, .getObjectRetention, .getObjectLegalHold:
            return AccessRequest(.read, .dataset(bucket, key: t.key ?? ""))
        case .listParts: return AccessRequest(.write, .dataset(bucket, key: t.key ?? ""))
        case .putObject, .copyObject, .createMultipartUpload, .uploadPart, .uploadPartCopy, .completeMultipartUpload, .putObjectAcl,
            .putObjectTagging, .deleteObjectTagging, .putObjectRetention, .putObjectLegalHold:
            return AccessRequest(.write, .dataset(bucket, key: t.key ?? ""))
        case .deleteObject, .abortMultipartUpload: return AccessRequest(.delete, .dataset(bucket, key: t.key ?? ""))
        }
    }
}
