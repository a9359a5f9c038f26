import Crypto
import Foundation
import GRDB

/// One line of an export (JSON Lines): checkpoints first, then every entry in order.
public struct ExportLine: Codable, Sendable {
    public var checkpoint: String?
    public var index: UInt64?
    /// Hex leaf hash as stored in the tree.
    public var leaf: String?
    /// The canonical entry JSON exactly as hashed; absent once its period expired.
    public var entry: String?
    /// Set by the exporter when the stored row cannot be what was appended.
    public var problem: String?

    public init(checkpoint: String? = nil, index: UInt64? = nil, leaf: String? = nil, entry: String? = nil, problem: String? = nil) {
        self.checkpoint = checkpoint
        self.index = index
        self.leaf = leaf
        self.entry = entry
        self.problem = problem
    }

    /// Feeds the line to a verifier.
    public func feed(_ v: inout LogVerifier) throws(NoteError) {
        if let checkpoint {
            try v.checkpoint(checkpoint)
            return
        }
        guard let index else { throw NoteError("export line with neither checkpoint nor index") }
        v.entry(index: index, leaf: leaf.flatMap(Hex.decode), json: entry.map { Array($0.utf8) }, problem: problem)
    }
}

/// Filters of `passerelle audit search`.
public struct AuditFilter: Sendable {
    public var principal: String?
    public var project: String?
    public var dataset: String?
    public var action: String?
    public var since: Date?
    public var until: Date?
    public var limit = 1000

    public init() {}
}

extension AuditLog {
    /// Streams the whole log as export lines, reading it in pages.
    public func export(_ emit: (ExportLine) throws -> Void) throws {
        let notes = try queue.read { db in try String.fetchAll(db, sql: "SELECT note FROM checkpoints ORDER BY size") }
        for n in notes { try emit(ExportLine(checkpoint: n)) }
        var keyCache: [String: SymmetricKey?] = [:]
        var after: Int64 = -1
        while true {
            // Each page and the leaves of its entries in one read transaction.
            let rows = try queue.read { db in
                try Row.fetchAll(
                    db,
                    sql: """
                        SELECT idx, principal, project, dataset, action, result, period, body
                        FROM entries WHERE idx > ? ORDER BY idx LIMIT 1000
                        """, arguments: [after]
                ).map { row in (row, try? Self.node(db, 0, UInt64(row["idx"] as Int64))) }
            }
            guard !rows.isEmpty else { return }
            for (row, leafHash) in rows {
                let index: Int64 = row["idx"]
                after = index
                let period: String = row["period"]
                if keyCache[period] == nil { keyCache[period] = .some(try keys.existingKey(for: period)) }
                let leaf = leafHash.map { Hex.encode($0) }
                var line = ExportLine(index: UInt64(index), leaf: leaf)
                // Expired by retention (`expire`): content and columns gone, the hash stays.
                let expired = row["body"] == nil && row["action"] == nil
                if !expired, let key = keyCache[period] ?? nil {
                    line.entry = Self.open(row, index: UInt64(index), key: key, problem: &line.problem)
                }
                try emit(line)
            }
        }
    }

    static func open(_ row: Row, index: UInt64, key: SymmetricKey, problem: inout String?) -> String? {
        guard let body = row["body"] as Data? else {
            problem = "its content was removed"
            return nil
        }
        guard let json = try? EntrySeal.open(body, index: index, key: key), let entry = try? AuditEntry.decode(json) else {
            problem = "its stored content does not open under its period key (modified, or moved from another position)"
            return nil
        }
        let columns: [(String, String?, String?)] = [
            ("principal", row["principal"], entry.principal), ("project", row["project"], entry.project),
            ("dataset", row["dataset"], entry.dataset), ("action", row["action"], entry.action), ("result", row["result"], entry.result),
        ]
        if let changed = columns.first(where: { $0.1 != $0.2 }) {
            problem = "its searchable column '\(changed.0)' was changed behind the log's back"
        }
        return String(decoding: json, as: UTF8.self)
    }

    /// Verifies the stored log end to end with the log's own public key.
    public func verify(with verifier: NoteVerifier? = nil) throws -> LogVerifier.Report {
        var v = LogVerifier(verifier: verifier ?? signer.verifier)
        try export { line in try line.feed(&v) }
        return v.finish()
    }

    public func search(_ f: AuditFilter) throws -> [AuditEntry] {
        var clauses: [String] = ["body IS NOT NULL"]
        var args: [any DatabaseValueConvertible] = []
        for (column, value) in [("principal", f.principal), ("project", f.project), ("dataset", f.dataset), ("action", f.action)] {
            if let value {
                clauses.append("\(column) = ?")
                args.append(value)
            }
        }
        if let s = f.since {
            clauses.append("time >= ?")
            args.append(s.timeIntervalSince1970)
        }
        if let u = f.until {
            clauses.append("time < ?")
            args.append(u.timeIntervalSince1970)
        }
        let rows = try queue.read { db in
            try Row.fetchAll(
                db, sql: "SELECT idx, period, body FROM entries WHERE \(clauses.joined(separator: " AND ")) ORDER BY idx LIMIT ?",
                arguments: StatementArguments(args + [f.limit]))
        }
        var keyCache: [String: SymmetricKey?] = [:]
        return try rows.compactMap { row in
            let period: String = row["period"]
            if keyCache[period] == nil { keyCache[period] = .some(try keys.existingKey(for: period)) }
            guard let key = keyCache[period] ?? nil, let body = row["body"] as Data?,
                let json = try? EntrySeal.open(body, index: UInt64(row["idx"] as Int64), key: key)
            else { return nil }
            return try? AuditEntry.decode(json)
        }
    }
}

enum Hex {
    static func encode(_ bytes: [UInt8]) -> String {
        bytes.map { String(format: "%02x", $0) }.joined()
    }

    static func decode(_ s: String) -> [UInt8]? {
        guard s.utf8.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        var it = s.utf8.makeIterator()
        while let a = it.next(), let b = it.next() {
            guard let v = UInt8(String(decoding: [a, b], as: UTF8.self), radix: 16) else { return nil }
            out.append(v)
        }
        return out
    }
}
