import Catalog
import Foundation
import NIOCore
import S3Protocol
import Sealing
import Storage

/// `passerelle catalog rebuild`: recreates the catalog rows of a sealed dataset from the
/// backend alone. Every header object of the placement is opened with the dataset's keys; its
/// metadata must name its own payload, and the payload must have the sealed length and a first
/// chunk that authenticates. When a key has several headers (an overwrite whose old object was
/// not yet removed), the newest wins. A row already in the catalog is kept unless older. On a
/// versioned dataset every header is a version: each key's versions are recovered in the order
/// they were written (as new versions of the catalog, with new ids; delete markers, which have
/// no backend object, are not recovered), except payloads the catalog already refers to.
extension SealedDataset {
    public struct RebuildOutcome: Sendable {
        public var recovered = 0
        public var present = 0
        /// Header objects of other datasets sharing the container (the local store).
        public var foreign = 0
        /// Headers or payloads that failed their checks, with the reason.
        public var rejected: [(name: String, reason: String)] = []
    }

    public func rebuildCatalog(progress: @Sendable (Int) -> Void) async throws -> RebuildOutcome {
        var outcome = RebuildOutcome()
        var newest: [String: ObjectRecord] = [:]
        var all: [String: [ObjectRecord]] = [:]
        var marker: String?
        var seen = 0
        repeat {
            let page = try await placement.store.list(prefix: placement.prefix ?? "", marker: marker, limit: 1000)
            marker = page.nextMarker
            for entry in page.objects where entry.name.hasSuffix(".h") {
                seen += 1
                do {
                    guard let record = try await recover(header: entry.name) else {
                        outcome.foreign += 1
                        continue
                    }
                    all[record.key, default: []].append(record)
                    if let other = newest[record.key], other.lastModified >= record.lastModified { continue }
                    newest[record.key] = record
                } catch {
                    outcome.rejected.append((entry.name, "\(error)"))
                }
            }
            progress(seen)
        } while marker != nil
        if try await catalog.bucket(dataset)?.versioning != nil {
            let referenced = try await catalog.referencedBlobs()
            for (_, versions) in all.sorted(by: { $0.key < $1.key }) {
                for record in versions.sorted(by: { $0.lastModified < $1.lastModified }) {
                    guard !referenced.contains(record.blob) else {
                        outcome.present += 1
                        continue
                    }
                    _ = try await catalog.putObject(record) { _ in }
                    outcome.recovered += 1
                }
            }
            return outcome
        }
        for record in newest.values.sorted(by: { $0.key < $1.key }) {
            do {
                _ = try await catalog.putObject(record) { current in
                    if let current, current.lastModified >= record.lastModified { throw Kept() }
                }
                outcome.recovered += 1
            } catch is Kept {
                outcome.present += 1
            }
        }
        return outcome
    }

    private struct Kept: Error {}

    /// The record a header object describes, checked against its payload; nil for a header of
    /// another dataset.
    private func recover(header name: String) async throws -> ObjectRecord? {
        let stream = try await placement.store.open(name: name, range: nil, ifMatch: nil)
        guard stream.length <= 64 << 20 else { throw SealingError.malformed("header object too large") }
        let envelope = try Envelope(parsing: Array(buffer: try await collectBody(stream, length: stream.length)))
        guard envelope.wrapped.kekID == dataset else { return nil }
        var seal = SealRecord(format: envelope.version, nonce: envelope.nonce, key: envelope.wrapped, segments: [])
        let meta = try envelope.open(dek: try sealer.dek(seal))
        seal.segments = meta.segments
        let payload = String(name.dropLast(2))
        guard meta.object == DatasetSealer.objectID(of: payload) else {
            throw SealingError.wrongKey("the header names object \(meta.object), not \(DatasetSealer.objectID(of: payload))")
        }
        guard let stored = try await placement.store.head(name: payload) else { throw StoreError.notFound(payload) }
        let record = ObjectRecord(
            bucket: dataset, key: meta.key, size: meta.size, etag: meta.etag, lastModified: Date(timeIntervalSince1970: meta.lastModified),
            headers: ObjectHeaders(contentType: meta.contentType, standard: meta.headers, user: meta.user),
            checksum: meta.checksumAlgorithm.flatMap(ChecksumAlgorithm.init(rawValue:)).flatMap { alg in
                meta.checksum.map { ChecksumValue(algorithm: alg, base64: $0) }
            },
            checksumType: meta.checksumType, blob: payload, partsCount: meta.partsCount, backendETag: stored.etag,
            seal: seal)
        let layout = PayloadLayout(segments: meta.segments)
        guard layout.plaintextSize == meta.size, stored.size < 0 || stored.size == layout.sealedSize else {
            throw SealingError.truncated
        }
        // The payload's first chunk must open under this header's keys.
        let first = try await SealedReader.open(
            record, range: meta.size > 0 ? ByteRange(start: 0, end: 0) : nil,
            placement: placement, sealer: sealer, report: { _ in })
        for try await _ in first {}
        return record
    }
}
