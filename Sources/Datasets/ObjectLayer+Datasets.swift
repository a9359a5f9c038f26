import Catalog
import Foundation

/// Datasets as clients create and delete them (S3 CreateBucket, DeleteBucket).
extension ObjectLayer {
    public func datasets() async throws -> [BucketRecord] {
        try await catalog.buckets()
    }

    /// Creates a dataset on the default placement for new ones (its keys made first when it is
    /// sealed). The placement must resolve: a dataset is never created where it cannot be served.
    public func createDataset(_ name: String, region: String) async throws {
        let placement = backends.placement(forNewDataset: name)
        _ = try backends.resolve(placement, dataset: name)
        if placement.sealed { try backends.keyring?.ensureKeys(for: name, now: now()) }
        try await catalog.createBucket(BucketRecord(name: name, region: region, created: now(), placement: placement))
    }

    /// Deletes an empty dataset (`bucketNotEmpty` otherwise); its unfinished uploads go with it.
    public func deleteDataset(_ name: String) async throws {
        let placement = try await route(name).primary
        for (upload, parts) in try await catalog.deleteBucket(name) {
            await abandon(upload, parts, in: placement)
        }
    }
}
