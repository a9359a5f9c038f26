import Access
import Catalog
import Datasets
import Foundation
import Hummingbird
import S3Protocol

/// Object Lock (`ObjectLock`): the bucket's configuration, each version's retention and legal
/// hold, kept by the catalog and enforced by the object layer on every delete of a version.
extension S3Dispatcher {
    /// The lock a write asks for, or the bucket's default retention; refused on a bucket
    /// created without Object Lock.
    func requestedLock(_ call: S3Call, _ bucket: BucketRecord) throws -> ObjectLockState? {
        let asked = try ObjectLock.requested(call.header, now: state.now())
        guard let config = bucket.objectLock else {
            if asked != nil { throw ObjectLock.missingConfiguration() }
            return nil
        }
        var lock = asked ?? ObjectLockState()
        if lock.retention == nil { lock.retention = config.defaultRetention(at: state.now()) }
        return lock.isEmpty ? nil : lock
    }

    /// `x-amz-bypass-governance-retention: true` from a principal allowed to bypass: staff
    /// (root and service keys), never a project's session.
    func bypassesGovernance(_ call: S3Call) -> Bool {
        guard call.header("x-amz-bypass-governance-retention")?.lowercased() == "true" else { return false }
        if case .staff = call.access.principal { return true }
        return false
    }

    /// The bucket, which must have Object Lock enabled.
    func lockedBucket(_ call: S3Call) async throws -> BucketRecord {
        let b = try await objects.dataset(call.bucket)
        guard b.objectLock != nil else { throw ObjectLock.missingConfiguration() }
        return b
    }

    func getObjectLockConfiguration(_ call: S3Call) async throws -> Response {
        guard let config = try await objects.dataset(call.bucket).objectLock else {
            throw S3Error(
                .objectLockConfigurationNotFound, "Object Lock configuration does not exist for this bucket", details: [("BucketName", call.bucket)])
        }
        return xmlResponse(config.xml)
    }

    func putObjectLockConfiguration(_ call: S3Call) async throws -> Response {
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: false)
        try await objects.setObjectLock(call.bucket, try ObjectLockConfiguration.parse(body))
        return Response(status: .ok)
    }

    func getObjectRetention(_ call: S3Call) async throws -> Response {
        _ = try await lockedBucket(call)
        let version = try requestedVersion(call)
        guard let retention = try await object(call.bucket, key: call.key, version: version).headers.lock?.retention else {
            throw ObjectLock.noObjectConfiguration()
        }
        return xmlResponse(ObjectLock.retentionXML(retention))
    }

    func putObjectRetention(_ call: S3Call) async throws -> Response {
        _ = try await lockedBucket(call)
        let version = try requestedVersion(call)
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: false)
        let now = state.now()
        let new = try ObjectLock.parseRetention(body, now: now)
        let bypass = bypassesGovernance(call)
        let record = try await naming(version, key: call.key) {
            try await objects.relock(call.bucket, key: call.key, version: version) { r in
                let old = r.headers.lock ?? ObjectLockState()
                try old.checkRetentionChange(to: new, now: now, bypassGovernance: bypass)
                return ObjectLockState(retention: new, legalHold: old.legalHold)
            }
        }
        return Response(status: .ok, headers: Self.versionHeaders(version: version ?? Self.ownVersion(record)))
    }

    func getObjectLegalHold(_ call: S3Call) async throws -> Response {
        _ = try await lockedBucket(call)
        let version = try requestedVersion(call)
        guard let hold = try await object(call.bucket, key: call.key, version: version).headers.lock?.legalHold else {
            throw ObjectLock.noObjectConfiguration()
        }
        return xmlResponse(ObjectLock.legalHoldXML(hold))
    }

    func putObjectLegalHold(_ call: S3Call) async throws -> Response {
        _ = try await lockedBucket(call)
        let version = try requestedVersion(call)
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: false)
        let on = try ObjectLock.parseLegalHold(body)
        let record = try await naming(version, key: call.key) {
            try await objects.relock(call.bucket, key: call.key, version: version) { r in
                var lock = r.headers.lock ?? ObjectLockState()
                lock.legalHold = on
                return lock
            }
        }
        return Response(status: .ok, headers: Self.versionHeaders(version: version ?? Self.ownVersion(record)))
    }
}
