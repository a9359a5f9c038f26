import Catalog
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol
import Sealing
import Storage

extension S3Responder {
    static let minPartSize: Int64 = 5 * 1024 * 1024
    static let maxParts = 10_000

    func createMultipartUpload(_ call: S3Call) async throws -> Response {
        if let problem = Names.keyProblem(call.key) { throw problem }
        _ = try await requireBucket(call.bucket)
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
        let (_, placement) = try await requireDataset(call.bucket)
        let headers = try objectHeaders(call)
        let name = placement.name(for: call.key)
        let sealing = try placement.sealer?.newObject()
        let backendUpload = try await placement.store.startParts(name: name, attributes: placement.attributes(headers))
        let upload = UploadRecord(uploadID: Self.newBlobID() + Self.newBlobID(), bucket: call.bucket, key: call.key, initiated: state.now(),
                                  headers: headers, checksumAlgorithm: algorithm, checksumType: checksumType,
                                  backendUpload: backendUpload, blob: name, seal: sealing?.1)
        do {
            try await state.catalog.createUpload(upload)
        } catch {
            await abandon(upload, [], in: placement)
            throw error
        }
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
        guard let id = call.target.queryValue("uploadId"), let upload = try await state.catalog.upload(id),
              upload.bucket == call.bucket, upload.key == call.key
        else {
            _ = try await requireBucket(call.bucket)
            throw Self.map(.noSuchUpload)
        }
        return upload
    }

    func partNumber(_ call: S3Call) throws -> Int {
        guard let text = call.target.queryValue("partNumber"), let n = Int(text), (1...Self.maxParts).contains(n) else {
            throw S3Error(.invalidArgument, "Part number must be an integer between 1 and 10000, inclusive",
                          details: [("ArgumentName", "partNumber")])
        }
        return n
    }

    func uploadPart(_ call: S3Call) async throws -> Response {
        let number = try partNumber(call)
        let upload = try await requireUpload(call)
        let expect = try uploadExpectations(call, defaultAlgorithm: upload.checksumAlgorithm)
        if let alg = upload.checksumAlgorithm, let given = expect.checksumAlgorithm, given != alg {
            throw S3Error(.invalidRequest, "Checksum Type mismatch occurred, expected checksum Type: \(alg.rawValue.lowercased()), actual checksum Type: \(given.rawValue.lowercased())")
        }
        let (_, placement) = try await requireDataset(call.bucket)
        call.context.sendContinueIfExpected()
        let part = try await storePart(upload, number, placement, length: try Self.length(expect), source: call.request.body, expect: expect)
        var h: HTTPFields = [.eTag: part.etag]
        if let c = part.checksum, let n = HTTPField.Name(c.algorithm.headerName) { h[n] = c.base64 }
        return Response(status: .ok, headers: h)
    }

    /// The backend object a multipart upload writes.
    static func target(_ upload: UploadRecord) throws -> String {
        guard let blob = upload.blob else { throw S3Error(.noSuchUpload, "The upload was started by an older version; abort it and start again.") }
        return blob
    }

    /// Streams a part, verified, to the backend and records it; a part it replaces is released.
    func storePart<Source: AsyncSequence & Sendable>(_ upload: UploadRecord, _ number: Int, _ placement: ResolvedPlacement, length: Int64,
                                                     source: Source, expect: UploadExpectations) async throws -> PartRecord
        where Source.Element == ByteBuffer {
        let box = UploadDigestsBox()
        let body = UploadBody(source: source, expect: expect, result: box)
        let token: PartToken
        if let seal = upload.seal {
            // Each part is sealed as the segment numbered like the part (docs/sealed-format.md).
            guard let sealer = placement.sealer else { throw SealingError.malformed("a sealed upload on a plaintext placement") }
            let segment = try SegmentSealer(keys: try sealer.keys(seal), segment: UInt32(number), plainLength: length)
            var t = try await placement.store.putPart(name: try Self.target(upload), upload: upload.backendUpload ?? "", number: number,
                                                      length: SealedFormat.sealedLength(length), body: SealingBody(source: body, sealer: segment))
            t.md5 = nil
            token = t
        } else {
            token = try await placement.store.putPart(name: try Self.target(upload), upload: upload.backendUpload ?? "", number: number,
                                                      length: length, body: body)
        }
        let digests = try Self.digests(box, stored: token.md5)
        let part = PartRecord(uploadID: upload.uploadID, partNumber: number, size: digests.length, etag: ETag.quoted(md5: digests.md5),
                              lastModified: state.now(), checksum: digests.checksum, blob: token.token)
        let replaced: PartRecord?
        do {
            replaced = try await state.catalog.putPart(part)
        } catch {
            await discardParts([part], in: placement)
            throw error
        }
        if let replaced, replaced.blob != part.blob { await discardParts([replaced], in: placement) }
        return part
    }

    func uploadPartCopy(_ call: S3Call) async throws -> Response {
        let number = try partNumber(call)
        let upload = try await requireUpload(call)
        let source = try await copySource(call)
        var range: ByteRange?
        if let r = call.header("x-amz-copy-source-range") {
            guard case .partial(let parsed) = ByteRange.parse(r, size: source.size), r.contains("-"),
                  !r.hasPrefix("bytes=-"), !r.hasSuffix("-"),
                  let end = Int64(r.split(separator: "-").last ?? ""), end < source.size
            else {
                throw S3Error(.invalidArgument, "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy, within the source object",
                              details: [("ArgumentName", "x-amz-copy-source-range"), ("ArgumentValue", r)])
            }
            range = parsed
        }
        guard (range?.length ?? source.size) <= maxSingleUpload else {
            throw S3Error(.invalidRequest, "The specified copy source is larger than the maximum allowable size for a copy source: 5368709120")
        }
        // The part's ETag is the MD5 of the copied bytes, so they pass through the hashing pipeline.
        let (_, placement) = try await requireDataset(call.bucket)
        let (_, sourcePlacement) = try await requireDataset(source.bucket)
        let stream = try await openPlain(source, range: range, in: sourcePlacement)
        call.ledger.read(source, bytes: stream.length)
        let expect = UploadExpectations(payload: .unsigned, signing: nil, decodedLength: stream.length, contentMD5: nil, checksum: nil,
                                        checksumAlgorithm: upload.checksumAlgorithm, declaredTrailers: [])
        let part = try await storePart(upload, number, placement, length: stream.length, source: stream, expect: expect)
        var w = XMLWriter()
        w.open("CopyPartResult")
        w.element("LastModified", HTTPDate.iso8601(part.lastModified))
        w.element("ETag", part.etag)
        if let c = part.checksum { w.element(c.algorithm.xmlName, c.base64) }
        w.close("CopyPartResult")
        return xmlResponse(w.result)
    }

    func completeMultipartUpload(_ call: S3Call) async throws -> Response {
        let upload = try await requireUpload(call)
        let body = try await readSmallBody(call)
        let request = try XMLRequests.completeMultipartUpload(body)
        guard !request.parts.isEmpty else {
            throw S3Error(.malformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
        }
        let stored = Dictionary(try await state.catalog.parts(uploadID: upload.uploadID).map { ($0.partNumber, $0) }, uniquingKeysWith: { a, _ in a })
        var chosen: [PartRecord] = []
        var previous = 0
        for p in request.parts {
            guard p.partNumber > previous else {
                throw S3Error(.invalidPartOrder, "The list of parts was not in ascending order. Parts must be ordered by part number.")
            }
            previous = p.partNumber
            guard let part = stored[p.partNumber], ETag.unquoted(p.etag) == ETag.unquoted(part.etag) else {
                throw S3Error(.invalidPart, "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.",
                              details: [("PartNumber", String(p.partNumber)), ("ETag", p.etag)])
            }
            if let alg = upload.checksumAlgorithm, let given = p.checksums[alg], let have = part.checksum, given != have.base64 {
                throw S3Error(.invalidPart, "The checksum of part \(p.partNumber) does not match the uploaded part.")
            }
            chosen.append(part)
        }
        for part in chosen.dropLast() where part.size < Self.minPartSize {
            throw S3Error(.entityTooSmall, "Your proposed upload is smaller than the minimum allowed object size.",
                          details: [("PartNumber", String(part.partNumber)), ("ProposedSize", String(part.size)), ("MinSizeAllowed", String(Self.minPartSize))])
        }
        let md5s = chosen.compactMap { ETag.md5(of: $0.etag) }
        guard md5s.count == chosen.count else { throw S3Error(.internalError, "A stored part has a malformed ETag.") }
        let conditions = writePreconditions(call)
        let route = try await route(call.bucket)
        let placement = route.primary
        let name = try Self.target(upload)
        let record = try await exclusive(placement, call.bucket, call.key, conditions: conditions, mirrored: route.mirrors) { [chosen] in
            let stored = try await placement.store.finishParts(name: name, upload: upload.backendUpload ?? "",
                                                               parts: chosen.map { PartToken(number: $0.partNumber, token: $0.blob) },
                                                               attributes: placement.attributes(upload.headers))
            var seal = upload.seal
            seal?.segments = chosen.map { Segment(number: UInt32($0.partNumber), size: $0.size) }
            var record = ObjectRecord(bucket: call.bucket, key: call.key, size: chosen.reduce(0) { $0 + $1.size }, etag: ETag.multipart(partMD5s: md5s),
                                      lastModified: state.now(), headers: upload.headers, checksum: nil, checksumType: nil,
                                      blob: name, partsCount: chosen.count, backendETag: stored.etag, seal: seal)
            if let alg = upload.checksumAlgorithm {
                if upload.checksumType == "FULL_OBJECT" {
                    var hasher = ChecksumHasher(alg)
                    for try await chunk in try await openPlain(record, range: nil, in: placement) { hasher.update(chunk) }
                    record.checksum = ChecksumValue(algorithm: alg, digest: hasher.finalize())
                } else {
                    let digests = chosen.compactMap { $0.checksum?.digest }
                    if digests.count == chosen.count { record.checksum = ChecksumValue.composite(algorithm: alg, parts: digests) }
                }
                record.checksumType = record.checksum == nil ? nil : upload.checksumType
            }
            try await writeHeader(record, in: placement)
            let done: (parts: [PartRecord], result: WriteResult)
            do {
                done = try await state.catalog.completeUpload(upload.uploadID, record: record, mirror: route.pending) { current in
                    try conditions.evaluateWrite(currentETag: current?.etag)
                }
            } catch {
                if !placement.inPlace { await discard(placement.names(of: name), in: placement) }
                throw error
            }
            await discardParts(done.parts, in: placement)
            if let replaced = done.result.replaced { await discard(placement.names(of: replaced), in: placement) }
            await discardReplaced(done.result.replacedReplica, route: route)
            return record
        }
        await replicateNow(route, key: call.key)
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
        return xmlResponse(w.result)
    }

    func abortMultipartUpload(_ call: S3Call) async throws -> Response {
        let upload = try await requireUpload(call)
        let (_, placement) = try await requireDataset(call.bucket)
        await abandon(upload, try await state.catalog.abortUpload(upload.uploadID), in: placement)
        return Response(status: .noContent)
    }

    /// Releases what the backend holds for an upload the catalog no longer has.
    func abandon(_ upload: UploadRecord, _ parts: [PartRecord], in placement: ResolvedPlacement) async {
        guard let name = upload.blob else { return await discardParts(parts, in: placement) }
        do {
            try await placement.store.abortParts(name: name, upload: upload.backendUpload ?? "",
                                                 parts: parts.map { PartToken(number: $0.partNumber, token: $0.blob) })
        } catch {
            state.logger.warning("could not abort a backend upload", metadata: ["upload": .string(upload.uploadID), "error": .string("\(error)")])
        }
    }

    func listParts(_ call: S3Call) async throws -> Response {
        let upload = try await requireUpload(call)
        let t = call.target
        let maxParts = min(Int(t.queryValue("max-parts") ?? "") ?? 1000, 1000)
        let marker = Int(t.queryValue("part-number-marker") ?? "") ?? 0
        let all = try await state.catalog.parts(uploadID: upload.uploadID).filter { $0.partNumber > marker }
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
        _ = try await requireBucket(call.bucket)
        let t = call.target
        let prefix = t.queryValue("prefix") ?? ""
        let delimiter = t.queryValue("delimiter").flatMap { $0.isEmpty ? nil : $0 }
        let keyMarker = t.queryValue("key-marker") ?? ""
        let idMarker = t.queryValue("upload-id-marker") ?? ""
        let maxUploads = min(Int(t.queryValue("max-uploads") ?? "") ?? 1000, 1000)
        let urlEncode = t.queryValue("encoding-type") == "url"
        func enc(_ s: String) -> String { urlEncode ? URIEncoding.encode(s, keepSlash: true) : s }
        let all = try await state.catalog.uploads(bucket: call.bucket).filter { u in
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
                if uploads.count + prefixes.count == maxUploads { truncated = true; break }
                prefixes.append(cp)
                continue
            }
            if uploads.count + prefixes.count == maxUploads { truncated = true; break }
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
