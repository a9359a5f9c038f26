import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import S3Protocol

/// Versions (`VersionID`): the `versionId` a request names, the version headers of responses,
/// Get/PutBucketVersioning and ListObjectVersions.
extension S3Dispatcher {
    static let versionIDHeader = HTTPField.Name("x-amz-version-id")!
    static let copySourceVersionIDHeader = HTTPField.Name("x-amz-copy-source-version-id")!
    static let deleteMarkerHeader = HTTPField.Name("x-amz-delete-marker")!

    /// The version a request names in its query (`versionId`), nil when none.
    func requestedVersion(_ call: S3Call) throws(S3Error) -> VersionID? {
        try VersionID.parse(call.target.queryValue("versionId"))
    }

    /// The response headers that report a version (and the copy source's).
    static func versionHeaders(version: VersionID? = nil, copySource: VersionID? = nil, marker: Bool = false) -> HTTPFields {
        var h = HTTPFields()
        if let version { h[versionIDHeader] = version.description }
        if let copySource { h[copySourceVersionIDHeader] = copySource.description }
        if marker { h[deleteMarkerHeader] = "true" }
        return h
    }

    /// The version id a response reports for `record` unasked: its own, when it has one.
    static func ownVersion(_ record: ObjectRecord) -> VersionID? {
        record.versioned ? record.versionID : nil
    }

    /// The version id of a write's result: S3 reports it on a versioned bucket (`null` once
    /// versioning is suspended), never on a bucket that was never versioned.
    static func writtenVersion(_ record: ObjectRecord, _ route: DatasetRoute) -> VersionID? {
        record.versioned || route.bucket.versioning != nil ? record.versionID : nil
    }

    static func noSuchVersion(key: String, version: VersionID) -> S3Error {
        S3Error(.noSuchVersion, "The specified version does not exist.", details: [("Key", key), ("VersionId", version.description)])
    }

    /// Runs `body` on the object `key`; when a version was named and `body` finds no object,
    /// the answer is NoSuchVersion rather than NoSuchKey.
    func naming<T>(_ version: VersionID?, key: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as DatasetError where e.code == .noSuchKey {
            guard let version else { throw e }
            throw Self.noSuchVersion(key: key, version: version)
        }
    }

    /// The object `key` (its version `version`, when named), or NoSuchVersion.
    func object(_ bucket: String, key: String, version: VersionID?) async throws -> ObjectRecord {
        try await naming(version, key: key) { try await objects.object(bucket, key: key, version: version) }
    }

    func getBucketVersioning(_ call: S3Call) async throws -> Response {
        let b = try await objects.dataset(call.bucket)
        var w = XMLWriter()
        w.open("VersioningConfiguration")
        if let state = b.versioning { w.element("Status", state.rawValue) }
        w.close("VersioningConfiguration")
        return xmlResponse(w.result)
    }

    func putBucketVersioning(_ call: S3Call) async throws -> Response {
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: false)
        if call.header("x-amz-mfa") != nil {
            throw S3Error(.invalidRequest, "MFA delete is not supported: sign-in to this gateway is two-factor already (TOTP).")
        }
        guard let state = try VersioningState.parse(body) else {
            // No Status: nothing to change (S3 keeps the bucket's state).
            _ = try await objects.dataset(call.bucket)
            return Response(status: .ok)
        }
        try await objects.setVersioning(call.bucket, state)
        return Response(status: .ok)
    }

    func listObjectVersions(_ call: S3Call) async throws -> Response {
        let t = call.target
        let p = try ListParameters(t)
        let keyMarker = t.queryValue("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let versionMarker = try VersionID.parse(
            t.queryValue("version-id-marker").flatMap { $0.isEmpty && keyMarker == nil ? nil : $0 }, argument: "version-id-marker")
        if versionMarker != nil && keyMarker == nil {
            throw S3Error(
                .invalidArgument, "A version-id marker cannot be specified without a key marker.",
                details: [("ArgumentName", "version-id-marker"), ("ArgumentValue", versionMarker?.description ?? "")])
        }
        // After `key-marker`'s version `version-id-marker` come its older versions; after
        // `key-marker` alone, the next key.
        var start = VersionCursor(key: keyMarker.map { Array($0.utf8) + [0] } ?? [])
        if let keyMarker, let versionMarker {
            if let marked = try await objects.catalog.version(bucket: call.bucket, key: keyMarker, version: versionMarker) {
                start = VersionCursor(key: Array(keyMarker.utf8), below: marked.version)
            } else if case .id(let v) = versionMarker {
                start = VersionCursor(key: Array(keyMarker.utf8), below: v)
            }
        }
        let page = try await objects.listVersions(
            call.bucket, prefix: p.prefix, delimiter: p.delimiter, start: start, skipPrefixesUpTo: keyMarker, maxKeys: p.maxKeys)

        var w = XMLWriter()
        w.open("ListVersionsResult")
        w.element("Name", call.bucket)
        w.element("Prefix", p.encode(p.prefix))
        w.element("KeyMarker", p.encode(keyMarker ?? ""))
        w.element("VersionIdMarker", versionMarker?.description ?? "")
        if page.isTruncated, let last = page.lastReturned {
            w.element("NextKeyMarker", p.encode(last))
            if let v = page.contents.last, v.record.key == last { w.element("NextVersionIdMarker", v.record.versionID.description) }
        }
        w.element("MaxKeys", p.maxKeys)
        if let delimiter = p.delimiter { w.element("Delimiter", p.encode(delimiter)) }
        if p.urlEncode { w.element("EncodingType", "url") }
        w.element("IsTruncated", page.isTruncated)
        // S3 lists versions and delete markers in one order, each under its own element.
        for v in page.contents {
            let r = v.record
            if r.deleteMarker {
                w.group("DeleteMarker") { w in
                    w.element("Key", p.encode(r.key))
                    w.element("VersionId", r.versionID.description)
                    w.element("IsLatest", v.isLatest)
                    w.element("LastModified", HTTPDate.iso8601(r.lastModified))
                    Self.owner(&w)
                }
            } else {
                w.group("Version") { w in
                    Self.listed(r, key: p.encode(r.key), version: (r.versionID.description, v.isLatest), owner: true, &w)
                }
            }
        }
        for prefix in page.commonPrefixes {
            w.group("CommonPrefixes") { w in w.element("Prefix", p.encode(prefix)) }
        }
        w.close("ListVersionsResult")
        return xmlResponse(w.result)
    }
}
