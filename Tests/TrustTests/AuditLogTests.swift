import Foundation
import GRDB
import TestSupport
import Testing

@testable import Access
@testable import Audit

@Suite("Audit log store, group commit and fuzzed parsers")
struct AuditLogTests {
    static func event(_ i: Int) -> AuditEvent {
        AuditEvent(
            time: Date(timeIntervalSince1970: 1_800_000_000 + Double(i)), principal: "user\(i % 3)", project: "p",
            action: "GetObject", dataset: "d", key: "k\(i)", bytes: Int64(i), result: "allowed", requestID: "r\(i)")
    }

    func withLog(_ body: (AuditLog, String) async throws -> Void) async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("audit-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try await body(try AuditLog(directory: dir), dir)
    }

    @Test("batches commit with a signed checkpoint each; stored proofs verify against them")
    func proofsFromTheStore() async throws {
        try await withLog { log, _ in
            var checkpoints: [Checkpoint] = []
            var next = 0
            for batch in [1, 7, 30, 5] {
                let first = try log.append((next..<next + batch).map(Self.event))
                #expect(first == UInt64(next))
                next += batch
                let note = try #require(try log.latestCheckpoint())
                checkpoints.append(try Checkpoint.parse(text: log.signer.verifier.open(note)))
            }
            #expect(checkpoints.map(\.size) == [1, 8, 38, 43])
            let last = checkpoints[3]
            for i in UInt64(0)..<43 {
                let (leaf, proof) = try log.inclusionProof(index: i, size: 43)
                #expect(leaf == MerkleTree.leafHash(AuditEntry(index: i, event: Self.event(Int(i))).canonicalJSON()))
                #expect(MerkleTree.verifyInclusion(leaf: leaf, index: i, size: 43, proof: proof, root: last.root))
            }
            for old in checkpoints.dropLast() {
                let proof = try log.consistencyProof(oldSize: old.size, newSize: 43)
                #expect(MerkleTree.verifyConsistency(oldSize: old.size, newSize: 43, oldRoot: old.root, newRoot: last.root, proof: proof))
            }
            #expect(throws: MerkleError.self) { try log.inclusionProof(index: 0, size: 44) }
            let report = try log.verify()
            #expect(report.ok && report.entries == 43 && report.checkpointsVerified == 4)
            var f = AuditFilter()
            f.principal = "user1"
            #expect(try log.search(f).map(\.index) == stride(from: UInt64(1), to: 43, by: 3).map { $0 })
        }
    }

    @Test("canonical entries: sorted keys, escapes, round trip, fixed timestamp form")
    func canonical() throws {
        var e = Self.event(5)
        e.detail = "quote \" backslash \\ newline \n tab \t nul \u{0} é 🔐"
        e.time = Date(timeIntervalSince1970: 1_800_000_000.0456)
        let entry = AuditEntry(index: 9, event: e)
        let json = entry.canonicalJSON()
        #expect(try AuditEntry.decode(json) == entry)
        let text = String(decoding: json, as: UTF8.self)
        #expect(
            text.hasPrefix(
                #"{"action":"GetObject","bytes":5,"dataset":"d","#
                    + #""detail":"quote \" backslash \\ newline \u000a tab \u0009 nul \u0000 é 🔐","index":9,"#
            ))
        #expect(text.hasSuffix(#""time":"2027-01-15T08:00:00.045Z"}"#))
        let keys = try #require(try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any]).keys.sorted()
        #expect(keys == ["action", "bytes", "dataset", "detail", "index", "key", "principal", "project", "request", "result", "time"])
    }

    @Test("appends queued behind a transaction in progress share the next ones; indices are distinct and dense")
    func groupCommit() async throws {
        try await withLog { log, dir in
            let writer = AuditWriter(log: log)
            #expect(try await writer.append(Self.event(0)) == 0)
            // Another connection holds the write lock: the next caller's transaction waits,
            // and everyone arriving meanwhile queues behind it.
            let blocker = try DatabaseQueue(path: dir + "/audit.sqlite")
            let locked = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                try? blocker.inDatabase { db in
                    try db.inTransaction(.immediate) {
                        locked.signal()
                        release.wait()
                        return .commit
                    }
                }
            }
            locked.wait()
            let indices = try await withThrowingTaskGroup(of: UInt64.self) { group in
                for i in 1..<300 { group.addTask { try await writer.append(Self.event(i)) } }
                // Release the lock once every entry is either in the writer's blocked
                // transaction or queued behind it.
                while writer.state.withLock({ $0.pending.count + $0.writing }) < 299 { try await Task.sleep(for: .milliseconds(5)) }
                release.signal()
                var out: [UInt64] = []
                for try await i in group { out.append(i) }
                return out
            }
            #expect(indices.sorted() == (1..<300).map { UInt64($0) })
            // The writer thread takes whatever is queued when it wakes: either all 299 entries
            // (then blocked) or the first few, with the rest queued behind the blocked
            // transaction. Either way 299 entries in at most two transactions after the first.
            #expect(writer.batches <= 3, "the first entry, then the 299 others in at most two transactions")
            #expect(try log.verify().ok)
        }
    }

    @Test("mutated notes, keys, tokens and export lines are refused, never accepted changed")
    func fuzz() throws {
        var rng = SplitMix64(state: 0x5eed_a0d1)
        let signer = try NoteSigner(name: "fuzz.example/log", key: .init())
        let note = try signer.sign(Checkpoint(origin: "fuzz.example/log", size: 42, root: Array(repeating: 7, count: 32)).text)
        let verifier = signer.verifier
        let authority = SessionAuthority(master: .init(size: .bits256))
        let (creds, _) = authority.issue(user: "u", project: "p", now: Date(), lifetime: 600)
        let iterations = Int(ProcessInfo.processInfo.environment["FUZZ_ITERATIONS"] ?? "") ?? 3000
        func mutate(_ s: String) -> String {
            var b = Array(s.utf8)
            for _ in 0..<Int.random(in: 1...3, using: &rng) {
                guard !b.isEmpty else { break }
                let at = Int.random(in: 0..<b.count, using: &rng)
                switch Int.random(in: 0..<3, using: &rng) {
                case 0: b[at] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
                case 1: b.remove(at: at)
                default: b.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                }
            }
            return String(decoding: b, as: UTF8.self)
        }
        for _ in 0..<iterations {
            let n = mutate(note)
            if let text = try? verifier.open(n) {
                #expect(text == Checkpoint(origin: "fuzz.example/log", size: 42, root: Array(repeating: 7, count: 32)).text)
            }
            _ = try? Checkpoint.parse(text: mutate("o\n42\n" + Data(repeating: 7, count: 32).base64EncodedString() + "\n"))
            _ = try? NoteVerifier(encoded: mutate(verifier.encoded))
            let t = mutate(creds.sessionToken)
            if t != creds.sessionToken {
                #expect(throws: SessionAuthority.Refusal.self) { try authority.open(token: t, accessKey: creds.accessKeyId, now: Date()) }
            }
            _ = try? JSONDecoder().decode(ExportLine.self, from: Data(mutate(#"{"index":3,"leaf":"00ff","entry":"{}"}"#).utf8))
            _ = Base32.decode(mutate("GEZDGNBVGY3TQOJQ"))
        }
    }
}
