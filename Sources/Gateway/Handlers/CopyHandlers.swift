import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol

extension S3Dispatcher {
    /// The object `x-amz-copy-source` names, with the route of its dataset and the version it
    /// names (nil when none), once the `x-amz-copy-source-if-*` conditions hold.
    func copySource(_ call: S3Call) async throws -> (ObjectRecord, DatasetRoute, version: VersionID?) {
        guard let raw = call.header("x-amz-copy-source") else { throw S3Error(.invalidArgument, "Copy Source must be given") }
        let (bucket, key, version) = try CopySource.location(raw)
        let route = try await objects.route(bucket)
        let source: ObjectRecord
        do {
            source = try await object(bucket, key: key, version: version)
        } catch let e as DeleteMarkerFound {
            guard e.named else { throw S3Error.noSuchKey(key: key) }
            throw S3Error(.invalidRequest, "The source of a copy request may not specifically refer to a delete marker by version id.")
        }
        let conditions = Preconditions(
            ifMatch: call.header("x-amz-copy-source-if-match"), ifNoneMatch: call.header("x-amz-copy-source-if-none-match"),
            ifModifiedSince: call.header("x-amz-copy-source-if-modified-since").flatMap(HTTPDate.parse),
            ifUnmodifiedSince: call.header("x-amz-copy-source-if-unmodified-since").flatMap(HTTPDate.parse))
        // For copies every failed condition is 412 (S3 CopyObject, "Conditional copy").
        guard conditions.evaluate(etag: source.etag, lastModified: source.lastModified) == .proceed else {
            throw S3Error.preconditionFailed(condition: "x-amz-copy-source-If-*")
        }
        // A source with a version id of its own is reported by it (S3 sends it whenever the
        // source bucket is versioned), a `null` version when it was named.
        return (source, route, source.versioned || route.bucket.versioning != nil ? source.versionID : version)
    }

    func copyObject(_ call: S3Call) async throws -> Response {
        if let problem = Names.keyProblem(call.key) { throw problem }
        let route = try await objects.route(call.bucket)
        let (source, sourceRoute, sourceVersion) = try await copySource(call)
        let directive = call.header("x-amz-metadata-directive")?.uppercased() ?? "COPY"
        guard directive == "COPY" || directive == "REPLACE" else {
            throw S3Error(.invalidArgument, "Unknown metadata directive.", details: [("ArgumentName", "x-amz-metadata-directive")])
        }
        // Copying a noncurrent version onto its key restores it (S3 versioning); copying the
        // current object onto itself must change something.
        if source.bucket == call.bucket, source.key == call.key, directive == "COPY",
            try await objects.catalog.object(bucket: call.bucket, key: call.key)?.version == source.version
        {
            throw S3Error(
                .invalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage "
                    + "class, website redirect location or encryption attributes."
            )
        }
        guard source.size <= maxSingleUpload else {
            throw S3Error(.invalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
        }
        let tagging = call.header("x-amz-tagging-directive")?.uppercased() ?? "COPY"
        guard tagging == "COPY" || tagging == "REPLACE" else {
            throw S3Error(.invalidArgument, "Unknown tagging directive.", details: [("ArgumentName", "x-amz-tagging-directive")])
        }
        var headers = directive == "REPLACE" ? try objectHeaders(call) : source.headers
        headers.tags = tagging == "REPLACE" ? try requestTags(call) : source.headers.tags
        // A copy's lock is the request's or the bucket's default, never the source's.
        headers.lock = try requestedLock(call, route.bucket)
        call.audit.read(source, bytes: source.size)
        let record = try await objects.copy(
            source, from: sourceRoute, to: route, key: call.key, headers: headers,
            precondition: writePrecondition(call))
        var w = XMLWriter()
        w.open("CopyObjectResult")
        w.element("LastModified", HTTPDate.iso8601(record.lastModified))
        w.element("ETag", record.etag)
        if let c = record.checksum {
            w.element("ChecksumType", record.checksumType ?? "FULL_OBJECT")
            w.element(c.algorithm.xmlName, c.base64)
        }
        w.close("CopyObjectResult")
        return xmlResponse(
            w.result, headers: Self.versionHeaders(version: Self.writtenVersion(record, route), copySource: sourceVersion))
    }
}
