import Foundation
import TestSupport
import Testing

@testable import CDC

@Suite("Applying changes: SQL, quoting, endpoints, pre-flight")
struct ApplyPlanTests {
    /// The captured stream (see PgOutputTests) turned into target SQL, table t keyed by id and
    /// f (REPLICA IDENTITY FULL, no key on the target) matched by all its values.
    @Test("the captured stream becomes idempotent SQL in order")
    func capturedStream() throws {
        var plan = ApplyPlan()
        var sql: [String] = []
        for v in try PgOutputTests.vectors() {
            let m = try PgOutputMessage.decode(v.bytes)
            if case let .relation(r) = m { try plan.define(r, targetKey: r.name == "t" ? ["id"] : []) }
            if let s = try plan.sql(for: m) { sql.append(s) }
        }
        #expect(sql.count == 9)
        // The first insert: every type as the server wrote it, quoted; an upsert on the key.
        #expect(
            sql[0].hasPrefix(
                #"INSERT INTO "public"."t" ("id", "name", "amount", "at", "doc", "raw", "tags", "u", "big") VALUES ('1', 'Zoë 🔐', '1234.50', "#))
        #expect(sql[0].contains(#"'{"k": [1, 2]}', '\x00ff10', '{a,"b c"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'"#))
        #expect(
            sql[0].hasSuffix(
                #" ON CONFLICT ("id") DO UPDATE SET "name" = EXCLUDED."name", "amount" = EXCLUDED."amount", "at" = EXCLUDED."at", "#
                    + #""doc" = EXCLUDED."doc", "raw" = EXCLUDED."raw", "tags" = EXCLUDED."tags", "u" = EXCLUDED."u", "big" = EXCLUDED."big""#
            ))
        #expect(sql[1].contains("VALUES ('2', NULL, NULL"))
        // The TOASTed column left unchanged: a plain UPDATE without it.
        #expect(sql[2].hasPrefix(#"UPDATE "public"."t" SET "id" = '1', "name" = 'renamed'"#))
        #expect(!sql[2].contains(#""big""#) && sql[2].hasSuffix(#"WHERE "id" = '1'"#))
        // The key change: the old key deleted, the new row upserted.
        #expect(sql[3].hasPrefix(#"DELETE FROM "public"."t" WHERE "id" = '2';"#) && sql[3].contains("VALUES ('10'"))
        #expect(sql[4] == #"DELETE FROM "public"."t" WHERE "id" = '10'"#)
        // REPLICA IDENTITY FULL without a key: a plain insert; one row matched by all its values.
        #expect(sql[5] == #"INSERT INTO "public"."f" ("a", "b") VALUES ('1', 'one')"#)
        #expect(
            sql[6]
                == #"UPDATE "public"."f" SET "a" = '1', "b" = 'uno' WHERE ctid = (SELECT ctid FROM "public"."f" WHERE "a"::text "#
                + #"IS NOT DISTINCT FROM '1' AND "b"::text IS NOT DISTINCT FROM 'one' LIMIT 1)"#
        )
        #expect(sql[7].hasPrefix(#"DELETE FROM "public"."f" WHERE ctid = (SELECT ctid"#) && sql[7].contains("'uno'"))
        #expect(sql[8] == #"TRUNCATE ONLY "public"."f", "public"."t""#)
    }

    static func relation(_ identity: Character = "d") -> PgOutputMessage.Relation {
        .init(
            oid: 7, namespace: "my\"schema", name: "it's", replicaIdentity: UInt8(ascii: identity.unicodeScalars.first!),
            columns: [.init(isKey: true, name: "k", typeOID: 23, typeModifier: -1), .init(isKey: false, name: "v\"1", typeOID: 25, typeModifier: -1)])
    }

    @Test("identifiers and values are quoted; quotes inside are doubled")
    func quoting() throws {
        var plan = ApplyPlan()
        try plan.define(Self.relation(), targetKey: ["k"])
        let s = try plan.sql(for: .insert(relation: 7, new: [.text(Array("1".utf8)), .text(Array("a'b\\c\"; DROP TABLE x; --".utf8))]))
        #expect(
            s
                == #"INSERT INTO "my""schema"."it's" ("k", "v""1") VALUES ('1', 'a''b\c"; DROP TABLE x; --') "#
                + #"ON CONFLICT ("k") DO UPDATE SET "v""1" = EXCLUDED."v""1""#
        )
        #expect(SQLText.literal("it's") == "'it''s'")
        var seed: UInt64 = 1
        let body = "x $p1$ y"
        #expect(!body.contains(SQLText.dollarTag(for: body, seed: &seed)))
    }

    @Test("bad changes are clear errors: unknown relation, column count, missing key, no identity")
    func errors() throws {
        var plan = ApplyPlan()
        #expect(throws: CDCError.self) { try plan.sql(for: .insert(relation: 7, new: [])) }
        #expect(throws: CDCError.self) { try plan.define(Self.relation(), targetKey: ["absent"]) }
        #expect(throws: CDCError.self) { try plan.define(Self.relation(), targetKey: []) }  // default identity, no key
        try plan.define(Self.relation(), targetKey: ["k"])
        #expect(throws: CDCError.self) { try plan.sql(for: .insert(relation: 7, new: [.null])) }
        #expect(throws: CDCError.self) { try plan.sql(for: .delete(relation: 7, old: .key([.null, .null]))) }
        #expect(throws: CDCError.self) { try plan.sql(for: .insert(relation: 7, new: [.text([0x31]), .unchangedToast])) }
        #expect(throws: CDCError.self) { try plan.sql(for: .insert(relation: 7, new: [.text([0x31]), .binary([1])])) }
    }

    @Test("random changes never crash the planner")
    func fuzz() throws {
        var rng = SplitMix64(state: 0xCDC)
        var plan = ApplyPlan()
        try plan.define(Self.relation(), targetKey: ["k"])
        try plan.define(.init(oid: 8, namespace: "s", name: "f", replicaIdentity: UInt8(ascii: "f"), columns: Self.relation().columns), targetKey: [])
        let values: [PgOutputMessage.Column] = [.null, .unchangedToast, .text([]), .text(Array("x'".utf8)), .binary([0])]
        func row() -> [PgOutputMessage.Column] { (0..<Int.random(in: 0...3, using: &rng)).map { _ in values.randomElement(using: &rng)! } }
        for _ in 0..<5_000 {
            let oid = UInt32.random(in: 6...9, using: &rng)
            let m: PgOutputMessage =
                switch Int.random(in: 0...3, using: &rng) {
                case 0: .insert(relation: oid, new: row())
                case 1: .update(relation: oid, old: Bool.random(using: &rng) ? .key(row()) : nil, new: row())
                case 2: .delete(relation: oid, old: .full(row()))
                default: .truncate(relations: [oid], cascade: true, restartIdentity: false)
                }
            _ = try? plan.sql(for: m)
        }
    }

    @Test("LSNs parse and print as PostgreSQL writes them")
    func lsn() {
        #expect(LSN("16/B374D848")?.value == 0x16_B374_D848)
        #expect(LSN("0/0") == .zero)
        #expect(LSN(0x1_0000_0000).description == "1/0")
        for bad in ["", "1", "1/", "/1", "x/1", "1/2/3", "123456789/0"] { #expect(LSN(bad) == nil) }
        #expect(LSN("0/10")! < LSN("1/0")!)
    }

    @Test("URLs: parts, TLS modes, password kept out of descriptions and connection strings")
    func endpoints() throws {
        let e = try PgEndpoint(url: "postgres://app:s%40cret@db.example:6543/health?sslmode=verify-full&sslrootcert=/etc/ca.pem")
        #expect(e.user == "app" && e.password == "s@cret" && e.host == "db.example" && e.port == 6543 && e.database == "health")
        #expect(e.sslMode == .verifyFull && e.sslRootCert == "/etc/ca.pem")
        #expect(e.description == "postgres://app@db.example:6543/health")
        #expect(!e.conninfo.contains("cret") && e.conninfo.contains("sslmode='verify-full'") && e.conninfo.contains("sslrootcert='/etc/ca.pem'"))
        #expect(e.childEnvironment["PGPASSWORD"] == "s@cret")
        #expect(try PgEndpoint(url: "postgresql://u@h").database == "u")
        #expect(PgEndpoint.quoteConninfo(#"a'b\c"#) == #"'a\'b\\c'"#)
        for bad in [
            "mysql://u@h/d", "postgres:///d", "postgres://h/d", "postgres://u@h/d?sslmode=bogus",
            "postgres://u@h/d?sslmode=verify-full", "postgres://u@h/d?foo=1", "postgres://u@h:0/d",
        ] {
            #expect(throws: CDCError.self, "\(bad)") { try PgEndpoint(url: bad) }
        }
        do {
            _ = try PgEndpoint(url: "mysql://u:topsecret@h/d")
        } catch {
            #expect(!error.description.contains("topsecret"))
        }
    }

    @Test("pre-flight: each problem is a failure with what to do; a healthy pair passes")
    func preflight() {
        var s = Preflight.SourceFacts()
        s.version = "15"
        s.walLevel = "logical"
        s.encoding = "UTF8"
        s.database = "app"
        s.freeSlots = 3
        s.freeSenders = 3
        s.replicationRole = true
        s.tables = [
            .init(name: "public.a", hasPrimaryKey: true, replicaIdentityFull: false, selectable: true),
            .init(name: "public.b", hasPrimaryKey: false, replicaIdentityFull: true, selectable: true),
        ]
        var t = Preflight.TargetFacts()
        t.encoding = "UTF8"
        t.superuser = true
        func failures(_ s: Preflight.SourceFacts, _ t: Preflight.TargetFacts, create: Bool = false) -> [String] {
            Preflight.judge(source: s, target: t, slot: "p", createSchema: create).filter { $0.level == .failure }.map(\.text)
        }
        #expect(failures(s, t).isEmpty)
        var bad = s
        bad.walLevel = "replica"
        #expect(failures(bad, t).count == 1 && failures(bad, t)[0].contains("wal_level"))
        bad = s
        bad.tables.append(.init(name: "public.c", hasPrimaryKey: false, replicaIdentityFull: false, selectable: false))
        #expect(failures(bad, t).count == 2 && failures(bad, t).contains { $0.contains("public.c") && $0.contains("primary key") })
        bad = s
        bad.freeSlots = 0
        #expect(failures(bad, t).first?.contains("no free replication slot") == true)
        bad.slot = .init(plugin: "pgoutput", database: "app", active: true)
        #expect(failures(bad, t).first?.contains("taken by another consumer") == true)
        bad.slot = .init(plugin: "pgoutput", database: "other", active: false)
        #expect(failures(bad, t).first?.contains("for database other") == true)
        bad.slot = .init(plugin: "pgoutput", database: "app", active: false)
        #expect(failures(bad, t).isEmpty)
        bad = s
        bad.replicationRole = false
        #expect(failures(bad, t).first?.contains("REPLICATION") == true)
        var tt = t
        tt.missingTables = ["public.a"]
        #expect(failures(s, tt).first?.contains("missing on the target") == true)
        #expect(failures(s, tt, create: true).isEmpty)
        tt.superuser = false
        tt.encoding = "LATIN1"
        #expect(failures(s, tt, create: true).count == 2)
        tt = t
        tt.incompatible = ["public.a (source: id integer; target: id text)"]
        #expect(failures(s, tt).first?.contains("columns differ") == true)
        let warnings = Preflight.judge(source: s, target: t, slot: "p", createSchema: false).filter { $0.level == .warning }
        #expect(warnings.count == 1 && warnings[0].text.contains("public.b") && warnings[0].text.contains("doubled"))
        let fix = Preflight.judge(source: bad, target: t, slot: "p", createSchema: false).first { $0.level == .failure }?.fix
        #expect(fix?.contains("ALTER ROLE") == true)
    }
}
