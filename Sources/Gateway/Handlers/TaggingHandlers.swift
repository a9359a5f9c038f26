import Catalog
import Hummingbird
import S3Protocol

/// Object and bucket tagging (`Tagging`): tag sets kept by the catalog.
extension S3Dispatcher {
    func getObjectTagging(_ call: S3Call) async throws -> Response {
        let version = try requestedVersion(call)
        let record = try await object(call.bucket, key: call.key, version: version)
        return xmlResponse(Tagging.xml(record.headers.tags), headers: Self.versionHeaders(version: version ?? Self.ownVersion(record)))
    }

    func putObjectTagging(_ call: S3Call) async throws -> Response {
        let version = try requestedVersion(call)
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: false)
        let tags = try Tagging.parseXML(body, limit: Tagging.maxObjectTags)
        let record = try await naming(version, key: call.key) {
            try await objects.retag(call.bucket, key: call.key, version: version, tags: tags)
        }
        return Response(status: .ok, headers: Self.versionHeaders(version: version ?? Self.ownVersion(record)))
    }

    func deleteObjectTagging(_ call: S3Call) async throws -> Response {
        let version = try requestedVersion(call)
        let record = try await naming(version, key: call.key) {
            try await objects.retag(call.bucket, key: call.key, version: version, tags: [])
        }
        return Response(status: .noContent, headers: Self.versionHeaders(version: version ?? Self.ownVersion(record)))
    }

    func getBucketTagging(_ call: S3Call) async throws -> Response {
        guard let tags = try await objects.dataset(call.bucket).tags else {
            throw S3Error(.noSuchTagSet, "The TagSet does not exist", details: [("BucketName", call.bucket)])
        }
        return xmlResponse(Tagging.xml(tags))
    }

    func putBucketTagging(_ call: S3Call) async throws -> Response {
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: false)
        try await objects.setTags(call.bucket, try Tagging.parseXML(body, limit: Tagging.maxBucketTags))
        return Response(status: .noContent)
    }

    func deleteBucketTagging(_ call: S3Call) async throws -> Response {
        try await objects.setTags(call.bucket, nil)
        return Response(status: .noContent)
    }

    /// The tag set a write gives its object: `x-amz-tagging`, or none.
    func requestTags(_ call: S3Call) throws -> [ObjectTag] {
        try call.header("x-amz-tagging").map { try Tagging.parseHeader($0) } ?? []
    }
}
