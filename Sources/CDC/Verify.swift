/// Compares the source and the target table by table: row count and an order-independent
/// checksum (the sum of the first 64 bits of each row's MD5, over the row's text form), both
/// computed by each server. When they differ, rows are bucketed by a hash of their primary key
/// and the differing buckets compared row by row, so differences are listed by key (sampled
/// when many) without moving the tables.
public enum Verify {
    public struct TableReport: Sendable, Equatable, Codable {
        public var table: String
        public var sourceRows: Int64
        public var targetRows: Int64
        public var sourceChecksum: String
        public var targetChecksum: String
        public var differences: [String]
        public var sampled: Bool
        public var clean: Bool { sourceRows == targetRows && sourceChecksum == targetChecksum }
    }

    static let buckets = 1024
    static let examplesPerTable = 20
    static let bucketsExamined = 8

    public static func compare(source: PgSession, target: PgSession, tables: [InitialCopy.Table]) async throws(CDCError) -> [TableReport] {
        var out: [TableReport] = []
        for t in tables {
            let row = "ROW(\(t.columnList))::text"
            let sumSQL =
                "SELECT count(*)::text, coalesce(sum(('x' || substr(md5(\(row)), 1, 16))::bit(64)::bigint::numeric), 0)::text FROM ONLY "
                + "\(t.qualified)"
            async let s = source.rows(.init(unsafeSQL: sumSQL))
            let tr: [[String?]]
            do { tr = try await target.rows(.init(unsafeSQL: sumSQL)) } catch {
                _ = try? await s
                throw CDCError("\(t.display) on the target: \(error)")
            }
            let sr: [[String?]]
            do { sr = try await s } catch { throw error as? CDCError ?? CDCError("\(error)") }
            var report = TableReport(
                table: t.display, sourceRows: Int64(sr.first?[0] ?? "") ?? -1, targetRows: Int64(tr.first?[0] ?? "") ?? -1,
                sourceChecksum: (sr.first?[1] ?? nil) ?? "", targetChecksum: (tr.first?[1] ?? nil) ?? "", differences: [], sampled: false)
            if !report.clean {
                (report.differences, report.sampled) = try await differences(t, source: source, target: target)
            }
            out.append(report)
        }
        return out
    }

    static func differences(_ t: InitialCopy.Table, source: PgSession, target: PgSession) async throws(CDCError) -> ([String], Bool) {
        let key = try await source.primaryKey(of: t.qualified).map(SQLText.identifier)
        guard !key.isEmpty else { return (["no primary key: differences cannot be listed by key"], true) }
        let keyText = "ROW(\(key.joined(separator: ", ")))::text"
        let rowHash = "md5(ROW(\(t.columnList))::text)"
        let bucket = "(hashtext(\(keyText)) & \(buckets - 1))"
        let bucketSQL =
            "SELECT \(bucket)::text, count(*)::text || ':' || sum(('x' || substr(\(rowHash), 1, 16))::bit(64)::bigint::numeric)::text FROM ONLY "
            + "\(t.qualified) GROUP BY 1"
        func map(_ rows: [[String?]]) -> [String: String] {
            Dictionary(rows.compactMap { r in r.count == 2 ? r[0].flatMap { b in r[1].map { (b, $0) } } : nil }, uniquingKeysWith: { a, _ in a })
        }
        let sb = map(try await source.rows(.init(unsafeSQL: bucketSQL)))
        let tb = map(try await target.rows(.init(unsafeSQL: bucketSQL)))
        let differing = Set(sb.keys).union(tb.keys).filter { sb[$0] != tb[$0] }.sorted { (Int($0) ?? 0) < (Int($1) ?? 0) }
        var out: [String] = []
        for b in differing.prefix(bucketsExamined) {
            let rowsSQL = "SELECT \(keyText), \(rowHash) FROM ONLY \(t.qualified) WHERE \(bucket) = \(b)"
            let s = map(try await source.rows(.init(unsafeSQL: rowsSQL)))
            let g = map(try await target.rows(.init(unsafeSQL: rowsSQL)))
            for k in Set(s.keys).union(g.keys).sorted() where s[k] != g[k] {
                out.append(s[k] == nil ? "extra on target: \(k)" : g[k] == nil ? "missing on target: \(k)" : "different: \(k)")
            }
        }
        let sampled = differing.count > bucketsExamined || out.count > examplesPerTable
        return (Array(out.prefix(examplesPerTable)), sampled)
    }
}
