import Catalog
import Crypto
import Datasets
import Foundation
import Logging
import NIOCore
import S3Protocol
import Storage
import Synchronization
import TestSupport
import Testing

/// Counts what the layer reports.
final class CountingObserver: ObjectLayerObserver {
    let counts = Mutex<[String: Int]>([:])
    func count(_ name: String) { counts.withLock { $0[name, default: 0] += 1 } }
    subscript(_ name: String) -> Int { counts.withLock { $0[name, default: 0] } }

    func integrityFailure() { count("integrity") }
    func backendObjectChanged() { count("changed") }
    func shreddedRead() { count("shredded") }
    func targetRead() { count("targetRead") }
    func readFallback() { count("fallback") }
    func readRepair() { count("repair") }
    func copied(bytes: Int64) { count("copied") }
    func replicationFailure(backend: String) { count("failure") }
}

/// The object layer in-process, on two local stores (a dataset on one, migrating to the other):
/// mirrored writes in both modes, reads in cutover from the target, the fallback to the source
/// when the target copy is broken, and the read-repair that follows.
@Suite("Object layer: mirrored writes, read fallback, read-repair")
struct ObjectLayerTests {
    struct World {
        let objects: ObjectLayer
        let source: FileSystemStore
        let target: FileSystemStore
        let observer: CountingObserver
        var catalog: any Catalog { objects.catalog }
    }

    func world() async throws -> World {
        let dir = try TemporaryDirectory.make()
        let source = try FileSystemStore(root: dir + "/source"), target = try FileSystemStore(root: dir + "/target")
        let catalog = try SQLiteCatalog(path: dir + "/catalog.sqlite")
        let backends = BackendRegistry(
            backends: ["local": FileSystemBackend(store: source), "second": FileSystemBackend(store: target)],
            defaultPlacement: .local)
        let observer = CountingObserver()
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let objects = ObjectLayer(catalog: catalog, backends: backends, observer: observer, logger: logger)
        try await objects.createDataset("d", region: "us-east-1")
        _ = try await catalog.startMigration(
            MigrationRecord(bucket: "d", source: .local, target: Placement(backend: "second"), mode: .journaled, started: Date()),
            transition: PhaseTransition(bucket: "d", from: .legacy, to: .mirroring, who: "test", at: Date(), why: "test"))
        return World(objects: objects, source: source, target: target, observer: observer)
    }

    func body(_ text: String) -> IncomingBody<BufferSequence> {
        let bytes = Array(text.utf8)
        return IncomingBody(length: Int64(bytes.count), bytes: BufferSequence(ByteBuffer(bytes: bytes))) {
            BodyDigests(length: Int64(bytes.count), md5: Array(Insecure.MD5.hash(data: bytes)), checksum: nil)
        }
    }

    func read(_ w: World, _ key: String) async throws -> String {
        let plan = try await w.objects.readPlan(dataset: "d", key: key)
        var out = ByteBuffer()
        for try await var chunk in try await w.objects.open(plan, range: nil) { out.writeBuffer(&chunk) }
        return String(buffer: out)
    }

    @Test("a journaled write is queued in its commit and copied by replicate; a sync write commits with its copy")
    func mirroredWrites() async throws {
        let w = try await world()
        let route = try await w.objects.route("d")
        let record = try await w.objects.put(route, key: "k", headers: ObjectHeaders(), body: body("hello"), precondition: nil)
        #expect(try await w.catalog.journal(bucket: "d", key: "k")?.version == record.version)
        #expect(try await w.objects.readPlan(dataset: "d", key: "k").replicationStatus == "PENDING")
        #expect(try await w.objects.replicate(route, key: "k") == .copied(5))
        #expect(try await w.objects.replicate(route, key: "k") == .current)
        #expect(try await w.objects.readPlan(dataset: "d", key: "k").replicationStatus == "COMPLETED")
        #expect(w.observer["copied"] == 1)

        try await w.catalog.tuneMigration(bucket: "d", mode: .sync, bandwidth: nil, parallelism: nil)
        let sync = try await w.objects.route("d")
        let second = try await w.objects.put(sync, key: "s", headers: ObjectHeaders(), body: body("synced"), precondition: nil)
        #expect(try await w.catalog.journal(bucket: "d", key: "s") == nil, "nothing left for the workers")
        let replica = try #require(try await w.catalog.replica(bucket: "d", key: "s"))
        #expect(replica.version == second.version && replica.blob != second.blob)
        #expect(try await w.target.head(name: replica.blob)?.size == 6)
        // A delete in sync mode removes the target copy first, then the object.
        try await w.objects.delete(sync, key: "s")
        #expect(try await w.target.head(name: replica.blob) == nil)
        await #expect(throws: DatasetError.noSuchKey("d", "s")) { _ = try await w.objects.readPlan(dataset: "d", key: "s") }
    }

    @Test("in cutover a read comes from the target; a broken target copy falls back to the source and is repaired")
    func fallbackAndRepair() async throws {
        let w = try await world()
        let route = try await w.objects.route("d")
        _ = try await w.objects.put(route, key: "k", headers: ObjectHeaders(), body: body("hello"), precondition: nil)
        #expect(try await w.objects.replicate(route, key: "k") == .copied(5))
        try await w.catalog.finishJournal(try #require(try await w.catalog.journal(bucket: "d", key: "k")))
        _ = try await w.catalog.changePhase(PhaseTransition(bucket: "d", from: .mirroring, to: .cutover, who: "test", at: Date(), why: "test"))
        #expect(try await read(w, "k") == "hello")
        #expect(w.observer["targetRead"] == 1 && w.observer["fallback"] == 0)

        // The target copy disappears behind the gateway's back.
        let copy = try #require(try await w.catalog.replica(bucket: "d", key: "k"))
        try await w.target.delete(name: copy.blob)
        #expect(try await read(w, "k") == "hello", "served from the source")
        #expect(w.observer["fallback"] == 1 && w.observer["repair"] == 1)
        #expect(try await w.catalog.replica(bucket: "d", key: "k") == nil, "the broken copy is forgotten")
        #expect(try await w.catalog.journal(bucket: "d", key: "k") != nil, "and the key queued again")
        #expect(try await w.objects.readPlan(dataset: "d", key: "k").replicationStatus == "PENDING")

        // The workers' copy repairs it; reads come from the target again.
        #expect(try await w.objects.replicate(try await w.objects.route("d"), key: "k") == .copied(5))
        #expect(try await read(w, "k") == "hello")
        #expect(w.observer["targetRead"] == 2 && w.observer["fallback"] == 1)
        // Reads while the key is still queued fall back without queueing it again.
        let again = try #require(try await w.catalog.replica(bucket: "d", key: "k"))
        try await w.target.delete(name: again.blob)
        _ = try await read(w, "k")
        _ = try await read(w, "k")
        #expect(w.observer["repair"] == 1 && w.observer["fallback"] == 3)
    }

    @Test("a conditional write is checked before the body and in the commit")
    func conditionalWrite() async throws {
        let w = try await world()
        let route = try await w.objects.route("d")
        let absent: WritePrecondition = { current in if current != nil { throw DatasetError(.noSuchKey, dataset: "d", key: "exists") } }
        _ = try await w.objects.put(route, key: "k", headers: ObjectHeaders(), body: body("one"), precondition: absent)
        await #expect(throws: DatasetError.self) {
            _ = try await w.objects.put(route, key: "k", headers: ObjectHeaders(), body: body("two"), precondition: absent)
        }
        #expect(try await read(w, "k") == "one")
    }
}
