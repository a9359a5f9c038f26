import Catalog
import Foundation
import Sealing

/// The key versions of one sealed dataset (or of a migration target's own key id): starting a
/// rotation, and shredding a version. The re-wrapping itself is `SealedDataset.rotate`.
public struct DatasetKeys: Sendable {
    public let catalog: any Catalog
    public let keyring: KeyringFile
    public let dataset: String

    public init(catalog: any Catalog, keyring: KeyringFile, dataset: String) {
        self.catalog = catalog
        self.keyring = keyring
        self.dataset = dataset
    }

    public enum RotationStart: Sendable, Equatable {
        /// A new current version; every object is still to be re-wrapped under it.
        case newVersion(UInt32)
        /// An earlier rotation to this version was interrupted: it is finished first.
        case resuming(UInt32)
        /// Nothing to re-wrap and no new version asked for.
        case nothingToDo
    }

    /// Makes a new key version, unless objects are still wrapped under older ones (an
    /// interrupted rotation, resumed instead) or `resume` says only to finish one.
    public func startRotation(resume: Bool, remaining: [UInt32: Int], now: Date = Date()) throws -> RotationStart {
        if remaining.isEmpty {
            guard !resume else { return .nothingToDo }
            return .newVersion(try keyring.update { try $0.rotate(dataset, now: now) })
        }
        return .resuming(try keyring.read().current(dataset).version)
    }

    /// A version that still protects objects, refused unless `allowInUse`.
    public struct InUse: Error, Sendable {
        public let objects: Int
    }

    /// Destroys key `version` (crypto-shredding): the objects still under it become
    /// unreadable; returns how many.
    public func shred(version: UInt32, allowInUse: Bool, includingCurrent: Bool) async throws -> Int {
        let usage = try await catalog.keyUsage(bucket: dataset)[version] ?? 0
        if usage > 0 && !allowInUse { throw InUse(objects: usage) }
        try keyring.update { try $0.shred(dataset, version: version, includingCurrent: includingCurrent) }
        return usage
    }
}
