import Catalog
import Foundation
import NIOCore
import S3Protocol
import Sealing
import Storage

extension ObjectRecord {
    /// The size of its backend object: the plaintext's, or each sealed segment's sealed size.
    public var storedLength: Int64 { seal.map { $0.segments.reduce(0) { $0 + SealedFormat.sealedLength($1.size) } } ?? size }
}

/// Object bytes whatever the placement's layout: callers deal in plaintext; a sealed placement
/// seals on the way in and opens on the way out.
extension ObjectLayer {
    /// The plaintext of `record`, or of `range` of it.
    public func openPlain(_ record: ObjectRecord, range: ByteRange?, in placement: ResolvedPlacement) async throws -> BlobStream {
        guard let sealer = placement.sealer else {
            return try await placement.store.open(name: record.blob, range: range, ifMatch: record.backendETag)
        }
        return try await SealedReader.open(record, range: range, placement: placement, sealer: sealer, report: integrityAlert(record))
    }

    /// Counts and logs a sealed object that was refused.
    func integrityAlert(_ record: ObjectRecord) -> @Sendable (SealingError) -> Void {
        let (observer, logger) = (observer, logger)
        return { error in
            if case .shredded = error {
                observer.shreddedRead()
                logger.warning("read of a shredded object refused", metadata: ["dataset": .string(record.bucket), "key": .string(record.key)])
                return
            }
            observer.integrityFailure()
            logger.error(
                "integrity alert: sealed object refused",
                metadata: [
                    "dataset": .string(record.bucket), "key": .string(record.key), "blob": .string(record.blob), "error": .string(error.description),
                ])
        }
    }

    /// Writes `length` plaintext bytes of `body` as `name`: as they are, or sealed as one
    /// segment (then nothing about the object is left in clear on the backend: no attributes).
    public func storeObject<Body: AsyncSequence & Sendable>(
        _ placement: ResolvedPlacement, name: String, length: Int64, body: Body,
        attributes: BlobAttributes, sealing keys: ObjectKeys?
    ) async throws -> StoredObject
    where Body.Element == ByteBuffer {
        guard let keys else { return try await placement.store.put(name: name, length: length, body: body, attributes: attributes) }
        let sealer = try SegmentSealer(keys: keys, segment: 0, plainLength: length)
        var stored = try await placement.store.put(
            name: name, length: SealedFormat.sealedLength(length),
            body: SealingBody(source: body, sealer: sealer), attributes: .none)
        stored.md5 = nil  // of the ciphertext; every chunk carries its own tag instead
        return stored
    }

    /// Writes the header object of a sealed record (before its catalog commit, so a committed
    /// sealed object always has one); on failure the payload is discarded.
    public func writeHeader(_ record: ObjectRecord, in placement: ResolvedPlacement) async throws {
        guard let sealer = placement.sealer, let seal = record.seal else { return }
        do {
            try await sealer.writeHeader(for: record, seal: seal, to: placement.store)
        } catch {
            await discard(placement.names(of: record.blob), in: placement)
            throw error
        }
    }

    /// Deletes backend objects no row refers to any more; failures only leave garbage.
    public func discard(_ names: [String], in placement: ResolvedPlacement) async {
        guard !names.isEmpty else { return }
        do { try await placement.store.delete(names: names) } catch {
            logger.warning("could not delete backend objects", metadata: ["count": .stringConvertible(names.count), "error": .string("\(error)")])
        }
    }

    /// Forgets parts replaced, completed or aborted.
    func discardParts(_ parts: [PartRecord], in placement: ResolvedPlacement) async {
        for p in parts {
            do { try await placement.store.discardPart(PartToken(number: p.partNumber, token: p.blob)) } catch {
                logger.warning("could not discard a part", metadata: ["error": .string("\(error)")])
            }
        }
    }
}
