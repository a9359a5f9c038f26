import Catalog
import Crypto
import Datasets
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol
import Storage

extension S3Dispatcher {
    func putObject(_ call: S3Call) async throws -> Response {
        if let problem = Names.keyProblem(call.key) { throw problem }
        let route = try await objects.route(call.bucket)
        var headers = try objectHeaders(call)
        headers.lock = try requestedLock(call, route.bucket)
        let body = try incomingBody(call, try uploadExpectations(call))
        let record = try await objects.put(route, key: call.key, headers: headers, body: body, precondition: writePrecondition(call))
        var h = Self.versionHeaders(version: Self.writtenVersion(record, route))
        h[.eTag] = record.etag
        if let x = Self.expiration(record, route.bucket) { h[Self.expirationHeader] = x }
        if let c = record.checksum, let n = HTTPField.Name(c.algorithm.headerName) {
            h[n] = c.base64
            h[.init("x-amz-checksum-type")!] = "FULL_OBJECT"
        }
        return Response(status: .ok, headers: h)
    }

    func getObject(_ call: S3Call, head: Bool) async throws -> Response {
        let version = try requestedVersion(call)
        // Twice at most: an overwrite between the catalog read and the backend read is seen
        // as a changed backend ETag, and the second round reads the new record.
        for round in 0..<2 {
            var plan: ReadPlan
            if let view = call.access.view, let aggregate = try await aggregatePlan(call, view) {
                plan = aggregate
            } else {
                plan = try await naming(version, key: call.key) {
                    try await objects.readPlan(dataset: call.bucket, key: call.key, version: version)
                }
                call.audit.served(version: plan.record.version)
                if let view = call.access.view { plan = try await viewPlan(call, plan, view) }
            }
            let prepared = try prepareRead(call, plan)
            guard case .serve(var headers, let status, let range) = prepared else {
                if case .early(let response) = prepared { return response }
                continue
            }
            let length = range?.length ?? plan.representation.size
            headers[.contentLength] = String(length)
            if !plan.representation.isView {
                if let v = version ?? Self.writtenVersion(plan.record, plan.route) { headers[Self.versionIDHeader] = v.description }
                if let status = plan.replicationStatus { headers[.init("x-amz-replication-status")!] = status }
                if version == nil || plan.record.versionID == version, let x = Self.expiration(plan.record, plan.route.bucket) {
                    headers[Self.expirationHeader] = x
                }
            }
            if head {
                // An object whose key was shredded is reported as unreadable by HEAD too.
                try objects.requireReadable(plan)
                return Response(status: status, headers: headers)
            }
            let stream: BlobStream
            do {
                stream = try await objects.open(plan, range: range)
            } catch StoreError.changed(let name) where round == 0 {
                state.logger.debug("backend object changed during read, retrying", metadata: ["name": .string(name)])
                continue
            }
            return Response(
                status: status, headers: headers,
                body: ResponseBody(contentLength: Int(length)) { writer in
                    for try await chunk in stream { try await writer.write(chunk) }
                    try await writer.finish(nil)
                })
        }
        throw StoreError.changed(call.key)
    }

    enum PreparedRead {
        case early(Response)
        case serve(HTTPFields, HTTPResponse.Status, ByteRange?)
    }

    /// Conditions, part number, headers and range of a GET or HEAD, against the planned representation.
    func prepareRead(_ call: S3Call, _ plan: ReadPlan) throws -> PreparedRead {
        let r = plan.representation
        let req = call.request.headers
        let conditions = Preconditions(
            ifMatch: req[.ifMatch], ifNoneMatch: req[.ifNoneMatch],
            ifModifiedSince: req[.ifModifiedSince].flatMap(HTTPDate.parse),
            ifUnmodifiedSince: req[.ifUnmodifiedSince].flatMap(HTTPDate.parse))
        switch conditions.evaluate(etag: r.etag, lastModified: r.lastModified) {
        case .proceed: break
        case .notModified:
            return .early(Response(status: .notModified, headers: [.eTag: r.etag, .lastModified: HTTPDate.format(r.lastModified)]))
        case .preconditionFailed:
            throw S3Error.preconditionFailed(condition: "If-Match")
        }
        var headers = objectResponseHeaders(plan.record, r, checksumMode: call.header("x-amz-checksum-mode")?.uppercased() == "ENABLED")
        applyResponseOverrides(call, &headers)
        if let pn = call.target.queryValue("partNumber") {
            guard let n = Int(pn), n >= 1, n <= 10000 else {
                throw S3Error(
                    .invalidArgument, "Part number must be an integer between 1 and 10000, inclusive", details: [("ArgumentName", "partNumber")])
            }
            guard req[.range] == nil else { throw S3Error(.invalidRequest, "Cannot specify both Range header and partNumber query parameter") }
            guard let range = try Self.partRange(r, number: n) else { return .serve(headers, .ok, nil) }
            headers[.contentRange] = "bytes \(range.start)-\(range.end)/\(r.size)"
            for alg in ChecksumAlgorithm.allCases { headers[HTTPField.Name(alg.headerName)!] = nil }
            return .serve(headers, .partialContent, range)
        }
        guard let rh = req[.range], r.rangesAllowed else { return .serve(headers, .ok, nil) }
        switch ByteRange.parse(rh, size: r.size) {
        case .whole:
            return .serve(headers, .ok, nil)
        case .unsatisfiable:
            throw S3Error(
                .invalidRange, "The requested range is not satisfiable", details: [("RangeRequested", rh), ("ActualObjectSize", String(r.size))])
        case .partial(let range):
            headers[.contentRange] = "bytes \(range.start)-\(range.end)/\(r.size)"
            // A checksum describes the whole object, not a range.
            for alg in ChecksumAlgorithm.allCases { headers[HTTPField.Name(alg.headerName)!] = nil }
            return .serve(headers, .partialContent, range)
        }
    }

    static let expirationHeader = HTTPField.Name("x-amz-expiration")!

    /// `x-amz-expiration` of a current object: when its dataset's lifecycle rules expire it.
    static func expiration(_ r: ObjectRecord, _ bucket: BucketRecord) -> String? {
        bucket.lifecycle?.expirationHeader(key: r.key, size: r.size, tags: r.headers.tags, lastModified: r.lastModified)
    }

    /// The bytes of part `number` (GetObject `partNumber`); nil: the whole object, which is
    /// part 1 of an object uploaded in one piece.
    static func partRange(_ r: Representation, number n: Int) throws(S3Error) -> ByteRange? {
        guard let count = r.partsCount else {
            guard n == 1 else {
                throw S3Error(
                    .invalidPartNumber, "The requested partnumber is not satisfiable",
                    details: [("PartNumberRequested", String(n)), ("ActualPartCount", "1")])
            }
            return nil
        }
        guard n <= count else {
            throw S3Error(
                .invalidPartNumber, "The requested partnumber is not satisfiable",
                details: [("PartNumberRequested", String(n)), ("ActualPartCount", String(count))])
        }
        guard let sizes = r.partSizes, sizes.count == count else {
            throw S3Error(.notImplemented, "This object was completed before its part boundaries were recorded; read it by range instead.")
        }
        let start = sizes[..<(n - 1)].reduce(0, +)
        return ByteRange(start: start, end: start + sizes[n - 1] - 1)
    }

    /// The query parameters of a GET that replace stored headers in its response.
    static let responseOverrides: [(String, HTTPField.Name)] = [
        ("response-content-type", .contentType), ("response-content-language", .contentLanguage),
        ("response-expires", .expires), ("response-cache-control", .cacheControl),
        ("response-content-disposition", .contentDisposition), ("response-content-encoding", .contentEncoding),
    ]

    /// `response-content-type` & co. replace the stored headers in a GET response.
    func applyResponseOverrides(_ call: S3Call, _ headers: inout HTTPFields) {
        for (param, name) in Self.responseOverrides {
            if let v = call.target.queryValue(param) { headers[name] = v }
        }
    }

    func deleteObject(_ call: S3Call) async throws -> Response {
        if let problem = Names.keyProblem(call.key) { throw problem }
        let version = try requestedVersion(call)
        let route = try await objects.route(call.bucket)
        guard let version else {
            let marker = try await objects.delete(route, key: call.key).marker
            return Response(status: .noContent, headers: Self.versionHeaders(version: marker?.versionID, marker: marker != nil))
        }
        // S3 answers 204 whether or not the version existed.
        let removed = try await objects.deleteVersion(route, key: call.key, version: version, bypassGovernance: bypassesGovernance(call))
        return Response(status: .noContent, headers: Self.versionHeaders(version: version, marker: removed?.deleteMarker == true))
    }

    func deleteObjects(_ call: S3Call) async throws -> Response {
        let route = try await objects.route(call.bucket)
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: true)
        let delete = try XMLRequests.delete(body)
        guard !delete.objects.isEmpty, delete.objects.count <= 1000 else { throw S3Error.malformedXML() }
        // Up to 16 keys at once; results keep the request's order.
        // Each entry's outcome: an error, or the delete marker it removed or wrote.
        typealias Outcome = Result<ObjectRecord?, S3Error>
        let outcomes = try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            var results = [Outcome](repeating: .success(nil), count: delete.objects.count)
            for (i, obj) in delete.objects.enumerated() {
                if i >= 16, let (j, e) = try await group.next() { results[j] = e }
                group.addTask {
                    if let problem = Names.keyProblem(obj.key) { return (i, .failure(problem)) }
                    guard call.access.permits(.delete, dataset: call.bucket, key: obj.key) else { return (i, .failure(S3Error.accessDenied())) }
                    do {
                        guard let version = try VersionID.parse(obj.versionId) else {
                            return (i, .success(try await objects.delete(route, key: obj.key).marker))
                        }
                        let removed = try await objects.deleteVersion(
                            route, key: obj.key, version: version, bypassGovernance: bypassesGovernance(call))
                        return (i, .success(removed?.deleteMarker == true ? removed : nil))
                    } catch let e as S3Error {
                        return (i, .failure(e))
                    } catch let e as DatasetError {
                        return (i, .failure(e.s3Error))
                    } catch let e as StoreError {
                        state.logger.error("delete failed", metadata: ["key": .string(obj.key), "error": .string(e.description)])
                        return (i, .failure(e.s3Error))
                    } catch {
                        state.logger.error("delete failed", metadata: ["key": .string(obj.key), "error": .string("\(error)")])
                        return (i, .failure(S3Error.internalError()))
                    }
                }
            }
            while let (j, e) = try await group.next() { results[j] = e }
            return results
        }
        var w = XMLWriter()
        w.open("DeleteResult")
        for (obj, outcome) in zip(delete.objects, outcomes) {
            switch outcome {
            case .failure(let error):
                w.group("Error") { w in
                    w.element("Key", obj.key)
                    if let v = obj.versionId { w.element("VersionId", v) }
                    w.element("Code", error.code.string)
                    w.element("Message", error.message)
                }
            case .success(let marker) where !delete.quiet:
                w.group("Deleted") { w in
                    w.element("Key", obj.key)
                    if let v = obj.versionId { w.element("VersionId", v) }
                    if let marker {
                        w.element("DeleteMarker", true)
                        w.element("DeleteMarkerVersionId", marker.versionID.description)
                    }
                }
            case .success: break
            }
        }
        w.close("DeleteResult")
        return xmlResponse(w.result)
    }

    /// DeleteObjects needs Content-MD5 or an `x-amz-checksum-*` header (AWS now accepts either);
    /// whichever is given must match the body.
    func verifyIntegrityHeaders(_ call: S3Call, body: [UInt8], required: Bool) throws {
        var checked = false
        if let m = call.header("content-md5") {
            guard let want = Data(base64Encoded: m.trimmingCharacters(in: .whitespaces)), want.count == 16 else {
                throw S3Error(.invalidDigest, "The Content-MD5 you specified is not valid.")
            }
            let got = Array(Insecure.MD5.hash(data: body))
            guard constantTimeEqual(Array(want), got) else {
                throw S3Error(.badDigest, "The Content-MD5 you specified did not match what we received.")
            }
            checked = true
        }
        for alg in ChecksumAlgorithm.allCases {
            guard let v = call.header(alg.headerName) else { continue }
            guard let given = ChecksumValue.parse(algorithm: alg, header: v) else {
                throw S3Error(.invalidRequest, "Value for \(alg.headerName) header is invalid.")
            }
            let computed = ChecksumValue(algorithm: alg, digest: ChecksumHasher.digest(alg, of: body))
            guard given == computed else { throw S3Error(.badDigest, "The \(alg.rawValue) you specified did not match the calculated checksum.") }
            checked = true
        }
        if required && !checked {
            throw S3Error(.invalidRequest, "Missing required header for this request: Content-MD5 or x-amz-checksum-*")
        }
    }

    /// Reads a small (XML) request body whole, capped, and checks a signed payload hash.
    func readSmallBody(_ call: S3Call) async throws -> [UInt8] {
        if case .streaming = call.signature.payload {
            throw S3Error(.notImplemented, "aws-chunked encoding is only supported for object uploads.")
        }
        let buffer: ByteBuffer
        do {
            buffer = try await call.request.body.collect(upTo: XMLRequests.maxBodySize)
        } catch {
            throw S3Error(.maxMessageLengthExceeded, "Your request was too big.")
        }
        let body = Array(buffer: buffer)
        if case .signed(let hex) = call.signature.payload {
            guard ChecksumHasher.digest(.sha256, of: body) == Hex.decode(hex) else {
                throw S3Error(.xAmzContentSHA256Mismatch, "The provided 'x-amz-content-sha256' header does not match what was computed.")
            }
        }
        return body
    }
}
