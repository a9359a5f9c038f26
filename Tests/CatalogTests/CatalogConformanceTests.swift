import Catalog
import Foundation
import S3Protocol
import TestSupport
import Testing

/// The implementations the conformance suite runs against: every behaviour below must hold
/// for each. A catalog on PostgreSQL joins by adding a case here.
enum CatalogKind: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case sqlite

    var testDescription: String { rawValue }

    /// A fresh, empty catalog.
    func make() throws -> any Catalog {
        switch self {
        case .sqlite: try SQLiteCatalog(path: try TemporaryDirectory.make() + "/conformance.sqlite")
        }
    }
}

/// What the object layer, the replication workers and the commands rely on from any catalog
/// (`CatalogContract.swift`), run against every implementation.
@Suite("Catalog conformance")
struct CatalogConformanceTests {
    let source = Placement(backend: "src", container: "c", prefix: "d/")
    let target = Placement(backend: "tgt", container: "c", prefix: "d/", layout: "sealed")

    func object(_ key: String, blob: String, bucket: String = "d") -> ObjectRecord {
        ObjectRecord(
            bucket: bucket, key: key, size: 3, etag: "\"e\"", lastModified: Date(), headers: ObjectHeaders(user: ["k": "v"]),
            checksum: nil, checksumType: nil, blob: blob, partsCount: nil)
    }

    func dataset(_ kind: CatalogKind, mirroring: Bool = false) async throws -> (any Catalog, MigrationRecord?) {
        let c = try kind.make()
        try await c.createBucket(BucketRecord(name: "d", region: "us-east-1", created: Date(), placement: source))
        guard mirroring else { return (c, nil) }
        let m = try await c.startMigration(
            MigrationRecord(bucket: "d", source: source, target: target, mode: .journaled, started: Date()),
            transition: PhaseTransition(bucket: "d", from: .legacy, to: .mirroring, who: "t", at: Date(), why: "test"))
        return (c, m)
    }

    @Test("keys list in byte order of their UTF-8; a bucket name is taken once", arguments: CatalogKind.allCases)
    func objectsInByteOrder(_ kind: CatalogKind) async throws {
        let (c, _) = try await dataset(kind)
        for k in ["é", "Z", "a/b", "a", "a\u{7f}"] { _ = try await c.putObject(object(k, blob: "b-" + k)) { _ in } }
        #expect(try await c.objects(bucket: "d", from: [], until: nil, limit: 10).map(\.key) == ["Z", "a", "a/b", "a\u{7f}", "é"])
        #expect(try await c.objects(bucket: "d", from: Array("a".utf8), until: Array("b".utf8), limit: 10).map(\.key) == ["a", "a/b", "a\u{7f}"])
        let usage = try await c.usage(bucket: "d")
        #expect(usage.objects == 5 && usage.bytes == 15)
        await #expect(throws: CatalogError.bucketExists) { try await c.createBucket(BucketRecord(name: "d", region: "x", created: Date())) }
    }

    @Test("a precondition sees the current row inside the write; a refused write changes nothing", arguments: CatalogKind.allCases)
    func conditionalWrites(_ kind: CatalogKind) async throws {
        let (c, _) = try await dataset(kind)
        _ = try await c.putObject(object("k", blob: "one")) { current in #expect(current == nil) }
        await #expect(throws: S3Error.self) {
            _ = try await c.putObject(object("k", blob: "two")) { current in
                try Preconditions(ifNoneMatch: "*").evaluateWrite(currentETag: current?.etag)
            }
        }
        #expect(try await c.object(bucket: "d", key: "k")?.blob == "one")
        #expect(try await c.putObject(object("k", blob: "three")) { _ in } == "one")
    }

    @Test("versions grow for a key across its life, deleted and written again included", arguments: CatalogKind.allCases)
    func versionsPerKey(_ kind: CatalogKind) async throws {
        let (c, m) = try await dataset(kind, mirroring: true)
        let mirror = MirrorCommit(epoch: m?.epoch)
        let v1 = try await c.putObject(object("k", blob: "a"), mirror: mirror) { _ in }.version
        let v2 = try await c.putObject(object("k", blob: "b"), mirror: mirror) { _ in }.version
        _ = try await c.deleteObject(bucket: "d", key: "k", mirror: mirror)
        let deleted = try #require(try await c.journal(bucket: "d", key: "k")).version
        let v3 = try await c.putObject(object("k", blob: "c"), mirror: mirror) { _ in }.version
        #expect(v1 < v2 && v2 < deleted && deleted < v3)
        // Another key's writes do not move this one's (no shared counter to contend on).
        let other = try await c.putObject(object("other", blob: "o"), mirror: mirror) { _ in }.version
        #expect(try await c.object(bucket: "d", key: "k")?.version == v3 && other > 0)
    }

    @Test("tags: replaced on the version read, refused once a write lands in between; dataset tags set and removed", arguments: CatalogKind.allCases)
    func tags(_ kind: CatalogKind) async throws {
        let (c, m) = try await dataset(kind, mirroring: true)
        let mirror = MirrorCommit(epoch: m?.epoch)
        let v1 = try await c.putObject(object("k", blob: "a"), mirror: mirror) { _ in }.version
        let journaled = try await c.journal(bucket: "d", key: "k")
        let tags = [ObjectTag("class", "pseudonymised"), ObjectTag("owner", "team a")]
        let tagged = try #require(try await c.updateTags(bucket: "d", key: "k", version: v1, tags: tags))
        #expect(tagged.headers.tags == tags && tagged.version == v1 && tagged.blob == "a")
        #expect(try await c.object(bucket: "d", key: "k")?.headers.tags == tags)
        // No new version and nothing journaled: the bytes did not change.
        #expect(try await c.journal(bucket: "d", key: "k") == journaled)
        let v2 = try await c.putObject(object("k", blob: "b"), mirror: mirror) { _ in }.version
        #expect(try await c.updateTags(bucket: "d", key: "k", version: v1, tags: []) == nil)
        #expect(try await c.object(bucket: "d", key: "k")?.version == v2)
        #expect(try await c.updateTags(bucket: "d", key: "missing", version: 1, tags: tags) == nil)

        #expect(try await c.bucket("d")?.tags == nil)
        try await c.setBucketTags("d", tags)
        #expect(try await c.bucket("d")?.tags == tags)
        try await c.setBucketTags("d", [])
        #expect(try await c.bucket("d")?.tags == [])
        try await c.setBucketTags("d", nil)
        #expect(try await c.bucket("d")?.tags == nil)
        await #expect(throws: CatalogError.noSuchBucket) { try await c.setBucketTags("nope", tags) }

        let rules = LifecycleConfiguration(rules: [
            LifecycleRule(
                id: "r", enabled: true, filter: LifecycleFilter(prefix: "tmp/"), filterElement: true,
                expiration: .init(days: 1, date: nil, expiredObjectDeleteMarker: nil), noncurrentExpiration: nil, abortIncompleteUploadDays: 2)
        ])
        try await c.setBucketLifecycle("d", rules)
        let stored = try await c.bucket("d")
        #expect(stored?.lifecycle == rules && stored?.tags == nil)
        try await c.setBucketLifecycle("d", nil)
        #expect(try await c.bucket("d")?.lifecycle == nil)
    }

    @Test("a delete of one version leaves a newer one, and deletes that version only", arguments: CatalogKind.allCases)
    func deleteIfVersion(_ kind: CatalogKind) async throws {
        let (c, m) = try await dataset(kind, mirroring: true)
        let mirror = MirrorCommit(epoch: m?.epoch)
        let v1 = try await c.putObject(object("k", blob: "a"), mirror: mirror) { _ in }.version
        let v2 = try await c.putObject(object("k", blob: "b"), mirror: mirror) { _ in }.version
        let journaled = try await c.journal(bucket: "d", key: "k")
        #expect(try await c.deleteObject(bucket: "d", key: "k", mirror: mirror, ifVersion: v1) == DeleteResult())
        #expect(try await c.object(bucket: "d", key: "k")?.version == v2)
        #expect(try await c.journal(bucket: "d", key: "k") == journaled)
        #expect(try await c.deleteObject(bucket: "d", key: "k", mirror: mirror, ifVersion: v2).blob == "b")
        #expect(try await c.object(bucket: "d", key: "k") == nil)
        #expect(try await c.deleteObject(bucket: "d", key: "k", mirror: mirror, ifVersion: v2) == DeleteResult())
    }

    @Test(
        "one snapshot for a read: dataset, migration, object, and while mirroring its copy and journal entry",
        arguments: CatalogKind.allCases)
    func readState(_ kind: CatalogKind) async throws {
        let (c, _) = try await dataset(kind)
        #expect(try await c.readState(bucket: "nope", key: "k") == nil)
        var state = try #require(try await c.readState(bucket: "d", key: "k"))
        #expect(state.bucket.name == "d" && state.object == nil && state.migration == nil)
        let m = try await c.startMigration(
            MigrationRecord(bucket: "d", source: source, target: target, mode: .journaled, started: Date()),
            transition: PhaseTransition(bucket: "d", from: .legacy, to: .mirroring, who: "t", at: Date(), why: "t"))
        let v = try await c.putObject(object("k", blob: "a"), mirror: MirrorCommit(epoch: m.epoch)) { _ in }.version
        state = try #require(try await c.readState(bucket: "d", key: "k"))
        #expect(state.object?.version == v && state.migration?.phase == .mirroring && state.journal?.version == v && state.replica == nil)
        let copy = ReplicaRecord(bucket: "d", key: "k", version: v, blob: "t/1", backendETag: nil, seal: nil, md5: nil)
        #expect(try await c.commitReplica(copy, size: 3).committed)
        try await c.finishJournal(try #require(state.journal))
        state = try #require(try await c.readState(bucket: "d", key: "k"))
        #expect(state.replica?.version == v && state.journal == nil)
    }

    @Test("multipart: parts replace by number, completion makes the object and returns every part", arguments: CatalogKind.allCases)
    func multipart(_ kind: CatalogKind) async throws {
        let (c, _) = try await dataset(kind)
        try await c.createUpload(
            UploadRecord(
                uploadID: "u", bucket: "d", key: "k", initiated: Date(), headers: .init(), checksumAlgorithm: nil,
                checksumType: nil))
        #expect(
            try await c.putPart(PartRecord(uploadID: "u", partNumber: 1, size: 5, etag: "\"a\"", lastModified: Date(), checksum: nil, blob: "p1"))
                == nil)
        #expect(
            try await c.putPart(PartRecord(uploadID: "u", partNumber: 1, size: 5, etag: "\"b\"", lastModified: Date(), checksum: nil, blob: "p1b"))?
                .blob == "p1")
        let done = try await c.completeUpload("u", record: object("k", blob: "final"), mirror: .current) { _ in }
        #expect(done.parts.map(\.blob) == ["p1b"])
        #expect(try await c.upload("u") == nil)
        #expect(try await c.object(bucket: "d", key: "k")?.blob == "final")
        await #expect(throws: CatalogError.noSuchUpload) { _ = try await c.abortUpload("u") }
    }

    @Test("intents name their owner and are cleared by the commit of their key", arguments: CatalogKind.allCases)
    func intents(_ kind: CatalogKind) async throws {
        let (c, _) = try await dataset(kind)
        try await c.beginIntent(bucket: "d", key: "a", owner: "gw-1/1", now: Date())
        try await c.beginIntent(bucket: "d", key: "b", owner: "gw-2/7", now: Date())
        #expect(try await c.intents() == [Intent(bucket: "d", key: "a", owner: "gw-1/1"), Intent(bucket: "d", key: "b", owner: "gw-2/7")])
        _ = try await c.putObject(object("a", blob: "x")) { _ in }
        #expect(try await c.intents().map(\.key) == ["b"])
        try await c.endIntent(bucket: "d", key: "b")
        #expect(try await c.intents().isEmpty)
    }

    @Test(
        "the journal queue: two claimers never hold one entry; an expired lease is taken over; a late finish is refused",
        arguments: CatalogKind.allCases)
    func journalQueue(_ kind: CatalogKind) async throws {
        let (c, m) = try await dataset(kind, mirroring: true)
        for i in 0..<10 { _ = try await c.putObject(object("k\(i)", blob: "b\(i)"), mirror: MirrorCommit(epoch: m?.epoch)) { _ in } }
        let t0 = Date()
        // Concurrent claimers split the entries between them, each entry once.
        let claims = try await withThrowingTaskGroup(of: [JournalEntry].self) { group in
            for w in 0..<4 { group.addTask { try await c.claim(owner: "w\(w)", lease: 60, limit: 4, now: t0) } }
            var all: [[JournalEntry]] = []
            for try await batch in group { all.append(batch) }
            return all
        }
        let keys = claims.flatMap { $0.map(\.key) }
        #expect(keys.count == 10 && Set(keys).count == 10)
        #expect(try await c.claim(owner: "late", lease: 60, limit: 10, now: t0.addingTimeInterval(1)).isEmpty, "every entry is held")
        // The first claimer dies: once its lease is over another owner takes its entries.
        let held = try #require(claims.first { !$0.isEmpty })
        let heir = try await c.claim(owner: "heir", lease: 60, limit: 10, now: t0.addingTimeInterval(61))
        #expect(Set(heir.map(\.key)) == Set(keys), "every lease expired")
        // The first owner comes back: its finish and its failure are refused, and change nothing.
        #expect(try await c.finish(held[0], owner: held[0].owner ?? "") == .lost)
        #expect(try await c.fail(held[0], owner: held[0].owner ?? "", error: "x", nextTry: t0, dead: true) == .lost)
        #expect(try await c.journal(bucket: "d", key: held[0].key)?.dead == false)
        // The heir finishes; a newer write of a key it holds supersedes its claim.
        let mine = try #require(heir.first { $0.key == held[0].key })
        #expect(try await c.finish(mine, owner: "heir") == .done)
        #expect(try await c.journal(bucket: "d", key: mine.key) == nil)
        let rewritten = try #require(heir.first { $0.key != mine.key })
        _ = try await c.putObject(object(rewritten.key, blob: "new"), mirror: MirrorCommit(epoch: m?.epoch)) { _ in }
        #expect(try await c.finish(rewritten, owner: "heir") == .superseded)
        let requeued = try #require(try await c.journal(bucket: "d", key: rewritten.key))
        #expect(requeued.owner == nil && requeued.version > rewritten.version, "queued again, for anyone")
        // A failure is recorded and released; giving back without an attempt is counted nowhere.
        let another = try #require(heir.first { $0.key != mine.key && $0.key != rewritten.key })
        #expect(try await c.fail(another, owner: "heir", error: "target down", nextTry: t0.addingTimeInterval(100), dead: false) == .done)
        let failed = try #require(try await c.journal(bucket: "d", key: another.key))
        #expect(failed.attempts == 1 && failed.owner == nil && failed.lastError == "target down")
        let third = try #require(heir.first { ![mine.key, rewritten.key, another.key].contains($0.key) })
        #expect(try await c.release(third, owner: "heir") == .done)
        #expect(try await c.journal(bucket: "d", key: third.key)?.attempts == 0)
        // A gateway starting again takes back what its earlier processes held.
        #expect(try await c.releaseClaims(ownerPrefix: "he") >= 1)
        #expect(try await c.claim(owner: "next", lease: 60, limit: 20, now: t0.addingTimeInterval(62)).count == 8)
    }

    @Test("a copy is recorded only for the version the object still has", arguments: CatalogKind.allCases)
    func replicasFollowVersions(_ kind: CatalogKind) async throws {
        let (c, m) = try await dataset(kind, mirroring: true)
        let v = try await c.putObject(object("k", blob: "a"), mirror: MirrorCommit(epoch: m?.epoch)) { _ in }.version
        let stale = ReplicaRecord(bucket: "d", key: "k", version: v - 1, blob: "t/0", backendETag: nil, seal: nil, md5: nil)
        #expect(try await c.commitReplica(stale, size: 3).committed == false)
        let good = ReplicaRecord(bucket: "d", key: "k", version: v, blob: "t/1", backendETag: nil, seal: nil, md5: nil)
        #expect(try await c.commitReplica(good, size: 3).committed)
        #expect(try await c.replica(bucket: "d", key: "k")?.blob == "t/1")
        #expect(try await c.migration("d")?.backfill.copied == 1)
    }
}
