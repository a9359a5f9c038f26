import Foundation
import GRDB
import S3Protocol

/// Bucket versioning in the embedded catalog. `objects` keeps each key's current object, so
/// listings, reads without a version, migrations and rotation see what they saw before;
/// `versions` keeps the noncurrent versions and the delete markers, each with its own blob.
/// A key's versions are ordered by the catalog's version number (increasing for the key).
extension SQLiteCatalog {
    static func registerVersionTables(_ m: inout DatabaseMigrator) {
        m.registerMigration("v9-versions") { db in
            // `versioned`: written while versioning was enabled (its S3 id is its own, not
            // `null`). `versions` has the columns of `objects` and `marker`; a marker's blob is
            // empty. Its primary key orders a key's versions newest first, as listings read them.
            // `part_sizes`: a multipart object's part sizes as JSON (`[Int64]`).
            try db.execute(
                sql: """
                    ALTER TABLE buckets ADD COLUMN versioning TEXT;
                    ALTER TABLE buckets ADD COLUMN object_lock TEXT;
                    ALTER TABLE objects ADD COLUMN versioned INTEGER NOT NULL DEFAULT 0;
                    ALTER TABLE objects ADD COLUMN part_sizes TEXT;
                    CREATE TABLE versions (
                        bucket TEXT NOT NULL, key BLOB NOT NULL, version INTEGER NOT NULL, versioned INTEGER NOT NULL,
                        marker INTEGER NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, last_modified REAL NOT NULL,
                        headers TEXT NOT NULL, checksum_algorithm TEXT, checksum TEXT, checksum_type TEXT, blob TEXT NOT NULL,
                        parts_count INTEGER, backend_etag TEXT, seal TEXT, kek_version INTEGER, part_sizes TEXT,
                        PRIMARY KEY (bucket, key, version DESC)) WITHOUT ROWID;
                    CREATE INDEX versions_by_kek ON versions (bucket, kek_version) WHERE kek_version IS NOT NULL;
                    """)
        }
    }

    public func setBucketVersioning(_ name: String, _ state: VersioningState) async throws {
        defer { bucketCache.withLockedValue { $0 = ($0.generation + 1, nil, .now) } }
        try await write { db in
            try Self.requireBucket(db, name)
            if let m = try Self.migration(db, name), m.phase != .legacy, m.phase != .retired {
                throw CatalogError.phase(
                    "dataset '\(name)' is migrating (phase \(m.phase.rawValue)): its versioning cannot change until it is retired")
            }
            try db.execute(sql: "UPDATE buckets SET versioning = ? WHERE name = ?", arguments: [state.rawValue, name])
        }
    }

    static func versioning(_ db: Database, _ bucket: String) throws -> VersioningState? {
        try String.fetchOne(db, sql: "SELECT versioning FROM buckets WHERE name = ?", arguments: [bucket]).flatMap(VersioningState.init(rawValue:))
    }

    /// Keeps `record` as a noncurrent version (or a delete marker).
    static func archive(_ db: Database, _ r: ObjectRecord) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO versions (bucket, key, version, versioned, marker, size, etag, last_modified, headers,
                                                 checksum_algorithm, checksum, checksum_type, blob, parts_count, backend_etag, seal,
                                                 kek_version, part_sizes)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """,
            arguments: [
                r.bucket, Data(r.key.utf8), r.version, r.versioned, r.deleteMarker, r.size, r.etag, r.lastModified.timeIntervalSince1970,
                try json(r.headers), r.checksum?.algorithm.rawValue, r.checksum?.base64, r.checksumType, r.blob, r.partsCount,
                r.backendETag, try r.seal.map(json), r.seal?.key.version, try r.partSizes.map(json),
            ])
    }

    static func versionCondition(_ v: VersionID) -> (sql: String, arguments: StatementArguments) {
        switch v {
        case .null: return ("versioned = 0", [])
        case .id(let n): return ("versioned = 1 AND version = ?", [n])
        }
    }

    /// A noncurrent version or marker of `key`.
    static func storedVersion(_ db: Database, bucket: String, key: String, _ v: VersionID) throws -> ObjectRecord? {
        let c = versionCondition(v)
        return try Row.fetchOne(
            db, sql: "SELECT * FROM versions WHERE bucket = ? AND key = ? AND \(c.sql) LIMIT 1",
            arguments: [bucket, Data(key.utf8)] + c.arguments
        ).map(object)
    }

    static func current(_ db: Database, bucket: String, key: String) throws -> ObjectRecord? {
        try Row.fetchOne(db, sql: "SELECT * FROM objects WHERE bucket = ? AND key = ?", arguments: [bucket, Data(key.utf8)]).map(object)
    }

    /// The newest noncurrent version or marker of `key`.
    static func newestStored(_ db: Database, bucket: String, key: String) throws -> ObjectRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM versions WHERE bucket = ? AND key = ? ORDER BY version DESC LIMIT 1", arguments: [bucket, Data(key.utf8)]
        ).map(object)
    }

    static func removeStored(_ db: Database, _ r: ObjectRecord) throws {
        try db.execute(
            sql: "DELETE FROM versions WHERE bucket = ? AND key = ? AND version = ?", arguments: [r.bucket, Data(r.key.utf8), r.version])
    }

    /// What a write or delete of `key` does to its existing versions on a versioned dataset:
    /// the current object is kept as a noncurrent version, unless the new `null` version of a
    /// suspended dataset replaces it; on a suspended dataset any other `null` version goes too.
    /// Returns the blob no version refers to any more, and the migration target's copy of a
    /// noncurrent version removed (an archived version takes its target copy along). A current
    /// object whose blob the write `overwriting` has replaced in place is not kept: its bytes
    /// are gone (an in-place write whose placement did not copy it aside first, because
    /// versioning was turned on meanwhile: S3 too lets a change of versioning take a while).
    static func supersede(
        _ db: Database, current: ObjectRecord?, bucket: String, key: String, _ state: VersioningState, overwriting: String? = nil
    ) throws -> (blob: String?, copy: String?) {
        var dropped: String?
        var copy: String?
        if let current {
            if (state == .enabled || current.versioned) && current.blob != overwriting {
                try archive(db, current)
                try keepCopy(db, of: current)
            } else {
                dropped = current.blob
            }
        }
        if state == .suspended, let null = try storedVersion(db, bucket: bucket, key: key, .null) {
            try removeStored(db, null)
            copy = try dropCopy(db, of: null)
            if !null.deleteMarker { dropped = dropped ?? null.blob }
        }
        return (dropped, copy)
    }

    /// A delete of the current object on a versioned dataset: a delete marker becomes latest.
    static func deleteVersioned(
        _ db: Database, bucket: String, key: String, ifVersion: Int64?, _ state: VersioningState
    ) throws -> DeleteResult {
        let current = try current(db, bucket: bucket, key: key)
        if let ifVersion, current?.version != ifVersion { return DeleteResult() }
        let k = Data(key.utf8)
        let version = try nextVersion(db, bucket: bucket, key: key, after: current?.version)
        var (dropped, copy) = try supersede(db, current: current, bucket: bucket, key: key, state)
        if let current, dropped == current.blob { copy = try dropCurrentCopy(db, of: current) ?? copy }
        try db.execute(sql: "DELETE FROM objects WHERE bucket = ? AND key = ?", arguments: [bucket, k])
        try db.execute(sql: "DELETE FROM intents WHERE bucket = ? AND key = ?", arguments: [bucket, k])
        var marker = ObjectRecord(
            bucket: bucket, key: key, size: 0, etag: "", lastModified: Date(), headers: ObjectHeaders(), checksum: nil, checksumType: nil,
            blob: "", partsCount: nil)
        marker.version = version
        marker.versioned = state == .enabled
        marker.deleteMarker = true
        try archive(db, marker)
        return DeleteResult(blob: dropped, replica: copy, marker: marker)
    }

    public func relocate(bucket: String, key: String, version: Int64, blob: String, backendETag: String?) async throws -> Bool {
        try await writeRelaxed { db in
            try db.execute(
                sql: "UPDATE objects SET blob = ?, backend_etag = ? WHERE bucket = ? AND key = ? AND version = ?",
                arguments: [blob, backendETag, bucket, Data(key.utf8), version])
            return db.changesCount > 0
        }
    }

    public func version(bucket: String, key: String, version: VersionID) async throws -> ObjectRecord? {
        try await read { db in
            if let c = try Self.current(db, bucket: bucket, key: key), c.versionID == version { return c }
            return try Self.storedVersion(db, bucket: bucket, key: key, version)
        }
    }

    public func deleteVersion(
        bucket: String, key: String, version: VersionID, allowed: @escaping @Sendable (ObjectRecord) throws -> Void
    ) async throws -> VersionDeletion {
        try await write { db in
            try Self.requireBucket(db, bucket)
            let k = Data(key.utf8)
            let current = try Self.current(db, bucket: bucket, key: key)
            let removed: ObjectRecord
            let copy: String?
            if let current, current.versionID == version {
                try allowed(current)
                removed = current
                try db.execute(sql: "DELETE FROM objects WHERE bucket = ? AND key = ?", arguments: [bucket, k])
                try db.execute(sql: "DELETE FROM intents WHERE bucket = ? AND key = ?", arguments: [bucket, k])
                copy = try Self.dropCurrentCopy(db, of: current)
            } else {
                guard let stored = try Self.storedVersion(db, bucket: bucket, key: key, version) else { return VersionDeletion() }
                try allowed(stored)
                removed = stored
                try Self.removeStored(db, stored)
                copy = try Self.dropCopy(db, of: stored)
            }
            let done = VersionDeletion(removed: removed, blob: removed.deleteMarker ? nil : removed.blob, replica: copy)
            guard try Self.current(db, bucket: bucket, key: key) == nil else { return done }
            // The newest remaining version is the key's latest: an object becomes current again.
            if let newest = try Self.newestStored(db, bucket: bucket, key: key), !newest.deleteMarker {
                try Self.removeStored(db, newest)
                try Self.upsert(db, newest)
                try Self.promoteCopy(db, of: newest)
            }
            return done
        }
    }

    public func setBucketObjectLock(_ name: String, _ configuration: ObjectLockConfiguration) async throws {
        try await setBucketColumn(name, "object_lock", try Self.json(configuration))
    }

    public func updateLock(
        bucket: String, key: String, version: Int64, _ change: @escaping @Sendable (ObjectRecord) throws -> ObjectLockState
    ) async throws -> ObjectRecord? {
        try await updateHeaders(bucket: bucket, key: key, version: version) { r in r.headers.lock = try change(r) }
    }

    /// Rewrites the catalog-only headers (tags, lock) of `key`'s version `version`, current or
    /// noncurrent (never a marker), in one transaction; nil when there is no such version.
    func updateHeaders(
        bucket: String, key: String, version: Int64, _ change: @escaping @Sendable (inout ObjectRecord) throws -> Void
    ) async throws -> ObjectRecord? {
        try await write { db in
            let k = Data(key.utf8)
            for table in ["objects", "versions"] {
                guard
                    var record = try Row.fetchOne(
                        db, sql: "SELECT * FROM \(table) WHERE bucket = ? AND key = ? AND version = ?", arguments: [bucket, k, version]
                    ).map(Self.object), !record.deleteMarker
                else { continue }
                try change(&record)
                try db.execute(
                    sql: "UPDATE \(table) SET headers = ? WHERE bucket = ? AND key = ? AND version = ?",
                    arguments: [try Self.json(record.headers), bucket, k, version])
                return record
            }
            return nil
        }
    }

    public func versions(bucket: String, from: VersionCursor, until: [UInt8]?, limit: Int) async throws -> [ListedVersion] {
        try await read { db in
            let k = Data(from.key)
            let end = until.map { (" AND key < ?", StatementArguments([Data($0)])) } ?? ("", StatementArguments())
            // Only a marker can be a latest row of `versions` (a latest object is current); CASE
            // keeps the lookups to markers.
            let latest = """
                CASE WHEN marker = 1 THEN (NOT EXISTS (SELECT 1 FROM objects o WHERE o.bucket = versions.bucket AND o.key = versions.key)
                 AND NOT EXISTS (SELECT 1 FROM versions w WHERE w.bucket = versions.bucket AND w.key = versions.key
                                 AND w.version > versions.version)) ELSE 0 END AS latest
                """
            var rows: [ListedVersion] = []
            // Rows of one table beyond the other's last fetched key cannot be in the result when
            // the other filled its limit: `bound` keeps them from being read and decoded.
            var bound: Data?
            func fetch(_ table: String, _ condition: String, _ arguments: StatementArguments, order: String) throws {
                let select = table == "objects" ? "SELECT *, 1 AS latest FROM objects" : "SELECT *, \(latest) FROM versions"
                let upTo = bound.map { (" AND key <= ?", StatementArguments([$0])) } ?? ("", StatementArguments())
                let fetched = try Row.fetchAll(
                    db, sql: "\(select) WHERE bucket = ? AND \(condition)\(end.0)\(upTo.0) ORDER BY \(order) LIMIT ?",
                    arguments: [bucket] + arguments + end.1 + upTo.1 + [limit])
                for row in fetched { rows.append(ListedVersion(record: try Self.object(row), isLatest: row["latest"])) }
                if fetched.count == limit, let last = rows.last { bound = Data(last.record.key.utf8) }
            }
            if let below = from.below {
                // The rest of the cursor's key, then the keys after it.
                try fetch("objects", "key = ? AND version < ?", [k, below], order: "key")
                try fetch("versions", "key = ? AND version < ?", [k, below], order: "key, version DESC")
                try fetch("versions", "key > ?", [k], order: "key, version DESC")
                try fetch("objects", "key > ?", [k], order: "key")
            } else {
                try fetch("versions", "key >= ?", [k], order: "key, version DESC")
                try fetch("objects", "key >= ?", [k], order: "key")
            }
            rows.sort { a, b in
                let (ka, kb) = (a.record.key.utf8, b.record.key.utf8)
                return ka.elementsEqual(kb) ? a.record.version > b.record.version : ka.lexicographicallyPrecedes(kb)
            }
            return Array(rows.prefix(limit))
        }
    }
}
