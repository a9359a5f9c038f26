import Catalog
import Foundation
import S3Protocol
import Testing

/// Bucket versioning in every catalog (`CatalogContract.swift`): what a write, a delete and a
/// delete of one version do to a key's versions, what reads and listings of versions see, and
/// what is kept from garbage collection, rotation and migration.
@Suite("Catalog conformance: versions")
struct VersionConformanceTests {
    func object(_ key: String, blob: String) -> ObjectRecord {
        ObjectRecord(
            bucket: "d", key: key, size: Int64(blob.count), etag: "\"\(blob)\"", lastModified: Date(), headers: ObjectHeaders(),
            checksum: nil, checksumType: nil, blob: blob, partsCount: nil)
    }

    func dataset(_ kind: CatalogKind, _ state: VersioningState?) async throws -> any Catalog {
        let c = try kind.make()
        try await c.createBucket(BucketRecord(name: "d", region: "us-east-1", created: Date()))
        if let state { try await c.setBucketVersioning("d", state) }
        return c
    }

    func put(_ c: any Catalog, _ key: String, _ blob: String) async throws -> WriteResult {
        try await c.putObject(object(key, blob: blob), mirror: .current) { _ in }
    }

    /// (key, blob or "marker", latest) of every version, in listing order.
    func listing(_ c: any Catalog, from: VersionCursor = VersionCursor(key: []), limit: Int = 100) async throws -> [String] {
        try await c.versions(bucket: "d", from: from, until: nil, limit: limit).map { v in
            "\(v.record.key):\(v.record.deleteMarker ? "marker" : v.record.blob)\(v.isLatest ? "*" : "")"
        }
    }

    @Test("enabled: writes keep every version, a delete adds a marker, deleting the marker restores", arguments: CatalogKind.allCases)
    func enabled(_ kind: CatalogKind) async throws {
        let c = try await dataset(kind, .enabled)
        let w1 = try await put(c, "k", "one")
        let w2 = try await put(c, "k", "two")
        #expect(w1.versioned && w2.versioned && w2.version > w1.version)
        #expect(w2.replaced == nil)
        #expect(try await listing(c) == ["k:two*", "k:one"])
        let d = try await c.deleteObject(bucket: "d", key: "k", mirror: .current)
        #expect(d.blob == nil)
        let marker = try #require(d.marker)
        #expect(marker.deleteMarker && marker.versioned && marker.version > w2.version)
        #expect(try await c.object(bucket: "d", key: "k") == nil)
        #expect(try await listing(c) == ["k:marker*", "k:two", "k:one"])
        #expect(try await c.readState(bucket: "d", key: "k")?.marker?.version == marker.version)
        #expect(try await c.readState(bucket: "d", key: "k", version: .id(w1.version))?.object?.blob == "one")
        #expect(try await c.version(bucket: "d", key: "k", version: .null) == nil)
        // Deleting the marker makes the newest object current again.
        let removed = try await c.deleteVersion(bucket: "d", key: "k", version: marker.versionID)
        #expect(removed.removed?.deleteMarker == true && removed.blob == nil)
        #expect(try await c.object(bucket: "d", key: "k")?.blob == "two")
        // Deleting the current version for good promotes the next one; its blob is released.
        let gone = try await c.deleteVersion(bucket: "d", key: "k", version: .id(w2.version))
        #expect(gone.blob == "two")
        #expect(try await c.object(bucket: "d", key: "k")?.blob == "one")
        #expect(try await c.deleteVersion(bucket: "d", key: "k", version: .id(w2.version)).removed == nil)
        #expect(try await listing(c) == ["k:one*"])
        await #expect(throws: CatalogError.bucketNotEmpty) { _ = try await c.deleteBucket("d") }
        _ = try await c.deleteVersion(bucket: "d", key: "k", version: .id(w1.version))
        _ = try await c.deleteObject(bucket: "d", key: "k", mirror: .current)
        await #expect(throws: CatalogError.bucketNotEmpty) { _ = try await c.deleteBucket("d") }
    }

    @Test("suspended: the null version is replaced, versions with ids stay, a delete writes a null marker", arguments: CatalogKind.allCases)
    func suspended(_ kind: CatalogKind) async throws {
        let c = try await dataset(kind, nil)
        _ = try await put(c, "k", "before")  // the null version of a bucket never versioned
        try await c.setBucketVersioning("d", .enabled)
        let kept = try await put(c, "k", "kept")
        try await c.setBucketVersioning("d", .suspended)
        let n1 = try await put(c, "k", "null1")
        #expect(!n1.versioned && n1.replaced == "before")
        let n2 = try await put(c, "k", "null2")
        #expect(n2.replaced == "null1")
        #expect(try await listing(c) == ["k:null2*", "k:kept"])
        let d = try await c.deleteObject(bucket: "d", key: "k", mirror: .current)
        #expect(d.blob == "null2" && d.marker?.versioned == false)
        #expect(try await listing(c) == ["k:marker*", "k:kept"])
        #expect(try await c.version(bucket: "d", key: "k", version: .id(kept.version))?.blob == "kept")
        #expect(try await c.referencedBlobs().isSuperset(of: ["kept"]))
        #expect(!(try await c.referencedBlobs().contains("null2")))
    }

    @Test("a lifecycle expiry of a versioned object writes a marker only if the version is still current", arguments: CatalogKind.allCases)
    func expiryIfVersion(_ kind: CatalogKind) async throws {
        let c = try await dataset(kind, .enabled)
        let w1 = try await put(c, "k", "one")
        _ = try await put(c, "k", "two")
        #expect(try await c.deleteObject(bucket: "d", key: "k", mirror: .current, ifVersion: w1.version) == DeleteResult())
        #expect(try await listing(c) == ["k:two*", "k:one"])
    }

    @Test("listing of versions: keys in byte order, newest first, resumable inside a key", arguments: CatalogKind.allCases)
    func listings(_ kind: CatalogKind) async throws {
        let c = try await dataset(kind, .enabled)
        for key in ["b", "a", "é"] {
            for i in 0..<3 { _ = try await put(c, key, "\(key)\(i)") }
        }
        let all = ["a", "b", "é"].flatMap { key in ["\(key):\(key)2*", "\(key):\(key)1", "\(key):\(key)0"] }
        #expect(try await listing(c) == all)
        let page = try await c.versions(bucket: "d", from: VersionCursor(key: []), until: nil, limit: 2)
        let resumed = try await listing(c, from: VersionCursor(key: Array("a".utf8), below: page[1].record.version))
        #expect(resumed == Array(all.dropFirst(2)))
        #expect(try await c.versions(bucket: "d", from: VersionCursor(key: []), until: Array("b".utf8), limit: 100).count == 3)
    }

    @Test("tags of a noncurrent version are its own", arguments: CatalogKind.allCases)
    func noncurrentTagsAndSeals(_ kind: CatalogKind) async throws {
        let c = try await dataset(kind, .enabled)
        let w1 = try await put(c, "k", "one")
        _ = try await put(c, "k", "two")
        let tagged = try await c.updateTags(bucket: "d", key: "k", version: w1.version, tags: [ObjectTag("t", "1")])
        #expect(tagged?.blob == "one")
        #expect(try await c.version(bucket: "d", key: "k", version: .id(w1.version))?.headers.tags == [ObjectTag("t", "1")])
        #expect(try await c.object(bucket: "d", key: "k")?.headers.tags == [])
    }

    @Test(
        "while migrating, an archived version takes its target copy along; copies are recorded for live versions only; retirement swaps them in",
        arguments: CatalogKind.allCases)
    func versionCopies(_ kind: CatalogKind) async throws {
        let c = try await dataset(kind, .enabled)
        let old = try await put(c, "k", "old")  // noncurrent before the migration starts
        let cur = try await put(c, "k", "cur")
        let target = Placement(backend: "t", container: "c", prefix: "d/", layout: "sealed")
        let m = try await c.startMigration(
            MigrationRecord(bucket: "d", source: .local, target: target, mode: .journaled, started: Date()),
            transition: PhaseTransition(bucket: "d", from: .legacy, to: .mirroring, who: "t", at: Date(), why: "test"))
        // Versioning does not change while the dataset migrates.
        await #expect(throws: CatalogError.self) { try await c.setBucketVersioning("d", .suspended) }
        func replica(_ version: Int64, _ blob: String) -> ReplicaRecord {
            ReplicaRecord(bucket: "d", key: "k", version: version, blob: blob, backendETag: nil, seal: nil, md5: nil)
        }
        #expect(try await c.uncopiedVersions(bucket: "d", epoch: m.epoch, from: VersionCursor(key: []), limit: 10).map(\.blob) == ["old"])
        #expect(try await c.commitVersionCopy(replica(old.version, "t-old"), epoch: m.epoch))
        #expect(try await !c.commitVersionCopy(replica(old.version, "t-old"), epoch: m.epoch + 1))
        #expect(try await c.commitReplica(replica(cur.version, "t-cur"), size: nil).committed)
        // An overwrite archives "cur": its copy moves with it, the object's copy is the new write's.
        _ = try await c.putObject(object("k", blob: "new"), mirror: MirrorCommit(epoch: m.epoch)) { _ in }
        #expect(try await c.replica(bucket: "d", key: "k") == nil)
        #expect(try await c.versionCopyCounts(bucket: "d") == (versions: 2, copied: 2))
        #expect(try await c.replicaBlobs(bucket: "d") == ["t-old", "t-cur"])
        #expect(try await c.uncopiedVersions(bucket: "d", epoch: m.epoch, from: VersionCursor(key: []), limit: 10).isEmpty)
        // Deleting the current version for good makes "cur" current again, with its copy.
        let done = try await c.deleteVersion(bucket: "d", key: "k", version: try #require(try await c.object(bucket: "d", key: "k")).versionID)
        #expect(done.blob == "new")
        #expect(try await c.replica(bucket: "d", key: "k")?.blob == "t-cur")
        // Deleting a noncurrent version for good hands back its copy's blob.
        #expect(try await c.deleteVersion(bucket: "d", key: "k", version: .id(old.version)).replica == "t-old")
        #expect(try await c.versionCopyCounts(bucket: "d") == (versions: 0, copied: 0))
        // Overwritten again, "cur" keeps its copy as a noncurrent version once more.
        _ = try await put(c, "k", "newest")
        #expect(try await c.versionCopyCounts(bucket: "d") == (versions: 1, copied: 1))
    }

    @Test("in place: a relocated current object is kept as a version; one overwritten where it lay is not", arguments: CatalogKind.allCases)
    func inPlace(_ kind: CatalogKind) async throws {
        let c = try await dataset(kind, .enabled)
        let w1 = try await put(c, "k", "prefix/k")
        // Copied aside first, the version keeps its own blob.
        #expect(try await c.relocate(bucket: "d", key: "k", version: w1.version, blob: "aside-1", backendETag: "\"e1\""))
        #expect(try await c.object(bucket: "d", key: "k")?.backendETag == "\"e1\"")
        #expect(try await !c.relocate(bucket: "d", key: "k", version: w1.version + 1, blob: "x", backendETag: nil))
        let w2 = try await put(c, "k", "prefix/k")
        #expect(w2.replaced == nil)
        #expect(try await listing(c) == ["k:prefix/k*", "k:aside-1"])
        // Overwritten in place without a copy (versioning turned on meanwhile): its bytes are
        // gone, so no version refers to them; nothing is released either (the blob is the new one's).
        let w3 = try await put(c, "k", "prefix/k")
        #expect(w3.replaced == nil)
        #expect(try await listing(c) == ["k:prefix/k*", "k:aside-1"])
        #expect(try await c.version(bucket: "d", key: "k", version: .id(w2.version)) == nil)
    }
}
