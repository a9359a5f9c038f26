import Foundation
import Testing

@testable import Access

@Suite("Sign-in limits: lockout delays, reservations, per-address rate, bounded hashing")
struct SignInLimitsTests {
    let t0 = Date(timeIntervalSince1970: 1_800_000_000)

    @Test("a delay starts after the free failures, doubles, is capped, and is forgotten after a day")
    func delays() {
        let policy = LockoutPolicy()
        let pair = LockoutPolicy.Subject.userAtAddress("alice", "10.0.0.1")
        #expect(policy.lockedUntil(pair, FailureCount(failures: 4, last: t0), now: t0) == nil)
        #expect(policy.lockedUntil(pair, FailureCount(failures: 5, last: t0), now: t0) == t0.addingTimeInterval(30))
        #expect(policy.lockedUntil(pair, FailureCount(failures: 6, last: t0), now: t0) == t0.addingTimeInterval(60))
        #expect(policy.lockedUntil(pair, FailureCount(failures: 40, last: t0), now: t0) == t0.addingTimeInterval(900))
        #expect(policy.lockedUntil(pair, FailureCount(failures: 6, last: t0), now: t0.addingTimeInterval(61)) == nil)
        // A known user's own count never locks for more than five minutes, whoever fails.
        #expect(policy.lockedUntil(.user("alice"), FailureCount(failures: 1000, last: t0), now: t0) == t0.addingTimeInterval(300))
        #expect(policy.lockedUntil(.user("alice"), FailureCount(failures: 19, last: t0), now: t0) == nil)
        #expect(policy.current(FailureCount(failures: 9, last: t0), now: t0.addingTimeInterval(86_401)) == nil)
        #expect(LockoutPolicy.Subject.userAtAddress("a b", "c").key != LockoutPolicy.Subject.userAtAddress("a", "b c").key)
    }

    @Test("reservations: concurrent attempts count one each, a delay refuses without counting, success releases")
    func reservations() async throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("signin-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let store = try AccessStore(directory: dir)
        let policy = LockoutPolicy()
        let t0 = self.t0
        let granted = try await withThrowingTaskGroup(of: AccessStore.Reservation.self) { group in
            for _ in 0..<40 { group.addTask { try await store.reserveAttempt(user: "alice", address: "10.0.0.1", policy: policy, now: t0) } }
            var n = 0
            for try await r in group where r == .granted { n += 1 }
            return n
        }
        #expect(granted == 5)
        guard case .delayed(let until, let subject) = try await store.reserveAttempt(user: "alice", address: "10.0.0.1", policy: policy, now: t0)
        else {
            Issue.record("not delayed")
            return
        }
        #expect(until == t0.addingTimeInterval(30) && subject == .userAtAddress("alice", "10.0.0.1"))
        // Another address is not delayed by these failures; nor is an unknown name treated differently.
        #expect(try await store.reserveAttempt(user: "alice", address: "10.0.0.2", policy: policy, now: t0) == .granted)
        #expect(try store.lockedUntil(user: "alice", policy: policy, now: t0) == until)
        try await store.release(user: "alice", address: "10.0.0.2")
        #expect(try store.lockedUntil(user: "alice", policy: policy, now: t0) == until, "the guessing address keeps its delay")
        try await store.release(user: "alice", address: "10.0.0.1")
        #expect(try store.lockedUntil(user: "alice", policy: policy, now: t0) == nil)
        #expect(try await store.reserveAttempt(user: "alice", address: "10.0.0.1", policy: policy, now: t0) == .granted)
        try await store.unreserve(user: "alice", address: "10.0.0.1")
        for _ in 0..<4 { #expect(try await store.reserveAttempt(user: "alice", address: "10.0.0.1", policy: policy, now: t0) == .granted) }
    }

    @Test("the per-address bucket: a burst, then one per refill interval, addresses apart, bounded memory")
    func addressRate() {
        var limiter = AddressRateLimiter(perMinute: 30, burst: 3, capacity: 10)
        for _ in 0..<3 { #expect(limiter.admit("a", now: t0) == nil) }
        let wait = limiter.admit("a", now: t0)
        #expect(wait != nil && abs(wait! - 2) < 0.001)
        #expect(limiter.admit("b", now: t0) == nil)
        #expect(limiter.admit("a", now: t0.addingTimeInterval(2)) == nil)
        #expect(limiter.admit("a", now: t0.addingTimeInterval(2)) != nil)
        for i in 0..<100 { _ = limiter.admit("flood-\(i)", now: t0.addingTimeInterval(3)) }
        #expect(limiter.buckets.count <= 10)
    }

    @Test("password checks beyond the threads and the queue are refused at once")
    func boundedHashing() async throws {
        let hasher = PasswordHasher(threads: 1, queue: 2)
        let hash = try PasswordHash.make("correct horse battery", iterations: 200_000)
        let outcomes = await withTaskGroup(of: Bool?.self) { group in
            for _ in 0..<12 { group.addTask { try? await hasher.verify("correct horse battery", against: hash) } }
            var all: [Bool?] = []
            for await o in group { all.append(o) }
            return all
        }
        #expect(outcomes.filter { $0 == true }.count >= 1)
        #expect(outcomes.filter { $0 == nil }.count >= 1, "some were refused as busy")
        #expect(outcomes.allSatisfy { $0 != false })
        #expect(try await hasher.verify("wrong", against: hash) == false)
    }

    @Test("refusals by the rate limit: the first of a window is audited alone, the rest in one summary when it ends")
    func refusalLedger() {
        var ledger = RefusalLedger(window: 60)
        func refused(_ a: String, _ dt: Double) -> Bool { ledger.refused(a, now: t0.addingTimeInterval(dt)) }
        func summaries(_ dt: Double) -> [RefusalLedger.Summary] { ledger.summaries(now: t0.addingTimeInterval(dt)) }
        #expect(refused("a", 0))
        var later = 0
        for i in 1...500 where refused("a", Double(i) * 0.1) { later += 1 }
        #expect(later == 0)
        #expect(refused("b", 10))
        #expect(summaries(59).isEmpty)
        #expect(summaries(60) == [RefusalLedger.Summary(address: "a", since: t0, more: 500)])
        #expect(summaries(70).isEmpty, "b had no refusal after its first")
        #expect(refused("a", 61))
        #expect(!refused("a", 62))
        #expect(refused("a", 200), "a new window")
        #expect(summaries(200) == [RefusalLedger.Summary(address: "a", since: t0.addingTimeInterval(61), more: 1)])
    }
}
