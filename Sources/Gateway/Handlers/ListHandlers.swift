import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol

extension S3Dispatcher {
    func listObjects(_ call: S3Call, v2: Bool) async throws -> Response {
        _ = try await objects.dataset(call.bucket)
        let t = call.target
        let p = try ListParameters(t)
        let (prefix, delimiter, maxKeys, urlEncode) = (p.prefix, p.delimiter, p.maxKeys, p.urlEncode)
        let enc = p.encode
        var from: [UInt8] = []
        var skipUpTo: String?
        let token = t.queryValue("continuation-token")
        let startAfter = t.queryValue("start-after")
        let marker = t.queryValue("marker")
        if v2 {
            if let token {
                guard let data = Data(base64Encoded: token), !data.isEmpty else {
                    throw S3Error(.invalidArgument, "The continuation token provided is incorrect", details: [("ArgumentName", "continuation-token")])
                }
                from = Array(data)
            } else if let startAfter {
                from = Array(startAfter.utf8) + [0]
                skipUpTo = startAfter
            }
        } else if let marker {
            from = Array(marker.utf8) + [0]
            skipUpTo = marker
        }
        let page = try await objects.list(
            call.bucket, prefix: prefix, delimiter: delimiter, from: from, skipPrefixesUpTo: skipUpTo,
            maxKeys: maxKeys)
        let fetchOwner = !v2 || t.queryValue("fetch-owner") == "true"
        var contents = page.contents
        if let view = call.access.view, prefix.hasPrefix(ObjectLayer.aggregatesPrefix) {
            // The view's aggregates are listed under their own prefix, all on one page.
            contents = try await objects.aggregateListing(dataset: call.bucket, prefix: prefix, view: view)
        } else if let view = call.access.view {
            // What the project's view shows: a listing page waits for its outputs.
            var shown: [ObjectRecord] = []
            for r in contents { if let v = try await objects.viewListing(r, view: view) { shown.append(v) } }
            contents = shown
        }

        var w = XMLWriter()
        w.open("ListBucketResult")
        w.element("Name", call.bucket)
        w.element("Prefix", enc(prefix))
        if v2 {
            if let token { w.element("ContinuationToken", token) }
            if let startAfter { w.element("StartAfter", enc(startAfter)) }
            w.element("KeyCount", contents.count + page.commonPrefixes.count)
        } else {
            w.element("Marker", enc(marker ?? ""))
        }
        w.element("MaxKeys", maxKeys)
        if let delimiter { w.element("Delimiter", enc(delimiter)) }
        if urlEncode { w.element("EncodingType", "url") }
        w.element("IsTruncated", page.isTruncated)
        if page.isTruncated {
            if v2, let next = page.resumeFrom {
                w.element("NextContinuationToken", Data(next).base64EncodedString())
            } else if !v2, let last = page.lastReturned {
                w.element("NextMarker", enc(last))
            }
        }
        for r in contents {
            w.group("Contents") { w in Self.listed(r, key: enc(r.key), owner: fetchOwner, &w) }
        }
        for p in page.commonPrefixes {
            w.group("CommonPrefixes") { w in w.element("Prefix", enc(p)) }
        }
        w.close("ListBucketResult")
        return xmlResponse(w.result)
    }

    /// The elements of an object in a listing (ListObjects `Contents`, ListObjectVersions
    /// `Version`), `key` as the listing encodes it; `version` (VersionId, IsLatest) when listed
    /// as a version.
    static func listed(_ r: ObjectRecord, key: String, version: (id: String, latest: Bool)? = nil, owner: Bool, _ w: inout XMLWriter) {
        w.element("Key", key)
        if let version {
            w.element("VersionId", version.id)
            w.element("IsLatest", version.latest)
        }
        w.element("LastModified", HTTPDate.iso8601(r.lastModified))
        w.element("ETag", r.etag)
        if let c = r.checksum { w.element("ChecksumAlgorithm", c.algorithm.rawValue) }
        if let ct = r.checksumType, r.checksum != nil { w.element("ChecksumType", ct) }
        w.element("Size", r.size)
        if owner { Self.owner(&w) }
        w.element("StorageClass", "STANDARD")
    }
}

/// What every listing takes from the query: prefix, delimiter, `encoding-type`, `max-keys`.
struct ListParameters {
    let prefix: String
    let delimiter: String?
    let urlEncode: Bool
    let maxKeys: Int

    init(_ t: RequestTarget) throws(S3Error) {
        prefix = t.queryValue("prefix") ?? ""
        delimiter = t.queryValue("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        let encoding = t.queryValue("encoding-type")
        if let encoding, encoding != "url" {
            throw S3Error(.invalidArgument, "Invalid Encoding Method specified in Request", details: [("ArgumentName", "encoding-type")])
        }
        urlEncode = encoding == "url"
        var maxKeys = 1000
        if let m = t.queryValue("max-keys") {
            guard let v = Int(m), v >= 0 else {
                throw S3Error(.invalidArgument, "Provided max-keys not an integer or within integer range", details: [("ArgumentName", "max-keys")])
            }
            maxKeys = min(v, 1000)
        }
        self.maxKeys = maxKeys
    }

    /// A key, prefix or marker as the response carries it (`encoding-type=url` percent-encodes).
    func encode(_ s: String) -> String { urlEncode ? URIEncoding.encode(s, keepSlash: true) : s }
}
