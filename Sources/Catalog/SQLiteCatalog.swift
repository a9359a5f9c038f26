import Foundation
import GRDB
import NIOConcurrencyHelpers
import S3Protocol
import Sealing
import Synchronization

/// The embedded catalog: SQLite in WAL mode with `synchronous=FULL`, so a committed
/// transaction is on disk when `write` returns (SQLite "Atomic Commit", WAL §"Durability").
/// Keys are stored as BLOBs so ordering is plain byte order, S3's lexicographic UTF-8 order.
public final class SQLiteCatalog: Catalog {
    let pool: DatabasePool
    /// Buckets are read on nearly every request and change rarely; the copy is kept in step with
    /// this process's writes. `generation` moves on every bucket write, so a load that raced a
    /// write is not kept. A dataset created by another process (`passerelle dataset create`
    /// while the gateway runs) shows up on the first miss a second after the last load.
    let bucketCache = NIOLockedValueBox<(generation: Int, map: [String: BucketRecord]?, loaded: ContinuousClock.Instant)>((0, nil, .now))

    public init(path: String) throws {
        var config = Configuration()
        // The gateway and the CLI (migrations, key rotation) write the same file: a writer
        // waits for the other's transaction instead of failing.
        config.busyMode = .timeout(30)
        config.prepareDatabase { db in
            try db.execute(sql: "PRAGMA synchronous = FULL")
        }
        pool = try DatabasePool(path: path, configuration: config)
        try Self.migrator.migrate(pool)
    }

    static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(
                sql: """
                    CREATE TABLE buckets (name TEXT PRIMARY KEY, region TEXT NOT NULL, created REAL NOT NULL);
                    CREATE TABLE objects (
                        bucket TEXT NOT NULL, key BLOB NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
                        last_modified REAL NOT NULL, headers TEXT NOT NULL, checksum_algorithm TEXT, checksum TEXT,
                        checksum_type TEXT, blob TEXT NOT NULL, parts_count INTEGER,
                        PRIMARY KEY (bucket, key)) WITHOUT ROWID;
                    CREATE TABLE uploads (
                        upload_id TEXT PRIMARY KEY, bucket TEXT NOT NULL, key BLOB NOT NULL, initiated REAL NOT NULL,
                        headers TEXT NOT NULL, checksum_algorithm TEXT, checksum_type TEXT);
                    CREATE INDEX uploads_by_key ON uploads (bucket, key, initiated);
                    CREATE TABLE parts (
                        upload_id TEXT NOT NULL, part_number INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL,
                        last_modified REAL NOT NULL, checksum_algorithm TEXT, checksum TEXT, blob TEXT NOT NULL,
                        PRIMARY KEY (upload_id, part_number)) WITHOUT ROWID;
                    """)
        }
        m.registerMigration("v2-placements") { db in
            try db.execute(
                sql: """
                    ALTER TABLE buckets ADD COLUMN placement TEXT;
                    ALTER TABLE objects ADD COLUMN backend_etag TEXT;
                    ALTER TABLE uploads ADD COLUMN backend_upload TEXT;
                    ALTER TABLE uploads ADD COLUMN blob TEXT;
                    """)
        }
        m.registerMigration("v3-intents") { db in
            // Writes and deletes in progress on in-place placements (see `beginIntent`).
            try db.execute(
                sql: """
                    CREATE TABLE intents (bucket TEXT NOT NULL, key BLOB NOT NULL, started REAL NOT NULL,
                                          PRIMARY KEY (bucket, key)) WITHOUT ROWID;
                    """)
        }
        m.registerMigration("v4-sealed") { db in
            // `seal` is the SealRecord as JSON; `kek_version` copies its KEK version for rotation.
            try db.execute(
                sql: """
                    ALTER TABLE objects ADD COLUMN seal TEXT;
                    ALTER TABLE objects ADD COLUMN kek_version INTEGER;
                    ALTER TABLE uploads ADD COLUMN seal TEXT;
                    ALTER TABLE uploads ADD COLUMN kek_version INTEGER;
                    CREATE INDEX objects_by_kek ON objects (bucket, kek_version) WHERE kek_version IS NOT NULL;
                    """)
        }
        registerMigrationTables(&m)
        m.registerMigration("v7-bucket-tags") { db in
            // A dataset's tag set as JSON (`[ObjectTag]`); NULL when it has none. Object tags
            // are part of the headers JSON.
            try db.execute(sql: "ALTER TABLE buckets ADD COLUMN tags TEXT;")
        }
        m.registerMigration("v8-lifecycle") { db in
            // A dataset's lifecycle configuration as JSON (`LifecycleConfiguration`); NULL: none.
            try db.execute(sql: "ALTER TABLE buckets ADD COLUMN lifecycle TEXT;")
        }
        registerVersionTables(&m)
        registerVersionCopyTables(&m)
        registerPrivacyTables(&m)
        return m
    }

    /// A consistent copy of the catalog, taken while it is in use (SQLite online backup).
    public func backup(to path: String) throws {
        let copy = try DatabaseQueue(path: path)
        try pool.backup(to: copy)
    }

    // MARK: key rotation

    public func objects(bucket: String, wrappedBelow version: UInt32, limit: Int) async throws -> [ObjectRecord] {
        try await read { db in
            // Current objects, then noncurrent versions (each keyed by its own blob).
            let current = try Row.fetchAll(
                db, sql: "SELECT * FROM objects WHERE bucket = ? AND kek_version < ? ORDER BY key LIMIT ?",
                arguments: [bucket, version, limit]
            ).map(Self.object)
            return try current
                + Row.fetchAll(
                    db, sql: "SELECT * FROM versions WHERE bucket = ? AND kek_version < ? AND marker = 0 ORDER BY key LIMIT ?",
                    arguments: [bucket, version, limit - current.count]
                ).map(Self.object)
        }
    }

    public func updateSeals(bucket: String, _ updates: [(key: String, blob: String, seal: SealRecord)]) async throws -> Int {
        try await write { db in
            var changed = 0
            for u in updates {
                for table in ["objects", "versions"] {
                    try db.execute(
                        sql: "UPDATE \(table) SET seal = ?, kek_version = ? WHERE bucket = ? AND key = ? AND blob = ?",
                        arguments: [try Self.json(u.seal), u.seal.key.version, bucket, Data(u.key.utf8), u.blob])
                    changed += db.changesCount
                }
            }
            return changed
        }
    }

    public func uploads(bucket: String, wrappedBelow version: UInt32) async throws -> [UploadRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM uploads WHERE bucket = ? AND kek_version < ?", arguments: [bucket, version]).map(Self.upload)
        }
    }

    public func updateSeal(uploadID: String, seal: SealRecord) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE uploads SET seal = ?, kek_version = ? WHERE upload_id = ?",
                arguments: [try Self.json(seal), seal.key.version, uploadID])
        }
    }

    public func keyUsage(bucket: String) async throws -> [UInt32: Int] {
        try await read { db in
            var usage: [UInt32: Int] = [:]
            for row in try Row.fetchAll(
                db,
                sql: """
                    SELECT kek_version AS v, COUNT(*) AS n FROM (SELECT kek_version FROM objects WHERE bucket = ? AND kek_version IS NOT NULL
                    UNION ALL SELECT kek_version FROM versions WHERE bucket = ? AND kek_version IS NOT NULL
                    UNION ALL SELECT kek_version FROM uploads WHERE bucket = ? AND kek_version IS NOT NULL) GROUP BY kek_version
                    """, arguments: [bucket, bucket, bucket])
            {
                usage[row["v"]] = row["n"]
            }
            return usage
        }
    }

    // MARK: intents

    /// Written with `synchronous = NORMAL`: in WAL mode the row then survives a crash of the
    /// process (kill -9), which is the window it covers, without an fsync on every write; after
    /// a power loss a lost intent leaves a stale row that reads refuse (backend ETag check).
    public func beginIntent(bucket: String, key: String, owner: String, now: Date) async throws {
        try await writeRelaxed { db in
            try db.execute(
                sql: "INSERT OR REPLACE INTO intents (bucket, key, started, owner) VALUES (?, ?, ?, ?)",
                arguments: [bucket, Data(key.utf8), now.timeIntervalSince1970, owner])
        }
    }

    /// A transaction committed with `synchronous = NORMAL`: in WAL mode it survives a crash of
    /// the process (kill -9) but not necessarily a power loss, and costs no fsync. For state
    /// that a loss only makes redo (intents, replication progress), never for what a client
    /// was told; the next `FULL` commit makes it durable too.
    /// Read and write transactions run so far: each one is a round trip on a database server,
    /// so a request's count is what it would cost there (counted by the tests, not on a hot path:
    /// two relaxed atomic increments).
    public let transactions = TransactionCounts()

    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        transactions.countRead()
        return try await pool.read(body)
    }

    func write<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        transactions.countWrite()
        return try await pool.write(body)
    }

    func writeRelaxed<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        transactions.countWrite()
        return try await pool.writeWithoutTransaction { db in
            try db.execute(sql: "PRAGMA synchronous = NORMAL")
            defer { try? db.execute(sql: "PRAGMA synchronous = FULL") }
            var result: T?
            try db.inTransaction {
                result = try body(db)
                return .commit
            }
            guard let result else { throw CatalogError.corrupt("relaxed transaction returned nothing") }
            return result
        }
    }

    public func endIntent(bucket: String, key: String) async throws {
        try await write { db in
            try db.execute(sql: "DELETE FROM intents WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)])
        }
    }

    public func intents() async throws -> [Intent] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT bucket, key, owner FROM intents ORDER BY bucket, key").map { row in
                Intent(bucket: row["bucket"], key: Self.key(row), owner: row["owner"] ?? "")
            }
        }
    }

    // MARK: buckets

    public func createBucket(_ bucket: BucketRecord) async throws {
        defer { bucketCache.withLockedValue { $0 = ($0.generation + 1, nil, .now) } }
        try await write { db in
            if try Row.fetchOne(db, sql: "SELECT 1 FROM buckets WHERE name = ?", arguments: [bucket.name]) != nil {
                throw CatalogError.bucketExists
            }
            try db.execute(
                sql: "INSERT INTO buckets (name, region, created, placement, versioning, object_lock, sensitivity) VALUES (?, ?, ?, ?, ?, ?, ?)",
                arguments: [
                    bucket.name, bucket.region, bucket.created.timeIntervalSince1970,
                    String(decoding: try JSONEncoder().encode(bucket.placement), as: UTF8.self), bucket.versioning?.rawValue,
                    try bucket.objectLock.map(Self.json), bucket.sensitivity.rawValue,
                ])
        }
    }

    public func bucket(_ name: String) async throws -> BucketRecord? {
        let (generation, cached, loaded) = bucketCache.withLockedValue { $0 }
        if let cached, let hit = cached[name] { return hit }
        if cached != nil, ContinuousClock.now - loaded < .seconds(1) { return nil }
        let started = ContinuousClock.now
        let all = try await buckets()
        let map = Dictionary(all.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        bucketCache.withLockedValue { if $0.generation == generation { $0 = (generation, map, started) } }
        return map[name]
    }

    public func setBucketTags(_ name: String, _ tags: [ObjectTag]?) async throws {
        try await setBucketColumn(name, "tags", try tags.map(Self.json))
    }

    public func setBucketLifecycle(_ name: String, _ configuration: LifecycleConfiguration?) async throws {
        try await setBucketColumn(name, "lifecycle", try configuration.map(Self.json))
    }

    /// One of a dataset's JSON settings (`tags`, `lifecycle`; never a name from a request).
    func setBucketColumn(_ name: String, _ column: String, _ json: String?) async throws {
        defer { bucketCache.withLockedValue { $0 = ($0.generation + 1, nil, .now) } }
        try await write { db in
            try db.execute(sql: "UPDATE buckets SET \(column) = ? WHERE name = ?", arguments: [json, name])
            guard db.changesCount == 1 else { throw CatalogError.noSuchBucket }
        }
    }

    public func updateTags(bucket: String, key: String, version: Int64, tags: [ObjectTag]) async throws -> ObjectRecord? {
        try await updateHeaders(bucket: bucket, key: key, version: version) { $0.headers.tags = tags }
    }

    public func buckets() async throws -> [BucketRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM buckets ORDER BY name").map(Self.bucket)
        }
    }

    public func deleteBucket(_ name: String) async throws -> [(UploadRecord, [PartRecord])] {
        defer { bucketCache.withLockedValue { $0 = ($0.generation + 1, nil, .now) } }
        return try await write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM buckets WHERE name = ?", arguments: [name]) != nil else {
                throw CatalogError.noSuchBucket
            }
            for table in ["objects", "versions"]
            where try Row.fetchOne(db, sql: "SELECT 1 FROM \(table) WHERE bucket = ? LIMIT 1", arguments: [name]) != nil {
                throw CatalogError.bucketNotEmpty
            }
            let uploads = try Row.fetchAll(db, sql: "SELECT * FROM uploads WHERE bucket = ?", arguments: [name]).map(Self.upload)
            let aborted = try uploads.map { u in
                (u, try Row.fetchAll(db, sql: "SELECT * FROM parts WHERE upload_id = ?", arguments: [u.uploadID]).map(Self.part))
            }
            try db.execute(sql: "DELETE FROM parts WHERE upload_id IN (SELECT upload_id FROM uploads WHERE bucket = ?)", arguments: [name])
            try db.execute(sql: "DELETE FROM uploads WHERE bucket = ?", arguments: [name])
            try db.execute(sql: "DELETE FROM buckets WHERE name = ?", arguments: [name])
            // A dataset created again later under this name starts without a migration.
            for table in ["migrations", "replicas", "journal", "version_copies"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE bucket = ?", arguments: [name])
            }
            return aborted
        }
    }

    public func usage(bucket: String) async throws -> (objects: Int, bytes: Int64) {
        try await read { db in
            let row = try Row.fetchOne(
                db, sql: "SELECT COUNT(*) AS n, COALESCE(SUM(size), 0) AS total FROM objects WHERE bucket = ?", arguments: [bucket])
            return (row?["n"] ?? 0, row?["total"] ?? 0)
        }
    }

    // MARK: objects

    public func readState(bucket: String, key: String, version: VersionID?) async throws -> ObjectReadState? {
        guard let b = try await self.bucket(bucket) else { return nil }
        return try await read { db in
            let k = Data(key.utf8)
            let migration = try Self.migration(db, bucket)
            var object = try Self.current(db, bucket: bucket, key: key)
            var marker: ObjectRecord?
            if let version, object?.versionID != version {
                object = try Self.storedVersion(db, bucket: bucket, key: key, version)
            } else if object == nil, b.versioning != nil {
                object = try Self.newestStored(db, bucket: bucket, key: key)
            }
            if object?.deleteMarker == true { (marker, object) = (object, nil) }
            guard migration?.phase.mirrors == true else {
                return ObjectReadState(bucket: b, migration: migration, object: object, replica: nil, journal: nil, marker: marker)
            }
            let replica = try Row.fetchOne(db, sql: "SELECT * FROM replicas WHERE bucket = ? AND key = ?", arguments: [bucket, k]).map(Self.replica)
            let journal = try Row.fetchOne(db, sql: "SELECT * FROM journal WHERE bucket = ? AND key = ?", arguments: [bucket, k]).map(Self.entry)
            return ObjectReadState(bucket: b, migration: migration, object: object, replica: replica, journal: journal)
        }
    }

    public func object(bucket: String, key: String) async throws -> ObjectRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM objects WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)])
                .map(Self.object)
        }
    }

    public func putObject(
        _ record: ObjectRecord, mirror: MirrorCommit, precondition: @escaping @Sendable (ObjectRecord?) throws -> Void
    ) async throws -> WriteResult {
        try await write { db in
            try Self.requireBucket(db, record.bucket)
            let current = try Row.fetchOne(
                db, sql: "SELECT * FROM objects WHERE bucket = ? AND key = ?",
                arguments: [record.bucket, Data(record.key.utf8)]
            ).map(Self.object)
            try precondition(current)
            return try Self.write(db, record, replacing: current, mirror: mirror)
        }
    }

    public func deleteObject(
        bucket: String, key: String, mirror: MirrorCommit, ifVersion: Int64?
    ) async throws -> DeleteResult {
        try await write { db in
            try Self.requireBucket(db, bucket)
            if let state = try Self.versioning(db, bucket) {
                return try Self.deleteVersioned(db, bucket: bucket, key: key, ifVersion: ifVersion, state)
            }
            let row = try Row.fetchOne(
                db, sql: "SELECT blob, version FROM objects WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)])
            let current: Int64? = row?["version"]
            if let ifVersion, current != ifVersion { return DeleteResult() }
            let blob: String? = row?["blob"]
            try db.execute(sql: "DELETE FROM objects WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)])
            try db.execute(sql: "DELETE FROM intents WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)])
            let replica = try Self.settleMirror(db, bucket: bucket, key: key, version: nil, mirror: mirror)
            return DeleteResult(blob: blob, replica: replica)
        }
    }

    public func objects(bucket: String, from: [UInt8], until: [UInt8]?, limit: Int) async throws -> [ObjectRecord] {
        try await read { db in
            if let until {
                return try Row.fetchAll(
                    db, sql: "SELECT * FROM objects WHERE bucket = ? AND key >= ? AND key < ? ORDER BY key LIMIT ?",
                    arguments: [bucket, Data(from), Data(until), limit]
                ).map(Self.object)
            }
            return try Row.fetchAll(
                db, sql: "SELECT * FROM objects WHERE bucket = ? AND key >= ? ORDER BY key LIMIT ?",
                arguments: [bucket, Data(from), limit]
            ).map(Self.object)
        }
    }

    // MARK: multipart

    public func createUpload(_ upload: UploadRecord) async throws {
        try await write { db in
            try Self.requireBucket(db, upload.bucket)
            try db.execute(
                sql: """
                    INSERT INTO uploads (upload_id, bucket, key, initiated, headers, checksum_algorithm, checksum_type, backend_upload, blob,
                                         seal, kek_version)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    upload.uploadID, upload.bucket, Data(upload.key.utf8), upload.initiated.timeIntervalSince1970,
                    try Self.json(upload.headers), upload.checksumAlgorithm?.rawValue, upload.checksumType,
                    upload.backendUpload, upload.blob, try upload.seal.map(Self.json), upload.seal?.key.version,
                ])
        }
    }

    public func upload(_ id: String) async throws -> UploadRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM uploads WHERE upload_id = ?", arguments: [id]).map(Self.upload)
        }
    }

    public func putPart(_ part: PartRecord) async throws -> PartRecord? {
        try await write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM uploads WHERE upload_id = ?", arguments: [part.uploadID]) != nil else {
                throw CatalogError.noSuchUpload
            }
            let old = try Row.fetchOne(
                db, sql: "SELECT * FROM parts WHERE upload_id = ? AND part_number = ?",
                arguments: [part.uploadID, part.partNumber]
            ).map(Self.part)
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO parts (upload_id, part_number, size, etag, last_modified, checksum_algorithm, checksum, blob)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    part.uploadID, part.partNumber, part.size, part.etag, part.lastModified.timeIntervalSince1970,
                    part.checksum?.algorithm.rawValue, part.checksum?.base64, part.blob,
                ])
            return old
        }
    }

    public func parts(uploadID: String) async throws -> [PartRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM parts WHERE upload_id = ? ORDER BY part_number", arguments: [uploadID]).map(Self.part)
        }
    }

    public func completeUpload(
        _ uploadID: String, record: ObjectRecord, mirror: MirrorCommit,
        precondition: @escaping @Sendable (ObjectRecord?) throws -> Void
    ) async throws -> (parts: [PartRecord], result: WriteResult) {
        try await write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM uploads WHERE upload_id = ?", arguments: [uploadID]) != nil else {
                throw CatalogError.noSuchUpload
            }
            try Self.requireBucket(db, record.bucket)
            let current = try Row.fetchOne(
                db, sql: "SELECT * FROM objects WHERE bucket = ? AND key = ?",
                arguments: [record.bucket, Data(record.key.utf8)]
            ).map(Self.object)
            try precondition(current)
            let parts = try Row.fetchAll(db, sql: "SELECT * FROM parts WHERE upload_id = ?", arguments: [uploadID]).map(Self.part)
            try db.execute(sql: "DELETE FROM parts WHERE upload_id = ?", arguments: [uploadID])
            try db.execute(sql: "DELETE FROM uploads WHERE upload_id = ?", arguments: [uploadID])
            return (parts, try Self.write(db, record, replacing: current, mirror: mirror))
        }
    }

    public func abortUpload(_ uploadID: String) async throws -> [PartRecord] {
        try await write { db in
            guard try Row.fetchOne(db, sql: "SELECT 1 FROM uploads WHERE upload_id = ?", arguments: [uploadID]) != nil else {
                throw CatalogError.noSuchUpload
            }
            let parts = try Row.fetchAll(db, sql: "SELECT * FROM parts WHERE upload_id = ?", arguments: [uploadID]).map(Self.part)
            try db.execute(sql: "DELETE FROM parts WHERE upload_id = ?", arguments: [uploadID])
            try db.execute(sql: "DELETE FROM uploads WHERE upload_id = ?", arguments: [uploadID])
            return parts
        }
    }

    public func uploads(bucket: String) async throws -> [UploadRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM uploads WHERE bucket = ? ORDER BY key, initiated, upload_id", arguments: [bucket]).map(
                Self.upload)
        }
    }

    public func referencedBlobs() async throws -> Set<String> {
        try await read { db in
            Set(
                try String.fetchAll(
                    db,
                    sql: """
                        SELECT blob FROM objects UNION ALL SELECT blob FROM versions WHERE marker = 0 UNION ALL SELECT blob FROM parts
                        UNION ALL SELECT blob FROM replicas UNION ALL SELECT blob FROM view_outputs
                        """))
        }
    }

    // MARK: rows

    static func requireBucket(_ db: Database, _ name: String) throws {
        guard try Row.fetchOne(db, sql: "SELECT 1 FROM buckets WHERE name = ?", arguments: [name]) != nil else {
            throw CatalogError.noSuchBucket
        }
    }

    /// Writes an object row under a new version and settles its mirroring.
    static func write(_ db: Database, _ record: ObjectRecord, replacing current: ObjectRecord?, mirror: MirrorCommit) throws -> WriteResult {
        var record = record
        record.version = try nextVersion(db, bucket: record.bucket, key: record.key, after: current?.version)
        var replaced = current?.blob
        var droppedCopy: String?
        if let state = try versioning(db, record.bucket) {
            record.versioned = state == .enabled
            (replaced, droppedCopy) = try supersede(
                db, current: current, bucket: record.bucket, key: record.key, state, overwriting: record.blob)
        }
        try upsert(db, record)
        let replica = try settleMirror(db, bucket: record.bucket, key: record.key, version: record.version, mirror: mirror) ?? droppedCopy
        return WriteResult(
            replaced: replaced.flatMap { $0 == record.blob ? nil : $0 }, replacedReplica: replica, version: record.version,
            versioned: record.versioned)
    }

    /// Writes an object row; an intent on its key is settled in the same transaction.
    static func upsert(_ db: Database, _ r: ObjectRecord) throws {
        try db.execute(sql: "DELETE FROM intents WHERE bucket = ? AND key = ?", arguments: [r.bucket, Data(r.key.utf8)])
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO objects (bucket, key, size, etag, last_modified, headers, checksum_algorithm, checksum,
                                                checksum_type, blob, parts_count, backend_etag, seal, kek_version, version, versioned,
                                                part_sizes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                r.bucket, Data(r.key.utf8), r.size, r.etag, r.lastModified.timeIntervalSince1970, try json(r.headers),
                r.checksum?.algorithm.rawValue, r.checksum?.base64, r.checksumType, r.blob, r.partsCount, r.backendETag,
                try r.seal.map(json), r.seal?.key.version, r.version, r.versioned, try r.partSizes.map(json),
            ])
    }

    static func json(_ value: some Encodable) throws -> String {
        String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }

    /// A seal that does not decode must not turn a sealed object into a plaintext one.
    static func seal(_ row: Row) throws -> SealRecord? {
        guard let text: String = row["seal"] else { return nil }
        do {
            return try JSONDecoder().decode(SealRecord.self, from: Data(text.utf8))
        } catch {
            throw CatalogError.corrupt("the seal of an object or upload does not decode: \(error)")
        }
    }

    static func headers(_ text: String) -> ObjectHeaders {
        (try? JSONDecoder().decode(ObjectHeaders.self, from: Data(text.utf8))) ?? ObjectHeaders()
    }

    static func checksum(_ row: Row) -> ChecksumValue? {
        guard let a: String = row["checksum_algorithm"], let alg = ChecksumAlgorithm(rawValue: a), let v: String = row["checksum"] else { return nil }
        return ChecksumValue(algorithm: alg, base64: v)
    }

    static func key(_ row: Row) -> String {
        let d: Data = row["key"]
        return String(decoding: d, as: UTF8.self)
    }

    static func bucket(_ row: Row) -> BucketRecord {
        let placement = (row["placement"] as String?).flatMap { try? JSONDecoder().decode(Placement.self, from: Data($0.utf8)) }
        let tags = (row["tags"] as String?).flatMap { try? JSONDecoder().decode([ObjectTag].self, from: Data($0.utf8)) }
        let lifecycle = (row["lifecycle"] as String?).flatMap { try? JSONDecoder().decode(LifecycleConfiguration.self, from: Data($0.utf8)) }
        return BucketRecord(
            name: row["name"], region: row["region"], created: Date(timeIntervalSince1970: row["created"]),
            placement: placement ?? .local, tags: tags, lifecycle: lifecycle,
            versioning: (row["versioning"] as String?).flatMap(VersioningState.init(rawValue:)),
            objectLock: (row["object_lock"] as String?).flatMap { try? JSONDecoder().decode(ObjectLockConfiguration.self, from: Data($0.utf8)) },
            sensitivity: (row["sensitivity"] as String?).flatMap(Sensitivity.init(rawValue:)) ?? .open)
    }

    static func object(_ row: Row) throws -> ObjectRecord {
        var r = ObjectRecord(
            bucket: row["bucket"], key: key(row), size: row["size"], etag: row["etag"],
            lastModified: Date(timeIntervalSince1970: row["last_modified"]), headers: headers(row["headers"]),
            checksum: checksum(row), checksumType: row["checksum_type"], blob: row["blob"], partsCount: row["parts_count"],
            backendETag: row["backend_etag"], seal: try seal(row)
        ).with(version: row["version"])
        r.versioned = (row["versioned"] as Bool?) ?? false
        r.partSizes = (row["part_sizes"] as String?).flatMap { try? JSONDecoder().decode([Int64].self, from: Data($0.utf8)) }
        r.deleteMarker = (row["marker"] as Bool?) ?? false
        return r
    }

    static func upload(_ row: Row) throws -> UploadRecord {
        UploadRecord(
            uploadID: row["upload_id"], bucket: row["bucket"], key: key(row),
            initiated: Date(timeIntervalSince1970: row["initiated"]), headers: headers(row["headers"]),
            checksumAlgorithm: (row["checksum_algorithm"] as String?).flatMap(ChecksumAlgorithm.init(rawValue:)),
            checksumType: row["checksum_type"], backendUpload: row["backend_upload"], blob: row["blob"], seal: try seal(row))
    }

    static func part(_ row: Row) -> PartRecord {
        PartRecord(
            uploadID: row["upload_id"], partNumber: row["part_number"], size: row["size"], etag: row["etag"],
            lastModified: Date(timeIntervalSince1970: row["last_modified"]), checksum: checksum(row), blob: row["blob"])
    }
}

/// How many transactions a catalog ran (see `SQLiteCatalog.transactions`).
public final class TransactionCounts: Sendable {
    private let reads = Atomic<Int>(0)
    private let writes = Atomic<Int>(0)

    public init() {}

    func countRead() { reads.add(1, ordering: .relaxed) }
    func countWrite() { writes.add(1, ordering: .relaxed) }

    public var snapshot: (reads: Int, writes: Int) { (reads.load(ordering: .relaxed), writes.load(ordering: .relaxed)) }
}
