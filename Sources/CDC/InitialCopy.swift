import Foundation
import NIOCore
import PostgresNIO

/// The first copy of the source's tables, consistent with the change stream.
///
/// Consistency by overlap, not by exported snapshot: the slot is created first, then each table
/// is copied by one `COPY` (its own snapshot, taken after the slot's consistent point), and the
/// stream later replays every change since the slot's start, idempotently (`ApplyPlan`): a
/// change already in the copy is re-applied to the same effect, so the target converges to the
/// source. An exported snapshot would need a replication connection (`replication=database`,
/// which postgres-nio cannot drive) kept open and idle for the whole copy — hours for a large
/// database, every table in one long transaction on the source, and a copy that cannot resume
/// after a crash. The overlap lets each table be copied, committed and recorded separately, so
/// a restarted `cdc init` copies only what is missing.
///
/// Each table streams from `psql … COPY (SELECT …) TO STDOUT` (postgres-nio has no COPY TO)
/// through this process into postgres-nio's `COPY … FROM STDIN` on the target, in one target
/// transaction with the row recording it as copied: a failure on either side rolls it back.
/// Memory stays at one 1 MiB chunk per table in flight.
public enum InitialCopy {
    public struct Table: Sendable, Hashable {
        public var namespace: String
        public var name: String
        /// Column names as they are (unquoted).
        public var columns: [String]
        public var qualified: String { SQLText.qualified(namespace, name) }
        public var columnList: String { columns.map(SQLText.identifier).joined(separator: ", ") }
        public var display: String { "\(namespace).\(name)" }
    }

    /// SQL condition on `n` (pg_namespace): a schema of the user's, not a system one nor ours.
    static let userSchema = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'passerelle_cdc') AND n.nspname NOT LIKE 'pg\\_%'"

    /// The source's ordinary and partitioned tables (leaves only), outside system schemas, with
    /// their published columns (generated columns are not published by PostgreSQL 15).
    public static func tables(_ source: PgSession, schemas: [String]) async throws(CDCError) -> [Table] {
        let rows = try await source.rows(
            """
            SELECT n.nspname, c.relname, string_agg(a.attname, chr(31) ORDER BY a.attnum)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            WHERE c.relkind = 'r' AND c.relpersistence = 'p'
              AND \(unescaped: userSchema)
              AND (cardinality(\(schemas)::text[]) = 0 OR n.nspname = ANY(\(schemas)::text[]))
            GROUP BY n.nspname, c.relname ORDER BY pg_total_relation_size(min(c.oid)) DESC
            """)
        return rows.compactMap { r in
            guard r.count == 3, let ns = r[0], let name = r[1], let cols = r[2] else { return nil }
            return Table(namespace: ns, name: name, columns: cols.split(separator: "\u{1F}").map(String.init))
        }
    }

    /// Dumps one section of the source's schema (`pre-data`: types, tables; `post-data`:
    /// primary keys, indexes, constraints, triggers) to a file, then applies it to the target
    /// in one transaction. Building indexes after the copy is what pg_restore and pgcopydb do.
    public static func applySchema(source: PgEndpoint, target: PgEndpoint, section: String, schemas: [String]) async throws(CDCError) {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("passerelle-cdc-\(UUID().uuidString).sql")
        defer { try? FileManager.default.removeItem(at: file) }
        var args = [
            "--schema-only", "--section=\(section)", "--no-owner", "--no-acl", "--no-publications",
            "--no-subscriptions", "--file=\(file.path)", "--dbname=\(source.conninfo)",
        ]
        args += schemas.map { "--schema=\($0)" }
        let dump = try ChildProcess(tool: "pg_dump", arguments: args, environment: source.childEnvironment)
        try await dump.finish()
        let apply = try ChildProcess(
            tool: "psql",
            arguments: ["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction", "-f", file.path, "-d", target.conninfo],
            environment: target.childEnvironment)
        try await apply.finish()
    }

    /// Copies one table, replacing what the target has of it; returns the rows and bytes copied.
    public static func copy(_ table: Table, source: PgEndpoint, target: PgSession, slot: String) async throws(CDCError) -> (rows: Int64, bytes: Int64)
    {
        var env = source.childEnvironment
        env["PGOPTIONS"] = "-c DateStyle=ISO,YMD -c TimeZone=UTC -c IntervalStyle=postgres -c extra_float_digits=1"
        let reader = try ChildProcess(
            tool: "psql",
            arguments: [
                "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", source.conninfo,
                "-c", "COPY (SELECT \(table.columnList) FROM ONLY \(table.qualified)) TO STDOUT",
            ],
            environment: env)
        var rows: Int64 = 0
        var bytes: Int64 = 0
        let started = Date()
        do {
            try await target.exec("BEGIN")
            try await target.exec("SET LOCAL session_replication_role = replica")
            guard !target.connection.isClosed else { throw CDCError("the connection to the target was closed") }
            try await target.exec("DELETE FROM ONLY \(table.qualified)")
            // copyFrom puts the names in double quotes itself, without doubling the quotes inside.
            let inner = { (name: String) in name.replacingOccurrences(of: "\"", with: "\"\"") }
            try await target.connection.copyFrom(
                table: inner(table.namespace) + "\".\"" + inner(table.name), columns: table.columns.map(inner), logger: PgSession.logger
            ) { writer in
                while let chunk = try await reader.read() {
                    rows += Int64(chunk.readableBytesView.reduce(0) { $1 == 0x0A ? $0 + 1 : $0 })
                    bytes += Int64(chunk.readableBytes)
                    try await writer.write(chunk)
                }
                // The source side must have ended well, or the rows would be a truncated copy.
                try await reader.finish()
            }
            let seconds = Date().timeIntervalSince(started)
            _ = try await target.rows(
                """
                INSERT INTO passerelle_cdc.copied (slot, table_name, rows, seconds) VALUES (\(slot), \(table.display), \(rows), \(seconds))
                ON CONFLICT (slot, table_name) DO UPDATE SET rows = EXCLUDED.rows, seconds = EXCLUDED.seconds, copied_at = now()
                """)
            try await target.exec("COMMIT")
        } catch {
            reader.kill()
            try? await target.exec("ROLLBACK")
            throw CDCError("copying \(table.display): \(PgSession.describe(error))")
        }
        return (rows, bytes)
    }

    /// The tables the target already holds a finished copy of.
    public static func copied(_ target: PgSession, slot: String) async throws(CDCError) -> Set<String> {
        Set(try await target.rows("SELECT table_name FROM passerelle_cdc.copied WHERE slot = \(slot)").compactMap { $0.first ?? nil })
    }
}
