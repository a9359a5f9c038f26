import Catalog
import Foundation
import S3Protocol

/// Datasets as clients create and delete them (S3 CreateBucket, DeleteBucket).
extension ObjectLayer {
    public func datasets() async throws -> [BucketRecord] {
        try await catalog.buckets()
    }

    /// Creates a dataset on the default placement for new ones (its keys made first when it is
    /// sealed). The placement must resolve: a dataset is never created where it cannot be served.
    /// With `objectLock`, it is versioned and has Object Lock enabled.
    public func createDataset(_ name: String, region: String, objectLock: Bool = false) async throws {
        let placement = backends.placement(forNewDataset: name)
        _ = try backends.resolve(placement, dataset: name)
        if placement.sealed { try backends.keyring?.ensureKeys(for: name, now: now()) }
        try await catalog.createBucket(
            BucketRecord(
                name: name, region: region, created: now(), placement: placement, versioning: objectLock ? .enabled : nil,
                objectLock: objectLock ? ObjectLockConfiguration() : nil))
    }

    /// Deletes an empty dataset (`bucketNotEmpty` otherwise); its unfinished uploads go with it.
    public func deleteDataset(_ name: String) async throws {
        let placement = try await route(name).primary
        for (upload, parts) in try await catalog.deleteBucket(name) {
            await abandon(upload, parts, in: placement)
        }
        // The projects' view outputs of the dataset go with it.
        let outputs = try await catalog.dropViewOutputs(bucket: name, project: nil)
        if !outputs.isEmpty, let views = try? viewPlacement() { await discard(outputs, in: views) }
    }
}
