import Foundation

/// `cdc status`: where the stream stands, from the source's slot and the target's state.
public struct StreamStatus: Sendable, Codable, Equatable {
    public var slot: String
    public var phase: String
    public var appliedLSN: String
    public var sourceLSN: String?
    public var confirmedLSN: String?
    public var slotActive: Bool
    /// Source WAL not yet confirmed by the replicator (what the slot retains for it).
    public var lagBytes: Int64?
    /// 0 when caught up; else seconds since the stream was last known caught up.
    public var lagSeconds: Double?
    public var retainedBytes: Int64?
    public var transactions: Int64
    public var changes: Int64
    public var changesPerSecond: Double
    public var lastSourceCommit: String?
    public var lastApplied: String?
    public var tablesCopied: Int

    public static func read(
        source: PgSession?, target: PgSession, slot: String, window: Duration = .seconds(1)
    ) async throws(CDCError) -> StreamStatus {
        guard let first = try await StreamState.load(target, slot: slot) else {
            throw CDCError("the target has no replication stream for slot \(slot)")
        }
        try? await Task.sleep(for: window)
        let s = try await StreamState.load(target, slot: slot) ?? first
        let copied = Int(try await target.value("SELECT count(*)::text FROM passerelle_cdc.copied WHERE slot = \(slot)") ?? "") ?? 0
        let seconds = Double(window.components.seconds) + Double(window.components.attoseconds) / 1e18
        var status = StreamStatus(
            slot: slot, phase: s.phase, appliedLSN: s.appliedCommit.description, sourceLSN: nil, confirmedLSN: nil, slotActive: false,
            lagBytes: nil, lagSeconds: nil, retainedBytes: nil, transactions: s.transactions, changes: s.changes,
            changesPerSecond: seconds > 0 ? Double(s.changes - first.changes) / seconds : 0,
            lastSourceCommit: s.sourceCommitTime, lastApplied: s.appliedAt, tablesCopied: copied)
        if let source,
            let r = try await source.rows(
                """
                SELECT pg_current_wal_lsn()::text, confirmed_flush_lsn::text, (active_pid IS NOT NULL)::text,
                  pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint::text,
                  pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint::text,
                  extract(epoch FROM now())::text
                FROM pg_replication_slots WHERE slot_name = \(slot)
                """
            ).first, r.count == 6
        {
            status.sourceLSN = r[0]
            status.confirmedLSN = r[1]
            status.slotActive = r[2] == "true"
            status.lagBytes = r[3].flatMap { Int64($0) }
            status.retainedBytes = r[4].flatMap { Int64($0) }
            // Seconds behind: since the later of the last applied source commit and the last
            // moment the replicator found nothing left to apply; 0 when no WAL is pending.
            if let lag = status.lagBytes, lag > 0, let now = r[5].flatMap(Double.init),
                let last = try await target.value(
                    """
                    SELECT extract(epoch FROM greatest(source_commit_time, caught_up_at))::text FROM passerelle_cdc.stream WHERE slot = \(slot)
                    """
                ).flatMap(Double.init)
            {
                status.lagSeconds = max(0, now - last)
            } else if status.lagBytes != nil {
                status.lagSeconds = 0
            }
        }
        return status
    }

    public var text: String {
        var lines = ["slot \(slot): phase \(phase), \(tablesCopied) table(s) copied"]
        lines.append(
            "applied up to source commit \(appliedLSN) (source at \(sourceLSN ?? "?"), slot confirmed "
                + "\(confirmedLSN ?? "?")\(slotActive ? ", in use" : ""))"
        )
        if let lagBytes {
            lines.append(
                "lag: \(lagBytes) bytes, \(String(format: "%.1f", lagSeconds ?? 0)) s; WAL retained by the slot: \(retainedBytes ?? 0) bytes")
        } else {
            lines.append("lag: unknown (no slot on the source)")
        }
        lines.append(String(format: "%lld transactions, %lld changes applied; %.0f changes/s now", transactions, changes, changesPerSecond))
        if let lastSourceCommit { lines.append("last applied source commit at \(lastSourceCommit), applied at \(lastApplied ?? "?")") }
        return lines.joined(separator: "\n")
    }

    /// The Prometheus text exposition of the same figures.
    public var prometheus: String {
        let label = "{slot=\"\(slot.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\"}"
        var out: [String] = []
        func gauge(_ name: String, _ help: String, _ value: Double?) {
            guard let value else { return }
            out.append("# HELP \(name) \(help)\n# TYPE \(name) gauge\n\(name)\(label) \(value)")
        }
        gauge("passerelle_cdc_lag_bytes", "Source WAL not yet applied and confirmed.", lagBytes.map(Double.init))
        gauge("passerelle_cdc_lag_seconds", "Seconds since the last applied source commit, 0 when caught up.", lagSeconds)
        gauge("passerelle_cdc_retained_bytes", "Source WAL retained by the slot.", retainedBytes.map(Double.init))
        gauge("passerelle_cdc_applied_lsn", "Commit LSN of the last applied source transaction.", LSN(appliedLSN).map { Double($0.value) })
        gauge("passerelle_cdc_transactions_applied", "Source transactions applied.", Double(transactions))
        gauge("passerelle_cdc_changes_applied", "Row changes applied.", Double(changes))
        gauge("passerelle_cdc_changes_per_second", "Row changes applied per second, now.", changesPerSecond)
        return out.joined(separator: "\n") + "\n"
    }
}
