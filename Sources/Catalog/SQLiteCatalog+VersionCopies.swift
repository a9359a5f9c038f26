import Foundation
import GRDB

/// Noncurrent versions through a migration. The target copy of the current object is its
/// `replicas` row, as for any dataset; once the object becomes noncurrent, that copy moves to
/// `version_copies` with it, and versions that became noncurrent before they were copied are
/// copied by the version backfill (`uncopiedVersions`, `commitVersionCopy`). Retirement needs a
/// copy of every version and swaps them in; an abort forgets them. Noncurrent versions never
/// change their bytes, so a copy is recorded only while its version still exists.
extension SQLiteCatalog {
    static func registerVersionCopyTables(_ m: inout DatabaseMigrator) {
        m.registerMigration("v10-version-copies") { db in
            try db.execute(
                sql: """
                    CREATE TABLE version_copies (
                        bucket TEXT NOT NULL, key BLOB NOT NULL, version INTEGER NOT NULL, epoch INTEGER NOT NULL, blob TEXT NOT NULL,
                        backend_etag TEXT, seal TEXT, md5 TEXT, PRIMARY KEY (bucket, key, version)) WITHOUT ROWID;
                    """)
        }
    }

    /// The migration of `bucket` while it mirrors.
    static func mirroring(_ db: Database, _ bucket: String) throws -> MigrationRecord? {
        try migration(db, bucket).flatMap { $0.phase.mirrors ? $0 : nil }
    }

    /// `archived` just became a noncurrent version: its target copy (when it is current) goes
    /// with it.
    static func keepCopy(_ db: Database, of archived: ObjectRecord) throws {
        guard let m = try mirroring(db, archived.bucket) else { return }
        let k = Data(archived.key.utf8)
        guard
            let replica = try Row.fetchOne(
                db, sql: "SELECT * FROM replicas WHERE bucket = ? AND key = ? AND version = ?", arguments: [archived.bucket, k, archived.version]
            ).map(Self.replica)
        else { return }
        try insertCopy(db, replica, epoch: m.epoch)
        try db.execute(sql: "DELETE FROM replicas WHERE bucket = ? AND key = ?", arguments: [archived.bucket, k])
    }

    static func insertCopy(_ db: Database, _ r: ReplicaRecord, epoch: Int) throws {
        try db.execute(
            sql: """
                INSERT OR REPLACE INTO version_copies (bucket, key, version, epoch, blob, backend_etag, seal, md5)
                VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                """, arguments: [r.bucket, Data(r.key.utf8), r.version, epoch, r.blob, r.backendETag, try r.seal.map(json), r.md5])
    }

    /// Forgets the target copy of a noncurrent version that is removed; returns its blob.
    static func dropCopy(_ db: Database, of removed: ObjectRecord) throws -> String? {
        let args: StatementArguments = [removed.bucket, Data(removed.key.utf8), removed.version]
        let blob = try String.fetchOne(db, sql: "SELECT blob FROM version_copies WHERE bucket = ? AND key = ? AND version = ?", arguments: args)
        try db.execute(sql: "DELETE FROM version_copies WHERE bucket = ? AND key = ? AND version = ?", arguments: args)
        return blob
    }

    /// The current object `removed` is gone for good: its target copy too (returns the blob).
    static func dropCurrentCopy(_ db: Database, of removed: ObjectRecord) throws -> String? {
        guard try mirroring(db, removed.bucket) != nil else { return nil }
        let k = Data(removed.key.utf8)
        let blob = try String.fetchOne(db, sql: "SELECT blob FROM replicas WHERE bucket = ? AND key = ?", arguments: [removed.bucket, k])
        try db.execute(sql: "DELETE FROM replicas WHERE bucket = ? AND key = ?", arguments: [removed.bucket, k])
        return blob
    }

    /// `promoted`, a noncurrent version, became the current object again: its copy becomes the
    /// object's target copy, or, without one, the key is queued.
    static func promoteCopy(_ db: Database, of promoted: ObjectRecord) throws {
        guard let m = try mirroring(db, promoted.bucket) else { return }
        let k = Data(promoted.key.utf8)
        if let copy = try Row.fetchOne(
            db, sql: "SELECT * FROM version_copies WHERE bucket = ? AND key = ? AND version = ? AND epoch = ?",
            arguments: [promoted.bucket, k, promoted.version, m.epoch]
        ).map(Self.replica) {
            try upsertReplica(db, copy)
            _ = try dropCopy(db, of: promoted)
        } else {
            try journal(db, bucket: promoted.bucket, key: k, version: promoted.version, now: Date())
        }
    }

    public func uncopiedVersions(bucket: String, epoch: Int, from: VersionCursor, limit: Int) async throws -> [ObjectRecord] {
        try await read { db in
            let k = Data(from.key)
            let position = from.below == nil ? "v.key >= ?" : "((v.key = ? AND v.version < ?) OR v.key > ?)"
            let args: StatementArguments = from.below.map { [bucket, k, $0, k, epoch, limit] } ?? [bucket, k, epoch, limit]
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT v.* FROM versions v WHERE v.bucket = ? AND v.marker = 0 AND \(position)
                    AND NOT EXISTS (SELECT 1 FROM version_copies c WHERE c.bucket = v.bucket AND c.key = v.key AND c.version = v.version
                                    AND c.epoch = ?)
                    ORDER BY v.key, v.version DESC LIMIT ?
                    """, arguments: args
            ).map(Self.object)
        }
    }

    public func versionsWithCopies(bucket: String, from: VersionCursor, limit: Int) async throws -> [(ObjectRecord, ReplicaRecord)] {
        try await read { db in
            guard let m = try Self.migration(db, bucket) else { return [] }
            let k = Data(from.key)
            let position = from.below == nil ? "v.key >= ?" : "((v.key = ? AND v.version < ?) OR v.key > ?)"
            let args: StatementArguments = from.below.map { [bucket, k, $0, k, m.epoch, limit] } ?? [bucket, k, m.epoch, limit]
            return try Row.fetchAll(
                db,
                sql: """
                    SELECT v.*, c.blob AS copy_blob, c.backend_etag AS copy_etag, c.seal AS copy_seal, c.md5 AS copy_md5
                    FROM versions v JOIN version_copies c ON c.bucket = v.bucket AND c.key = v.key AND c.version = v.version
                    WHERE v.bucket = ? AND v.marker = 0 AND \(position) AND c.epoch = ? ORDER BY v.key, v.version DESC LIMIT ?
                    """, arguments: args
            ).map { row in
                let version = try Self.object(row)
                let seal = try (row["copy_seal"] as String?).map { try JSONDecoder().decode(SealRecord.self, from: Data($0.utf8)) }
                return (
                    version,
                    ReplicaRecord(
                        bucket: bucket, key: version.key, version: version.version, blob: row["copy_blob"], backendETag: row["copy_etag"],
                        seal: seal, md5: row["copy_md5"])
                )
            }
        }
    }

    public func commitVersionCopy(_ copy: ReplicaRecord, epoch: Int) async throws -> Bool {
        try await writeRelaxed { db in
            guard let m = try Self.mirroring(db, copy.bucket), m.epoch == epoch,
                try Row.fetchOne(
                    db, sql: "SELECT 1 FROM versions WHERE bucket = ? AND key = ? AND version = ? AND marker = 0",
                    arguments: [copy.bucket, Data(copy.key.utf8), copy.version]) != nil
            else { return false }
            try Self.insertCopy(db, copy, epoch: epoch)
            return true
        }
    }

    public func versionCopyCounts(bucket: String) async throws -> (versions: Int, copied: Int) {
        try await read { db in
            guard let m = try Self.migration(db, bucket) else { return (0, 0) }
            let versions = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM versions WHERE bucket = ? AND marker = 0", arguments: [bucket]) ?? 0
            let copied =
                try Int.fetchOne(
                    db, sql: "SELECT COUNT(*) FROM version_copies WHERE bucket = ? AND epoch = ?", arguments: [bucket, m.epoch]) ?? 0
            return (versions, copied)
        }
    }

    /// Noncurrent versions without a copy of this migration (retirement waits for none).
    static func versionsWithoutCopy(_ db: Database, _ m: MigrationRecord) throws -> Int {
        try Int.fetchOne(
            db,
            sql: """
                SELECT COUNT(*) FROM versions v WHERE v.bucket = ? AND v.marker = 0 AND NOT EXISTS (
                    SELECT 1 FROM version_copies c WHERE c.bucket = v.bucket AND c.key = v.key AND c.version = v.version AND c.epoch = ?)
                """, arguments: [m.bucket, m.epoch]) ?? 0
    }

    /// Retirement: the copies (one for every noncurrent version) replace the versions' blobs.
    static func swapVersionCopies(_ db: Database, _ m: MigrationRecord) throws {
        let copy = "FROM version_copies c WHERE c.bucket = versions.bucket AND c.key = versions.key AND c.version = versions.version"
        try db.execute(
            sql: """
                UPDATE versions SET blob = (SELECT c.blob \(copy)), backend_etag = (SELECT c.backend_etag \(copy)),
                                    seal = (SELECT c.seal \(copy))
                WHERE bucket = ? AND marker = 0
                """, arguments: [m.bucket])
        for row in try Row.fetchAll(db, sql: "SELECT key, version, seal FROM versions WHERE bucket = ? AND marker = 0", arguments: [m.bucket]) {
            try db.execute(
                sql: "UPDATE versions SET kek_version = ? WHERE bucket = ? AND key = ? AND version = ?",
                arguments: [try seal(row)?.key.version, m.bucket, row["key"] as Data, row["version"] as Int64])
        }
        try db.execute(sql: "DELETE FROM version_copies WHERE bucket = ?", arguments: [m.bucket])
    }
}
