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
        versionsFolder(of: key) + VersionID.id(version).description
    }

    /// A fresh name for a copy of one version of `key` kept apart from the object under the
    /// key (a versioned dataset's copies on an in-place migration target).
    func versionCopyName(of key: String) -> String { versionsFolder(of: key) + FileSystemStore.newID() }

    private func versionsFolder(of key: String) -> String {
        (prefix ?? "") + Self.versionsFolder + Hex.encode(Data(SHA256.hash(data: Data(key.utf8)).prefix(16))) + "/"
    }

    /// Whether the backend object `blob` of `key` belongs to that one copy, rather than being
    /// the object under the key, which the next write of the key replaces in place.
    public func owns(_ blob: String, of key: String) -> Bool { !inPlace || blob != name(for: key) }

    /// Whether `record` lives aside, its key's backend object being only its shadow.
    public func isRelocated(_ record: ObjectRecord) -> Bool { inPlace && owns(record.blob, of: record.key) }

    /// Makes the backend object under `key` a copy of `current`, the key's current version
    /// (nil: none, the object goes); nothing when `current` is that object itself.
    func shadow(_ current: ObjectRecord?, key: String) async throws {
        let name = name(for: key)
        guard let current else { return try await store.delete(name: name) }
        if current.blob != name { _ = try await copy(current, to: name) }
    }

    /// S3 CopyObject takes objects up to 5 GiB; larger ones are streamed through the gateway.
    static let largestServerSideCopy: Int64 = 5 << 30

    /// A copy of `record`'s bytes (as stored: an in-place placement does not seal) under
    /// `name`, with its attributes.
    func copy(_ record: ObjectRecord, to name: String) async throws -> StoredObject {
        let attributes = attributes(record.headers)
        if store.capabilities.serverSideCopy, record.size <= Self.largestServerSideCopy {
            return try await store.copy(from: record.blob, to: name, length: record.storedLength, attributes: attributes)
        }
        let body = try await store.open(name: record.blob, range: nil, ifMatch: record.backendETag)
        return try await store.put(name: name, length: record.size, body: body, attributes: attributes)
    }
}

/// A versioned dataset migrating to an in-place target: the target copies are kept apart too,
/// under fresh names (they become the versions' blobs at retirement), and the target's object
/// under each key is kept a copy of the key's current target copy (`updateTargetShadow`), so
/// the target shows the native layout from the first copy on.
extension DatasetRoute {
    public var targetKeepsVersionsApart: Bool { target?.inPlace == true && bucket.versioning != nil }

    /// The target name a new copy of `key` goes to.
    public func targetName(for key: String) -> String? {
        guard let target else { return nil }
        return targetKeepsVersionsApart ? target.versionCopyName(of: key) : target.name(for: key)
    }
}

extension ObjectLayer {
    /// Makes the target's object under `key` a copy of the key's current target copy, or
    /// removes it when the key has no current object; nothing when the current object has no
    /// target copy yet (its replication does it). Called under the key's lock.
    func updateTargetShadow(_ route: DatasetRoute, key: String) async throws {
        guard route.targetKeepsVersionsApart, let target = route.target else { return }
        guard let object = try await catalog.object(bucket: route.name, key: key) else { return try await target.shadow(nil, key: key) }
        guard let replica = try await catalog.replica(bucket: route.name, key: key), replica.version == object.version else { return }
        try await target.shadow(replica.applied(to: object), key: key)
    }

    /// `updateTargetShadow` after a commit; on failure the key is queued, and its replication
    /// makes the shadow.
    public func updateTargetShadowOrQueue(_ route: DatasetRoute, key: String) async {
        guard route.targetKeepsVersionsApart else { return }
        do { try await updateTargetShadow(route, key: key) } catch {
            logger.warning(
                "the target's object under a key could not be updated; queued",
                metadata: ["dataset": .string(route.name), "key": .string(key), "error": .string("\(error)")])
            try? await catalog.enqueue(bucket: route.name, key: key, now: now())
        }
    }

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

}
