import Catalog
import Foundation
import Sealing
import Storage

/// `passerelle keys rotate`: re-wraps every DEK of a sealed dataset under its current KEK
/// version. Payloads are never rewritten: per object, the header object is rewritten with the
/// new wrapped key, then the catalog row (only if it still describes that payload; a newer
/// write already uses the current version). Resumable by construction: what remains is exactly
/// the objects still wrapped under an older version, so a rerun after a crash continues.
extension SealedDataset {
    public struct RotationOutcome: Sendable {
        public var rewrapped = 0
        /// Objects whose old key version is shredded: they cannot be re-wrapped (unreadable).
        public var unreadable = 0
    }

    /// Objects and uploads that a rotation still has to re-wrap (under a version older than
    /// the current one and not shredded), by version.
    public func remaining() async throws -> [UInt32: Int] {
        let ring = try sealer.keyring.read()
        let current = try ring.current(dataset).version
        let shredded = Set(ring.datasets[dataset]?.shredded ?? [])
        return try await catalog.keyUsage(bucket: dataset).filter { $0.key < current && !shredded.contains($0.key) }
    }

    public func rotate(batch: Int = 500, parallelism: Int = 16, progress: @Sendable (Int, Int) -> Void) async throws -> RotationOutcome {
        let ring = try sealer.keyring.read()
        let current = try ring.current(dataset)
        let shredded = Set(ring.datasets[dataset]?.shredded ?? [])
        let total = try await remaining().values.reduce(0, +)
        var outcome = RotationOutcome()
        for upload in try await catalog.uploads(bucket: dataset, wrappedBelow: current.version) {
            guard let seal = upload.seal, !shredded.contains(seal.key.version) else { continue }
            try await catalog.updateSeal(uploadID: upload.uploadID, seal: try rewrapped(seal, to: current))
            outcome.rewrapped += 1
        }
        // Rows under a shredded version stay below `current` forever: page past them (by blob:
        // a key's noncurrent versions are rows of their own).
        var skip = Set<String>()
        while true {
            let page = try await catalog.objects(bucket: dataset, wrappedBelow: current.version, limit: batch + skip.count)
                .filter { !skip.contains($0.blob) }
            guard !page.isEmpty else { break }
            var live: [(record: ObjectRecord, seal: SealRecord)] = []
            for record in page {
                if let seal = record.seal, !shredded.contains(seal.key.version) {
                    live.append((record, seal))
                } else {
                    skip.insert(record.blob)
                    outcome.unreadable += 1
                }
            }
            let updates = try await withThrowingTaskGroup(of: (key: String, blob: String, seal: SealRecord).self) { group in
                var out: [(key: String, blob: String, seal: SealRecord)] = []
                for (i, (record, seal)) in live.enumerated() {
                    if i >= parallelism, let r = try await group.next() { out.append(r) }
                    group.addTask {
                        let new = try rewrapped(seal, to: current)
                        try await sealer.writeHeader(for: record, seal: new, to: placement.store)
                        return (record.key, record.blob, new)
                    }
                }
                while let r = try await group.next() { out.append(r) }
                return out
            }
            // Rows overwritten meanwhile are not updated: they already use the current version.
            outcome.rewrapped += try await catalog.updateSeals(bucket: dataset, updates)
            progress(outcome.rewrapped, total)
        }
        return outcome
    }

    private func rewrapped(_ seal: SealRecord, to kek: KEK) throws -> SealRecord {
        let dek = try sealer.dek(seal)
        var s = seal
        s.key = try kek.wrap(dek, objectNonce: seal.nonce)
        return s
    }
}
