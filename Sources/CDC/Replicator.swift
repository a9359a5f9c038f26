import Foundation
import NIOCore
import PostgresNIO

/// Streams changes from a logical slot (pgoutput, read with `pg_logical_slot_peek_binary_changes`
/// because postgres-nio has no CopyBoth mode for `START_REPLICATION`) and applies them on the
/// target in source-commit order.
///
/// Exactly once: each target transaction carries the source changes of whole source
/// transactions plus the update of `passerelle_cdc.stream.applied_commit_lsn`; the slot is
/// advanced only after that commit. After a crash anywhere, the next peek returns again what
/// the slot had not confirmed, and transactions whose commit LSN is not above the recorded one
/// are skipped. Several small source transactions share one target transaction (one `DO`
/// block, one round trip); a source transaction too large for one block (a 16 MiB bulk load)
/// is sent as several blocks inside one explicit target transaction, so the target never holds
/// half of it, and the replicator's memory stays bounded by `flushBytes`.
public final class Replicator {
    public struct Options: Sendable {
        public var changesPerPeek: Int32 = 5_000
        public var flushBytes = 1 << 20
        public var pollInterval: Duration = .milliseconds(50)
        public init() {}
    }

    public struct Batch: Sendable {
        public var transactions = 0
        public var changes = 0
        /// Source commit → target commit, seconds, one per applied transaction.
        public var lags: [Double] = []
        public var lastCommit: LSN?
    }

    let source: PgSession
    let target: PgSession
    let slot: String
    let publication: String
    let options: Options
    // Used by one task at a time: a Replicator is not Sendable, and the target's advisory lock
    // keeps a second replicator of the same slot out.
    var plan = ApplyPlan()
    var appliedCommit = LSN.zero
    var confirmed = LSN.zero
    var keys: [String: [String]] = [:]
    var tagSeed = UInt64.random(in: 1...UInt64.max)
    var caughtUpRecorded = Date.distantPast

    public static func open(source: PgSession, target: PgSession, slot: String, options: Options = .init()) async throws(CDCError) -> Replicator {
        guard let s = try await StreamState.load(target, slot: slot) else {
            throw CDCError("the target has no replication stream for slot \(slot): run `passerelle cdc init` first")
        }
        guard s.phase != "copying" else {
            throw CDCError("the initial copy of slot \(slot) is not finished: run `passerelle cdc init` again to resume it")
        }
        guard try await target.value("SELECT pg_try_advisory_lock(hashtext('passerelle_cdc'), hashtext(\(slot)))::text") == "true" else {
            throw CDCError("another replicator is applying slot \(slot) to this target (stop it first)")
        }
        guard
            let info = try await source.rows(
                """
                SELECT plugin, database, active_pid::text, confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = \(slot)
                """
            ).first, info.count == 4
        else { throw CDCError("the source has no replication slot \(slot) (dropped? run `passerelle cdc init` to start over)") }
        guard info[0] == "pgoutput", info[1] == source.endpoint.database else {
            throw CDCError("slot \(slot) on the source is not a pgoutput slot of database \(source.endpoint.database)")
        }
        if let pid = info[2] { throw CDCError("slot \(slot) is taken by another consumer (process \(pid) on the source)") }
        do {
            try await target.exec("SET session_replication_role = replica")
        } catch {
            throw CDCError(
                "\(error) — the target user must be allowed to set session_replication_role (a superuser), as for native logical replication")
        }
        let r = Replicator(source: source, target: target, slot: slot, publication: s.publication, options: options)
        r.appliedCommit = s.appliedCommit
        r.confirmed = info[3].flatMap(LSN.init) ?? .zero
        return r
    }

    init(source: PgSession, target: PgSession, slot: String, publication: String, options: Options) {
        self.source = source
        self.target = target
        self.slot = slot
        self.publication = publication
        self.options = options
    }

    /// One peek → apply → advance round. `uptoLSN` bounds the changes read (cutover drain).
    public func step(uptoLSN: LSN? = nil) async throws(CDCError) -> Batch {
        var batch = Batch()
        var writer = BlockWriter(target: target, slot: slot, flushBytes: options.flushBytes)
        var skipping = false
        var commitTime: Int64 = 0
        var end = LSN.zero
        // Read before the peek: if the peek finds nothing, no published transaction committed
        // before this point, and the slot can be confirmed up to it (else a source writing only
        // unpublished tables would make the slot retain WAL forever).
        let flushed = try await source.value("SELECT pg_current_wal_flush_lsn()::text").flatMap(LSN.init)
        var sawAny = false
        do {
            let upto = uptoLSN?.description
            let rows = try await source.query(
                """
                SELECT data FROM pg_logical_slot_peek_binary_changes(\(slot), \(upto)::pg_lsn, \(options.changesPerPeek),
                    'proto_version', '1', 'publication_names', \(publication))
                """)
            for try await row in rows {
                sawAny = true
                let data = try row.decode(ByteBuffer.self)
                let message: PgOutputMessage
                do { message = try PgOutputMessage.decode(Array(data.readableBytesView)) } catch {
                    throw CDCError("undecodable change from the source: \(error)")
                }
                switch message {
                case let .begin(finalLSN, time, _):
                    skipping = LSN(finalLSN) <= appliedCommit
                    commitTime = time
                case let .relation(r):
                    try plan.define(r, targetKey: try await targetKey(r))
                case let .commit(_, commitLSN, endLSN, _):
                    end = LSN(endLSN)
                    guard !skipping else { continue }
                    writer.commit(LSN(commitLSN), sourceTime: commitTime)
                    batch.transactions += 1
                    batch.lastCommit = LSN(commitLSN)
                    if writer.size >= options.flushBytes { try await flush(&writer, &batch) }
                default:
                    guard !skipping, let sql = try plan.sql(for: message) else { continue }
                    batch.changes += 1
                    writer.append(sql)
                    if writer.size >= options.flushBytes { try await writer.sendPart(seed: &tagSeed) }
                }
            }
            try await flush(&writer, &batch)
        } catch let e as CDCError {
            await writer.abandon()
            throw e
        } catch {
            await writer.abandon()
            throw CDCError("\(source.endpoint): \(PgSession.describe(error))")
        }
        if !sawAny, let flushed { end = min(flushed, uptoLSN ?? flushed) }
        if end > confirmed {
            _ = try await source.rows("SELECT pg_replication_slot_advance(\(slot), \(end.description)::pg_lsn)::text")
            confirmed = end
        }
        if batch.transactions == 0, Date().timeIntervalSince(caughtUpRecorded) >= 1 {
            // For `cdc status`: the stream was caught up at this moment (at most once a second).
            _ = try await target.rows("UPDATE passerelle_cdc.stream SET caught_up_at = clock_timestamp() WHERE slot = \(slot)")
            caughtUpRecorded = Date()
        }
        return batch
    }

    private func flush(_ writer: inout BlockWriter, _ batch: inout Batch) async throws(CDCError) {
        guard let applied = try await writer.commitAll(seed: &tagSeed) else { return }
        appliedCommit = applied.lsn
        let now = Date().timeIntervalSince1970
        batch.lags += applied.sourceTimes.map { now - Self.unixSeconds(pgMicros: $0) }
    }

    /// The target table's primary-key columns (empty when it has none); the table must exist.
    private func targetKey(_ r: PgOutputMessage.Relation) async throws(CDCError) -> [String] {
        let name = SQLText.qualified(r.namespace, r.name)
        if let k = keys[name] { return k }
        guard try await target.value("SELECT to_regclass(\(name))::text") != nil else {
            throw CDCError("table \(r.namespace).\(r.name) does not exist on the target (create it, or `cdc init --create-schema`)")
        }
        let key = try await target.primaryKey(of: name)
        keys[name] = key
        return key
    }

    static func unixSeconds(pgMicros: Int64) -> Double { Double(pgMicros) / 1_000_000 + 946_684_800 }
}

/// Accumulates SQL into `DO` blocks for the target.
struct BlockWriter {
    let target: PgSession
    let slot: String
    let flushBytes: Int
    private var body = ""
    private var inTransaction = false
    private var committed: (lsn: LSN, sourceTimes: [Int64], count: Int)?
    private var pendingChanges = 0

    init(target: PgSession, slot: String, flushBytes: Int) {
        self.target = target
        self.slot = slot
        self.flushBytes = flushBytes
        body.reserveCapacity(flushBytes + 4096)
    }

    var size: Int { body.utf8.count }

    mutating func append(_ sql: String) {
        body += sql
        body += ";\n"
        pendingChanges += 1
    }

    /// Marks the end of a source transaction: its changes become part of what `commitAll` commits.
    mutating func commit(_ lsn: LSN, sourceTime: Int64) {
        var c = committed ?? (lsn, [], 0)
        c.lsn = lsn
        c.sourceTimes.append(sourceTime)
        c.count += pendingChanges
        pendingChanges = 0
        committed = c
    }

    /// Sends what is buffered of a transaction that is still open (inside an explicit target transaction).
    mutating func sendPart(seed: inout UInt64) async throws(CDCError) {
        if !inTransaction {
            try await target.exec("BEGIN")
            inTransaction = true
        }
        try await target.exec(Self.block(body, seed: &seed))
        body = ""
    }

    /// Commits every complete source transaction buffered, with the progress row, atomically.
    mutating func commitAll(seed: inout UInt64) async throws(CDCError) -> (lsn: LSN, sourceTimes: [Int64])? {
        guard let c = committed else { return nil }
        let time = String(format: "%.6f", Replicator.unixSeconds(pgMicros: c.sourceTimes.last ?? 0))
        body += """
            UPDATE passerelle_cdc.stream SET applied_commit_lsn = \(SQLText.literal(c.lsn.description)),
              source_commit_time = to_timestamp(\(time)), applied_at = clock_timestamp(),
              transactions = transactions + \(c.sourceTimes.count), changes = changes + \(c.count)
              WHERE slot = \(SQLText.literal(slot));
            """
        try await target.exec(Self.block(body, seed: &seed))
        if inTransaction {
            try await target.exec("COMMIT")
            inTransaction = false
        }
        body = ""
        committed = nil
        return (c.lsn, c.sourceTimes)
    }

    /// Rolls back a target transaction left open by a failure.
    mutating func abandon() async {
        if inTransaction { try? await target.exec("ROLLBACK") }
        inTransaction = false
    }

    static func block(_ body: String, seed: inout UInt64) -> String {
        let tag = SQLText.dollarTag(for: body, seed: &seed)
        return "DO \(tag)BEGIN\n\(body)END\(tag)"
    }
}
