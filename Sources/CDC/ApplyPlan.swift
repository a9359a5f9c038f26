/// Turns decoded changes into SQL for the target (pure). Every statement is idempotent, so
/// replaying the changes that overlap the initial copy converges to the source's state
/// (see `InitialCopy` for why an overlap rather than an exported snapshot):
/// - INSERT is an upsert on the target's primary key;
/// - UPDATE of a complete row deletes the old key if the key changed, then upserts the row;
///   an UPDATE that left TOASTed columns unchanged (`u` in the stream) is a plain UPDATE of
///   the columns it carries, so the target keeps the values it has;
/// - DELETE removes the row if present; TRUNCATE truncates the listed tables.
/// Tables without a primary key (REPLICA IDENTITY FULL) match one row by all its old values.
public struct ApplyPlan: Sendable {
    public struct Table: Sendable, Equatable {
        public var relation: PgOutputMessage.Relation
        /// Indices into `relation.columns` of the target table's primary key; empty when it has none.
        public var key: [Int]
        public var name: String { SQLText.qualified(relation.namespace, relation.name) }
    }

    public private(set) var tables: [UInt32: Table] = [:]

    public init() {}

    /// Records a relation; `targetKey` lists the target's primary-key column names.
    public mutating func define(_ relation: PgOutputMessage.Relation, targetKey: [String]) throws(CDCError) {
        var key: [Int] = []
        for name in targetKey {
            guard let i = relation.columns.firstIndex(where: { $0.name == name }) else {
                throw CDCError(
                    "the target's primary key of \(relation.namespace).\(relation.name) has column \(name), which the source does not publish")
            }
            key.append(i)
        }
        if key.isEmpty, relation.replicaIdentity != UInt8(ascii: "f") {
            throw CDCError(
                "\(relation.namespace).\(relation.name) has no primary key on the target and REPLICA IDENTITY is not FULL on the source: its "
                    + "updates and deletes cannot be applied"
            )
        }
        tables[relation.oid] = Table(relation: relation, key: key)
    }

    public func table(_ oid: UInt32) throws(CDCError) -> Table {
        guard let t = tables[oid] else { throw CDCError("a change refers to relation \(oid), which the stream did not describe") }
        return t
    }

    /// The SQL applying one data change (nil for messages that change no data).
    public func sql(for message: PgOutputMessage) throws(CDCError) -> String? {
        switch message {
        case let .insert(oid, new):
            return try upsert(table(oid), new)
        case let .update(oid, old, new):
            let t = try table(oid)
            try check(t, new)
            let oldValues = old.map(\.values)
            if let oldValues { try check(t, oldValues) }
            if new.contains(.unchangedToast) || t.key.isEmpty {
                var sets: [String] = []
                for (c, v) in zip(t.relation.columns, new) {
                    if let s = try Self.value(v) { sets.append(SQLText.identifier(c.name) + " = " + s) }
                }
                guard !sets.isEmpty else { return nil }
                return "UPDATE \(t.name) SET \(sets.joined(separator: ", ")) WHERE \(try match(t, oldValues ?? new))"
            }
            var sql = ""
            if let oldValues, t.key.contains(where: { oldValues[$0] != new[$0] }) {
                sql = "DELETE FROM \(t.name) WHERE \(try match(t, oldValues));\n"
            }
            return sql + (try upsert(t, new))
        case let .delete(oid, old):
            let t = try table(oid)
            return "DELETE FROM \(t.name) WHERE \(try match(t, old.values))"
        case let .truncate(oids, cascade, restart):
            var names: [String] = []
            for oid in oids { names.append(try table(oid).name) }
            return "TRUNCATE ONLY \(names.joined(separator: ", "))" + (restart ? " RESTART IDENTITY" : "") + (cascade ? " CASCADE" : "")
        case .begin, .commit, .origin, .relation, .type, .message:
            return nil
        }
    }

    private func check(_ t: Table, _ row: [PgOutputMessage.Column]) throws(CDCError) {
        guard row.count == t.relation.columns.count else {
            throw CDCError("a row of \(t.relation.namespace).\(t.relation.name) has \(row.count) columns, its relation \(t.relation.columns.count)")
        }
    }

    private func upsert(_ t: Table, _ row: [PgOutputMessage.Column]) throws(CDCError) -> String {
        try check(t, row)
        var values: [String] = []
        for v in row {
            guard let s = try Self.value(v) else { throw CDCError("an inserted row of \(t.name) has an unchanged TOAST value") }
            values.append(s)
        }
        let columns = t.relation.columns.map { SQLText.identifier($0.name) }
        var sql = "INSERT INTO \(t.name) (\(columns.joined(separator: ", "))) VALUES (\(values.joined(separator: ", ")))"
        guard !t.key.isEmpty else { return sql }
        let keyNames = t.key.map { columns[$0] }
        let others = columns.indices.filter { !t.key.contains($0) }.map { columns[$0] }
        sql += " ON CONFLICT (\(keyNames.joined(separator: ", "))) DO "
        sql += others.isEmpty ? "NOTHING" : "UPDATE SET " + others.map { "\($0) = EXCLUDED.\($0)" }.joined(separator: ", ")
        return sql
    }

    /// The WHERE condition naming the row: its primary key, or (no key) one row equal in every
    /// column, compared as text so that types without an equality operator work too.
    private func match(_ t: Table, _ row: [PgOutputMessage.Column]) throws(CDCError) -> String {
        try check(t, row)
        if t.key.isEmpty {
            var terms: [String] = []
            for (c, v) in zip(t.relation.columns, row) where v != .unchangedToast {
                terms.append("\(SQLText.identifier(c.name))::text IS NOT DISTINCT FROM \(try Self.value(v) ?? "NULL")")
            }
            return "ctid = (SELECT ctid FROM \(t.name) WHERE \(terms.joined(separator: " AND ")) LIMIT 1)"
        }
        var terms: [String] = []
        for i in t.key {
            guard let v = try Self.value(row[i]), v != "NULL" else {
                throw CDCError("a change to \(t.name) carries no value for its key column \(t.relation.columns[i].name)")
            }
            terms.append("\(SQLText.identifier(t.relation.columns[i].name)) = \(v)")
        }
        return terms.joined(separator: " AND ")
    }

    /// A column value as SQL: `NULL`, a literal, or nil for an unchanged TOAST value.
    static func value(_ v: PgOutputMessage.Column) throws(CDCError) -> String? {
        switch v {
        case .null: return "NULL"
        case .unchangedToast: return nil
        case let .text(bytes): return SQLText.literal(bytes: bytes)
        case .binary: throw CDCError("binary-format column values are not requested and not supported")
        }
    }
}

extension PgOutputMessage.OldRow {
    var values: [PgOutputMessage.Column] {
        switch self {
        case let .key(v), let .full(v): v
        }
    }
}
