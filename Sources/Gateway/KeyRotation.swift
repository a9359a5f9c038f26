import Catalog
import Foundation
import NIOCore
import Sealing
import Storage

/// `passerelle keys rotate`: re-wraps every DEK of a sealed dataset under its current KEK
/// version. Payloads are never rewritten: per object, the header object is rewritten with the
/// new wrapped key, then the catalog row (only if it still describes that payload; a newer
/// write already uses the current version). Resumable by construction: what remains is exactly
/// the objects still wrapped under an older version, so a rerun after a crash continues.
public struct KeyRotation: Sendable {
    public let catalog: any Catalog
    public let placement: ResolvedPlacement
    public let dataset: String

    public init(catalog: any Catalog, placement: ResolvedPlacement, dataset: String) {
        self.catalog = catalog
        self.placement = placement
        self.dataset = dataset
    }

    public struct Outcome: Sendable {
        public var rewrapped = 0
        /// Objects whose old key version is shredded: they cannot be re-wrapped (unreadable).
        public var unreadable = 0
    }

    var sealer: DatasetSealer {
        get throws {
            guard let s = placement.sealer else { throw KeyringError.noKeys(dataset) }
            return s
        }
    }

    /// Objects and uploads left under versions older than the current one, by version.
    public func remaining() async throws -> [UInt32: Int] {
        let current = try sealer.keyring.read().current(dataset).version
        return try await catalog.keyUsage(bucket: dataset).filter { $0.key < current }
    }

    public func run(batch: Int = 500, parallelism: Int = 16, progress: @Sendable (Int, Int) -> Void) async throws -> Outcome {
        let sealer = try self.sealer
        let ring = try sealer.keyring.read()
        let current = try ring.current(dataset)
        let shredded = Set(ring.datasets[dataset]?.shredded ?? [])
        let total = try await remaining().filter { !shredded.contains($0.key) }.values.reduce(0, +)
        var outcome = Outcome()
        for upload in try await catalog.uploads(bucket: dataset, wrappedBelow: current.version) {
            guard let seal = upload.seal, !shredded.contains(seal.key.version) else { continue }
            try await catalog.updateSeal(uploadID: upload.uploadID, seal: try rewrapped(seal, to: current))
            outcome.rewrapped += 1
        }
        // Rows under a shredded version stay below `current` forever: page past them.
        var skip = Set<String>()
        while true {
            let page = try await catalog.objects(bucket: dataset, wrappedBelow: current.version, limit: batch + skip.count)
                .filter { !skip.contains($0.key) }
            guard !page.isEmpty else { break }
            let updates = try await withThrowingTaskGroup(of: (String, String, SealRecord)?.self) { group in
                var out: [(key: String, blob: String, seal: SealRecord)] = []
                for (i, record) in page.enumerated() {
                    if i >= parallelism, let r = try await group.next(), let r { out.append(r) }
                    group.addTask {
                        guard let seal = record.seal, !shredded.contains(seal.key.version) else { return nil }
                        var updated = record
                        updated.seal = try rewrapped(seal, to: current)
                        let bytes = try sealer.header(for: updated, seal: updated.seal ?? seal)
                        _ = try await placement.store.put(name: DatasetSealer.headerName(of: record.blob), length: Int64(bytes.count),
                                                          body: BufferSequence(ByteBuffer(bytes: bytes)), attributes: .none)
                        return (record.key, record.blob, updated.seal ?? seal)
                    }
                }
                while let r = try await group.next() { if let r { out.append(r) } }
                return out
            }
            for record in page where record.seal.map({ shredded.contains($0.key.version) }) ?? true {
                skip.insert(record.key)
                outcome.unreadable += 1
            }
            outcome.rewrapped += try await catalog.updateSeals(bucket: dataset, updates)
            progress(outcome.rewrapped, total)
            // Rows overwritten meanwhile were not updated: they now use the current version and
            // leave the query; nothing else remains to skip.
        }
        return outcome
    }

    func rewrapped(_ seal: SealRecord, to kek: KEK) throws -> SealRecord {
        let dek = try sealer.dek(seal)
        var s = seal
        s.key = try kek.wrap(dek, objectNonce: seal.nonce)
        return s
    }
}
