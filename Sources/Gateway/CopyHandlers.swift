import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol
import Sealing
import Storage

extension S3Responder {
    /// The bucket and key of `x-amz-copy-source: [/]bucket/key[?versionId=…]`, percent-encoded.
    static func copySourceLocation(_ raw: String) throws -> (bucket: String, key: String) {
        var text = Substring(raw)
        if let q = text.firstIndex(of: "?") {
            let query = text[text.index(after: q)...]
            if let v = query.split(separator: "&").first(where: { $0.hasPrefix("versionId=") }), v != "versionId=null" {
                throw S3Error(.notImplemented, "Object versions are not implemented.")
            }
            text = text[..<q]
        }
        if text.hasPrefix("/") { text = text.dropFirst() }
        guard let decoded = URIEncoding.decode(text), let slash = decoded.firstIndex(of: "/") else {
            throw S3Error(.invalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
                          details: [("ArgumentName", "x-amz-copy-source")])
        }
        let bucket = String(decoded[..<slash]), key = String(decoded[decoded.index(after: slash)...])
        guard !key.isEmpty else {
            throw S3Error(.invalidArgument, "Copy Source must mention the source bucket and key: sourcebucket/sourcekey")
        }
        return (bucket, key)
    }

    /// `x-amz-copy-source: [/]bucket/key[?versionId=…]`, percent-encoded.
    func copySource(_ call: S3Call) async throws -> ObjectRecord {
        guard let raw = call.header("x-amz-copy-source") else { throw S3Error(.invalidArgument, "Copy Source must be given") }
        let (bucket, key) = try Self.copySourceLocation(raw)
        _ = try await requireBucket(bucket)
        guard let source = try await state.catalog.object(bucket: bucket, key: key) else {
            throw S3Error(.noSuchKey, "The specified key does not exist.", details: [("Key", key)])
        }
        let conditions = Preconditions(
            ifMatch: call.header("x-amz-copy-source-if-match"), ifNoneMatch: call.header("x-amz-copy-source-if-none-match"),
            ifModifiedSince: call.header("x-amz-copy-source-if-modified-since").flatMap(HTTPDate.parse),
            ifUnmodifiedSince: call.header("x-amz-copy-source-if-unmodified-since").flatMap(HTTPDate.parse))
        // For copies every failed condition is 412 (S3 CopyObject, "Conditional copy").
        guard conditions.evaluate(etag: source.etag, lastModified: source.lastModified) == .proceed else {
            throw S3Error(.preconditionFailed, "At least one of the pre-conditions you specified did not hold",
                          details: [("Condition", "x-amz-copy-source-If-*")])
        }
        return source
    }

    func copyObject(_ call: S3Call) async throws -> Response {
        if let problem = Names.keyProblem(call.key) { throw problem }
        _ = try await requireBucket(call.bucket)
        let source = try await copySource(call)
        let directive = call.header("x-amz-metadata-directive")?.uppercased() ?? "COPY"
        guard directive == "COPY" || directive == "REPLACE" else {
            throw S3Error(.invalidArgument, "Unknown metadata directive.", details: [("ArgumentName", "x-amz-metadata-directive")])
        }
        if source.bucket == call.bucket, source.key == call.key, directive == "COPY" {
            throw S3Error(.invalidRequest, "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
        }
        guard source.size <= maxSingleUpload else {
            throw S3Error(.invalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
        }
        let headers = directive == "REPLACE" ? try objectHeaders(call) : source.headers
        let conditions = writePreconditions(call)
        let route = try await route(call.bucket)
        let (target, placement) = (route.bucket, route.primary)
        let (origin, sourcePlacement) = try await requireDataset(source.bucket)
        let record = try await exclusive(placement, call.bucket, call.key, conditions: conditions, mirrored: route.mirrors) {
            call.ledger.read(source, bytes: source.size)
            let name = placement.name(for: call.key)
            let stored: StoredObject
            var seal = source.seal
            let sameContainer = origin.placement.backend == target.placement.backend && origin.placement.container == target.placement.container
            // Sealed bytes can be copied as they are within one dataset: same KEK, same DEK.
            let sameKeys = origin.placement.sealed == target.placement.sealed && (!target.placement.sealed || origin.name == target.name)
            if sameContainer && sameKeys && name == source.blob {
                // Same backend object (a metadata-only self-copy): nothing to move.
                stored = StoredObject(name: name, size: source.size, etag: source.backendETag)
            } else if sameContainer && sameKeys && placement.store.capabilities.serverSideCopy {
                stored = try await placement.store.copy(from: source.blob, to: name, attributes: placement.attributes(headers))
            } else {
                let sealing = try placement.sealer?.newObject()
                let stream = try await openPlain(source, range: nil, in: sourcePlacement)
                stored = try await storeObject(placement, name: name, length: source.size, body: stream,
                                               attributes: headers.attributes, sealing: sealing?.0)
                seal = sealing?.1.single(size: source.size)
            }
            var record = source
            record.bucket = call.bucket
            record.key = call.key
            record.headers = headers
            record.blob = stored.name
            record.backendETag = stored.etag
            record.lastModified = state.now()
            record.seal = seal
            try await commit(record, route: route, mirror: route.pending) { current in try conditions.evaluateWrite(currentETag: current?.etag) }
            return record
        }
        await replicateNow(route, key: call.key)
        var w = XMLWriter()
        w.open("CopyObjectResult")
        w.element("LastModified", HTTPDate.iso8601(record.lastModified))
        w.element("ETag", record.etag)
        if let c = record.checksum {
            w.element("ChecksumType", record.checksumType ?? "FULL_OBJECT")
            w.element(c.algorithm.xmlName, c.base64)
        }
        w.close("CopyObjectResult")
        return xmlResponse(w.result)
    }
}
