import Catalog
import S3Protocol

/// Tag sets of objects and datasets, and datasets' lifecycle rules. Tags live in the catalog only (the backend objects, and
/// so the copies a migration makes, are untouched), and so follow a dataset through every
/// migration phase; a catalog rebuilt from backend objects does not recover them.
extension ObjectLayer {
    /// Replaces the tag set of `key`'s current object (or of the version named). A write
    /// landing between the read and the update wins; the new object is then tagged (at most a
    /// few rounds).
    public func retag(_ dataset: String, key: String, version: VersionID? = nil, tags: [ObjectTag]) async throws -> ObjectRecord {
        for _ in 0..<4 {
            let current = try await object(dataset, key: key, version: version)
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

    /// Turns versioning on (`Enabled`) or suspends it, on every placement (an in-place one
    /// keeps its versions aside: `keepAside`). Not while the dataset migrates (refused by the
    /// catalog: a migration's phases are planned for the versioning state it started with).
    public func setVersioning(_ dataset: String, _ state: VersioningState) async throws {
        if try await self.dataset(dataset).objectLock != nil, state != .enabled {
            throw DatasetError(
                .versioningUnavailable, dataset: dataset,
                "An Object Lock configuration is present on this bucket, so the versioning state cannot be changed.")
        }
        do {
            try await catalog.setBucketVersioning(dataset, state)
        } catch CatalogError.phase(let why) {
            throw DatasetError(.versioningUnavailable, dataset: dataset, why)
        }
    }

    /// Sets the default retention of a dataset created with Object Lock (`CreateBucket` with
    /// `x-amz-bucket-object-lock-enabled`); Object Lock is not turned on for an existing one.
    public func setObjectLock(_ dataset: String, _ configuration: ObjectLockConfiguration) async throws {
        guard try await self.dataset(dataset).objectLock != nil else {
            throw DatasetError(
                .versioningUnavailable, dataset: dataset,
                "Object Lock configuration cannot be enabled on existing buckets: create the bucket with Object Lock enabled.")
        }
        try await catalog.setBucketObjectLock(dataset, configuration)
    }

    /// Changes the Object Lock state of `key`'s current version (or the one named): `change`
    /// sees the version in the catalog's transaction and throws to refuse.
    public func relock(
        _ dataset: String, key: String, version: VersionID?, _ change: @escaping @Sendable (ObjectRecord) throws -> ObjectLockState
    ) async throws -> ObjectRecord {
        let record = try await object(dataset, key: key, version: version)
        guard let updated = try await catalog.updateLock(bucket: dataset, key: key, version: record.version, change) else {
            throw DatasetError.noSuchKey(dataset, key)
        }
        return updated
    }

    /// Sets (nil: removes) the lifecycle rules of `dataset`, which `LifecycleSweeper` applies.
    public func setLifecycle(_ dataset: String, _ rules: LifecycleConfiguration?) async throws {
        _ = try await self.dataset(dataset)
        try await catalog.setBucketLifecycle(dataset, rules)
    }
}
