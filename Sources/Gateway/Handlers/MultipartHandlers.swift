import Catalog
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol
import Storage

extension S3Dispatcher {
    static let maxParts = 10_000

    func createMultipartUpload(_ call: S3Call) async throws -> Response {
        if let problem = Names.keyProblem(call.key) { throw problem }
        _ = try await objects.dataset(call.bucket)
        var algorithm: ChecksumAlgorithm?
        if let a = call.header("x-amz-checksum-algorithm") {
            guard let alg = ChecksumAlgorithm(headerValue: a) else {
                throw S3Error(.invalidRequest, "Checksum algorithm '\(a)' is not supported.")
            }
            algorithm = alg
        }
        var checksumType: String?
        if let t = call.header("x-amz-checksum-type")?.uppercased() {
            guard t == "COMPOSITE" || t == "FULL_OBJECT" else { throw S3Error(.invalidRequest, "Invalid x-amz-checksum-type '\(t)'.") }
            guard let alg = algorithm else { throw S3Error(.invalidRequest, "x-amz-checksum-type requires x-amz-checksum-algorithm.") }
            if t == "FULL_OBJECT" && !alg.isCRC || t == "COMPOSITE" && alg == .crc64nvme {
                throw S3Error(.invalidRequest, "The \(alg.rawValue) algorithm does not support the \(t) checksum type.")
            }
            checksumType = t
        } else if let alg = algorithm {
            checksumType = alg == .crc64nvme ? "FULL_OBJECT" : "COMPOSITE"
        }
        let route = try await objects.route(call.bucket)
        var headers = try objectHeaders(call)
        headers.lock = try requestedLock(call, route.bucket)
        let upload = try await objects.createUpload(
            route, key: call.key, headers: headers, checksumAlgorithm: algorithm,
            checksumType: checksumType)
        var w = XMLWriter()
        w.open("InitiateMultipartUploadResult")
        w.element("Bucket", call.bucket)
        w.element("Key", call.key)
        w.element("UploadId", upload.uploadID)
        w.close("InitiateMultipartUploadResult")
        var h = HTTPFields()
        if let a = algorithm { h[.init("x-amz-checksum-algorithm")!] = a.rawValue }
        if let t = checksumType { h[.init("x-amz-checksum-type")!] = t }
        return xmlResponse(w.result, headers: h)
    }

    /// The upload named by `uploadId`, which must belong to this bucket and key.
    func requireUpload(_ call: S3Call) async throws -> UploadRecord {
        try await objects.upload(call.target.queryValue("uploadId"), dataset: call.bucket, key: call.key)
    }

    func partNumber(_ call: S3Call) throws -> Int {
        guard let text = call.target.queryValue("partNumber"), let n = Int(text), (1...Self.maxParts).contains(n) else {
            throw S3Error(
                .invalidArgument, "Part number must be an integer between 1 and 10000, inclusive",
                details: [("ArgumentName", "partNumber")])
        }
        return n
    }

    func uploadPart(_ call: S3Call) async throws -> Response {
        let number = try partNumber(call)
        let upload = try await requireUpload(call)
        let expect = try uploadExpectations(call, defaultAlgorithm: upload.checksumAlgorithm)
        if let alg = upload.checksumAlgorithm, let given = expect.checksumAlgorithm, given != alg {
            throw S3Error(
                .invalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: \(alg.rawValue.lowercased()), actual checksum Type: "
                    + "\(given.rawValue.lowercased())"
            )
        }
        let part = try await objects.storePart(upload, number, body: try incomingBody(call, expect))
        var h: HTTPFields = [.eTag: part.etag]
        if let c = part.checksum, let n = HTTPField.Name(c.algorithm.headerName) { h[n] = c.base64 }
        return Response(status: .ok, headers: h)
    }

    func uploadPartCopy(_ call: S3Call) async throws -> Response {
        let number = try partNumber(call)
        let upload = try await requireUpload(call)
        let (source, sourceRoute, sourceVersion) = try await copySource(call)
        var range: ByteRange?
        if let r = call.header("x-amz-copy-source-range") {
            guard case .partial(let parsed) = ByteRange.parse(r, size: source.size), r.contains("-"),
                !r.hasPrefix("bytes=-"), !r.hasSuffix("-"),
                let end = Int64(r.split(separator: "-").last ?? ""), end < source.size
            else {
                throw S3Error(
                    .invalidArgument,
                    "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the "
                        + "first and last bytes to copy, within the source object",
                    details: [("ArgumentName", "x-amz-copy-source-range"), ("ArgumentValue", r)])
            }
            range = parsed
        }
        guard (range?.length ?? source.size) <= maxSingleUpload else {
            throw S3Error(.invalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
        }
        // The part's ETag is the MD5 of the copied bytes, so they pass through the hashing pipeline.
        let stream = try await objects.openPlain(source, range: range, in: sourceRoute.primary)
        call.audit.read(source, bytes: stream.length)
        let expect = UploadExpectations(
            payload: .unsigned, signing: nil, decodedLength: stream.length, contentMD5: nil, checksum: nil,
            checksumAlgorithm: upload.checksumAlgorithm, declaredTrailers: [])
        let box = UploadDigestsBox()
        let body = IncomingBody(length: stream.length, bytes: UploadBody(source: stream, expect: expect, result: box)) {
            guard let digests = box.digests else { throw S3Error(.incompleteBody, "The copy source was not read to its end.") }
            return digests
        }
        let part = try await objects.storePart(upload, number, body: body)
        var w = XMLWriter()
        w.open("CopyPartResult")
        w.element("LastModified", HTTPDate.iso8601(part.lastModified))
        w.element("ETag", part.etag)
        if let c = part.checksum { w.element(c.algorithm.xmlName, c.base64) }
        w.close("CopyPartResult")
        return xmlResponse(w.result, headers: Self.versionHeaders(copySource: sourceVersion))
    }

    func completeMultipartUpload(_ call: S3Call) async throws -> Response {
        let upload = try await requireUpload(call)
        let body = try await readSmallBody(call)
        let request = try XMLRequests.completeMultipartUpload(body)
        guard !request.parts.isEmpty else { throw S3Error.malformedXML() }
        let stored = Dictionary(try await objects.parts(of: upload).map { ($0.partNumber, $0) }, uniquingKeysWith: { a, _ in a })
        var chosen: [PartRecord] = []
        var previous = 0
        for p in request.parts {
            guard p.partNumber > previous else {
                throw S3Error(.invalidPartOrder, "The list of parts was not in ascending order. Parts must be ordered by part number.")
            }
            previous = p.partNumber
            guard let part = stored[p.partNumber], ETag.unquoted(p.etag) == ETag.unquoted(part.etag) else {
                throw S3Error(
                    .invalidPart,
                    "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may "
                        + "not match the part's entity tag.",
                    details: [("PartNumber", String(p.partNumber)), ("ETag", p.etag)])
            }
            if let alg = upload.checksumAlgorithm, let given = p.checksums[alg], let have = part.checksum, given != have.base64 {
                throw S3Error(.invalidPart, "The checksum of part \(p.partNumber) does not match the uploaded part.")
            }
            chosen.append(part)
        }
        for part in chosen.dropLast() where part.size < ObjectLayer.minPartSize {
            throw S3Error(
                .entityTooSmall, "Your proposed upload is smaller than the minimum allowed object size.",
                details: [
                    ("PartNumber", String(part.partNumber)), ("ProposedSize", String(part.size)),
                    ("MinSizeAllowed", String(ObjectLayer.minPartSize)),
                ])
        }
        guard chosen.allSatisfy({ ETag.md5(of: $0.etag) != nil }) else { throw S3Error(.internalError, "A stored part has a malformed ETag.") }
        let route = try await objects.route(call.bucket)
        let record = try await objects.completeUpload(upload, route: route, parts: chosen, precondition: writePrecondition(call))
        let versionHeaders = Self.versionHeaders(version: Self.writtenVersion(record, route))
        let checksum = record.checksum
        var w = XMLWriter()
        w.open("CompleteMultipartUploadResult")
        w.element("Location", "/\(call.bucket)/\(URIEncoding.encode(call.key, keepSlash: true))")
        w.element("Bucket", call.bucket)
        w.element("Key", call.key)
        w.element("ETag", record.etag)
        if let c = checksum {
            w.element(c.algorithm.xmlName, c.base64)
            w.element("ChecksumType", record.checksumType ?? "COMPOSITE")
        }
        w.close("CompleteMultipartUploadResult")
        return xmlResponse(w.result, headers: versionHeaders)
    }

    func abortMultipartUpload(_ call: S3Call) async throws -> Response {
        try await objects.abortUpload(try await requireUpload(call))
        return Response(status: .noContent)
    }

    func listParts(_ call: S3Call) async throws -> Response {
        let upload = try await requireUpload(call)
        let t = call.target
        let maxParts = min(Int(t.queryValue("max-parts") ?? "") ?? 1000, 1000)
        let marker = Int(t.queryValue("part-number-marker") ?? "") ?? 0
        let all = try await objects.parts(of: upload).filter { $0.partNumber > marker }
        let page = Array(all.prefix(max(0, maxParts)))
        let truncated = all.count > page.count
        var w = XMLWriter()
        w.open("ListPartsResult")
        w.element("Bucket", call.bucket)
        w.element("Key", call.key)
        w.element("UploadId", upload.uploadID)
        Self.initiatorAndOwner(&w)
        w.element("StorageClass", "STANDARD")
        w.element("PartNumberMarker", marker)
        w.element("NextPartNumberMarker", page.last?.partNumber ?? 0)
        w.element("MaxParts", maxParts)
        w.element("IsTruncated", truncated)
        if let a = upload.checksumAlgorithm { w.element("ChecksumAlgorithm", a.rawValue) }
        if let ct = upload.checksumType { w.element("ChecksumType", ct) }
        for p in page {
            w.group("Part") { w in
                w.element("PartNumber", p.partNumber)
                w.element("LastModified", HTTPDate.iso8601(p.lastModified))
                w.element("ETag", p.etag)
                w.element("Size", p.size)
                if let c = p.checksum { w.element(c.algorithm.xmlName, c.base64) }
            }
        }
        w.close("ListPartsResult")
        return xmlResponse(w.result)
    }

    static func initiatorAndOwner(_ w: inout XMLWriter) {
        w.group("Initiator") { w in
            w.element("ID", ownerID)
            w.element("DisplayName", ownerID)
        }
        owner(&w)
    }

    func listMultipartUploads(_ call: S3Call) async throws -> Response {
        _ = try await objects.dataset(call.bucket)
        let t = call.target
        let prefix = t.queryValue("prefix") ?? ""
        let delimiter = t.queryValue("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        let keyMarker = t.queryValue("key-marker") ?? ""
        let idMarker = t.queryValue("upload-id-marker") ?? ""
        let maxUploads = min(Int(t.queryValue("max-uploads") ?? "") ?? 1000, 1000)
        let urlEncode = t.queryValue("encoding-type") == "url"
        func enc(_ s: String) -> String { urlEncode ? URIEncoding.encode(s, keepSlash: true) : s }
        let all = try await objects.uploads(call.bucket).filter { u in
            guard u.key.hasPrefix(prefix) else { return false }
            if keyMarker.isEmpty { return true }
            let k = Array(u.key.utf8), m = Array(keyMarker.utf8)
            if k == m { return !idMarker.isEmpty && u.uploadID > idMarker }
            return m.lexicographicallyPrecedes(k)
        }
        var uploads: [UploadRecord] = []
        var prefixes: [String] = []
        var truncated = false
        for u in all {
            if let delimiter, let cp = Listing.commonPrefix(of: u.key, prefix: prefix, delimiter: delimiter) {
                if prefixes.last == cp { continue }
                if uploads.count + prefixes.count == maxUploads {
                    truncated = true
                    break
                }
                prefixes.append(cp)
                continue
            }
            if uploads.count + prefixes.count == maxUploads {
                truncated = true
                break
            }
            uploads.append(u)
        }
        var w = XMLWriter()
        w.open("ListMultipartUploadsResult")
        w.element("Bucket", call.bucket)
        w.element("KeyMarker", enc(keyMarker))
        w.element("UploadIdMarker", idMarker)
        if truncated, let last = uploads.last {
            w.element("NextKeyMarker", enc(last.key))
            w.element("NextUploadIdMarker", last.uploadID)
        }
        w.element("Prefix", enc(prefix))
        if let delimiter { w.element("Delimiter", enc(delimiter)) }
        w.element("MaxUploads", maxUploads)
        if urlEncode { w.element("EncodingType", "url") }
        w.element("IsTruncated", truncated)
        for u in uploads {
            w.group("Upload") { w in
                w.element("Key", enc(u.key))
                w.element("UploadId", u.uploadID)
                Self.initiatorAndOwner(&w)
                w.element("StorageClass", "STANDARD")
                w.element("Initiated", HTTPDate.iso8601(u.initiated))
                if let a = u.checksumAlgorithm { w.element("ChecksumAlgorithm", a.rawValue) }
            }
        }
        for p in prefixes {
            w.group("CommonPrefixes") { w in w.element("Prefix", enc(p)) }
        }
        w.close("ListMultipartUploadsResult")
        return xmlResponse(w.result)
    }
}
