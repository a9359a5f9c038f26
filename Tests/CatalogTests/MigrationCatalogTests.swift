import Catalog
import Foundation
import Testing

/// The catalog's side of migrations: versions, journaling in the write's transaction, copies
/// recorded only for the version they hold, retirement's swap and its preconditions.
@Suite("Migration state in the catalog")
struct MigrationCatalogTests {
    let source = Placement(backend: "az", container: "legacy", prefix: "b/")
    let target = Placement(backend: "sw", container: "sov", prefix: "b/", layout: "sealed")

    func catalog() async throws -> SQLiteCatalog {
        let c = try SQLiteCatalog(path: try temporaryDirectory() + "/c.sqlite")
        try await c.createBucket(BucketRecord(name: "b", region: "us-east-1", created: Date(), placement: source))
        return c
    }

    func start(_ c: SQLiteCatalog, mode: WriteMode = .journaled) async throws -> MigrationRecord {
        try await c.startMigration(
            MigrationRecord(bucket: "b", source: source, target: target, mode: mode, started: Date()),
            transition: PhaseTransition(bucket: "b", from: .legacy, to: .mirroring, who: "t", at: Date(), why: "test"))
    }

    func change(_ c: SQLiteCatalog, _ from: Phase, _ to: Phase) async throws -> MigrationRecord {
        try await c.changePhase(PhaseTransition(bucket: "b", from: from, to: to, who: "t", at: Date(), why: "test"))
    }

    @Test("every write gets a new version; writes of a mirroring dataset are journaled in the same transaction")
    func versionsAndJournal() async throws {
        let c = try await catalog()
        let v1 = try await c.putObject(record("k", blob: "b/k"), mirror: .current) { _ in }.version
        #expect(try await c.journalStats(bucket: "b") == JournalStats())
        let m = try await start(c)
        let v2 = try await c.putObject(record("k", blob: "b/k"), mirror: MirrorCommit(epoch: m.epoch)) { _ in }.version
        #expect(v2 > v1)
        let entry = try #require(try await c.journal(bucket: "b", key: "k"))
        #expect(entry.version == v2 && entry.attempts == 0 && !entry.dead)
        // A second write re-queues the same key (one entry per key), keeping its first time.
        let v3 = try await c.putObject(record("k", blob: "b/k"), mirror: MirrorCommit(epoch: m.epoch)) { _ in }.version
        let again = try #require(try await c.journal(bucket: "b", key: "k"))
        #expect(again.version == v3 && again.created == entry.created)
        // Finishing the older entry does not remove the newer one.
        try await c.finishJournal(entry)
        #expect(try await c.journal(bucket: "b", key: "k") != nil)
        try await c.failJournal(again, error: "down", nextTry: Date().addingTimeInterval(60), dead: false)
        #expect(try await c.dueJournal(now: Date(), limit: 10).isEmpty)
        try await c.failJournal(try #require(try await c.journal(bucket: "b", key: "k")), error: "down", nextTry: Date(), dead: true)
        #expect(try await c.journalStats(bucket: "b").dead == 1)
        #expect(try await c.migration("b")?.lastFailure != nil)
        #expect(try await c.retryDead(bucket: "b", now: Date()) == 1)
        #expect(try await c.dueJournal(now: Date(), limit: 10).map(\.key) == ["k"])
    }

    @Test("a copy is recorded only for the version the object still has")
    func replicasFollowVersions() async throws {
        let c = try await catalog()
        let m = try await start(c)
        let v = try await c.putObject(record("k", blob: "b/k"), mirror: MirrorCommit(epoch: m.epoch)) { _ in }.version
        let stale = ReplicaRecord(bucket: "b", key: "k", version: v - 1, blob: "x1", backendETag: nil, seal: nil, md5: nil)
        #expect(try await c.commitReplica(stale, size: 1).committed == false)
        let good = ReplicaRecord(bucket: "b", key: "k", version: v, blob: "x2", backendETag: nil, seal: nil, md5: nil)
        let committed = try await c.commitReplica(good, size: 1)
        #expect(committed.committed && committed.replaced == nil)
        #expect(try await c.migration("b")?.backfill.copied == 1)
        // A sync write records its copy with the object; the old copy's blob comes back to delete.
        var copy = good
        copy.blob = "x3"
        let w = try await c.putObject(record("k", blob: "b/k"), mirror: MirrorCommit(epoch: m.epoch, target: .written(copy))) { _ in }
        let copied = try await c.replica(bucket: "b", key: "k")
        #expect(w.replacedReplica == "x2" && copied?.version == w.version)
        #expect(try await c.journal(bucket: "b", key: "k") == nil)
        // A sync delete removes the copy's row too.
        let d = try await c.deleteObject(bucket: "b", key: "k", mirror: MirrorCommit(epoch: m.epoch, target: .removed))
        let gone = try await c.replica(bucket: "b", key: "k")
        #expect(d.blob == "b/k" && d.replica == "x3" && gone == nil)
    }

    @Test("retirement needs every copy current and swaps the objects to the target")
    func retire() async throws {
        let c = try await catalog()
        let m = try await start(c)
        let v = try await c.putObject(record("k", blob: "b/k"), mirror: MirrorCommit(epoch: m.epoch)) { _ in }.version
        _ = try await change(c, .mirroring, .cutover)
        await #expect(throws: CatalogError.self) { _ = try await change(c, .cutover, .retired) }
        _ = try await c.commitReplica(
            ReplicaRecord(bucket: "b", key: "k", version: v, blob: "sealed-id", backendETag: "e", seal: nil, md5: nil), size: nil)
        // Still queued: refused.
        await #expect(throws: CatalogError.self) { _ = try await change(c, .cutover, .retired) }
        try await c.finishJournal(try #require(try await c.journal(bucket: "b", key: "k")))
        let retired = try await change(c, .cutover, .retired)
        #expect(retired.epoch == m.epoch + 1 && retired.primary == target)
        #expect(try await c.object(bucket: "b", key: "k")?.blob == "sealed-id")
        #expect(try await c.bucket("b")?.placement == target)
        // A write routed before the retirement cannot commit after it.
        await #expect(throws: CatalogError.routingChanged) {
            _ = try await c.putObject(record("k", blob: "b/k"), mirror: MirrorCommit(epoch: m.epoch)) { _ in }
        }
        #expect(try await c.transitions(bucket: "b").map(\.to) == [.mirroring, .cutover, .retired])
    }

    @Test("abort forgets copies and journal; a phase change must start from the phase the dataset is in")
    func abort() async throws {
        let c = try await catalog()
        let m = try await start(c)
        _ = try await c.putObject(record("k", blob: "b/k"), mirror: MirrorCommit(epoch: m.epoch)) { _ in }
        await #expect(throws: CatalogError.self) { _ = try await change(c, .verified, .cutover) }
        await #expect(throws: CatalogError.self) { _ = try await start(c) }
        let back = try await change(c, .mirroring, .legacy)
        #expect(back.phase == .legacy && back.epoch == m.epoch + 1)
        #expect(try await c.journalStats(bucket: "b") == JournalStats())
        // Writes of a legacy dataset are not journaled; a new migration starts from scratch.
        _ = try await c.putObject(record("k", blob: "b/k"), mirror: .current) { _ in }
        #expect(try await c.journal(bucket: "b", key: "k") == nil)
        #expect(try await start(c).epoch == m.epoch + 2)
    }

    @Test("a deleted dataset takes its migration with it")
    func deleteBucket() async throws {
        let c = try await catalog()
        _ = try await start(c)
        _ = try await c.deleteBucket("b")
        try await c.createBucket(BucketRecord(name: "b", region: "us-east-1", created: Date(), placement: source))
        #expect(try await c.migration("b") == nil)
    }
}
