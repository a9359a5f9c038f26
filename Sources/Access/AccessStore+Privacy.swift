import Foundation
import GRDB

/// A project's view of a dataset as `view set` stored it: the view file's text and its version
/// (a new version on every change; versions are never reused, even after a removal).
public struct ViewRecord: Sendable, Equatable {
    public var dataset: String
    public var project: String
    public var version: Int
    public var spec: String
    public var created: Date
}

/// What a project's read of a dataset depends on, read in one snapshot: its view (if any), the
/// opt-out registry's version and the project's pseudonym key epoch.
public struct PrivacyState: Sendable, Equatable {
    public var view: ViewRecord?
    public var registryVersion: Int
    public var epoch: UInt32
}

/// Views, the opt-out registry (keyed hashes only) and pseudonym key epochs, in `access.sqlite`.
extension AccessStore {
    func createPrivacyTables(_ db: Database) throws {
        try db.execute(
            sql: """
                CREATE TABLE IF NOT EXISTS views (dataset TEXT NOT NULL, project TEXT NOT NULL, version INTEGER NOT NULL,
                    spec TEXT NOT NULL, created REAL NOT NULL, removed REAL, PRIMARY KEY (dataset, project, version)) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS optout (hash BLOB PRIMARY KEY) WITHOUT ROWID;
                CREATE TABLE IF NOT EXISTS registry (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL);
                INSERT OR IGNORE INTO registry (id, version) VALUES (1, 1);
                CREATE TABLE IF NOT EXISTS pseudonym_epochs (project TEXT PRIMARY KEY, epoch INTEGER NOT NULL) WITHOUT ROWID;
                """)
    }

    // MARK: views

    /// Stores a new version of the project's view; returns it.
    public func setView(dataset: String, project: String, spec: String, now: Date) throws -> Int {
        try queue.write { db in
            try requireProject(db, project)
            let last = try Int.fetchOne(db, sql: "SELECT MAX(version) FROM views WHERE dataset = ? AND project = ?", arguments: [dataset, project])
            let version = (last ?? 0) + 1
            try db.execute(
                sql: "UPDATE views SET removed = ? WHERE dataset = ? AND project = ? AND removed IS NULL",
                arguments: [now.timeIntervalSince1970, dataset, project])
            try db.execute(
                sql: "INSERT INTO views (dataset, project, version, spec, created) VALUES (?, ?, ?, ?, ?)",
                arguments: [dataset, project, version, spec, now.timeIntervalSince1970])
            return version
        }
    }

    public func view(dataset: String, project: String) throws -> ViewRecord? {
        try queue.read { db in try Self.currentView(db, dataset: dataset, project: project) }
    }

    static func currentView(_ db: Database, dataset: String, project: String) throws -> ViewRecord? {
        try Row.fetchOne(
            db, sql: "SELECT * FROM views WHERE dataset = ? AND project = ? AND removed IS NULL ORDER BY version DESC LIMIT 1",
            arguments: [dataset, project]
        ).map(Self.view)
    }

    /// Current views, of one dataset or all.
    public func views(dataset: String?) throws -> [ViewRecord] {
        try queue.read { db in
            try Row.fetchAll(
                db, sql: "SELECT * FROM views WHERE removed IS NULL AND (? IS NULL OR dataset = ?) ORDER BY dataset, project",
                arguments: [dataset, dataset]
            ).map(Self.view)
        }
    }

    public func removeView(dataset: String, project: String, now: Date) throws -> Bool {
        try queue.write { db in
            try db.execute(
                sql: "UPDATE views SET removed = ? WHERE dataset = ? AND project = ? AND removed IS NULL",
                arguments: [now.timeIntervalSince1970, dataset, project])
            return db.changesCount > 0
        }
    }

    static func view(_ r: Row) -> ViewRecord {
        ViewRecord(
            dataset: r["dataset"], project: r["project"], version: r["version"], spec: r["spec"], created: Date(timeIntervalSince1970: r["created"]))
    }

    // MARK: opt-out registry

    /// Adds keyed hashes; the registry's version moves when anything changed, so every view
    /// output computed before is stale from the next read on. Returns how many were new.
    public func addOptOuts(_ hashes: some Sequence<Data>) throws -> (changed: Int, version: Int) {
        try changeOptOuts(hashes, sql: "INSERT OR IGNORE INTO optout (hash) VALUES (?)")
    }

    public func removeOptOuts(_ hashes: some Sequence<Data>) throws -> (changed: Int, version: Int) {
        try changeOptOuts(hashes, sql: "DELETE FROM optout WHERE hash = ?")
    }

    func changeOptOuts(_ hashes: some Sequence<Data>, sql: String) throws -> (changed: Int, version: Int) {
        let all = Array(hashes)
        return try queue.write { db in
            let statement = try db.makeStatement(sql: sql)
            var changed = 0
            for h in all {
                try statement.execute(arguments: [h])
                changed += db.changesCount
            }
            if changed > 0 { try db.execute(sql: "UPDATE registry SET version = version + 1 WHERE id = 1") }
            return (changed, try Int.fetchOne(db, sql: "SELECT version FROM registry WHERE id = 1") ?? 1)
        }
    }

    public func optOutCount() throws -> Int {
        try queue.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM optout") ?? 0 }
    }

    // MARK: pseudonym epochs

    /// Starts a new key epoch for the project: its pseudonyms and date offsets change from the
    /// next read on. Returns the new epoch.
    public func rotatePseudonyms(_ project: String) throws -> UInt32 {
        try queue.write { db in
            try requireProject(db, project)
            try db.execute(
                sql: "INSERT INTO pseudonym_epochs (project, epoch) VALUES (?, 2) ON CONFLICT (project) DO UPDATE SET epoch = epoch + 1",
                arguments: [project])
            return try UInt32.fetchOne(db, sql: "SELECT epoch FROM pseudonym_epochs WHERE project = ?", arguments: [project]) ?? 1
        }
    }

    public func privacyState(dataset: String, project: String) throws -> PrivacyState {
        try queue.read { db in
            PrivacyState(
                view: try Self.currentView(db, dataset: dataset, project: project),
                registryVersion: try Int.fetchOne(db, sql: "SELECT version FROM registry WHERE id = 1") ?? 1,
                epoch: try UInt32.fetchOne(db, sql: "SELECT epoch FROM pseudonym_epochs WHERE project = ?", arguments: [project]) ?? 1)
        }
    }

    /// The registry's hashes and the version they are, in one snapshot.
    public func optOutHashes() throws -> (hashes: [Data], version: Int) {
        try queue.read { db in
            (
                try Data.fetchAll(db, sql: "SELECT hash FROM optout"),
                try Int.fetchOne(db, sql: "SELECT version FROM registry WHERE id = 1") ?? 1
            )
        }
    }
}
