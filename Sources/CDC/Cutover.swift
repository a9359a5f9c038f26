import Foundation

/// `cdc cutover`: the source made read-only, the stream drained to the source's last LSN,
/// sequences copied, a final verification, then the slot and publication dropped. Each step is
/// recorded on the target; running the command again resumes after the last finished step.
public enum Cutover {
    public static let steps = ["read-only", "drain", "sequences", "verify", "drop-slot"]

    /// `manualGate`: the operator has stopped every writer (for a source user that may not
    /// alter the database); the command then only checks nothing more arrives while draining.
    public static func run(source: PgEndpoint, target: PgEndpoint, slot: String, manualGate: Bool = false, log: @escaping Setup.Log) async throws {
        try await PgSession.using(source, purpose: "cutover") { src in
            try await PgSession.using(target, purpose: "cutover") { tgt in
                try await run(src, tgt, slot: slot, manualGate: manualGate, log: log)
            }
        }
    }

    static func run(_ src: PgSession, _ tgt: PgSession, slot: String, manualGate: Bool, log: @escaping Setup.Log) async throws {
        let source = src.endpoint, target = tgt.endpoint
        guard let state = try await StreamState.load(tgt, slot: slot) else {
            throw CDCError("the target has no replication stream for slot \(slot)")
        }
        if state.phase == "done" {
            log("cutover complete already: every step is done. Switch the applications to \(target).")
            return
        }
        guard state.phase == "streaming" || state.phase == "cutover" else {
            throw CDCError("slot \(slot) is in phase \(state.phase): cutover needs a finished initial copy (phase streaming)")
        }
        try await StreamState.setPhase(tgt, slot: slot, "cutover")
        let done = try await StreamState.steps(tgt, slot: slot)
        // This session must still write (slot functions, DROP PUBLICATION) after the gate.
        try await src.exec("SET default_transaction_read_only = off")
        let db = SQLText.identifier(source.database)

        if !done.contains("read-only") {
            if manualGate {
                try await StreamState.stepDone(tgt, slot: slot, "read-only", detail: "manual gate")
                log("manual gate: the applications are stopped by the operator; the source is not altered")
            } else {
                try await src.exec("ALTER DATABASE \(db) SET default_transaction_read_only = on")
                let ended = try await src.rows(
                    """
                    SELECT pg_terminate_backend(pid)::text FROM pg_stat_activity
                    WHERE datname = current_database() AND pid <> pg_backend_pid() AND backend_type = 'client backend'
                    """
                ).count
                try await StreamState.stepDone(tgt, slot: slot, "read-only", detail: "\(ended) session(s) ended")
                log("source \(source) is read-only for new sessions; \(ended) open session(s) ended")
            }
        }
        if !done.contains("drain") {
            guard let drainTo = try await src.value("SELECT pg_current_wal_lsn()::text").flatMap(LSN.init) else {
                throw CDCError("cannot read the source's WAL position")
            }
            let replicator = try await openWaiting(source: src, target: tgt, slot: slot)
            var applied = 0
            while replicator.confirmed < drainTo {
                let b = try await replicator.step(uptoLSN: drainTo)
                applied += b.transactions
                if b.transactions == 0 { try? await Task.sleep(for: .milliseconds(100)) }
            }
            try await StreamState.stepDone(tgt, slot: slot, "drain", detail: "\(drainTo)")
            log("drained: \(applied) transaction(s) applied, the target holds the source up to \(drainTo)")
        }
        if !done.contains("sequences") {
            let seqs = try await src.rows(
                """
                SELECT quote_ident(schemaname) || '.' || quote_ident(sequencename), last_value::text FROM pg_sequences WHERE last_value IS NOT NULL
                """)
            for s in seqs where s.count == 2 {
                guard let name = s[0], let value = s[1] else { continue }
                _ = try await tgt.rows("SELECT setval(\(name)::regclass, \(value)::bigint, true)::text")
            }
            try await StreamState.stepDone(tgt, slot: slot, "sequences", detail: "\(seqs.count)")
            log("\(seqs.count) sequence value(s) copied")
        }
        if !done.contains("verify") {
            let tables = try await InitialCopy.tables(src, schemas: [])
            let reports = try await Verify.compare(source: src, target: tgt, tables: tables)
            let bad = reports.filter { !$0.clean }
            for r in bad {
                log(
                    "DIFFERENT \(r.table): \(r.sourceRows) rows on the source, \(r.targetRows) on the target; "
                        + "\(r.differences.joined(separator: "; "))"
                )
            }
            guard bad.isEmpty else {
                throw CDCError(
                    "verification found \(bad.count) differing table(s): fix them and run `cdc cutover` again (the source stays read-only)")
            }
            try await StreamState.stepDone(tgt, slot: slot, "verify", detail: "\(reports.count) tables")
            log("verified: \(reports.count) table(s) identical (\(reports.reduce(0) { $0 + $1.targetRows }) rows)")
        }
        if !done.contains("drop-slot") {
            try await dropSlot(src, slot: slot, publication: state.publication)
            try await StreamState.stepDone(tgt, slot: slot, "drop-slot")
            log("slot \(slot) and publication \(state.publication) dropped on the source")
        }
        try await StreamState.setPhase(tgt, slot: slot, "done")
        log(
            """
            cutover complete. Switch the applications to \(target) now: it holds every row and the sequences' values.
            The source stays read-only; to undo that gate: ALTER DATABASE \(db) RESET default_transaction_read_only
            """)
    }

    /// Opens the replicator, waiting up to 30 s for a `cdc run` ended by the gate to let go.
    static func openWaiting(source: PgSession, target: PgSession, slot: String) async throws(CDCError) -> Replicator {
        let deadline = Date().addingTimeInterval(30)
        while true {
            do {
                return try await Replicator.open(source: source, target: target, slot: slot)
            } catch {
                guard Date() < deadline, error.description.contains("another") || error.description.contains("taken") else { throw error }
                try? await Task.sleep(for: .milliseconds(500))
            }
        }
    }

    static func dropSlot(_ src: PgSession, slot: String, publication: String) async throws(CDCError) {
        if try await src.value("SELECT 1::text FROM pg_replication_slots WHERE slot_name = \(slot)") != nil {
            _ = try await src.rows("SELECT pg_drop_replication_slot(\(slot))::text")
        }
        try await src.exec("DROP PUBLICATION IF EXISTS \(SQLText.identifier(publication))")
    }

    /// `cdc drop`: the slot and publication dropped on the source (no WAL retained any more);
    /// the target's state marked so that `cdc run` refuses to continue.
    public static func drop(source: PgEndpoint, target: PgEndpoint?, slot: String, publication: String, log: Setup.Log) async throws {
        var pub = publication
        if let target {
            try await PgSession.using(target, purpose: "drop") { tgt in
                guard let s = try await StreamState.load(tgt, slot: slot) else { return }
                pub = s.publication
                for table in ["stream", "copied", "steps"] {
                    _ = try await tgt.rows("DELETE FROM passerelle_cdc.\(unescaped: table) WHERE slot = \(slot)")
                }
                log("replication state of slot \(slot) removed from the target")
            }
        }
        try await PgSession.using(source, purpose: "drop") { src in
            try await src.exec("SET default_transaction_read_only = off")
            try await dropSlot(src, slot: slot, publication: pub)
        }
        log("slot \(slot) and publication \(pub) dropped on the source")
    }
}
