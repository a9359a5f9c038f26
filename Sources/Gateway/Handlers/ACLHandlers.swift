import Hummingbird
import S3Protocol

/// Get/PutBucketAcl and Get/PutObjectAcl: the owner's full control only (`ACL`).
extension S3Dispatcher {
    /// The bucket, or the object (and version) an ACL request names must exist; returns the
    /// version named, for the response.
    func requireACLSubject(_ call: S3Call, object: Bool) async throws -> VersionID? {
        guard object else {
            _ = try await objects.dataset(call.bucket)
            return nil
        }
        let version = try requestedVersion(call)
        _ = try await self.object(call.bucket, key: call.key, version: version)
        return version
    }

    func getACL(_ call: S3Call, object: Bool) async throws -> Response {
        let version = try await requireACLSubject(call, object: object)
        return xmlResponse(ACL.policy(owner: Self.ownerID), headers: Self.versionHeaders(version: version))
    }

    func putACL(_ call: S3Call, object: Bool) async throws -> Response {
        let version = try await requireACLSubject(call, object: object)
        let byHeader = try ACL.checkHeaders(call.header)
        let body = try await readSmallBody(call)
        if !body.isEmpty {
            try ACL.checkPolicy(body, owner: Self.ownerID)
        } else if !byHeader {
            throw S3Error(.missingSecurityHeader, "Your request was missing a required header", details: [("MissingHeaderName", "x-amz-acl")])
        }
        return Response(status: .ok, headers: Self.versionHeaders(version: version))
    }
}
