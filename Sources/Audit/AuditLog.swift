import Crypto
import Foundation
import GRDB
import Synchronization

/// The append-only audit log in SQLite (`audit.sqlite`): entries (searchable columns and the
/// body sealed under its period key), the perfect subtrees of the RFC 6962 tree, and one
/// signed checkpoint per append transaction. Every append commits entries, tree nodes and the
/// checkpoint that covers them in one `synchronous=FULL` transaction, so an entry is durable
/// and signed before the caller goes on, and a row added, changed or removed behind the
/// writer's back disagrees with a signature it cannot forge. The gateway and the CLI append
/// to the same file; SQLite serialises their transactions.
public final class AuditLog: Sendable {
    let queue: DatabaseQueue
    /// The tree's right border after the last append of this process: the next append needs
    /// no lookups when no other process appended since (checked against the stored size).
    let frontier = Mutex<CompactRange?>(nil)
    let keys: PeriodKeys
    public let signer: NoteSigner

    /// Opens (creating when absent) the log in `directory`: `audit.sqlite`, `audit-keys.sqlite`
    /// and the checkpoint signing key `audit-signing-key.pem` (ECDSA P-256, mode 0600).
    public convenience init(directory: String, origin: String? = nil) throws {
        let keyPath = directory + "/audit-signing-key.pem"
        let key: P256.Signing.PrivateKey
        if let pem = try? String(contentsOfFile: keyPath, encoding: .utf8) {
            key = try P256.Signing.PrivateKey(pemRepresentation: pem)
        } else {
            key = P256.Signing.PrivateKey()
            guard
                FileManager.default.createFile(
                    atPath: keyPath, contents: Data(key.pemRepresentation.utf8),
                    attributes: [.posixPermissions: 0o600])
            else {
                throw AuditError(description: "cannot write \(keyPath)")
            }
        }
        let name = origin ?? "passerelle.local/audit-\(NoteVerifier(name: "k", key: key.publicKey).keyIDHex)"
        try self.init(
            path: directory + "/audit.sqlite", keys: PeriodKeys(path: directory + "/audit-keys.sqlite"),
            signer: NoteSigner(name: name, key: key))
    }

    public init(path: String, keys: PeriodKeys, signer: NoteSigner) throws {
        queue = try DatabaseQueue(path: path, configuration: durableConfiguration(wal: true))
        self.keys = keys
        self.signer = signer
        try queue.write { db in
            try db.execute(
                sql: """
                    CREATE TABLE IF NOT EXISTS entries (
                        idx INTEGER PRIMARY KEY, time REAL, principal TEXT, project TEXT, dataset TEXT,
                        action TEXT, result TEXT, period TEXT NOT NULL, body BLOB);
                    CREATE TABLE IF NOT EXISTS tree (pos INTEGER PRIMARY KEY, hash BLOB NOT NULL);
                    CREATE TABLE IF NOT EXISTS checkpoints (size INTEGER PRIMARY KEY, note TEXT NOT NULL);
                    """)
        }
    }

    /// Appends the events in order, in one transaction; returns the index of the first.
    @discardableResult
    public func append(_ events: [AuditEvent]) throws -> UInt64 {
        let (first, range) = try queue.write { [signer, keys] db in
            let first = try UInt64.fetchOne(db.cachedStatement(sql: "SELECT COALESCE(MAX(idx) + 1, 0) FROM entries")) ?? 0
            var range =
                try self.frontier.withLock({ $0 }).flatMap { $0.size == first ? $0 : nil }
                ?? CompactRange(size: first) { l, i in try Self.node(db, l, i) }
            var size = first
            for e in events {
                let entry = AuditEntry(index: size, event: e)
                let json = entry.canonicalJSON()
                let period = entry.period
                try db.cachedStatement(
                    sql: """
                        INSERT INTO entries (idx, time, principal, project, dataset, action, result, period, body)
                        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
                        """
                ).execute(arguments: [
                    size, e.time.timeIntervalSince1970, e.principal, e.project, e.dataset, e.action, e.result,
                    period, try EntrySeal.seal(json, index: size, key: keys.key(for: period)),
                ])
                let nodes = range.append(MerkleTree.leafHash(json))
                let insertNode = try db.cachedStatement(sql: "INSERT INTO tree (pos, hash) VALUES (?, ?)")
                for n in nodes {
                    try insertNode.execute(arguments: [Self.position(level: n.level, index: n.index), Data(n.hash)])
                }
                size += 1
            }
            let note = try signer.sign(Checkpoint(origin: signer.name, size: size, root: range.root).text)
            try db.cachedStatement(sql: "INSERT INTO checkpoints (size, note) VALUES (?, ?)").execute(arguments: [size, note])
            return (first, range)
        }
        // Kept only once committed (a failed transaction throws before this); the next append
        // uses it only if the stored size still matches.
        frontier.withLock { $0 = range }
        return first
    }

    /// Consistent copies of the log and of its period keys, taken while in use.
    public func backup(toDirectory dir: String) throws {
        try queue.backup(to: DatabaseQueue(path: dir + "/audit.sqlite"))
        try keys.queue.backup(to: DatabaseQueue(path: dir + "/audit-keys.sqlite"))
    }

    /// Where a perfect subtree's hash is stored: in post-order, the order an append-only tree
    /// completes them (a leaf, then each parent it closes), so every commit appends to the end
    /// of the table instead of touching one region per level. The subtree (level, index) is
    /// completed by leaf L = ((index + 1) << level) − 1, which follows the 2L − popcount(L)
    /// hashes of the complete subtrees before it.
    static func position(level: Int, index: UInt64) -> Int64 {
        let last = ((index + 1) << UInt64(level)) - 1
        return Int64(2 * last - UInt64(last.nonzeroBitCount) + UInt64(level))
    }

    static func node(_ db: Database, _ level: Int, _ index: UInt64) throws -> MerkleTree.Hash {
        guard
            let h = try Data.fetchOne(
                db.cachedStatement(sql: "SELECT hash FROM tree WHERE pos = ?"),
                arguments: [position(level: level, index: index)])
        else {
            throw MerkleError.missingNode(level: level, index: index)
        }
        return Array(h)
    }

    /// The latest signed checkpoint (nil for an empty log).
    public func latestCheckpoint() throws -> String? {
        try queue.read { db in try String.fetchOne(db, sql: "SELECT note FROM checkpoints ORDER BY size DESC LIMIT 1") }
    }

    public func inclusionProof(index: UInt64, size: UInt64) throws -> (leaf: MerkleTree.Hash, proof: [MerkleTree.Hash]) {
        try queue.read { db in
            try Self.requireSize(db, size)
            let proof = try MerkleTree.inclusionProof(index: index, size: size) { l, i in try Self.node(db, l, i) }
            return (try Self.node(db, 0, index), proof)
        }
    }

    public func consistencyProof(oldSize: UInt64, newSize: UInt64) throws -> [MerkleTree.Hash] {
        try queue.read { db in
            try Self.requireSize(db, newSize)
            return try MerkleTree.consistencyProof(oldSize: oldSize, newSize: newSize) { l, i in try Self.node(db, l, i) }
        }
    }

    static func requireSize(_ db: Database, _ size: UInt64) throws {
        let current = try UInt64.fetchOne(db, sql: "SELECT COALESCE(MAX(size), 0) FROM checkpoints") ?? 0
        guard size <= current else { throw MerkleError.outOfRange("the log has \(current) signed entries, not \(size)") }
    }

    /// Deletes the keys and readable columns of every period before `period` (retention).
    /// Leaf hashes and checkpoints stay: the tree remains verifiable.
    public func expire(before period: String) throws -> [String] {
        let periods = try keys.shred(before: period)
        try queue.write { db in
            try db.execute(
                sql: """
                    UPDATE entries SET body = NULL, principal = NULL, project = NULL, dataset = NULL, action = NULL, result = NULL
                    WHERE period < ? AND (body IS NOT NULL OR action IS NOT NULL)
                    """, arguments: [period])
        }
        return periods
    }
}

/// SQLite as the log needs it: every commit on disk when it returns (`synchronous=FULL`), and
/// writers of other processes (the CLI) waited for rather than refused.
func durableConfiguration(wal: Bool, extra: String = "") -> Configuration {
    var config = Configuration()
    config.busyMode = .timeout(30)
    config.prepareDatabase { db in
        try db.execute(sql: (wal ? "PRAGMA journal_mode = WAL; " : "") + "PRAGMA synchronous = FULL; " + extra)
    }
    return config
}
