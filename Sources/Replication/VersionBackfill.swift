import Catalog
import Datasets
import Foundation

/// Copies to a migration target every noncurrent version that has no copy of this migration
/// yet: the versions that existed when mirroring started, and those that became noncurrent
/// before their copy was made (a version whose copy was made takes it along). Run at the end of
/// the backfill and again before retirement, which needs a copy of every version. Resumable by
/// construction: what remains is exactly the versions without a copy.
public struct VersionBackfill: Sendable {
    let objects: ObjectLayer
    let bucket: String
    static let batch = 64

    public init(objects: ObjectLayer, bucket: String) {
        self.objects = objects
        self.bucket = bucket
    }

    /// Returns how many versions it copied; throws the first failure after the others ran.
    @discardableResult
    public func run(limiter: (any BandwidthLimiting)? = nil, parallelism: Int = 8) async throws -> Int {
        let route = try await objects.route(bucket)
        guard route.mirrors, let epoch = route.epoch else { return 0 }
        var cursor = VersionCursor(key: [])
        var copied = 0
        var failure: (any Error)?
        let slots = CopySlots(parallelism)
        while true {
            try Task.checkCancellation()
            let page = try await objects.catalog.uncopiedVersions(bucket: bucket, epoch: epoch, from: cursor, limit: Self.batch)
            guard let last = page.last else { break }
            let results = await withTaskGroup(of: Result<Bool, any Error>.self) { group in
                for version in page {
                    group.addTask {
                        do { return .success(try await objects.copyVersion(route, version, limiter: limiter, slots: slots)) } catch {
                            return .failure(error)
                        }
                    }
                }
                var out: [Result<Bool, any Error>] = []
                for await r in group { out.append(r) }
                return out
            }
            for r in results {
                switch r {
                case .success(let done): copied += done ? 1 : 0
                case .failure(let e): failure = failure ?? e
                }
            }
            cursor = VersionCursor(key: Array(last.key.utf8), below: last.version)
            if page.count < Self.batch { break }
        }
        if let failure { throw failure }
        return copied
    }
}
