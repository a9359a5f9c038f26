import Catalog
import Storage

extension ObjectLayer {
    /// Blobs no catalog row refers to are what a crash between a blob write and its catalog
    /// commit leaves behind (never acknowledged); removes them, and temporary files. Runs at
    /// start, before any request. A sealed object whose header object exists is kept: `catalog
    /// rebuild` can recover it (a catalog restored from an older backup must not cost the newer
    /// objects). Returns how many blobs went.
    public func collectGarbage(in store: FileSystemStore) async throws -> Int {
        try await store.sweepTemporaries()
        let referenced = try await catalog.referencedBlobs()
        let all = try await store.allBlobs()
        let present = Set(all)
        var removed = 0
        for blob in all where !referenced.contains(blob) {
            let payload = DatasetSealer.payloadName(of: blob)
            if referenced.contains(payload) || present.contains(DatasetSealer.headerName(of: payload)) && present.contains(payload) { continue }
            try await store.delete(name: blob)
            removed += 1
        }
        return removed
    }
}
