import Foundation
import GRDB

extension SQLiteCatalog {
    static func registerPrivacyTables(_ m: inout DatabaseMigrator) {
        m.registerMigration("v11-privacy") { db in
            try db.execute(
                sql: """
                    ALTER TABLE buckets ADD COLUMN sensitivity TEXT;
                    CREATE TABLE view_outputs (
                        bucket TEXT NOT NULL, key BLOB NOT NULL, project TEXT NOT NULL, source_version INTEGER NOT NULL,
                        identity TEXT NOT NULL, blob TEXT NOT NULL, size INTEGER NOT NULL, etag TEXT NOT NULL, created REAL NOT NULL,
                        seal TEXT NOT NULL, rows_read INTEGER NOT NULL, rows_served INTEGER NOT NULL, rows_opted_out INTEGER NOT NULL,
                        PRIMARY KEY (bucket, key, project)) WITHOUT ROWID;
                    """)
        }
    }

    public func sensitivity(of bucket: String) async throws -> Sensitivity? {
        try await read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT sensitivity FROM buckets WHERE name = ?", arguments: [bucket]) else { return nil }
            return (row["sensitivity"] as String?).flatMap(Sensitivity.init(rawValue:)) ?? .open
        }
    }

    public func setSensitivity(_ bucket: String, _ sensitivity: Sensitivity) async throws {
        try await setBucketColumn(bucket, "sensitivity", sensitivity.rawValue)
    }

    public func viewOutput(bucket: String, key: String, project: String) async throws -> ViewOutputRecord? {
        try await read { db in
            try Row.fetchOne(
                db, sql: "SELECT * FROM view_outputs WHERE bucket = ? AND key = ? AND project = ?", arguments: [bucket, Data(key.utf8), project]
            ).map(Self.viewOutput)
        }
    }

    public func putViewOutput(_ o: ViewOutputRecord) async throws -> String? {
        let seal = try Self.json(o.seal)
        return try await write { db in
            let k = Data(o.key.utf8)
            let old = try String.fetchOne(
                db, sql: "SELECT blob FROM view_outputs WHERE bucket = ? AND key = ? AND project = ?", arguments: [o.bucket, k, o.project])
            try db.execute(
                sql: """
                    INSERT OR REPLACE INTO view_outputs (bucket, key, project, source_version, identity, blob, size, etag, created, seal,
                        rows_read, rows_served, rows_opted_out) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """,
                arguments: [
                    o.bucket, k, o.project, o.sourceVersion, o.identity, o.blob, o.size, o.etag, o.created.timeIntervalSince1970, seal,
                    o.rowsRead, o.rowsServed, o.rowsOptedOut,
                ])
            return old == o.blob ? nil : old
        }
    }

    public func dropViewOutputs(bucket: String, project: String?) async throws -> [String] {
        try await write { db in
            let filter = project == nil ? "bucket = ?" : "bucket = ? AND project = ?"
            let args: StatementArguments = project.map { [bucket, $0] } ?? [bucket]
            let blobs = try String.fetchAll(db, sql: "SELECT blob FROM view_outputs WHERE \(filter)", arguments: args)
            try db.execute(sql: "DELETE FROM view_outputs WHERE \(filter)", arguments: args)
            return blobs
        }
    }

    public func viewOutputKeys(bucket: String, project: String) async throws -> [String] {
        try await read { db in
            try Row.fetchAll(db, sql: "SELECT key FROM view_outputs WHERE bucket = ? AND project = ? ORDER BY key", arguments: [bucket, project])
                .map(Self.key)
        }
    }

    public func dropViewOutput(bucket: String, key: String, project: String, blob: String) async throws -> Bool {
        try await write { db in
            try db.execute(
                sql: "DELETE FROM view_outputs WHERE bucket = ? AND key = ? AND project = ? AND blob = ?",
                arguments: [bucket, Data(key.utf8), project, blob])
            return db.changesCount > 0
        }
    }

    public func viewOutputBlobs() async throws -> Set<String> {
        try await read { db in Set(try String.fetchAll(db, sql: "SELECT blob FROM view_outputs")) }
    }

    static func viewOutput(_ row: Row) throws -> ViewOutputRecord {
        guard let seal = try seal(row) else { throw CatalogError.corrupt("a view output has no seal") }
        return ViewOutputRecord(
            bucket: row["bucket"], key: key(row), project: row["project"], sourceVersion: row["source_version"], identity: row["identity"],
            blob: row["blob"], size: row["size"], etag: row["etag"], created: Date(timeIntervalSince1970: row["created"]), seal: seal,
            rowsRead: row["rows_read"], rowsServed: row["rows_served"], rowsOptedOut: row["rows_opted_out"])
    }
}
