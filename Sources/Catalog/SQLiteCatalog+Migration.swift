import Foundation
import GRDB
import Sealing

/// Migrations of datasets: their state, the target copies of objects and the replication
/// journal, each change in the same transaction as what it describes.
extension SQLiteCatalog {
    static func registerMigrationTables(_ m: inout DatabaseMigrator) {
        m.registerMigration("v5-migrations") { db in
            try db.execute(
                sql: """
                    ALTER TABLE objects ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
                    CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
                    INSERT INTO counters (name, value) VALUES ('version', 0);
                    CREATE TABLE migrations (
                        bucket TEXT PRIMARY KEY, source TEXT NOT NULL, target TEXT NOT NULL, mode TEXT NOT NULL, phase TEXT NOT NULL,
                        epoch INTEGER NOT NULL, bandwidth INTEGER, parallelism INTEGER NOT NULL, backfill TEXT NOT NULL,
                        started REAL NOT NULL, last_failure REAL, verified_at REAL, verified_clean INTEGER NOT NULL DEFAULT 0, report TEXT);
                    CREATE TABLE transitions (
                        id INTEGER PRIMARY KEY AUTOINCREMENT, bucket TEXT NOT NULL, from_phase TEXT NOT NULL, to_phase TEXT NOT NULL,
                        who TEXT NOT NULL, at REAL NOT NULL, why TEXT NOT NULL, forced INTEGER NOT NULL);
                    CREATE TABLE replicas (
                        bucket TEXT NOT NULL, key BLOB NOT NULL, version INTEGER NOT NULL, blob TEXT NOT NULL, backend_etag TEXT,
                        seal TEXT, md5 TEXT, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
                    CREATE TABLE journal (
                        bucket TEXT NOT NULL, key BLOB NOT NULL, version INTEGER NOT NULL, attempts INTEGER NOT NULL, next_try REAL NOT NULL,
                        last_error TEXT, dead INTEGER NOT NULL, created REAL NOT NULL, PRIMARY KEY (bucket, key)) WITHOUT ROWID;
                    CREATE INDEX journal_due ON journal (dead, next_try);
                    ALTER TABLE migrations ADD COLUMN copies INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE migrations ADD COLUMN copied_bytes INTEGER NOT NULL DEFAULT 0;
                    """)
        }
        m.registerMigration("v6-owners") { db in
            // Journal entries are claimed by a worker under a lease; intents name their writer.
            try db.execute(
                sql: """
                    ALTER TABLE journal ADD COLUMN owner TEXT;
                    ALTER TABLE journal ADD COLUMN lease_until REAL;
                    ALTER TABLE intents ADD COLUMN owner TEXT;
                    """)
        }
    }

    // MARK: versions and mirroring inside write transactions

    /// The next version of `key`: above every version the key's rows hold (the object's,
    /// `after`, its target copy's and its journal entry's), and at least the time in
    /// microseconds, so a key deleted and written again still moves forward. Nothing but the
    /// key's own rows is read or written: no counter row every writer of the catalog would lock
    /// (versions written before this scheme came from such a counter and are far smaller).
    static func nextVersion(_ db: Database, bucket: String, key: String, after current: Int64?) throws -> Int64 {
        let k = Data(key.utf8)
        let held = try Int64.fetchOne(
            db,
            sql: """
                SELECT MAX(v) FROM (SELECT version AS v FROM replicas WHERE bucket = ? AND key = ?
                                    UNION ALL SELECT version AS v FROM journal WHERE bucket = ? AND key = ?
                                    UNION ALL SELECT MAX(version) AS v FROM versions WHERE bucket = ? AND key = ?)
                """, arguments: [bucket, k, bucket, k, bucket, k])
        let micros = Int64((Date().timeIntervalSince1970 * 1_000_000).rounded(.down))
        return max(micros, (current ?? 0) + 1, (held ?? 0) + 1)
    }

    /// Settles the target side of a write or delete of `key` (whose new version is `version`,
    /// nil for a delete): records the sync copy, or journals the key. Returns the blob of a
    /// target copy no row refers to any more.
    static func settleMirror(_ db: Database, bucket: String, key: String, version: Int64?, mirror: MirrorCommit) throws -> String? {
        guard let m = try migration(db, bucket) else { return nil }
        let routed = mirror.epoch == nil || mirror.epoch == m.epoch
        if !routed && m.phase == .retired { throw CatalogError.routingChanged }
        guard m.phase.mirrors else { return nil }
        let k = Data(key.utf8)
        let old = try String.fetchOne(db, sql: "SELECT blob FROM replicas WHERE bucket = ? AND key = ?", arguments: [bucket, k])
        switch routed ? mirror.target : .pending {
        case .written(let r):
            var r = r
            r.version = version ?? 0
            try upsertReplica(db, r)
            try db.execute(sql: "DELETE FROM journal WHERE bucket = ? AND key = ?", arguments: [bucket, k])
            return old == r.blob ? nil : old
        case .removed:
            try db.execute(sql: "DELETE FROM replicas WHERE bucket = ? AND key = ?", arguments: [bucket, k])
            try db.execute(sql: "DELETE FROM journal WHERE bucket = ? AND key = ?", arguments: [bucket, k])
            return old
        case .pending:
            try journal(db, bucket: bucket, key: k, version: try version ?? nextVersion(db, bucket: bucket, key: key, after: nil), now: Date())
            return nil
        }
    }

    /// Queues a key; a key already queued is due again at once, and keeps its first queue time
    /// (the age of the oldest entry is how far the target lags).
    static func journal(_ db: Database, bucket: String, key: Data, version: Int64, now: Date) throws {
        try db.execute(
            sql: """
                INSERT INTO journal (bucket, key, version, attempts, next_try, last_error, dead, created) VALUES (?, ?, ?, 0, ?, NULL, 0, ?)
                ON CONFLICT (bucket, key) DO UPDATE SET version = excluded.version, attempts = 0, next_try = excluded.next_try,
                                                        last_error = NULL, dead = 0, owner = NULL, lease_until = NULL
                """, arguments: [bucket, key, version, now.timeIntervalSince1970, now.timeIntervalSince1970])
    }

    static func upsertReplica(_ db: Database, _ r: ReplicaRecord) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO replicas (bucket, key, version, blob, backend_etag, seal, md5) VALUES (?, ?, ?, ?, ?, ?, ?)
                """, arguments: [r.bucket, Data(r.key.utf8), r.version, r.blob, r.backendETag, try r.seal.map(json), r.md5])
    }

    // MARK: migrations

    public func migration(_ bucket: String) async throws -> MigrationRecord? {
        try await read { db in try Self.migration(db, bucket) }
    }

    public func migrations() async throws -> [MigrationRecord] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM migrations ORDER BY bucket").map(Self.migration)
        }
    }

    public func startMigration(_ record: MigrationRecord, transition: PhaseTransition) async throws -> MigrationRecord {
        try await write { db in
            try Self.requireBucket(db, record.bucket)
            var record = record
            if let existing = try Self.migration(db, record.bucket) {
                guard existing.phase == .legacy || existing.phase == .retired else {
                    throw CatalogError.phase("dataset '\(record.bucket)' is already migrating (phase \(existing.phase.rawValue))")
                }
                record.epoch = existing.epoch + 1
            }
            record.phase = .mirroring
            for table in ["replicas", "journal", "version_copies"] {
                try db.execute(sql: "DELETE FROM \(table) WHERE bucket = ?", arguments: [record.bucket])
            }
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO migrations (bucket, source, target, mode, phase, epoch, bandwidth, parallelism, backfill, started,
                                                      last_failure, verified_at, verified_clean, report)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, 0, NULL)
                    """,
                arguments: [
                    record.bucket, try Self.json(record.source), try Self.json(record.target), record.mode.rawValue,
                    record.phase.rawValue, record.epoch, record.bandwidth, record.parallelism, try Self.json(record.backfill),
                    record.started.timeIntervalSince1970,
                ])
            try Self.insert(db, transition)
            return record
        }
    }

    public func changePhase(_ t: PhaseTransition) async throws -> MigrationRecord {
        let changed = try await write { db in
            guard let m = try Self.migration(db, t.bucket) else { throw CatalogError.phase("dataset '\(t.bucket)' has no migration") }
            guard m.phase == t.from else {
                throw CatalogError.phase("dataset '\(t.bucket)' is in phase \(m.phase.rawValue), not \(t.from.rawValue)")
            }
            var epoch = m.epoch
            switch t.to {
            case .legacy:
                for table in ["replicas", "journal", "version_copies"] {
                    try db.execute(sql: "DELETE FROM \(table) WHERE bucket = ?", arguments: [t.bucket])
                }
                epoch += 1
            case .retired:
                try Self.retire(db, m)
                epoch += 1
            default: break
            }
            try db.execute(sql: "UPDATE migrations SET phase = ?, epoch = ? WHERE bucket = ?", arguments: [t.to.rawValue, epoch, t.bucket])
            try Self.insert(db, t)
            return try Self.migration(db, t.bucket)
        }
        if t.to == .retired { bucketCache.withLockedValue { $0 = ($0.generation + 1, nil, .now) } }
        guard let changed else { throw CatalogError.noSuchBucket }
        return changed
    }

    /// The target's copies become the objects: every object must have a current copy, nothing
    /// may be queued, and no multipart upload may be in progress on the source.
    static func retire(_ db: Database, _ m: MigrationRecord) throws {
        let stale =
            try Int.fetchOne(
                db,
                sql: """
                    SELECT COUNT(*) FROM objects o LEFT JOIN replicas r ON r.bucket = o.bucket AND r.key = o.key
                    WHERE o.bucket = ? AND (r.version IS NULL OR r.version != o.version)
                    """, arguments: [m.bucket]) ?? 0
        let queued = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM journal WHERE bucket = ?", arguments: [m.bucket]) ?? 0
        let uploads = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM uploads WHERE bucket = ?", arguments: [m.bucket]) ?? 0
        let versions = try versionsWithoutCopy(db, m)
        guard stale == 0, queued == 0, uploads == 0, versions == 0 else {
            throw CatalogError.notReady(
                "cannot retire the source of '\(m.bucket)' yet: \(stale) objects without a current target copy, \(queued) queued, \(uploads) "
                    + "uploads in progress" + (versions > 0 ? ", \(versions) noncurrent versions without a target copy" : "")
            )
        }
        try db.execute(
            sql: """
                UPDATE objects SET
                    blob = (SELECT r.blob FROM replicas r WHERE r.bucket = objects.bucket AND r.key = objects.key),
                    backend_etag = (SELECT r.backend_etag FROM replicas r WHERE r.bucket = objects.bucket AND r.key = objects.key),
                    seal = (SELECT r.seal FROM replicas r WHERE r.bucket = objects.bucket AND r.key = objects.key)
                WHERE bucket = ?
                """, arguments: [m.bucket])
        for row in try Row.fetchAll(db, sql: "SELECT key, seal FROM objects WHERE bucket = ?", arguments: [m.bucket]) {
            let version = try seal(row)?.key.version
            try db.execute(
                sql: "UPDATE objects SET kek_version = ? WHERE bucket = ? AND key = ?",
                arguments: [version, m.bucket, row["key"] as Data])
        }
        try db.execute(sql: "DELETE FROM replicas WHERE bucket = ?", arguments: [m.bucket])
        try swapVersionCopies(db, m)
        try db.execute(sql: "UPDATE buckets SET placement = ? WHERE name = ?", arguments: [try json(m.target), m.bucket])
    }

    public func transitions(bucket: String) async throws -> [PhaseTransition] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT * FROM transitions WHERE bucket = ? ORDER BY id", arguments: [bucket]).map { row in
                PhaseTransition(
                    bucket: row["bucket"], from: Phase(rawValue: row["from_phase"]) ?? .legacy,
                    to: Phase(rawValue: row["to_phase"]) ?? .legacy, who: row["who"],
                    at: Date(timeIntervalSince1970: row["at"]), why: row["why"], forced: row["forced"])
            }
        }
    }

    public func updateBackfill(bucket: String, epoch: Int, _ state: BackfillState) async throws {
        try await writeRelaxed { db in
            try db.execute(
                sql: "UPDATE migrations SET backfill = ? WHERE bucket = ? AND epoch = ?", arguments: [try Self.json(state), bucket, epoch])
        }
    }

    public func recordVerification(bucket: String, at: Date, clean: Bool, report: String) async throws {
        try await write { db in
            try db.execute(
                sql: "UPDATE migrations SET verified_at = ?, verified_clean = ?, report = ? WHERE bucket = ?",
                arguments: [at.timeIntervalSince1970, clean, report, bucket])
        }
    }

    public func recordReplicationFailure(bucket: String, at: Date) async throws {
        try await write { db in
            try db.execute(sql: "UPDATE migrations SET last_failure = ? WHERE bucket = ?", arguments: [at.timeIntervalSince1970, bucket])
        }
    }

    public func tuneMigration(bucket: String, mode: WriteMode?, bandwidth: Int64??, parallelism: Int?) async throws {
        try await write { db in
            if let mode { try db.execute(sql: "UPDATE migrations SET mode = ? WHERE bucket = ?", arguments: [mode.rawValue, bucket]) }
            if let bandwidth { try db.execute(sql: "UPDATE migrations SET bandwidth = ? WHERE bucket = ?", arguments: [bandwidth, bucket]) }
            if let parallelism { try db.execute(sql: "UPDATE migrations SET parallelism = ? WHERE bucket = ?", arguments: [parallelism, bucket]) }
        }
    }

    static func insert(_ db: Database, _ t: PhaseTransition) throws {
        try db.execute(
            sql: "INSERT INTO transitions (bucket, from_phase, to_phase, who, at, why, forced) VALUES (?, ?, ?, ?, ?, ?, ?)",
            arguments: [t.bucket, t.from.rawValue, t.to.rawValue, t.who, t.at.timeIntervalSince1970, t.why, t.forced])
    }

    static func migration(_ db: Database, _ bucket: String) throws -> MigrationRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM migrations WHERE bucket = ?", arguments: [bucket]).map(migration)
    }

    static func migration(_ row: Row) throws -> MigrationRecord {
        func decode<T: Decodable>(_ type: T.Type, _ column: String) throws -> T {
            guard let text: String = row[column], let value = try? JSONDecoder().decode(T.self, from: Data(text.utf8)) else {
                throw CatalogError.corrupt("migration column \(column) does not decode")
            }
            return value
        }
        guard let mode = WriteMode(rawValue: row["mode"]), let phase = Phase(rawValue: row["phase"]) else {
            throw CatalogError.corrupt("migration mode or phase unknown")
        }
        var backfill = try decode(BackfillState.self, "backfill")
        (backfill.copied, backfill.copiedBytes) = (row["copies"], row["copied_bytes"])
        return MigrationRecord(
            bucket: row["bucket"], source: try decode(Placement.self, "source"), target: try decode(Placement.self, "target"),
            mode: mode, phase: phase, epoch: row["epoch"], bandwidth: row["bandwidth"], parallelism: row["parallelism"],
            backfill: backfill, started: Date(timeIntervalSince1970: row["started"]),
            lastFailure: (row["last_failure"] as Double?).map(Date.init(timeIntervalSince1970:)),
            verifiedAt: (row["verified_at"] as Double?).map(Date.init(timeIntervalSince1970:)),
            verifiedClean: row["verified_clean"], report: row["report"])
    }

    // MARK: target copies
    // Copies, journal progress and backfill cursors are written relaxed (`writeRelaxed`): a
    // power loss can only make a copy be made again; the source stays authoritative until
    // retirement, whose transaction is a full one.

    public func replica(bucket: String, key: String) async throws -> ReplicaRecord? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM replicas WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)]).map(Self.replica)
        }
    }

    public func objectsWithReplicas(bucket: String, from: [UInt8], limit: Int) async throws -> [(ObjectRecord, ReplicaRecord?)] {
        try await read { db in
            let objects = try Row.fetchAll(
                db, sql: "SELECT * FROM objects WHERE bucket = ? AND key >= ? ORDER BY key LIMIT ?",
                arguments: [bucket, Data(from), limit]
            ).map(Self.object)
            guard let first = objects.first, let last = objects.last else { return [] }
            let replicas = try Row.fetchAll(
                db, sql: "SELECT * FROM replicas WHERE bucket = ? AND key >= ? AND key <= ?",
                arguments: [bucket, Data(first.key.utf8), Data(last.key.utf8)]
            ).map(Self.replica)
            let byKey = Dictionary(replicas.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
            return objects.map { ($0, byKey[$0.key]) }
        }
    }

    public func commitReplica(_ replica: ReplicaRecord, size: Int64?) async throws -> (committed: Bool, replaced: String?) {
        try await writeRelaxed { db in
            let k = Data(replica.key.utf8)
            guard let m = try Self.migration(db, replica.bucket), m.phase.mirrors,
                try Int64.fetchOne(db, sql: "SELECT version FROM objects WHERE bucket = ? AND key = ?", arguments: [replica.bucket, k])
                    == replica.version
            else { return (false, nil) }
            let old = try String.fetchOne(db, sql: "SELECT blob FROM replicas WHERE bucket = ? AND key = ?", arguments: [replica.bucket, k])
            try Self.upsertReplica(db, replica)
            if let size {
                try db.execute(
                    sql: "UPDATE migrations SET copies = copies + 1, copied_bytes = copied_bytes + ? WHERE bucket = ?",
                    arguments: [size, replica.bucket])
            }
            return (true, old == replica.blob ? nil : old)
        }
    }

    public func dropReplica(bucket: String, key: String, version: Int64?) async throws -> Bool {
        try await write { db in
            if let version {
                try db.execute(
                    sql: "DELETE FROM replicas WHERE bucket = ? AND key = ? AND version = ?", arguments: [bucket, Data(key.utf8), version])
            } else {
                try db.execute(sql: "DELETE FROM replicas WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)])
            }
            return db.changesCount > 0
        }
    }

    public func replicaBlobs(bucket: String) async throws -> Set<String> {
        try await read { db in
            Set(
                try String.fetchAll(
                    db, sql: "SELECT blob FROM replicas WHERE bucket = ? UNION ALL SELECT blob FROM version_copies WHERE bucket = ?",
                    arguments: [bucket, bucket]))
        }
    }

    static func replica(_ row: Row) throws -> ReplicaRecord {
        ReplicaRecord(
            bucket: row["bucket"], key: key(row), version: row["version"], blob: row["blob"], backendETag: row["backend_etag"],
            seal: try seal(row), md5: row["md5"])
    }

    // MARK: journal

    public func enqueue(bucket: String, key: String, now: Date) async throws {
        try await write { db in
            guard let m = try Self.migration(db, bucket), m.phase.mirrors else { return }
            let current = try Int64.fetchOne(
                db, sql: "SELECT version FROM objects WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)])
            try Self.journal(
                db, bucket: bucket, key: Data(key.utf8), version: try Self.nextVersion(db, bucket: bucket, key: key, after: current),
                now: now)
        }
    }

    public func dueJournal(now: Date, limit: Int) async throws -> [JournalEntry] {
        try await read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM journal WHERE dead = 0 AND next_try <= ? ORDER BY next_try LIMIT ?",
                arguments: [now.timeIntervalSince1970, limit]
            ).map(Self.entry)
        }
    }

    public func claim(owner: String, lease: TimeInterval, limit: Int, now: Date) async throws -> [JournalEntry] {
        let t = now.timeIntervalSince1970
        let claimable = "dead = 0 AND next_try <= ? AND (owner IS NULL OR lease_until < ?)"
        // Workers poll an empty queue most of the time: a read answers that, without a write
        // transaction (and without waiting for the writer's lock).
        guard try await read({ db in try Bool.fetchOne(db, sql: "SELECT 1 FROM journal WHERE \(claimable) LIMIT 1", arguments: [t, t]) != nil })
        else { return [] }
        return try await writeRelaxed { db in
            let due = try Row.fetchAll(
                db, sql: "SELECT * FROM journal WHERE \(claimable) ORDER BY next_try LIMIT ?",
                arguments: [t, t, limit]
            ).map(Self.entry)
            for e in due {
                try db.execute(
                    sql: "UPDATE journal SET owner = ?, lease_until = ? WHERE bucket = ? AND key = ?",
                    arguments: [owner, t + lease, e.bucket, Data(e.key.utf8)])
            }
            return due.map {
                var e = $0
                e.owner = owner
                e.leaseUntil = now.addingTimeInterval(lease)
                return e
            }
        }
    }

    public func finish(_ e: JournalEntry, owner: String) async throws -> ClaimOutcome {
        try await writeRelaxed { db in
            let k = Data(e.key.utf8)
            try db.execute(
                sql: "DELETE FROM journal WHERE bucket = ? AND key = ? AND version = ? AND owner = ?",
                arguments: [e.bucket, k, e.version, owner])
            return db.changesCount > 0 ? .done : try Self.fenced(db, e, owner: owner)
        }
    }

    public func fail(_ e: JournalEntry, owner: String, error: String, nextTry: Date, dead: Bool) async throws -> ClaimOutcome {
        try await writeRelaxed { db in
            try db.execute(
                sql: """
                    UPDATE journal SET attempts = attempts + 1, next_try = ?, last_error = ?, dead = ?, owner = NULL, lease_until = NULL
                    WHERE bucket = ? AND key = ? AND version = ? AND owner = ?
                    """, arguments: [nextTry.timeIntervalSince1970, error, dead, e.bucket, Data(e.key.utf8), e.version, owner])
            guard db.changesCount > 0 else { return try Self.fenced(db, e, owner: owner) }
            if dead {
                try db.execute(sql: "UPDATE migrations SET last_failure = ? WHERE bucket = ?", arguments: [Date().timeIntervalSince1970, e.bucket])
            }
            return .done
        }
    }

    public func release(_ e: JournalEntry, owner: String) async throws -> ClaimOutcome {
        try await writeRelaxed { db in
            try db.execute(
                sql: "UPDATE journal SET owner = NULL, lease_until = NULL WHERE bucket = ? AND key = ? AND version = ? AND owner = ?",
                arguments: [e.bucket, Data(e.key.utf8), e.version, owner])
            return db.changesCount > 0 ? .done : try Self.fenced(db, e, owner: owner)
        }
    }

    public func releaseClaims(ownerPrefix: String) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: "UPDATE journal SET owner = NULL, lease_until = NULL WHERE substr(owner, 1, ?) = ?",
                arguments: [ownerPrefix.unicodeScalars.count, ownerPrefix])
            return db.changesCount
        }
    }

    /// Why a fenced operation on `e` changed nothing: the key was queued again by a newer
    /// write (or the entry is gone), or someone else holds it now.
    static func fenced(_ db: Database, _ e: JournalEntry, owner: String) throws -> ClaimOutcome {
        let row = try Row.fetchOne(
            db, sql: "SELECT version, owner FROM journal WHERE bucket = ? AND key = ?", arguments: [e.bucket, Data(e.key.utf8)])
        guard let row, row["version"] as Int64 == e.version else { return .superseded }
        return .lost
    }

    public func finishJournal(_ e: JournalEntry) async throws {
        try await writeRelaxed { db in
            try db.execute(
                sql: "DELETE FROM journal WHERE bucket = ? AND key = ? AND version = ?", arguments: [e.bucket, Data(e.key.utf8), e.version])
        }
    }

    public func failJournal(_ e: JournalEntry, error: String, nextTry: Date, dead: Bool) async throws {
        try await writeRelaxed { db in
            try db.execute(
                sql: """
                    UPDATE journal SET attempts = attempts + 1, next_try = ?, last_error = ?, dead = ? WHERE bucket = ? AND key = ? AND version = ?
                    """, arguments: [nextTry.timeIntervalSince1970, error, dead, e.bucket, Data(e.key.utf8), e.version])
            if dead && db.changesCount > 0 {
                try db.execute(sql: "UPDATE migrations SET last_failure = ? WHERE bucket = ?", arguments: [Date().timeIntervalSince1970, e.bucket])
            }
        }
    }

    public func journal(bucket: String, key: String) async throws -> JournalEntry? {
        try await read { db in
            try Row.fetchOne(db, sql: "SELECT * FROM journal WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)]).map(Self.entry)
        }
    }

    public func journalStats(bucket: String) async throws -> JournalStats {
        try await read { db in
            let row = try Row.fetchOne(
                db,
                sql: """
                    SELECT COALESCE(SUM(dead = 0), 0) AS pending, COALESCE(SUM(dead = 1), 0) AS dead,
                           MIN(CASE WHEN dead = 0 THEN created END) AS oldest, COALESCE(SUM(attempts > 0), 0) AS failing
                    FROM journal WHERE bucket = ?
                    """, arguments: [bucket])
            let failing: Int = row?["failing"] ?? 0
            let worst =
                failing == 0
                ? nil
                : try Row.fetchOne(
                    db,
                    sql: """
                        SELECT * FROM journal WHERE bucket = ? AND attempts > 0 ORDER BY dead DESC, attempts DESC, key LIMIT 1
                        """, arguments: [bucket]
                ).map { r in
                    JournalFailure(key: Self.key(r), attempts: r["attempts"], dead: r["dead"], error: r["last_error"] ?? "")
                }
            return JournalStats(
                pending: row?["pending"] ?? 0, dead: row?["dead"] ?? 0,
                oldestPending: (row?["oldest"] as Double?).map(Date.init(timeIntervalSince1970:)), failing: failing, worst: worst)
        }
    }

    public func retryDead(bucket: String, now: Date) async throws -> Int {
        try await write { db in
            try db.execute(
                sql: "UPDATE journal SET dead = 0, attempts = 0, next_try = ? WHERE bucket = ? AND dead = 1",
                arguments: [now.timeIntervalSince1970, bucket])
            return db.changesCount
        }
    }

    static func entry(_ row: Row) -> JournalEntry {
        JournalEntry(
            bucket: row["bucket"], key: key(row), version: row["version"], attempts: row["attempts"],
            nextTry: Date(timeIntervalSince1970: row["next_try"]), lastError: row["last_error"], dead: row["dead"],
            created: Date(timeIntervalSince1970: row["created"]), owner: row["owner"],
            leaseUntil: (row["lease_until"] as Double?).map(Date.init(timeIntervalSince1970:)))
    }
}
