import Foundation
import TestSupport
import Testing

@testable import CDC

/// The vectors were captured from a real PostgreSQL 15 cluster (wal_level=logical) after:
///
///     CREATE TABLE t (id int PRIMARY KEY, name text, amount numeric(12,2), at timestamptz, doc jsonb,
///                     raw bytea, tags text[], u uuid, big text);      -- big: STORAGE EXTERNAL (TOASTed)
///     CREATE TABLE f (a int, b text);  ALTER TABLE f REPLICA IDENTITY FULL;
///     CREATE PUBLICATION pub FOR ALL TABLES;  SELECT pg_create_logical_replication_slot('s', 'pgoutput');
///     INSERT INTO t VALUES (1, 'Zoë 🔐', 1234.50, '2026-11-30 12:00:00+00', '{"k": [1, 2]}', '\x00ff10',
///                           '{a,"b c"}', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', repeat('x', 10000));
///     INSERT INTO t (id) VALUES (2);
///     UPDATE t SET name = 'renamed' WHERE id = 1;     -- big unchanged: not sent
///     UPDATE t SET id = 10 WHERE id = 2;              -- key change: old key sent
///     DELETE FROM t WHERE id = 10;
///     INSERT INTO f VALUES (1, 'one');  UPDATE f SET b = 'uno' WHERE a = 1;  DELETE FROM f WHERE a = 1;
///     SELECT pg_logical_emit_message(true, 'passerelle', 'hello');
///     TRUNCATE f, t;
@Suite("pgoutput decoder")
struct PgOutputTests {
    struct Captured {
        var lsn: String
        var xid: UInt32
        var bytes: [UInt8]
    }

    static func vectors() throws -> [Captured] {
        let url = try #require(Bundle.module.url(forResource: "pgoutput-v1", withExtension: "txt", subdirectory: "Vectors"))
        return try String(contentsOf: url, encoding: .utf8).split(separator: "\n").filter { !$0.hasPrefix("#") }.map { line in
            let f = line.split(separator: "|")
            var bytes: [UInt8] = []
            var i = f[2].startIndex
            while i < f[2].endIndex {
                let j = f[2].index(i, offsetBy: 2)
                bytes.append(try #require(UInt8(f[2][i..<j], radix: 16)))
                i = j
            }
            return Captured(lsn: String(f[0]), xid: try #require(UInt32(f[1])), bytes: bytes)
        }
    }

    static func text(_ s: String) -> PgOutputMessage.Column { .text(Array(s.utf8)) }

    @Test("every captured message decodes, transactions are framed by Begin and Commit with their xid")
    func framing() throws {
        let messages = try Self.vectors().map { ($0, try PgOutputMessage.decode($0.bytes)) }
        #expect(messages.count == 34)
        var open: UInt32?
        for (captured, m) in messages {
            switch m {
            case .begin(_, _, let xid):
                #expect(open == nil && xid == captured.xid)
                open = xid
            case .commit(let flags, let commitLSN, let endLSN, _):
                #expect(open == captured.xid && flags == 0 && endLSN > commitLSN)
                open = nil
            default:
                #expect(open == captured.xid)
            }
        }
        #expect(open == nil)
    }

    @Test("relations, every common type as text, unchanged TOAST, key changes, FULL identity, messages, TRUNCATE")
    func contents() throws {
        let m = try Self.vectors().map { try PgOutputMessage.decode($0.bytes) }
        guard case .relation(let t) = m[1] else {
            Issue.record("expected relation t")
            return
        }
        #expect(t.namespace == "public" && t.name == "t" && t.replicaIdentity == UInt8(ascii: "d"))
        #expect(t.columns.map(\.name) == ["id", "name", "amount", "at", "doc", "raw", "tags", "u", "big"])
        #expect(t.columns.map(\.typeOID) == [23, 25, 1700, 1184, 3802, 17, 1009, 2950, 25])
        #expect(t.columns.map(\.isKey) == [true] + Array(repeating: false, count: 8))
        #expect(t.columns[2].typeModifier == (12 << 16 | 2) + 4)
        guard case .insert(let rel, let row) = m[2] else {
            Issue.record("expected insert")
            return
        }
        #expect(rel == t.oid)
        #expect(
            Array(row.prefix(8)) == [
                Self.text("1"), Self.text("Zoë 🔐"), Self.text("1234.50"), Self.text("2026-11-30 12:00:00+00"),
                Self.text(#"{"k": [1, 2]}"#), Self.text("\\x00ff10"), Self.text(#"{a,"b c"}"#),
                Self.text("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"),
            ])
        #expect(row[8] == .text(Array(repeating: UInt8(ascii: "x"), count: 10000)))
        #expect(m[5] == .insert(relation: t.oid, new: [Self.text("2")] + Array(repeating: .null, count: 8)))
        guard case .update(_, nil, let renamed) = m[8] else {
            Issue.record("expected an update without old row")
            return
        }
        #expect(renamed[1] == Self.text("renamed") && renamed[8] == .unchangedToast)
        #expect(
            m[11]
                == .update(
                    relation: t.oid, old: .key([Self.text("2")] + Array(repeating: .null, count: 8)),
                    new: [Self.text("10")] + Array(repeating: .null, count: 8)))
        #expect(m[14] == .delete(relation: t.oid, old: .key([Self.text("10")] + Array(repeating: .null, count: 8))))
        guard case .relation(let f) = m[17] else {
            Issue.record("expected relation f")
            return
        }
        #expect(f.replicaIdentity == UInt8(ascii: "f") && f.columns.allSatisfy(\.isKey))
        #expect(m[21] == .update(relation: f.oid, old: .full([Self.text("1"), Self.text("one")]), new: [Self.text("1"), Self.text("uno")]))
        #expect(m[24] == .delete(relation: f.oid, old: .full([Self.text("1"), Self.text("uno")])))
        guard case .message(true, _, "passerelle", let content) = m[27] else {
            Issue.record("expected a message")
            return
        }
        #expect(content == Array("hello".utf8))
        #expect(m[32] == .truncate(relations: [f.oid, t.oid], cascade: false, restartIdentity: false))
    }

    @Test("truncated, extended and mutated messages are typed errors, never a crash")
    func fuzz() throws {
        var rng = SplitMix64(state: 0xcdc)
        let vectors = try Self.vectors().map(\.bytes)
        for v in vectors {
            for cut in 0..<v.count { #expect(throws: PgOutputError.self) { try PgOutputMessage.decode(Array(v.prefix(cut))) } }
            #expect(throws: PgOutputError.self) { try PgOutputMessage.decode(v + [0]) }
        }
        let iterations = Int(ProcessInfo.processInfo.environment["FUZZ_ITERATIONS"] ?? "") ?? 20000
        for _ in 0..<iterations {
            var b = vectors[Int.random(in: 0..<vectors.count, using: &rng)]
            for _ in 0..<Int.random(in: 1...4, using: &rng) where !b.isEmpty {
                b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? PgOutputMessage.decode(b)
        }
    }
}
