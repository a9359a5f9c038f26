import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import S3Protocol

/// Versions as S3 reports them for buckets that were never versioned: each object is its
/// `null` version (`VersionID`), listed by ListObjectVersions, named by `versionId=null`.
extension S3Dispatcher {
    static let versionIDHeader = HTTPField.Name("x-amz-version-id")!
    static let copySourceVersionIDHeader = HTTPField.Name("x-amz-copy-source-version-id")!

    /// The version a request names in its query (`versionId`), nil when none.
    func requestedVersion(_ call: S3Call) throws(S3Error) -> String? {
        try VersionID.parse(call.target.queryValue("versionId"))
    }

    /// The response headers that report the version a request named.
    static func versionHeaders(version: String? = nil, copySource: String? = nil) -> HTTPFields {
        var h = HTTPFields()
        if let version { h[versionIDHeader] = version }
        if let copySource { h[copySourceVersionIDHeader] = copySource }
        return h
    }

    static func noSuchVersion(key: String, version: String) -> S3Error {
        S3Error(.noSuchVersion, "The specified version does not exist.", details: [("Key", key), ("VersionId", version)])
    }

    /// Runs `body` on the object `key`; when a version was named and `body` finds no object,
    /// the answer is NoSuchVersion rather than NoSuchKey.
    func naming<T>(_ version: String?, key: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let e as DatasetError where e.code == .noSuchKey && version != nil {
            throw Self.noSuchVersion(key: key, version: version ?? "")
        }
    }

    /// The object `key`, or, when a version was named and there is none, NoSuchVersion.
    func object(_ bucket: String, key: String, version: String?) async throws -> ObjectRecord {
        try await naming(version, key: key) { try await objects.object(bucket, key: key) }
    }

    func listObjectVersions(_ call: S3Call) async throws -> Response {
        let t = call.target
        let p = try ListParameters(t)
        let keyMarker = t.queryValue("key-marker").flatMap { $0.isEmpty ? nil : $0 }
        let versionMarker = try VersionID.parse(t.queryValue("version-id-marker"), argument: "version-id-marker")
        if versionMarker != nil && keyMarker == nil {
            throw S3Error(
                .invalidArgument, "A version-id marker cannot be specified without a key marker.",
                details: [("ArgumentName", "version-id-marker"), ("ArgumentValue", versionMarker ?? "")])
        }
        // One version a key: after `key-marker` (and its null version) comes the next key.
        let page = try await objects.list(
            call.bucket, prefix: p.prefix, delimiter: p.delimiter, from: keyMarker.map { Array($0.utf8) + [0] } ?? [],
            skipPrefixesUpTo: keyMarker, maxKeys: p.maxKeys)

        var w = XMLWriter()
        w.open("ListVersionsResult")
        w.element("Name", call.bucket)
        w.element("Prefix", p.encode(p.prefix))
        w.element("KeyMarker", p.encode(keyMarker ?? ""))
        w.element("VersionIdMarker", versionMarker ?? "")
        if page.isTruncated, let last = page.lastReturned {
            w.element("NextKeyMarker", p.encode(last))
            if page.contents.last?.key == last { w.element("NextVersionIdMarker", VersionID.null) }
        }
        w.element("MaxKeys", p.maxKeys)
        if let delimiter = p.delimiter { w.element("Delimiter", p.encode(delimiter)) }
        if p.urlEncode { w.element("EncodingType", "url") }
        w.element("IsTruncated", page.isTruncated)
        for r in page.contents {
            w.group("Version") { w in Self.listed(r, key: p.encode(r.key), version: VersionID.null, owner: true, &w) }
        }
        for prefix in page.commonPrefixes {
            w.group("CommonPrefixes") { w in w.element("Prefix", p.encode(prefix)) }
        }
        w.close("ListVersionsResult")
        return xmlResponse(w.result)
    }
}
