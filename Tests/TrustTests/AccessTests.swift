import Foundation
import Testing

@testable import Access

@Suite("TOTP, passwords, sessions and the policy")
struct AccessTests {
    // RFC 6238 Appendix B, SHA-1 (secret "12345678901234567890"); 6-digit codes are the last six digits.
    @Test(
        "RFC 6238 SHA-1 vectors",
        arguments: [
            (59.0, "94287082"), (1_111_111_109, "07081804"), (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"), (2_000_000_000, "69279037"), (20_000_000_000, "65353130"),
        ])
    func vectors(time: Double, code: String) {
        let eight = TOTP(secret: Array("12345678901234567890".utf8), digits: 8)
        #expect(eight.code(at: Date(timeIntervalSince1970: time)) == code)
        #expect(TOTP(secret: Array("12345678901234567890".utf8)).code(at: Date(timeIntervalSince1970: time)) == String(code.suffix(6)))
    }

    @Test("a code is accepted once, within one step either side, and never again")
    func replay() {
        let totp = TOTP(secret: Array("12345678901234567890".utf8))
        let now = Date(timeIntervalSince1970: 1_800_000_015)
        let code = totp.code(at: now)
        guard case .accepted(let step) = totp.verify(code, at: now, lastUsedStep: nil) else {
            Issue.record("refused")
            return
        }
        #expect(totp.verify(code, at: now, lastUsedStep: step) == .replayed)
        #expect(totp.verify(totp.code(at: now.addingTimeInterval(-30)), at: now, lastUsedStep: step) == .replayed)
        #expect(totp.verify(totp.code(at: now.addingTimeInterval(30)), at: now, lastUsedStep: step) == .accepted(step: step + 1))
        #expect(totp.verify(totp.code(at: now.addingTimeInterval(90)), at: now, lastUsedStep: nil) == .wrong)
        #expect(totp.verify("000000x", at: now, lastUsedStep: nil) == .wrong)
        #expect(Base32.decode(Base32.encode(Array("12345678901234567890".utf8))) == Array("12345678901234567890".utf8))
        #expect(Base32.encode(Array("12345678901234567890".utf8)) == "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
    }

    @Test("password hashes verify the password and nothing else")
    func passwords() throws {
        let h = try PasswordHash.make("correct horse", iterations: 1000)
        #expect(PasswordHash.verify("correct horse", against: h))
        #expect(!PasswordHash.verify("correct hors", against: h))
        #expect(!PasswordHash.verify("correct horse", against: "pbkdf2-sha256$1$AA==$AA=="))
    }

    @Test("session tokens: issued credentials open; tampered, expired or borrowed ones do not")
    func sessions() throws {
        let authority = SessionAuthority(master: .init(size: .bits256))
        let now = Date()
        let (creds, claims) = authority.issue(user: "alice", project: "p1", now: now, lifetime: 3600)
        let opened = try authority.open(token: creds.sessionToken, accessKey: creds.accessKeyId, now: now)
        #expect(opened.0 == claims && opened.secret == creds.secretAccessKey)
        #expect(throws: SessionAuthority.Refusal.expired) {
            try authority.open(token: creds.sessionToken, accessKey: creds.accessKeyId, now: now.addingTimeInterval(3601))
        }
        #expect(throws: SessionAuthority.Refusal.otherKey) { try authority.open(token: creds.sessionToken, accessKey: "PSIAOTHER", now: now) }
        var bytes = Array(creds.sessionToken.utf8)
        bytes[10] = bytes[10] == UInt8(ascii: "A") ? UInt8(ascii: "B") : UInt8(ascii: "A")
        #expect(throws: SessionAuthority.Refusal.self) {
            try authority.open(token: String(decoding: bytes, as: UTF8.self), accessKey: creds.accessKeyId, now: now)
        }
        let other = SessionAuthority(master: .init(size: .bits256))
        #expect(throws: SessionAuthority.Refusal.forged) { try other.open(token: creds.sessionToken, accessKey: creds.accessKeyId, now: now) }
    }

    @Test("policy: grants by dataset, prefix and action; expiry, membership and administration")
    func policy() {
        let now = Date()
        let claims = SessionClaims(accessKey: "PSIA1", user: "alice", project: "p1", issued: now, expires: now.addingTimeInterval(60))
        let p = Project(
            name: "p1", purpose: "cohort study", expires: now.addingTimeInterval(86400), members: ["alice"],
            grants: [Grant(dataset: "d1", actions: [.read, .list]), Grant(dataset: "d2", prefix: "cohort/", actions: [.read, .list, .write])])
        func decide(_ r: AccessRequest, _ project: Project? = nil, active: Bool = true, at: Date = now) -> Decision {
            Policy.decide(.session(claims), r, project: project ?? p, userActive: active, now: at)
        }
        #expect(decide(.init(.read, .dataset("d1", key: "a/b"))) == .allow)
        #expect(decide(.init(.write, .dataset("d1", key: "a/b"))) != .allow)
        #expect(decide(.init(.read, .dataset("d3", key: "x"))) != .allow)
        #expect(decide(.init(.write, .dataset("d2", key: "cohort/x"))) == .allow)
        #expect(decide(.init(.read, .dataset("d2", key: "other/x"))) != .allow)
        #expect(decide(.init(.list, .dataset("d2", key: ""))) != .allow)
        #expect(decide(.init(.list, .dataset("d2", key: "cohort/2026"))) == .allow)
        #expect(decide(.init(.list, .dataset("d2", key: nil))) == .allow)
        #expect(decide(.init(.write, .administration)) != .allow)
        #expect(decide(.init(.read, .dataset("d1", key: "a")), at: now.addingTimeInterval(86401)) != .allow)
        #expect(decide(.init(.read, .dataset("d1", key: "a")), active: false) != .allow)
        var left = p
        left.members = []
        #expect(decide(.init(.read, .dataset("d1", key: "a")), left) != .allow)
        #expect(Policy.decide(.staff("root"), .init(.write, .administration), project: nil, userActive: false, now: now) == .allow)
    }
}
