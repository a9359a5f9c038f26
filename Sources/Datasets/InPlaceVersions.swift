import Catalog
import Crypto
import Foundation
import S3Protocol
import Storage

/// Versions on an in-place placement (a `native` layout on S3 or Azure, where the object of a
/// key is the backend object `prefix + key`, readable by any tool). The current version stays
/// there; before a write or delete replaces it, a version the catalog keeps is copied aside,
/// by the backend's own copy, to a name of its own under `prefix + .passerelle-versions/`,
/// and the catalog's row is pointed at that copy ("relocated"). The backend object under the
/// key is then only the current version's shadow: the write replaces it and the catalog keeps
/// the relocated row as the noncurrent version. When a version becomes current again (its
/// successor deleted by id), it is copied back under the key, so the native layout always
/// shows the current version of every key. A crash in between leaves the key's intent, and
/// `Reconciler` copies a relocated current version back under the key: an unacknowledged
/// write is undone, the version it would have replaced kept.
extension ResolvedPlacement {
    /// Where version copies live, under the placement's prefix; client keys there are refused.
    public static let versionsFolder = ".passerelle-versions/"

    /// Whether a client key names the backend objects this placement keeps versions under.
    public func reserves(key: String) -> Bool { inPlace && key.hasPrefix(Self.versionsFolder) }

    /// The backend name of the copy of `key`'s version `version` (catalog version numbers
    /// never repeat for a key): a fixed length whatever the key, the same on a retry.
    func versionName(of key: String, version: Int64) -> String {
        let digest = Hex.encode(Data(SHA256.hash(data: Data(key.utf8)).prefix(16)))
        return (prefix ?? "") + Self.versionsFolder + digest + "/" + VersionID.id(version).description
    }

    /// Whether `record` lives aside, its key's backend object being only its shadow.
    public func isRelocated(_ record: ObjectRecord) -> Bool { inPlace && record.blob != name(for: record.key) }

    /// S3 CopyObject takes objects up to 5 GiB; larger ones are streamed through the gateway.
    static let largestServerSideCopy: Int64 = 5 << 30

    /// A copy of `record`'s bytes (as stored: an in-place placement does not seal) under
    /// `name`, with its attributes.
    func copy(_ record: ObjectRecord, to name: String) async throws -> StoredObject {
        let attributes = attributes(record.headers)
        if store.capabilities.serverSideCopy, record.size <= Self.largestServerSideCopy {
            return try await store.copy(from: record.blob, to: name, attributes: attributes)
        }
        let body = try await store.open(name: record.blob, range: nil, ifMatch: record.backendETag)
        return try await store.put(name: name, length: record.size, body: body, attributes: attributes)
    }
}

extension ObjectLayer {
    /// Refuses a write of a key that would land on a version copy.
    func requireWritable(_ placement: ResolvedPlacement, key: String) throws {
        guard placement.reserves(key: key) else { return }
        throw DatasetError(
            .reservedKey, dataset: nil, key: key,
            "Keys under \(ResolvedPlacement.versionsFolder) are reserved on this dataset for the object versions it keeps.")
    }

    /// Before a write or delete replaces the backend object of `key` on an in-place placement:
    /// when the catalog will keep the current object as a noncurrent version (versioning
    /// enabled, or the object has a version id of its own) and it still lives under its key,
    /// it is copied aside and its row relocated. Called under the key's lock.
    func keepAside(_ route: DatasetRoute, key: String) async throws {
        let placement = route.primary
        guard placement.inPlace, let state = route.bucket.versioning,
            let current = try await catalog.object(bucket: route.name, key: key),
            state == .enabled || current.versioned, !placement.isRelocated(current)
        else { return }
        let name = placement.versionName(of: key, version: current.version)
        let stored = try await placement.copy(current, to: name)
        guard try await catalog.relocate(bucket: route.name, key: key, version: current.version, blob: name, backendETag: stored.etag) else {
            await discard([name], in: placement)
            throw DatasetError(.conflict, dataset: route.name, key: key, "the object changed while its version was kept aside")
        }
    }

    /// After the current version of `key` changed other than by a write under its key (a
    /// version deleted by id): the backend object under the key becomes a copy of the
    /// current version, or goes when there is none. Called under the key's lock.
    func restoreShadow(_ placement: ResolvedPlacement, bucket: String, key: String) async throws {
        let name = placement.name(for: key)
        guard let current = try await catalog.object(bucket: bucket, key: key) else {
            try await placement.store.delete(name: name)
            return
        }
        if placement.isRelocated(current) { _ = try await placement.copy(current, to: name) }
    }

}
