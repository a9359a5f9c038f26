/// The pre-flight check of a source and a target: facts gathered by queries, judged by a pure
/// function so that every rule is tested without a server.
public enum Preflight {
    public struct SourceFacts: Sendable, Equatable {
        public var version = ""
        public var walLevel = ""
        public var encoding = ""
        public var database = ""
        public var freeSlots = 0
        public var freeSenders = 0
        public var superuser = false
        public var replicationRole = false
        public var tables: [TableFacts] = []
        public var largeObjects = 0
        public var unloggedTables: [String] = []
        /// The slot of this name, if it exists.
        public var slot: SlotFacts?
        public init() {}
    }

    public struct SlotFacts: Sendable, Equatable {
        public var plugin: String
        public var database: String
        /// A process holds it (a walsender, or a peek in progress).
        public var active: Bool
        public init(plugin: String, database: String, active: Bool) {
            self.plugin = plugin
            self.database = database
            self.active = active
        }
    }

    public struct TableFacts: Sendable, Equatable {
        public var name: String
        public var hasPrimaryKey: Bool
        public var replicaIdentityFull: Bool
        public var selectable: Bool
        public init(name: String, hasPrimaryKey: Bool, replicaIdentityFull: Bool, selectable: Bool) {
            self.name = name
            self.hasPrimaryKey = hasPrimaryKey
            self.replicaIdentityFull = replicaIdentityFull
            self.selectable = selectable
        }
    }

    public struct TargetFacts: Sendable, Equatable {
        public var version = ""
        public var encoding = ""
        public var superuser = false
        public var missingTables: [String] = []
        /// Tables present on both sides whose columns differ: "table: what differs".
        public var incompatible: [String] = []
        public init() {}
    }

    public struct Finding: Sendable, Equatable, CustomStringConvertible {
        public enum Level: String, Sendable { case ok = "OK", warning = "WARN", failure = "FAIL" }
        public var level: Level
        public var text: String
        public var fix: String?
        public var description: String {
            "\(level.rawValue.padding(toLength: 4, withPad: " ", startingAt: 0))  \(text)" + (fix.map { "\n      → \($0)" } ?? "")
        }
    }

    public static func judge(source s: SourceFacts, target t: TargetFacts, slot: String, createSchema: Bool) -> [Finding] {
        var out: [Finding] = []
        func ok(_ text: String) { out.append(Finding(level: .ok, text: text)) }
        func fail(_ text: String, _ fix: String) { out.append(Finding(level: .failure, text: text, fix: fix)) }
        func warn(_ text: String, _ fix: String) { out.append(Finding(level: .warning, text: text, fix: fix)) }

        if s.walLevel == "logical" {
            ok("source wal_level = logical (\(s.version))")
        } else {
            fail(
                "source wal_level = \(s.walLevel): logical decoding needs 'logical'",
                "ALTER SYSTEM SET wal_level = logical; then restart the source server")
        }
        if s.encoding != "UTF8" {
            fail("source encoding is \(s.encoding)", "the replicator handles UTF8 databases only")
        }
        if let existing = s.slot {
            if existing.plugin != "pgoutput" || existing.database != s.database {
                fail(
                    "a slot named \(slot) exists for database \(existing.database) with plugin \(existing.plugin)",
                    "choose another --slot (slots are shared by every database of the server), or drop it if it is stale")
            } else if existing.active {
                fail("slot \(slot) is taken by another consumer", "stop the other consumer, or choose another --slot")
            } else {
                ok("slot \(slot) exists (pgoutput), resumable")
            }
        } else if s.freeSlots < 1 {
            fail(
                "no free replication slot on the source (max_replication_slots reached)",
                "raise max_replication_slots, or drop an unused slot (SELECT pg_drop_replication_slot(name))")
        } else {
            ok("\(s.freeSlots) free replication slot(s)")
        }
        if s.freeSenders < 1 {
            warn("no free WAL sender on the source", "not needed by this replicator (it reads the slot over SQL), but native replicas need one")
        }
        if s.superuser || s.replicationRole {
            ok("source user may use replication slots")
        } else {
            fail("the source user has neither REPLICATION nor superuser", "ALTER ROLE <user> REPLICATION")
        }
        let unselectable = s.tables.filter { !$0.selectable }.map(\.name)
        if !unselectable.isEmpty {
            fail("no SELECT privilege on \(list(unselectable))", "GRANT SELECT ON those tables TO <user>")
        }
        let noIdentity = s.tables.filter { !$0.hasPrimaryKey && !$0.replicaIdentityFull }.map(\.name)
        if noIdentity.isEmpty {
            ok("\(s.tables.count) table(s), each with a primary key or REPLICA IDENTITY FULL")
        } else {
            fail(
                "table(s) without primary key nor REPLICA IDENTITY FULL: \(list(noIdentity))",
                "add a primary key, or ALTER TABLE <t> REPLICA IDENTITY FULL (slower updates and deletes)")
        }
        let keyless = s.tables.filter { !$0.hasPrimaryKey && $0.replicaIdentityFull }.map(\.name)
        if !keyless.isEmpty {
            warn(
                "table(s) without a primary key (REPLICA IDENTITY FULL): \(list(keyless)); rows written to them while `cdc init` copies may be "
                    + "doubled on the target (no key to recognise them; `cdc verify` shows it)",
                "add a primary key, or keep them unwritten during the initial copy")
        }
        if s.largeObjects > 0 {
            warn("\(s.largeObjects) large object(s): logical decoding does not carry them", "move them to bytea columns, or copy them separately")
        }
        if !s.unloggedTables.isEmpty {
            warn("unlogged table(s) not replicated (no WAL): \(list(s.unloggedTables))", "ALTER TABLE <t> SET LOGGED if they must move")
        }
        if t.superuser {
            ok("target reachable (\(t.version)), user may set session_replication_role")
        } else {
            fail(
                "the target user is not a superuser",
                "the replicator applies with session_replication_role = replica (as native logical replication does): use a superuser on the target")
        }
        if t.encoding != s.encoding {
            fail("target encoding \(t.encoding) differs from the source's \(s.encoding)", "create the target database with ENCODING '\(s.encoding)'")
        }
        if !t.missingTables.isEmpty {
            if createSchema {
                ok("\(t.missingTables.count) table(s) to create on the target from the source's schema")
            } else {
                fail("missing on the target: \(list(t.missingTables))", "create them, or pass --create-schema (pg_dump --schema-only of the source)")
            }
        } else {
            ok("every source table exists on the target")
        }
        if !t.incompatible.isEmpty {
            fail(
                "target table(s) whose columns differ from the source's: \(list(t.incompatible))",
                "give them the source's columns and types (compare pg_dump --schema-only of both), or drop them and pass --create-schema")
        }
        return out
    }

    static func list(_ names: [String]) -> String {
        names.count <= 10 ? names.joined(separator: ", ") : names.prefix(10).joined(separator: ", ") + " and \(names.count - 10) more"
    }

    public static func gather(
        source: PgSession, target: PgSession, slot: String, schemas: [String]
    ) async throws(CDCError) -> (SourceFacts, TargetFacts) {
        var s = SourceFacts()
        let g =
            try await source.rows(
                """
                SELECT current_setting('server_version'), current_setting('wal_level'), current_setting('server_encoding'), current_database(),
                  (current_setting('max_replication_slots')::int - (SELECT count(*) FROM pg_replication_slots))::text,
                  (current_setting('max_wal_senders')::int - (SELECT count(*) FROM pg_stat_replication))::text,
                  rolsuper::text, rolreplication::text, (SELECT count(*) FROM pg_largeobject_metadata)::text
                FROM pg_roles WHERE rolname = current_user
                """
            ).first ?? []
        guard g.count == 9 else { throw CDCError("\(source.endpoint): cannot read the server's settings") }
        s.version = g[0] ?? ""
        s.walLevel = g[1] ?? ""
        s.encoding = g[2] ?? ""
        s.database = g[3] ?? ""
        s.freeSlots = Int(g[4] ?? "") ?? 0
        s.freeSenders = Int(g[5] ?? "") ?? 0
        s.superuser = g[6] == "true"
        s.replicationRole = g[7] == "true"
        s.largeObjects = Int(g[8] ?? "") ?? 0
        for r in try await source.rows(
            """
            SELECT n.nspname || '.' || c.relname, c.relpersistence::text,
              EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary)::text,
              (c.relreplident = 'f')::text, has_table_privilege(c.oid, 'SELECT')::text
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind = 'r' AND \(unescaped: InitialCopy.userSchema)
              AND (cardinality(\(schemas)::text[]) = 0 OR n.nspname = ANY(\(schemas)::text[]))
            ORDER BY 1
            """) where r.count == 5
        {
            let name = r[0] ?? ""
            if r[1] == "u" {
                s.unloggedTables.append(name)
                continue
            }
            s.tables.append(TableFacts(name: name, hasPrimaryKey: r[2] == "true", replicaIdentityFull: r[3] == "true", selectable: r[4] == "true"))
        }
        if let r = try await source.rows(
            """
            SELECT coalesce(plugin, 'physical'), coalesce(database, ''), (active_pid IS NOT NULL)::text
            FROM pg_replication_slots WHERE slot_name = \(slot)
            """
        ).first, r.count == 3 {
            s.slot = SlotFacts(plugin: r[0] ?? "", database: r[1] ?? "", active: r[2] == "true")
        }
        var t = TargetFacts()
        let tg =
            try await target.rows(
                """
                SELECT current_setting('server_version'), current_setting('server_encoding'), rolsuper::text
                FROM pg_roles WHERE rolname = current_user
                """
            ).first ?? []
        guard tg.count == 3 else { throw CDCError("\(target.endpoint): cannot read the server's settings") }
        t.version = tg[0] ?? ""
        t.encoding = tg[1] ?? ""
        t.superuser = tg[2] == "true"
        let columnsSQL = """
            SELECT n.nspname || '.' || c.relname, string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attname)
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
            WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') GROUP BY 1
            """
        func columns(_ session: PgSession) async throws(CDCError) -> [String: String] {
            var out: [String: String] = [:]
            for r in try await session.rows(.init(unsafeSQL: columnsSQL)) where r.count == 2 {
                if let name = r[0] { out[name] = r[1] ?? "" }
            }
            return out
        }
        let (sourceColumns, targetColumns) = (try await columns(source), try await columns(target))
        for table in s.tables {
            guard let there = targetColumns[table.name] else {
                t.missingTables.append(table.name)
                continue
            }
            if let here = sourceColumns[table.name], here != there {
                t.incompatible.append("\(table.name) (source: \(here); target: \(there))")
            }
        }
        return (s, t)
    }
}
