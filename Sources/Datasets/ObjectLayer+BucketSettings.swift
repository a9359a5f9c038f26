import Catalog
import S3Protocol

/// Tag sets of objects and datasets, and datasets' lifecycle rules. Tags live in the catalog only (the backend objects, and
/// so the copies a migration makes, are untouched), and so follow a dataset through every
/// migration phase; a catalog rebuilt from backend objects does not recover them.
extension ObjectLayer {
    /// Replaces the tag set of `key`'s current object. A write landing between the read and
    /// the update wins; the new object is then tagged (at most a few rounds).
    public func retag(_ dataset: String, key: String, tags: [ObjectTag]) async throws -> ObjectRecord {
        for _ in 0..<4 {
            let current = try await object(dataset, key: key)
            if let updated = try await catalog.updateTags(bucket: dataset, key: key, version: current.version, tags: tags) {
                return updated
            }
        }
        throw DatasetError(.conflict, dataset: dataset, key: key, "the object kept changing while its tags were replaced")
    }

    /// Sets (nil: removes) the tag set of `dataset`.
    public func setTags(_ dataset: String, _ tags: [ObjectTag]?) async throws {
        _ = try await self.dataset(dataset)
        try await catalog.setBucketTags(dataset, tags)
    }

    /// Sets (nil: removes) the lifecycle rules of `dataset`, which `LifecycleSweeper` applies.
    public func setLifecycle(_ dataset: String, _ rules: LifecycleConfiguration?) async throws {
        _ = try await self.dataset(dataset)
        try await catalog.setBucketLifecycle(dataset, rules)
    }
}
