import PostgresNIO

/// The replicator's durable state, kept on the target in the `passerelle_cdc` schema so that
/// it commits in the same transactions as the changes it describes.
public struct StreamState: Sendable, Equatable {
    public var slot: String
    public var publication: String
    public var source: String
    public var phase: String
    public var appliedCommit: LSN
    public var sourceCommitTime: String?
    public var appliedAt: String?
    public var transactions: Int64
    public var changes: Int64

    public static let schemaSQL = """
        CREATE SCHEMA IF NOT EXISTS passerelle_cdc;
        CREATE TABLE IF NOT EXISTS passerelle_cdc.stream (
            slot text PRIMARY KEY,
            publication text NOT NULL,
            source text NOT NULL,
            phase text NOT NULL DEFAULT 'copying',
            applied_commit_lsn pg_lsn NOT NULL DEFAULT '0/0',
            source_commit_time timestamptz,
            applied_at timestamptz,
            transactions bigint NOT NULL DEFAULT 0,
            changes bigint NOT NULL DEFAULT 0,
            caught_up_at timestamptz);
        CREATE TABLE IF NOT EXISTS passerelle_cdc.copied (
            slot text NOT NULL, table_name text NOT NULL, rows bigint NOT NULL, seconds double precision NOT NULL,
            copied_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (slot, table_name));
        CREATE TABLE IF NOT EXISTS passerelle_cdc.steps (
            slot text NOT NULL, step text NOT NULL, detail text NOT NULL DEFAULT '',
            done_at timestamptz NOT NULL DEFAULT now(), PRIMARY KEY (slot, step));
        """

    public static func ensureSchema(_ target: PgSession) async throws(CDCError) {
        for statement in schemaSQL.split(separator: ";") where !statement.allSatisfy(\.isWhitespace) {
            try await target.exec(String(statement))
        }
    }

    public static func load(_ target: PgSession, slot: String) async throws(CDCError) -> StreamState? {
        let exists = try await target.value("SELECT to_regclass('passerelle_cdc.stream')::text")
        guard exists != nil else { return nil }
        guard
            let r = try await target.rows(
                """
                SELECT slot, publication, source, phase, applied_commit_lsn::text,
                       source_commit_time::text, applied_at::text, transactions::text, changes::text
                FROM passerelle_cdc.stream WHERE slot = \(slot)
                """
            ).first, r.count == 9
        else { return nil }
        return StreamState(
            slot: r[0] ?? slot, publication: r[1] ?? "", source: r[2] ?? "", phase: r[3] ?? "",
            appliedCommit: r[4].flatMap(LSN.init) ?? .zero,
            sourceCommitTime: r[5], appliedAt: r[6], transactions: r[7].flatMap { Int64($0) } ?? 0,
            changes: r[8].flatMap { Int64($0) } ?? 0)
    }

    public static func setPhase(_ target: PgSession, slot: String, _ phase: String) async throws(CDCError) {
        _ = try await target.rows("UPDATE passerelle_cdc.stream SET phase = \(phase) WHERE slot = \(slot)")
    }

    /// Records a finished step (cutover, copy) so that a rerun skips it.
    public static func stepDone(_ target: PgSession, slot: String, _ step: String, detail: String = "") async throws(CDCError) {
        _ = try await target.rows(
            """
            INSERT INTO passerelle_cdc.steps (slot, step, detail) VALUES (\(slot), \(step), \(detail))
            ON CONFLICT (slot, step) DO UPDATE SET detail = EXCLUDED.detail, done_at = now()
            """)
    }

    public static func steps(_ target: PgSession, slot: String) async throws(CDCError) -> Set<String> {
        Set(try await target.rows("SELECT step FROM passerelle_cdc.steps WHERE slot = \(slot)").compactMap { $0.first ?? nil })
    }
}
