import Crypto
import Foundation
import GRDB
import Synchronization

/// One AES-256 key per retention period (a UTC day), in a file of its own next to the log:
/// copies of the log (backups, exports of the database file) never carry the keys, and
/// deleting a period's key makes its entries unreadable everywhere at once while their hashes
/// keep the tree verifiable. `secure_delete` overwrites a deleted key in the file, and the WAL
/// is truncated after each deletion.
public final class PeriodKeys: Sendable {
    let queue: DatabaseQueue
    /// The key of the period being written (a write transaction per lookup would cost more
    /// than the entries themselves). Dropped by `shred` in this process; a shred by another
    /// process leaves this one sealing the current period under the deleted key, whose
    /// entries are then unreadable like the rest of the period (retention is about past days).
    let current = Mutex<(period: String, key: SymmetricKey)?>(nil)

    public init(path: String) throws {
        queue = try DatabaseQueue(path: path, configuration: durableConfiguration(wal: false, extra: "PRAGMA secure_delete = ON"))
        try queue.write { db in
            try db.execute(sql: "CREATE TABLE IF NOT EXISTS period_keys (period TEXT PRIMARY KEY, key BLOB NOT NULL)")
        }
        chmod(path, 0o600)
    }

    /// The period's key, created on first use (two processes racing agree on the first one).
    public func key(for period: String) throws -> SymmetricKey {
        if let c = current.withLock({ $0 }), c.period == period { return c.key }
        let key = try queue.write { db in
            try db.execute(
                sql: "INSERT OR IGNORE INTO period_keys (period, key) VALUES (?, ?)",
                arguments: [period, SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }])
            guard let raw = try Data.fetchOne(db, sql: "SELECT key FROM period_keys WHERE period = ?", arguments: [period]) else {
                throw AuditError.corrupt("the key of period \(period) vanished")
            }
            return SymmetricKey(data: raw)
        }
        current.withLock { $0 = (period, key) }
        return key
    }

    /// Nil when the period's key was deleted (the period expired).
    public func existingKey(for period: String) throws -> SymmetricKey? {
        try queue.read { db in
            try Data.fetchOne(db, sql: "SELECT key FROM period_keys WHERE period = ?", arguments: [period]).map { SymmetricKey(data: $0) }
        }
    }

    /// Deletes the keys of every period before `period`; returns the periods shredded.
    public func shred(before period: String) throws -> [String] {
        current.withLock { $0 = nil }
        let gone = try queue.write { db -> [String] in
            let periods = try String.fetchAll(db, sql: "SELECT period FROM period_keys WHERE period < ? ORDER BY period", arguments: [period])
            try db.execute(sql: "DELETE FROM period_keys WHERE period < ?", arguments: [period])
            return periods
        }
        try queue.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA wal_checkpoint(TRUNCATE)") }
        return gone
    }
}

/// Entry bodies at rest: AES-256-GCM under the period key, the index as associated data (a
/// body copied to another row does not open there).
enum EntrySeal {
    static func seal(_ json: [UInt8], index: UInt64, key: SymmetricKey) throws -> Data {
        guard let combined = try AES.GCM.seal(json, using: key, authenticating: aad(index)).combined else {
            throw AuditError.corrupt("AES-GCM produced no combined form")
        }
        return combined
    }

    static func open(_ body: Data, index: UInt64, key: SymmetricKey) throws -> [UInt8] {
        Array(try AES.GCM.open(AES.GCM.SealedBox(combined: body), using: key, authenticating: aad(index)))
    }

    static func aad(_ index: UInt64) -> [UInt8] {
        Array("passerelle/audit/v1".utf8) + withUnsafeBytes(of: index.bigEndian) { Array($0) }
    }
}

public struct AuditError: Error, CustomStringConvertible {
    public let description: String
    static func corrupt(_ m: String) -> AuditError { AuditError(description: m) }
}
