import Catalog
import Crypto
import Datasets
import Foundation
import Logging
import NIOCore
import S3Protocol
import Storage
import TestSupport
import Testing

/// The lifecycle sweeper in-process on the local store, with the clock as an input: what a rule
/// selects is expired, the rest stays, uploads are aborted, and a key written again after it
/// was evaluated keeps its new object.
@Suite("Lifecycle sweeper")
struct LifecycleSweeperTests {
    func objects() async throws -> ObjectLayer {
        let dir = try TemporaryDirectory.make()
        let store = try FileSystemStore(root: dir + "/store")
        var logger = Logger(label: "test")
        logger.logLevel = .critical
        let objects = ObjectLayer(
            catalog: try SQLiteCatalog(path: dir + "/catalog.sqlite"),
            backends: BackendRegistry(backends: ["local": FileSystemBackend(store: store)], defaultPlacement: .local), logger: logger)
        try await objects.createDataset("d", region: "us-east-1")
        return objects
    }

    func put(_ objects: ObjectLayer, _ key: String, _ text: String, tags: [ObjectTag] = []) async throws -> ObjectRecord {
        let bytes = Array(text.utf8)
        let body = IncomingBody(length: Int64(bytes.count), bytes: BufferSequence(ByteBuffer(bytes: bytes))) {
            BodyDigests(length: Int64(bytes.count), md5: Array(Insecure.MD5.hash(data: bytes)), checksum: nil)
        }
        return try await objects.put(try await objects.route("d"), key: key, headers: ObjectHeaders(tags: tags), body: body, precondition: nil)
    }

    static let rules = """
        <LifecycleConfiguration>
          <Rule><ID>tmp</ID><Status>Enabled</Status><Filter><Prefix>tmp/</Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule>
          <Rule><ID>scratch</ID><Status>Enabled</Status>
            <Filter><And><Tag><Key>class</Key><Value>scratch</Value></Tag><ObjectSizeGreaterThan>3</ObjectSizeGreaterThan></And></Filter>
            <Expiration><Days>30</Days></Expiration></Rule>
          <Rule><ID>off</ID><Status>Disabled</Status><Filter><Prefix>keep/</Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule>
          <Rule><ID>uploads</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter>
            <AbortIncompleteMultipartUpload><DaysAfterInitiation>7</DaysAfterInitiation></AbortIncompleteMultipartUpload></Rule>
        </LifecycleConfiguration>
        """

    @Test("expires what the rules select, when they say, and aborts old uploads")
    func sweep() async throws {
        let objects = try await objects()
        try await objects.setLifecycle("d", try LifecycleConfiguration.parse(Array(Self.rules.utf8)))
        let written = try await put(objects, "tmp/a", "aaaa")
        _ = try await put(objects, "keep/b", "bbbb")
        _ = try await put(objects, "scratch-big", "cccc", tags: [ObjectTag("class", "scratch")])
        _ = try await put(objects, "scratch-small", "cc", tags: [ObjectTag("class", "scratch")])
        _ = try await objects.createUpload(
            try await objects.route("d"), key: "up", headers: ObjectHeaders(), checksumAlgorithm: nil, checksumType: nil)
        let sweeper = LifecycleSweeper(objects: objects, perSecond: 10_000)
        func keys() async throws -> [String] { try await objects.catalog.objects(bucket: "d", from: [], until: nil, limit: 100).map(\.key) }

        // Nothing is due yet: a day has not reached its next midnight.
        #expect(try await sweeper.sweep(now: written.lastModified) == .init())
        // Day 1 after the next midnight: tmp/ goes; the disabled rule keeps keep/.
        var o = try await sweeper.sweep(now: LifecycleConfiguration.expiry(of: written.lastModified, days: 1))
        #expect(o.expired == 1 && o.aborted == 0)
        #expect(try await keys() == ["keep/b", "scratch-big", "scratch-small"])
        // Day 30: the tagged object above 3 bytes goes, the small one stays; day 7 aborted the upload.
        o = try await sweeper.sweep(now: LifecycleConfiguration.expiry(of: written.lastModified, days: 30))
        #expect(o.expired == 1 && o.aborted == 1)
        #expect(try await keys() == ["keep/b", "scratch-small"])
        #expect(try await objects.catalog.uploads(bucket: "d").isEmpty)
    }

    @Test("a version written after it was evaluated is not expired")
    func newerWriteKept() async throws {
        let objects = try await objects()
        let old = try await put(objects, "tmp/k", "old")
        let new = try await put(objects, "tmp/k", "new")
        #expect(try await !objects.delete(try await objects.route("d"), key: "tmp/k", ifVersion: old.version).deleted)
        #expect(try await objects.catalog.object(bucket: "d", key: "tmp/k")?.version == new.version)
        #expect(try await objects.delete(try await objects.route("d"), key: "tmp/k", ifVersion: new.version).deleted)
        #expect(try await objects.catalog.object(bucket: "d", key: "tmp/k") == nil)
    }

    @Test("versioned: a current expiry writes a marker; noncurrent versions expire after NoncurrentDays beyond the newest kept; lone markers go")
    func versions() async throws {
        let objects = try await objects()
        try await objects.setVersioning("d", .enabled)
        let rules = """
            <LifecycleConfiguration>
              <Rule><ID>old</ID><Status>Enabled</Status><Filter><Prefix>v/</Prefix></Filter>
                <NoncurrentVersionExpiration><NoncurrentDays>2</NoncurrentDays><NewerNoncurrentVersions>1</NewerNoncurrentVersions>
                </NoncurrentVersionExpiration></Rule>
              <Rule><ID>tmp</ID><Status>Enabled</Status><Filter><Prefix>tmp/</Prefix></Filter><Expiration><Days>1</Days></Expiration></Rule>
              <Rule><ID>markers</ID><Status>Enabled</Status><Filter><Prefix>m/</Prefix></Filter>
                <Expiration><ExpiredObjectDeleteMarker>true</ExpiredObjectDeleteMarker></Expiration></Rule>
            </LifecycleConfiguration>
            """
        try await objects.setLifecycle("d", try LifecycleConfiguration.parse(Array(rules.utf8)))
        for i in 0..<4 { _ = try await put(objects, "v/k", "v\(i)") }
        _ = try await put(objects, "tmp/t", "t")
        _ = try await put(objects, "m/gone", "m")
        let route = try await objects.route("d")
        #expect(try await objects.delete(route, key: "m/gone").marker != nil)
        _ = try await objects.deleteVersion(route, key: "m/gone", version: try #require(try await versionIDs(objects, "m/gone").last))
        func listing(_ key: String) async throws -> [String] {
            try await objects.catalog.versions(bucket: "d", from: VersionCursor(key: Array(key.utf8)), until: Array(key.utf8) + [0], limit: 100)
                .map { $0.record.deleteMarker ? "marker" : "v" }
        }
        let sweeper = LifecycleSweeper(objects: objects, perSecond: 10_000)
        // Nothing is old enough at first; the lone marker of m/gone goes at once.
        var outcome = try await sweeper.sweep(now: Date())
        #expect(outcome.expired == 1)
        #expect(try await listing("m/gone") == [])
        #expect(try await listing("v/k").count == 4)
        // Three days on: the current tmp/t gets a marker (its bytes kept as noncurrent); of v/k's
        // three noncurrent versions the newest stays, the two older go.
        outcome = try await sweeper.sweep(now: Date().addingTimeInterval(3 * 86_400))
        #expect(try await listing("tmp/t") == ["marker", "v"])
        #expect(try await objects.catalog.object(bucket: "d", key: "tmp/t") == nil)
        let kept = try await objects.catalog.versions(bucket: "d", from: VersionCursor(key: Array("v/k".utf8)), until: nil, limit: 10)
            .filter { $0.record.key == "v/k" }
        #expect(kept.count == 2)
        #expect(kept.first?.isLatest == true)
        #expect(outcome.expired == 3)
    }

    func versionIDs(_ objects: ObjectLayer, _ key: String) async throws -> [VersionID] {
        try await objects.catalog.versions(bucket: "d", from: VersionCursor(key: Array(key.utf8)), until: Array(key.utf8) + [0], limit: 100)
            .map(\.record.versionID)
    }

    @Test("a noncurrent version under Object Lock is never expired while its retention runs")
    func lockedVersionsStay() async throws {
        let objects = try await objects()
        try await objects.setVersioning("d", .enabled)
        let rules = """
            <LifecycleConfiguration><Rule><ID>old</ID><Status>Enabled</Status><Filter><Prefix></Prefix></Filter>
              <NoncurrentVersionExpiration><NoncurrentDays>1</NoncurrentDays></NoncurrentVersionExpiration></Rule></LifecycleConfiguration>
            """
        try await objects.setLifecycle("d", try LifecycleConfiguration.parse(Array(rules.utf8)))
        let locked = try await put(objects, "k", "locked")
        _ = try await objects.catalog.updateLock(bucket: "d", key: "k", version: locked.version) { _ in
            ObjectLockState(retention: Retention(mode: .compliance, until: Date().addingTimeInterval(10 * 86_400)))
        }
        _ = try await put(objects, "k", "newer")
        let sweeper = LifecycleSweeper(objects: objects, perSecond: 10_000)
        #expect(try await sweeper.sweep(now: Date().addingTimeInterval(3 * 86_400)).expired == 0)
        #expect(try await objects.catalog.version(bucket: "d", key: "k", version: locked.versionID) != nil)
        // Once the retention has ended (here: it ended an hour ago), the rule applies.
        _ = try await objects.catalog.updateLock(bucket: "d", key: "k", version: locked.version) { _ in
            ObjectLockState(retention: Retention(mode: .compliance, until: Date().addingTimeInterval(-3600)))
        }
        #expect(try await sweeper.sweep(now: Date().addingTimeInterval(3 * 86_400)).expired == 1)
        #expect(try await objects.catalog.version(bucket: "d", key: "k", version: locked.versionID) == nil)
    }
}
