import Hummingbird
import S3Protocol

/// Get/PutBucketAcl and Get/PutObjectAcl: the owner's full control only (`ACL`).
extension S3Dispatcher {
    /// The bucket, or the object (and version) an ACL request names must exist.
    func requireACLSubject(_ call: S3Call, object: Bool) async throws {
        if object {
            _ = try await self.object(call.bucket, key: call.key, version: try requestedVersion(call))
        } else {
            _ = try await objects.dataset(call.bucket)
        }
    }

    func getACL(_ call: S3Call, object: Bool) async throws -> Response {
        try await requireACLSubject(call, object: object)
        return xmlResponse(ACL.policy(owner: Self.ownerID), headers: Self.versionHeaders(version: object ? try requestedVersion(call) : nil))
    }

    func putACL(_ call: S3Call, object: Bool) async throws -> Response {
        try await requireACLSubject(call, object: object)
        let byHeader = try ACL.checkHeaders(call.header)
        let body = try await readSmallBody(call)
        if !body.isEmpty {
            try ACL.checkPolicy(body, owner: Self.ownerID)
        } else if !byHeader {
            throw S3Error(.missingSecurityHeader, "Your request was missing a required header", details: [("MissingHeaderName", "x-amz-acl")])
        }
        return Response(status: .ok, headers: Self.versionHeaders(version: object ? try requestedVersion(call) : nil))
    }
}
