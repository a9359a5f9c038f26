import Catalog
import Crypto
import Foundation
import Replication
import HTTPTypes
import Hummingbird
import NIOCore
import S3Protocol
import Sealing
import Storage

extension S3Responder {
    func putObject(_ call: S3Call) async throws -> Response {
        if let problem = Names.keyProblem(call.key) { throw problem }
        let route = try await route(call.bucket)
        let placement = route.primary
        let headers = try objectHeaders(call)
        let expect = try uploadExpectations(call)
        let conditions = writePreconditions(call)
        let record = try await exclusive(placement, call.bucket, call.key, conditions: conditions, mirrored: route.mirrors) {
            if route.sync, let target = route.target {
                return try await putBothCopies(call, expect, headers: headers, conditions: conditions, route: route, target: target)
            }
            let sealing = try placement.sealer?.newObject()
            let (stored, digests) = try await receiveBody(call, expect, into: placement, name: placement.name(for: call.key),
                                                          headers: headers, sealing: sealing?.0)
            let record = ObjectRecord(bucket: call.bucket, key: call.key, size: digests.length, etag: ETag.quoted(md5: digests.md5),
                                      lastModified: state.now(), headers: headers, checksum: digests.checksum,
                                      checksumType: digests.checksum == nil ? nil : "FULL_OBJECT", blob: stored.name, partsCount: nil,
                                      backendETag: stored.etag, seal: sealing?.1.single(size: digests.length))
            try await commit(record, route: route, mirror: route.pending) { current in try conditions.evaluateWrite(currentETag: current?.etag) }
            return record
        }
        var h: HTTPFields = [.eTag: record.etag]
        if let c = record.checksum, let n = HTTPField.Name(c.algorithm.headerName) {
            h[n] = c.base64
            h[.init("x-amz-checksum-type")!] = "FULL_OBJECT"
        }
        return Response(status: .ok, headers: h)
    }

    /// A PUT in sync mode: the body goes to the target first, then from there to the source,
    /// then one catalog commit records both. A target that cannot take it fails the request
    /// with 503 before the source is touched, so nothing is half-written.
    func putBothCopies(_ call: S3Call, _ expect: UploadExpectations, headers: ObjectHeaders, conditions: Preconditions,
                       route: DatasetRoute, target: ResolvedPlacement) async throws -> ObjectRecord {
        let sealing = try target.sealer?.newObject()
        // An in-place target copy is replaced before the commit: until then the key is queued,
        // so a crash in between has it copied again.
        if target.inPlace { try await state.catalog.enqueue(bucket: call.bucket, key: call.key, now: state.now()) }
        var copy: ObjectRecord
        do {
            let (stored, digests) = try await receiveBody(call, expect, into: target, name: target.name(for: call.key),
                                                          headers: headers, sealing: sealing?.0)
            copy = ObjectRecord(bucket: call.bucket, key: call.key, size: digests.length, etag: ETag.quoted(md5: digests.md5),
                                lastModified: state.now(), headers: headers, checksum: digests.checksum,
                                checksumType: digests.checksum == nil ? nil : "FULL_OBJECT", blob: stored.name, partsCount: nil,
                                backendETag: stored.etag, seal: sealing?.1.single(size: digests.length))
            try await writeHeader(copy, in: target)
        } catch let error as StoreError {
            state.logger.error("sync write refused: migration target failed", metadata: ["dataset": .string(call.bucket), "error": .string(error.description)])
            state.metrics.replicationFailures(backend: route.migration?.target.backend ?? "").increment()
            try? await state.catalog.recordReplicationFailure(bucket: call.bucket, at: state.now())
            throw S3Error(.serviceUnavailable, "The dataset's migration target is unavailable; the write was not applied. Please retry.")
        }
        let replica = ReplicaRecord(bucket: call.bucket, key: call.key, version: 0, blob: copy.blob, backendETag: copy.backendETag,
                                    seal: copy.seal, md5: ETag.md5(of: copy.etag).map { Hex.encode($0) })
        do {
            let placement = route.primary
            let sealing = try placement.sealer?.newObject()
            let stored = try await storeObject(placement, name: placement.name(for: call.key), length: copy.size,
                                               body: try await openPlain(copy, range: nil, in: target), attributes: placement.attributes(headers),
                                               sealing: sealing?.0)
            var record = copy
            record.blob = stored.name
            record.backendETag = stored.etag
            record.seal = sealing?.1.single(size: copy.size)
            try await commit(record, route: route, mirror: MirrorCommit(epoch: route.epoch, target: .written(replica))) { current in
                try conditions.evaluateWrite(currentETag: current?.etag)
            }
            return record
        } catch {
            if !target.inPlace { await discard(target.names(of: copy.blob), in: target) }
            throw error
        }
    }

    /// Makes `record` the object in the catalog (a sealed one gets its header object first); a
    /// blob it replaces (fresh-id placements) is removed, and a new blob is removed again if the
    /// commit fails. A target copy the commit makes obsolete is removed too.
    func commit(_ record: ObjectRecord, route: DatasetRoute, mirror: MirrorCommit,
                precondition: @escaping @Sendable (ObjectRecord?) throws -> Void) async throws {
        let placement = route.primary
        try await writeHeader(record, in: placement)
        let result: WriteResult
        do {
            result = try await state.catalog.putObject(record, mirror: mirror, precondition: precondition)
        } catch {
            if !placement.inPlace { await discard(placement.names(of: record.blob), in: placement) }
            throw error
        }
        if let replaced = result.replaced { await discard(placement.names(of: replaced), in: placement) }
        await discardReplaced(result.replacedReplica, route: route)
    }

    func discardReplaced(_ blob: String?, route: DatasetRoute) async {
        if let blob, let target = route.target, !target.inPlace { await discard(target.names(of: blob), in: target) }
    }

    /// After a copy or a multipart completion in sync mode (committed with the key journaled),
    /// the target copy is made before the response; if the target fails, the journal keeps
    /// the key and the workers retry.
    func replicateNow(_ route: DatasetRoute, key: String) async {
        guard route.sync else { return }
        do {
            _ = try await Replicator(state: state).sync(route, key: key)
            if let e = try await state.catalog.journal(bucket: route.bucket.name, key: key) { try await state.catalog.finishJournal(e) }
        } catch {
            state.logger.warning("sync replication deferred to the journal", metadata: ["dataset": .string(route.bucket.name), "key": .string(key),
                                                                                       "error": .string("\(error)")])
        }
    }

    func getObject(_ call: S3Call, head: Bool) async throws -> Response {
        let route = try await route(call.bucket)
        // Twice at most: an overwrite between the catalog read and the backend read is seen
        // as a changed backend ETag, and the second round reads the new record.
        for round in 0..<2 {
            guard let record = try await state.catalog.object(bucket: call.bucket, key: call.key) else {
                throw S3Error(.noSuchKey, "The specified key does not exist.", details: [("Key", call.key)])
            }
            call.ledger.served(version: record.version)
            let prepared = try prepareRead(call, record)
            guard case .serve(var headers, let status, let range) = prepared else {
                if case .early(let response) = prepared { return response }
                continue
            }
            let length = range?.length ?? record.size
            headers[.contentLength] = String(length)
            // The target copy's row, read once for the status and for a read in cutover.
            let replica = route.mirrors ? try await state.catalog.replica(bucket: record.bucket, key: record.key) : nil
            if let status = try await replicationStatus(record, replica: replica, route: route) { headers[.init("x-amz-replication-status")!] = status }
            if head {
                // An object whose key was shredded is reported as unreadable by HEAD too.
                if let sealer = route.primary.sealer, let seal = record.seal { try sealer.requireKey(seal) }
                return Response(status: status, headers: headers)
            }
            let stream: BlobStream
            do {
                stream = try await openForRead(record, replica: replica, range: range, route: route)
            } catch StoreError.changed(let name) where round == 0 {
                state.logger.debug("backend object changed during read, retrying", metadata: ["name": .string(name)])
                continue
            }
            return Response(status: status, headers: headers, body: ResponseBody(contentLength: Int(length)) { writer in
                for try await chunk in stream { try await writer.write(chunk) }
                try await writer.finish(nil)
            })
        }
        throw StoreError.changed(call.key)
    }

    /// In cutover a read comes from the target's copy when it holds this version; otherwise,
    /// or when that copy fails to open, from the source, and the key is queued so the target is
    /// repaired (read-repair).
    func openForRead(_ record: ObjectRecord, replica: ReplicaRecord?, range: ByteRange?, route: DatasetRoute) async throws -> BlobStream {
        if route.readsFromTarget, let target = route.target {
            if let replica, replica.version == record.version {
                do {
                    let stream = try await openPlain(replica.applied(to: record), range: range, in: target)
                    state.metrics.targetReads.increment()
                    return stream
                } catch {
                    state.logger.warning("target read failed, serving the source", metadata: ["dataset": .string(record.bucket), "key": .string(record.key),
                                                                                             "error": .string("\(error)")])
                    _ = try? await state.catalog.dropReplica(bucket: record.bucket, key: record.key, version: replica.version)
                }
            }
            state.metrics.readFallbacks.increment()
            if try await state.catalog.journal(bucket: record.bucket, key: record.key) == nil {
                try await state.catalog.enqueue(bucket: record.bucket, key: record.key, now: state.now())
                state.metrics.readRepairs.increment()
            }
        }
        return try await openPlain(record, range: range, in: route.primary)
    }

    enum PreparedRead {
        case early(Response)
        case serve(HTTPFields, HTTPResponse.Status, ByteRange?)
    }

    /// Conditions, part number, headers and range of a GET or HEAD.
    func prepareRead(_ call: S3Call, _ record: ObjectRecord) throws -> PreparedRead {
        let req = call.request.headers
        let conditions = Preconditions(ifMatch: req[.ifMatch], ifNoneMatch: req[.ifNoneMatch],
                                       ifModifiedSince: req[.ifModifiedSince].flatMap(HTTPDate.parse),
                                       ifUnmodifiedSince: req[.ifUnmodifiedSince].flatMap(HTTPDate.parse))
        switch conditions.evaluate(etag: record.etag, lastModified: record.lastModified) {
        case .proceed: break
        case .notModified:
            return .early(Response(status: .notModified, headers: [.eTag: record.etag, .lastModified: HTTPDate.format(record.lastModified)]))
        case .preconditionFailed:
            throw S3Error(.preconditionFailed, "At least one of the pre-conditions you specified did not hold", details: [("Condition", "If-Match")])
        }
        if let pn = call.target.queryValue("partNumber") {
            guard let n = Int(pn), n >= 1, n <= 10000 else {
                throw S3Error(.invalidArgument, "Part number must be an integer between 1 and 10000, inclusive", details: [("ArgumentName", "partNumber")])
            }
            guard record.partsCount == nil, n == 1 else {
                throw S3Error(.notImplemented, "GetObject with partNumber is only supported for single-part objects.")
            }
        }
        var headers = objectResponseHeaders(record, checksumMode: call.header("x-amz-checksum-mode")?.uppercased() == "ENABLED")
        applyResponseOverrides(call, &headers)
        guard let rh = req[.range] else { return .serve(headers, .ok, nil) }
        switch ByteRange.parse(rh, size: record.size) {
        case .whole:
            return .serve(headers, .ok, nil)
        case .unsatisfiable:
            throw S3Error(.invalidRange, "The requested range is not satisfiable",
                          details: [("RangeRequested", rh), ("ActualObjectSize", String(record.size))])
        case .partial(let r):
            headers[.contentRange] = "bytes \(r.start)-\(r.end)/\(record.size)"
            // A checksum describes the whole object, not a range.
            for alg in ChecksumAlgorithm.allCases { headers[HTTPField.Name(alg.headerName)!] = nil }
            return .serve(headers, .partialContent, r)
        }
    }

    /// `response-content-type` & co. replace the stored headers in a GET response.
    func applyResponseOverrides(_ call: S3Call, _ headers: inout HTTPFields) {
        let overrides: [(String, HTTPField.Name)] = [
            ("response-content-type", .contentType), ("response-content-language", .contentLanguage),
            ("response-expires", .expires), ("response-cache-control", .cacheControl),
            ("response-content-disposition", .contentDisposition), ("response-content-encoding", .contentEncoding),
        ]
        for (param, name) in overrides {
            if let v = call.target.queryValue(param) { headers[name] = v }
        }
    }

    func deleteObject(_ call: S3Call) async throws -> Response {
        if let problem = Names.keyProblem(call.key) { throw problem }
        try await remove(call.bucket, call.key, try await route(call.bucket))
        return Response(status: .noContent)
    }

    /// Deletes one object. In place, the backend object goes first, so a backend that cannot
    /// delete leaves the catalog (and the client's view) unchanged; otherwise the catalog goes
    /// first and the blob after. In sync mode the target copy goes before anything else.
    func remove(_ bucket: String, _ key: String, _ route: DatasetRoute) async throws {
        let placement = route.primary
        try await exclusive(placement, bucket, key, mirrored: route.mirrors) {
            var mirror = route.pending
            if route.sync, let target = route.target {
                if let replica = try await state.catalog.replica(bucket: bucket, key: key) {
                    do {
                        try await target.store.delete(names: target.names(of: replica.blob))
                    } catch {
                        try? await state.catalog.recordReplicationFailure(bucket: bucket, at: state.now())
                        throw S3Error(.serviceUnavailable, "The dataset's migration target is unavailable; the delete was not applied. Please retry.")
                    }
                }
                mirror.target = .removed
            }
            if placement.inPlace {
                guard let record = try await state.catalog.object(bucket: bucket, key: key) else { return }
                try await placement.store.delete(name: record.blob)
                _ = try await state.catalog.deleteObject(bucket: bucket, key: key, mirror: mirror)
            } else {
                let (blob, _) = try await state.catalog.deleteObject(bucket: bucket, key: key, mirror: mirror)
                if let blob { await discard(placement.names(of: blob), in: placement) }
            }
        }
    }

    func deleteObjects(_ call: S3Call) async throws -> Response {
        let route = try await route(call.bucket)
        let body = try await readSmallBody(call)
        try verifyIntegrityHeaders(call, body: body, required: true)
        let delete = try XMLRequests.delete(body)
        guard !delete.objects.isEmpty, delete.objects.count <= 1000 else {
            throw S3Error(.malformedXML, "The XML you provided was not well-formed or did not validate against our published schema.")
        }
        // Up to 16 keys at once; results keep the request's order.
        let outcomes = try await withThrowingTaskGroup(of: (Int, S3Error?).self) { group in
            var results = [S3Error?](repeating: nil, count: delete.objects.count)
            for (i, obj) in delete.objects.enumerated() {
                if i >= 16, let (j, e) = try await group.next() { results[j] = e }
                group.addTask {
                    if let problem = Names.keyProblem(obj.key) { return (i, problem) }
                    guard call.access.permits(.delete, dataset: call.bucket, key: obj.key) else {
                        return (i, S3Error(.accessDenied, "Access Denied"))
                    }
                    do {
                        try await remove(call.bucket, obj.key, route)
                        return (i, nil)
                    } catch let e as S3Error {
                        return (i, e)
                    } catch let e as StoreError {
                        state.logger.error("delete failed", metadata: ["key": .string(obj.key), "error": .string(e.description)])
                        return (i, Self.map(e))
                    } catch {
                        state.logger.error("delete failed", metadata: ["key": .string(obj.key), "error": .string("\(error)")])
                        return (i, S3Error(.internalError, "We encountered an internal error. Please try again."))
                    }
                }
            }
            while let (j, e) = try await group.next() { results[j] = e }
            return results
        }
        var w = XMLWriter()
        w.open("DeleteResult")
        for (obj, error) in zip(delete.objects, outcomes) {
            if let error {
                w.group("Error") { w in
                    w.element("Key", obj.key)
                    w.element("Code", error.code.string)
                    w.element("Message", error.message)
                }
            } else if !delete.quiet {
                w.group("Deleted") { w in w.element("Key", obj.key) }
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
            guard constantTimeEqual(Array(want), got) else { throw S3Error(.badDigest, "The Content-MD5 you specified did not match what we received.") }
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
