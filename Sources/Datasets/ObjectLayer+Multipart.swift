import Catalog
import Foundation
import NIOCore
import S3Protocol
import Sealing
import Storage

/// Multipart uploads: a client's parts map onto the backend's own multipart upload (or
/// blocks), sealed part by part as segments on a sealed placement.
extension ObjectLayer {
    public static let minPartSize: Int64 = 5 * 1024 * 1024

    /// Starts an upload of `key` on the dataset's primary placement.
    public func createUpload(
        _ route: DatasetRoute, key: String, headers: ObjectHeaders, checksumAlgorithm: ChecksumAlgorithm?,
        checksumType: String?
    ) async throws -> UploadRecord {
        let placement = route.primary
        try requireWritable(placement, key: key)
        let name = placement.name(for: key)
        let sealing = try placement.sealer?.newObject()
        let backendUpload = try await placement.store.startParts(name: name, attributes: placement.attributes(headers))
        let upload = UploadRecord(
            uploadID: FileSystemStore.newID() + FileSystemStore.newID(), bucket: route.name, key: key, initiated: now(),
            headers: headers, checksumAlgorithm: checksumAlgorithm, checksumType: checksumType,
            backendUpload: backendUpload, blob: name, seal: sealing?.1)
        do {
            try await catalog.createUpload(upload)
        } catch {
            await abandon(upload, [], in: placement)
            throw error
        }
        return upload
    }

    /// The upload `id` of `key` in `dataset`: `noSuchDataset`, else `noSuchUpload`.
    public func upload(_ id: String?, dataset: String, key: String) async throws -> UploadRecord {
        guard let id, let upload = try await catalog.upload(id), upload.bucket == dataset, upload.key == key else {
            _ = try await self.dataset(dataset)
            throw DatasetError(.noSuchUpload, dataset: dataset, key: key)
        }
        return upload
    }

    /// The backend object a multipart upload writes.
    static func target(_ upload: UploadRecord) throws -> String {
        guard let blob = upload.blob else {
            throw DatasetError(.uploadFromOlderVersion, dataset: upload.bucket, key: upload.key, "abort it and start again")
        }
        return blob
    }

    /// Streams a part, verified, to the backend and records it; a part it replaces is released.
    public func storePart<Bytes>(_ upload: UploadRecord, _ number: Int, body: IncomingBody<Bytes>) async throws -> PartRecord {
        // Uploads of one part number are serialised: on an S3 or Azure backend the part number
        // names the backend's part, so the upload recorded last must be the one stored last
        // (S3: the last upload of a part wins), whichever client finished first.
        try await locks.with("upload\u{0}\(upload.uploadID)\u{0}\(number)") { try await storeUnlockedPart(upload, number, body: body) }
    }

    func storeUnlockedPart<Bytes>(_ upload: UploadRecord, _ number: Int, body: IncomingBody<Bytes>) async throws -> PartRecord {
        let placement = try await route(upload.bucket).primary
        let token: PartToken
        if let seal = upload.seal {
            // Each part is sealed as the segment numbered like the part (docs/sealed-format.md).
            guard let sealer = placement.sealer else { throw SealingError.malformed("a sealed upload on a plaintext placement") }
            let segment = try SegmentSealer(keys: try sealer.keys(seal), segment: UInt32(number), plainLength: body.length)
            var t = try await placement.store.putPart(
                name: try Self.target(upload), upload: upload.backendUpload ?? "", number: number,
                length: SealedFormat.sealedLength(body.length),
                body: SealingBody(source: body.bytes, sealer: segment))
            t.md5 = nil
            token = t
        } else {
            token = try await placement.store.putPart(
                name: try Self.target(upload), upload: upload.backendUpload ?? "", number: number,
                length: body.length, body: body.bytes)
        }
        let digests = try body.digests()
        if let md5 = token.md5, md5 != digests.md5 {
            throw StoreError.io("the backend stored bytes whose MD5 differs from what the client sent")
        }
        let part = PartRecord(
            uploadID: upload.uploadID, partNumber: number, size: digests.length, etag: ETag.quoted(md5: digests.md5),
            lastModified: now(), checksum: digests.checksum, blob: token.token)
        let replaced: PartRecord?
        do {
            replaced = try await catalog.putPart(part)
        } catch {
            await discardParts([part], in: placement)
            throw error
        }
        if let replaced, replaced.blob != part.blob { await discardParts([replaced], in: placement) }
        return part
    }

    /// Makes the upload's `parts` (checked by the caller: order, ETags, sizes) the object `key`.
    public func completeUpload(
        _ upload: UploadRecord, route: DatasetRoute, parts chosen: [PartRecord],
        precondition: WritePrecondition?
    ) async throws -> ObjectRecord {
        let md5s = chosen.compactMap { ETag.md5(of: $0.etag) }
        guard md5s.count == chosen.count else { throw CatalogError.corrupt("a stored part of upload \(upload.uploadID) has a malformed ETag") }
        let placement = route.primary
        let name = try Self.target(upload)
        let record = try await exclusive(route, key: upload.key, precondition: precondition) {
            try await keepAside(route, key: upload.key)
            let stored = try await placement.store.finishParts(
                name: name, upload: upload.backendUpload ?? "",
                parts: chosen.map { PartToken(number: $0.partNumber, token: $0.blob) },
                attributes: placement.attributes(upload.headers))
            var seal = upload.seal
            seal?.segments = chosen.map { Segment(number: UInt32($0.partNumber), size: $0.size) }
            var record = ObjectRecord(
                bucket: route.name, key: upload.key, size: chosen.reduce(0) { $0 + $1.size }, etag: ETag.multipart(partMD5s: md5s),
                lastModified: now(), headers: upload.headers, checksum: nil, checksumType: nil,
                blob: name, partsCount: chosen.count, backendETag: stored.etag, seal: seal)
            record.partSizes = chosen.map(\.size)
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
                done = try await catalog.completeUpload(upload.uploadID, record: record, mirror: route.pending) { current in
                    try precondition?(current)
                }
            } catch {
                if !placement.inPlace { await discard(placement.names(of: name), in: placement) }
                throw error
            }
            await discardParts(done.parts, in: placement)
            if let replaced = done.result.replaced { await discard(placement.names(of: replaced), in: placement) }
            await discardReplaced(done.result.replacedReplica, key: upload.key, route: route)
            record.version = done.result.version
            record.versioned = done.result.versioned
            return record
        }
        await replicateNow(route, key: upload.key)
        return record
    }

    /// Forgets the upload and what the backend holds of it.
    public func abortUpload(_ upload: UploadRecord) async throws {
        let placement = try await route(upload.bucket).primary
        await abandon(upload, try await catalog.abortUpload(upload.uploadID), in: placement)
    }

    /// Releases what the backend holds for an upload the catalog no longer has.
    func abandon(_ upload: UploadRecord, _ parts: [PartRecord], in placement: ResolvedPlacement) async {
        guard let name = upload.blob else { return await discardParts(parts, in: placement) }
        do {
            try await placement.store.abortParts(
                name: name, upload: upload.backendUpload ?? "",
                parts: parts.map { PartToken(number: $0.partNumber, token: $0.blob) })
        } catch {
            logger.warning("could not abort a backend upload", metadata: ["upload": .string(upload.uploadID), "error": .string("\(error)")])
        }
    }
}
